//! The one mapping from errors to HTTP answers: a status, a machine-readable code and a
//! message, sent as `{"error":{"code":"…","message":"…"}}`.
//!
//! `From<Error> for ApiError` is the one place a core error gets its status and code, and
//! `Reply::error` the one place it becomes that body. `api/` makes `ApiError`s of its own only for
//! HTTP itself: no route, a wrong method, the receiver's failure in inline mode.

use crate::error::Error;
use serde_json::json;

/// An error answer: HTTP status, machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The call of a batch the error is about (`POST /_hookah/v1/batch`); absent elsewhere.
    pub index: Option<usize>,
}

impl ApiError {
    /// An answer about HTTP itself (a route, a method, the receiver in inline mode, an
    /// adapter's configuration); everything the core decides comes `From<Error>`.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), index: None }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::invalid(code, message).into()
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::not_found(message).into()
    }
    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::new(405, "method_not_allowed", format!("this route accepts {allowed}"))
    }
    pub fn storage(detail: impl std::fmt::Display) -> Self {
        Error::storage(detail).into()
    }

    /// `{"error":{"code":"…","message":"…"}}`, with `"index"` when the error is about one call
    /// of a batch.
    pub fn body(&self) -> Vec<u8> {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(index) = self.index {
            error["index"] = json!(index);
        }
        json!({ "error": error }).to_string().into_bytes()
    }
}

/// The single place a core error gets its status and code.
impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let (status, code) = match &error {
            Error::Invalid { code, .. } => (400, *code),
            Error::Unauthenticated(_) => (401, "unauthorized"),
            Error::Forbidden { code, .. } => (403, *code),
            Error::NotFound(_) => (404, "not_found"),
            Error::Conflict { code, .. } => (409, *code),
            Error::Busy => (409, "busy"),
            Error::TooLarge { .. } => (413, "body_too_large"),
            Error::TooManyCalls { .. } => (413, "too_many_calls"),
            Error::Refused { code, .. } => (422, *code),
            Error::StoreFull(_) => (507, "store_full"),
            Error::NotConfigured(_) => (503, "not_configured"),
            Error::Storage(_) => (503, "storage_unavailable"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<crate::request::BatchError> for ApiError {
    fn from(error: crate::request::BatchError) -> Self {
        Self { index: error.index, ..error.error.into() }
    }
}

impl From<crate::ports::KvError> for ApiError {
    fn from(error: crate::ports::KvError) -> Self {
        Error::from(error).into()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::KvError;

    fn check(error: Error, status: u16, code: &str, message: &str) {
        let answer = ApiError::from(error.clone());
        assert_eq!((answer.status, answer.code, answer.message.as_str()), (status, code, message), "{error:?}");
    }

    #[test]
    fn each_error_has_its_status_and_code() {
        check(Error::invalid("bad_target", "no host"), 400, "bad_target", "no host");
        check(Error::unauthenticated("send a token"), 401, "unauthorized", "send a token");
        check(Error::forbidden("not yours"), 403, "forbidden", "not yours");
        let reserved = Error::Forbidden { code: "reserved_channel", message: "only Hookah".into() };
        check(reserved, 403, "reserved_channel", "only Hookah");
        check(Error::not_found("no job j"), 404, "not_found", "no job j");
        check(Error::conflict("not_finished", "still pending"), 409, "not_finished", "still pending");
        let busy = "the record is being changed by another request; try again shortly";
        check(Error::Busy, 409, "busy", busy);
        check(Error::TooLarge { limit: 10 }, 413, "body_too_large", "the body is over the 10-byte limit");
        let calls = "a batch holds at most 3 calls (batch_max_calls)";
        check(Error::TooManyCalls { limit: 3 }, 413, "too_many_calls", calls);
        check(Error::refused("topic_unavailable", "no 2xx"), 422, "topic_unavailable", "no 2xx");
        check(Error::NotConfigured("set it".into()), 503, "not_configured", "set it");
        let storage = "the key-value store failed: key-value store: down";
        check(Error::from(KvError("down".into())), 503, "storage_unavailable", storage);
    }

    #[test]
    fn a_batch_error_names_its_call() {
        let error = crate::request::BatchError::at(3, Error::invalid("bad_target", "no host"));
        let value: serde_json::Value = serde_json::from_slice(&ApiError::from(error).body()).unwrap();
        assert_eq!(value, json!({"error": {"code": "bad_target", "message": "call 3: no host", "index": 3}}));
    }

    #[test]
    fn body_shape() {
        let body = ApiError::bad_request("bad_target", "no \"host\"").body();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value, json!({"error": {"code": "bad_target", "message": "no \"host\""}}));
    }
}
