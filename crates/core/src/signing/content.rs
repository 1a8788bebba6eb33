//! What gets signed: `<webhook-id>.<webhook-timestamp>.<body>`.
//!
//! The three parts are joined with `.`, so a `.` inside the id would let one (id, timestamp,
//! body) triple be re-read as another with the same signature. The spec asks signers to keep
//! `.` out of ids; [`WebhookId`] makes that a type so signing itself can't fail.

use std::fmt;

use super::SigningError;

/// A message id that is safe to sign and to send as a header value: non-empty, printable ASCII,
/// no spaces and no `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookId(String);

impl WebhookId {
    pub fn new(id: &str) -> Result<Self, SigningError> {
        let printable = |b: u8| b.is_ascii_graphic() && b != b'.';
        if id.is_empty() || !id.bytes().all(printable) {
            return Err(SigningError::InvalidWebhookId);
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<&str> for WebhookId {
    type Error = SigningError;

    fn try_from(id: &str) -> Result<Self, Self::Error> {
        Self::new(id)
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Borrowed parts of the signed content. Kept in parts so HMAC can stream them without
/// copying the body; ed25519 needs one contiguous message and calls [`Content::to_vec`].
#[derive(Clone, Copy)]
pub(crate) struct Content<'a> {
    id: &'a str,
    timestamp: &'a str,
    body: &'a [u8],
}

impl<'a> Content<'a> {
    /// Callers have already ruled out `.` in `id` and `timestamp` (the signer through
    /// [`WebhookId`] and an integer, the verifier by checking the received headers).
    pub(crate) fn new(id: &'a str, timestamp: &'a str, body: &'a [u8]) -> Self {
        Self { id, timestamp, body }
    }

    pub(crate) fn parts(&self) -> [&'a [u8]; 5] {
        [self.id.as_bytes(), b".", self.timestamp.as_bytes(), b".", self.body]
    }

    pub(crate) fn to_vec(self) -> Vec<u8> {
        self.parts().concat()
    }
}
