//! Per-target limits on the attempts sweeps make (retries, delayed first attempts, takeovers,
//! fan-out deliveries): at most `target_concurrency` in flight to one target host, at most
//! `target_rate` started a second. A job held back keeps its record and its attempt count; a new
//! timer slot brings it back a second later (`HOLD_BACK_MS`). First attempts made at accept are
//! not limited: the app's own concurrency bounds them, and they must not wait behind a backlog.
//!
//! - **Rate.** Before a sweep claims a job (and before it reads the job's cancel flag), it counts
//!   a start in a per-second counter for the job's target host
//!   (`target:{host hash}:rate:{second}`). A job held back gets a slot a second later and
//!   nothing else.
//! - **In flight.** An attempt takes a place when it starts, not when it is claimed:
//!   `increment target:{host hash}:flight:{epoch}`. Epochs are 15 minutes (`FLIGHT_EPOCH_MS`),
//!   longer than any lease. The attempt gives its place back to that epoch's counter when its
//!   outcome is recorded. What is in flight is this epoch's count plus the last one's, so a place
//!   whose holder died is forgotten within two epochs.
//! - A claim waiting in the sweep's delivery queue holds no place. So one sweep (at most
//!   `sweep_concurrency` attempts at once) is throttled only by what other sweeps hold.
//! - A claim that finds its target full waits in the sweep until one of the sweep's own attempts
//!   to that host ends. Later batches of that sweep hold the host's jobs back.
//! - A claim that never gets a place is given back at the sweep's end: pending a second later,
//!   written like an outcome by the claim's holder (its turn, its lease), its attempt count
//!   unchanged (`give_back_claim` in `engine/attempt.rs`).
//! - A claim that waited so long that an attempt started now might outlast its lease is given
//!   back the same way at once (`JobRecord::lease_fits_attempt`: 2 × timeout plus
//!   `LEASE_SAFETY_MS` left). Its outcome could not be recorded, and the job would go again
//!   after the lease.
//! - A job's deletion takes the in-flight counters its attempts used once they are spent (two
//!   epochs on), so a host nobody sends to any more keeps no counter.

use super::Hookah;
use crate::job::JobRecord;
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use std::collections::{BTreeSet, HashMap};

/// Longer than the longest lease (2 × 300 s timeout + 30 s).
pub(crate) const FLIGHT_EPOCH_MS: u64 = 15 * 60_000;
/// How soon a held-back job is looked at again.
pub(crate) const HOLD_BACK_MS: u64 = 1_000;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Whether `target_rate` lets a sweep start another attempt to `host` this second (a claim
    /// asks when it is made).
    pub(crate) fn take_target_start(&self, host: &str, now: u64) -> Result<bool, KvError> {
        if self.config.target_rate == 0 {
            return Ok(true);
        }
        let second = now / 1_000;
        let started = self.kv.add_to(&keys::target_rate(host, second), 1)?;
        if started == 1 {
            // The first in a new second clears an old one: the counters follow live hosts.
            self.kv.remove(&keys::target_rate(host, second.saturating_sub(2)))?;
        }
        Ok(started as u64 <= self.config.target_rate)
    }

    /// Takes a place in flight to `host` for an attempt about to start: the epoch to give it
    /// back to, `Some(None)` when no limit applies, `None` when the target has all the attempts
    /// it may have. `earlier` remembers the last epoch's count per host for the sweep: nothing
    /// is added to a past epoch, so a count read a moment ago can only be too high, which holds
    /// back, never lets through, an attempt too many.
    /// `limit`: the attempts the flow may have in flight (0: no limit).
    pub(crate) fn take_target_place(
        &self,
        host: &str,
        limit: u64,
        now: u64,
        earlier: &mut HashMap<String, u64>,
    ) -> Result<Option<Option<u64>>, KvError> {
        if limit == 0 {
            return Ok(Some(None));
        }
        let epoch = now / FLIGHT_EPOCH_MS;
        let current = keys::target_flight(host, epoch);
        let mine = self.kv.add_to(&current, 1)?;
        if mine == 1 {
            self.kv.remove(&keys::target_flight(host, epoch.saturating_sub(2)))?;
        }
        let earlier = match earlier.get(host) {
            Some(&count) => count,
            None => {
                let count = self.kv.load(&keys::target_flight(host, epoch.saturating_sub(1)))?;
                *earlier.entry(host.to_string()).or_default() = count;
                count
            }
        };
        if (mine.max(0) as u64).saturating_add(earlier) > limit {
            self.kv.add_to(&current, -1)?;
            return Ok(None);
        }
        Ok(Some(Some(epoch)))
    }

    /// The in-flight counters a job's attempts may have taken places in, once no attempt can
    /// add to them or give back to them any more (two epochs on): the job's deletion removes
    /// them, so a host nobody sends to any more keeps no counter. A place is taken when an
    /// attempt starts, and an attempt is dated by its start or, if abandoned, by its lease's
    /// end, at most one epoch later.
    pub(crate) fn spent_flight_counters(&self, job: &JobRecord, now: u64) -> Vec<String> {
        let host = job.flow_key();
        let spent = (now / FLIGHT_EPOCH_MS).saturating_sub(2);
        let epochs: BTreeSet<u64> =
            job.attempts.iter().map(|a| a.at / FLIGHT_EPOCH_MS).flat_map(|e| [e.saturating_sub(1), e]).collect();
        epochs.into_iter().filter(|&e| e <= spent).map(|e| keys::target_flight(&host, e).into()).collect()
    }

    /// Gives back the place an attempt to `host` took in `epoch`.
    pub(crate) fn release_target_place(&self, host: &str, epoch: u64) -> Result<(), KvError> {
        self.kv.add_to(&keys::target_flight(host, epoch), -1).map(|_| ())
    }
}
