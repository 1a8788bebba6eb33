//! Channel subscriptions: create, read, list, update, delete, rotate, re-enable, and the intent
//! verification that turns a new (or moved) subscription active.
//!
//! - A channel's subscriptions are a slot log (`chan:{name}:subs`, `engine/slot_log/`). Each
//!   subscription has its own signing key in the keyring (`key:{id}`, never listed, never the
//!   default).
//! - A subscription is a fenced record (`engine/fence.rs`); a deleted one takes its turn keys.
//! - Intent verification is a job (`verifies`) whose 2xx counts only if the body echoes the
//!   challenge. Its outcome flips the subscription (a fenced update, only for the challenge it is
//!   waiting for; `engine/health.rs`).
//! - `Channels` (`hookah.channels()`) is defined here: channel settings, subscriptions,
//!   publishing and events, scoped tokens. Its methods live here and in `sub_list.rs`,
//!   `publish.rs` and `tokens.rs`. A scoped caller is checked here for tenant and access.

use super::fence::{self, Turn};
use super::hub::Removal;
use super::sub_list::subscription_log;
use super::tokens::Principal;
use super::Hookah;
use crate::channels::grammar::{check_app_channel, check_filter, check_public_channel, MAX_EVENT_TYPES};
use crate::channels::record::{ChannelRecord, Status, SubscriptionRecord, RECORD_VERSION};
use crate::error::Error;
use crate::ids::{KeyId, SubscriptionId, ID_RANDOM_BYTES};
use crate::job::{transition, JobRecord, Verification};
use crate::keyring::{KeyRecord, Secret, KEY_RECORD_VERSION};
use crate::keys::{self, Entry, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use crate::request::{address, target};
use crate::signing::{generate_hmac_secret, SigningKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// Attempts an intent verification gets (over the first minutes of the retry schedule).
pub(super) const VERIFY_ATTEMPTS: u32 = 3;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
}

impl SubscriptionRequest {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(body).map_err(|e| Error::invalid("bad_json", format!("the body: {e}")))
    }
}

/// A channel's settings; each one left out takes its default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRequest {
    /// Subscriptions confirm their URL before they get events (the default).
    #[serde(default = "verify_intent_by_default")]
    pub verify_intent: bool,
}

fn verify_intent_by_default() -> bool {
    true
}

/// A subscription just created, with the secret of its key: shown this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub record: SubscriptionRecord,
    pub secret: Secret,
}

/// A subscription whose key got a new secret (in `key.record`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedSubscription {
    pub id: SubscriptionId,
    pub key: super::keyring::KeyState,
}

fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found(format!("no subscription {id}"))
}

/// Channels, their subscriptions, publishing events and scoped tokens: `hookah.channels()`. Its
/// methods live beside what they do (`subscriptions.rs`, `sub_list.rs`, `publish.rs`,
/// `tokens.rs`).
pub struct Channels<'h, K, T>(pub(super) &'h Hookah<'h, K, T>);

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub fn channels(&self) -> Channels<'_, K, T> {
        Channels(self)
    }
}

