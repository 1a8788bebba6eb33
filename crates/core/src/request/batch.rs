//! Parsing a batch (`POST /_hookah/v1/batch`): a JSON array of calls, each validated as a single
//! submission is. The per-job controls are the `Hookah-*` headers' and go through the same parsers
//! (`control.rs`, the callback's address policy, the idempotency key's rule); the target is an
//! absolute URL under the same address policy.
//!
//! A batch is all or nothing: the first bad call refuses the whole batch, naming its index, before
//! anything is stored. A body over `max_body_bytes` or more than `batch_max_calls` calls is a 413.

use super::{address, headers, parse_control, parse_idempotency_key, parse_method, target, Submission};
use crate::config::Config;
use crate::error::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// A refused batch: the error, and the index of the call it is about (`None`: the batch as a
/// whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    pub index: Option<usize>,
    pub error: Error,
}

impl BatchError {
    /// `error` about call `index`: its message is prefixed `call {index}: `.
    pub fn at(index: usize, error: Error) -> Self {
        Self::about("call", index, error)
    }

    /// `error` about the `item` (`call`, `event`) at `index`: its message is prefixed
    /// `{item} {index}: `.
    pub fn about(item: &str, index: usize, error: Error) -> Self {
        let named = |message: String| format!("{item} {index}: {message}");
        let error = match error {
            Error::Invalid { code, message } => Error::Invalid { code, message: named(message) },
            Error::Conflict { code, message } => Error::Conflict { code, message: named(message) },
            Error::Refused { code, message } => Error::Refused { code, message: named(message) },
            other => other,
        };
        BatchError { index: Some(index), error }
    }
}

impl From<Error> for BatchError {
    fn from(error: Error) -> Self {
        BatchError { index: None, error }
    }
}

impl From<crate::ports::KvError> for BatchError {
    fn from(error: crate::ports::KvError) -> Self {
        Error::from(error).into()
    }
}

/// One call as the batch's JSON gives it. Unknown fields are refused, as unknown `Hookah-*`
/// headers are, so a typo is caught.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call {
    url: String,
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    body_base64: Option<String>,
    max_attempts: Option<u64>,
    timeout: Option<u64>,
    delay: Option<u64>,
    signing_key: Option<String>,
    callback: Option<String>,
    callback_events: Option<String>,
    idempotency_key: Option<String>,
    flow_key: Option<String>,
}

/// Validates a whole batch; the submissions come in call order.
pub fn parse_batch(body: &[u8], config: &Config) -> Result<Vec<Submission>, BatchError> {
    let calls = batch_items(body, config, "call")?;
    let mut keys = HashSet::new();
    let mut submissions = Vec::with_capacity(calls.len());
    for (index, call) in calls.into_iter().enumerate() {
        let submission = parse_call(call, config).map_err(|error| BatchError::at(index, error))?;
        if let Some(key) = &submission.idempotency_key {
            if !keys.insert(key.clone()) {
                let message = format!("idempotency_key `{key}` is used by an earlier call of this batch");
                return Err(BatchError::at(index, Error::invalid("duplicate_idempotency_key", message)));
            }
        }
        submissions.push(submission);
    }
    Ok(submissions)
}

fn parse_call(call: Value, config: &Config) -> Result<Submission, Error> {
    let call: Call = serde_json::from_value(call).map_err(|error| Error::invalid("bad_call", error.to_string()))?;
    let method = parse_method(call.method.as_deref().unwrap_or("POST"))?;
    let target = target::parse_url("url", &call.url)?;
    address::check_target(&target, &config.allowed_private_targets)?;
    // The controls as the headers that carry them for a single call, read by the same parser.
    let controls = [
        ("hookah-max-attempts", call.max_attempts.map(|n| n.to_string())),
        ("hookah-timeout", call.timeout.map(|n| n.to_string())),
        ("hookah-delay", call.delay.map(|n| n.to_string())),
        ("hookah-signing-key", call.signing_key),
        ("hookah-callback", call.callback),
        ("hookah-callback-events", call.callback_events),
        ("hookah-flow-key", call.flow_key),
    ];
    let controls: Vec<(String, String)> =
        controls.into_iter().filter_map(|(name, value)| Some((name.to_string(), value?))).collect();
    let control = parse_control(&controls, config)?;
    let idempotency_key = parse_idempotency_key(call.idempotency_key.as_deref())?;
    let mut sent = Vec::with_capacity(call.headers.len());
    for (name, value) in call.headers {
        check_header(&name, &value)?;
        sent.push((name, value));
    }
    let body = item_body(call.body, call.body_base64, "bad_call")?;
    Ok(Submission { method, target, headers: headers::forwarded(&sent), body, control, idempotency_key })
}

