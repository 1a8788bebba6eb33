//! Fenced updates: how a record that several writers may change (a job, a subscription, a
//! signing key) is replaced without compare-and-swap.
//!
//! Every backend gets one conditional operation right: the value `increment` returns. A record
//! carries the *turn* that wrote it. To replace a record at turn `t`, a writer increments
//! `{key}:turn:{t+1}`; only the writer that reads 1 may write turn `t + 1`, so two writers never
//! both replace the same version, and a writer that read an older version loses. Winning and
//! writing are two calls, so a writer that dies in between leaves a taken turn and an unchanged
//! record. The first writer to find that notes the time (`{key}:turn:{n}:seen`); once
//! [`TURN_STALE_MS`] has passed with the record still unchanged, the next writer skips the dead
//! turn. A live winner gives up writing after [`TURN_DEADLINE_MS`], well before that.

use crate::keys::{self, Entry, Key, TypedKv};
use crate::ports::{Kv, KvError};
use crate::stored::Stored;

/// How long a taken turn may go unwritten before other writers skip it.
pub(crate) const TURN_STALE_MS: u64 = 30_000;
/// How long after winning a turn its winner may still write it.
pub(crate) const TURN_DEADLINE_MS: u64 = 10_000;
/// How often one update re-reads a record another writer is changing before it gives up.
pub(crate) const UPDATE_ATTEMPTS: usize = 4;
/// Dead turns one writer skips at most in one go.
const MAX_SKIPS: u64 = 8;

/// A record replaced only through [`take_turn`].
pub(crate) trait Fenced: Stored + Clone {
    /// The turn that wrote this version (0 for a record no update has touched yet).
    fn turn(&self) -> u64;
    fn set_turn(&mut self, turn: u64);
}

/// Implements [`Fenced`] for a record with a `turn: u64` field.
macro_rules! fenced {
    ($record:ty) => {
        impl $crate::engine::fence::Fenced for $record {
            fn turn(&self) -> u64 {
                self.turn
            }
            fn set_turn(&mut self, turn: u64) {
                self.turn = turn;
            }
        }
    };
}
pub(crate) use fenced;

/// Whether a writer may replace the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// This writer alone may write the record as this turn.
    Won(u64),
    /// Another writer holds the next turn: re-read, or come back later.
    Busy,
    /// The record was deleted (its deleter won the turn before it and removed the turn keys).
    Gone,
}

/// Takes the turn after `current`, the turn of the version the writer read at `read_at` (a time
/// taken before that read).
pub(crate) fn take_turn<K: Kv, V>(kv: &K, key: &Key<V>, current: u64, read_at: u64) -> Result<Turn, KvError> {
    for turn in current + 1..=current + 1 + MAX_SKIPS {
        if kv.add_to(&keys::turn(key, turn), 1)? == 1 {
            return Ok(Turn::Won(turn));
        }
        let seen_key = keys::turn_seen(key, turn);
        match kv.load(&seen_key)? {
            // Its winner had its chance: skip the turn.
            Some(seen) if seen + TURN_STALE_MS <= read_at => continue,
            Some(_) => return Ok(Turn::Busy),
            None => {
                kv.save(&seen_key, &read_at)?;
                return Ok(Turn::Busy);
            }
        }
    }
    Ok(Turn::Busy)
}

/// [`take_turn`] for a record that exists: its deleter removes the record with its turn keys
/// (after winning a turn, or for a job past its retention and grace, which no writer changes),
/// so a writer that read the record before the deletion could win that turn afresh. Reading the
/// record after winning tells.
pub(crate) fn take_turn_of_existing<K: Kv, V>(
    kv: &K,
    key: &Key<V>,
    current: u64,
    read_at: u64,
) -> Result<Turn, KvError> {
    let turn = take_turn(kv, key, current, read_at)?;
    if let Turn::Won(won) = turn {
        if !kv.exists(key)? {
            kv.remove(&keys::turn(key, won))?;
            return Ok(Turn::Gone);
        }
    }
    Ok(turn)
}

/// The keys a fenced record leaves behind up to `turn`, for its deletion.
pub(crate) fn turn_keys<V>(key: &Key<V>, turn: u64) -> impl Iterator<Item = String> + '_ {
    (1..=turn + 1).flat_map(move |n| [keys::turn(key, n).into(), keys::turn_seen(key, n).into()])
}

/// What came of [`update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Updated<R> {
    Changed(R),
    /// `change` left it as it was.
    Unchanged(R),
    Missing,
    /// Other writers kept changing it.
    Busy,
}

/// Replaces the record at `key` with what `change` makes of it (`None`: leave it), re-reading
/// when another writer got there first, at most [`UPDATE_ATTEMPTS`] times. `extra` entries are
/// written in the same commit, before the record points at them.
pub(crate) fn update<K: Kv, R: Fenced, E: From<KvError>>(
    kv: &K,
    key: &Key<R>,
    now: &dyn Fn() -> u64,
    change: impl FnMut(&R, u64) -> Result<Option<(R, Vec<Entry>)>, E>,
) -> Result<Updated<R>, E> {
    replace(kv, key, now, None, change)
}

/// [`update`] for a record that is created on first use and never deleted (an aggregate): a
/// missing record is changed as `create()` makes it, at turn 0.
pub(crate) fn update_or_create<K: Kv, R: Fenced, E: From<KvError>>(
    kv: &K,
    key: &Key<R>,
    now: &dyn Fn() -> u64,
    create: &dyn Fn() -> R,
    change: impl FnMut(&R, u64) -> Result<Option<(R, Vec<Entry>)>, E>,
) -> Result<Updated<R>, E> {
    replace(kv, key, now, Some(create), change)
}

