//! A simulated two-region key-value store, of the kind a globally replicated platform offers
//! (Akamai Functions promises read-your-writes within a request, nothing across regions): the
//! test bed for what Hookah's guarantees become there.
//!
//! - Two copies, regions A and B, each an in-memory SQLite database with Spin's table and
//!   operations (`sqlite.rs`), so each region alone behaves exactly as Spin's SQLite store.
//! - A write (`set`, `delete`, `set_many`, `delete_many`, `increment`, a successful CAS `swap`)
//!   applies to the writer's region at once and reaches the other region `lag` later. A batch
//!   arrives whole, at one moment. The replicated form of an `increment` is the value it
//!   produced, so two regions incrementing one counter within the lag can both read 1:
//!   increments are atomic only within a region.
//! - Each write is stamped with the simulation's clock (made strictly increasing, so stamps are
//!   unique). A replicated write replaces a key only if it is newer than that key's last write
//!   in the receiving region, deletes included: last writer wins per key, by write time.
//! - Reads see only the local copy.
//! - A *conflict* is a replicated write that overwrites a local write made less than `lag`
//!   before it, which its writer therefore could not have seen, and whose value differed (or
//!   that was an increment: two increments that read the same value lost one increment, though
//!   their results agree). Each such pair of writes is counted once, in the region whose write
//!   lost.
//!
//! Time is the simulation's [`HostClock`], which the hosts of its regions share (the test moves
//! it; replication follows). Writes arrive lazily: every call first applies, in stamp order,
//! each write whose arrival time has passed, which nobody can tell from a replicator running in
//! the background. Both copies sit behind one lock, and each call runs inline under it: the
//! databases are in memory, so no call waits for a disk. Per-key write times are kept for every
//! key ever written (deletes included), for the lifetime of the simulation: it is for tests.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::Connection;

use super::sqlite::{self, NotACounter};
use super::store::Swapped;
use super::{KvResult, Op};
use crate::clock::HostClock;

/// Two regions of one replicated store; clones share it. Give each region's host its
/// [`KvRegion`] (`HostConfig::in_region`).
#[derive(Clone)]
pub struct ReplicatedKv {
    sim: Arc<Sim>,
}

/// One region's view of a [`ReplicatedKv`]: what one host in that region opens as its store.
#[derive(Clone)]
pub struct KvRegion {
    sim: Arc<Sim>,
    region: usize,
}

struct Sim {
    lag_nanos: u64,
    clock: HostClock,
    state: Mutex<State>,
}

struct State {
    copies: [Copy; 2],
    /// The last stamp handed out: stamps are unique and increase.
    last_stamp: u64,
    conflicts: u64,
    increment_conflicts: u64,
}

/// One region's copy.
struct Copy {
    db: Connection,
    /// Each key's last write here, by (store label, key).
    versions: HashMap<(String, String), Version>,
    /// Writes made here that have not reached the other region yet, oldest first.
    outbox: VecDeque<Write>,
    /// Set once an `increment` met a value that is not a counter, as `SqliteKv`'s.
    poisoned: bool,
}

#[derive(Clone, Copy)]
struct Version {
    stamp: u64,
    /// Written in this region (not replicated into it).
    local: bool,
    increment: bool,
}

/// One write call, as it travels to the other region.
struct Write {
    stamp: u64,
    label: String,
    /// Each key's new value; `None` deletes it.
    values: Vec<(String, Option<Vec<u8>>)>,
    increment: bool,
}

const NAMES: [&str; 2] = ["A", "B"];

impl ReplicatedKv {
    /// Two empty regions whose writes reach each other `lag` after they are made, on a clock of
    /// their own (real time until moved).
    pub fn new(lag: Duration) -> anyhow::Result<Self> {
        let copy = || -> anyhow::Result<Copy> {
            let db = Connection::open_in_memory()?;
            sqlite::create_table(&db).context("creating the key-value table")?;
            rusqlite::vtab::array::load_module(&db).context("loading SQLite's array module")?;
            Ok(Copy { db, versions: HashMap::new(), outbox: VecDeque::new(), poisoned: false })
        };
        let state = State { copies: [copy()?, copy()?], last_stamp: 0, conflicts: 0, increment_conflicts: 0 };
        let lag_nanos = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX);
        Ok(Self { sim: Arc::new(Sim { lag_nanos, clock: HostClock::new(), state: Mutex::new(state) }) })
    }

    pub fn region_a(&self) -> KvRegion {
        KvRegion { sim: self.sim.clone(), region: 0 }
    }

    pub fn region_b(&self) -> KvRegion {
        KvRegion { sim: self.sim.clone(), region: 1 }
    }

    /// The clock replication follows; the hosts of both regions must run on it.
    pub fn clock(&self) -> HostClock {
        self.sim.clock.clone()
    }

    /// Replicated writes so far that overwrote a concurrent local write (see the module doc).
    pub fn conflicts(&self) -> u64 {
        self.sim.lock().conflicts
    }

    /// Those of [`Self::conflicts`] that overwrote an increment's result: an increment lost.
    pub fn increment_conflicts(&self) -> u64 {
        self.sim.lock().increment_conflicts
    }
}

