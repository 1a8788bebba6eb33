//! Identifiers: a readable prefix plus 128 random bits, so ids can't be guessed.
//!
//! Each kind is its own type (`JobId`, `KeyId`, `TokenId`, `SubscriptionId`, `EventId`: one
//! `Id<P>` with a prefix marker), so a subscription id cannot name a job's key. An id is made from
//! random bytes, or parsed with the shape check where text comes in (path segments, headers,
//! stored records and entries). It keeps its text, so it prints, serializes and builds keys
//! exactly as the plain strings did before.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// Random bytes an id carries.
pub const ID_RANDOM_BYTES: usize = 16;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Base32 characters after the prefix: 26 × 5 bits hold the 128 random ones.
const ENCODED_LEN: usize = 26;

/// What kind of thing an id names: its text prefix.
pub trait Prefix {
    const PREFIX: &'static str;
}

/// The kinds of id, as markers for [`Id`].
pub mod kind {
    macro_rules! kinds {
        ($($(#[$doc:meta])* $name:ident = $prefix:literal;)*) => {$(
            $(#[$doc])*
            pub enum $name {}
            impl super::Prefix for $name {
                const PREFIX: &'static str = $prefix;
            }
        )*};
    }

    kinds! {
        /// `job_…`
        Job = "job_";
        /// `key_…`: a signing key in the keyring.
        Key = "key_";
        /// `hkt_…`: a scoped token (the text before the `.` of the token).
        Token = "hkt_";
        /// `sub_…`: a channel subscription, WebSub ones included.
        Subscription = "sub_";
        /// `evt_…`: a published event.
        Event = "evt_";
    }
}

pub type JobId = Id<kind::Job>;
pub type KeyId = Id<kind::Key>;
pub type TokenId = Id<kind::Token>;
pub type SubscriptionId = Id<kind::Subscription>;
pub type EventId = Id<kind::Event>;

/// An id of kind `P`: `P::PREFIX` followed by 26 lowercase base32 characters.
pub struct Id<P> {
    text: String,
    // `fn() -> P`: an id owns no `P` (the markers have no values) and stays `Send` and `Sync`.
    kind: PhantomData<fn() -> P>,
}

impl<P: Prefix> Id<P> {
    /// The id that carries `random`.
    pub fn from_random(random: &[u8; ID_RANDOM_BYTES]) -> Self {
        let mut value = u128::from_be_bytes(*random);
        let mut out = [0u8; ENCODED_LEN];
        for slot in out.iter_mut().rev() {
            *slot = ALPHABET[(value & 31) as usize];
            value >>= 5;
        }
        let mut text = String::with_capacity(P::PREFIX.len() + ENCODED_LEN);
        text.push_str(P::PREFIX);
        text.extend(out.iter().map(|&b| b as char));
        Self::new(text)
    }

    /// The id `text` spells, if it has the shape of one (cheap rejection before a store read).
    pub fn parse(text: &str) -> Option<Self> {
        has_shape(text, P::PREFIX).then(|| Self::new(text.to_string()))
    }
}

impl<P> Id<P> {
    fn new(text: String) -> Self {
        Id { text, kind: PhantomData }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn has_shape(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == ENCODED_LEN && rest.bytes().all(|b| ALPHABET.contains(&b)))
}

/// A job id determined by what it delivers (an event to a subscription), so redoing a fan-out
/// batch names the same jobs.
pub fn derived_job_id(parts: &[&str]) -> JobId {
    let digest = crate::digest::sha256_bytes(parts.join("\n").as_bytes());
    let mut random = [0u8; ID_RANDOM_BYTES];
    random.copy_from_slice(&digest[..ID_RANDOM_BYTES]);
    JobId::from_random(&random)
}

// The traits by hand: derived ones would ask the marker `P` for them too.

impl<P> Clone for Id<P> {
    fn clone(&self) -> Self {
        Self::new(self.text.clone())
    }
}

impl<P> PartialEq for Id<P> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<P> Eq for Id<P> {}

impl<P> PartialOrd for Id<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<P> Ord for Id<P> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl<P> Hash for Id<P> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl<P> fmt::Debug for Id<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl<P> fmt::Display for Id<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<P> AsRef<str> for Id<P> {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// A plain string, as ids were stored before they had types.
impl<P> Serialize for Id<P> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// A string of the wrong shape is an error, so a record carrying one does not decode.
impl<'de, P: Prefix> Deserialize<'de> for Id<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::invalid_value(serde::de::Unexpected::Str(&text), &IdShape(P::PREFIX)))
    }
}

/// What a malformed id was expected to be, for serde's error message.
struct IdShape(&'static str);

impl serde::de::Expected for IdShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an id `{}` followed by {ENCODED_LEN} base32 characters", self.0)
    }
}

#[cfg(test)]
mod tests;
