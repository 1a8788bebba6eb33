//! The stored job record: its own versioned type, converted to API views explicitly.

pub mod transition;
pub mod view;

use crate::delivery::TransportError;
use crate::ids::{JobId, KeyId, SubscriptionId};
use serde::{Deserialize, Serialize};

/// Version of the stored record format.
pub const RECORD_VERSION: u32 = 1;

/// Extra lease time beyond the connect and first-byte timeouts, so a slow but live attempt is not
/// taken over.
pub const LEASE_MARGIN_MS: u64 = 30_000;

/// An attempt's holder records its outcome only this long before its lease ends, at the latest:
/// a takeover waits for the lease's end, so the two never write at once while clocks disagree
/// by less than this.
pub const LEASE_SAFETY_MS: u64 = 10_000;

/// A finished job is deleted this long after its retention ends, not at once. From its end on,
/// no writer may change the record (`past_retention`), and one that read it before writes within
/// `TURN_DEADLINE_MS` (10 s) of its read or not at all; clocks agree within `LEASE_SAFETY_MS`.
/// So once the grace (10 s plus twice that skew) has passed, the record is final and its deleter
/// needs no turn of its own.
pub const DELETION_GRACE_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub v: u32,
    pub id: JobId,
    pub method: String,
    pub url: String,
    /// End-to-end headers to send, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Length of the body stored under `job:{id}:body` (nothing is stored for 0).
    pub body_len: u64,
    pub created_at: u64,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    pub state: State,
    /// Bucket of this job's one authoritative timer slot.
    pub timer: u64,
    pub attempts: Vec<Attempt>,
    /// The key that signs this job's attempts; `None` means the default key at attempt time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<KeyId>,
    /// Hex SHA-256 of the body: what the verification endpoint compares against.
    #[serde(default)]
    pub body_sha256: String,
    /// Bumped by every replay; list entries of older generations are stale.
    #[serde(default)]
    pub generation: u32,
    /// Index in `attempts` where the current series (this generation's) starts.
    #[serde(default)]
    pub series_start: usize,
    /// The generation whose pending-list entry was written last, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_listed: Option<u32>,
    /// The numbers of every pending-list entry written for this job (one a generation at most):
    /// its deletion removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_entries: Vec<u64>,
    /// The last attempt's request and response; earlier ones are spilled to their own keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_detail: Option<AttemptDetail>,
    /// Where to report the job's end (and maybe each attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Callback>,
    /// This job is itself a report: no report is ever sent about it.
    #[serde(default)]
    pub is_report: bool,
    /// The channel subscription this job delivers an event to (endpoint health follows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionId>,
    /// An intent verification: the subscription it confirms and the challenge to echo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifies: Option<Verification>,
    /// Hookah's own operational event: its death raises no further event.
    #[serde(default)]
    pub ops: bool,
    /// The flow key it was accepted with (`Hookah-Flow-Key`, or its subscription's id); `None`:
    /// its target host's (`flow_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// It waits in its flow's queue (or, as an ordered flow's head, for the flow's next step):
    /// only that flow's step claims it (`engine/flows/`), never its own timer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub waiting: bool,
    /// The submission set its own `max_attempts`, which a flow's setting does not override.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub max_attempts_asked: bool,
    /// Key of the idempotency record that points here, deleted with the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The fenced-update turn that wrote this version (`engine::fence`).
    #[serde(default)]
    pub turn: u64,
    /// Attempts the statistics have counted: a sweep's claim counts the attempt before it, so a
    /// claim given back unattempted (or a job cancelled in flight) does not count it again.
    #[serde(default)]
    pub attempts_counted: u32,
    /// The per-target in-flight epoch this claim holds a place in (`engine::targets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_place: Option<u64>,
}

/// What an intent-verification request must get back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub subscription: SubscriptionId,
    pub challenge: String,
    /// Confirms an unsubscription (WebSub): success deletes the subscription.
    #[serde(default)]
    pub unsubscribe: bool,
}

/// An asynchronous response webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    pub url: String,
    /// Report every attempt, not just the end.
    #[serde(default)]
    pub attempts: bool,
}

