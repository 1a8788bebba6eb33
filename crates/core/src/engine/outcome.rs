//! Recording what came of attempts: the outcomes an invocation has at hand when it records are
//! written together, in one `set_many` (a group commit).
//!
//! # Who may write an outcome
//!
//! Only a claim's holder, and only while its lease has more than `LEASE_SAFETY_MS` left, judged
//! at the moment of the write, not of the attempt's end. Anyone else must win the job's next
//! turn, which a takeover (or a cancel that changes the record) does only once the lease has
//! ended. So while the lease lasts the stored record is still the claim, and the holder writes
//! without reading it. An outcome found too late is not written: the job is taken over at its
//! lease's end, as if the invocation had died.
//!
//! # What a group write merges
//!
//! - **It merges** the outcomes of claims this invocation holds, each checked against its own
//!   lease at the time of the write: each record, the previous attempt's spilled detail, the
//!   copy of a finished record in the claim's own timer slot (or that slot emptied), and, for the
//!   retries, their new timer slots (one `increment` per bucket for the group) and their
//!   `pending` list entries (one `increment` for the group).
//! - **Cancel flags** are read for the group's retries in one batch read just before the write;
//!   a flag set after that read is seen by the job's next claim, exactly as for a single outcome.
//! - **It never merges** a write that needs a turn: a cancel or a retry from the API, a
//!   takeover, a fan-out step or a subscription's health change each win their own turn and
//!   write alone. Claims given back for a full target are written one by one too, since they
//!   read the record to compare turns.
//! - **After the write**, each outcome's follow-ups run one by one as for a single call: the
//!   caller's report job, a subscription's health, the ops event of a dead job.
//!
//! Groups form by themselves: an invocation records whatever attempts have ended by the time it
//! records, then starts more. The slower the store, the more outcomes end meanwhile and the
//! bigger the next group, so no outcome waits on a timer.

use super::{lists, timers, Hookah};
use crate::flows::{self, FlowRecord};
use crate::job::transition::{self, Decision};
use crate::job::{Attempt, AttemptDetail, JobRecord, State, LEASE_SAFETY_MS};
use crate::keys::{self, Entry};
use crate::ports::{Kv, KvError, Sent, Transport};
use futures::{FutureExt, Stream, StreamExt};
use std::collections::BTreeSet;

