//! `/_hookah/v1/channels/{channel}/…`, `/_hookah/v1/tokens` and the WebSub hub at `/_hookah/hub`.

use super::ApiError;
use super::{only, views, FollowUp, PageQuery, Reply};
use crate::engine::{event_id, token_id, ChannelRequest, Hookah, Principal, SubscriptionRequest, TokenRequest};
use crate::job::JobRecord;
use crate::ports::{Kv, Transport};
use crate::request::{is_event_batch, parse_event_batch, Incoming};
use serde_json::{json, Value};

fn with_follow_up(status: u16, body: &Value, jobs: Vec<JobRecord>) -> Reply {
    let mut reply = Reply::json(status, body);
    if !jobs.is_empty() {
        reply.follow_up = FollowUp::AttemptMany(jobs);
    }
    reply
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("bad_json", format!("the body: {e}")))
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub(super) fn tokens_route(&self, incoming: &Incoming, rest: &[&str]) -> Result<Reply, ApiError> {
        let channels = self.channels();
        match rest {
            [] => {
                only(incoming, "POST")?;
                Ok(Reply::json(201, &views::new_token(&channels.create_token(parse::<TokenRequest>(&incoming.body)?)?)))
            }
            [id] => {
                only(incoming, "DELETE")?;
                channels.revoke_token(&token_id(id)?)?;
                Ok(Reply::json(200, &json!({ "id": id, "revoked": true })))
            }
            _ => Err(ApiError::not_found("no such token route")),
        }
    }

    pub(super) fn channels_route(
        &self,
        principal: &Principal,
        incoming: &Incoming,
        query: &str,
        channel: &str,
        rest: &[&str],
    ) -> Result<Reply, ApiError> {
        let method = incoming.method.to_ascii_uppercase();
        let channels = self.channels();
        match (rest, method.as_str()) {
            ([], "PUT") => {
                let record = channels.set_channel(channel, parse::<ChannelRequest>(&incoming.body)?)?;
                Ok(Reply::json(200, &views::channel(&record)))
            }
            ([], "GET") => Ok(Reply::json(200, &views::channel(&channels.channel_record(channel)?))),
            ([], _) => Err(ApiError::method_not_allowed("GET, PUT")),
            (["events"], _) => {
                only(incoming, "POST")?;
                if incoming.header("hookah-flow-key").is_some() {
                    // Each delivery's flow is its subscription's.
                    let message = "a channel's deliveries each take their subscription's flow key: Hookah-Flow-Key does not apply";
                    return Err(ApiError::bad_request("flow_key_not_allowed", message));
                }
                let Some(event_type) = incoming.header("hookah-event-type") else {
                    if is_event_batch(&incoming.body) {
                        return self.publish_batch_route(channel, incoming);
                    }
                    let message = "send the event type in Hookah-Event-Type, or a JSON array of events";
                    return Err(ApiError::bad_request("bad_event_type", message));
                };
                let headers: Vec<(String, String)> = incoming
                    .header("content-type")
                    .map(|ct| vec![("content-type".to_string(), ct.to_string())])
                    .unwrap_or_default();
                let (event, jobs) = channels.publish(channel, event_type.trim(), headers, incoming.body.clone())?;
                Ok(with_follow_up(202, &views::event(&event), jobs))
            }
            (["events", id], _) => {
                only(incoming, "GET")?;
                Ok(Reply::json(200, &views::event(&channels.find_event(channel, &event_id(id)?)?)))
            }
            (["subscriptions", rest @ ..], _) => self.subscriptions_route(principal, incoming, query, channel, rest),
            _ => Err(ApiError::not_found("no such channel route")),
        }
    }

    /// A batch of events (a JSON array, without `Hookah-Event-Type`): answers
    /// `202 {"events": [<event>, …]}` in batch order, each what a single publish answers, and
    /// leaves the first attempts of a small fan-out for after the answer.
    fn publish_batch_route(&self, channel: &str, incoming: &Incoming) -> Result<Reply, ApiError> {
        let events = parse_event_batch(&incoming.body, self.config)?;
        let published = self.channels().publish_batch(channel, events)?;
        let views: Vec<Value> = published.events.iter().map(views::event).collect();
        let mut reply = Reply::json(202, &json!({ "events": views }));
        if !published.attempt.is_empty() {
            reply.follow_up = FollowUp::FirstAttempts(published.attempt);
        }
        Ok(reply)
    }

    fn subscriptions_route(
        &self,
        principal: &Principal,
        incoming: &Incoming,
        query: &str,
        channel: &str,
        rest: &[&str],
    ) -> Result<Reply, ApiError> {
        let method = incoming.method.to_ascii_uppercase();
        let channels = self.channels();
        match (rest, method.as_str()) {
            ([], "POST") => {
                let request = SubscriptionRequest::parse(&incoming.body)?;
                let (created, verification) = channels.create_subscription(principal, channel, request)?;
                Ok(with_follow_up(201, &views::new_subscription(&created), verification.into_iter().collect()))
            }
            ([], "GET") => {
                let PageQuery { limit, cursor, .. } = PageQuery::parse(query, false)?;
                let page = channels.list_subscriptions(principal, channel, limit, cursor)?;
                Ok(Reply::json(200, &views::subscription_page(&page)))
            }
            ([], _) => Err(ApiError::method_not_allowed("GET, POST")),
            ([id], "GET") => {
                Ok(Reply::json(200, &views::subscription(&channels.find_subscription(principal, channel, id, false)?)))
            }
            ([id], "PATCH") => {
                let request = SubscriptionRequest::parse(&incoming.body)?;
                let (updated, verification) = channels.update_subscription(principal, channel, id, request)?;
                Ok(with_follow_up(200, &views::subscription(&updated), verification.into_iter().collect()))
            }
            ([id], "DELETE") => {
                channels.delete_subscription(principal, channel, id)?;
                Ok(Reply::json(200, &json!({ "id": id, "deleted": true })))
            }
            ([_], _) => Err(ApiError::method_not_allowed("GET, PATCH, DELETE")),
            ([id, "rotate"], _) => {
                only(incoming, "POST")?;
                let rotated = channels.rotate_subscription_secret(principal, channel, id, &incoming.body)?;
                Ok(Reply::json(200, &views::rotated_subscription(&rotated)))
            }
            ([id, "enable"], _) => {
                only(incoming, "POST")?;
                let (enabled, verification) = channels.enable_subscription(principal, channel, id)?;
                Ok(with_follow_up(200, &views::subscription(&enabled), verification.into_iter().collect()))
            }
            _ => Err(ApiError::not_found("no such subscription route")),
        }
    }

    pub(super) async fn hub_route(
        &self,
        incoming: &Incoming,
        principal: Option<&Principal>,
    ) -> Result<Reply, ApiError> {
        let hub_url = incoming
            .header("spin-full-url")
            .map(|url| url.split('?').next().unwrap_or(url).to_string())
            .unwrap_or_else(|| format!("http://{}/_hookah/hub", incoming.header("host").unwrap_or("localhost")));
        let outcome = self.hub().handle(principal, &hub_url, &incoming.body).await?;
        Ok(with_follow_up(202, &views::hub(&outcome.done), outcome.attempt))
    }
}
