//! Stored records of channels, subscriptions and published events (`api/views.rs` shows them).

use crate::engine::fence::TurnMark;
use crate::ids::{EventId, KeyId, SubscriptionId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    pub id: SubscriptionId,
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
    pub key_id: KeyId,
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
    /// A WebSub re-subscription's secret and lease, waiting for `challenge` to be echoed; until
    /// then `websub` stays in force, so an unverified request changes nothing a subscriber sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<WebSubLease>,
    /// The fenced-update turn that wrote this version (`engine::fence`).
    #[serde(default)]
    pub turn: u64,
    /// How far its old turn keys have been deleted (`engine::fence`).
    #[serde(default, skip_serializing_if = "TurnMark::is_unset")]
    pub(crate) turn_mark: TurnMark,
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

    /// Applies the end of the intent verification it was waiting for. A confirmed one makes it
    /// active and starts its lease afresh (a WebSub renewal's secret and lease take effect only
    /// now); a failed one fails a pending subscription and leaves an active one as it was.
    pub fn verification_ended(&mut self, confirmed: bool, now: u64) {
        self.challenge = None;
        let renewal = self.renewal.take();
        match (confirmed, self.status) {
            (true, Status::Pending | Status::Active) => {
                self.status = Status::Active;
                if let Some(renewal) = renewal {
                    self.websub = Some(renewal);
                }
                if let Some(lease) = self.websub.as_mut() {
                    lease.lease_until = now + lease.lease_seconds * 1000;
                }
            }
            (false, Status::Pending) => self.status = Status::VerificationFailed,
            // A failed renewal changes nothing; a subscription disabled meanwhile stays disabled.
            _ => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub v: u32,
    pub id: EventId,
    pub channel: String,
    pub event_type: String,
    pub created_at: u64,
    /// Headers every delivery carries (content type, WebSub links).
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    /// Subscription slots handed out at publish time: the fan-out takes the subscriptions born
    /// in `1..=total`, wherever compaction has since moved them.
    pub total: u64,
    /// Slots fanned out so far.
    pub cursor: u64,
    /// Jobs created so far.
    pub matched: u64,
    /// Bucket of the event's timer while its fan-out goes on (or until it is deleted).
    pub timer: u64,
    /// When the fan-out ended: complete, or stopped by `fanout_error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanned_out_at: Option<u64>,
    /// Why the fan-out stopped before reaching every subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout_error: Option<String>,
    /// The fenced turn that wrote this version: each sweep-run fan-out step takes the next one.
    #[serde(default)]
    pub turn: u64,
}

crate::stored::stored!(SubscriptionRecord, RECORD_VERSION);
crate::engine::fence::fenced!(SubscriptionRecord, turn_mark);
crate::stored::stored!(EventRecord, RECORD_VERSION);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::Secret;

    fn lease(secret: &str, lease_seconds: u64, lease_until: u64) -> WebSubLease {
        let secret = Some(Secret::new(secret.into()));
        WebSubLease {
            topic: "https://pub.example/feed".into(),
            hub_url: "http://hub".into(),
            secret,
            lease_seconds,
            lease_until,
        }
    }

    /// An active WebSub subscription (secret `old`, until 5000) asked to renew with `new`.
    fn renewing(status: Status) -> SubscriptionRecord {
        SubscriptionRecord {
            v: RECORD_VERSION,
            id: SubscriptionId::from_random(&[1; 16]),
            channel: "websub.x".into(),
            tenant: None,
            url: "https://sub.example/cb".into(),
            event_types: Vec::new(),
            description: String::new(),
            metadata: Value::Null,
            key_id: KeyId::from_random(&[2; 16]),
            status,
            disabled_reason: None,
            disabled_at: None,
            challenge: Some("c".into()),
            created_at: 0,
            updated_at: 0,
            websub: Some(lease("old", 5, 5_000)),
            renewal: Some(lease("new", 10, 0)),
            turn: 0,
            turn_mark: Default::default(),
        }
    }

    fn check(status: Status, confirmed: bool, expected: (Status, WebSubLease)) {
        let mut sub = renewing(status);
        sub.verification_ended(confirmed, 1_000);
        assert_eq!((sub.status, sub.websub.unwrap()), expected, "{status:?} confirmed={confirmed}");
        assert_eq!((sub.challenge, sub.renewal), (None, None));
    }

    #[test]
    fn a_renewal_takes_effect_only_once_confirmed() {
        check(Status::Active, true, (Status::Active, lease("new", 10, 11_000)));
        check(Status::Active, false, (Status::Active, lease("old", 5, 5_000)));
        check(Status::Pending, true, (Status::Active, lease("new", 10, 11_000)));
        check(Status::Pending, false, (Status::VerificationFailed, lease("old", 5, 5_000)));
        check(Status::Disabled, true, (Status::Disabled, lease("old", 5, 5_000)));
    }
}
