//! `v1a`: ed25519 signatures. Hookah keeps the `whsk_` private key; receivers only ever get
//! the `whpk_` public key, so a leaked receiver config can't forge messages.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::{content::Content, decode_base64, encode_base64, strip_key_prefix, SigningError};

pub(crate) const SECRET_PREFIX: &str = "whsk_";
pub(crate) const PUBLIC_PREFIX: &str = "whpk_";
pub(crate) const VERSION: &str = "v1a";

const SEED_LEN: usize = 32;
const PUBLIC_LEN: usize = 32;

/// An ed25519 private key. Its `Debug` never shows the seed; [`Ed25519Secret::expose_secret`]
/// is the one way out. The seed is zeroized on drop by ed25519-dalek.
#[derive(Clone)]
pub struct Ed25519Secret {
    key: SigningKey,
}

/// An ed25519 public key as receivers hold it; displays as `whpk_<base64>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ed25519PublicKey {
    key: VerifyingKey,
}

/// Makes a key pair from the caller's 32 random bytes; the core has no random source of its
/// own. The same seed always gives the same key.
pub fn generate_ed25519_secret(seed: &[u8; 32]) -> Ed25519Secret {
    Ed25519Secret { key: SigningKey::from_bytes(seed) }
}

impl Ed25519Secret {
    /// Parses `whsk_<base64(seed ‖ public key)>`. The public half is redundant, so it is
    /// checked against the seed: a mismatch means a corrupted or spliced key, and signing with
    /// it would hand receivers a public key that never verifies.
    pub fn parse(s: &str) -> Result<Self, SigningError> {
        let bytes = decode_base64(strip_key_prefix(s, SECRET_PREFIX)?)?;
        if bytes.len() != SEED_LEN + PUBLIC_LEN {
            return Err(SigningError::Ed25519SecretLength { len: bytes.len() });
        }
        let (seed, public) = bytes.split_at(SEED_LEN);
        let seed: &[u8; SEED_LEN] = seed.try_into().expect("split at SEED_LEN");
        let secret = generate_ed25519_secret(seed);
        if secret.key.verifying_key().as_bytes() != public {
            return Err(SigningError::KeyPairMismatch);
        }
        Ok(secret)
    }

    pub fn public_key(&self) -> Ed25519PublicKey {
        Ed25519PublicKey { key: self.key.verifying_key() }
    }

    /// The `whsk_` string, for showing once at creation and for storage.
    pub fn expose_secret(&self) -> String {
        let bytes = [self.key.as_bytes().as_slice(), self.key.verifying_key().as_bytes()].concat();
        format!("{SECRET_PREFIX}{}", encode_base64(&bytes))
    }

    /// The base64 signature, without the `v1a,` tag.
    pub(crate) fn sign(&self, content: &Content<'_>) -> String {
        encode_base64(&self.key.sign(&content.to_vec()).to_bytes())
    }
}

impl Ed25519PublicKey {
    /// Parses `whpk_<base64>`, refusing byte strings that are not a point on the curve.
    pub fn parse(s: &str) -> Result<Self, SigningError> {
        let bytes = decode_base64(strip_key_prefix(s, PUBLIC_PREFIX)?)?;
        let bytes: &[u8; PUBLIC_LEN] =
            bytes.as_slice().try_into().map_err(|_| SigningError::Ed25519PublicKeyLength { len: bytes.len() })?;
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| SigningError::InvalidPublicKey)?;
        Ok(Self { key })
    }

    /// Checks a received, already base64-decoded `v1a` signature. `verify_strict` rather than
    /// `verify` so a valid signature can't be altered into a second valid one, and weak keys
    /// are refused.
    /// `message` is the whole signed content, built once by the verifier for all entries.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Display for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", encode_base64(self.key.as_bytes()))
    }
}

// Public keys are not secret, so `Debug` shows the usual `whpk_` form.
impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({self})")
    }
}

impl fmt::Debug for Ed25519Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519Secret([REDACTED])")
    }
}