/// The items of a batch of `item`s (`call`, `event`): a JSON array of 1 to `batch_max_calls`
/// values in a body of at most `max_body_bytes`. The items themselves are the caller's to check.
pub(super) fn batch_items(body: &[u8], config: &Config, item: &str) -> Result<Vec<Value>, BatchError> {
    if body.len() > config.max_body_bytes {
        return Err(super::too_large(config.max_body_bytes).into());
    }
    let items: Vec<Value> = match serde_json::from_slice(body) {
        Ok(Value::Array(items)) => items,
        Ok(_) => return Err(Error::invalid("bad_json", format!("a batch is a JSON array of {item}s")).into()),
        Err(error) => return Err(Error::invalid("bad_json", format!("the batch is not JSON: {error}")).into()),
    };
    if items.is_empty() {
        return Err(Error::invalid("empty_batch", format!("a batch holds at least one {item}")).into());
    }
    if items.len() > config.batch_max_calls {
        return Err(Error::TooManyCalls { limit: config.batch_max_calls }.into());
    }
    Ok(items)
}

/// An item's body, given as text (`body`) or as base64 (`body_base64`), or empty; `code` is the
/// item's error code for giving both or bad base64.
pub(super) fn item_body(text: Option<String>, base64: Option<String>, code: &'static str) -> Result<Vec<u8>, Error> {
    match (text, base64) {
        (Some(_), Some(_)) => Err(Error::invalid(code, "give body or body_base64, not both")),
        (Some(text), None) => Ok(text.into_bytes()),
        (None, Some(encoded)) => {
            STANDARD.decode(encoded.trim()).map_err(|_| Error::invalid(code, "body_base64 is not base64"))
        }
        (None, None) => Ok(Vec::new()),
    }
}

/// A header a call asks to send: a token for its name, a value without control characters (but
/// tabs). Controls go in the call's fields, not in `hookah-*` headers.
fn check_header(name: &str, value: &str) -> Result<(), Error> {
    let token = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(Error::invalid("bad_header", format!("`{name}` is not a header name")));
    }
    check_header_value(name, value)?;
    if name.to_ascii_lowercase().starts_with("hookah-") {
        let message = format!("header {name}: a call's controls are its fields (max_attempts, delay, …)");
        return Err(Error::invalid("bad_header", message));
    }
    Ok(())
}

/// A header value an item asks to send: no control characters but tabs.
pub(super) fn check_header_value(name: &str, value: &str) -> Result<(), Error> {
    if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(Error::invalid("bad_header", format!("header {name} holds control characters")));
    }
    Ok(())
}