impl fmt::Debug for ReplicatedKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplicatedKv {{ lag: {:?} }}", Duration::from_nanos(self.sim.lag_nanos))
    }
}

impl fmt::Debug for KvRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KvRegion {{ region: {}, lag: {:?} }}", NAMES[self.region], Duration::from_nanos(self.sim.lag_nanos))
    }
}

impl Sim {
    /// The state, with every write whose time has come applied.
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock on purpose; a test's panic elsewhere leaves
        // consistent state, so carry on.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = nanos(&self.clock);
        state.deliver_due(now, self.lag_nanos);
        state
    }
}

fn nanos(clock: &HostClock) -> u64 {
    u64::try_from(clock.now_since_epoch().as_nanos()).unwrap_or(u64::MAX)
}

impl State {
    /// Applies, oldest first, every write made before `now - lag` that has not arrived yet.
    fn deliver_due(&mut self, now: u64, lag: u64) {
        loop {
            let front = |copy: &Copy| copy.outbox.front().map(|w| w.stamp).filter(|s| s.saturating_add(lag) <= now);
            let from = match (front(&self.copies[0]), front(&self.copies[1])) {
                (Some(a), Some(b)) => usize::from(b < a),
                (Some(_), None) => 0,
                (None, Some(_)) => 1,
                (None, None) => return,
            };
            let Some(write) = self.copies[from].outbox.pop_front() else { return };
            self.arrive(1 - from, write, lag);
        }
    }

    /// A write from the other region arrives in region `to`.
    fn arrive(&mut self, to: usize, write: Write, lag: u64) {
        let copy = &mut self.copies[to];
        for (key, value) in write.values {
            let id = (write.label.clone(), key);
            let local = copy.versions.get(&id).copied();
            if local.is_some_and(|v| v.stamp > write.stamp) {
                continue; // a newer write here wins
            }
            let current = sqlite::get(&copy.db, &id.0, &id.1).ok().flatten();
            if let Some(v) = local.filter(|v| v.local && write.stamp < v.stamp.saturating_add(lag)) {
                if v.increment || current != value {
                    self.conflicts += 1;
                    self.increment_conflicts += u64::from(v.increment);
                }
            }
            // Errors cannot come from an in-memory table that exists; a write that failed would
            // only make the copies differ, which replication may do anyway.
            let _ = match &value {
                Some(bytes) => sqlite::set(&copy.db, &id.0, &id.1, bytes),
                None => sqlite::delete(&copy.db, &id.0, &id.1),
            };
            copy.versions.insert(id, Version { stamp: write.stamp, local: false, increment: write.increment });
        }
    }

    fn next_stamp(&mut self, now: u64) -> u64 {
        self.last_stamp = now.max(self.last_stamp + 1);
        self.last_stamp
    }
}

