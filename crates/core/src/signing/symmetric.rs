//! `v1`: HMAC-SHA256 over the signed content with a shared `whsec_` secret.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{content::Content, decode_base64, encode_base64, strip_key_prefix, SigningError};

pub(crate) const SECRET_PREFIX: &str = "whsec_";
pub(crate) const VERSION: &str = "v1";

/// The spec's bounds: at least 192 bits so the key can't be guessed, at most 512 because
/// longer HMAC-SHA256 keys are hashed down anyway and gain nothing.
const MIN_KEY_LEN: usize = 24;
const MAX_KEY_LEN: usize = 64;

/// A shared HMAC key. Its `Debug` never shows the bytes; [`HmacSecret::expose_secret`] is the
/// one way out.
#[derive(Clone)]
pub struct HmacSecret {
    key: Vec<u8>,
}

/// Makes a fresh `whsec_` secret from the caller's random bytes (24 to 64 of them); the core
/// has no random source of its own.
pub fn generate_hmac_secret(random: &[u8]) -> Result<HmacSecret, SigningError> {
    HmacSecret::from_bytes(random)
}

impl HmacSecret {
    /// Parses `whsec_<base64>`. An empty or bare `whsec_` secret is refused rather than becoming
    /// an HMAC key anyone can reproduce.
    pub fn parse(s: &str) -> Result<Self, SigningError> {
        let encoded = strip_key_prefix(s, SECRET_PREFIX)?;
        Self::from_bytes(&decode_base64(encoded)?)
    }

    fn from_bytes(key: &[u8]) -> Result<Self, SigningError> {
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) {
            return Err(SigningError::HmacKeyLength { len: key.len() });
        }
        Ok(Self { key: key.to_vec() })
    }

    /// The `whsec_` string, for showing once at creation and for storage.
    pub fn expose_secret(&self) -> String {
        format!("{SECRET_PREFIX}{}", encode_base64(&self.key))
    }

    /// The base64 signature, without the `v1,` tag.
    pub(crate) fn sign(&self, content: &Content<'_>) -> String {
        encode_base64(&self.tag(content))
    }

    /// The raw 32-byte MAC; the verifier computes it once per key and compares it against
    /// every received `v1` entry.
    pub(crate) fn tag(&self, content: &Content<'_>) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        for part in content.parts() {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSecret([REDACTED])")
    }
}
