//! Flow control: carrying out a flow key's stored settings (`flows/`).
//!
//! A job's flow key is `JobRecord::flow_key`. A key without stored settings is limited as a
//! target host always was (`engine/targets.rs`, with the variables' defaults), and its jobs are
//! attempted at accept and by their own timers. A key with settings gets its jobs through a
//! *queue* that its own *steps* release.
//!
//! # The queue
//!
//! - `flow:{hash}:wait:{n}` = a job id, numbered by one `increment` of `flow:{hash}:wait:n` per
//!   writer, in the order jobs began to wait. The flow's record keeps how far it has released
//!   (`FlowQueue::released`); what lies past that waits.
//! - A job joins when it is accepted (due now, or, in an ordered flow, whatever its delay: the
//!   queue's order is the accepts' own), when a fan-out step makes it, or when a sweep finds it
//!   due (a delayed first attempt, a retry, a takeover): then it is written back pending with
//!   `waiting` set, and its timer no longer claims it (`transition::on_timer`).
//! - An entry whose job is gone or no longer waiting (cancelled) is passed over.
//!
//! # Steps
//!
//! A flow's step runs when a sweep reads one of its timer slots (`flw_{hash}`, in the timer
//! index like a job's). It takes the flow record's next fenced turn, claims what may go now, each
//! with the job's own turn, and writes the claims, their timer slots and the flow record in one
//! `set_many`; the sweep attempts the claims like its own. What may go:
//!
//! - paused: nothing, and no further step until a settings change that resumes it;
//! - otherwise up to `sweep_batch` waiting jobs, no more than `parallelism` less the attempts in
//!   flight (the per-key counters of `engine/targets.rs`) and than `rate` less those started in
//!   the current `period` (counted in the flow record, which only steps change);
//! - ordered: one job at a time. The record names the *head*, the job whose turn it is; it goes
//!   when it is due, and keeps the turn through its retries (its own timer claims it, unless
//!   the flow is paused) until it ends. Its outcome, or its cancel, wakes the flow; a sweep that
//!   records a head's end takes the flow's next step at once.
//!
//! A step that leaves work schedules the next (a second on, or when the rate's next period
//! starts; for an ordered head it claims, at the claim's lease end, in its timer slot's bucket)
//! and records its bucket (`FlowQueue::wake`). While it is to come, no step schedules a later one
//! and accepts write no wake-up: a flow has one chain of steps, whatever number of wake-ups were
//! written. Steps find a flow's due work by its queue, not by its jobs' timers, so a
//! backlog or a pause on one key costs other keys nothing.
//!
//! # Crashes and order
//!
//! A job is claimed only by winning its turn, so a step redone after a crash, or racing the
//! job's own timer, attempts nothing twice. An ordered head is never released before the last
//! one ended: the record names it until then, and a takeover of a head is a claim of the head.
//! A crash between a step's write and its deletion of the entries it passed leaves those keys
//! behind (never read again); a number reserved and never written is a hole that steps pass.
//!
//! # Cost
//!
//! A job of a flow with settings costs, beyond a plain job: a read of the flow record at accept,
//! the queue's `increment`, a share of its flow's step (the flow's turn and a `set_many` for
//! the step's claims), its own claim turn, and a share of one `delete_many`. An ordered flow
//! takes a step a job. See ARCHITECTURE.md for the figures.

