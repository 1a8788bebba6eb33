//! Asynchronous response webhooks: when a job ends (or after each attempt, if asked), a report
//! goes to its callback URL as a job of its own, stored, signed and retried like any delivery.
//! A report never asks for a report, so reports cannot loop.

use super::attempt::encode_body;
use super::Hookah;
use crate::job::view::{public_state, rfc3339};
use crate::job::JobRecord;
use crate::ports::{Kv, KvError, Sent, Transport};
use serde_json::{json, Value};

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
        let body = body.to_string().into_bytes();
        report.body_len = body.len() as u64;
        report.body_sha256 = crate::digest::sha256_hex(&body);
        self.store(&report, body, Vec::new())
    }

    fn report_body(&self, job: &JobRecord, sent: Option<&Sent>, event: &str) -> Value {
        let last = job.attempts.last();
        let response = sent.and_then(|s| s.response.as_ref()).map(|response| {
            let cut = response.body.len().min(self.config.callback_body_bytes);
            let (body, base64) = encode_body(&response.body[..cut]);
            json!({
                "status": last.and_then(|a| a.status),
                "headers": response.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                "body": body,
                "body_encoding": if base64 { "base64" } else { "utf8" },
                "truncated": response.truncated || cut < response.body.len(),
            })
        });
        json!({
            "type": event,
            "job_id": job.id,
            "target": job.url,
            "state": public_state(&job.state),
            "attempt_count": job.attempts.len(),
            "finished_at": job.state.finished_at().map(rfc3339),
            "last_attempt": last.map(|a| json!({
                "at": rfc3339(a.at),
                "duration_ms": a.duration_ms,
                "status": a.status,
                "error": a.error,
                "message": a.message,
            })),
            "last_response": response,
        })
    }
}
