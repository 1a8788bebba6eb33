//! Standard Webhooks v1.0.0 signatures.
//!
//! Every message is signed over `<webhook-id>.<webhook-timestamp>.<raw body>`:
//! - `v1`: HMAC-SHA256 with a shared `whsec_` secret ([`HmacSecret`]),
//! - `v1a`: ed25519 with a `whsk_` private key whose `whpk_` public half receivers hold
//!   ([`Ed25519Secret`], [`Ed25519PublicKey`]).
//!
//! The `webhook-signature` header carries one signature per active key, space-separated, so an
//! endpoint can rotate keys without a gap ([`signature_header`]). [`Verifier`] is the receiver's
//! side of the same scheme.
//!
//! Nothing here reads the clock or a random source: key generation takes the caller's random
//! bytes and verification takes the caller's `now`.

mod asymmetric;
mod content;
mod symmetric;
mod verify;

#[cfg(test)]
mod tests;

pub use asymmetric::{generate_ed25519_secret, Ed25519PublicKey, Ed25519Secret};
pub use content::WebhookId;
pub use symmetric::{generate_hmac_secret, HmacSecret};
pub use verify::{Verifier, VerifyError, TIMESTAMP_TOLERANCE_SECS};

use content::Content;

/// Header carrying the message id; stable across retries so receivers can deduplicate.
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the attempt's unix time in seconds; changes on every retry.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the space-separated signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Why a key or message id was refused. Parsing is strict (no trimming, canonical base64) so a
/// key that round-trips through storage is byte-for-byte the key that was shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the key is empty")]
    EmptyKey,
    #[error("unrecognised key format: expected a key starting with {expected}")]
    UnknownPrefix { expected: &'static str },
    #[error("the key is not valid base64 (standard alphabet, padded)")]
    InvalidBase64,
    #[error("an HMAC secret must be 24 to 64 bytes, got {len}")]
    HmacKeyLength { len: usize },
    #[error("a whsk_ key must be 64 bytes (seed then public key), got {len}")]
    Ed25519SecretLength { len: usize },
    #[error("a whpk_ key must be 32 bytes, got {len}")]
    Ed25519PublicKeyLength { len: usize },
    #[error("the public half of the whsk_ key does not match its seed")]
    KeyPairMismatch,
    #[error("the whpk_ key is not a valid ed25519 public key")]
    InvalidPublicKey,
    #[error("a verifier takes the whpk_ public key, not the whsk_ private key")]
    PrivateKeyInVerifier,
    #[error("a verifier needs at least one key")]
    NoKeys,
    #[error("a webhook id must be non-empty printable ASCII without spaces or '.'")]
    InvalidWebhookId,
}

/// A key Hookah signs with, parsed from its `whsec_` or `whsk_` form.
// Keys are few and short-lived; boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SigningKey {
    Hmac(HmacSecret),
    Ed25519(Ed25519Secret),
}

impl SigningKey {
    /// Parses a stored key; the prefix picks the scheme, as the spec intends.
    pub fn parse(s: &str) -> Result<Self, SigningError> {
        if s.is_empty() {
            return Err(SigningError::EmptyKey);
        }
        if s.starts_with(symmetric::SECRET_PREFIX) {
            HmacSecret::parse(s).map(Self::Hmac)
        } else if s.starts_with(asymmetric::SECRET_PREFIX) {
            Ed25519Secret::parse(s).map(Self::Ed25519)
        } else {
            Err(SigningError::UnknownPrefix { expected: "whsec_ or whsk_" })
        }
    }

    /// One signature entry, `v1,<base64>` or `v1a,<base64>`. Infallible because a
    /// [`WebhookId`] cannot hold a `.` and an integer timestamp cannot either, so the signed
    /// content is never ambiguous.
    pub fn sign(&self, msg_id: &WebhookId, timestamp: i64, body: &[u8]) -> String {
        let timestamp = timestamp.to_string();
        let content = Content::new(msg_id.as_str(), &timestamp, body);
        match self {
            Self::Hmac(secret) => format!("{},{}", symmetric::VERSION, secret.sign(&content)),
            Self::Ed25519(secret) => format!("{},{}", asymmetric::VERSION, secret.sign(&content)),
        }
    }

    /// The `whpk_` key to hand to receivers; HMAC keys have no public half.
    pub fn public_key(&self) -> Option<String> {
        match self {
            Self::Hmac(_) => None,
            Self::Ed25519(secret) => Some(secret.public_key().to_string()),
        }
    }

    /// The `whsec_`/`whsk_` string: for showing once at creation and for storage. Named so that
    /// every place a secret leaves the type is easy to find.
    pub fn expose_secret(&self) -> String {
        match self {
            Self::Hmac(secret) => secret.expose_secret(),
            Self::Ed25519(secret) => secret.expose_secret(),
        }
    }
}

impl From<HmacSecret> for SigningKey {
    fn from(secret: HmacSecret) -> Self {
        Self::Hmac(secret)
    }
}

impl From<Ed25519Secret> for SigningKey {
    fn from(secret: Ed25519Secret) -> Self {
        Self::Ed25519(secret)
    }
}

/// The `webhook-signature` value: one entry per key, space-separated, in the order given.
/// During rotation pass both the new and the old key; receivers accept either.
pub fn signature_header(keys: &[SigningKey], msg_id: &WebhookId, timestamp: i64, body: &[u8]) -> String {
    keys.iter().map(|key| key.sign(msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Standard base64 with padding, strict about trailing bits, as the spec's secrets use.
fn decode_base64(s: &str) -> Result<Vec<u8>, SigningError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).map_err(|_| SigningError::InvalidBase64)
}

fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Splits `prefix` off a key, telling an absent key apart from an unknown format.
fn strip_key_prefix<'a>(s: &'a str, prefix: &'static str) -> Result<&'a str, SigningError> {
    let rest = s.strip_prefix(prefix).ok_or(SigningError::UnknownPrefix { expected: prefix })?;
    if rest.is_empty() {
        return Err(SigningError::EmptyKey);
    }
    Ok(rest)
}