/// An attempt made and not yet recorded.
#[derive(Debug)]
pub(crate) struct Made {
    /// The job as claimed for the attempt.
    pub(crate) claimed: JobRecord,
    pub(crate) attempt: Attempt,
    pub(crate) detail: AttemptDetail,
    pub(crate) sent: Sent,
    /// The number of the claim's own timer slot, in its lease's bucket, if known.
    pub(crate) slot: Option<u64>,
    /// The settings of the job's flow, as its claimer knew them (`None`: the variables').
    pub(crate) flow: Option<FlowRecord>,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Records the attempts that have ended, together; answers each job afterwards (in no
    /// particular order), and passes on the attempts that failed or were not made.
    pub(crate) fn record_ended(
        &self,
        ended: Vec<Result<Option<Made>, KvError>>,
    ) -> Vec<Result<Option<JobRecord>, KvError>> {
        let mut outcomes = Vec::with_capacity(ended.len());
        let mut made = Vec::with_capacity(ended.len());
        for attempt in ended {
            match attempt {
                Ok(Some(attempt)) => made.push(attempt),
                Ok(None) => outcomes.push(Ok(None)),
                Err(error) => outcomes.push(Err(error)),
            }
        }
        if !made.is_empty() {
            outcomes.extend(self.record_outcomes(&made));
        }
        outcomes
    }

    /// Records the outcomes of `made` in one `set_many`; answers each job afterwards, in order
    /// (`None` where the claim's lease no longer lets its outcome be written).
    pub(crate) fn record_outcomes(&self, made: &[Made]) -> Vec<Result<Option<JobRecord>, KvError>> {
        match self.write_outcomes(made) {
            Ok(written) => made
                .iter()
                .zip(written)
                .map(|(made, next)| match next {
                    Some(next) => self.after_written(&next, &made.sent).map(|()| Some(next)),
                    None => Ok(None),
                })
                .collect(),
            Err(error) => made.iter().map(|_| Err(error.clone())).collect(),
        }
    }

    fn after_written(&self, next: &JobRecord, sent: &Sent) -> Result<(), KvError> {
        self.report_if_asked(next, Some(sent))?;
        self.after_outcome(next)
    }

    fn write_outcomes(&self, made: &[Made]) -> Result<Vec<Option<JobRecord>>, KvError> {
        let now = self.clock.now_ms();
        let decided = self.decide_outcomes(made, now)?;
        let mut next: Vec<Option<JobRecord>> = made
            .iter()
            .zip(&decided)
            .map(|(made, decided)| {
                let (claim, decision) = decided.as_ref()?;
                let retry_timer = retry_at(decision).map(|at| keys::timer_bucket(at, now));
                let detail = Some(made.detail.clone());
                transition::complete(&made.claimed, *claim, made.attempt.clone(), detail, decision, retry_timer)
            })
            .collect();
        let mut entries = self.retry_entries(made, &mut next)?;
        for (made, next) in made.iter().zip(&next) {
            if let Some(next) = next {
                entries.extend(self.outcome_entries(made, next));
            }
        }
        // An ordered flow's head that ended lets the next job go: its flow's step runs next.
        let ended_heads: BTreeSet<&str> = made
            .iter()
            .zip(&next)
            .filter(|(made, next)| {
                let ordered = made.flow.as_ref().is_some_and(|flow| flow.settings.ordered);
                ordered && next.as_ref().is_some_and(|next| next.state.finished_at().is_some())
            })
            .filter_map(|(made, _)| made.flow.as_ref().map(|flow| flow.key.as_str()))
            .collect();
        for key in ended_heads {
            entries.extend(self.flow_wakeup(key)?);
        }
        if !entries.is_empty() {
            self.kv.set_many(entries)?;
        }
        Ok(next)
    }

    /// Each outcome's claim and decision; `None` where the lease is too near its end for the
    /// holder to be sure nobody has taken the job over. A retry of a job whose cancel flag is
    /// set becomes a cancel (one batch read for the group's retries).
    fn decide_outcomes(&self, made: &[Made], now: u64) -> Result<Vec<Option<(u32, Decision)>>, KvError> {
        let mut decided: Vec<Option<(u32, Decision)>> = made
            .iter()
            .map(|made| {
                let claim = holds(&made.claimed, now)?;
                let random = self.entropy.next_u32();
                let settings = made.flow.as_ref().map(|flow| &flow.settings);
                Some((claim, flows::decide(&made.claimed, settings, &made.sent.result, now, self.config, random)))
            })
            .collect();
        let retrying: Vec<usize> =
            (0..made.len()).filter(|&i| matches!(decided[i], Some((_, Decision::Retry { .. })))).collect();
        if retrying.is_empty() {
            return Ok(decided);
        }
        let flags: Vec<String> = retrying.iter().map(|&i| keys::cancel_request(&made[i].claimed.id).into()).collect();
        for (i, flag) in retrying.into_iter().zip(self.kv.get_many(&flags)?) {
            if let (Some(_), Some((_, decision))) = (flag, decided[i].as_mut()) {
                *decision = Decision::Cancelled;
            }
        }
        Ok(decided)
    }

    /// The retries' new timer slots and `pending` list entries (one `increment` per bucket and
    /// one for the list), noting each entry in its record.
    fn retry_entries(&self, made: &[Made], next: &mut [Option<JobRecord>]) -> Result<Vec<Entry>, KvError> {
        let retrying: Vec<&JobRecord> =
            next.iter().flatten().filter(|next| matches!(next.state, State::Pending { .. })).collect();
        let wanted: Vec<(u64, &str)> = retrying.iter().map(|next| (next.timer, next.id.as_str())).collect();
        let mut entries = timers::allocate(self.kv, &self.config.region, &wanted)?;
        // A job already listed as pending in its generation keeps its entry.
        let unlisted: Vec<usize> = (0..made.len())
            .filter(|&i| {
                let claimed = &made[i].claimed;
                next[i].as_ref().is_some_and(|next| matches!(next.state, State::Pending { .. }))
                    && claimed.pending_listed != Some(claimed.generation)
            })
            .collect();
        let listed: Vec<_> = unlisted.iter().map(|&i| (&made[i].claimed.id, made[i].claimed.generation)).collect();
        let (list_entries, numbers) = lists::append(self.kv, "pending", &listed)?;
        entries.extend(list_entries);
        for (i, k) in unlisted.into_iter().zip(numbers) {
            if let Some(next) = next[i].as_mut() {
                next.note_pending_entry(k);
            }
        }
        Ok(entries)
    }

    /// What one outcome writes beside the retry's slot and list entry: the previous attempt's
    /// detail, the claim's own timer slot, and the record.
    fn outcome_entries(&self, made: &Made, next: &JobRecord) -> Vec<Entry> {
        let claimed = &made.claimed;
        let mut entries = Vec::with_capacity(3);
        if let Some(previous) = &claimed.last_detail {
            entries.push(keys::attempt_detail(&claimed.id, previous.n).entry(previous));
        }
        let (key_text, record_bytes) = keys::job(&claimed.id).entry(next);
        // The claim's own timer slot is still ahead (the lease has over `LEASE_SAFETY_MS` left).
        if let Some(n) = made.slot {
            let slot = keys::slot(&self.config.region, claimed.timer, n).into();
            if next.state.finished_at().is_some() && next.timer == claimed.timer {
                // It carries the finished record for the sweep that files the job.
                entries.push((slot, timers::slot_value_with_record(claimed.id.as_str(), &record_bytes)));
            } else if next.timer != claimed.timer {
                // The timer moved to the retry's slot: this one is spent.
                entries.push((slot, timers::SPENT_SLOT.to_vec()));
            }
        }
        entries.push((key_text, record_bytes));
        entries
    }
}

/// The items of `pool` that are ready now, without waiting. Polling it also sends the attempts
/// just added, so they are under way while the ended ones are recorded.
pub(crate) fn ready<S: Stream + Unpin>(pool: &mut S) -> Vec<S::Item> {
    std::iter::from_fn(|| pool.next().now_or_never().flatten()).collect()
}

fn retry_at(decision: &Decision) -> Option<u64> {
    match *decision {
        Decision::Retry { at } => Some(at),
        _ => None,
    }
}

/// The claim number of `claimed` if its holder may still write the job without a turn: the
/// lease has over `LEASE_SAFETY_MS` left, so nobody else has changed the record since the claim.
pub(super) fn holds(claimed: &JobRecord, now: u64) -> Option<u32> {
    let State::InFlight { claim, lease_until } = claimed.state else { return None };
    (now + LEASE_SAFETY_MS <= lease_until).then_some(claim)
}
