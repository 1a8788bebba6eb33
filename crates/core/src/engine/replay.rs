//! Operators' tools: retrying one finished job, cancelling one, and replaying many in bounded,
//! resumable batches.
//!
//! A replay bumps the job's `generation` (its old list entries go stale) and `series_start` (a
//! fresh attempt budget), keeping the attempt log. A job past its retention is refused: from then
//! on no writer changes it (`engine/sweep/slots.rs` deletes it without a turn).

use super::fence::{self, Turn, Updated};
use super::{lists, timers, Jobs};
use crate::error::Error;
use crate::ids::JobId;
use crate::job::{transition, JobRecord, State};
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, Transport};
use serde::Deserialize;

/// Jobs one bulk-replay call re-queues at most.
pub const MAX_REPLAY_BATCH: usize = 500;

/// `POST /_hookah/v1/jobs/retry`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFilter {
    pub state: String,
    /// Only jobs created at or after / before these Unix seconds.
    #[serde(default)]
    pub since: Option<u64>,
    #[serde(default)]
    pub until: Option<u64>,
    #[serde(default)]
    pub target_prefix: Option<String>,
    /// Where an earlier call stopped.
    #[serde(default)]
    pub cursor: Option<u64>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, serde::Serialize)]
pub struct ReplayReport {
    pub requeued: usize,
    pub scanned: u64,
    /// Pass this back as `cursor` to go on; `null` when the list is done.
    pub next_cursor: Option<u64>,
}

fn job_not_found(id: &JobId) -> Error {
    Error::not_found(format!("no job {id}"))
}

fn finished_state(state: &str) -> Result<(), Error> {
    match state {
        "delivered" | "dead" | "gone" | "cancelled" => Ok(()),
        _ => Err(Error::invalid("bad_filter", "state must be delivered, dead, gone or cancelled")),
    }
}

