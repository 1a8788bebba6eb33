//! Routing: everything under `/_hookah/` is Hookah's own API (no host name starts with `_`);
//! every other path is a webhook call to accept.

mod batch;
mod channels;
mod error;
mod flows;
mod jobs;
mod keys;
mod ops;
mod sync;
mod ui;
mod verify;
mod views;

pub use error::ApiError;

use crate::engine::{Accepted, Hookah, Principal};
use crate::error::Error;
use crate::ids::JobId;
use crate::job::{JobRecord, State};
use crate::ports::{Kv, Transport};
use crate::request::{parse_submission, Incoming};
use crate::stats::log::AttemptLog;
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
    /// Make the next attempt of a job this invocation holds the claim on.
    Attempt(Box<JobRecord>),
    /// Make the first attempt of a job this invocation just stored, claimed, with what it still
    /// holds: the body (not read back) and the job's timer slot.
    FirstAttempt(Box<JobRecord>, crate::engine::Held),
    /// The first attempts of a batch's jobs (`POST /_hookah/v1/batch`, or a batch of events'
    /// small fan-out), `sweep_concurrency` at once, each started only while it can end inside the
    /// invocation's `request_budget`: the rest are left to the sweep.
    FirstAttempts(Vec<(JobRecord, crate::engine::Held)>),
    /// The same for several jobs at once (a small fan-out).
    AttemptMany(Vec<JobRecord>),
    /// Only log lines to print (an HTTP-triggered sweep's).
    Log(Vec<String>),
    /// A sweep in what the invocation's `request_budget` leaves (the sweep token's route, which
    /// has already passed the sweep gate).
    Sweep,
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
                return Ok(self.health_route());
            }
            "/_hookah/openapi.json" => {
                only(&incoming, "GET")?;
                return Ok(self.openapi_route());
            }
            // Its own check: a separate metrics token may read it.
            "/_hookah/metrics" => return self.metrics_route(&incoming),
            "/_hookah/verify" => {
                only(&incoming, "POST")?;
                return self.verify_route(&incoming, &query);
            }
            _ => {}
        }
        // Its own credential, in the path: for schedulers that cannot send headers.
        if let Some(token) = path.strip_prefix("/_hookah/v1/sweep/") {
            return self.sweep_token_route(&incoming, token);
        }
        if let Some(rest) = path.strip_prefix("/_hookah/ui").filter(|rest| rest.is_empty() || rest.starts_with('/')) {
            only(&incoming, "GET")?;
            return ui::ui_file(rest);
        }
        if let Some(id) = path.strip_prefix("/_hookah/public-keys/") {
            only(&incoming, "GET")?;
            let id = crate::engine::key_id(id)?;
            let public_keys = self.keyring().public_keys(&id)?;
            return Ok(Reply::json(200, &json!({ "id": id, "public_keys": public_keys })));
        }
        if path == "/_hookah/hub" {
            only(&incoming, "POST")?;
            let principal = self.authorize(incoming.header("authorization")).ok();
            return self.hub_route(&incoming, principal.as_ref()).await;
        }
        let principal = self.authorize(incoming.header("authorization"))?;
        let api_path = path.strip_prefix(API_PREFIX).filter(|rest| rest.is_empty() || rest.starts_with('/'));
        let segments: Vec<&str> = api_path.unwrap_or_default().split('/').filter(|s| !s.is_empty()).collect();
        // A user's scoped token reaches its channel's subscriptions and nothing else.
        let subscriptions_route = matches!(segments.as_slice(), ["v1", "channels", _, "subscriptions", ..]);
        if matches!(principal, Principal::Scoped(_)) && !subscriptions_route {
            return Err(Error::forbidden("a scoped token only manages its channel's subscriptions").into());
        }
        if api_path.is_none() {
            return self.dispatch(incoming).await;
        }
        match segments.as_slice() {
            ["v1", "sweep"] => {
                only(&incoming, "POST")?;
                let report = self.scheduled_sweep().await?;
                let mut reply = Reply::json(200, &json!(report));
                reply.follow_up = FollowUp::Log(report.log_lines(self.clock.now_ms()));
                Ok(reply)
            }
            ["v1", "stats"] => self.stats_route(&incoming),
            ["v1", "batch"] => self.batch_route(incoming),
            ["v1", "jobs", rest @ ..] => self.jobs_route(&incoming, &query, rest),
            ["v1", "keys", rest @ ..] => self.keys_route(&incoming, rest),
            ["v1", "tokens", rest @ ..] => self.tokens_route(&incoming, rest),
            ["v1", "channels"] => {
                only(&incoming, "GET")?;
                let PageQuery { limit, cursor, .. } = PageQuery::parse(&query, false)?;
                Ok(Reply::json(200, &views::channel_page(&self.channels().list_channels(limit, cursor)?)))
            }
            ["v1", "channels", channel, rest @ ..] => self.channels_route(&principal, &incoming, &query, channel, rest),
            ["v1", "flows", rest @ ..] => self.flows_route(&incoming, &query, rest),
            _ => Err(ApiError::not_found(format!("no API route {path}"))),
        }
    }

    async fn dispatch(&self, incoming: Incoming) -> Result<Reply, ApiError> {
        let submission = parse_submission(incoming, self.config)?;
        let (sync, wait_ms) = (submission.control.sync, submission.control.wait_ms);
        let body = submission.body.clone();
        let Accepted { record, replayed, slot } = self.accept(submission)?;
        if sync && !replayed {
            return self.sync_attempt(record, wait_ms).await;
        }
        let mut reply = Reply::json(202, &views::accepted(&record));
        reply.headers.push(("location".into(), format!("{API_PREFIX}/v1/jobs/{}", record.id)));
        if replayed {
            reply.headers.push(("idempotent-replayed".into(), "true".into()));
        } else if matches!(record.state, State::InFlight { .. }) {
            let held = crate::engine::Held { body, slot };
            reply.follow_up = FollowUp::FirstAttempt(Box::new(record), held);
        }
        Ok(reply)
    }

    /// The job a path segment names; a segment not shaped like a job id is as unknown as a
    /// missing job.
    pub(crate) fn find_job(&self, id: &str) -> Result<JobRecord, ApiError> {
        let missing = || ApiError::not_found(format!("no job {id}"));
        let id = JobId::parse(id).ok_or_else(missing)?;
        self.jobs().find(&id)?.ok_or_else(missing)
    }

    /// What an invocation does once its answer (of `status`) has gone out, `started_ms` being
    /// when it began: the reply's follow-up, then a sweep in passing (`engine/sweep/passing.rs`)
    /// unless the follow-up was a sweep or the answer an error (bad input stores nothing, not
    /// even a sweep's bookkeeping). Returns the log lines for the component to print.
    pub async fn after_answer(&self, follow_up: FollowUp, status: u16, started_ms: u64) -> Vec<String> {
        let swept = matches!(follow_up, FollowUp::Sweep | FollowUp::Log(_));
        let mut lines = self.follow_up_since(follow_up, started_ms).await;
        if !swept && status < 400 {
            let elapsed = self.clock.now_ms().saturating_sub(started_ms);
            // A failed sweep leaves its work to the next one; its error has nowhere to go.
            if let Ok(Some(report)) = self.sweep_in_passing(elapsed).await {
                lines.extend(report.log_lines(self.clock.now_ms()));
            }
        }
        lines
    }

    /// Carries out what a reply left to do, after the answer has gone out, in an invocation that
    /// begins now; returns the log lines (one per attempt) for the component to print.
    pub async fn follow_up(&self, follow_up: FollowUp) -> Vec<String> {
        self.follow_up_since(follow_up, self.clock.now_ms()).await
    }

    /// [`Self::follow_up`] in an invocation that began at `started_ms`: work that must end
    /// inside the host's request time limit fits in what `request_budget` leaves of it.
    async fn follow_up_since(&self, follow_up: FollowUp, started_ms: u64) -> Vec<String> {
        // A failure here is recovered by a sweep when the claims' leases end.
        let outcomes = match follow_up {
            FollowUp::Nothing => Vec::new(),
            FollowUp::Log(lines) => return lines,
            FollowUp::Sweep => {
                let elapsed = self.clock.now_ms().saturating_sub(started_ms);
                let Some(budget) = self.passing_budget(elapsed) else { return Vec::new() };
                let report = self.sweep_for(budget).await;
                return report.map(|report| report.log_lines(self.clock.now_ms())).unwrap_or_default();
            }
            FollowUp::Attempt(record) => vec![self.attempt(*record).await],
            FollowUp::FirstAttempt(record, held) => vec![self.first_attempt(*record, held).await],
            FollowUp::FirstAttempts(jobs) => {
                self.first_attempts(jobs, started_ms + self.config.request_budget_ms).await
            }
            FollowUp::AttemptMany(records) => {
                futures::future::join_all(records.into_iter().map(|record| self.attempt(record))).await
            }
        };
        outcomes.into_iter().filter_map(|outcome| AttemptLog::of(&outcome.ok()??)).map(|log| log.line()).collect()
    }
}