impl<K: Kv, T: Transport> Channels<'_, K, T> {
    pub fn channel_record(&self, channel: &str) -> Result<ChannelRecord, Error> {
        Ok(self.stored_channel(channel)?.unwrap_or_else(|| self.new_channel(channel)))
    }

    fn stored_channel(&self, channel: &str) -> Result<Option<ChannelRecord>, KvError> {
        self.0.kv.load(&keys::channel(channel))
    }

    /// A channel with its default settings, as first stored.
    fn new_channel(&self, channel: &str) -> ChannelRecord {
        ChannelRecord {
            v: RECORD_VERSION,
            name: channel.to_string(),
            verify_intent: true,
            created_at: self.0.clock.now_ms(),
        }
    }

    pub fn set_channel(&self, channel: &str, request: ChannelRequest) -> Result<ChannelRecord, Error> {
        check_app_channel(channel)?;
        let stored = self.stored_channel(channel)?;
        let mut record = stored.clone().unwrap_or_else(|| self.new_channel(channel));
        record.verify_intent = request.verify_intent;
        match stored {
            Some(_) => self.0.kv.save(&keys::channel(channel), &record)?,
            None => self.0.kv.set_many(self.0.first_channel_record(&record)?)?,
        }
        Ok(record)
    }

    /// The channel's settings, and the writes that store it first (joining the list of
    /// channels) when only its defaults are known so far.
    pub(crate) fn channel_to_subscribe(&self, channel: &str) -> Result<(ChannelRecord, Vec<Entry>), KvError> {
        match self.stored_channel(channel)? {
            Some(record) => Ok((record, Vec::new())),
            None => {
                let record = self.new_channel(channel);
                let entries = self.0.first_channel_record(&record)?;
                Ok((record, entries))
            }
        }
    }

    /// Creates a subscription; returns it with its secret (shown once) and, when the channel
    /// verifies intent, the verification job to attempt after answering.
    pub fn create_subscription(
        &self,
        principal: &Principal,
        channel: &str,
        request: SubscriptionRequest,
    ) -> Result<(NewSubscription, Option<JobRecord>), Error> {
        check_public_channel(channel)?;
        principal.check_channel(channel, true)?;
        let url = self.0.check_url("url", request.url.as_deref().ok_or_else(|| bad("url is required"))?)?;
        let event_types = check_filters(request.event_types.unwrap_or_default())?;
        self.0.ensure_room(1)?;
        let tenant = match (principal.tenant(), request.tenant) {
            (Some(own), Some(asked)) if own != asked => {
                return Err(Error::forbidden("a token cannot act for another tenant"))
            }
            (Some(own), _) => Some(own.to_string()),
            (None, asked) => asked,
        };
        let now = self.0.clock.now_ms();
        let key = self.0.subscription_key(request.secret, now)?;
        let mut random = [0u8; ID_RANDOM_BYTES];
        self.0.entropy.fill(&mut random);
        let mut sub = SubscriptionRecord {
            v: RECORD_VERSION,
            id: SubscriptionId::from_random(&random),
            channel: channel.to_string(),
            tenant,
            url,
            event_types,
            description: request.description.unwrap_or_default(),
            metadata: request.metadata.unwrap_or(Value::Null),
            key_id: key.id.clone(),
            status: Status::Active,
            disabled_reason: None,
            disabled_at: None,
            challenge: None,
            created_at: now,
            updated_at: now,
            websub: None,
            turn: 0,
            turn_mark: Default::default(),
            renewal: None,
        };
        let (channel_record, mut entries) = self.channel_to_subscribe(channel)?;
        let verification = channel_record.verify_intent.then(|| self.0.begin_verification(&mut sub, now));
        let log = subscription_log(channel);
        let appended = log.append(self.0.kv, std::slice::from_ref(&sub.id), now)?;
        entries.extend(appended.entries);
        entries.push(keys::signing_key(&key.id).entry(&key));
        entries.push(keys::subscription(&sub.id).entry(&sub));
        if self.0.clock.now_ms() > appended.write_by {
            log.abandon(self.0.kv, 1)?;
            return Err(Error::storage("the subscription's slot expired before it was written"));
        }
        if let Some(job) = &verification {
            self.0.store(job, Vec::new(), std::mem::take(&mut entries))?;
        } else {
            self.0.kv.set_many(entries)?;
        }
        Ok((NewSubscription { record: sub, secret: key.secret }, verification))
    }

    /// Loads a subscription of `channel` that `principal` may see; `id` is the path segment,
    /// parsed only after the channel check so that a token of another channel gets its 403 first.
    pub fn find_subscription(
        &self,
        principal: &Principal,
        channel: &str,
        id: &str,
        write: bool,
    ) -> Result<SubscriptionRecord, Error> {
        principal.check_channel(channel, write)?;
        let stored = match SubscriptionId::parse(id) {
            Some(id) => self.0.kv.load(&keys::subscription(&id))?,
            None => None,
        };
        let sub = stored.filter(|s| s.channel == channel);
        let sub = sub.ok_or_else(|| not_found(id))?;
        match principal.tenant() {
            Some(tenant) if sub.tenant.as_deref() != Some(tenant) => {
                Err(Error::forbidden("this subscription is another tenant's"))
            }
            _ => Ok(sub),
        }
    }

    /// Changes a subscription; a new URL has to prove its intent again.
    pub fn update_subscription(
        &self,
        principal: &Principal,
        channel: &str,
        id: &str,
        request: SubscriptionRequest,
    ) -> Result<(SubscriptionRecord, Option<JobRecord>), Error> {
        let read_at = self.0.clock.now_ms();
        let mut sub = self.find_subscription(principal, channel, id, true)?;
        if request.secret.is_some() || request.tenant.is_some() {
            return Err(bad("secret and tenant cannot change; rotate the secret instead"));
        }
        let now = self.0.clock.now_ms();
        let mut verification = None;
        if let Some(url) = request.url {
            let url = self.0.check_url("url", &url)?;
            if url != sub.url {
                sub.url = url;
                if self.channel_record(channel)?.verify_intent {
                    verification = Some(self.0.begin_verification(&mut sub, now));
                }
            }
        }
        if let Some(types) = request.event_types {
            sub.event_types = check_filters(types)?;
        }
        if let Some(description) = request.description {
            sub.description = description;
        }
        if let Some(metadata) = request.metadata {
            sub.metadata = metadata;
        }
        sub.updated_at = now;
        self.save_subscription(&mut sub, read_at, verification.as_ref())?;
        Ok((sub, verification))
    }

    /// Turns a disabled (or unverified) subscription back on, verifying its intent again where
    /// the channel asks for it.
    pub fn enable_subscription(
        &self,
        principal: &Principal,
        channel: &str,
        id: &str,
    ) -> Result<(SubscriptionRecord, Option<JobRecord>), Error> {
        let read_at = self.0.clock.now_ms();
        let mut sub = self.find_subscription(principal, channel, id, true)?;
        let now = self.0.clock.now_ms();
        let mut verification = None;
        if self.channel_record(channel)?.verify_intent {
            verification = Some(self.0.begin_verification(&mut sub, now));
        } else {
            sub.status = Status::Active;
        }
        sub.disabled_reason = None;
        sub.disabled_at = None;
        sub.updated_at = now;
        // Its health starts afresh: no dead jobs in a row, no failing clock.
        let health = [keys::subscription_health(&sub.id).into(), keys::subscription_failing_since(&sub.id).into()];
        self.0.kv.delete_many(&health)?;
        self.save_subscription(&mut sub, read_at, verification.as_ref())?;
        Ok((sub, verification))
    }

    /// Writes `sub`, read at `read_at`, as the next turn of its record: a 409 if another writer
    /// changed it since.
    fn save_subscription(
        &self,
        sub: &mut SubscriptionRecord,
        read_at: u64,
        verification: Option<&JobRecord>,
    ) -> Result<(), Error> {
        let key = keys::subscription(&sub.id);
        match fence::take_turn_of_existing(self.0.kv, &key, sub.turn, read_at)? {
            Turn::Won(turn) => sub.turn = turn,
            Turn::Busy => return Err(Error::Busy),
            Turn::Gone => return Err(not_found(&sub.id)),
        }
        fence::retire_turns(self.0.kv, &key, sub, read_at)?;
        let entry = vec![key.entry(sub)];
        match verification {
            Some(job) => self.0.store(job, Vec::new(), entry),
            None => self.0.kv.set_many(entry),
        }
        .map_err(Error::from)
    }

    pub fn delete_subscription(&self, principal: &Principal, channel: &str, id: &str) -> Result<(), Error> {
        let sub = self.find_subscription(principal, channel, id, true)?;
        match self.0.forget_subscription(&sub.id)? {
            Removal::Removed | Removal::Absent => Ok(()),
            Removal::Busy => Err(Error::Busy),
        }
    }

    pub fn rotate_subscription_secret(
        &self,
        principal: &Principal,
        channel: &str,
        id: &str,
        body: &[u8],
    ) -> Result<RotatedSubscription, Error> {
        let sub = self.find_subscription(principal, channel, id, true)?;
        let request = crate::engine::KeyRequest::parse(body)?;
        Ok(RotatedSubscription { id: sub.id, key: self.0.keyring().rotate_key(&sub.key_id, request)? })
    }
}

