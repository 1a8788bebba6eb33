//! The stored aggregate (`stats:sweep`) and how one sweep's visits change it: finished jobs by
//! state, attempts per minute for an hour, totals, the latency histogram (`latency`), the bounded
//! failing-host list (`hosts`) and the last sweep. Each sweep batch adds to it as a fenced update
//! after its batched write (`engine/stats.rs`).
//!
//! Each attempt is counted once, by the first sweep that reads the record holding it as the
//! last attempt of the current series: when the sweep claims the job for its next attempt, or
//! when it first files the finished job. Counting lags the attempt by up to a lease (the sweep
//! visits a job delivered at accept time when that attempt's lease ends).

use super::hosts::{self, FailingHost};
use super::latency;
use crate::engine::fence::TurnMark;
use crate::job::view::public_state;
use crate::job::{Attempt, AttemptError, JobRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STATS_VERSION: u32 = 1;
/// Minutes of per-minute counts kept.
pub const WINDOW_MINUTES: u64 = 60;
pub const MINUTE_MS: u64 = 60_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsRecord {
    pub v: u32,
    /// What the last sweep that decided anything saw.
    pub last_sweep: LastSweep,
    /// Finished jobs still stored, by public state: filed by sweeps, removed at retention's end.
    pub finished: BTreeMap<String, u64>,
    /// `[delivered, failed]` attempts by the minute (Unix minutes) they were made in.
    pub minutes: BTreeMap<u64, [u64; 2]>,
    pub delivered_total: u64,
    pub failed_total: u64,
    /// Accept-to-first-attempt latency: counts per `latency::BOUNDS_MS` bucket, plus the overflow.
    pub latency_counts: Vec<u64>,
    pub latency_sum_ms: u64,
    pub hosts: Vec<FailingHost>,
    pub sweeps_total: u64,
    /// The fenced-update turn that wrote this version (`engine::fence`).
    #[serde(default)]
    pub turn: u64,
    /// How far its old turn keys have been deleted (`engine::fence`).
    #[serde(default, skip_serializing_if = "TurnMark::is_unset")]
    pub(crate) turn_mark: TurnMark,
}

crate::stored::stored!(StatsRecord, STATS_VERSION);
crate::engine::fence::fenced!(StatsRecord, turn_mark);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSweep {
    pub at: u64,
    pub buckets: u64,
    pub slots: u64,
    pub claimed: u64,
    pub rescheduled: u64,
    pub skipped: u64,
    pub deleted: u64,
    /// How long the oldest due slot it found had waited.
    pub lag_ms: u64,
}

/// What a sweep saw of one job.
#[derive(Debug, Clone, Copy)]
pub enum Visit<'a> {
    /// Claimed for its next attempt: the last one (if any) ended since the last visit.
    Claimed(&'a JobRecord),
    /// Finished, and filed into its state's list for the first time.
    Filed(&'a JobRecord),
    /// Deleted at the end of its retention.
    Deleted(&'a JobRecord),
}

impl StatsRecord {
    pub fn new() -> Self {
        StatsRecord { v: STATS_VERSION, ..StatsRecord::default() }
    }

    pub fn observe(&mut self, visit: Visit<'_>) {
        match visit {
            Visit::Claimed(record) => self.count_last_attempt(record),
            Visit::Filed(record) => {
                self.count_last_attempt(record);
                if let Some(previous) = replayed_from(record) {
                    // A replayed job was filed once already, under the state it left.
                    decrement(&mut self.finished, previous);
                }
                *self.finished.entry(public_state(&record.state).to_string()).or_default() += 1;
            }
            Visit::Deleted(record) => decrement(&mut self.finished, public_state(&record.state)),
        }
    }

    /// Closes one sweep's changes: records the sweep and drops what fell out of the windows.
    pub fn close(&mut self, sweep: LastSweep) {
        let now = sweep.at;
        self.sweeps_total += 1;
        self.last_sweep = sweep;
        let oldest = (now / MINUTE_MS).saturating_sub(WINDOW_MINUTES - 1);
        self.minutes.retain(|&minute, _| minute >= oldest);
        hosts::trim(&mut self.hosts, now);
    }

    fn count_last_attempt(&mut self, record: &JobRecord) {
        if record.attempts.len() <= record.series_start.max(record.attempts_counted as usize) {
            // No attempt in this series yet, only ones counted before a replay, or its last
            // attempt counted already (by the claim that was given back, or before a cancel).
            return;
        }
        let Some(attempt) = record.attempts.last() else { return };
        let delivered = attempt.status.is_some_and(|status| (200..300).contains(&status));
        let minute = self.minutes.entry(attempt.at / MINUTE_MS).or_default();
        if delivered {
            minute[0] += 1;
            self.delivered_total += 1;
        } else {
            minute[1] += 1;
            self.failed_total += 1;
            hosts::note(&mut self.hosts, &hosts::host_of(&record.url), &error_text(attempt), attempt.at);
        }
        let first_real_attempt = record.attempts.len() == 1 && attempt.error != Some(AttemptError::Abandoned);
        if first_real_attempt {
            let waited = attempt.at.saturating_sub(record.created_at);
            if self.latency_counts.len() != latency::BOUNDS_MS.len() + 1 {
                self.latency_counts = vec![0; latency::BOUNDS_MS.len() + 1];
            }
            self.latency_counts[latency::bucket(waited)] += 1;
            self.latency_sum_ms += waited;
        }
    }
}

/// The state a replayed job finished in before its replay, told from the attempt that ended
/// that series (a job cancelled before any attempt counts as cancelled).
fn replayed_from(record: &JobRecord) -> Option<&'static str> {
    if record.generation == 0 {
        return None;
    }
    let Some(last) = record.series_start.checked_sub(1).and_then(|i| record.attempts.get(i)) else {
        return Some("cancelled");
    };
    Some(match last.status {
        Some(200..=299) => "delivered",
        Some(410) => "gone",
        _ => "dead",
    })
}

fn decrement(counts: &mut BTreeMap<String, u64>, state: &str) {
    if let Some(count) = counts.get_mut(state) {
        *count = count.saturating_sub(1);
    }
}

/// A short text for a failed attempt: its status or its error class and message.
pub fn error_text(attempt: &Attempt) -> String {
    match (attempt.status, attempt.error, &attempt.message) {
        (Some(status), _, _) => format!("HTTP {status}"),
        (None, Some(AttemptError::Abandoned), _) => "abandoned".into(),
        (None, Some(AttemptError::Transport(kind)), Some(message)) => format!("{}: {message}", error_class(kind)),
        (None, Some(AttemptError::Transport(kind)), None) => error_class(kind),
        (None, None, _) => "failed".into(),
    }
}

fn error_class(kind: crate::delivery::TransportError) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_else(|| "other".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::State;

    fn job(attempts: &[(u64, Option<u16>)], state: State) -> JobRecord {
        JobRecord {
            url: "https://receiver.test/hook".into(),
            created_at: 60_000,
            state,
            attempts: attempts
                .iter()
                .map(|&(at, status)| Attempt { at, duration_ms: 5, status, error: None, message: None })
                .collect(),
            ..JobRecord::new(crate::ids::JobId::from_random(&[1; 16]))
        }
    }

    #[test]
    fn each_attempt_counts_once_with_latency_for_the_first() {
        let mut stats = StatsRecord::new();
        // Failed at accept, claimed for a retry, then delivered and filed.
        stats.observe(Visit::Claimed(&job(&[(60_020, Some(500))], State::Pending { next_at: 0 })));
        let delivered = job(&[(60_020, Some(500)), (125_000, Some(200))], State::Delivered { at: 125_000 });
        stats.observe(Visit::Filed(&delivered));
        stats.close(LastSweep { at: 130_000, ..LastSweep::default() });
        assert_eq!((stats.delivered_total, stats.failed_total), (1, 1));
        assert_eq!(stats.minutes.get(&1), Some(&[0, 1]));
        assert_eq!(stats.minutes.get(&2), Some(&[1, 0]));
        assert_eq!(stats.latency_counts[latency::bucket(20)], 1);
        assert_eq!(stats.latency_counts.iter().sum::<u64>(), 1);
        assert_eq!(stats.hosts[0].host, "receiver.test");
        assert_eq!(stats.hosts[0].last_error, "HTTP 500");
        assert_eq!(stats.finished.get("delivered"), Some(&1));

        stats.observe(Visit::Deleted(&delivered));
        assert_eq!(stats.finished.get("delivered"), Some(&0));
    }

    #[test]
    fn a_replayed_job_moves_between_states() {
        let mut stats = StatsRecord::new();
        let dead = job(&[(60_000, Some(500))], State::Dead { at: 60_000 });
        stats.observe(Visit::Filed(&dead));
        let mut replayed = job(&[(60_000, Some(500)), (70_000, Some(204))], State::Delivered { at: 70_000 });
        replayed.generation = 1;
        replayed.series_start = 1;
        stats.observe(Visit::Filed(&replayed));
        assert_eq!(stats.finished.get("dead"), Some(&0));
        assert_eq!(stats.finished.get("delivered"), Some(&1));
        assert_eq!((stats.delivered_total, stats.failed_total), (1, 1));
    }

    #[test]
    fn old_minutes_fall_out_of_the_window() {
        let mut stats = StatsRecord::new();
        stats.observe(Visit::Filed(&job(&[(0, Some(200))], State::Delivered { at: 0 })));
        stats.close(LastSweep { at: WINDOW_MINUTES * MINUTE_MS, ..LastSweep::default() });
        assert!(stats.minutes.is_empty());
        assert_eq!(stats.delivered_total, 1);
    }
}
