//! Operational statistics, aggregated by sweeps from what they already read: every job record a
//! sweep visits carries its attempt log, so a sweep can count attempts, failures and latency
//! without the accept or delivery path writing anything more. The aggregate is one fenced record
//! (`stats:sweep`) that each sweep batch updates after its batched write (`engine/stats.rs`).
//! This module is pure; reading and writing the store is the engine's.
//!
//! - `record`: the stored aggregate and how one sweep's visits change it.
//! - `hosts`: the bounded list of failing target hosts.
//! - `latency`: the accept-to-first-attempt histogram and its percentiles.
//! - `view`: the snapshot behind `GET /_hookah/v1/stats` (its JSON is built in `api/views.rs`);
//!   `prometheus`: the text exposition.
//! - `room`: how full a capped store is.
//! - `log`: the facts behind the structured log lines the components print.

pub mod hosts;
pub mod latency;
pub mod log;
pub mod prometheus;
pub mod record;
pub mod room;
pub mod view;

pub use record::{StatsRecord, Visit};
pub use view::{Backlog, FlowStat, Snapshot};