use super::fence::{self, Turn};
use super::slot_log::Item;
use super::targets::FLIGHT_EPOCH_MS;
use super::{timers, Hookah};
use crate::flows::{check_flow_key, FlowRecord};
use crate::ids::JobId;
use crate::job::{lease_ms, transition, JobRecord, State, DELETION_GRACE_MS};
use crate::keys::{self, Entry, Key, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A flow key, as the list of flows holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FlowName(pub(crate) String);

impl Item for FlowName {
    fn parse(text: &str) -> Option<Self> {
        check_flow_key(text).ok().map(|()| FlowName(text.to_string()))
    }
    fn text(&self) -> &str {
        &self.0
    }
}

/// How many of a flow's jobs wait in its queue, and how many of its attempts are in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub waiting: u64,
    pub in_flight: u64,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// The stored record of flow `key`, if any (a deleted one that still drains included).
    pub(crate) fn flow_record(&self, key: &str) -> Result<Option<FlowRecord>, KvError> {
        Ok(self.kv.load(&keys::flow(key))?.filter(|record| record.key == key))
    }

    /// The settings that apply to flow `key`'s jobs: its record unless deleted.
    pub(crate) fn flow_settings(&self, key: &str) -> Result<Option<FlowRecord>, KvError> {
        Ok(self.flow_record(key)?.filter(|record| !record.deleted))
    }

    /// How many jobs wait in `record`'s queue and how many attempts of its key are in flight
    /// (this epoch's count and the last one's, as `engine/targets.rs` counts them).
    pub(crate) fn flow_counts(&self, record: &FlowRecord) -> Result<FlowCounts, KvError> {
        let queued = self.kv.load(&keys::flow_wait_count(&record.key))?;
        let epoch = self.clock.now_ms() / FLIGHT_EPOCH_MS;
        let flights =
            [keys::target_flight(&record.key, epoch), keys::target_flight(&record.key, epoch.saturating_sub(1))];
        let in_flight = self.kv.load_many(&flights)?.into_iter().sum();
        Ok(FlowCounts { waiting: queued.saturating_sub(record.queue.released), in_flight })
    }

    /// The settings of flow `key` (`None`: the variables'), read once a sweep: `known` keeps
    /// what it has read.
    pub(crate) fn flow_known(
        &self,
        key: &str,
        known: &mut HashMap<String, Option<FlowRecord>>,
    ) -> Result<Option<FlowRecord>, KvError> {
        if let Some(flow) = known.get(key) {
            return Ok(flow.clone());
        }
        let flow = self.flow_settings(key)?;
        known.insert(key.to_string(), flow.clone());
        Ok(flow)
    }

    /// How many attempts a flow with `flow`'s settings may have in flight (0: no limit): its
    /// `parallelism`, or `target_concurrency` for a key without settings.
    pub(crate) fn flow_parallelism(&self, flow: Option<&FlowRecord>) -> u64 {
        match flow {
            Some(flow) => flow.settings.parallelism.map_or(0, u64::from),
            None => self.config.target_concurrency,
        }
    }

    /// A timer slot for flow `key`, for the caller's batched write: the next sweep takes the
    /// flow's next step (releasing what may go now).
    pub(crate) fn flow_wakeup(&self, key: &str) -> Result<Vec<Entry>, KvError> {
        self.flow_wakeup_at(key, self.clock.now_ms())
    }

    /// [`Self::flow_wakeup`] for a writer that read `flow` (new work for it): none while the
    /// flow is paused or a step it scheduled is still to come.
    pub(crate) fn flow_wakeup_for(&self, flow: &FlowRecord) -> Result<Vec<Entry>, KvError> {
        if flow.settings.paused || flow.queue.wake_pending(self.clock.now_ms()) {
            return Ok(Vec::new());
        }
        self.flow_wakeup(&flow.key)
    }
}

/// Queue entries an ordered flow's step reads at most, looking for its next head past entries
/// whose jobs are finished or gone.
const ORDERED_SCAN: u64 = 16;

