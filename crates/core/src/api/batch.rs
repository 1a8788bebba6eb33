//! `POST /_hookah/v1/batch`: many calls in one request, stored all or nothing
//! (`request/batch.rs` parses, `engine/batch.rs` stores and attempts).

use super::{only, views, ApiError, FollowUp, Reply};
use crate::engine::{Held, Hookah};
use crate::job::State;
use crate::ports::{Kv, Transport};
use crate::request::{parse_batch, Incoming};
use serde_json::json;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Answers `202 {"jobs": [{"id","state","target"}, …]}` in call order, and leaves the first
    /// attempts of the jobs it stored claimed for after the answer.
    pub(super) fn batch_route(&self, incoming: Incoming) -> Result<Reply, ApiError> {
        only(&incoming, "POST")?;
        let calls = parse_batch(&incoming.body, self.config)?;
        let bodies: Vec<Vec<u8>> = calls.iter().map(|call| call.body.clone()).collect();
        let accepted = self.accept_batch(calls)?;
        let jobs: Vec<_> = accepted.iter().map(|accepted| views::accepted(&accepted.record)).collect();
        let mut reply = Reply::json(202, &json!({ "jobs": jobs }));
        let first: Vec<_> = accepted
            .into_iter()
            .zip(bodies)
            .filter(|(accepted, _)| !accepted.replayed && matches!(accepted.record.state, State::InFlight { .. }))
            .map(|(accepted, body)| (accepted.record, Held { body, slot: accepted.slot }))
            .collect();
        if !first.is_empty() {
            reply.follow_up = FollowUp::FirstAttempts(first);
        }
        Ok(reply)
    }
}
