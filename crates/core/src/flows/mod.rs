//! Flow keys and their stored settings: the pure half of flow control (the engine carries it out
//! in `engine/flows/`).
//!
//! Every job belongs to one flow key: the `Hookah-Flow-Key` it was accepted with, its
//! subscription's id for a channel delivery (one slow subscriber never holds back another), or
//! else its target host. A key with stored settings (`PUT /_hookah/v1/flows/{key}`) gets its own
//! parallelism, rate, retry policy, order and pause; any other key gets the variables'
//! defaults (`target_concurrency`, `target_rate`, `retry_schedule`, `max_attempts`).

use crate::delivery::AttemptResult;
use crate::duration::parse_duration_ms;
use crate::engine::fence::TurnMark;
use crate::error::Error;
use crate::job::transition::{self, Decision};
use crate::job::JobRecord;
use crate::Config;
use serde::{Deserialize, Serialize};

pub const RECORD_VERSION: u32 = 1;
/// A flow key is at most this many bytes.
pub const MAX_FLOW_KEY_BYTES: usize = 200;
/// The period a `rate` counts over: from a second to a day.
pub const MIN_PERIOD_MS: u64 = 1_000;
pub const MAX_PERIOD_MS: u64 = 86_400_000;
/// A flow's retry schedule holds at most as many delays as the variable may.
pub const MAX_SCHEDULE_LEN: usize = crate::config::MAX_SCHEDULE_LEN;
/// A flow's `max_attempts`, as the `Hookah-Max-Attempts` header's range.
pub const MAX_ATTEMPTS: u32 = crate::request::control::MAX_ATTEMPTS;

/// Checks a flow key as a caller sent it: 1 to 200 bytes, no control characters.
pub fn check_flow_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_FLOW_KEY_BYTES {
        let message = format!("a flow key is 1 to {MAX_FLOW_KEY_BYTES} bytes; this one is {}", key.len());
        return Err(Error::invalid("bad_flow_key", message));
    }
    if key.chars().any(char::is_control) {
        return Err(Error::invalid("bad_flow_key", "a flow key has no control characters"));
    }
    Ok(())
}

/// A flow's settings, as stored and as `GET` shows them. `None` means the variable's default
/// (no limit, for `parallelism` and `rate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSettings {
    /// Attempts in flight at once.
    pub parallelism: Option<u32>,
    /// Attempts started per `period_ms`.
    pub rate: Option<u32>,
    pub period_ms: u64,
    pub retry_schedule_ms: Option<Vec<u64>>,
    pub max_attempts: Option<u32>,
    /// One job at a time, in the order they were accepted.
    pub ordered: bool,
    /// No attempts at all until resumed.
    pub paused: bool,
}

/// A flow's stored record (`flow:{hash}`), replaced through fenced turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    pub v: u32,
    pub key: String,
    pub settings: FlowSettings,
    pub created_at: u64,
    pub updated_at: u64,
    /// Where the flow's queue of waiting jobs stands (`engine/flows/`); settings changes keep
    /// it as it is.
    #[serde(default)]
    pub queue: FlowQueue,
    /// Its settings were deleted while jobs still waited: it keeps the defaults until its queue
    /// has drained, and the API shows it as absent (`engine/flow_settings.rs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(default)]
    pub turn: u64,
    #[serde(default)]
    pub(crate) turn_mark: TurnMark,
}
crate::engine::fence::fenced!(FlowRecord, turn_mark);
crate::stored::stored!(FlowRecord, RECORD_VERSION);

/// A flow's queue: entries `released + 1 ..= flow:{hash}:wait:n` wait.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowQueue {
    /// Entries handed on (attempted, or found finished), oldest first.
    pub released: u64,
    /// For an ordered flow: the job whose turn it is, until it is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<crate::ids::JobId>,
    /// The `rate` period the flow's steps last started attempts in, and how many.
    #[serde(default)]
    pub window: u64,
    #[serde(default)]
    pub started: u64,
    /// The timer bucket of the next step a step scheduled: while it is not past, no other wake-up
    /// is scheduled, so a flow has one chain of steps however many wake-ups were written.
    #[serde(default)]
    pub wake: u64,
}

