//! A store replicated across regions (Akamai Functions' key-value store keeps a replica near
//! each compute region): a write reaches the other regions after a lag, the newest write wins
//! per key, and `increment` is atomic only within a region. Two regions can then both read 1
//! from one counter, and both write the key it numbered.
//!
//! Hookah's timer index is such a numbered index: a writer takes slot `n` of a bucket with
//! `increment due:{bucket}:n`, then writes `due:{bucket}:{n}`. Two regions that time a job in the
//! same second take the same slot, and one slot survives replication: the other job has no timer
//! and is never attempted again (the replicated-store simulation lost 7 to 13 of 20 retried jobs
//! this way). So with `region` set, each region writes only its own timer index,
//! `due@{region}:…` with its own `sweep:cursor@{region}`: every key of an index has one writing
//! region, and replication can only delay it, never overwrite it.
//!
//! - A sweep walks its region's index as on an unreplicated store, then every other region's in
//!   `regions`, `region_takeover` (2 min) behind: a bucket is read there only once it ended that
//!   long ago. All of a bucket's slots were written before it ended, so by then they have
//!   reached this region; and unless its own region stopped sweeping, they were handled there
//!   long before. So regions do not act on each other's jobs while both run, and a region that
//!   stops has its jobs taken over two minutes late.
//! - Where two regions do act on one job at once (a takeover racing a late owner, an API call
//!   in one region for a job another is attempting), turns, being increments, can be won in
//!   both: one attempt can be made twice. Never lost: each region's own slots still name the job.
//! - One idempotency key sent to two regions within the lag can make two jobs (each region's
//!   race counter reads 1).
//! - Other numbered indexes are not split by region: a per-state list entry or a slot log entry
//!   (a channel's subscriptions, the signing keys, the channel list) that two regions number in
//!   the same moment keeps one writer's, so a listing can miss a job, and a subscription created
//!   in two regions of one channel within the lag can drop out of its channel's fan-out. The
//!   statistics, a fenced record, can lose one region's update. ARCHITECTURE.md has the table.

use super::sweep::Walk;
use super::Hookah;
use crate::ports::{Kv, Transport};

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// The timer indexes a sweep walks: this region's, then each other region's,
    /// `region_takeover` behind.
    pub(super) fn walks(&self) -> Vec<Walk> {
        let own = &self.config.region;
        let others = self.config.regions.iter().filter(|region| *region != own);
        std::iter::once(Walk::of(own, 0))
            .chain(others.map(|region| Walk::of(region, self.config.region_takeover_ms)))
            .collect()
    }
}
