//! `GET /_hookah/v1/stats`: the sweep's aggregate plus what one request reads on its own (the
//! due backlog and a bounded look at the pending list).

use super::latency;
use super::record::{StatsRecord, MINUTE_MS, WINDOW_MINUTES};
use serde_json::{json, Value};

/// Timer slots that are due and not handled yet, as read from the timer index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    pub due_slots: u64,
    /// When the oldest unhandled slot became due (its bucket's end), if there is one.
    pub oldest_due_at: Option<u64>,
    /// Buckets read; `complete` is false when the range was longer than one read may cover.
    pub buckets_read: u64,
    pub complete: bool,
}

impl Backlog {
    /// The sweep lag: how long the oldest due slot has waited.
    pub fn lag_ms(&self, now: u64) -> u64 {
        self.oldest_due_at.map_or(0, |due| now.saturating_sub(due))
    }
}

/// Jobs waiting or in flight, counted among the newest pending-list entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenJobs {
    pub pending: u64,
    pub in_flight: u64,
    /// Every entry of the pending list was looked at.
    pub exact: bool,
}

/// Everything one stats request knows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub now: u64,
    pub stats: StatsRecord,
    pub backlog: Backlog,
    pub open: OpenJobs,
    /// Keys read to build it.
    pub reads: u64,
}

impl Snapshot {
    pub fn finished(&self, state: &str) -> u64 {
        self.stats.finished.get(state).copied().unwrap_or(0)
    }

    /// `[delivered, failed]` for each of the last [`WINDOW_MINUTES`] minutes, oldest first.
    pub fn per_minute(&self) -> Vec<(u64, [u64; 2])> {
        let current = self.now / MINUTE_MS;
        (current + 1 - WINDOW_MINUTES..=current)
            .map(|minute| (minute, self.stats.minutes.get(&minute).copied().unwrap_or_default()))
            .collect()
    }

    pub fn to_json(&self) -> Value {
        let stats = &self.stats;
        let per_minute: Vec<Value> = self
            .per_minute()
            .into_iter()
            .map(|(minute, [delivered, failed])| json!({ "at": minute * MINUTE_MS, "delivered": delivered, "failed": failed }))
            .collect();
        let last_hour = self.per_minute().iter().fold([0, 0], |sum, (_, m)| [sum[0] + m[0], sum[1] + m[1]]);
        let latency_count: u64 = stats.latency_counts.iter().sum();
        let quantile = |q| latency::quantile_ms(&stats.latency_counts, q);
        let last_sweep = (stats.sweeps_total > 0).then(|| json!(stats.last_sweep));
        json!({
            "now": self.now,
            "jobs": {
                "pending": self.open.pending,
                "in_flight": self.open.in_flight,
                "open_exact": self.open.exact,
                "delivered": self.finished("delivered"),
                "dead": self.finished("dead"),
                "gone": self.finished("gone"),
                "cancelled": self.finished("cancelled"),
            },
            "backlog": {
                "due_slots": self.backlog.due_slots,
                "oldest_due_at": self.backlog.oldest_due_at,
                "lag_ms": self.backlog.lag_ms(self.now),
                "complete": self.backlog.complete,
            },
            "last_sweep": last_sweep,
            "sweeps_total": stats.sweeps_total,
            "attempts": {
                "delivered_total": stats.delivered_total,
                "failed_total": stats.failed_total,
                "delivered_last_hour": last_hour[0],
                "failed_last_hour": last_hour[1],
                "per_minute": per_minute,
            },
            "failing_hosts": stats.hosts,
            "first_attempt_latency": {
                "count": latency_count,
                "sum_ms": stats.latency_sum_ms,
                "p50_ms": quantile(0.5),
                "p90_ms": quantile(0.9),
                "p99_ms": quantile(0.99),
            },
            "cost": { "keys_read": self.reads },
        })
    }
}
