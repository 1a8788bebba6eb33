//! The receiver's side: check the three `webhook-*` headers against a trust list of keys.

use subtle::ConstantTimeEq;

use super::{
    asymmetric, content::Content, decode_base64, symmetric, Ed25519PublicKey, HmacSecret, SigningError, SigningKey,
};

/// How far the `webhook-timestamp` may be from the receiver's clock, either way. Bounds how
/// long a captured request can be replayed; the spec's libraries use five minutes too.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// Why a received webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing webhook-id header")]
    MissingId,
    #[error("missing webhook-timestamp header")]
    MissingTimestamp,
    #[error("missing webhook-signature header")]
    MissingSignature,
    #[error("webhook-id contains '.', which would make the signed content ambiguous")]
    InvalidId,
    #[error("webhook-timestamp is not a unix time in whole seconds")]
    InvalidTimestamp,
    #[error("webhook-timestamp is too far in the past")]
    TimestampTooOld,
    #[error("webhook-timestamp is too far in the future")]
    TimestampTooNew,
    /// Also covers malformed entries (`v1,`, truncated base64, unknown versions): telling a
    /// sender which entries parsed would help nobody but someone probing.
    #[error("no signature matches any trusted key")]
    NoMatchingSignature,
}

/// A trust list of `whsec_` secrets and `whpk_` public keys; a message passes if any of its
/// signatures verifies under any of them, which is what lets senders rotate keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<TrustedKey>,
}

// Derived `Debug` is safe: `HmacSecret` redacts itself and public keys aren't secret.
#[derive(Debug, Clone)]
enum TrustedKey {
    Hmac(HmacSecret),
    Ed25519(Ed25519PublicKey),
}

impl Verifier {
    /// Builds a verifier from `whsec_` and `whpk_` strings. A `whsk_` private key is refused:
    /// receivers should never hold it.
    pub fn new(keys: &[&str]) -> Result<Self, SigningError> {
        let keys = keys.iter().map(|key| parse_trusted(key)).collect::<Result<Vec<_>, _>>()?;
        Self::from_trusted(keys)
    }

    /// Builds a verifier for Hookah's own keys, e.g. to check what the signer produced.
    pub fn from_signing_keys(keys: &[SigningKey]) -> Result<Self, SigningError> {
        let keys = keys
            .iter()
            .map(|key| match key {
                SigningKey::Hmac(secret) => TrustedKey::Hmac(secret.clone()),
                SigningKey::Ed25519(secret) => TrustedKey::Ed25519(secret.public_key()),
            })
            .collect();
        Self::from_trusted(keys)
    }

    fn from_trusted(keys: Vec<TrustedKey>) -> Result<Self, SigningError> {
        if keys.is_empty() {
            return Err(SigningError::NoKeys);
        }
        Ok(Self { keys })
    }

    /// Verifies a received webhook given the receiver's clock, `now_unix` in seconds. Headers
    /// are passed as received (`None` when absent; an empty value counts as absent). The core
    /// never reads the clock, so there is no `verify` twin here: the adapter supplies `now`.
    pub fn verify_at(
        &self,
        msg_id: Option<&str>,
        timestamp: Option<&str>,
        signature_header: Option<&str>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        let id = present(msg_id).ok_or(VerifyError::MissingId)?;
        let timestamp = present(timestamp).ok_or(VerifyError::MissingTimestamp)?;
        let signatures = present(signature_header).ok_or(VerifyError::MissingSignature)?;
        if id.contains('.') {
            return Err(VerifyError::InvalidId);
        }
        check_timestamp(parse_timestamp(timestamp)?, now_unix)?;

        // Sign over the timestamp exactly as received: it is digits only, so it holds no `.`,
        // and it is the string the sender signed.
        let content = Content::new(id, timestamp, body);
        if self.any_matches(&content, signatures) {
            Ok(())
        } else {
            Err(VerifyError::NoMatchingSignature)
        }
    }

    fn any_matches(&self, content: &Content<'_>, signatures: &str) -> bool {
        // Each key's expected value is computed once, however many entries the header holds.
        let mut hmac_tags = Vec::new();
        let mut public_keys = Vec::new();
        for key in &self.keys {
            match key {
                TrustedKey::Hmac(secret) => hmac_tags.push(secret.tag(content)),
                TrustedKey::Ed25519(public) => public_keys.push(public),
            }
        }
        let message = if public_keys.is_empty() { Vec::new() } else { content.to_vec() };

        signatures.split(' ').filter_map(parse_entry).any(|entry| match entry {
            (symmetric::VERSION, signature) => hmac_tags.iter().any(|tag| bool::from(tag.ct_eq(signature.as_slice()))),
            (asymmetric::VERSION, signature) => public_keys.iter().any(|public| public.verify(&message, &signature)),
            // Unknown versions are skipped so a sender can add a future scheme alongside v1.
            _ => false,
        })
    }
}

fn parse_trusted(key: &str) -> Result<TrustedKey, SigningError> {
    if key.is_empty() {
        Err(SigningError::EmptyKey)
    } else if key.starts_with(symmetric::SECRET_PREFIX) {
        HmacSecret::parse(key).map(TrustedKey::Hmac)
    } else if key.starts_with(asymmetric::PUBLIC_PREFIX) {
        Ed25519PublicKey::parse(key).map(TrustedKey::Ed25519)
    } else if key.starts_with(asymmetric::SECRET_PREFIX) {
        Err(SigningError::PrivateKeyInVerifier)
    } else {
        Err(SigningError::UnknownPrefix { expected: "whsec_ or whpk_" })
    }
}

fn present(header: Option<&str>) -> Option<&str> {
    header.filter(|value| !value.is_empty())
}

/// Digits only: no sign, no fraction, no exponent. Anything looser would let the timestamp
/// carry a `.` into the signed content.
fn parse_timestamp(timestamp: &str) -> Result<i64, VerifyError> {
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    timestamp.parse().map_err(|_| VerifyError::InvalidTimestamp)
}

fn check_timestamp(sent: i64, now_unix: i64) -> Result<(), VerifyError> {
    // Saturating: a hostile timestamp near i64::MAX must not overflow into "in range".
    if now_unix.saturating_sub(sent) > TIMESTAMP_TOLERANCE_SECS {
        Err(VerifyError::TimestampTooOld)
    } else if sent.saturating_sub(now_unix) > TIMESTAMP_TOLERANCE_SECS {
        Err(VerifyError::TimestampTooNew)
    } else {
        Ok(())
    }
}

/// `<version>,<base64>` to its parts; entries that don't parse simply can't match.
fn parse_entry(entry: &str) -> Option<(&str, Vec<u8>)> {
    let (version, encoded) = entry.split_once(',')?;
    let signature = decode_base64(encoded).ok()?;
    Some((version, signature))
}
