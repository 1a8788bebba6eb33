//! The core's error: what went wrong, in the core's words. It names no HTTP status; the API turns
//! it into a status and a JSON body in one place (`api::error`).
//!
//! Its `Display` is the message people read in the answer; the variant (and, where one rule of
//! many was broken, the `code`) is what callers and tests match on. The engine, the parsers
//! (`request/`, `websub/`, `channels/grammar.rs`) and `auth.rs` return it. Its kinds: invalid
//! input (with its code), unauthenticated, forbidden, not found, conflict, busy, too large, too
//! many calls in a batch, refused, store full, not configured, storage. A failed delivery is an
//! outcome recorded on the job, never an error.

use crate::ports::KvError;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The input breaks a rule; `code` names which (`bad_target`, `bad_json`, …).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The caller did not show who they are, or showed an unknown credential.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this; `code` is `forbidden` or `reserved_channel`.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    /// The record's state does not allow it (`not_finished`, `too_many_keys`, …).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Another writer holds the record's turn: nothing changed, and trying again shortly will do.
    #[error("the record is being changed by another request; try again shortly")]
    Busy,
    /// A body over the configured limit.
    #[error("the body is over the {limit}-byte limit")]
    TooLarge { limit: usize },
    /// A batch of more calls than `batch_max_calls`.
    #[error("a batch holds at most {limit} calls (batch_max_calls)")]
    TooManyCalls { limit: usize },
    /// Well-formed, but what it refers to cannot be used: an idempotency key taken by another
    /// submission, a topic that cannot be fetched whole.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The store is near its key cap (`store_max_keys`): new work is refused so that the jobs
    /// held can still be delivered.
    #[error("{0}")]
    StoreFull(String),
    /// A setting Hookah needs is missing.
    #[error("{0}")]
    NotConfigured(String),
    /// The store failed: not the caller's fault, and nothing was promised.
    #[error("the key-value store failed: {0}")]
    Storage(String),
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { code, message: message.into() }
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Error::Unauthenticated(message.into())
    }
    /// Refused to a known caller (`code` `forbidden`).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden { code: "forbidden", message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound(message.into())
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict { code, message: message.into() }
    }
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Error::Refused { code, message: message.into() }
    }
    pub fn storage(detail: impl std::fmt::Display) -> Self {
        Error::Storage(detail.to_string())
    }
}

impl From<KvError> for Error {
    fn from(error: KvError) -> Self {
        Self::storage(error)
    }
}
