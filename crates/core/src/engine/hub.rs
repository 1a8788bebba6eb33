//! The W3C WebSub hub on top of channels: a topic is a channel (`websub.<hash>`), a subscriber is
//! a subscription with a lease and an optional `hub.secret`, and publishing fetches the topic and
//! fans its content out through the same durable jobs. Intent is always verified, by a GET the
//! callback must answer by echoing `hub.challenge`. The protocol's pure pieces are in `websub/`.
//!
//! - `websub:{hash}` (of callback and topic) finds a subscriber's subscription again.
//! - A re-subscription waits beside the live subscription (`renewal`) and replaces its secret and
//!   lease only when that verification succeeds; a failed one leaves it as it was.
//! - Deliveries add `Link` and, with a secret, `X-Hub-Signature`.

use super::fence::{self, Turn};
use super::sub_list::subscription_log;
use super::tokens::Principal;
use super::Hookah;
use crate::channels::record::{SubscriptionRecord, WebSubLease, RECORD_VERSION};
use crate::delivery::AttemptResult;
use crate::digest::sha256_hex;
use crate::error::Error;
use crate::ids::EventId;
use crate::ids::{SubscriptionId, ID_RANDOM_BYTES};
use crate::job::{transition, JobRecord};
use crate::keyring::Secret;
use crate::keys::{self, Bytes, Key, TypedKv};
use crate::ports::{Kv, KvError, OutboundRequest, Transport};
use crate::websub::{self, HubRequest, LeasePolicy};
use serde_json::Value;

/// The channel a topic's subscribers live in.
pub fn topic_channel(topic: &str) -> String {
    format!("websub.{}", &sha256_hex(topic.as_bytes())[..32])
}

/// `Link` and, with a secret, `X-Hub-Signature` for one subscriber's copy of `body`.
pub(crate) fn delivery_headers(lease: &WebSubLease, body: &[u8]) -> Vec<(String, String)> {
    let mut headers = vec![("link".to_string(), websub::link_header(&lease.hub_url, &lease.topic))];
    if let Some(secret) = &lease.secret {
        headers.push(("x-hub-signature".to_string(), websub::x_hub_signature(secret.expose(), body)));
    }
    headers
}

/// What the hub did with a request, and jobs to attempt after answering.
#[derive(Debug)]
pub struct HubOutcome {
    pub done: HubDone,
    pub attempt: Vec<JobRecord>,
}

/// The hub's part of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubDone {
    /// A subscription refused; the subscriber hears it through a denial notice.
    Denied,
    /// Intent verification is on its way to the callback.
    Verifying,
    /// The topic's content was published.
    Published { event_id: EventId, matched: u64 },
}

/// The WebSub hub: `hookah.hub()`.
pub struct Hub<'h, K, T>(&'h Hookah<'h, K, T>);

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub fn hub(&self) -> Hub<'_, K, T> {
        Hub(self)
    }
}

