//! What a sweep batch does with each slot it read: reading the jobs the slots point at, and
//! carrying out each one's timer action (claim, reschedule, file, delete) in the batch's commits.
//!
//! # Deleting a finished job
//!
//! A finished job is deleted by the first sweep that finds any of its slots `DELETION_GRACE_MS`
//! (30 s) after its retention ended. The deletion takes no turn, because the record is final
//! when the grace ends:
//!
//! - from retention's end on, no writer changes it (retry and bulk replay refuse it);
//! - a writer that read it earlier writes within `TURN_DEADLINE_MS` of its read, or not at all;
//! - clocks agree within `LEASE_SAFETY_MS`.
//!
//! A writer that read it earlier and wins a turn afresh finds it gone. Two sweeps overlapping on
//! a bucket past their claim window may both delete it: harmless to the data, but it counts out
//! of the stats' finished figures twice. The deletion takes every key the job owns: record, body,
//! cancel flag, attempt details, the turn after the record's, its pending-list entries, its spent
//! in-flight counters and its idempotency keys (the record only while it names this job).
//!
//! # Cost
//!
//! A claim costs one `increment` (the turn) and a share of the batch's one `set_many`; a deletion
//! a share of one `delete_many`. A batch that saw anything adds one fenced update of the
//! statistics (`engine/stats.rs`).

