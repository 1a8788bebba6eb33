//! A sweep: walk the timer buckets that have passed, act on each slot, deliver what is due.
//! Its cost follows the slots it reads (bounded by `sweep_batch`) and the buckets it walks, never
//! the number of jobs stored.

use super::{lists, timers, Hookah};
use crate::job::transition::{self, TimerAction};
use crate::job::view::public_state;
use crate::job::{JobRecord, State};
use crate::keys::{self, bucket_of, BUCKET_MS, SETTLE_MS};
use crate::ports::{Kv, KvError, Transport};
use crate::stored::Stored;
use futures::StreamExt;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Another sweep held the lock: this one did nothing.
    pub busy: bool,
    pub buckets: u64,
    pub slots: u64,
    pub claimed: u64,
    pub rescheduled: u64,
    /// Slots that were stale or duplicate, or whose job changed under the sweep.
    pub skipped: u64,
    pub deleted: u64,
    pub delivered: u64,
    pub retrying: u64,
    pub failed: u64,
    pub lost_claims: u64,
    /// Event timers handled (fan-out steps and event deletions).
    pub events: u64,
    pub finished_buckets: u64,
}

/// A slot read during the sweep and the record it pointed at, as stored.
struct Found {
    bucket: u64,
    id: String,
    stored: Vec<u8>,
    record: JobRecord,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub async fn sweep(&self) -> Result<SweepReport, KvError> {
        let mut report = SweepReport::default();
        let now = self.clock.now_ms();
        // Only whole buckets that have ended are swept: every slot in them is due.
        let current = bucket_of(now);
        let cursor = match self.kv.get(keys::SWEEP_CURSOR)? {
            Some(bytes) => keys::decode_counter(Some(&bytes)),
            None => current.saturating_sub(keys::LOOKBACK_BUCKETS),
        };
        let end = current.min(cursor + keys::MAX_BUCKETS_PER_SWEEP);
        if cursor >= end {
            return Ok(report);
        }
        // The lock is per minute (a crashed holder frees it when its minute ends): within a
        // minute one sweep decides at a time, so list entries are written once, but a sweep of
        // the next minute may overlap this one, so job claims stay compare-and-swap.
        // Deliveries run after the lock is released.
        let lock = keys::sweep_lock(now);
        if self.kv.increment(&lock, 1)? != 1 {
            report.busy = true;
            return Ok(report);
        }
        let decided = self.decide_slots(cursor, end, now, &mut report);
        let previous = keys::sweep_lock(now.saturating_sub(keys::SWEEP_LOCK_WINDOW_MS));
        self.kv.delete_many(&[lock, previous])?;
        let claims = decided?;