/// A batch parser's verdict on `body` under a limit of 3 items and 2,000 bytes, as the table
/// tests of both batch parsers compare it: the number of items, or the index, code and status.
#[cfg(test)]
pub(super) fn verdict<T>(
    parse: fn(&[u8], &Config) -> Result<Vec<T>, BatchError>,
    body: &str,
) -> Result<usize, (Option<usize>, &'static str, u16)> {
    let config = Config { batch_max_calls: 3, max_body_bytes: 2_000, ..Config::default() };
    parse(body.as_bytes(), &config).map(|items| items.len()).map_err(|e| {
        let answer = crate::ApiError::from(e.error);
        (e.index, answer.code, answer.status)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<usize, (Option<usize>, &str, u16)>) {
        assert_eq!(verdict(parse_batch, body), expected, "{body}");
    }

    #[test]
    fn batches() {
        let ok = r#"{"url":"https://a.example/x"}"#;
        check(&format!("[{ok}]"), Ok(1));
        check(&format!("[{ok},{ok},{ok}]"), Ok(3));
        check(&format!("[{ok},{ok},{ok},{ok}]"), Err((None, "too_many_calls", 413)));
        check(&format!("[{}]", "x".repeat(2_000)), Err((None, "body_too_large", 413)));
        check("[", Err((None, "bad_json", 400)));
        check("{}", Err((None, "bad_json", 400)));
        check("[]", Err((None, "empty_batch", 400)));
        check(&format!("[{ok},1]"), Err((Some(1), "bad_call", 400)));
        check(&format!(r#"[{ok},{{"url":"https://a.example/","color":"red"}}]"#), Err((Some(1), "bad_call", 400)));
        check(r#"[{"method":"POST"}]"#, Err((Some(0), "bad_call", 400)));
        check(r#"[{"url":"a.example/x"}]"#, Err((Some(0), "bad_target", 400)));
        check(r#"[{"url":"http://127.0.0.1/x"}]"#, Err((Some(0), "forbidden_target", 400)));
        check(&format!(r#"[{ok},{{"url":"https://a.example/","delay":-1}}]"#), Err((Some(1), "bad_call", 400)));
        check(r#"[{"url":"https://a.example/","max_attempts":51}]"#, Err((Some(0), "bad_control_header", 400)));
        check(
            r#"[{"url":"https://a.example/","callback_events":"attempts"}]"#,
            Err((Some(0), "bad_control_header", 400)),
        );
        check(
            r#"[{"url":"https://a.example/","callback":"http://10.0.0.1/"}]"#,
            Err((Some(0), "forbidden_target", 400)),
        );
        check(r#"[{"url":"https://a.example/","method":"PO ST"}]"#, Err((Some(0), "bad_method", 400)));
        check(r#"[{"url":"https://a.example/","headers":{"a b":"1"}}]"#, Err((Some(0), "bad_header", 400)));
        check(r#"[{"url":"https://a.example/","headers":{"x":"1\r\ny: 2"}}]"#, Err((Some(0), "bad_header", 400)));
        check(r#"[{"url":"https://a.example/","headers":{"hookah-delay":"1"}}]"#, Err((Some(0), "bad_header", 400)));
        check(r#"[{"url":"https://a.example/","body":"a","body_base64":"YQ=="}]"#, Err((Some(0), "bad_call", 400)));
        check(r#"[{"url":"https://a.example/","body_base64":"!"}]"#, Err((Some(0), "bad_call", 400)));
        check(r#"[{"url":"https://a.example/","idempotency_key":""}]"#, Err((Some(0), "bad_idempotency_key", 400)));
        let twice = r#"{"url":"https://a.example/","idempotency_key":"k"}"#;
        check(&format!("[{twice},{ok},{twice}]"), Err((Some(2), "duplicate_idempotency_key", 400)));
    }

    #[test]
    fn a_call_becomes_the_submission_its_headers_would_make() {
        let body = r#"[{"url":"https://a.example/h?q=1","method":"put","headers":{"X-A":"1","Authorization":"b"},
            "body_base64":"AAE=","max_attempts":3,"timeout":2,"delay":60,"callback":"https://r.example/",
            "callback_events":"attempts","idempotency_key":" k "}]"#;
        let calls = parse_batch(body.as_bytes(), &Config::default()).unwrap();
        let call = &calls[0];
        assert_eq!((call.method.as_str(), call.target.url()), ("PUT", "https://a.example/h?q=1".to_string()));
        assert_eq!(call.headers, vec![("x-a".to_string(), "1".to_string())], "authorization is never passed on");
        assert_eq!(call.body, vec![0, 1]);
        let control = &call.control;
        assert_eq!((control.max_attempts, control.timeout_ms, control.delay_ms), (Some(3), Some(2_000), 60_000));
        assert_eq!((control.callback.as_deref(), control.callback_attempts), (Some("https://r.example/"), true));
        assert_eq!(call.idempotency_key.as_deref(), Some("k"));
    }

    #[test]
    fn a_bad_call_is_named_by_its_index() {
        let body = r#"[{"url":"https://a.example/"},{"url":"ftp://a.example/"}]"#;
        let error = parse_batch(body.as_bytes(), &Config::default()).unwrap_err();
        assert_eq!(error.index, Some(1));
        assert_eq!(error.error.to_string(), "call 1: url must be an absolute http:// or https:// URL");
    }
}