use super::{Aside, SweepReport};
use crate::engine::fence::{self, Turn};
use crate::engine::slot_writes::SlotWrites;
use crate::engine::stats::Seen;
use crate::engine::targets::HOLD_BACK_MS;
use crate::engine::timers::{self, Carried};
use crate::engine::Hookah;
use crate::flows::FlowRecord;
use crate::ids::{EventId, JobId};
use crate::job::transition::{self, TimerAction};
use crate::job::view::public_state;
use crate::job::{JobRecord, State};
use crate::keys::{self, Bytes, Key, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use std::collections::{HashMap, HashSet};

/// A slot read during the sweep and the record it pointed at, as stored.
pub(super) struct Found {
    bucket: u64,
    id: JobId,
    record: JobRecord,
    /// The list entry the slot carries (`timers::Carried::ListEntry`).
    list_entry: Option<Key<Bytes>>,
}

/// A job's slot as read: its bucket, the job, the record the slot carries (if it is the one the
/// sweep needs) and the list entry it carries.
type SlotRead = (u64, JobId, Option<JobRecord>, Option<Key<Bytes>>);

/// What a batch's slots point at.
pub(super) struct SlotsRead {
    pub(super) found: Vec<Found>,
    /// Events, whose timers drive fan-out.
    pub(super) events: Vec<(u64, EventId)>,
    /// Flows whose next step is due, by the id their slots carry (`engine/flows/`).
    pub(super) flows: Vec<String>,
    /// List entries carried by slots whose job is gone: they go with this batch's deletions.
    pub(super) orphaned_entries: Vec<String>,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// The jobs the slots point at, and the events (whose timers drive fan-out). A slot that
    /// carries its job's finished record (written with the outcome) spares reading the record
    /// when all it asks is that the job be filed; for anything else the record is read.
    pub(super) fn read_slots(
        &self,
        slot_keys: &[Key<Bytes>],
        slot_buckets: &[u64],
        now: u64,
    ) -> Result<SlotsRead, KvError> {
        let mut events = Vec::new();
        let mut flows = Vec::new();
        // In slot order: a carried record, or the id whose record is read below.
        let mut slots: Vec<SlotRead> = Vec::new();
        for (value, &bucket) in self.kv.load_many(slot_keys)?.into_iter().zip(slot_buckets) {
            let Some(value) = value else { continue };
            let Some((id, carried)) = timers::parse_slot_value(&value) else { continue };
            // A slot names an event or a job by its prefix; one that names neither has no record.
            if let Some(event) = EventId::parse(&id) {
                events.push((bucket, event));
                continue;
            }
            if id.starts_with(keys::FLOW_TIMER_PREFIX) {
                flows.push(id);
                continue;
            }
            let Some(id) = JobId::parse(&id) else { continue };
            let (record, list_entry) = match carried {
                Carried::Nothing => (None, None),
                Carried::Record(bytes) => (keys::job(&id).decode(Some(bytes)), None),
                Carried::ListEntry(entry) => (None, Some(entry)),
            };
            let record = record.filter(|record| {
                record.id == id
                    && matches!(transition::on_timer(record, bucket, now, self.config), TimerAction::KeepUntil { .. })
            });
            slots.push((bucket, id, record, list_entry));
        }
        let job_keys: Vec<_> =
            slots.iter().filter(|(_, _, carried, _)| carried.is_none()).map(|(_, id, _, _)| keys::job(id)).collect();
        let mut records = self.kv.load_many(&job_keys)?.into_iter();
        let mut found = Vec::new();
        let mut orphaned_entries = Vec::new();
        for (bucket, id, carried, list_entry) in slots {
            match carried.or_else(|| records.next().flatten()) {
                Some(record) => found.push(Found { bucket, id, record, list_entry }),
                None => orphaned_entries.extend(list_entry.map(String::from)),
            }
        }
        Ok(SlotsRead { found, events, flows, orphaned_entries })
    }

    /// Carries out each slot's timer action; returns the records this sweep now holds claims on,
    /// each with the number of its new timer slot. `now` was taken before the records were read.
    /// The flows' settings it reads go into `flows`, the sweep's own.
    pub(super) fn act_on_slots(
        &self,
        found: Vec<Found>,
        orphaned_entries: Vec<String>,
        now: u64,
        report: &mut SweepReport,
        (blocked, known): Aside<'_>,
    ) -> Result<Vec<(JobRecord, u64)>, KvError> {
        let mut new_timers = SlotWrites::default();
        let mut wanted = Vec::new();
        let mut seen = HashSet::new();
        let mut visits = Vec::new();
        for slot in &found {
            let action = transition::on_timer(&slot.record, slot.bucket, now, self.config);
            // Two live slots of one job in one sweep: the first decides.
            if matches!(action, TimerAction::Skip) || !seen.insert(&slot.id) {
                report.skipped += 1;
                continue;
            }
            match action {
                TimerAction::Skip => {}
                TimerAction::Reschedule { bucket } => {
                    report.rescheduled += 1;
                    new_timers.put_off(bucket, slot.id.as_str(), slot.list_entry.as_ref());
                }
                TimerAction::KeepUntil { bucket } => {
                    // The first visit after a job ended: it joins its state's list now.
                    new_timers.file(bucket, public_state(&slot.record.state), &slot.id, slot.record.generation);
                    visits.push(Seen::Filed(slot.record.clone()));
                }
                TimerAction::Delete => wanted.push((slot, None)),
                TimerAction::Claim(next) => wanted.push((slot, Some(*next))),
            }
        }
        // Starts first (`target_rate`), then the cancel flags of the claims that may start (in
        // one batch read): a job held back for its target costs no flag read. A place in flight
        // (`target_concurrency`) is taken when the attempt starts, in `sweep`.
        // Targets found full in this batch, or with claims waiting in this sweep, are not asked
        // again: the rest of their jobs wait.
        let mut full_targets = blocked;
        let mut placed = Vec::new();
        // Due jobs of flows with settings wait for their flow's step instead (`engine/flows/`).
        let flows = self.flow_records_noting(
            wanted.iter().filter(|(_, next)| next.is_some()).map(|(slot, _)| &slot.record),
            known,
        )?;
        for (slot, next) in wanted {
            // A batch slowed down (a busy disk) stops taking turns well before their deadline;
            // what it did not get to is looked at again a second later.
            let late = self.clock.now_ms() > now + fence::TURN_DEADLINE_MS / 2;
            let host = slot.record.flow_key().into_owned();
            let wants_start = next.is_some();
            let allowed = match (late, wants_start) {
                (true, _) => false,
                (false, false) => true,
                (false, true) if flows.contains_key(&host) => true,
                (false, true) if full_targets.contains(&host) => false,
                (false, true) => self.take_target_start(&host, now)?,
            };
            if !allowed {
                // The batch ran late, or the target may start no more attempts now: back in a
                // second, unchanged.
                if wants_start && !late {
                    full_targets.insert(host);
                }
                hold_back(&mut new_timers, report, slot, now);
                continue;
            }
            placed.push((slot, next));
        }
        let cancel_keys: Vec<_> =
            placed.iter().filter(|(_, next)| next.is_some()).map(|(slot, _)| keys::cancel_request(&slot.id)).collect();
        let mut cancelled = self.kv.exist_many(&cancel_keys)?.into_iter();

        let mut records = Vec::new();
        let mut handed: HashMap<String, Vec<(JobId, bool)>> = HashMap::new();
        let mut deletions = orphaned_entries;
        let mut claims = Vec::new();
        for (slot, next) in placed {
            let Some(mut next) = next else {
                // Past retention and its grace, the record is final (`DELETION_GRACE_MS`): its
                // deletion takes no turn. A writer that read it earlier and wins a turn afresh
                // finds it gone.
                report.deleted += 1;
                visits.push(Seen::Deleted(slot.record.clone()));
                deletions.extend(self.keys_of(&slot.record, now)?);
                continue;
            };
            let cancel = cancelled.next().unwrap_or(false);
            if self.clock.now_ms() > now + fence::TURN_DEADLINE_MS / 2 {
                // Too late to take a turn this batch (deletions need none): back in a second.
                hold_back(&mut new_timers, report, slot, now);
                continue;
            }
            let Turn::Won(turn) = fence::take_turn_of_existing(self.kv, &keys::job(&slot.id), slot.record.turn, now)?
            else {
                // Another writer holds the job's next turn: look again once it must have written.
                report.skipped += 1;
                let bucket = keys::timer_bucket(now + fence::TURN_STALE_MS, now);
                new_timers.put_off(bucket, slot.id.as_str(), slot.list_entry.as_ref());
                continue;
            };
            if cancel {
                // Cancelled while an attempt was in flight: no attempt starts after that.
                let mut record = slot.record.clone();
                record.state = State::Cancelled { at: now };
                record.timer = keys::timer_bucket(now, now);
                record.turn = turn;
                new_timers.push(record.timer, slot.id.as_str());
                report.rescheduled += 1;
                records.push(record);
                continue;
            }
            // A pending job's last attempt ended since the last visit; a taken-over one gets its
            // abandoned attempt now.
            let pending = matches!(slot.record.state, State::Pending { .. });
            visits.push(Seen::Claimed(if pending { slot.record.clone() } else { next.clone() }));
            next.attempts_counted = next.attempts.len() as u32;
            next.turn = turn;
            if let Some((flow, queued)) = waits_for_flow(&flows, &next) {
                // Pending now, for the flow's step to release; its timer slot is spent.
                next.state = State::Pending { next_at: now };
                next.waiting = true;
                handed.entry(flow).or_default().push((next.id.clone(), queued));
                report.rescheduled += 1;
                records.push(next);
                continue;
            }
            claims.push((next.clone(), new_timers.push(next.timer, slot.id.as_str())));
            report.claimed += 1;
            records.push(next);
        }
        if self.clock.now_ms() > now + fence::TURN_DEADLINE_MS {
            // Too slow to write the turns won: they go stale and other sweeps skip them.
            return Err(KvError("the sweep took too long to record its claims".into()));
        }
        // List entries whose slots were consumed with no slot after them go with the deletions.
        deletions.extend(new_timers.dropped(found.iter().filter_map(|slot| slot.list_entry.as_ref())));
        // New slots and the records that point at them in one commit.
        let (mut entries, numbers) = new_timers.allocate(self.kv, &self.config.region)?;
        let claims = claims.into_iter().map(|(claim, i)| (claim, numbers[i])).collect();
        entries.extend(records.iter().map(|record| keys::job(&record.id).entry(record)));
        for (flow, jobs) in &handed {
            let queued: Vec<&JobId> = jobs.iter().filter(|(_, queued)| *queued).map(|(id, _)| id).collect();
            entries.extend(self.enqueue(flow, &queued)?);
            entries.extend(self.flow_wakeup_for(&flows[flow])?);
        }
        if !entries.is_empty() {
            self.kv.set_many(entries)?;
        }
        for record in records.iter().filter(|r| matches!(r.state, State::Cancelled { .. })) {
            self.report_if_asked(record, None)?;
        }
        if !deletions.is_empty() {
            self.kv.delete_many(&deletions)?;
        }
        if !visits.is_empty() {
            self.record_stats(&visits, report, now)?;
        }
        Ok(claims)
    }

    /// Every key a job owns, for its deletion at the end of retention (with the turn after the
    /// record's, which a writer may have won and then not written).
    fn keys_of(&self, job: &JobRecord, now: u64) -> Result<Vec<String>, KvError> {
        let key = keys::job(&job.id);
        let mut doomed: Vec<String> = fence::turn_keys(&key, job.turn + 1).collect();
        doomed.extend([key.into(), keys::body(&job.id).into(), keys::cancel_request(&job.id).into()]);
        doomed.extend((1..=job.attempts.len()).map(|n| keys::attempt_detail(&job.id, n).into()));
        doomed.extend(job.pending_entries.iter().map(|&k| keys::list_entry("pending", k).into()));
        doomed.extend(self.spent_flight_counters(job, now));
        if let Some(hash) = &job.idempotency_key {
            doomed.push(keys::idempotency_race(hash, job.created_at / keys::IDEMPOTENCY_WINDOW_MS).into());
            // The key may since answer for a newer job: only remove it while it names this one.
            let idempotency = keys::idempotency(hash);
            if self.kv.load(&idempotency)?.is_some_and(|record| record.job == job.id) {
                doomed.push(idempotency.into());
            }
        }
        Ok(doomed)
    }
}

/// Whether a due job waits for its flow instead of being claimed: its flow key, and whether it
/// joins the flow's queue (an ordered flow's head keeps its place at the front and only waits
/// while the flow is paused).
fn waits_for_flow(flows: &HashMap<String, FlowRecord>, job: &JobRecord) -> Option<(String, bool)> {
    let key = job.flow_key();
    let flow = flows.get(key.as_ref())?;
    let head = flow.settings.ordered && flow.queue.head.as_ref() == Some(&job.id);
    (flow.settings.paused || !head).then(|| (key.into_owned(), !head))
}

/// Puts a slot off for a second, unchanged (its target is full, or the batch ran late).
fn hold_back<'a>(new_timers: &mut SlotWrites<'a>, report: &mut SweepReport, slot: &'a Found, now: u64) {
    report.held_back += 1;
    new_timers.put_off(keys::timer_bucket(now + HOLD_BACK_MS, now), slot.id.as_str(), slot.list_entry.as_ref());
}
