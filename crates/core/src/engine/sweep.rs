//! A sweep: walk the timer buckets that have passed, act on each slot, deliver what is due.
//! Its cost follows the slots it reads (bounded by `sweep_batch`) and the buckets it walks, never
//! the number of jobs stored.

use super::fence::{self, Turn};
use super::{lists, timers, Hookah};
use crate::job::transition::{self, TimerAction};
use crate::job::view::public_state;
use crate::job::{JobRecord, State};
use crate::keys::{self, bucket_of, BUCKET_MS, SETTLE_MS};
use crate::ports::{Kv, KvError, Transport};
use crate::stats::Visit;
use crate::stored::Stored;
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashSet;

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
    /// How long the oldest due slot this sweep found had waited (the sweep lag).
    pub lag_ms: u64,
    /// What came of the attempts this sweep made, for the component's log.
    #[serde(skip)]
    pub attempts: Vec<crate::stats::log::AttemptLog>,
}

impl SweepReport {
    /// One line for the sweep, then one per attempt it made.
    pub fn log_lines(&self, now: u64) -> Vec<String> {
        let mut lines = vec![crate::stats::log::sweep_line(self, now)];
        lines.extend(self.attempts.iter().map(|attempt| attempt.line()));
        lines
    }
}

/// A slot read during the sweep and the record it pointed at, as stored.
struct Found {
    bucket: u64,
    id: String,
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
        // One sweep decides at a time, so list entries are written once; deliveries run after
        // the lock is released. Job claims stay compare-and-swap all the same.
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
            let outcome = outcome?;
            report.attempts.extend(outcome.as_ref().and_then(crate::stats::log::AttemptLog::of));
            match outcome {
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
            if count > done && report.lag_ms == 0 {
                report.lag_ms = now.saturating_sub((bucket + 1) * BUCKET_MS);
            }
            if take > 0 {
                done_updates.push((keys::slot_done(bucket), keys::encode_number(done + take)));
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
                let record = JobRecord::from_bytes(&stored?)?;
                Some(Found { bucket, id, record })
            })
            .collect();
        Ok((found, events))
    }

    /// Carries out each slot's timer action; returns the records this sweep now holds claims on.
    /// `now` was taken before the records were read.
    fn act_on_slots(&self, found: Vec<Found>, now: u64, report: &mut SweepReport) -> Result<Vec<JobRecord>, KvError> {
        let mut new_timers: Vec<(u64, &str)> = Vec::new();
        let mut finished: Vec<(&'static str, &str, u32)> = Vec::new();
        let mut wanted = Vec::new();
        let mut seen = HashSet::new();
        let mut stats = self.load_stats()?;
        for slot in &found {
            let action = transition::on_timer(&slot.record, slot.bucket, now, self.config);
            // Two live slots of one job in one sweep: the first decides.
            if matches!(action, TimerAction::Skip) || !seen.insert(slot.id.as_str()) {
                report.skipped += 1;
                continue;
            }
            match action {
                TimerAction::Skip => {}
                TimerAction::Reschedule { bucket } => {
                    report.rescheduled += 1;
                    new_timers.push((bucket, &slot.id));
                }
                TimerAction::KeepUntil { bucket } => {
                    // The first visit after a job ended: it joins its state's list now.
                    new_timers.push((bucket, &slot.id));
                    finished.push((public_state(&slot.record.state), &slot.id, slot.record.generation));
                    stats.observe(Visit::Filed(&slot.record));
                }
                TimerAction::Delete => wanted.push((slot, None)),
                TimerAction::Claim(next) => wanted.push((slot, Some(*next))),
            }
        }
        let cancel_keys: Vec<String> =
            wanted.iter().filter(|(_, next)| next.is_some()).map(|(slot, _)| keys::cancel_request(&slot.id)).collect();
        let mut cancelled = self.kv.get_many(&cancel_keys)?.into_iter().map(|flag| flag.is_some());

        let mut records = Vec::new();
        let mut deletions = Vec::new();
        let mut claims = Vec::new();
        for (slot, next) in wanted {
            let cancel = next.is_some() && cancelled.next().unwrap_or(false);
            let Turn::Won(turn) = fence::take_turn(self.kv, &keys::job(&slot.id), slot.record.turn, now)? else {
                // Another writer holds the job's next turn: look again once it must have written.
                report.skipped += 1;
                new_timers.push((keys::timer_bucket(now + fence::TURN_STALE_MS, now), &slot.id));
                continue;
            };
            match next {
                None => {
                    report.deleted += 1;
                    stats.observe(Visit::Deleted(&slot.record));
                    deletions.extend(self.keys_of(&slot.record, turn)?);
                }
                Some(_) if cancel => {
                    // Cancelled while an attempt was in flight: no attempt starts after that.
                    let mut record = slot.record.clone();
                    record.state = State::Cancelled { at: now };
                    record.timer = keys::timer_bucket(now, now);
                    record.turn = turn;
                    new_timers.push((record.timer, &slot.id));
                    report.rescheduled += 1;
                    records.push(record);
                }
                Some(mut next) => {
                    // A pending job's last attempt ended since the last visit; a taken-over one
                    // gets its abandoned attempt now.
                    let pending = matches!(slot.record.state, State::Pending { .. });
                    stats.observe(Visit::Claimed(if pending { &slot.record } else { &next }));
                    next.turn = turn;
                    new_timers.push((next.timer, &slot.id));
                    report.claimed += 1;
                    records.push(next.clone());
                    claims.push(next);
                }
            }
        }
        if self.clock.now_ms() > now + fence::TURN_DEADLINE_MS {
            // Too slow to write the turns won: they go stale and other sweeps skip them.
            return Err(KvError("the sweep took too long to record its claims".into()));
        }
        // New slots and the records that point at them in one commit.
        let mut entries = timers::allocate(self.kv, &new_timers)?;
        entries.extend(lists::append_grouped(self.kv, &finished)?);
        entries.extend(records.iter().map(|record| (keys::job(&record.id), record.to_bytes())));
        entries.push(super::stats::sweep_entry(stats, report, now));
        self.kv.set_many(entries)?;
        for record in records.iter().filter(|r| matches!(r.state, State::Cancelled { .. })) {
            self.report_if_asked(record, None)?;
        }
        if !deletions.is_empty() {
            self.kv.delete_many(&deletions)?;
        }
        Ok(claims)
    }

    /// Every key a job owns, for its deletion at the end of retention (`turn`: the one that
    /// deletes it).
    fn keys_of(&self, job: &JobRecord, turn: u64) -> Result<Vec<String>, KvError> {
        let key = keys::job(&job.id);
        let mut doomed: Vec<String> = fence::turn_keys(&key, turn).collect();
        doomed.extend([key, keys::body(&job.id), keys::cancel_request(&job.id)]);
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
        self.kv.set(keys::SWEEP_CURSOR, &keys::encode_number(buckets[0] + finished))?;
        Ok(finished)
    }
}