impl<K: Kv, T: Transport> Hub<'_, K, T> {
    /// Handles a form-encoded hub request. Subscribing is open to anyone (intent is verified
    /// with the callback); publishing needs the API token.
    pub async fn handle(&self, principal: Option<&Principal>, hub_url: &str, body: &[u8]) -> Result<HubOutcome, Error> {
        let form = websub::parse_form(body)?;
        match websub::parse_hub_request(&form)? {
            HubRequest::Subscribe(request) => self.subscribe(hub_url, request),
            HubRequest::Unsubscribe(request) => self.unsubscribe(request),
            HubRequest::Publish { topic } => match principal {
                Some(Principal::App) => self.publish(&topic).await,
                // Like every other route a scoped token may not use.
                Some(Principal::Scoped(_)) => {
                    Err(Error::forbidden("a scoped token only manages its channel's subscriptions"))
                }
                None => Err(Error::unauthenticated("publishing needs Authorization: Bearer <api token>")),
            },
        }
    }

    fn subscribe(&self, hub_url: &str, request: websub::Subscription) -> Result<HubOutcome, Error> {
        let callback = self.0.check_url("hub.callback", &request.callback)?;
        let now = self.0.clock.now_ms();
        let topics = &self.0.config.websub_topics;
        if !topics.is_empty() && !topics.iter().any(|prefix| request.topic.starts_with(prefix)) {
            // Refused: the subscriber hears it through a denial notice (§5.2).
            let query = websub::denial_query(&request.topic, "this hub does not serve that topic");
            let mut denial = self.0.new_record("GET", websub::append_query(&callback, &query), Vec::new(), now);
            denial.max_attempts = super::subscriptions::VERIFY_ATTEMPTS;
            let denial = transition::claim(denial, now);
            self.0.store(&denial, Vec::new(), Vec::new())?;
            return Ok(HubOutcome { done: HubDone::Denied, attempt: vec![denial] });
        }
        let channel = topic_channel(&request.topic);
        let index = keys::websub_index(&callback, &request.topic);
        let existing = self.websub_subscription(&index)?;
        // The lease starts when the callback confirms it.
        let lease = WebSubLease {
            topic: request.topic.clone(),
            hub_url: hub_url.to_string(),
            secret: request.secret.map(Secret::new),
            lease_seconds: LeasePolicy::default().grant(request.lease_seconds),
            lease_until: 0,
        };
        let mut entries = Vec::new();
        let mut sub = match existing {
            // Anyone can ask on a subscriber's behalf: the current secret and lease stay in force
            // until the callback confirms the new ones (§5.3).
            Some(mut sub) => {
                sub.renewal = Some(lease.clone());
                // Written as the record's next turn, so a concurrent change is not lost.
                let key = keys::subscription(&sub.id);
                match fence::take_turn_of_existing(self.0.kv, &key, sub.turn, now)? {
                    Turn::Won(turn) => sub.turn = turn,
                    Turn::Busy | Turn::Gone => return Err(Error::Busy),
                }
                fence::retire_turns(self.0.kv, &key, &mut sub, now)?;
                sub
            }
            None => {
                // The topic's channel joins the list of channels with its first subscriber.
                entries.extend(self.0.channels().channel_to_subscribe(&channel)?.1);
                let key = self.0.subscription_key(None, now)?;
                let mut random = [0u8; ID_RANDOM_BYTES];
                self.0.entropy.fill(&mut random);
                let id = SubscriptionId::from_random(&random);
                let appended = subscription_log(&channel).append(self.0.kv, std::slice::from_ref(&id), now)?;
                if self.0.clock.now_ms() > appended.write_by {
                    subscription_log(&channel).abandon(self.0.kv, 1)?;
                    return Err(Error::storage("the subscription's slot expired before it was written"));
                }
                entries.extend(appended.entries);
                entries.push(keys::signing_key(&key.id).entry(&key));
                entries.push(index.entry(id.as_str().as_bytes()));
                SubscriptionRecord {
                    v: RECORD_VERSION,
                    id,
                    channel,
                    tenant: None,
                    url: callback.clone(),
                    event_types: Vec::new(),
                    description: format!("WebSub subscription to {}", request.topic),
                    metadata: Value::Null,
                    key_id: key.id,
                    status: crate::channels::record::Status::Pending,
                    disabled_reason: None,
                    disabled_at: None,
                    challenge: None,
                    created_at: now,
                    updated_at: now,
                    websub: Some(lease.clone()),
                    turn: 0,
                    turn_mark: Default::default(),
                    renewal: None,
                }
            }
        };
        let challenge = self.0.challenge();
        let was_active = sub.receives(now);
        sub.challenge = Some(challenge.clone());
        if !was_active {
            sub.status = crate::channels::record::Status::Pending;
        }
        let query = websub::verification_query("subscribe", &request.topic, &challenge, Some(lease.lease_seconds));
        let job = self.0.verification_job(websub::append_query(&callback, &query), &sub.id, challenge, false, now);
        entries.push(keys::subscription(&sub.id).entry(&sub));
        self.0.store(&job, Vec::new(), entries)?;
        Ok(HubOutcome { done: HubDone::Verifying, attempt: vec![job] })
    }

    /// The subscription a callback and topic already have; a store failure is an error, never
    /// "none" (that would create a second subscription beside the first).
    fn websub_subscription(&self, index: &Key<Bytes>) -> Result<Option<SubscriptionRecord>, Error> {
        let Some(id) = self.indexed_subscription(index)? else {
            return Ok(None);
        };
        self.0.kv.load(&keys::subscription(&id)).map_err(Error::from)
    }

    /// The id a WebSub index names. Only the hub writes the index, always with a subscription's
    /// id; text of any other shape would name no record, so it counts as no subscription.
    fn indexed_subscription(&self, index: &Key<Bytes>) -> Result<Option<SubscriptionId>, Error> {
        let stored = self.0.kv.load(index)?;
        Ok(stored.and_then(|id| SubscriptionId::parse(std::str::from_utf8(&id).ok()?)))
    }

    fn unsubscribe(&self, request: websub::Subscription) -> Result<HubOutcome, Error> {
        let callback = self.0.check_url("hub.callback", &request.callback)?;
        let index = keys::websub_index(&callback, &request.topic);
        let Some(id) = self.indexed_subscription(&index)? else {
            // Nothing to remove; answering the same way reveals nothing about other subscribers.
            return Ok(HubOutcome { done: HubDone::Verifying, attempt: Vec::new() });
        };
        let now = self.0.clock.now_ms();
        let challenge = self.0.challenge();
        let query = websub::verification_query("unsubscribe", &request.topic, &challenge, None);
        let job = self.0.verification_job(websub::append_query(&callback, &query), &id, challenge, true, now);
        self.0.store(&job, Vec::new(), Vec::new())?;
        Ok(HubOutcome { done: HubDone::Verifying, attempt: vec![job] })
    }

    async fn publish(&self, topic: &str) -> Result<HubOutcome, Error> {
        let target = self.0.check_url("hub.url", topic)?;
        let request = OutboundRequest {
            method: "GET".into(),
            url: target,
            headers: vec![("user-agent".into(), super::USER_AGENT.into())],
            body: Vec::new(),
            timeout_ms: self.0.config.timeout_ms,
            capture_bytes: self.0.config.max_body_bytes,
        };
        let sent = self.0.transport.send(request).await;
        let (AttemptResult::Response { status: 200..=299, .. }, Some(response)) = (&sent.result, sent.response) else {
            return Err(Error::refused("topic_unavailable", "fetching the topic did not give a 2xx answer"));
        };
        if response.truncated {
            // Subscribers would get a cut-off document signed as if it were whole.
            let limit = self.0.config.max_body_bytes;
            let message =
                format!("the topic's content is over the {limit}-byte limit (max_body_bytes); nothing was published");
            return Err(Error::refused("topic_too_large", message));
        }
        let content_type = response
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| "application/octet-stream".into());
        let headers = vec![("content-type".to_string(), content_type)];
        let (event, attempt) =
            self.0.publish_internal(&topic_channel(topic), "websub.update", headers, response.body, true)?;
        Ok(HubOutcome { done: HubDone::Published { event_id: event.id, matched: event.matched }, attempt })
    }
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Removes a subscription and everything that finds it. Only the writer that wins the
    /// record's next turn and still finds it counts it out of its channel's list; a turn another
    /// writer holds leaves the subscription as it was (`Removal::Busy`).
    pub(crate) fn forget_subscription(&self, id: &SubscriptionId) -> Result<Removal, KvError> {
        let read_at = self.clock.now_ms();
        let key = keys::subscription(id);
        let Some(sub) = self.kv.load(&key)? else { return Ok(Removal::Absent) };
        let turn = match fence::take_turn_of_existing(self.kv, &key, sub.turn, read_at)? {
            Turn::Won(turn) => turn,
            Turn::Gone => return Ok(Removal::Absent),
            Turn::Busy => return Ok(Removal::Busy),
        };
        let mut doomed: Vec<String> = fence::turn_keys_of(&key, &sub, turn).collect();
        // The subscription's own signing key goes with it, its turn keys too.
        let signing_key = keys::signing_key(&sub.key_id);
        if let Some(record) = self.kv.load(&signing_key)? {
            doomed.extend(fence::turn_keys_of(&signing_key, &record, record.turn));
        }
        doomed.extend([
            key.into(),
            signing_key.into(),
            keys::subscription_health(id).into(),
            keys::subscription_failing_since(id).into(),
        ]);
        if let Some(lease) = &sub.websub {
            doomed.push(keys::websub_index(&sub.url, &lease.topic).into());
        }
        self.kv.delete_many(&doomed)?;
        let log = subscription_log(&sub.channel);
        log.removed(self.kv, 1)?;
        self.tidy_subscriptions(&sub.channel, &log.bounds(self.kv)?)?;
        Ok(Removal::Removed)
    }
}

/// What `forget_subscription` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    Removed,
    /// Someone else removed it first.
    Absent,
    /// Another writer holds the record's turn: nothing was removed.
    Busy,
}