fn replace<K: Kv, R: Fenced, E: From<KvError>>(
    kv: &K,
    key: &Key<R>,
    now: &dyn Fn() -> u64,
    create: Option<&dyn Fn() -> R>,
    mut change: impl FnMut(&R, u64) -> Result<Option<(R, Vec<Entry>)>, E>,
) -> Result<Updated<R>, E> {
    for _ in 0..UPDATE_ATTEMPTS {
        // The time is taken before the read, so a stale turn is judged as of a moment when the
        // record read was current.
        let started = now();
        let (current, existed) = match (kv.load(key)?, create) {
            (Some(current), _) => (current, true),
            (None, Some(create)) => (create(), false),
            (None, None) => return Ok(Updated::Missing),
        };
        let Some((mut next, mut entries)) = change(&current, started)? else {
            return Ok(Updated::Unchanged(current));
        };
        // A record that may be deleted must still exist once the turn is won; one that is
        // created here is never deleted, so winning its first turn is enough.
        let turn = if existed && create.is_none() {
            take_turn_of_existing(kv, key, current.turn(), started)?
        } else {
            take_turn(kv, key, current.turn(), started)?
        };
        let turn = match turn {
            Turn::Won(turn) => turn,
            Turn::Busy => continue,
            Turn::Gone => return Ok(Updated::Missing),
        };
        if now() > started + TURN_DEADLINE_MS {
            // Too slow: the turn may be skipped by now. Let it go stale rather than race.
            return Ok(Updated::Busy);
        }
        next.set_turn(turn);
        entries.push(key.entry(&next));
        kv.set_many(entries)?;
        return Ok(Updated::Changed(next));
    }
    Ok(Updated::Busy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Bytes;
    use crate::memory::MemoryKv;

    fn record() -> Key<Bytes> {
        keys::test_key("r")
    }

    #[test]
    fn one_winner_per_turn() {
        let kv = MemoryKv::default();
        assert_eq!(take_turn(&kv, &record(), 0, 1_000).unwrap(), Turn::Won(1));
        assert_eq!(take_turn(&kv, &record(), 0, 1_000).unwrap(), Turn::Busy);
        // The record moved on to turn 1: the next writer takes turn 2.
        assert_eq!(take_turn(&kv, &record(), 1, 1_000).unwrap(), Turn::Won(2));
    }

    #[test]
    fn a_turn_whose_winner_died_is_skipped_once_stale() {
        let kv = MemoryKv::default();
        // Won, and never written.
        assert_eq!(take_turn(&kv, &record(), 4, 0).unwrap(), Turn::Won(5));
        // The first loser notes when it saw the turn taken; losers stay out until it is stale.
        assert_eq!(take_turn(&kv, &record(), 4, 10_000).unwrap(), Turn::Busy);
        assert_eq!(take_turn(&kv, &record(), 4, 10_000 + TURN_STALE_MS - 1).unwrap(), Turn::Busy);
        assert_eq!(take_turn(&kv, &record(), 4, 10_000 + TURN_STALE_MS).unwrap(), Turn::Won(6));
        assert_eq!(take_turn(&kv, &record(), 4, 10_000 + TURN_STALE_MS).unwrap(), Turn::Busy);
    }

    #[test]
    fn an_aggregate_is_created_once_and_then_changed_turn_by_turn() {
        use crate::stats::StatsRecord;
        let kv = MemoryKv::default();
        let key = keys::sweep_stats();
        let bump = |stats: &StatsRecord, _| -> Result<_, KvError> {
            let mut next = stats.clone();
            next.sweeps_total += 1;
            Ok(Some((next, Vec::new())))
        };
        let created = update_or_create(&kv, &key, &|| 0, &StatsRecord::new, bump).unwrap();
        let Updated::Changed(first) = created else { panic!("{created:?}") };
        assert_eq!((first.turn, first.sweeps_total), (1, 1));
        // A second creator that also read nothing loses turn 1, re-reads, and adds to the first.
        assert_eq!(take_turn(&kv, &key, 0, 0).unwrap(), Turn::Busy);
        let Updated::Changed(second) = update_or_create(&kv, &key, &|| 0, &StatsRecord::new, bump).unwrap() else {
            panic!("not changed")
        };
        assert_eq!((second.turn, second.sweeps_total), (2, 2));
        // Plain `update` still treats a missing record as gone.
        assert_eq!(update(&kv, &keys::test_key::<StatsRecord>("absent"), &|| 0, bump).unwrap(), Updated::Missing);
    }

    #[test]
    fn a_writer_that_read_a_record_before_its_deletion_cannot_bring_it_back() {
        let kv = MemoryKv::default();
        kv.set("r", b"v").unwrap();
        // The deleter wins turn 1 and removes the record with its turn keys.
        assert_eq!(take_turn_of_existing(&kv, &record(), 0, 0).unwrap(), Turn::Won(1));
        kv.delete_many(&turn_keys(&record(), 1).chain(["r".to_string()]).collect::<Vec<_>>()).unwrap();
        // A writer that read turn 0 before that wins turn 1 afresh, and learns it is gone.
        assert_eq!(take_turn_of_existing(&kv, &record(), 0, 0).unwrap(), Turn::Gone);
        assert!(kv.data.borrow().is_empty(), "nothing left behind");
    }
}