impl FlowQueue {
    /// A step the flow's last step scheduled has not run yet.
    pub fn wake_pending(&self, now: u64) -> bool {
        self.wake >= crate::keys::bucket_of(now)
    }
}

/// What comes of an attempt of `job`, whose flow has `settings` (if stored): the flow's retry
/// schedule and `max_attempts` stand in for the variables', though not for a `max_attempts` the
/// submission set itself.
pub fn decide(
    job: &JobRecord,
    settings: Option<&FlowSettings>,
    result: &AttemptResult,
    now: u64,
    config: &Config,
    random: u32,
) -> Decision {
    let Some(settings) = settings.filter(|s| s.retry_schedule_ms.is_some() || s.max_attempts.is_some()) else {
        return transition::decide(job, result, now, config, random);
    };
    let mut config = config.clone();
    if let Some(schedule) = &settings.retry_schedule_ms {
        config.retry_schedule_ms = schedule.clone();
    }
    let mut job = job.clone();
    if let (Some(max), false) = (settings.max_attempts, job.max_attempts_asked) {
        job.max_attempts = max;
    }
    transition::decide(&job, result, now, &config, random)
}

/// The body of `PUT /_hookah/v1/flows/{key}`: every field optional, unknown ones refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowBody {
    #[serde(default)]
    parallelism: Option<i64>,
    #[serde(default)]
    rate: Option<i64>,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    retry_schedule: Option<Schedule>,
    #[serde(default)]
    max_attempts: Option<i64>,
    #[serde(default)]
    ordered: Option<bool>,
    #[serde(default)]
    paused: Option<bool>,
}

/// A retry schedule: a list of durations, or one string in the variable's form (`"5s,1m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Schedule {
    List(Vec<String>),
    Text(String),
}

/// Parses a `PUT` body into the settings it sets: a field left out takes its default (`null`
/// limits, `"1s"` period, not ordered, not paused).
pub fn parse_settings(body: &[u8]) -> Result<FlowSettings, Error> {
    let body: serde_json::Value = serde_json::from_slice(body).map_err(|error| bad_flow(error.to_string()))?;
    if !body.is_object() {
        return Err(bad_flow("a flow's settings are a JSON object"));
    }
    let body: FlowBody = serde_json::from_value(body).map_err(|error| bad_flow(error.to_string()))?;
    let period_ms = match &body.period {
        Some(text) => parse_duration_ms(text).map_err(|error| bad_flow(format!("period: {error}")))?,
        None => MIN_PERIOD_MS,
    };
    if !(MIN_PERIOD_MS..=MAX_PERIOD_MS).contains(&period_ms) {
        return Err(bad_flow("period: it must be from 1s to 1d"));
    }
    Ok(FlowSettings {
        parallelism: at_least_one("parallelism", body.parallelism, u32::MAX)?,
        rate: at_least_one("rate", body.rate, u32::MAX)?,
        period_ms,
        retry_schedule_ms: body.retry_schedule.map(schedule_ms).transpose()?,
        max_attempts: at_least_one("max_attempts", body.max_attempts, MAX_ATTEMPTS)?,
        ordered: body.ordered.unwrap_or(false),
        paused: body.paused.unwrap_or(false),
    })
}

fn at_least_one(field: &str, value: Option<i64>, max: u32) -> Result<Option<u32>, Error> {
    match value {
        None => Ok(None),
        Some(n) if (1..=i64::from(max)).contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(bad_flow(format!("{field}: {n} is not a whole number from 1 to {max} (or null)"))),
    }
}

fn schedule_ms(schedule: Schedule) -> Result<Vec<u64>, Error> {
    let delays = match schedule {
        Schedule::List(items) => items.iter().map(|item| parse_duration_ms(item)).collect(),
        Schedule::Text(text) => crate::duration::parse_duration_list_ms(&text),
    }
    .map_err(|error| bad_flow(format!("retry_schedule: {error}")))?;
    if delays.len() > MAX_SCHEDULE_LEN {
        return Err(bad_flow(format!("retry_schedule: at most {MAX_SCHEDULE_LEN} delays")));
    }
    Ok(delays)
}

fn bad_flow(message: impl Into<String>) -> Error {
    Error::invalid("bad_flow", message)
}

#[cfg(test)]
mod tests;
