//! Inline (blocking) mode: the first attempt happens before the answer, and the answer is the
//! receiver's own (or a 502/504 for a transport failure). The job was stored first all the same,
//! and a failed attempt leaves it retrying in the background.

use super::ApiError;
use super::Reply;
use crate::delivery::{AttemptResult, TransportError};
use crate::engine::{AttemptOptions, Hookah};
use crate::error::Error;
use crate::job::view::public_state;
use crate::job::JobRecord;
use crate::ports::{Kv, Transport};
use crate::request::headers::HOP_BY_HOP;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub(super) async fn sync_attempt(&self, record: JobRecord, wait_ms: Option<u64>) -> Result<Reply, ApiError> {
        let id = record.id.clone();
        let options = AttemptOptions { capture_bytes: self.config.max_body_bytes, timeout_ms: wait_ms };
        let attempted = self.attempt_with(record, options).await?;
        let state = attempted.record.as_ref().map_or("pending", |job| public_state(&job.state));
        let mut hookah_headers =
            vec![("hookah-job-id".to_string(), id.to_string()), ("hookah-job-state".to_string(), state.to_string())];
        if state == "pending" {
            hookah_headers.push(("hookah-retrying".into(), "true".into()));
        }
        let Some(sent) = attempted.sent else {
            return Err(Error::conflict("conflict", "another worker took the job over").into());
        };
        let mut reply = match (&sent.result, sent.response) {
            (AttemptResult::Response { status, .. }, Some(response)) => {
                let mut headers: Vec<(String, String)> = response
                    .headers
                    .into_iter()
                    .filter(|(name, _)| {
                        let name = name.to_ascii_lowercase();
                        name != "content-length" && !HOP_BY_HOP.contains(&name.as_str())
                    })
                    .collect();
                if response.truncated {
                    headers.push(("hookah-response-truncated".into(), "true".into()));
                }
                Reply { status: *status, headers, body: response.body, follow_up: super::FollowUp::Nothing }
            }
            (AttemptResult::Failed { error: TransportError::Timeout, message }, _) => Reply::error(&ApiError::new(
                504,
                "upstream_timeout",
                format!("the receiver did not answer in time ({message}); the job keeps retrying"),
            )),
            (AttemptResult::Failed { message, .. }, _) => Reply::error(&ApiError::new(
                502,
                "upstream_unreachable",
                format!("the receiver could not be reached ({message}); the job keeps retrying"),
            )),
            (AttemptResult::Response { status, .. }, None) => {
                Reply { status: *status, headers: Vec::new(), body: Vec::new(), follow_up: super::FollowUp::Nothing }
            }
        };
        reply.headers.extend(hookah_headers);
        Ok(reply)
    }
}