/// What one step of a flow releases.
#[derive(Debug, Default)]
struct Release {
    /// Queue entries handed on, from the first waiting one.
    consumed: u64,
    /// Waiting jobs to claim, in queue order.
    claimable: Vec<JobRecord>,
    /// An ordered flow's head afterwards.
    head: Option<JobId>,
    /// When the flow's next step should run, if it has work left.
    wake_at: Option<u64>,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Entries putting `ids` at the end of flow `key`'s queue, in order, for the caller's batched
    /// write: one `increment` hands out their numbers.
    pub(crate) fn enqueue(&self, key: &str, ids: &[&JobId]) -> Result<Vec<Entry>, KvError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let numbers = super::slot_log::reserve(self.kv, &keys::flow_wait_count(key), ids.len())?;
        Ok(numbers.zip(ids).map(|(n, id)| keys::flow_wait(key, n).entry(id.as_str().as_bytes())).collect())
    }

    /// A timer slot that runs flow `key`'s next step at `at`, or as soon after as the sweeps
    /// get to it. The slot goes in the bucket that ends at `at`, or in the current one: sweeps
    /// take a bucket once it has ended, so a flow steps every second while it has work, not
    /// every other. A bucket settles (and is deleted) only long after it ends, so a slot
    /// added to the current one is never lost; a sweep that read it before is `timers`' slow
    /// writer case.
    pub(crate) fn flow_wakeup_at(&self, key: &str, at: u64) -> Result<Vec<Entry>, KvError> {
        let bucket = wake_bucket(at, self.clock.now_ms());
        timers::allocate(self.kv, &self.config.region, &[(bucket, &keys::flow_timer_id(key))])
    }

    /// New jobs, not yet stored, of flows with settings wait in their flows' queues instead of
    /// being claimed or timed (`accept::waits_for_flow`): marks them, and answers their queue
    /// entries (one `increment` a flow) and their flows' wake-ups, for the caller's batched
    /// write, which stores no timer slot for a waiting job.
    pub(crate) fn queue_new_jobs(&self, jobs: &mut [&mut JobRecord], now: u64) -> Result<Vec<Entry>, KvError> {
        let flows = self.flow_records_of(jobs.iter().map(|job| &**job))?;
        let mut queued: BTreeMap<&str, Vec<JobId>> = BTreeMap::new();
        for job in jobs.iter_mut() {
            let Some(flow) = flows.get(job.flow_key().as_ref()) else { continue };
            super::accept::waits_for_flow(job, flow, now);
            if job.waiting {
                queued.entry(&flow.key).or_default().push(job.id.clone());
            }
        }
        let mut entries = Vec::new();
        for (key, ids) in queued {
            entries.extend(self.enqueue(key, &ids.iter().collect::<Vec<_>>())?);
            entries.extend(self.flow_wakeup_for(&flows[key])?);
        }
        Ok(entries)
    }

    /// The stored settings of each flow key of `jobs` that has them.
    pub(crate) fn flow_records_of<'j>(
        &self,
        jobs: impl IntoIterator<Item = &'j JobRecord>,
    ) -> Result<HashMap<String, FlowRecord>, KvError> {
        let wanted: BTreeSet<String> = jobs.into_iter().map(|job| job.flow_key().into_owned()).collect();
        let wanted: Vec<String> = wanted.into_iter().collect();
        let records = self.kv.load_many(&wanted.iter().map(|key| keys::flow(key)).collect::<Vec<_>>())?;
        Ok(wanted
            .into_iter()
            .zip(records)
            .filter_map(|(key, record)| record.filter(|r| r.key == key && !r.deleted).map(|record| (key, record)))
            .collect())
    }

    /// A flow's timer slot came due: releases what its settings let go now. Answers the claims
    /// made, each with the number of its timer slot, for the sweep to attempt.
    pub(crate) fn flow_step(&self, timer_id: &str, now: u64) -> Result<Vec<(JobRecord, u64)>, KvError> {
        match keys::flow_by_timer_id(timer_id) {
            Some(key) => self.step_flow(&key, now),
            None => Ok(Vec::new()),
        }
    }

    /// After `job`'s outcome: if it was an ordered flow's head and has ended, the flow's next
    /// step at once (its claims for the caller to attempt), rather than a second later.
    /// `known`: the flows' settings as the caller read them.
    pub(crate) fn next_in_order(
        &self,
        job: &JobRecord,
        known: &HashMap<String, Option<FlowRecord>>,
    ) -> Result<Vec<(JobRecord, u64)>, KvError> {
        let ordered = known.get(job.flow_key().as_ref()).and_then(Option::as_ref).filter(|flow| flow.settings.ordered);
        match ordered {
            Some(flow) if job.state.finished_at().is_some() => {
                self.step_flow(&keys::flow(&flow.key), self.clock.now_ms())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// A job that ended outside an attempt (a cancel): if it was its ordered flow's head, the
    /// flow's next step runs soon.
    pub(crate) fn after_head_ended(&self, job: &JobRecord) -> Result<(), KvError> {
        let Some(flow) = self.flow_settings(&job.flow_key())? else { return Ok(()) };
        if flow.settings.ordered && flow.queue.head.as_ref() == Some(&job.id) {
            self.kv.set_many(self.flow_wakeup(&flow.key)?)?;
        }
        Ok(())
    }

    /// [`Self::flow_step`] for the flow stored at `key`.
    pub(crate) fn step_flow(&self, key: &Key<FlowRecord>, now: u64) -> Result<Vec<(JobRecord, u64)>, KvError> {
        // A paused flow sleeps until resumed: its resume wakes it.
        let Some(flow) = self.kv.load(key)?.filter(|flow| !flow.settings.paused) else { return Ok(Vec::new()) };
        if flow.deleted && self.flow_counts(&flow)?.waiting == 0 {
            // Drained: once every writer that read it before the deletion has written, it goes.
            let grace_end = flow.updated_at + DELETION_GRACE_MS;
            if now < grace_end {
                self.kv.set_many(self.flow_wakeup_at(&flow.key, grace_end)?)?;
            } else {
                self.forget_deleted_flow(&flow.key)?;
            }
            return Ok(Vec::new());
        }
        let mut release =
            if flow.settings.ordered { self.next_head(&flow, now)? } else { self.next_batch(&flow, now)? };
        if release.wake_at.is_some_and(|at| flow.queue.wake_pending(now) && flow.queue.wake <= wake_bucket(at, now)) {
            // The step it scheduled looks again by then: one chain of steps a flow.
            release.wake_at = None;
        }
        let unchanged = release.consumed == 0 && release.claimable.is_empty() && release.head == flow.queue.head;
        if unchanged && release.wake_at.is_none() {
            return Ok(Vec::new());
        }
        // Its key outlives it (deleted, stored again): the turn is of the very version read.
        let turn = match fence::take_turn_of_version(self.kv, key, &flow, now)? {
            Turn::Won(turn) => turn,
            // Another step or a settings change holds the flow: look again in a second.
            Turn::Busy => {
                self.kv.set_many(self.flow_wakeup_at(&flow.key, now + 1_000)?)?;
                return Ok(Vec::new());
            }
            Turn::Gone => return Ok(Vec::new()),
        };
        self.write_release(key, flow, release, turn, now)
    }

    /// The next waiting jobs of a flow that is not ordered, as many as its limits let start.
    fn next_batch(&self, flow: &FlowRecord, now: u64) -> Result<Release, KvError> {
        let waiting = self.flow_counts(flow)?;
        let settings = &flow.settings;
        let mut budget = waiting.waiting.min(self.config.sweep_batch as u64);
        if let Some(parallelism) = settings.parallelism {
            budget = budget.min(u64::from(parallelism).saturating_sub(waiting.in_flight));
        }
        let rate_left = self.rate_left(flow, now);
        budget = budget.min(rate_left);
        if budget == 0 {
            let wake_at = (waiting.waiting > 0).then(|| self.when_rate_allows(flow, now, rate_left));
            return Ok(Release { head: flow.queue.head.clone(), wake_at, ..Release::default() });
        }
        let jobs = self.queued_jobs(flow, budget)?;
        let claimable: Vec<JobRecord> = jobs.into_iter().flatten().filter(is_waiting).collect();
        let left = waiting.waiting - budget;
        // More wait behind them: the next step a second on (or when the rate allows).
        let wake_at = (left > 0).then(|| self.when_rate_allows(flow, now, rate_left - claimable.len() as u64));
        Ok(Release { consumed: budget, claimable, head: None, wake_at })
    }

    /// An ordered flow's next step: its head goes when it is due and every earlier job of the
    /// flow is finished; a finished head hands the turn to the next waiting job.
    fn next_head(&self, flow: &FlowRecord, now: u64) -> Result<Release, KvError> {
        if let Some(head) = &flow.queue.head {
            if let Some(job) = self.kv.load(&keys::job(head))?.filter(|job| job.state.finished_at().is_none()) {
                return Ok(self.head_release(flow, job, 0, now));
            }
        }
        let waiting = self.flow_counts(flow)?.waiting;
        let jobs = self.queued_jobs(flow, waiting.min(ORDERED_SCAN))?;
        for (i, job) in jobs.into_iter().enumerate() {
            if let Some(job) = job.filter(is_waiting) {
                return Ok(self.head_release(flow, job, i as u64 + 1, now));
            }
        }
        let scanned = waiting.min(ORDERED_SCAN);
        // Only finished or gone jobs so far: on to the next entries a second from now.
        let wake_at = (waiting > scanned).then_some(now + 1_000);
        Ok(Release { consumed: scanned, claimable: Vec::new(), head: None, wake_at })
    }

    /// `job`, an ordered flow's head (after `consumed` more queue entries): claimed if it waits
    /// and is due and the rate allows; otherwise the flow looks again when it may go.
    fn head_release(&self, flow: &FlowRecord, job: JobRecord, consumed: u64, now: u64) -> Release {
        let head = Some(job.id.clone());
        let next_at = match job.state {
            State::Pending { next_at } if job.waiting => next_at,
            // Out on its own (in flight, or pending its own retry): its end (its outcome, or a
            // cancel) wakes the flow.
            _ => return Release { consumed, claimable: Vec::new(), head, wake_at: None },
        };
        let rate_left = self.rate_left(flow, now);
        if next_at > now || rate_left == 0 {
            let wake_at = next_at.max(self.when_rate_allows(flow, now, rate_left));
            return Release { consumed, claimable: Vec::new(), head, wake_at: Some(wake_at) };
        }
        // A look at the flow when the claim's lease ends, in the bucket of the claim's own timer
        // slot (one `increment` for both): while it is to come, accepts write no wake-up, since
        // the head's end wakes the flow.
        let lease_end = now + lease_ms(job.timeout_ms);
        Release { consumed, claimable: vec![job], head, wake_at: Some(lease_end + keys::BUCKET_MS) }
    }

    /// How many more attempts the flow's `rate` lets start in the current period.
    fn rate_left(&self, flow: &FlowRecord, now: u64) -> u64 {
        let Some(rate) = flow.settings.rate else { return u64::MAX };
        let window = now / flow.settings.period_ms;
        let started = if flow.queue.window == window { flow.queue.started } else { 0 };
        u64::from(rate).saturating_sub(started)
    }

    /// A second from now, or the next period's start when the rate has nothing left.
    fn when_rate_allows(&self, flow: &FlowRecord, now: u64, rate_left: u64) -> u64 {
        if rate_left > 0 {
            return now + 1_000;
        }
        let period = flow.settings.period_ms;
        ((now / period + 1) * period).max(now + 1_000)
    }

    /// The jobs of the next `count` queue entries (`None` for an entry whose job is gone).
    fn queued_jobs(&self, flow: &FlowRecord, count: u64) -> Result<Vec<Option<JobRecord>>, KvError> {
        let first = flow.queue.released + 1;
        let entries: Vec<_> = (first..first + count).map(|n| keys::flow_wait(&flow.key, n)).collect();
        let ids: Vec<Option<JobId>> = self
            .kv
            .load_many(&entries)?
            .into_iter()
            .map(|id| id.and_then(|id| JobId::parse(std::str::from_utf8(&id).ok()?)))
            .collect();
        let named: Vec<_> = ids.iter().flatten().map(keys::job).collect();
        let mut records = self.kv.load_many(&named)?.into_iter();
        Ok(ids.into_iter().map(|id| id.and_then(|_| records.next().flatten())).collect())
    }

    /// Writes a step that won the flow's turn: the claims it can take a turn on, the flow's new
    /// queue position (past the claims taken and the entries of jobs no longer waiting) and its
    /// next wake-up, in one `set_many`; then drops the queue entries handed on.
    fn write_release(
        &self,
        key: &Key<FlowRecord>,
        mut flow: FlowRecord,
        release: Release,
        turn: u64,
        now: u64,
    ) -> Result<Vec<(JobRecord, u64)>, KvError> {
        let mut claims = Vec::new();
        let mut consumed = release.consumed;
        for job in release.claimable {
            let late = self.clock.now_ms() > now + fence::TURN_DEADLINE_MS / 2;
            let won = if late {
                Turn::Busy
            } else {
                fence::take_turn_of_existing(self.kv, &keys::job(&job.id), job.turn, now)?
            };
            let Turn::Won(job_turn) = won else {
                // Changed meanwhile: the queue stops before it, and the next step looks again.
                if !flow.settings.ordered {
                    consumed = self.entries_before(&flow, &job, consumed)?;
                }
                break;
            };
            let mut claimed = transition::claim(JobRecord { waiting: false, ..job }, now);
            claimed.turn = job_turn;
            claims.push(claimed);
        }
        let window = flow.settings.rate.map(|_| now / flow.settings.period_ms);
        if let Some(window) = window {
            let started = if flow.queue.window == window { flow.queue.started } else { 0 };
            flow.queue.window = window;
            flow.queue.started = started + claims.len() as u64;
        }
        let handed: Vec<String> = (flow.queue.released + 1..=flow.queue.released + consumed)
            .map(|n| keys::flow_wait(&flow.key, n).into())
            .collect();
        flow.queue.released += consumed;
        flow.queue.head = release.head;
        flow.turn = turn;
        let retired = fence::retire_turn_keys(key, &mut flow, now);
        let stalled = claims.is_empty() && consumed > 0 && !flow.queue.wake_pending(now);
        let wake = release.wake_at.or_else(|| stalled.then_some(now + 1_000)).map(|at| wake_bucket(at, now));
        let timer_id = keys::flow_timer_id(&flow.key);
        // The claims' timer slots and the flow's next step, one `increment` a bucket.
        let mut wanted: Vec<(u64, &str)> = claims.iter().map(|claim| (claim.timer, claim.id.as_str())).collect();
        wanted.extend(wake.map(|bucket| (bucket, timer_id.as_str())));
        let (mut entries, numbers) = timers::allocate_numbered(self.kv, &self.config.region, &wanted)?;
        if let Some(bucket) = wake {
            flow.queue.wake = bucket;
        }
        entries.extend(claims.iter().map(|claim| keys::job(&claim.id).entry(claim)));
        entries.push(key.entry(&flow));
        if !retired.is_empty() {
            self.kv.delete_many(&retired)?;
        }
        self.kv.set_many(entries)?;
        if !handed.is_empty() {
            self.kv.delete_many(&handed)?;
        }
        Ok(claims.into_iter().zip(numbers).collect())
    }

    /// How many of the first `consumed` entries come before `job`'s (the claims before it were
    /// taken; it and those after stay queued).
    fn entries_before(&self, flow: &FlowRecord, job: &JobRecord, consumed: u64) -> Result<u64, KvError> {
        let first = flow.queue.released + 1;
        let entries: Vec<_> = (first..first + consumed).map(|n| keys::flow_wait(&flow.key, n)).collect();
        let ids = self.kv.load_many(&entries)?;
        Ok(ids.iter().position(|id| id.as_deref() == Some(job.id.as_str().as_bytes())).map_or(consumed, |i| i as u64))
    }
}

/// The bucket whose end is `at`, or the current one: sweeps take a bucket once it has ended.
fn wake_bucket(at: u64, now: u64) -> u64 {
    keys::bucket_of(at).saturating_sub(1).max(keys::bucket_of(now))
}

/// A job its flow may release: waiting, and not finished.
fn is_waiting(job: &JobRecord) -> bool {
    job.waiting && matches!(job.state, State::Pending { .. })
}
