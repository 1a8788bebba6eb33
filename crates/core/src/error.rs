//! The one error type the API answers with, and its single mapping to status and JSON body.

use serde_json::json;

/// An error answer: HTTP status, machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }
    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::new(405, "method_not_allowed", format!("this route accepts {allowed}"))
    }
    /// The store failed: not the caller's fault, and nothing was promised.
    pub fn storage(detail: impl std::fmt::Display) -> Self {
        Self::new(503, "storage_unavailable", format!("the key-value store failed: {detail}"))
    }

    /// `{"error":{"code":"…","message":"…"}}`
    pub fn body(&self) -> Vec<u8> {
        json!({ "error": { "code": self.code, "message": self.message } }).to_string().into_bytes()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<crate::ports::KvError> for ApiError {
    fn from(error: crate::ports::KvError) -> Self {
        Self::storage(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let body = ApiError::bad_request("bad_target", "no \"host\"").body();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value, json!({"error": {"code": "bad_target", "message": "no \"host\""}}));
    }
}
