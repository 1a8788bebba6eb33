//! Jobs that have ended but are not filed yet, so that listings and counts show a job as soon as
//! its outcome is recorded.
//!
//! A finished job joins its state's list, and the statistics, when a sweep reaches its lease's
//! end (`2 × timeout + 30 s` after the attempt began). The outcome already wrote the finished
//! record into the job's timer slot at that lease's end (`timers::slot_value_with_record`), so
//! a reader finds the jobs that ended since in the slots of the buckets from a little before now
//! to the end of a lease started now, no commit added. Slots a sweep has handled (below its
//! bucket's `done`) are filed already and left out. The look is bounded: at most
//! [`RECENT_SLOTS`] slots, newest lease end first, and only leases of the configured `timeout`
//! (a job with a longer one of its own shows once filed). With regions, only this region's timer
//! index is looked at: a job another region attempted shows once filed.

use super::{timers, Hookah};
use crate::ids::JobId;
use crate::job::{lease_ms, JobRecord};
use crate::keys::{self, bucket_of, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use std::collections::HashMap;

/// Slots one look reads at most.
pub(crate) const RECENT_SLOTS: usize = 400;
/// Ended buckets looked at besides the ones to come: a sweep files a bucket's jobs a second or
/// two after it ends, and deletes it once settled.
const ENDED_BUCKETS: u64 = 35;

/// The finished jobs a look found, newest lease end first.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    /// Copies of the finished records, as their outcomes wrote them.
    pub(crate) jobs: Vec<JobRecord>,
    /// Every slot of the window was read.
    pub(crate) exact: bool,
    /// Keys read.
    pub(crate) reads: u64,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Jobs that ended and are not filed yet (see the module doc), reading at most `max_slots`.
    pub(crate) fn recently_finished(&self, now: u64, max_slots: usize) -> Result<Recent, KvError> {
        let current = bucket_of(now);
        let buckets: Vec<u64> =
            (current.saturating_sub(ENDED_BUCKETS)..=bucket_of(now + lease_ms(self.config.timeout_ms))).rev().collect();
        let index = self.config.region.as_str();
        let counts = self.kv.load_many(&buckets.iter().map(|&b| keys::slot_count(index, b)).collect::<Vec<_>>())?;
        let ended: Vec<u64> =
            buckets.iter().zip(&counts).filter(|&(&b, &n)| b < current && n > 0).map(|(&b, _)| b).collect();
        let done = self.kv.load_many(&ended.iter().map(|&b| keys::slot_done(index, b)).collect::<Vec<_>>())?;
        // Slots a sweep has handled, by bucket: filed already.
        let handled: HashMap<u64, u64> =
            ended.iter().zip(done).filter_map(|(&bucket, done)| Some((bucket, done?))).collect();
        let mut recent = Recent { exact: true, reads: (buckets.len() + ended.len()) as u64, ..Recent::default() };
        let mut slots = Vec::new();
        'buckets: for (&bucket, &count) in buckets.iter().zip(&counts) {
            let handled = handled.get(&bucket).copied().unwrap_or(0);
            for n in (handled + 1..=count).rev() {
                if slots.len() == max_slots {
                    recent.exact = false;
                    break 'buckets;
                }
                slots.push((bucket, keys::slot(index, bucket, n)));
            }
        }
        let values = self.kv.load_many(&slots.iter().map(|(_, key)| key.clone()).collect::<Vec<_>>())?;
        recent.reads += slots.len() as u64;
        for ((bucket, _), value) in slots.iter().zip(values) {
            let Some((id, timers::Carried::Record(bytes))) = value.as_deref().and_then(timers::parse_slot_value) else {
                continue;
            };
            let Some(id) = JobId::parse(&id) else { continue };
            let record = keys::job(&id).decode(Some(bytes));
            let record = record.filter(|r| r.id == id && r.timer == *bucket && r.state.finished_at().is_some());
            recent.jobs.extend(record);
        }
        Ok(recent)
    }
}
