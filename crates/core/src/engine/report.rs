//! Asynchronous response webhooks: when a job ends (or after each attempt, if asked), a report
//! goes to its callback URL as a job of its own, stored, signed and retried like any delivery,
//! created with the outcome. A report never asks for a report (`is_report`), so reports cannot
//! loop.

use super::attempt::encode_body;
use super::Hookah;
use crate::ids::JobId;
use crate::job::view::{public_state, rfc3339};
use crate::job::{AttemptError, JobRecord};
use crate::ports::{Kv, KvError, Sent, Transport};
use serde::Serialize;

/// The body of a report: a message Hookah delivers, not an API answer. Fields keep the order
/// the body always had; it is written through a `serde_json::Value`, as it always was.
#[derive(Debug, Serialize)]
struct Report<'a> {
    #[serde(rename = "type")]
    event: &'a str,
    job_id: &'a JobId,
    target: &'a str,
    state: &'static str,
    attempt_count: usize,
    finished_at: Option<String>,
    last_attempt: Option<LastAttempt<'a>>,
    last_response: Option<LastResponse<'a>>,
}

#[derive(Debug, Serialize)]
struct LastAttempt<'a> {
    at: String,
    duration_ms: u64,
    status: Option<u16>,
    error: Option<AttemptError>,
    message: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct LastResponse<'a> {
    status: Option<u16>,
    headers: &'a [(String, String)],
    body: String,
    body_encoding: &'static str,
    truncated: bool,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Sends the report `job`'s callback asked for, now that it changed to its current state.
    pub(crate) fn report_if_asked(&self, job: &JobRecord, sent: Option<&Sent>) -> Result<(), KvError> {
        let Some(callback) = job.callback.as_ref().filter(|_| !job.is_report) else {
            return Ok(());
        };
        let ended = job.state.finished_at().is_some();
        if !ended && !callback.attempts {
            return Ok(());
        }
        let body = self.report_body(job, sent, if ended { "job.ended" } else { "job.attempted" });
        let now = self.clock.now_ms();
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let mut report = self.new_record("POST", callback.url.clone(), headers, now);
        report.is_report = true;
        report.signing_key = job.signing_key.clone();
        let body = serde_json::json!(body).to_string().into_bytes();
        report.body_len = body.len() as u64;
        report.body_sha256 = crate::digest::sha256_hex(&body);
        self.store(&report, body, Vec::new())
    }

    fn report_body<'a>(&self, job: &'a JobRecord, sent: Option<&'a Sent>, event: &'a str) -> Report<'a> {
        let last = job.attempts.last();
        let last_response = sent.and_then(|s| s.response.as_ref()).map(|response| {
            let cut = response.body.len().min(self.config.callback_body_bytes);
            let (body, base64) = encode_body(&response.body[..cut]);
            LastResponse {
                status: last.and_then(|a| a.status),
                headers: &response.headers,
                body,
                body_encoding: if base64 { "base64" } else { "utf8" },
                truncated: response.truncated || cut < response.body.len(),
            }
        });
        Report {
            event,
            job_id: &job.id,
            target: &job.url,
            state: public_state(&job.state),
            attempt_count: job.attempts.len(),
            finished_at: job.state.finished_at().map(rfc3339),
            last_attempt: last.map(|a| LastAttempt {
                at: rfc3339(a.at),
                duration_ms: a.duration_ms,
                status: a.status,
                error: a.error,
                message: a.message.as_deref(),
            }),
            last_response,
        }
    }
}
