//! `GET /_hookah/v1/stats`: the sweep's aggregate plus what one request reads on its own (the
//! due backlog and a bounded look at the pending list). Its JSON is `api/views.rs`'s `stats`.

use super::record::{StatsRecord, MINUTE_MS, WINDOW_MINUTES};

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

/// Jobs that ended and are not filed yet, by state, as one bounded look found them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentJobs {
    pub by_state: std::collections::BTreeMap<String, u64>,
    /// Every slot that may hold one was looked at.
    pub exact: bool,
}

/// A flow with stored settings, as the statistics show it (`engine/flow_settings.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowStat {
    pub key: String,
    pub paused: bool,
    pub ordered: bool,
    /// Jobs waiting in its queue, and its attempts in flight.
    pub waiting: u64,
    pub in_flight: u64,
}

/// Everything one stats request knows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub now: u64,
    pub stats: StatsRecord,
    pub backlog: Backlog,
    pub open: OpenJobs,
    pub recent: RecentJobs,
    /// How full the store is, when it has a cap.
    pub room: Option<super::room::StoreRoom>,
    /// The flows with stored settings (at most `engine::MAX_FLOW_STATS`, newest first).
    pub flows: Vec<FlowStat>,
    /// Keys read to build it.
    pub reads: u64,
}

impl Snapshot {
    /// Finished jobs in `state`: those the sweeps filed, and those ended since.
    pub fn finished(&self, state: &str) -> u64 {
        let filed = self.stats.finished.get(state).copied().unwrap_or(0);
        filed + self.recent.by_state.get(state).copied().unwrap_or(0)
    }

    /// `[delivered, failed]` for each of the last [`WINDOW_MINUTES`] minutes, oldest first.
    pub fn per_minute(&self) -> Vec<(u64, [u64; 2])> {
        let current = self.now / MINUTE_MS;
        (current + 1 - WINDOW_MINUTES..=current)
            .map(|minute| (minute, self.stats.minutes.get(&minute).copied().unwrap_or_default()))
            .collect()
    }
}
