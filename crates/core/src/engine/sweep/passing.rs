//! Sweeps in passing: retries on time where no cron trigger runs.
//!
//! Fermyon Cloud runs HTTP components only; Akamai's `spin aka cron` calls a path once a minute
//! at most. Retries 5 s apart need a sweep every second, so an invocation that has answered its
//! request (and made its first attempt) sweeps afterwards when no sweep has started this second.
//!
//! - **The gate** is the current second's `due:{bucket}:gate`. An invocation reads it: present,
//!   a sweep started this second and the invocation is done (one read, its whole cost). Absent,
//!   it increments it and sweeps only if its increment read 1, so concurrent invocations do not
//!   all sweep. Cron sweeps count the gate as they start, so with cron running requests seldom
//!   sweep. The gate goes with its bucket.
//! - **Time.** The sweep takes new batches for `sweep_budget` at most, and no longer than what is
//!   left of `request_budget` once the request's own work is done, less one delivery's `timeout`
//!   and a margin: whatever it starts ends inside the host's request time limit. With too little
//!   left it does not start.
//! - **The sweep route** `/_hookah/v1/sweep/{sweep_token}` goes through the same gate: whoever
//!   learns its URL can at most make one sweep a second start early.
//! - **A kill** (the host's time limit) loses nothing: the sweep's claims are leases a later
//!   sweep takes over, and its bucket claims end with their window.

use super::SweepReport;
use crate::engine::attempt::RECORD_MARGIN_MS;
use crate::engine::Hookah;
use crate::keys::{self, bucket_of, TypedKv};
use crate::ports::{Kv, KvError, Transport};

/// A sweep with less time than this to take batches is not worth starting.
const MIN_SWEEP_MS: u64 = 250;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Counts this second's gate for a sweep that starts now; true if no sweep had started this
    /// second. The first read spares a commit when one had.
    pub fn open_sweep_gate(&self) -> Result<bool, KvError> {
        let gate = keys::sweep_gate(&self.config.region, bucket_of(self.clock.now_ms()));
        if self.kv.load(&gate)? > 0 {
            return Ok(false);
        }
        Ok(self.kv.add_to(&gate, 1)? == 1)
    }

    /// A scheduled sweep (cron, or the API token's sweep route): it counts the gate first, so
    /// requests this second leave sweeping to it.
    pub async fn scheduled_sweep(&self) -> Result<SweepReport, KvError> {
        self.open_sweep_gate()?;
        self.sweep().await
    }

    /// How long a sweep in passing may take batches, in an invocation that has run for
    /// `elapsed_ms`; `None` when that is too short to start one.
    pub fn passing_budget(&self, elapsed_ms: u64) -> Option<u64> {
        let left = self.config.request_budget_ms.saturating_sub(elapsed_ms);
        let budget = left.saturating_sub(self.config.timeout_ms + RECORD_MARGIN_MS).min(self.config.sweep_budget_ms);
        (budget >= MIN_SWEEP_MS).then_some(budget)
    }

    /// After an answer: a sweep, if sweeps in passing are on, the invocation has time for one
    /// and no sweep has started this second.
    pub async fn sweep_in_passing(&self, elapsed_ms: u64) -> Result<Option<SweepReport>, KvError> {
        if !self.config.sweep_in_passing {
            return Ok(None);
        }
        let Some(budget) = self.passing_budget(elapsed_ms) else { return Ok(None) };
        if !self.open_sweep_gate()? {
            return Ok(None);
        }
        self.sweep_for(budget).await.map(Some)
    }
}
