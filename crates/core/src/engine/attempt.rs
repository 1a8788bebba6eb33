//! Making one attempt for a claimed job and recording what came of it.
//!
//! - Only the claim's holder records the outcome, and only while its lease lasts, without reading
//!   the record; several outcomes go in one write (`engine/outcome.rs`). The argument on each
//!   backend is in `engine/fence.rs`.
//! - An outcome writes the record; the finished record's copy in the claim's own timer slot, or,
//!   for a retry, the retry's slot, a `pending` list entry and the emptied old slot
//!   (`engine/timers.rs`); and the previous attempt's detail.
//! - The last attempt's details (request headers, response headers and body) live in the record
//!   (`last_detail`). The previous one is spilled to `job:{id}:attempt:{n}` in the next outcome's
//!   batched write. A first attempt that succeeds costs nothing extra.
//! - An attempt is never sent unsigned in place of a signed one: a key that cannot sign makes a
//!   failed attempt that says why, retried on schedule.

use super::outcome::{holds, Made};
use super::{timers, Hookah};
use crate::delivery::AttemptResult;
use crate::flows::FlowRecord;
use crate::job::{Attempt, AttemptDetail, AttemptError, JobRecord, State};
use crate::keys::{self, TypedKv};
use crate::ports::{Captured, Kv, KvError, OutboundRequest, Sent, Transport};
use crate::signing::{signature_header, SigningKey, WebhookId, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Sent when the caller set no `User-Agent`.
pub const USER_AGENT: &str = concat!("Hookah/", env!("CARGO_PKG_VERSION"));

/// How an attempt is made beyond the job's own settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptOptions {
    /// Read at least this much of the response body (a synchronous caller wants all of it).
    pub capture_bytes: usize,
    /// A shorter timeout than the job's (a synchronous caller's `Hookah-Wait`).
    pub timeout_ms: Option<u64>,
}

/// What the invocation that stored a job still holds for its first attempt.
#[derive(Debug)]
pub struct Held {
    /// The job's body (it never changes).
    pub body: Vec<u8>,
    /// The job's timer slot in the bucket of its lease's end: a finished outcome writes the
    /// record into it too, so the sweep that files the job reads one key, not two.
    pub slot: Option<u64>,
}

/// An attempt's result: the job afterwards (`None` if it vanished or another worker took it
/// over) and what the transport saw.
#[derive(Debug)]
pub struct Attempted {
    pub record: Option<JobRecord>,
    pub sent: Option<Sent>,
}