// Shared with the hub and with the outcome of a verification.
impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Validates a subscriber URL like a dispatch target.
    pub(crate) fn check_url(&self, name: &str, url: &str) -> Result<String, Error> {
        let parsed = target::parse_url(name, url)?;
        address::check_target(&parsed, &self.config.allowed_private_targets)?;
        Ok(parsed.url())
    }

    /// A signing key of the subscription's own, kept out of the key list and never the default.
    pub(crate) fn subscription_key(&self, supplied: Option<String>, now: u64) -> Result<KeyRecord, Error> {
        let secret = match supplied {
            Some(secret) => {
                SigningKey::parse(&secret).map_err(|e| Error::invalid("bad_key", e.to_string()))?;
                secret
            }
            None => {
                let mut random = [0u8; 32];
                self.entropy.fill(&mut random);
                generate_hmac_secret(&random).map_err(|e| Error::invalid("bad_key", e.to_string()))?.expose_secret()
            }
        };
        let mut random = [0u8; ID_RANDOM_BYTES];
        self.entropy.fill(&mut random);
        Ok(KeyRecord {
            v: KEY_RECORD_VERSION,
            id: KeyId::from_random(&random),
            secret: Secret::new(secret),
            created_at: now,
            rotated_at: None,
            previous: None,
            turn: 0,
            turn_mark: Default::default(),
        })
    }

    /// Marks the subscription pending and builds the job that asks its URL to echo a challenge,
    /// claimed for its first attempt.
    pub(crate) fn begin_verification(&self, sub: &mut SubscriptionRecord, now: u64) -> JobRecord {
        let challenge = self.challenge();
        sub.status = Status::Pending;
        sub.challenge = Some(challenge.clone());
        let query = crate::websub::encode_query(&[
            ("hookah.mode", "subscribe"),
            ("hookah.channel", &sub.channel),
            ("hookah.challenge", &challenge),
        ]);
        let url = crate::websub::append_query(&sub.url, &query);
        self.verification_job(url, &sub.id, challenge, false, now)
    }

    /// A random challenge a URL must echo to prove it wants a subscription.
    pub(crate) fn challenge(&self) -> String {
        let mut random = [0u8; 24];
        self.entropy.fill(&mut random);
        URL_SAFE_NO_PAD.encode(random)
    }

    /// The GET that asks `url` to echo `challenge`, claimed for its first attempt; its outcome
    /// confirms (or, with `unsubscribe`, removes) the subscription.
    pub(crate) fn verification_job(
        &self,
        url: String,
        sub_id: &SubscriptionId,
        challenge: String,
        unsubscribe: bool,
        now: u64,
    ) -> JobRecord {
        let mut job = self.new_record("GET", url, Vec::new(), now);
        job.max_attempts = VERIFY_ATTEMPTS;
        job.verifies = Some(Verification { subscription: sub_id.clone(), challenge, unsubscribe });
        transition::claim(job, now)
    }
}

fn bad(message: &str) -> Error {
    Error::invalid("bad_subscription", message)
}

fn check_filters(types: Vec<String>) -> Result<Vec<String>, Error> {
    if types.len() > MAX_EVENT_TYPES {
        return Err(bad("at most 32 event types"));
    }
    for filter in &types {
        check_filter(filter)?;
    }
    Ok(types)
}