/// The full record of one attempt: what was sent (secrets redacted) and what came back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptDetail {
    /// The attempt's number in the job's log, from 1.
    pub n: usize,
    pub request_headers: Vec<(String, String)>,
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
    /// The start of the response body: UTF-8 text, or base64 when `body_base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(default)]
    pub body_base64: bool,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Waiting for its next attempt.
    Pending {
        next_at: u64,
    },
    /// Claimed for attempt number `claim` (1-based) until `lease_until`.
    InFlight {
        claim: u32,
        lease_until: u64,
    },
    Delivered {
        at: u64,
    },
    Gone {
        at: u64,
    },
    Dead {
        at: u64,
    },
    Cancelled {
        at: u64,
    },
}

impl Default for State {
    fn default() -> Self {
        State::Pending { next_at: 0 }
    }
}

impl JobRecord {
    /// When a finished job's retention ends; `None` while it is not finished.
    pub fn retention_end(&self, retention_ms: u64) -> Option<u64> {
        self.state.finished_at().map(|at| at.saturating_add(retention_ms))
    }

    /// Finished, and kept only until its deletion: no writer may change it any more.
    pub fn past_retention(&self, now: u64, retention_ms: u64) -> bool {
        self.retention_end(retention_ms).is_some_and(|end| end <= now)
    }

    /// Notes that pending-list entry `k` was written for this generation.
    pub(crate) fn note_pending_entry(&mut self, k: u64) {
        self.pending_listed = Some(self.generation);
        self.pending_entries.push(k);
    }
}

impl State {
    pub fn finished_at(&self) -> Option<u64> {
        match *self {
            State::Delivered { at } | State::Gone { at } | State::Dead { at } | State::Cancelled { at } => Some(at),
            State::Pending { .. } | State::InFlight { .. } => None,
        }
    }
}

/// One attempt as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: u64,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AttemptError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why an attempt produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptError {
    Transport(TransportError),
    /// The worker holding the lease vanished; whether the receiver got the call is unknown.
    Abandoned,
}

impl JobRecord {
    /// A record with only its id (pending at 0, no attempts), for filling in with `..`.
    pub fn new(id: JobId) -> Self {
        JobRecord {
            v: RECORD_VERSION,
            id,
            method: String::new(),
            url: String::new(),
            headers: Vec::new(),
            body_len: 0,
            created_at: 0,
            max_attempts: 0,
            timeout_ms: 0,
            state: State::default(),
            timer: 0,
            attempts: Vec::new(),
            signing_key: None,
            body_sha256: String::new(),
            generation: 0,
            series_start: 0,
            pending_listed: None,
            pending_entries: Vec::new(),
            last_detail: None,
            callback: None,
            is_report: false,
            subscription: None,
            verifies: None,
            ops: false,
            flow: None,
            waiting: false,
            max_attempts_asked: false,
            idempotency_key: None,
            turn: 0,
            attempts_counted: 0,
            target_place: None,
        }
    }

    /// The flow key the job belongs to: the one it was accepted with, or its target host.
    pub fn flow_key(&self) -> std::borrow::Cow<'_, str> {
        match &self.flow {
            Some(key) => key.as_str().into(),
            None => crate::stats::hosts::host_of(&self.url).into(),
        }
    }

    /// How long one attempt may hold the job.
    pub fn lease_ms(&self) -> u64 {
        lease_ms(self.timeout_ms)
    }

    /// Whether an attempt of this claim started at `now` ends, and its outcome is recorded,
    /// within the lease. One that starts later (its claim waited in a busy sweep) would make an
    /// attempt whose outcome is never written, and the job would go again after the lease.
    pub fn lease_fits_attempt(&self, now: u64) -> bool {
        matches!(self.state, State::InFlight { lease_until, .. }
            if now + longest_attempt_ms(self.timeout_ms) + LEASE_SAFETY_MS <= lease_until)
    }
}

pub fn lease_ms(timeout_ms: u64) -> u64 {
    longest_attempt_ms(timeout_ms) + LEASE_MARGIN_MS
}

/// How long an attempt can take: connecting and the first byte, each within the timeout.
fn longest_attempt_ms(timeout_ms: u64) -> u64 {
    2 * timeout_ms
}

crate::stored::stored!(JobRecord, RECORD_VERSION);

crate::engine::fence::fenced!(JobRecord);
