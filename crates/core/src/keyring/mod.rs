//! Signing keys as stored: the current secret and, during a rotation's grace period, the previous
//! one, which keeps signing beside it so receivers can switch without a gap.

use crate::engine::fence::TurnMark;
use crate::ids::KeyId;
use crate::signing::{SigningError, SigningKey};
use serde::{Deserialize, Serialize};

pub const KEY_RECORD_VERSION: u32 = 1;
/// How long a rotated-out key keeps signing unless the rotation says otherwise.
pub const DEFAULT_GRACE_MS: u64 = 24 * 3_600_000;
/// Longest grace period a rotation may ask for.
pub const MAX_GRACE_MS: u64 = 30 * 86_400_000;
/// Keys one deployment may create (the listing reads them all).
pub const MAX_KEYS: u64 = 1_000;

/// A `whsec_`/`whsk_` string; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: String) -> Self {
        Self(secret)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A stored key that cannot sign: what an attempt reports instead of going out unsigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing key {id} is unusable: {reason}")]
pub struct UnusableKey {
    pub id: KeyId,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub v: u32,
    pub id: KeyId,
    pub secret: Secret,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    /// The fenced-update turn that wrote this version (`engine::fence`).
    #[serde(default)]
    pub turn: u64,
    /// How far its old turn keys have been deleted (`engine::fence`).
    #[serde(default, skip_serializing_if = "TurnMark::is_unset")]
    pub(crate) turn_mark: TurnMark,
}

/// The key a rotation replaced, signing until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    pub secret: Secret,
    pub until: u64,
}

impl KeyRecord {
    /// The keys that sign at `now`: the current one first, then the previous one in its grace.
    pub fn signing_keys(&self, now: u64) -> Vec<SigningKey> {
        let previous = self.previous.as_ref().filter(|p| p.until > now).map(|p| &p.secret);
        std::iter::once(&self.secret).chain(previous).filter_map(|s| SigningKey::parse(s.expose()).ok()).collect()
    }

    /// The same, failing when a secret that should sign does not parse.
    pub fn try_signing_keys(&self, now: u64) -> Result<Vec<SigningKey>, SigningError> {
        let previous = self.previous.as_ref().filter(|p| p.until > now).map(|p| &p.secret);
        std::iter::once(&self.secret).chain(previous).map(|s| SigningKey::parse(s.expose())).collect()
    }

    /// Public keys receivers verify `v1a` signatures with (empty for HMAC keys).
    pub fn public_keys(&self, now: u64) -> Vec<String> {
        self.signing_keys(now).iter().filter_map(SigningKey::public_key).collect()
    }

    pub fn kind(&self) -> &'static str {
        if self.secret.expose().starts_with("whsk_") {
            "ed25519"
        } else {
            "hmac"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::generate_hmac_secret;
    use crate::stored::Stored;

    fn record(previous_until: Option<u64>) -> KeyRecord {
        let secret = |byte| Secret::new(generate_hmac_secret(&[byte; 32]).unwrap().expose_secret());
        KeyRecord {
            v: 1,
            id: KeyId::from_random(&[1; 16]),
            secret: secret(1),
            created_at: 0,
            rotated_at: previous_until.map(|_| 5),
            previous: previous_until.map(|until| Previous { secret: secret(2), until }),
            turn: 0,
            turn_mark: Default::default(),
        }
    }

    #[test]
    fn grace_period() {
        assert_eq!(record(None).signing_keys(10).len(), 1);
        assert_eq!(record(Some(100)).signing_keys(99).len(), 2);
        assert_eq!(record(Some(100)).signing_keys(100).len(), 1);
    }

    #[test]
    fn a_secret_that_does_not_parse_is_an_error_not_a_missing_signature() {
        let mut key = record(Some(100));
        assert_eq!(key.try_signing_keys(99).map(|keys| keys.len()), Ok(2));
        key.previous.as_mut().unwrap().secret = Secret::new("whsec_not base64".into());
        assert!(key.try_signing_keys(99).is_err());
        assert_eq!(key.try_signing_keys(100).map(|keys| keys.len()), Ok(1), "past its grace it no longer signs");
        key.secret = Secret::new("nonsense".into());
        assert!(key.try_signing_keys(100).is_err());
    }

    #[test]
    fn secrets_stay_hidden() {
        let key = record(Some(100));
        let debug = format!("{key:?}");
        assert!(!debug.contains("whsec_"), "{debug}");
        assert_eq!(KeyRecord::from_bytes(&key.to_bytes()), Some(key));
    }
}

crate::stored::stored!(KeyRecord, KEY_RECORD_VERSION);
crate::engine::fence::fenced!(KeyRecord, turn_mark);
