//! A sweep: walk the timer buckets that have passed, act on each slot, deliver what is due, batch
//! after batch until the due work is drained or the time budget is spent. Its cost follows the
//! slots it reads and the buckets it walks, never the number of jobs stored. Sweeps run in
//! parallel (cron on every instance, HTTP sweeps): each claims the buckets it works for a window.
//! What a slot means is in `engine/timers.rs`.
//!
//! # The walk
//!
//! - A batch walks the buckets that have ended, from `sweep:cursor`, and reads at most
//!   `sweep_batch` new slots; `due:{bucket}:done` remembers each bucket's progress. It acts on
//!   each slot: claim and deliver, reschedule, keep until retention ends, or delete.
//! - A bucket that is fully handled and `SETTLE_MS` (30 s) past is deleted, and the cursor moves
//!   past it. Writers only ever write buckets in the future, so a settled bucket gets no new
//!   slots. Buckets are finished, and the cursor moved, only by a batch that walked from the
//!   cursor.
//! - A batch walks at most `MAX_BUCKETS_PER_BATCH` (256) buckets. When it looked at all of them
//!   with room left, the sweep's next batch walks on from there. So the cursor moves in steps
//!   that sweeps starting meanwhile begin from (a fresh store's first sweeps walk an hour of
//!   empty buckets, `LOOKBACK_BUCKETS`), and a bucket that cannot be finished yet (another sweep
//!   holds it) keeps no sweep from the buckets after it.
//! - Progress is read in windows of 8 buckets growing to 64 (`FIRST_PROGRESS_WINDOW`,
//!   `PROGRESS_WINDOW`), and only for buckets that have slots (the count first). So a batch whose
//!   first buckets fill it reads little past them.
//! - A sweep remembers the progress of the buckets it holds and of those it drained before they
//!   settled, and which buckets another sweep held when it asked. Its later batches neither read
//!   those again nor ask for them. A slot a slow writer adds meanwhile is the next sweep's: only
//!   settled buckets, read afresh, are ever finished.
//!
//! # Batches
//!
//! - A sweep takes batch after batch until nothing is due or `sweep_budget` has passed. It
//!   delivers each batch's claims (up to `sweep_concurrency` at once) while it decides the next.
//! - A batch that runs late (a busy disk) stops taking turns halfway to their deadline
//!   (`TURN_DEADLINE_MS / 2`) and leaves the rest a slot a second later.
//! - A target found full is not asked again within the batch (`engine/targets.rs`).
//! - A failure ends the deciding, but lets the attempts under way finish and record.
//! - After a batch that held jobs back, the next reads no more slots than that one could claim
//!   (at least `MIN_BATCH`); then a quarter more a batch, back up to `sweep_batch`. So a backlog
//!   to one full target does not read slots only to put them back.
//! - A batch that put back everything it read, for targets whose claims wait in the sweep, stops
//!   the deciding until those claims have started. If none of the sweep's attempts is left to
//!   free a place, the deciding ends.
//!
//! # Parallel sweeps
//!
//! Cron fires every second on every instance without waiting for the last firing (Spin's cron
//! trigger spawns each firing). So while due work lasts, about `sweep_budget` ÷ 1 s sweeps work at
//! once on each instance; HTTP sweeps come from anywhere too.
//!
//! - A sweep works a bucket only after winning it for a 15 s window (`BUCKET_CLAIM_WINDOW_MS`):
//!   its `increment due:{bucket}:claim:{window}` reads 1. The others move on to later buckets, so
//!   parallel sweeps split the due work instead of queuing.
//! - A sweep frees the buckets it held when it ends (a bucket it left half done is the next
//!   sweep's). One that dies frees them when the window ends.
//! - Overlap (a slow sweep past its window) costs reads, never an attempt: every claim is a job
//!   turn (`engine/fence.rs`).
//!
//! What each slot's job needs, and deleting a finished job: `slots.rs`.

mod passing;
mod slots;