/// Items one listing page returns at most.
const MAX_PAGE: usize = 200;

/// The query of a listing: `limit` (1–200, default 50), `cursor`, and `state` where allowed.
pub(crate) struct PageQuery {
    pub(crate) limit: usize,
    pub(crate) cursor: Option<u64>,
    pub(crate) state: Option<String>,
}

impl PageQuery {
    pub(crate) fn parse(query: &str, with_state: bool) -> Result<Self, ApiError> {
        let mut page = PageQuery { limit: 50, cursor: None, state: None };
        for (name, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            let number = || {
                value.parse::<u64>().map_err(|_| ApiError::bad_request("bad_query", format!("{name} must be a number")))
            };
            match name {
                "limit" => page.limit = number()? as usize,
                "cursor" => page.cursor = Some(number()?),
                "state" if with_state => page.state = Some(value.to_string()),
                _ => return Err(ApiError::bad_request("bad_query", format!("unknown parameter `{name}`"))),
            }
        }
        if !(1..=MAX_PAGE).contains(&page.limit) {
            return Err(ApiError::bad_request("bad_query", format!("limit must be 1 to {MAX_PAGE}")));
        }
        Ok(page)
    }
}

pub(crate) fn only(incoming: &Incoming, method: &str) -> Result<(), ApiError> {
    if incoming.method.eq_ignore_ascii_case(method) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(method))
    }
}
