//! `/_hookah/v1/jobs`: a job, its attempts, listing by state, retry, cancel and bulk replay.

use super::ApiError;
use super::{only, views, FollowUp, PageQuery, Reply};
use crate::engine::{check_list_state, Hookah, ReplayFilter};
use crate::job::AttemptDetail;
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, Transport};
use crate::request::Incoming;
use serde_json::json;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub(super) fn jobs_route(&self, incoming: &Incoming, query: &str, rest: &[&str]) -> Result<Reply, ApiError> {
        let method = incoming.method.to_ascii_uppercase();
        match (rest, method.as_str()) {
            ([], "GET") => self.list_route(query),
            ([], _) => Err(ApiError::method_not_allowed("GET")),
            (["retry"], _) => {
                only(incoming, "POST")?;
                let filter: ReplayFilter = serde_json::from_slice(&incoming.body)
                    .map_err(|e| ApiError::bad_request("bad_json", format!("the body: {e}")))?;
                Ok(Reply::json(200, &json!(self.jobs().replay(&filter)?)))
            }
            ([id], "GET") => Ok(Reply::json(200, &views::job(&self.find_job(id)?))),
            ([id], "DELETE") => {
                let job = self.find_job(id)?;
                Ok(Reply::json(200, &views::job(&self.jobs().cancel_job(&job.id)?)))
            }
            ([_], _) => Err(ApiError::method_not_allowed("GET, DELETE")),
            ([id, "attempts"], _) => {
                only(incoming, "GET")?;
                self.attempts_route(id)
            }
            ([id, "retry"], _) => {
                only(incoming, "POST")?;
                let job = self.find_job(id)?;
                let record = self.jobs().retry_job(&job.id)?;
                let mut reply = Reply::json(202, &views::job(&record));
                reply.follow_up = FollowUp::Attempt(Box::new(record));
                Ok(reply)
            }
            _ => Err(ApiError::not_found("no such job route")),
        }
    }

    fn list_route(&self, query: &str) -> Result<Reply, ApiError> {
        let PageQuery { limit, cursor, state } = PageQuery::parse(query, true)?;
        let state = state.ok_or_else(|| ApiError::bad_request("bad_filter", "name a state"))?;
        check_list_state(&state)?;
        let state = state.as_str();
        let page = self.jobs().list(state, limit, cursor)?;
        let data: Vec<_> = page.jobs.iter().map(views::job).collect();
        Ok(Reply::json(200, &json!({ "data": data, "next_cursor": page.next.map(|c| c.to_string()) })))
    }

    fn attempts_route(&self, id: &str) -> Result<Reply, ApiError> {
        let job = self.find_job(id)?;
        let spilled: Vec<_> = (1..job.attempts.len()).map(|n| keys::attempt_detail(&job.id, n)).collect();
        let mut details: Vec<Option<AttemptDetail>> = self.kv.load_many(&spilled)?;
        details.push(None);
        if let Some(last) = &job.last_detail {
            if let Some(slot) = last.n.checked_sub(1).and_then(|i| details.get_mut(i)) {
                *slot = Some(last.clone());
            }
        }
        let attempts: Vec<_> = job
            .attempts
            .iter()
            .zip(&details)
            .enumerate()
            .map(|(i, (attempt, detail))| views::attempt(i + 1, attempt, detail.as_ref()))
            .collect();
        Ok(Reply::json(200, &json!({ "job_id": job.id, "data": attempts })))
    }
}