impl<K: Kv, T: Transport> Jobs<'_, K, T> {
    /// Starts a new attempt series for a finished job, claimed for an attempt right away (the
    /// caller makes it after answering). Same `webhook-id`; a fresh attempt budget.
    pub fn retry_job(&self, id: &JobId) -> Result<JobRecord, Error> {
        let retention_ms = self.0.config.retention_ms;
        self.update_job(id, |current, now| {
            if current.state.finished_at().is_none() {
                return Err(Error::conflict("not_finished", "the job is still pending"));
            }
            if current.past_retention(now, retention_ms) {
                // Its deleter takes no turn: nothing may change it now (`DELETION_GRACE_MS`).
                return Err(Error::not_found(format!("job {id} is past its retention")));
            }
            Ok(transition::claim(requeued(current), now))
        })
    }

    /// Stops a pending job: no more attempts. An attempt in flight goes on, and no attempt
    /// starts after it: the job ends cancelled unless that attempt ends it first.
    pub fn cancel_job(&self, id: &JobId) -> Result<JobRecord, Error> {
        let current = self.0.load_job(id)?.ok_or_else(|| job_not_found(id))?;
        if let State::InFlight { lease_until, .. } = current.state {
            if lease_until > self.0.clock.now_ms() {
                self.0.kv.save(&keys::cancel_request(id), b"1")?;
                return Ok(current);
            }
        }
        let cancelled = self.update_job(id, |current, now| {
            if current.state.finished_at().is_some() {
                return Err(Error::conflict("already_finished", "the job has already ended"));
            }
            let mut next = current.clone();
            next.state = State::Cancelled { at: now };
            // A timer soon, so the job reaches the cancelled list without waiting for its old one.
            next.timer = keys::timer_bucket(now, now);
            Ok(next)
        })?;
        self.0.report_if_asked(&cancelled, None)?;
        self.0.after_head_ended(&cancelled)?;
        Ok(cancelled)
    }

    /// A fenced update of one job: `change` computes the new record from the current one; the
    /// new timer slot and pending-list entry go in the record's commit.
    fn update_job(
        &self,
        id: &JobId,
        change: impl Fn(&JobRecord, u64) -> Result<JobRecord, Error>,
    ) -> Result<JobRecord, Error> {
        let now = || self.0.clock.now_ms();
        let updated = fence::update(self.0.kv, &keys::job(id), &now, |current: &JobRecord, now| {
            let mut next = change(current, now)?;
            let mut entries = timers::allocate(self.0.kv, &self.0.config.region, &[(next.timer, id.as_str())])?;
            if next.generation != current.generation {
                entries.extend(lists::append_pending(self.0.kv, &mut [&mut next])?);
            }
            Ok::<_, Error>(Some((next, entries)))
        })?;
        match updated {
            Updated::Changed(next) | Updated::Unchanged(next) => Ok(next),
            Updated::Missing => Err(job_not_found(id)),
            Updated::Busy => Err(Error::Busy),
        }
    }

    /// Re-queues matching finished jobs from one page of their state's list, newest first.
    pub fn replay(&self, filter: &ReplayFilter) -> Result<ReplayReport, Error> {
        finished_state(&filter.state)?;
        let limit = filter.limit.unwrap_or(100);
        if !(1..=MAX_REPLAY_BATCH).contains(&limit) {
            return Err(Error::invalid("bad_filter", format!("limit must be 1 to {MAX_REPLAY_BATCH}")));
        }
        let matches = |job: &JobRecord| {
            let created = job.created_at / 1000;
            filter.since.is_none_or(|since| created >= since)
                && filter.until.is_none_or(|until| created < until)
                && filter.target_prefix.as_deref().is_none_or(|prefix| job.url.starts_with(prefix))
        };
        // The time is taken before the page is read: turns are judged as of then.
        let now = self.0.clock.now_ms();
        let page = self.0.list_page(&filter.state, limit, filter.cursor, matches)?;
        let bucket = keys::timer_bucket(now, now);
        // One turn per job; the jobs whose turn was won are written in one commit with their
        // timer slots and list entries.
        let mut won = Vec::new();
        // Jobs past their retention are no longer changed (`DELETION_GRACE_MS`).
        let retention_ms = self.0.config.retention_ms;
        for job in page.jobs.iter().filter(|job| !job.past_retention(now, retention_ms)) {
            if let Turn::Won(turn) = fence::take_turn_of_existing(self.0.kv, &keys::job(&job.id), job.turn, now)? {
                let mut next = requeued(job);
                next.state = State::Pending { next_at: now };
                next.timer = bucket;
                next.turn = turn;
                won.push(next);
            }
        }
        if self.0.clock.now_ms() > now + fence::TURN_DEADLINE_MS {
            // Too slow: the turns won may be skipped by now. Let them go stale rather than race.
            return Err(Error::Busy);
        }
        let ids: Vec<(u64, &str)> = won.iter().map(|job| (bucket, job.id.as_str())).collect();
        let mut entries = timers::allocate(self.0.kv, &self.0.config.region, &ids)?;
        entries.extend(lists::append_pending(self.0.kv, &mut won.iter_mut().collect::<Vec<_>>())?);
        entries.extend(won.iter().map(|job| keys::job(&job.id).entry(job)));
        self.0.kv.set_many(entries)?;
        let count = won.len();
        Ok(ReplayReport { requeued: count, scanned: page.scanned, next_cursor: page.next })
    }
}

/// The job as a new generation: same id, log kept, a fresh attempt budget.
fn requeued(job: &JobRecord) -> JobRecord {
    let mut next = job.clone();
    next.generation += 1;
    next.series_start = next.attempts.len();
    next
}

/// The public state names a list can be asked for.
pub fn check_list_state(state: &str) -> Result<(), Error> {
    if lists::LISTED_STATES.contains(&state) {
        Ok(())
    } else {
        Err(Error::invalid("bad_filter", format!("state must be one of {}", lists::LISTED_STATES.join(", "))))
    }
}
