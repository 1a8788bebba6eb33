//! Making one attempt for a claimed job and recording what came of it.

use super::{timers, Hookah};
use crate::delivery::AttemptResult;
use crate::job::transition::{self, Decision};
use crate::job::{Attempt, AttemptError, JobRecord, State};
use crate::keys;
use crate::ports::{Kv, KvError, OutboundRequest, Transport};
use crate::signing::{signature_header, SigningKey, WebhookId, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};

/// Sent when the caller set no `User-Agent`.
pub const USER_AGENT: &str = concat!("Hookah/", env!("CARGO_PKG_VERSION"));

/// How often recording an outcome re-reads the record after losing a compare-and-swap.
const CAS_ATTEMPTS: usize = 4;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Attempts a job this invocation holds the claim on; returns its new record, or `None` if
    /// the job vanished or another worker took it over meanwhile.
    pub async fn attempt(&self, record: JobRecord) -> Result<Option<JobRecord>, KvError> {
        let State::InFlight { claim, .. } = record.state else {
            return Ok(None);
        };
        let body = if record.body_len > 0 {
            match self.kv.get(&keys::body(&record.id))? {
                Some(body) => body,
                None => return Ok(None),
            }
        } else {
            Vec::new()
        };
        let started = self.clock.now_ms();
        let signing_keys = self.keys_for(&record, started)?;
        let request = outbound_request(&record, body, &signing_keys, started / 1000);
        let sent = self.transport.send(request).await;
        let attempt = attempt_entry(started, sent.duration_ms, &sent.result);
        self.record_outcome(&record.id, claim, attempt, &sent.result).await
    }

    async fn record_outcome(
        &self,
        id: &str,
        claim: u32,
        attempt: Attempt,
        result: &AttemptResult,
    ) -> Result<Option<JobRecord>, KvError> {
        let key = keys::job(id);
        let mut retry_timer = None;
        for _ in 0..CAS_ATTEMPTS {
            let (cas, current) = self.kv.cas_open(&key)?;
            let Some(current) = current.as_deref().and_then(JobRecord::from_bytes) else {
                return Ok(None);
            };
            let now = self.clock.now_ms();
            let decision = transition::decide(&current, result, now, self.config, self.entropy.next_u32());
            if let (Decision::Retry { at }, None) = (&decision, retry_timer) {
                // The retry's timer slot goes in before the record points at it.
                let bucket = keys::timer_bucket(*at, now);
                self.kv.set_many(timers::allocate(self.kv, &[(bucket, id)])?)?;
                retry_timer = Some(bucket);
            }
            let Some(next) = transition::complete(&current, claim, attempt.clone(), &decision, retry_timer) else {
                return Ok(None);
            };
            if self.kv.cas_swap(cas, &next.to_bytes())? {
                return Ok(Some(next));
            }
        }
        Ok(None)
    }
}

/// The request exactly as the receiver gets it, signed with `keys` (Standard Webhooks) at
/// `timestamp` (Unix seconds).
pub fn outbound_request(record: &JobRecord, body: Vec<u8>, keys: &[SigningKey], timestamp: u64) -> OutboundRequest {
    let mut headers = record.headers.clone();
    if !headers.iter().any(|(name, _)| name == "user-agent") {
        headers.push(("user-agent".into(), USER_AGENT.into()));
    }
    headers.push((HEADER_ID.into(), record.id.clone()));
    headers.push((HEADER_TIMESTAMP.into(), timestamp.to_string()));
    // Job ids are generated without dots, so they are always valid webhook ids.
    if let (false, Ok(id)) = (keys.is_empty(), WebhookId::new(&record.id)) {
        headers.push((HEADER_SIGNATURE.into(), signature_header(keys, &id, timestamp as i64, &body)));
    }
    OutboundRequest {
        method: record.method.clone(),
        url: record.url.clone(),
        headers,
        body,
        timeout_ms: record.timeout_ms,
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