/// Time kept back after an attempt's timeout for recording its outcome, by an invocation that
/// plans attempts inside `request_budget` (sweeps in passing, a batch's first attempts).
pub(crate) const RECORD_MARGIN_MS: u64 = 1_000;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Attempts a job this invocation holds the claim on.
    pub async fn attempt(&self, record: JobRecord) -> Result<Option<JobRecord>, KvError> {
        Ok(self.attempt_with(record, AttemptOptions::default()).await?.record)
    }

    /// The first attempt of a job this invocation just stored, with what it still holds: one
    /// read fewer than [`Self::attempt`] on the hot path, and one fewer for the sweep that
    /// files the job.
    pub async fn first_attempt(&self, record: JobRecord, held: Held) -> Result<Option<JobRecord>, KvError> {
        Ok(self.attempt_holding(record, AttemptOptions::default(), Some(held.body), held.slot).await?.record)
    }

    /// The first attempt of a job this invocation just stored, its outcome left for the caller
    /// to record with others (`engine/outcome.rs`).
    pub(crate) async fn make_first_attempt(&self, record: JobRecord, held: Held) -> Result<Option<Made>, KvError> {
        self.make_attempt(record, AttemptOptions::default(), Some(held.body), held.slot).await
    }

    /// A sweep's attempt of a claim whose timer slot (in its lease's bucket) is number `slot`, its
    /// outcome left for the sweep to record with others. `flow`: the settings of its flow.
    pub(crate) async fn make_attempt_in_slot(
        &self,
        record: JobRecord,
        slot: u64,
        flow: Option<FlowRecord>,
    ) -> Result<Option<Made>, KvError> {
        let made = self.make_attempt(record, AttemptOptions::default(), None, Some(slot)).await?;
        Ok(made.map(|made| Made { flow, ..made }))
    }

    pub async fn attempt_with(&self, record: JobRecord, options: AttemptOptions) -> Result<Attempted, KvError> {
        self.attempt_holding(record, options, None, None).await
    }

    /// An attempt and its outcome, recorded alone. `body`: the job's body if the invocation holds
    /// it; `slot`: the number of the claim's own timer slot, if known.
    async fn attempt_holding(
        &self,
        record: JobRecord,
        options: AttemptOptions,
        body: Option<Vec<u8>>,
        slot: Option<u64>,
    ) -> Result<Attempted, KvError> {
        let Some(made) = self.make_attempt(record, options, body, slot).await? else {
            return Ok(Attempted { record: None, sent: None });
        };
        let record = self.record_outcomes(std::slice::from_ref(&made)).pop().unwrap_or(Ok(None))?;
        Ok(Attempted { record, sent: Some(made.sent) })
    }

    /// Makes the attempt, unrecorded; `None` if the job is not in flight or its body is gone.
    async fn make_attempt(
        &self,
        record: JobRecord,
        options: AttemptOptions,
        body: Option<Vec<u8>>,
        slot: Option<u64>,
    ) -> Result<Option<Made>, KvError> {
        let place = record.target_place;
        let host = record.flow_key().into_owned();
        let made = self.send_attempt(record, options, body, slot).await;
        // The place the claim took for its target is given back however the attempt went.
        if let Some(epoch) = place {
            self.release_target_place(&host, epoch)?;
        }
        made
    }

    async fn send_attempt(
        &self,
        record: JobRecord,
        options: AttemptOptions,
        body: Option<Vec<u8>>,
        slot: Option<u64>,
    ) -> Result<Option<Made>, KvError> {
        if !matches!(record.state, State::InFlight { .. }) {
            return Ok(None);
        }
        let body = if let Some(body) = body.filter(|body| body.len() as u64 == record.body_len) {
            body
        } else if record.body_len > 0 {
            match self.kv.load(&keys::body(&record.id))? {
                Some(body) => body,
                None => return Ok(None),
            }
        } else {
            Vec::new()
        };
        let started = self.clock.now_ms();
        let (request_headers, mut sent) = match self.keys_for(&record, started)? {
            Ok(signing_keys) => {
                let mut request = outbound_request(&record, body, &signing_keys, started / 1000);
                request.capture_bytes = options.capture_bytes.max(self.capture_bytes(&record));
                request.timeout_ms = options.timeout_ms.map_or(request.timeout_ms, |t| t.min(request.timeout_ms));
                (redacted(&request.headers), self.transport.send(request).await)
            }
            // Never unsigned in its place: a failed attempt that says why, retried on schedule.
            Err(unusable) => (Vec::new(), not_sent(format!("not sent: {unusable}"))),
        };
        if let Some(verification) = &record.verifies {
            // An intent verification counts only if the answer echoes the challenge.
            if let AttemptResult::Response { status: status @ 200..=299, .. } = sent.result {
                let body = sent.response.as_ref().map(|r| r.body.as_slice()).unwrap_or_default();
                if !crate::websub::challenge_echoed(&verification.challenge, status, body) {
                    let message = "the response did not echo the challenge".to_string();
                    sent.result = AttemptResult::Failed { error: crate::delivery::TransportError::Protocol, message };
                }
            }
        }
        let attempt = attempt_entry(started, sent.duration_ms, &sent.result);
        let detail = AttemptDetail {
            n: record.attempts.len() + 1,
            request_headers,
            ..detail_of(sent.response.as_ref(), self.config.attempt_body_bytes)
        };
        Ok(Some(Made { claimed: record, attempt, detail, sent, slot, flow: None }))
    }

    fn capture_bytes(&self, record: &JobRecord) -> usize {
        let callback = if record.callback.is_some() { self.config.callback_body_bytes } else { 0 };
        self.config.attempt_body_bytes.max(callback)
    }

    /// Gives back a claim its sweep could not start (its target had no place in flight): the
    /// job is pending again a second from now, its attempt count unchanged. Like an outcome, it
    /// is written by the claim's holder, only while its turn is the record's and its lease has
    /// over `LEASE_SAFETY_MS` left; `false` when it could not be.
    pub(crate) fn give_back_claim(&self, claimed: &JobRecord) -> Result<bool, KvError> {
        let key = keys::job(&claimed.id);
        let Some(current) = self.kv.load(&key)? else { return Ok(false) };
        let now = self.clock.now_ms();
        if current.turn != claimed.turn || holds(claimed, now).is_none() {
            return Ok(false);
        }
        let next_at = now + super::targets::HOLD_BACK_MS;
        let mut next = current;
        next.state = State::Pending { next_at };
        next.timer = keys::timer_bucket(next_at, now);
        let mut entries = timers::allocate(self.kv, &self.config.region, &[(next.timer, next.id.as_str())])?;
        entries.push(key.entry(&next));
        self.kv.set_many(entries)?;
        Ok(true)
    }
}

