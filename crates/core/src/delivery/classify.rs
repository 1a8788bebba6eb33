//! What an attempt's result means for the job (Standard Webhooks delivery guidance).

/// How an attempt ended, as the transport saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Response { status: u16, retry_after: Option<String> },
    Failed { error: TransportError, message: String },
}

/// Transport failures, named so the attempt log can say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportError {
    Timeout,
    Connect,
    Dns,
    Tls,
    Denied,
    Protocol,
    Other,
}

/// The class of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// 2xx: done.
    Delivered,
    /// 410: the receiver asks never to be called again.
    Gone,
    /// Anything else (3xx, 4xx, 5xx, transport errors): try again, maybe after `Retry-After`.
    Retryable { retry_after: Option<String> },
}

pub fn classify(result: &AttemptResult) -> Class {
    match result {
        AttemptResult::Response { status: 200..=299, .. } => Class::Delivered,
        AttemptResult::Response { status: 410, .. } => Class::Gone,
        AttemptResult::Response { retry_after, .. } => Class::Retryable { retry_after: retry_after.clone() },
        AttemptResult::Failed { .. } => Class::Retryable { retry_after: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, expected: Class) {
        let result = AttemptResult::Response { status, retry_after: None };
        assert_eq!(classify(&result), expected, "status {status}");
    }

    #[test]
    fn statuses() {
        let retry = Class::Retryable { retry_after: None };
        check(200, Class::Delivered);
        check(204, Class::Delivered);
        check(299, Class::Delivered);
        check(301, retry.clone());
        check(304, retry.clone());
        check(400, retry.clone());
        check(404, retry.clone());
        check(410, Class::Gone);
        check(429, retry.clone());
        check(500, retry.clone());
        check(503, retry.clone());
        let failed = AttemptResult::Failed { error: TransportError::Timeout, message: "slow".into() };
        assert_eq!(classify(&failed), retry);
    }
}
