//! Parsing a batch of events (`POST /_hookah/v1/channels/{channel}/events` with a JSON array):
//! each event is what a single publish takes from its request, as fields: `event_type` (the
//! `Hookah-Event-Type` header), `content_type` (the `Content-Type` kept with the event) and the
//! body, as text (`body`) or base64 (`body_base64`).
//!
//! The envelope is the job batch's (`request/batch.rs`): all or nothing, the first bad event
//! refuses the whole batch naming its index, a body over `max_body_bytes` or more than
//! `batch_max_calls` events is a 413. A single publish has no per-event controls (no idempotency
//! key), so there is nothing an event may not repeat from another.
//!
//! Which form a request has: with `Hookah-Event-Type` its body is one event, whatever it holds (an
//! array too, as before batches); without it, a body that is a JSON array is a batch.

use super::batch::{batch_items, check_header_value, item_body};
use super::BatchError;
use crate::channels::grammar::check_event_type;
use crate::config::Config;
use crate::error::Error;
use serde::Deserialize;
use serde_json::Value;

/// One event to publish, validated: its type, the headers kept with it, its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_type: String,
    /// `content-type`, when the event gives one.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One event as the batch's JSON gives it. Unknown fields are refused, so a typo is caught.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    event_type: String,
    content_type: Option<String>,
    body: Option<String>,
    body_base64: Option<String>,
}

/// Whether a publish without `Hookah-Event-Type` is a batch: its body is a JSON array (it opens
/// with `[`; whether it parses is for [`parse_event_batch`] to say).
pub fn is_event_batch(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// Validates a whole batch of events; they come in batch order.
pub fn parse_event_batch(body: &[u8], config: &Config) -> Result<Vec<NewEvent>, BatchError> {
    let items = batch_items(body, config, "event")?;
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        events.push(parse_item(item).map_err(|error| BatchError::about("event", index, error))?);
    }
    Ok(events)
}

fn parse_item(item: Value) -> Result<NewEvent, Error> {
    let item: Item = serde_json::from_value(item).map_err(|error| Error::invalid("bad_event", error.to_string()))?;
    let event_type = item.event_type.trim().to_string();
    check_event_type(&event_type)?;
    let mut headers = Vec::new();
    if let Some(content_type) = item.content_type {
        check_header_value("content-type", &content_type)?;
        headers.push(("content-type".to_string(), content_type));
    }
    let body = item_body(item.body, item.body_base64, "bad_event")?;
    Ok(NewEvent { event_type, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<usize, (Option<usize>, &str, u16)>) {
        assert_eq!(crate::request::batch::verdict(parse_event_batch, body), expected, "{body}");
    }

    #[test]
    fn batches() {
        let ok = r#"{"event_type":"invoice.paid"}"#;
        check(&format!("[{ok}]"), Ok(1));
        check(&format!("[{ok},{ok},{ok}]"), Ok(3));
        check(&format!("[{ok},{ok},{ok},{ok}]"), Err((None, "too_many_calls", 413)));
        check(&format!("[{}]", "x".repeat(2_000)), Err((None, "body_too_large", 413)));
        check("[", Err((None, "bad_json", 400)));
        check("{}", Err((None, "bad_json", 400)));
        check("[]", Err((None, "empty_batch", 400)));
        check(&format!("[{ok},1]"), Err((Some(1), "bad_event", 400)));
        check(&format!("[{ok},{{}}]"), Err((Some(1), "bad_event", 400)));
        check(&format!(r#"[{ok},{{"event_type":"a.b","color":"red"}}]"#), Err((Some(1), "bad_event", 400)));
        check(r#"[{"event_type":7}]"#, Err((Some(0), "bad_event", 400)));
        check(&format!(r#"[{ok},{ok},{{"event_type":"a..b"}}]"#), Err((Some(2), "bad_event_type", 400)));
        check(r#"[{"event_type":""}]"#, Err((Some(0), "bad_event_type", 400)));
        check(r#"[{"event_type":"a","content_type":"text/plain\r\nx: 1"}]"#, Err((Some(0), "bad_header", 400)));
        check(r#"[{"event_type":"a","body":"a","body_base64":"YQ=="}]"#, Err((Some(0), "bad_event", 400)));
        check(r#"[{"event_type":"a","body_base64":"!"}]"#, Err((Some(0), "bad_event", 400)));
    }

    #[test]
    fn an_event_is_what_a_single_publish_would_take() {
        let body = r#"[{"event_type":" invoice.paid ","content_type":"application/json","body":"{\"n\":1}"},
            {"event_type":"file.sent","body_base64":"AAE="}]"#;
        let events = parse_event_batch(body.as_bytes(), &Config::default()).unwrap();
        let expected = NewEvent {
            event_type: "invoice.paid".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"n":1}"#.to_vec(),
        };
        assert_eq!(events[0], expected);
        assert_eq!(events[1], NewEvent { event_type: "file.sent".into(), headers: vec![], body: vec![0, 1] });
    }

    #[test]
    fn a_bad_event_is_named_by_its_index() {
        let body = r#"[{"event_type":"a.b"},{"event_type":"a b"}]"#;
        let error = parse_event_batch(body.as_bytes(), &Config::default()).unwrap_err();
        assert_eq!(error.index, Some(1));
        assert_eq!(error.error.to_string(), "event 1: `a b` is not an event type");
    }

    #[test]
    fn only_a_body_that_opens_an_array_is_a_batch() {
        for (body, batch) in [("[]", true), (" \n[{", true), ("[1", true), ("{}", false), ("", false), ("x[", false)] {
            assert_eq!(is_event_batch(body.as_bytes()), batch, "{body:?}");
        }
    }
}
