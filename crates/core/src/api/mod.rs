//! Routing: everything under `/_hookah/` is Hookah's own API (no host name starts with `_`);
//! every other path is a webhook call to accept.

mod jobs;
mod keys;
mod sync;
mod verify;

use crate::auth::check_bearer;
use crate::engine::{Accepted, Hookah};
use crate::error::ApiError;
use crate::ids::is_job_id;
use crate::job::{view, JobRecord, State};
use crate::ports::{Kv, Transport};
use crate::request::{parse_submission, Incoming};
use serde_json::{json, Value};

/// An answer, and what the invocation does after it has gone out.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub follow_up: FollowUp,
}

#[derive(Debug)]
pub enum FollowUp {
    Nothing,
    /// Make the first attempt of a job this invocation just stored, claimed.
    Attempt(Box<JobRecord>),
}

impl Reply {
    pub fn json(status: u16, value: &Value) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
            follow_up: FollowUp::Nothing,
        }
    }

    pub fn error(error: &ApiError) -> Self {
        Reply {
            status: error.status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: error.body(),
            follow_up: FollowUp::Nothing,
        }
    }
}

const API_PREFIX: &str = "/_hookah";

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Answers one request. Errors become their JSON answer here and nowhere else.
    pub async fn handle(&self, incoming: Incoming) -> Reply {
        match self.route(incoming).await {
            Ok(reply) => reply,
            Err(error) => Reply::error(&error),
        }
    }

    async fn route(&self, incoming: Incoming) -> Result<Reply, ApiError> {
        let (path, query) = match incoming.path_and_query.split_once('?') {
            Some((path, query)) => (path.to_string(), query.to_string()),
            None => (incoming.path_and_query.clone(), String::new()),
        };
        // Public routes: receivers call these without the API token.
        match path.as_str() {
            "/_hookah/health" => {
                only(&incoming, "GET")?;
                return Ok(Reply::json(200, &json!({ "status": "ok" })));
            }
            "/_hookah/verify" => {
                only(&incoming, "POST")?;
                return self.verify_route(&incoming, &query);
            }
            _ => {}
        }
        if let Some(id) = path.strip_prefix("/_hookah/public-keys/") {
            only(&incoming, "GET")?;
            return Ok(Reply::json(200, &self.public_keys(id)?));
        }
        check_bearer(&self.config.api_token, incoming.header("authorization"))?;
        let Some(api_path) = path.strip_prefix(API_PREFIX).filter(|rest| rest.is_empty() || rest.starts_with('/'))
        else {
            return self.dispatch(incoming).await;
        };
        let segments: Vec<&str> = api_path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            ["v1", "sweep"] => {
                only(&incoming, "POST")?;
                let report = self.sweep().await.map_err(ApiError::storage)?;
                Ok(Reply::json(200, &json!(report)))
            }
            ["v1", "jobs", rest @ ..] => self.jobs_route(&incoming, &query, rest),
            ["v1", "keys", rest @ ..] => self.keys_route(&incoming, rest),
            _ => Err(ApiError::not_found(format!("no API route {path}"))),
        }
    }

    async fn dispatch(&self, incoming: Incoming) -> Result<Reply, ApiError> {
        let submission = parse_submission(incoming, self.config)?;
        let (sync, wait_ms) = (submission.control.sync, submission.control.wait_ms);
        let Accepted { record, replayed } = self.accept(submission)?;
        if sync && !replayed {
            return self.sync_attempt(record, wait_ms).await;
        }
        let mut reply = Reply::json(202, &view::accepted(&record));
        reply.headers.push(("location".into(), format!("{API_PREFIX}/v1/jobs/{}", record.id)));
        if replayed {
            reply.headers.push(("idempotent-replayed".into(), "true".into()));
        } else if matches!(record.state, State::InFlight { .. }) {
            reply.follow_up = FollowUp::Attempt(Box::new(record));
        }
        Ok(reply)
    }

    pub(crate) fn find_job(&self, id: &str) -> Result<JobRecord, ApiError> {
        let missing = || ApiError::not_found(format!("no job {id}"));
        if !is_job_id(id) {
            return Err(missing());
        }
        self.load_job(id).map_err(ApiError::storage)?.ok_or_else(missing)
    }

    /// Carries out what a reply left to do, after the answer has gone out.
    pub async fn follow_up(&self, follow_up: FollowUp) {
        if let FollowUp::Attempt(record) = follow_up {
            // A failure here is recovered by a sweep when the claim's lease ends.
            let _ = self.attempt(*record).await;
        }
    }
}

pub(crate) fn only(incoming: &Incoming, method: &str) -> Result<(), ApiError> {
    if incoming.method.eq_ignore_ascii_case(method) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(method))
    }
}
