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

mod step;

use super::slot_log::Item;
use super::targets::FLIGHT_EPOCH_MS;
use super::{timers, Hookah};
use crate::flows::{check_flow_key, FlowRecord};
use crate::ids::JobId;
use crate::job::JobRecord;
use crate::keys::{self, Entry, TypedKv};
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
        self.flow_records_noting(jobs, &mut HashMap::new())
    }

    /// [`Self::flow_records_of`], also noting in `known` what it read of each key (settings or
    /// none), fresher than what `known` held: a sweep's attempts then need not read them again
    /// (`flow_known`).
    pub(crate) fn flow_records_noting<'j>(
        &self,
        jobs: impl IntoIterator<Item = &'j JobRecord>,
        known: &mut HashMap<String, Option<FlowRecord>>,
    ) -> Result<HashMap<String, FlowRecord>, KvError> {
        let wanted: BTreeSet<String> = jobs.into_iter().map(|job| job.flow_key().into_owned()).collect();
        let wanted: Vec<String> = wanted.into_iter().collect();
        let records = self.kv.load_many(&wanted.iter().map(|key| keys::flow(key)).collect::<Vec<_>>())?;
        let mut found = HashMap::new();
        for (key, record) in wanted.into_iter().zip(records) {
            let record = record.filter(|r| r.key == key && !r.deleted);
            known.insert(key.clone(), record.clone());
            found.extend(record.map(|record| (key, record)));
        }
        Ok(found)
    }
}

/// The bucket whose end is `at`, or the current one: sweeps take a bucket once it has ended.
pub(super) fn wake_bucket(at: u64, now: u64) -> u64 {
    keys::bucket_of(at).saturating_sub(1).max(keys::bucket_of(now))
}
