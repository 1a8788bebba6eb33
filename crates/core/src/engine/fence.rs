//! Fenced updates: how a record that several writers may change (a job, a subscription, a
//! signing key) is replaced without compare-and-swap.
//!
//! Every backend gets one conditional operation right: the value `increment` returns. It is
//! atomic on both of Spin's stores (a SQLite transaction, Redis `INCRBY`). A record carries the
//! *turn* that wrote it. To replace a record at turn `t`, a writer increments
//! `{key}:turn:{t+1}`; only the writer that reads 1 may write turn `t + 1`. So each turn has
//! exactly one winner, and a writer that read an older version aims at a turn that is taken and
//! loses.
//!
//! Winning and writing are two calls, so a winner that dies in between leaves a taken turn and an
//! unchanged record. The first loser notes when it saw that (`{key}:turn:{n}:seen`), as a time
//! taken before its read. Once [`TURN_STALE_MS`] (30 s) has passed with the record still
//! unchanged, the next writer skips the dead turn. A live winner writes within
//! [`TURN_DEADLINE_MS`] (10 s) of its read or not at all, well before that. Test-and-set alone
//! cannot decide between more than two crashing writers without a timing assumption. This is the
//! one Hookah makes, the same kind the lease makes: no writer stalls 20 s inside a single store
//! call.
//!
//! # Turn keys
//!
//! A record that is deleted takes its turn keys with it. One that lives on (a subscription, a
//! signing key, the statistics aggregate) would leave one key a turn forever, so it carries a
//! [`TurnMark`]: a turn of its own and when that turn's writer read the version before it.
//!
//! - Every writer that aimed at a turn up to the mark read a version older than the mark's. So it
//!   read before the mark's writer wrote (at most `TURN_DEADLINE_MS` after its read), and it
//!   writes within `TURN_DEADLINE_MS` of its own read or not at all.
//! - Once [`TURN_KEYS_KEPT_MS`] has passed since the mark's read (2 × `TURN_DEADLINE_MS` +
//!   2 × `LEASE_SAFETY_MS`, 40 s: twice the deadline, and the clock skew twice over), no such
//!   writer can still write. The winner of a later turn deletes the keys up to the mark, before
//!   its write, and marks its own turn.
//! - A straggler that increments a deleted turn key wins it afresh, then finds itself past its
//!   deadline. So the record stays fenced on both backends (the argument uses only `increment`'s
//!   answer and the deadline); at worst the straggler leaves that one key behind.
//!
//! Such a record keeps the turn keys of about its last 40 to 80 s of writes.
//!
//! # Each guarantee, on each backend
//!
//! Spin's SQLite store (`type = "spin"`) and its Redis store disagree on batch reads, counter
//! formats and compare-and-swap (`ports::Kv`). Hookah's guarantees rest only on what both do
//! alike:
//!
//! - **A `202` means stored.** The record, body and timer slot are one `set_many`. On SQLite that
//!   is one transaction, committed before the answer. On Redis it is one `MSET`; with AOF it is
//!   as durable as Redis is configured to be (`appendfsync`).
//! - **No attempt is made twice, except after a lease expiry.** A claim is a won turn. On SQLite
//!   one `increment` transaction decides it; on Redis the same turn is one `INCRBY`, atomic across
//!   instances. No swap result is consulted, so Spin's false `CasFailed` changes nothing. The
//!   accepting invocation claims a new record that nobody else can see yet.
//! - **A stale claimant never overwrites a newer state.** A takeover wins a new turn only after
//!   the lease ended. The holder writes its outcome without reading the record (nobody else may
//!   take a turn before the lease ends, so it is still the claim), and only while its lease has
//!   more than `LEASE_SAFETY_MS` (10 s) left. So the two never write at once while clocks agree
//!   within 10 s. A cancel or retry takes a turn too; a cancel during an attempt only sets a
//!   flag, which the outcome and every later claim read. The argument uses only `get`, `set` and
//!   `INCRBY`, so it is identical on Redis.
//! - **Nothing accepted is lost.** Every job that is not deleted has a timer slot at or before the
//!   moment it next needs attention; slots are written before or with the record that needs them
//!   (`engine/timers.rs`). A slot at or after the record's own timer counts, so a writer that lost
//!   a turn leaves a slot for a look once the turn is stale. A sweep that read a bucket's progress
//!   late re-reads slots, which turns make harmless. On Redis the same holds with batch reads
//!   replaced by single reads: no answer is ever taken from `KEYS`.

use crate::keys::{self, Entry, Key, TypedKv};
use crate::ports::{Kv, KvError};
use crate::stored::Stored;

/// How long a taken turn may go unwritten before other writers skip it.
pub(crate) const TURN_STALE_MS: u64 = 30_000;
/// How long after winning a turn its winner may still write it.
pub(crate) const TURN_DEADLINE_MS: u64 = 10_000;
/// How long after a mark's read the turn keys up to the mark are kept (see the module doc).
pub(crate) const TURN_KEYS_KEPT_MS: u64 = 2 * TURN_DEADLINE_MS + 2 * crate::job::LEASE_SAFETY_MS;
/// How often one update re-reads a record another writer is changing before it gives up.
pub(crate) const UPDATE_ATTEMPTS: usize = 4;
/// Dead turns one writer skips at most in one go.
const MAX_SKIPS: u64 = 8;

