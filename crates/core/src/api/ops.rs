//! Operators' routes: `/_hookah/health` (public), `/_hookah/openapi.json` (public: the committed
//! `openapi.json`, compiled in with `include_str!`), `/_hookah/v1/stats` and
//! `/_hookah/metrics` (the API token or `metrics_token`), and `/_hookah/v1/sweep/{sweep_token}`
//! (the sweep token alone).

use super::ApiError;
use super::{only, views, Reply};
use crate::auth::{check_bearer, same_secret};
use crate::engine::{Hookah, Principal};
use crate::error::Error;
use crate::ports::{Kv, Transport};
use crate::request::Incoming;
use crate::stats::prometheus;
use serde_json::json;

/// The API described, served as it is committed (`openapi.json` at the repository's root).
pub(crate) const OPENAPI: &str = include_str!("../../../../openapi.json");

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Cheap and public: one bounded read of the timer index doubles as the store probe (plus a
    /// listing of the keys when the store is capped).
    pub(super) fn health_route(&self) -> Reply {
        let now = self.clock.now_ms();
        let probe = self.backlog(now).and_then(|backlog| Ok((backlog, self.store_room()?)));
        let (reason, lag_ms, room) = match probe {
            Ok((backlog, room)) => {
                let lag = backlog.lag_ms(now);
                let late = (lag > self.config.health_max_lag_ms)
                    .then(|| format!("sweep lag {}s exceeds {}s", lag / 1000, self.config.health_max_lag_ms / 1000));
                let full = room.filter(|room| room.near_full).map(|room| {
                    format!(
                        "the store is near full: {} of {} keys (store_max_keys), {} once its {} jobs have run their course",
                        room.keys, room.max_keys, room.projected_keys, room.jobs
                    )
                });
                (late.or(full), Some(lag), room)
            }
            Err(_) => (Some("the key-value store failed a probe read".to_string()), None, None),
        };
        let mut body = match reason {
            None => json!({ "status": "ok", "sweep_lag_ms": lag_ms }),
            Some(reason) => json!({ "status": "degraded", "reason": reason, "sweep_lag_ms": lag_ms }),
        };
        if let Some(room) = room {
            body["store"] = json!(room);
        }
        Reply::json(200, &body)
    }

    /// `GET`/`POST /_hookah/v1/sweep/{sweep_token}`: a sweep, for a scheduler that cannot send
    /// headers. Only the sweep token opens it, and it opens nothing else. It passes the sweep
    /// gate before answering, so callers start at most one sweep a second
    /// (`engine/sweep/passing.rs`); the sweep runs after the answer.
    pub(super) fn sweep_token_route(&self, incoming: &Incoming, presented: &str) -> Result<Reply, ApiError> {
        let configured = &self.config.sweep_token;
        if configured.is_empty() {
            return Err(ApiError::not_found("no API route here: the sweep_token variable is not set"));
        }
        if !same_secret(presented, configured) {
            return Err(Error::unauthenticated("the sweep token in the path is not the configured one").into());
        }
        if !["GET", "POST"].iter().any(|method| incoming.method.eq_ignore_ascii_case(method)) {
            return Err(ApiError::method_not_allowed("GET or POST"));
        }
        let skipped = |reason: &str| Reply::json(200, &json!({ "sweep": "skipped", "reason": reason }));
        let Some(budget) = self.passing_budget(0) else {
            return Ok(skipped("request_budget leaves no time for a sweep after one delivery's timeout"));
        };
        if !self.open_sweep_gate()? {
            return Ok(skipped("a sweep started this second"));
        }
        let mut reply = Reply::json(202, &json!({ "sweep": "started", "budget_ms": budget }));
        reply.follow_up = super::FollowUp::Sweep;
        Ok(reply)
    }

    pub(super) fn openapi_route(&self) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: OPENAPI.as_bytes().to_vec(),
            follow_up: super::FollowUp::Nothing,
        }
    }

    pub(super) fn stats_route(&self, incoming: &Incoming) -> Result<Reply, ApiError> {
        only(incoming, "GET")?;
        let snapshot = self.stats_snapshot()?;
        Ok(Reply::json(200, &views::stats(&snapshot)))
    }

    /// The API token, or the metrics token when one is set, so a scraper holds no more than it
    /// needs.
    pub(super) fn metrics_route(&self, incoming: &Incoming) -> Result<Reply, ApiError> {
        only(incoming, "GET")?;
        let authorization = incoming.header("authorization");
        let metrics_token_ok =
            !self.config.metrics_token.is_empty() && check_bearer(&self.config.metrics_token, authorization).is_ok();
        if !metrics_token_ok && !matches!(self.authorize(authorization)?, Principal::App) {
            return Err(Error::forbidden("metrics need the API token or the metrics token").into());
        }
        let snapshot = self.stats_snapshot()?;
        Ok(Reply {
            status: 200,
            headers: vec![("content-type".into(), prometheus::CONTENT_TYPE.into())],
            body: prometheus::render(&snapshot).into_bytes(),
            follow_up: super::FollowUp::Nothing,
        })
    }
}
