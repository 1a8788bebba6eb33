//! A flow's step (see the module doc of `engine/flows`): what it may release, and writing it.

use super::wake_bucket;
use crate::engine::fence::{self, Turn};
use crate::engine::timers;
use crate::engine::Hookah;
use crate::flows::FlowRecord;
use crate::ids::JobId;
use crate::job::{lease_ms, transition, JobRecord, State, DELETION_GRACE_MS};
use crate::keys::{self, Key, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use std::collections::HashMap;

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

/// A job its flow may release: waiting, and not finished.
fn is_waiting(job: &JobRecord) -> bool {
    job.waiting && matches!(job.state, State::Pending { .. })
}