use self::slots::SlotsRead;
use super::fence;
use super::outcome::ready;
use super::Hookah;
use crate::flows::FlowRecord;
use crate::job::{JobRecord, State, DELETION_GRACE_MS, LEASE_SAFETY_MS};
use crate::keys::{self, bucket_of, TypedKv, BUCKET_CLAIM_WINDOW_MS, BUCKET_MS, SETTLE_MS};
use crate::ports::{Kv, KvError, Transport};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Due work was left to another sweep that held its bucket.
    pub busy: bool,
    /// Batches decided (each at most `sweep_batch` slots).
    pub batches: u64,
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
    /// Flow steps taken (`engine/flows/`), each releasing what its flow lets go.
    pub flow_steps: u64,
    pub finished_buckets: u64,
    /// Due jobs left for a second because their target had all the attempts it may have.
    pub held_back: u64,
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

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Works batches of due slots until none is left or `sweep_budget` has passed, delivering
    /// the claims of each batch concurrently (up to `sweep_concurrency`) while it decides the
    /// next. Parallel sweeps take different buckets; each attempt is still decided by a turn.
    pub async fn sweep(&self) -> Result<SweepReport, KvError> {
        self.sweep_for(self.config.sweep_budget_ms).await
    }

    /// A sweep that takes new batches for `budget_ms` at most.
    pub(crate) async fn sweep_for(&self, budget_ms: u64) -> Result<SweepReport, KvError> {
        let started = self.clock.now_ms();
        let mut report = SweepReport::default();
        // This region's timer index first, then the others' (`engine/regions.rs`).
        let mut walks = self.walks();
        // Claims to attempt, each with the number of its timer slot.
        let mut queue: VecDeque<(JobRecord, u64)> = VecDeque::new();
        let mut pool = FuturesUnordered::new();
        let mut deciding = true;
        // The last batch put back everything it read, for targets whose claims wait in this
        // sweep: no new batch until those claims have started, since it would read slots only
        // to put them back again.
        let mut stalled = false;
        let mut failure = None;
        // Slots the next batch reads: after a batch that held jobs back (a full target, a slow
        // store), no more than it could claim, so the next does not read what it must put back;
        // after one that held none, a quarter more, up to `sweep_batch`.
        let mut limit = self.config.sweep_batch;
        // Claims whose target had no place in flight when their turn to start came, by host.
        let mut waiting: HashMap<String, Vec<(JobRecord, u64)>> = HashMap::new();
        let mut earlier_flights = HashMap::new();
        // The settings of each flow key this sweep started attempts for.
        let mut flows = HashMap::new();
        // Attempts that have ended, recorded together at the top of the loop.
        let mut ended = Vec::new();
        loop {
            while pool.len() < self.config.sweep_concurrency {
                let Some((mut claim, slot)) = queue.pop_front() else { break };
                if !claim.lease_fits_attempt(self.clock.now_ms()) {
                    // It waited in this sweep too long for an attempt to end inside its lease:
                    // pending again at once, unattempted.
                    if let Err(error) = self.give_back(&claim, &mut report) {
                        deciding = false;
                        failure.get_or_insert(error);
                    }
                    continue;
                }
                let host = claim.flow_key().into_owned();
                // Behind claims already waiting for this target, without asking again.
                let flow = match self.flow_known(&host, &mut flows) {
                    Ok(flow) => flow,
                    Err(error) => {
                        // Given back below with the rest; no new batch starts.
                        deciding = false;
                        failure.get_or_insert(error);
                        waiting.entry(host).or_default().push((claim, slot));
                        continue;
                    }
                };
                let place = if waiting.contains_key(&host) {
                    Ok(None)
                } else {
                    let limit = self.flow_parallelism(flow.as_ref());
                    self.take_target_place(&host, limit, self.clock.now_ms(), &mut earlier_flights)
                };
                match place {
                    Ok(Some(place)) => {
                        claim.target_place = place;
                        let attempt = self.make_attempt_in_slot(claim, slot, flow);
                        pool.push(async move { (host, attempt.await) });
                    }
                    Ok(None) => waiting.entry(host).or_default().push((claim, slot)),
                    Err(error) => {
                        // Given back below with the rest; no new batch starts.
                        deciding = false;
                        failure.get_or_insert(error);
                        waiting.entry(host).or_default().push((claim, slot));
                    }
                }
            }
            // What has ended is recorded now, in one write, while the attempts just started
            // go out.
            for (host, attempt) in ready(&mut pool) {
                // Its place is free: the claims waiting for its target may start.
                queue.extend(waiting.remove(&host).unwrap_or_default());
                ended.push(attempt);
            }
            for outcome in self.record_ended(std::mem::take(&mut ended)) {
                // An ordered flow's head that ended hands its turn on at once.
                if let Ok(Some(job)) = &outcome {
                    match self.next_in_order(job, &flows) {
                        Ok(claims) => {
                            report.claimed += claims.len() as u64;
                            queue.extend(claims);
                        }
                        Err(error) => {
                            deciding = false;
                            failure.get_or_insert(error);
                        }
                    }
                }
                if let Err(error) = tally(outcome, &mut report) {
                    // Attempts already under way still finish and record what they can; no
                    // new batch starts.
                    deciding = false;
                    failure.get_or_insert(error);
                }
            }
            if deciding && queue.is_empty() && (!stalled || waiting.is_empty()) {
                let held_before = report.held_back;
                let batch = if self.clock.now_ms() < started + budget_ms {
                    // A failed batch ends the deciding, never the attempts under way: dropping
                    // them mid-request would leave their outcomes unrecorded.
                    let blocked = waiting.keys().cloned().collect();
                    self.decide_next(&mut walks, &mut report, limit, (blocked, &mut flows)).unwrap_or_else(|error| {
                        failure.get_or_insert(error);
                        None
                    })
                } else {
                    None
                };
                match batch {
                    Some(claims) => {
                        report.batches += 1;
                        stalled = claims.is_empty() && report.held_back > held_before;
                        limit = if report.held_back > held_before {
                            claims.len().clamp(MIN_BATCH.min(self.config.sweep_batch), self.config.sweep_batch)
                        } else {
                            (limit + (limit / 4).max(MIN_BATCH)).min(self.config.sweep_batch)
                        };
                        queue.extend(claims);
                        continue;
                    }
                    None => deciding = false,
                }
            }
            let Some((host, attempt)) = pool.next().await else {
                if stalled && !waiting.is_empty() {
                    // None of this sweep's attempts is left to free a place for its waiting
                    // claims: they go back, and the next sweep decides afresh.
                    deciding = false;
                }
                if deciding || !queue.is_empty() {
                    continue;
                }
                break;
            };
            queue.extend(waiting.remove(&host).unwrap_or_default());
            ended.push(attempt);
        }
        // Claims that never got a place (other sweeps hold the target's): pending again in a
        // second, their attempt count unchanged.
        for (claim, _) in waiting.into_values().flatten() {
            if let Err(error) = self.give_back(&claim, &mut report) {
                failure.get_or_insert(error);
            }
        }
        // The buckets this sweep held are free for the next one now, not at the window's end.
        let held: Vec<String> = walks
            .iter()
            .flat_map(|walk| walk.owned.iter().map(|(&bucket, &at)| keys::bucket_claim(&walk.index, bucket, at).into()))
            .collect();
        self.kv.delete_many(&held)?;
        match failure {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// Gives back a claim this sweep will not attempt, counting it held back (or lost, if its
    /// lease no longer lets it).
    fn give_back(&self, claim: &JobRecord, report: &mut SweepReport) -> Result<(), KvError> {
        if self.give_back_claim(claim)? {
            report.held_back += 1;
        } else {
            report.lost_claims += 1;
        }
        Ok(())
    }

    /// The next batch, from the first timer index that has one left.
    fn decide_next(
        &self,
        walks: &mut [Walk],
        report: &mut SweepReport,
        limit: usize,
        (blocked, known): Aside<'_>,
    ) -> Result<Option<Vec<(JobRecord, u64)>>, KvError> {
        for walk in walks.iter_mut().filter(|walk| !walk.exhausted) {
            match self.decide_batch(walk, report, limit, (blocked.clone(), &mut *known))? {
                Some(claims) => return Ok(Some(claims)),
                None => walk.exhausted = true,
            }
        }
        Ok(None)
    }

    /// One batch: reads up to `limit` (at most `sweep_batch`) due slots, oldest buckets first,
    /// from buckets this sweep holds (claiming buckets as it goes), acts on them and finishes
    /// settled buckets.
    /// Returns the claims to deliver; `None` when nothing is left that no other sweep holds.
    fn decide_batch(
        &self,
        walk: &mut Walk,
        report: &mut SweepReport,
        limit: usize,
        aside: Aside<'_>,
    ) -> Result<Option<Vec<(JobRecord, u64)>>, KvError> {
        // Taken before any record is read: turns are judged as of then.
        let now = self.clock.now_ms();
        // Where this index's buckets count as ended and settled: now for this region's own,
        // `region_takeover` ago for another region's.
        let horizon = now.saturating_sub(walk.delay_ms);
        let index = walk.index.as_str();
        // Only whole buckets that have ended are swept: every slot in them is due.
        let current = bucket_of(horizon);
        let cursor =
            self.kv.load(&keys::sweep_cursor(index))?.unwrap_or_else(|| current.saturating_sub(keys::LOOKBACK_BUCKETS));
        let end = current.min(cursor + keys::MAX_BUCKETS_PER_SWEEP);
        let mut budget = limit as u64;
        let mut walked = Vec::new();
        let mut slot_keys = Vec::new();
        let mut slot_buckets = Vec::new();
        let mut done_updates = Vec::new();
        // A batch walks a bounded stretch, so the cursor moves on in steps that sweeps starting
        // meanwhile begin from (a fresh store's first sweeps walk an hour of buckets), and a
        // bucket that cannot be finished yet does not keep a sweep from the buckets after it.
        let start = walk.next_from.map_or(cursor, |from| from.max(cursor));
        let walk_end = end.min(start + MAX_BUCKETS_PER_BATCH);
        let mut window = start;
        // Small at first, so a batch whose first buckets fill it reads little past them.
        let mut window_size = FIRST_PROGRESS_WINDOW;
        while window < walk_end && budget > 0 {
            let buckets: Vec<u64> = (window..walk_end.min(window + window_size)).collect();
            window += window_size;
            window_size = (window_size * 2).min(PROGRESS_WINDOW);
            let unsettled = |bucket: u64| (bucket + 1) * BUCKET_MS + SETTLE_MS > horizon;
            let remembered = |bucket: &u64| walk.known.get(bucket).copied().filter(|_| unsettled(*bucket));
            let elsewhere = |bucket: &u64| walk.held_elsewhere.contains(bucket);
            let progress = self.bucket_progress(index, &buckets, remembered, elsewhere)?;
            for (&bucket, progress) in buckets.iter().zip(progress) {
                let Some((count, done)) = progress else {
                    // Another sweep holds it (found so in an earlier batch): neither read nor
                    // asked for again, and nothing after it is finished here.
                    report.busy = true;
                    walked.push((bucket, 1, 0));
                    continue;
                };
                if count > done && report.lag_ms == 0 {
                    report.lag_ms = now.saturating_sub((bucket + 1) * BUCKET_MS);
                }
                let mut take = (count - done).min(budget);
                if take > 0 && !walk.owned.contains_key(&bucket) {
                    if self.kv.add_to(&keys::bucket_claim(index, bucket, now), 1)? == 1 {
                        walk.owned.insert(bucket, now);
                    } else {
                        // Another sweep works this bucket now.
                        report.busy = true;
                        walk.held_elsewhere.insert(bucket);
                        take = 0;
                    }
                }
                budget -= take;
                for n in done + 1..=done + take {
                    slot_keys.push(keys::slot(index, bucket, n));
                    slot_buckets.push(bucket);
                }
                if take > 0 {
                    done_updates.push(keys::slot_done(index, bucket).entry(&(done + take)));
                }
                if unsettled(bucket) && (done + take == count || walk.owned.contains_key(&bucket)) {
                    walk.known.insert(bucket, (count, done + take));
                }
                walked.push((bucket, count, done + take));
            }
        }
        report.buckets += walked.len() as u64;
        report.slots += slot_keys.len() as u64;

        let SlotsRead { found, events, flows, orphaned_entries } = self.read_slots(&slot_keys, &slot_buckets, now)?;
        report.skipped += (slot_keys.len() - found.len() - events.len() - flows.len()) as u64;
        let mut claims = self.act_on_slots(found, orphaned_entries, now, report, aside)?;
        // Each flow's step once a batch, however many of its slots came due.
        let flows: BTreeSet<String> = flows.into_iter().collect();
        for flow in flows {
            report.flow_steps += 1;
            let released = self.flow_step(&flow, now)?;
            report.claimed += released.len() as u64;
            claims.extend(released);
        }
        for (bucket, id) in events {
            report.events += 1;
            self.event_timer(&id, bucket)?;
        }
        if !done_updates.is_empty() {
            self.kv.set_many(done_updates)?;
        }
        // Buckets are finished, and the cursor moved, only from the cursor on.
        if start == cursor {
            report.finished_buckets += self.finish_buckets(index, &walked, horizon, now)?;
        }
        // The whole stretch was looked at with room left in the batch: walk on after it.
        let stretch_ended = budget > 0 && window >= walk_end && walk_end < end;
        if stretch_ended {
            walk.next_from = Some(walk_end);
        }
        Ok((!slot_keys.is_empty() || stretch_ended).then_some(claims))
    }

    /// How many slots each bucket has and how many of them sweeps have taken, as `(count,
    /// done)`; `None` for a bucket `elsewhere` says another sweep holds, which is not read.
    /// `remembered`: the progress of a bucket this sweep holds or drained. Progress is read only
    /// for buckets that have slots: most buckets a sweep walks are empty, and on a store without
    /// batch reads every key is a round trip of its own.
    fn bucket_progress(
        &self,
        index: &str,
        buckets: &[u64],
        remembered: impl Fn(&u64) -> Option<(u64, u64)>,
        elsewhere: impl Fn(&u64) -> bool,
    ) -> Result<Vec<Option<(u64, u64)>>, KvError> {
        let unknown: Vec<u64> = buckets.iter().copied().filter(|b| remembered(b).is_none() && !elsewhere(b)).collect();
        let counts = self.kv.load_many(&unknown.iter().map(|&b| keys::slot_count(index, b)).collect::<Vec<_>>())?;
        let with_slots: Vec<_> = unknown
            .iter()
            .zip(&counts)
            .filter(|(_, &count)| count > 0)
            .map(|(&b, _)| keys::slot_done(index, b))
            .collect();
        let mut done = self.kv.load_many(&with_slots)?.into_iter();
        let mut read = counts
            .into_iter()
            .map(|count| (count, if count > 0 { done.next().flatten().unwrap_or(0).min(count) } else { 0 }));
        Ok(buckets
            .iter()
            .map(|b| match remembered(b) {
                _ if elsewhere(b) => None,
                Some(progress) => Some(progress),
                None => Some(read.next().unwrap_or((0, 0))),
            })
            .collect())
    }

    /// Deletes the oldest buckets that are fully handled and settled, and moves the cursor past
    /// them. Returns how many went.
    /// Buckets settle by `horizon` (this index's, see `Walk::delay_ms`); claims were taken by the
    /// clock, up to `now`.
    fn finish_buckets(&self, index: &str, walked: &[(u64, u64, u64)], horizon: u64, now: u64) -> Result<u64, KvError> {
        let mut doomed: Vec<String> = Vec::new();
        let mut finished = 0;
        for &(bucket, count, done) in walked {
            let settled = (bucket + 1) * BUCKET_MS + SETTLE_MS <= horizon;
            if !settled || done < count {
                break;
            }
            doomed.extend((1..=count).map(|n| keys::slot(index, bucket, n).into()));
            // Only a sweep in its second counts a gate, and a bucket settles long after.
            doomed.push(keys::sweep_gate(index, bucket).into());
            if count > 0 {
                doomed.extend([keys::slot_count(index, bucket).into(), keys::slot_done(index, bucket).into()]);
                // The claims of the windows since the bucket ended (a bucket worked for longer
                // than that leaves a few behind).
                let first = ((bucket + 1) * BUCKET_MS)
                    .max(now.saturating_sub(CLAIM_WINDOWS_FORGOTTEN * BUCKET_CLAIM_WINDOW_MS));
                let windows = first / BUCKET_CLAIM_WINDOW_MS..=now / BUCKET_CLAIM_WINDOW_MS;
                doomed.extend(windows.map(|w| keys::bucket_claim(index, bucket, w * BUCKET_CLAIM_WINDOW_MS).into()));
            }
            finished += 1;
        }
        if finished == 0 {
            return Ok(0);
        }
        if !doomed.is_empty() {
            self.kv.delete_many(&doomed)?;
        }
        self.kv.save(&keys::sweep_cursor(index), &(walked[0].0 + finished))?;
        Ok(finished)
    }
}

/// What a batch's deciding keeps aside: the targets whose claims wait in the sweep (not asked
/// again), and the flows' settings the sweep has read (`engine/flows/`).
type Aside<'a> = (HashSet<String>, &'a mut HashMap<String, Option<FlowRecord>>);

