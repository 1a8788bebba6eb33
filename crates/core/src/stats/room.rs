//! How full a capped store is (`store_max_keys`), and where new work stops. The engine lists the
//! keys (`engine/room.rs`); this is the arithmetic.
//!
//! A job grows after it is accepted: once finished and until retention ends it holds an
//! end-state list entry, the details of its earlier attempts, a turn key per claim a sweep made
//! and a timer slot (README, "How many keys the store holds"). So the line counts every job held
//! as `GROWTH_PER_JOB` keys more than it has now, plus `FIXED_RESERVE` keys for the store's own
//! (sweep buckets, statistics turns). A job that retries more than that uses more; if the store
//! then meets its own cap, the outcome write fails, the attempt is taken over once its lease ends,
//! and retention's end frees room.

use serde::Serialize;

/// Keys a new job adds when it is accepted, at most: record, body, timer slot, pending-list
/// entry, and two for an `Idempotency-Key`.
pub const KEYS_PER_NEW_JOB: u64 = 6;
/// Keys a job held is expected to add before it is deleted: an end-state entry, one earlier
/// attempt's details, one claim turn, one timer slot.
pub const GROWTH_PER_JOB: u64 = 4;
/// Keys kept free for the store's own bookkeeping.
pub const FIXED_RESERVE: u64 = 16;

/// How full a capped store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoreRoom {
    pub keys: u64,
    pub max_keys: u64,
    /// Job records among the keys.
    pub jobs: u64,
    /// Keys the store is expected to hold once the jobs held have grown.
    pub projected_keys: u64,
    /// Projected at or over three quarters of the cap.
    pub near_full: bool,
}

impl StoreRoom {
    pub fn of(keys: u64, jobs: u64, max_keys: u64) -> Self {
        let projected_keys = keys + jobs * GROWTH_PER_JOB + FIXED_RESERVE;
        StoreRoom { keys, max_keys, jobs, projected_keys, near_full: projected_keys * 4 >= max_keys * 3 }
    }

    /// Whether `jobs` new jobs (or records counted like them) fit, once grown, under the cap.
    pub fn admits(&self, jobs: u64) -> bool {
        self.projected_keys + jobs * (KEYS_PER_NEW_JOB + GROWTH_PER_JOB) <= self.max_keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_what_the_jobs_held_will_grow_to() {
        // (keys, jobs, max) → (projected, near full, admits a job)
        for (keys, jobs, max, projected, near_full, admits) in [
            (0, 0, 1_024, 16, false, true),
            (500, 50, 1_024, 716, false, true),
            (560, 50, 1_024, 776, true, true),
            (800, 50, 1_024, 1_016, true, false),
            (798, 50, 1_024, 1_014, true, true),
            (799, 50, 1_024, 1_015, true, false),
            (0, 0, 20, 16, true, false),
        ] {
            let room = StoreRoom::of(keys, jobs, max);
            assert_eq!((room.projected_keys, room.near_full, room.admits(1)), (projected, near_full, admits));
        }
    }

    #[test]
    fn a_batch_must_fit_whole() {
        let room = StoreRoom::of(500, 50, 1_024);
        assert!(room.admits(30), "716 + 30 × 10 = 1,016 keys");
        assert!(!room.admits(31), "716 + 31 × 10 = 1,026 keys");
    }
}