/// A record replaced only through [`take_turn`].
pub(crate) trait Fenced: Stored + Clone {
    /// The turn that wrote this version (0 for a record no update has touched yet).
    fn turn(&self) -> u64;
    fn set_turn(&mut self, turn: u64);
    /// For a record that outlives its turns: where the clean-up of its turn keys stands.
    fn turn_mark(&self) -> Option<&TurnMark> {
        None
    }
    fn turn_mark_mut(&mut self) -> Option<&mut TurnMark> {
        None
    }
}

/// Implements [`Fenced`] for a record with a `turn: u64` field, and, with `turn_mark`, a
/// `turn_mark: TurnMark` field, for a record that lives on.
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
    ($record:ty, turn_mark) => {
        impl $crate::engine::fence::Fenced for $record {
            fn turn(&self) -> u64 {
                self.turn
            }
            fn set_turn(&mut self, turn: u64) {
                self.turn = turn;
            }
            fn turn_mark(&self) -> Option<&$crate::engine::fence::TurnMark> {
                Some(&self.turn_mark)
            }
            fn turn_mark_mut(&mut self) -> Option<&mut $crate::engine::fence::TurnMark> {
                Some(&mut self.turn_mark)
            }
        }
    };
}
pub(crate) use fenced;

/// Where the clean-up of a long-lived record's turn keys stands (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TurnMark {
    /// The marked turn (0: none yet) and when its writer read the version before it.
    turn: u64,
    read_at: u64,
    /// The lowest turn whose keys may still be stored.
    from: u64,
}

impl TurnMark {
    pub(crate) fn is_unset(&self) -> bool {
        *self == TurnMark::default()
    }

    /// The mark the version written as `turn` carries, its writer having read at `read_at`,
    /// and the turns whose keys may go now.
    fn advance(&self, turn: u64, read_at: u64) -> (TurnMark, Option<std::ops::RangeInclusive<u64>>) {
        let from = self.from.max(1);
        let marked = TurnMark { turn, read_at, from };
        if self.turn == 0 {
            return (marked, None);
        }
        if read_at >= self.read_at.saturating_add(TURN_KEYS_KEPT_MS) {
            return (TurnMark { from: self.turn + 1, ..marked }, Some(from..=self.turn));
        }
        (self.clone(), None)
    }
}

/// For the winner of a turn on a record that lives on, having read it at `read_at`: moves the
/// version it is about to write as that turn (`next`) on to its new mark, and answers the old
/// turn keys to delete before writing it (none for a record without a mark).
pub(crate) fn retire_turn_keys<R: Fenced>(key: &Key<R>, next: &mut R, read_at: u64) -> Vec<String> {
    let turn = next.turn();
    let Some(mark) = next.turn_mark_mut() else { return Vec::new() };
    let (advanced, retired) = mark.advance(turn, read_at);
    *mark = advanced;
    retired.map_or_else(Vec::new, |turns| turn_keys_between(key, *turns.start(), *turns.end()).collect())
}

/// [`retire_turn_keys`], deleting them.
pub(crate) fn retire_turns<K: Kv, R: Fenced>(kv: &K, key: &Key<R>, next: &mut R, read_at: u64) -> Result<(), KvError> {
    let retired = retire_turn_keys(key, next, read_at);
    if !retired.is_empty() {
        kv.delete_many(&retired)?;
    }
    Ok(())
}

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

/// [`take_turn`] for a record whose key outlives it: deleted, then stored again under the same key
/// (a flow's settings). A writer that read `current` before a deletion could win a turn of the
/// record stored since, which [`take_turn_of_existing`] would not tell. Re-reading the record
/// after winning and finding the very version read does: a record created again differs at least
/// in when it was created. A turn won over anything else is given back.
pub(crate) fn take_turn_of_version<K: Kv, R: Fenced + PartialEq>(
    kv: &K,
    key: &Key<R>,
    current: &R,
    read_at: u64,
) -> Result<Turn, KvError> {
    let turn = take_turn(kv, key, current.turn(), read_at)?;
    let Turn::Won(won) = turn else { return Ok(turn) };
    match kv.load(key)? {
        Some(stored) if stored == *current => Ok(turn),
        stored => {
            kv.remove(&keys::turn(key, won))?;
            Ok(if stored.is_none() { Turn::Gone } else { Turn::Busy })
        }
    }
}

/// The keys a fenced record leaves behind up to `turn`, for its deletion.
pub(crate) fn turn_keys<V>(key: &Key<V>, turn: u64) -> impl Iterator<Item = String> + '_ {
    turn_keys_between(key, 1, turn + 1)
}

/// [`turn_keys`] for `record`, from the first turn its mark has not retired (`turn`: the one
/// its deleter won, or its own).
pub(crate) fn turn_keys_of<'k, R: Fenced>(key: &'k Key<R>, record: &R, turn: u64) -> impl Iterator<Item = String> + 'k {
    let from = record.turn_mark().map_or(1, |mark| mark.from.max(1));
    turn_keys_between(key, from, turn + 1)
}