/// Counts an outcome in the sweep's report; passes on a failure.
fn tally(outcome: Result<Option<JobRecord>, KvError>, report: &mut SweepReport) -> Result<(), KvError> {
    let outcome = outcome?;
    report.attempts.extend(outcome.as_ref().and_then(crate::stats::log::AttemptLog::of));
    match outcome {
        Some(JobRecord { state: State::Delivered { .. }, .. }) => report.delivered += 1,
        Some(JobRecord { state: State::Pending { .. }, .. }) => report.retrying += 1,
        Some(_) => report.failed += 1,
        None => report.lost_claims += 1,
    }
    Ok(())
}

/// What a sweep carries from one batch to the next, for one timer index.
#[derive(Default)]
pub(super) struct Walk {
    /// The index (a region's name; empty for the one index of an unreplicated store).
    pub(super) index: String,
    /// How far behind now this index is walked: 0 for this region's own, `region_takeover` for
    /// another's.
    pub(super) delay_ms: u64,
    /// No batch is left in it for this sweep.
    exhausted: bool,
    /// Buckets this sweep holds, with the time of its claim on each (freed when it ends).
    owned: HashMap<u64, u64>,
    /// The progress (count, done) of buckets not yet settled that this sweep holds (only it
    /// takes their slots) or has drained, so later batches need not read it again. A slot a slow
    /// writer adds to one meanwhile is the next sweep's: such a bucket is never finished on what
    /// this sweep remembers, since only settled buckets are, and those are read afresh.
    known: HashMap<u64, (u64, u64)>,
    /// Buckets another sweep held when this one asked: not read or asked for again.
    held_elsewhere: HashSet<u64>,
    /// Where the last batch's stretch ended, when buckets were left after it: the next batch
    /// walks on from there (or from the cursor, if that has moved past it).
    next_from: Option<u64>,
}

impl Walk {
    pub(super) fn of(index: &str, delay_ms: u64) -> Self {
        Walk { index: index.to_string(), delay_ms, ..Walk::default() }
    }
}

/// The fewest slots a batch reads after one that held jobs back.
const MIN_BATCH: usize = 16;
/// Buckets whose progress one read fetches, at first and at most.
const FIRST_PROGRESS_WINDOW: u64 = 8;
const PROGRESS_WINDOW: u64 = 64;
/// Buckets one batch walks at most.
const MAX_BUCKETS_PER_BATCH: u64 = 4 * PROGRESS_WINDOW;
// The grace lets every writer that read a job before its retention ended finish writing, by
// clocks that disagree within `LEASE_SAFETY_MS`, before the deleter reads it.
const _: () = assert!(DELETION_GRACE_MS >= fence::TURN_DEADLINE_MS + 2 * LEASE_SAFETY_MS);
/// Claim windows of a finished bucket that are deleted with it, at most.
const CLAIM_WINDOWS_FORGOTTEN: u64 = 256;