        let outcomes: Vec<Result<Option<JobRecord>, KvError>> = futures::stream::iter(claims)
            .map(|record| self.attempt(record))
            .buffer_unordered(self.config.sweep_concurrency)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome? {
                Some(JobRecord { state: State::Delivered { .. }, .. }) => report.delivered += 1,
                Some(JobRecord { state: State::Pending { .. }, .. }) => report.retrying += 1,
                Some(_) => report.failed += 1,
                None => report.lost_claims += 1,
            }
        }
        Ok(report)
    }

    /// Reads the due slots of buckets `cursor..end`, acts on them and finishes settled buckets;
    /// returns the claims to deliver.
    fn decide_slots(
        &self,
        cursor: u64,
        end: u64,
        now: u64,
        report: &mut SweepReport,
    ) -> Result<Vec<JobRecord>, KvError> {
        let buckets: Vec<u64> = (cursor..end).collect();
        report.buckets = buckets.len() as u64;
        let progress_keys: Vec<String> =
            buckets.iter().flat_map(|&b| [keys::slot_count(b), keys::slot_done(b)]).collect();
        let progress = self.kv.get_many(&progress_keys)?;

        // Pick up to `sweep_batch` unhandled slots, oldest buckets first.
        let mut budget = self.config.sweep_batch as u64;
        let mut slot_keys = Vec::new();
        let mut slot_buckets = Vec::new();
        let mut counts = Vec::with_capacity(buckets.len());
        let mut done_updates = Vec::new();
        for (i, &bucket) in buckets.iter().enumerate() {
            let count = keys::decode_counter(progress[2 * i].as_deref());
            let done = keys::decode_counter(progress[2 * i + 1].as_deref()).min(count);
            let take = (count - done).min(budget);
            budget -= take;
            for n in done + 1..=done + take {
                slot_keys.push(keys::slot(bucket, n));
                slot_buckets.push(bucket);
            }
            if take > 0 {
                done_updates.push((keys::slot_done(bucket), keys::encode_counter(done + take)));
            }
            counts.push((count, done + take));
        }
        report.slots = slot_keys.len() as u64;

        let (found, events) = self.read_slots(&slot_keys, &slot_buckets)?;
        report.skipped = report.slots - found.len() as u64 - events.len() as u64;
        let claims = self.act_on_slots(found, now, report)?;
        for (bucket, id) in events {
            report.events += 1;
            self.event_timer(&id, bucket, now)?;
        }
        if !done_updates.is_empty() {
            self.kv.set_many(done_updates)?;
        }
        report.finished_buckets = self.finish_buckets(&buckets, &counts, now)?;

        Ok(claims)
    }

    /// The jobs the slots point at, and the events (whose timers drive fan-out).
    #[allow(clippy::type_complexity)]
    fn read_slots(
        &self,
        slot_keys: &[String],
        slot_buckets: &[u64],
    ) -> Result<(Vec<Found>, Vec<(u64, String)>), KvError> {
        let (events, ids): (Vec<(u64, String)>, Vec<(u64, String)>) = self
            .kv
            .get_many(slot_keys)?
            .into_iter()
            .zip(slot_buckets)
            .filter_map(|(id, &bucket)| Some((bucket, String::from_utf8(id?).ok()?)))
            .partition(|(_, id)| crate::ids::is_event_id(id));
        let job_keys: Vec<String> = ids.iter().map(|(_, id)| keys::job(id)).collect();
        let records = self.kv.get_many(&job_keys)?;
        let found = ids
            .into_iter()
            .zip(records)
            .filter_map(|((bucket, id), stored)| {
                let stored = stored?;
                let record = JobRecord::from_bytes(&stored)?;
                Some(Found { bucket, id, stored, record })
            })
            .collect();
        Ok((found, events))
    }

    /// Carries out each slot's timer action; returns the records this sweep now holds claims on.
    fn act_on_slots(&self, found: Vec<Found>, now: u64, report: &mut SweepReport) -> Result<Vec<JobRecord>, KvError> {
        let mut updates = Vec::new();
        let mut new_timers: Vec<(u64, &str)> = Vec::new();
        let mut deletions = Vec::new();
        let mut finished: Vec<(&'static str, &str, u32)> = Vec::new();
        for slot in &found {
            match transition::on_timer(&slot.record, slot.bucket, now, self.config) {
                TimerAction::Skip => report.skipped += 1,
                TimerAction::Delete => {
                    report.deleted += 1;
                    deletions.extend(self.keys_of(&slot.record)?);
                }
                TimerAction::KeepUntil { bucket } => {
                    // The first visit after a job ended: it joins its state's list now.
                    new_timers.push((bucket, &slot.id));
                    finished.push((public_state(&slot.record.state), &slot.id, slot.record.generation));
                }
                TimerAction::Claim(next) | TimerAction::Reschedule(next) => {
                    new_timers.push((next.timer, &slot.id));
                    updates.push((slot, next));
                }
            }
        }
        // New slots first, then the records that point at them: a crash in between leaves only
        // stale slots, which are skipped.
        if !new_timers.is_empty() {
            let mut entries = timers::allocate(self.kv, &new_timers)?;
            entries.extend(lists::append_grouped(self.kv, &finished)?);
            self.kv.set_many(entries)?;
        }
        if !deletions.is_empty() {
            self.kv.delete_many(&deletions)?;
        }
        let mut claims = Vec::new();
        for (slot, next) in updates {
            let (cas, current) = self.kv.cas_open(&keys::job(&slot.id))?;
            // Someone else moved the job since we read it (another sweep, the accepting
            // invocation): theirs is the claim.
            if current.as_deref() != Some(slot.stored.as_slice()) || !self.kv.cas_swap(cas, &next.to_bytes())? {
                report.skipped += 1;
                continue;
            }
            if matches!(next.state, State::InFlight { .. }) {
                report.claimed += 1;
                claims.push(next);
            } else {
                report.rescheduled += 1;
            }
        }
        Ok(claims)
    }

    /// Every key a job owns, for its deletion at the end of retention.
    fn keys_of(&self, job: &JobRecord) -> Result<Vec<String>, KvError> {
        let mut doomed = vec![keys::job(&job.id), keys::body(&job.id)];
        doomed.extend((1..=job.attempts.len()).map(|n| keys::attempt_detail(&job.id, n)));
        if let Some(hash) = &job.idempotency_key {
            doomed.push(keys::idempotency_race(hash, job.created_at / keys::IDEMPOTENCY_WINDOW_MS));
            // The key may since answer for a newer job: only remove it while it names this one.
            let record = self.kv.get(&keys::idempotency(hash))?.unwrap_or_default();
            if String::from_utf8_lossy(&record).contains(&job.id) {
                doomed.push(keys::idempotency(hash));
            }
        }
        Ok(doomed)
    }

    /// Deletes the oldest buckets that are fully handled and settled, and moves the cursor past
    /// them. Returns how many went.
    fn finish_buckets(&self, buckets: &[u64], counts: &[(u64, u64)], now: u64) -> Result<u64, KvError> {
        let mut doomed = Vec::new();
        let mut finished = 0;
        for (&bucket, &(count, done)) in buckets.iter().zip(counts) {
            let settled = (bucket + 1) * BUCKET_MS + SETTLE_MS <= now;
            if !settled || done < count {
                break;
            }
            doomed.extend((1..=count).map(|n| keys::slot(bucket, n)));
            if count > 0 {
                doomed.extend([keys::slot_count(bucket), keys::slot_done(bucket)]);
            }
            finished += 1;
        }
        if finished == 0 {
            return Ok(0);
        }
        if !doomed.is_empty() {
            self.kv.delete_many(&doomed)?;
        }
        self.kv.set(keys::SWEEP_CURSOR, &keys::encode_counter(buckets[0] + finished))?;
        Ok(finished)
    }
}