/// The turn and `seen` keys of turns `from` to `to`.
fn turn_keys_between<V>(key: &Key<V>, from: u64, to: u64) -> impl Iterator<Item = String> + '_ {
    (from..=to).flat_map(move |n| [keys::turn(key, n).into(), keys::turn_seen(key, n).into()])
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

/// [`update`], or with `create`, [`update_or_create`], for a record whose key outlives it: it may
/// be deleted and stored again under the same key (a flow's settings). Each turn is taken with
/// [`take_turn_of_version`], so a writer that read a version before its deletion neither brings
/// it back nor writes over the record stored since; it re-reads, and with `create`, a record found
/// missing is created afresh (`change` sees it as `create()` made it, at turn 0).
pub(crate) fn update_reused_key<K: Kv, R: Fenced + PartialEq, E: From<KvError>>(
    kv: &K,
    key: &Key<R>,
    now: &dyn Fn() -> u64,
    create: Option<&dyn Fn() -> R>,
    change: impl FnMut(&R, u64) -> Result<Option<(R, Vec<Entry>)>, E>,
) -> Result<Updated<R>, E> {
    let take = |current: &R, existed: bool, started: u64| match existed {
        true => take_turn_of_version(kv, key, current, started),
        false => take_turn(kv, key, current.turn(), started),
    };
    replace_with(kv, key, now, create, create.is_some(), take, change)
}

fn replace<K: Kv, R: Fenced, E: From<KvError>>(
    kv: &K,
    key: &Key<R>,
    now: &dyn Fn() -> u64,
    create: Option<&dyn Fn() -> R>,
    change: impl FnMut(&R, u64) -> Result<Option<(R, Vec<Entry>)>, E>,
) -> Result<Updated<R>, E> {
    // A record that may be deleted must still exist once the turn is won; one that is
    // created here is never deleted, so winning its first turn is enough.
    let take = |current: &R, existed: bool, started: u64| match existed && create.is_none() {
        true => take_turn_of_existing(kv, key, current.turn(), started),
        false => take_turn(kv, key, current.turn(), started),
    };
    replace_with(kv, key, now, create, false, take, change)
}

/// The loop of [`update`] and its kin: `take` takes the next turn of the version read (`true`:
/// it was stored); with `recreate`, a record found gone is read again (and created).
fn replace_with<K: Kv, R: Fenced, E: From<KvError>>(
    kv: &K,
    key: &Key<R>,
    now: &dyn Fn() -> u64,
    create: Option<&dyn Fn() -> R>,
    recreate: bool,
    take: impl Fn(&R, bool, u64) -> Result<Turn, KvError>,
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
        let turn = match take(&current, existed, started)? {
            Turn::Won(turn) => turn,
            Turn::Busy => continue,
            Turn::Gone if recreate => continue,
            Turn::Gone => return Ok(Updated::Missing),
        };
        if now() > started + TURN_DEADLINE_MS {
            // Too slow: the turn may be skipped by now. Let it go stale rather than race.
            return Ok(Updated::Busy);
        }
        next.set_turn(turn);
        retire_turns(kv, key, &mut next, started)?;
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

    /// An update of the statistics aggregate that counts one sweep more.
    fn bump(
        stats: &crate::stats::StatsRecord,
        _: u64,
    ) -> Result<Option<(crate::stats::StatsRecord, Vec<Entry>)>, KvError> {
        let mut next = stats.clone();
        next.sweeps_total += 1;
        Ok(Some((next, Vec::new())))
    }

    #[test]
    fn an_aggregate_is_created_once_and_then_changed_turn_by_turn() {
        use crate::stats::StatsRecord;
        let kv = MemoryKv::default();
        let key = keys::sweep_stats();
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

    #[test]
    fn a_record_that_lives_on_keeps_only_the_turn_keys_a_writer_may_still_aim_at() {
        use crate::stats::StatsRecord;
        let kv = MemoryKv::default();
        let key = keys::sweep_stats();
        let turn_keys = || kv.keys_with_prefix("stats:sweep:turn:").len() as u64;
        let mut most = 0;
        for second in 0..300 {
            let now = second * 1_000;
            update_or_create(&kv, &key, &|| now, &StatsRecord::new, bump).unwrap();
            most = most.max(turn_keys());
        }
        // Nothing lost, and the keys kept are those of the last one or two mark intervals.
        let record = kv.load(&key).unwrap().unwrap();
        assert_eq!((record.turn, record.sweeps_total), (300, 300));
        assert!(most <= 2 * (TURN_KEYS_KEPT_MS / 1_000 + 1), "{most} turn keys at once");
        // A writer that read turn 10 long ago finds its turn key gone and wins it afresh; its
        // deadline, measured from its read, is long past, so it does not write (`replace`).
        assert_eq!(take_turn(&kv, &key, 10, 10_000).unwrap(), Turn::Won(11));
    }
}