/// The request exactly as the receiver gets it, signed with `keys` (Standard Webhooks) at
/// `timestamp` (Unix seconds).
pub fn outbound_request(record: &JobRecord, body: Vec<u8>, keys: &[SigningKey], timestamp: u64) -> OutboundRequest {
    let mut headers = record.headers.clone();
    if !headers.iter().any(|(name, _)| name == "user-agent") {
        headers.push(("user-agent".into(), USER_AGENT.into()));
    }
    headers.push((HEADER_ID.into(), record.id.to_string()));
    headers.push((HEADER_TIMESTAMP.into(), timestamp.to_string()));
    // Job ids are generated without dots, so they are always valid webhook ids.
    if let (false, Ok(id)) = (keys.is_empty(), WebhookId::new(record.id.as_str())) {
        headers.push((HEADER_SIGNATURE.into(), signature_header(keys, &id, timestamp as i64, &body)));
    }
    OutboundRequest {
        method: record.method.clone(),
        url: record.url.clone(),
        headers,
        body,
        timeout_ms: record.timeout_ms,
        capture_bytes: 0,
    }
}

/// An attempt that failed before anything was sent.
fn not_sent(message: String) -> Sent {
    Sent {
        result: AttemptResult::Failed { error: crate::delivery::TransportError::Other, message },
        duration_ms: 0,
        response: None,
    }
}

/// Header values that may be credentials are not kept in the attempt log.
fn redacted(headers: &[(String, String)]) -> Vec<(String, String)> {
    const SENSITIVE: &[&str] = &["auth", "cookie", "token", "secret", "password", "api-key", "apikey", "session"];
    headers
        .iter()
        .map(|(name, value)| {
            let hidden = SENSITIVE.iter().any(|word| name.contains(word));
            (name.clone(), if hidden { "[REDACTED]".into() } else { value.clone() })
        })
        .collect()
}

/// The response part of an attempt's log entry, its body cut to `limit` bytes.
pub(crate) fn detail_of(response: Option<&Captured>, limit: usize) -> AttemptDetail {
    let Some(response) = response else { return AttemptDetail::default() };
    let cut = response.body.len().min(limit);
    let (body, body_base64) = encode_body(&response.body[..cut]);
    AttemptDetail {
        response_headers: response.headers.clone(),
        response_body: Some(body),
        body_base64,
        truncated: response.truncated || cut < response.body.len(),
        ..AttemptDetail::default()
    }
}

/// UTF-8 text as it is, anything else as base64.
pub(crate) fn encode_body(body: &[u8]) -> (String, bool) {
    match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (STANDARD.encode(body), true),
    }
}

fn attempt_entry(at: u64, duration_ms: u64, result: &AttemptResult) -> Attempt {
    match result {
        AttemptResult::Response { status, .. } => {
            Attempt { at, duration_ms, status: Some(*status), error: None, message: None }
        }
        AttemptResult::Failed { error, message } => Attempt {
            at,
            duration_ms,
            status: None,
            error: Some(AttemptError::Transport(*error)),
            message: Some(message.clone()),
        },
    }
}
