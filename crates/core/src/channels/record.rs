//! Stored records of channels, subscriptions and published events, and their API views.

use crate::job::view::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub v: u32,
    pub name: String,
    /// Subscriptions must prove their URL wants them before they get anything.
    pub verify_intent: bool,
    pub created_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its URL to echo the challenge.
    Pending,
    Active,
    /// The URL did not confirm in time.
    VerificationFailed,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    pub v: u32,
    pub id: String,
    pub channel: String,
    /// The app's end user that owns it (scoped tokens see only their tenant's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub url: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub metadata: Value,
    /// Its own signing key in the keyring.
    pub key_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<u64>,
    /// The challenge the current intent verification expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// A WebSub subscription: its topic, `hub.secret` and lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websub: Option<WebSubLease>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSubLease {
    pub topic: String,
    /// The hub's own URL, for the `Link` header of deliveries.
    pub hub_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<crate::keyring::Secret>,
    pub lease_seconds: u64,
    #[serde(default)]
    pub lease_until: u64,
}

impl SubscriptionRecord {
    /// Whether it gets events at `now`.
    pub fn receives(&self, now: u64) -> bool {
        self.status == Status::Active && self.websub.as_ref().is_none_or(|lease| lease.lease_until > now)
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "channel": self.channel,
            "tenant": self.tenant,
            "url": self.url,
            "event_types": self.event_types,
            "description": self.description,
            "metadata": self.metadata,
            "status": self.status,
            "disabled_reason": self.disabled_reason,
            "disabled_at": self.disabled_at.map(rfc3339),
            "signing_key": self.key_id,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub v: u32,
    pub id: String,
    pub channel: String,
    pub event_type: String,
    pub created_at: u64,
    /// Headers every delivery carries (content type, WebSub links).
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    /// Subscription slots that existed at publish time: the fan-out covers `1..=total`.
    pub total: u64,
    /// Slots fanned out so far.
    pub cursor: u64,
    /// Jobs created so far.
    pub matched: u64,
    /// Bucket of the event's timer while its fan-out goes on (or until it is deleted).
    pub timer: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanned_out_at: Option<u64>,
}

impl EventRecord {
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "channel": self.channel,
            "event_type": self.event_type,
            "created_at": rfc3339(self.created_at),
            "matched": self.matched,
            "fanout_complete": self.fanned_out_at.is_some(),
            "fanned_out_at": self.fanned_out_at.map(rfc3339),
        })
    }
}

crate::stored::stored!(SubscriptionRecord, RECORD_VERSION);
crate::stored::stored!(EventRecord, RECORD_VERSION);
