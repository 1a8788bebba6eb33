//! Reading the operational statistics, and the sweep's hook that keeps them. A stats request
//! reads a bounded number of keys and writes nothing. A sweep batch that saw anything adds one
//! fenced update (a turn, a read and a write); no commit is added to the accept or delivery path.
//!
//! - The hook: a sweep already reads every job record it visits. `act_on_slots` in
//!   `engine/sweep/slots.rs` notes what it saw (`Seen::Claimed`, `Filed`, `Deleted`). After its batched
//!   write it adds that to the aggregate as a fenced update (`record_stats`: one turn and one
//!   write per batch that saw anything), so parallel sweeps lose none of each other's figures.
//! - Each attempt is counted once: by the visit that first finds it as the last attempt of the
//!   current series. A claim notes the attempts it counted in the record it writes
//!   (`attempts_counted`), so a claim given back unattempted, or a job cancelled in flight, does
//!   not count that attempt again.
//! - A snapshot for a request: the aggregate, the due backlog (slot counters between
//!   `sweep:cursor` and now, at most `MAX_BACKLOG_BUCKETS`), the newest pending-list entries,
//!   and the jobs that ended but are not filed (and counted) yet (`recent.rs`).

use super::fence;
use super::Hookah;
use crate::job::view::public_state;
use crate::job::{JobRecord, State};
use crate::keys::{self, bucket_of, TypedKv, BUCKET_MS};
use crate::ports::{Kv, KvError, Transport};
use crate::stats::record::LastSweep;
use crate::stats::view::{OpenJobs, RecentJobs};
use crate::stats::{Backlog, Snapshot, StatsRecord, Visit};

/// Timer buckets one backlog read covers at most (two keys each).
pub const MAX_BACKLOG_BUCKETS: u64 = 900;
/// Jobs of the pending list one stats request looks at (it reads up to four entries a job).
const OPEN_SAMPLE: usize = 100;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub fn load_stats(&self) -> Result<StatsRecord, KvError> {
        Ok(self.kv.load(&keys::sweep_stats())?.unwrap_or_else(StatsRecord::new))
    }

    /// The due slots no sweep has handled, from each timer index's cursor up to the bucket now
    /// ending (with regions, every region's index: `engine/regions.rs`).
    pub fn backlog(&self, now: u64) -> Result<Backlog, KvError> {
        let mut total = Backlog { complete: true, ..Backlog::default() };
        for index in &self.config.regions {
            let backlog = self.backlog_of(index, now)?;
            total.due_slots += backlog.due_slots;
            total.buckets_read += backlog.buckets_read;
            total.complete &= backlog.complete;
            total.oldest_due_at = match (total.oldest_due_at, backlog.oldest_due_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(total)
    }

    fn backlog_of(&self, index: &str, now: u64) -> Result<Backlog, KvError> {
        let current = bucket_of(now);
        // Before the first sweep there is no cursor: look at the most recent buckets only.
        let cursor = self.kv.load(&keys::sweep_cursor(index))?;
        let swept = cursor.is_some();
        let cursor = cursor.unwrap_or_else(|| current.saturating_sub(MAX_BACKLOG_BUCKETS));
        let end = current.min(cursor + MAX_BACKLOG_BUCKETS);
        let buckets: Vec<u64> = (cursor..end).collect();
        let progress_keys: Vec<_> =
            buckets.iter().map(|&b| (keys::slot_count(index, b), keys::slot_done(index, b))).collect();
        let progress = self.kv.load_pairs(&progress_keys)?;
        let mut backlog =
            Backlog { buckets_read: buckets.len() as u64, complete: end == current, ..Backlog::default() };
        for (&bucket, &(count, done)) in buckets.iter().zip(&progress) {
            let done = done.unwrap_or(0).min(count);
            if count > done {
                backlog.due_slots += count - done;
                backlog.oldest_due_at.get_or_insert((bucket + 1) * BUCKET_MS);
            }
        }
        if swept && !backlog.complete && backlog.oldest_due_at.is_none() {
            // The cursor is further behind than one read covers: at least this old.
            backlog.oldest_due_at = Some(end * BUCKET_MS);
        }
        Ok(backlog)
    }

    /// Pending and in-flight jobs among the newest entries of the pending list (jobs on their
    /// first attempt since accept are in no list and not counted).
    fn open_jobs(&self) -> Result<(OpenJobs, u64), KvError> {
        let page = self.list_page("pending", OPEN_SAMPLE, None, |_| true)?;
        let in_flight = page.jobs.iter().filter(|job| matches!(job.state, State::InFlight { .. })).count() as u64;
        let open = OpenJobs { pending: page.jobs.len() as u64 - in_flight, in_flight, exact: page.next.is_none() };
        Ok((open, 2 * page.scanned + 1))
    }

    pub fn stats_snapshot(&self) -> Result<Snapshot, KvError> {
        let now = self.clock.now_ms();
        let stats = self.load_stats()?;
        let backlog = self.backlog(now)?;
        let (open, list_reads) = self.open_jobs()?;
        let recent = self.recently_finished(now, super::recent::RECENT_SLOTS)?;
        let (flows, flow_reads) = self.flow_stats()?;
        let reads = 2 + 2 * backlog.buckets_read + list_reads + recent.reads + flow_reads;
        let mut unfiled = RecentJobs { exact: recent.exact, ..RecentJobs::default() };
        for job in &recent.jobs {
            *unfiled.by_state.entry(public_state(&job.state).to_string()).or_default() += 1;
        }
        let room = self.store_room()?;
        Ok(Snapshot { now, stats, backlog, open, recent: unfiled, room, flows, reads })
    }
}

/// A job a sweep batch looked at, as the statistics count it.
pub(crate) enum Seen {
    Claimed(JobRecord),
    Filed(JobRecord),
    Deleted(JobRecord),
}

impl Seen {
    fn visit(&self) -> Visit<'_> {
        match self {
            Seen::Claimed(record) => Visit::Claimed(record),
            Seen::Filed(record) => Visit::Filed(record),
            Seen::Deleted(record) => Visit::Deleted(record),
        }
    }
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Adds a sweep batch's visits and report to the aggregate as a fenced update, so parallel
    /// sweeps lose none of each other's figures. When other writers keep winning, the batch's
    /// figures are dropped (they are statistics; the batch's work stands).
    pub(crate) fn record_stats(&self, visits: &[Seen], report: &super::SweepReport, now: u64) -> Result<(), KvError> {
        let last = LastSweep::of(report, now);
        fence::update_or_create(
            self.kv,
            &keys::sweep_stats(),
            &|| self.clock.now_ms(),
            &StatsRecord::new,
            |current, _| {
                let mut stats = current.clone();
                for seen in visits {
                    stats.observe(seen.visit());
                }
                stats.close(last.clone());
                Ok::<_, KvError>(Some((stats, Vec::new())))
            },
        )?;
        Ok(())
    }
}

impl LastSweep {
    fn of(report: &super::SweepReport, at: u64) -> Self {
        LastSweep {
            at,
            buckets: report.buckets,
            slots: report.slots,
            claimed: report.claimed,
            rescheduled: report.rescheduled,
            skipped: report.skipped,
            deleted: report.deleted,
            lag_ms: report.lag_ms,
        }
    }
}