impl KvRegion {
    /// The simulation's state, once due writes have arrived; a trap once this region's copy is
    /// poisoned.
    fn usable(&self) -> wasmtime::Result<MutexGuard<'_, State>> {
        let state = self.sim.lock();
        if state.copies[self.region].poisoned {
            wasmtime::bail!(
                "key-value region {} unusable until restart: an earlier increment found a value that is not \
                 an 8-byte counter (Spin's SQLite host panics there and poisons its connection lock)",
                NAMES[self.region]
            );
        }
        Ok(state)
    }

    /// Runs the read `op` on this region's copy.
    fn read<T>(&self, op: impl FnOnce(&Connection) -> KvResult<T>) -> Op<T> {
        Ok(op(&self.usable()?.copies[self.region].db))
    }

    /// Runs the write `op` on this region's copy; when it succeeds, records `values` as written
    /// now here and sends them on their way to the other region.
    fn write<T>(
        &self,
        label: &str,
        values: Vec<(String, Option<Vec<u8>>)>,
        increment: bool,
        op: impl FnOnce(&mut Connection) -> KvResult<T>,
    ) -> Op<T> {
        let mut state = self.usable()?;
        let result = op(&mut state.copies[self.region].db);
        if result.is_ok() {
            self.sent(&mut state, label, values, increment);
        }
        Ok(result)
    }

    /// Records `values`, just written here, and queues them for the other region.
    fn sent(&self, state: &mut State, label: &str, values: Vec<(String, Option<Vec<u8>>)>, increment: bool) {
        let stamp = state.next_stamp(nanos(&self.sim.clock));
        let copy = &mut state.copies[self.region];
        for (key, _) in &values {
            copy.versions.insert((label.to_owned(), key.clone()), Version { stamp, local: true, increment });
        }
        copy.outbox.push_back(Write { stamp, label: label.to_owned(), values, increment });
    }

    /// The simulation's clock, which replication follows.
    pub(crate) fn clock(&self) -> HostClock {
        self.sim.clock.clone()
    }

    pub(crate) fn get(&self, label: &str, key: &str) -> Op<Option<Vec<u8>>> {
        self.read(|db| sqlite::get(db, label, key))
    }

    pub(crate) fn exists(&self, label: &str, key: &str) -> Op<bool> {
        self.read(|db| sqlite::exists(db, label, key))
    }

    pub(crate) fn get_keys(&self, label: &str) -> Op<Vec<String>> {
        self.read(|db| sqlite::keys(db, label))
    }

    pub(crate) fn get_many(&self, label: &str, keys: Vec<String>) -> Op<Vec<(String, Option<Vec<u8>>)>> {
        self.read(|db| sqlite::get_many(db, label, keys))
    }

    pub(crate) fn set(&self, label: &str, key: &str, value: Vec<u8>) -> Op<()> {
        let values = vec![(key.to_owned(), Some(value.clone()))];
        self.write(label, values, false, |db| sqlite::set(db, label, key, &value))
    }

    pub(crate) fn delete(&self, label: &str, key: &str) -> Op<()> {
        self.write(label, vec![(key.to_owned(), None)], false, |db| sqlite::delete(db, label, key))
    }

    pub(crate) fn set_many(&self, label: &str, pairs: Vec<(String, Vec<u8>)>) -> Op<()> {
        let values = pairs.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        self.write(label, values, false, |db| sqlite::set_many(db, label, &pairs))
    }

    pub(crate) fn delete_many(&self, label: &str, keys: Vec<String>) -> Op<()> {
        let values = keys.iter().map(|k| (k.clone(), None)).collect();
        self.write(label, values, false, |db| sqlite::delete_many(db, label, keys))
    }

    /// Spin's SQLite `increment` in this region; what travels is the value it produced.
    pub(crate) fn increment(&self, label: &str, key: &str, delta: i64) -> Op<i64> {
        let mut state = self.usable()?;
        match sqlite::increment(&mut state.copies[self.region].db, label, key, delta) {
            Ok(Ok(value)) => {
                let values = vec![(key.to_owned(), Some(value.to_le_bytes().to_vec()))];
                self.sent(&mut state, label, values, true);
                Ok(Ok(value))
            }
            Ok(Err(NotACounter { key, len })) => {
                state.copies[self.region].poisoned = true;
                wasmtime::bail!(
                    "increment of {key:?}: its value is {len} bytes, not an 8-byte little-endian counter \
                     (Spin's SQLite host panics here and poisons the store until restart)"
                )
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Spin's SQLite swap in this region; a swap that wrote travels as a `set`.
    pub(crate) fn swap(&self, label: &str, key: &str, captured: Option<&[u8]>, value: Vec<u8>) -> Op<Swapped> {
        let mut state = self.usable()?;
        let result = sqlite::swap(&mut state.copies[self.region].db, label, key, captured, &value);
        if result == Ok(Swapped::Done) {
            self.sent(&mut state, label, vec![(key.to_owned(), Some(value))], false);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "default";
    const LAG: Duration = Duration::from_secs(1);

    fn sim() -> (ReplicatedKv, KvRegion, KvRegion) {
        let kv = ReplicatedKv::new(LAG).unwrap();
        let (a, b) = (kv.region_a(), kv.region_b());
        (kv, a, b)
    }

    fn get(region: &KvRegion, key: &str) -> Option<Vec<u8>> {
        region.get(S, key).unwrap().unwrap()
    }

    fn set(region: &KvRegion, key: &str, value: &[u8]) {
        region.set(S, key, value.to_vec()).unwrap().unwrap();
    }

    fn incr(region: &KvRegion, key: &str) -> i64 {
        region.increment(S, key, 1).unwrap().unwrap()
    }

    fn wait(kv: &ReplicatedKv, ms: u64) {
        kv.clock().advance(Duration::from_millis(ms));
    }

    /// Real time moves too while a test runs; these tests move the clock in steps far larger
    /// than the microseconds a test takes, and never rely on staying short of the lag by less
    /// than 100 ms of real time.
    #[test]
    fn a_write_reaches_the_other_region_only_after_the_lag() {
        let (kv, a, b) = sim();
        set(&a, "k", b"v");
        assert_eq!(get(&a, "k"), Some(b"v".to_vec()), "read your own writes");
        assert_eq!(get(&b, "k"), None);
        wait(&kv, 900);
        assert_eq!(get(&b, "k"), None, "not before the lag");
        wait(&kv, 100);
        assert_eq!(get(&b, "k"), Some(b"v".to_vec()));
        a.delete(S, "k").unwrap().unwrap();
        assert_eq!(get(&b, "k"), Some(b"v".to_vec()));
        wait(&kv, 1_000);
        assert_eq!(get(&b, "k"), None, "deletes travel too");
        assert_eq!(b.get_keys(S).unwrap().unwrap(), Vec::<String>::new());
        assert_eq!(kv.conflicts(), 0);
    }

    #[test]
    fn the_last_writer_wins_in_both_regions_and_the_loss_is_counted() {
        let (kv, a, b) = sim();
        set(&a, "k", b"first");
        wait(&kv, 400);
        set(&b, "k", b"second");
        wait(&kv, 2_000);
        assert_eq!(get(&a, "k"), Some(b"second".to_vec()));
        assert_eq!(get(&b, "k"), Some(b"second".to_vec()), "the older write arrived late and lost");
        assert_eq!(kv.conflicts(), 1, "one pair of concurrent writes, counted where it lost");

        // A delete is a write like any other: the newer one wins, whichever it is.
        set(&b, "k", b"third");
        wait(&kv, 100);
        a.delete(S, "k").unwrap().unwrap();
        wait(&kv, 2_000);
        assert_eq!((get(&a, "k"), get(&b, "k")), (None, None));
        assert_eq!(kv.conflicts(), 2);

        // A write made after the other one arrived saw it: no conflict.
        set(&a, "k", b"seen");
        wait(&kv, 1_500);
        set(&b, "k", b"after");
        wait(&kv, 2_000);
        assert_eq!((get(&a, "k"), get(&b, "k")), (Some(b"after".to_vec()), Some(b"after".to_vec())));
        // The same value written twice loses nothing.
        set(&a, "same", b"x");
        set(&b, "same", b"x");
        wait(&kv, 2_000);
        assert_eq!(kv.conflicts(), 2);
    }

    #[test]
    fn increments_are_atomic_within_a_region_but_not_across() {
        let (kv, a, b) = sim();
        assert_eq!((incr(&a, "n"), incr(&a, "n")), (1, 2), "one region counts as one store");
        assert_eq!(incr(&b, "turn"), 1);
        assert_eq!(incr(&a, "turn"), 1, "both regions win the same turn within the lag");
        wait(&kv, 2_000);
        // Both regions now hold the last writer's result, 1: one increment is lost.
        assert_eq!(get(&a, "turn"), Some(1i64.to_le_bytes().to_vec()));
        assert_eq!(get(&b, "n"), Some(2i64.to_le_bytes().to_vec()), "what travels is the result");
        assert_eq!((kv.conflicts(), kv.increment_conflicts()), (1, 1));
        // Once the other region's increments arrived, the counter goes on from there.
        assert_eq!(incr(&b, "n"), 3);
        assert_eq!(incr(&b, "turn"), 2);
    }

    #[test]
    fn a_batch_arrives_whole() {
        let (kv, a, b) = sim();
        let pairs: Vec<_> = (0..3).map(|i| (format!("k{i}"), vec![i])).collect();
        a.set_many(S, pairs.clone()).unwrap().unwrap();
        wait(&kv, 900);
        assert_eq!(b.get_many(S, vec!["k0".into(), "k1".into(), "k2".into()]).unwrap().unwrap(), vec![]);
        wait(&kv, 100);
        let got = b.get_many(S, vec!["k2".into(), "k0".into(), "k1".into()]).unwrap().unwrap();
        let want: Vec<_> = pairs.into_iter().map(|(k, v)| (k, Some(v))).collect();
        assert_eq!(got, want, "all three keys at once, sorted by key as Spin's SQLite store answers");
        a.delete_many(S, vec!["k0".into(), "k2".into()]).unwrap().unwrap();
        wait(&kv, 1_000);
        assert_eq!(b.get_keys(S).unwrap().unwrap(), vec!["k1".to_string()]);
    }

    #[test]
    fn an_increment_of_a_non_counter_poisons_only_its_region() {
        let (_kv, a, b) = sim();
        set(&a, "s", b"hello");
        assert!(a.increment(S, "s", 1).is_err());
        assert!(a.get(S, "s").is_err(), "every later call traps, as on Spin's SQLite store");
        assert_eq!(incr(&b, "n"), 1);
    }

    #[test]
    fn a_swap_that_wrote_travels() {
        let (kv, a, b) = sim();
        assert_eq!(a.swap(S, "c", None, b"1".to_vec()).unwrap(), Ok(Swapped::Done));
        assert_eq!(a.swap(S, "c", Some(b"other"), b"2".to_vec()).unwrap(), Ok(Swapped::CasFailed));
        wait(&kv, 1_000);
        assert_eq!(get(&b, "c"), Some(b"1".to_vec()));
    }
}
