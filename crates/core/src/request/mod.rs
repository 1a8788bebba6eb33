//! Turning an incoming dispatch request into a validated submission, in one pass.

pub mod address;
pub mod batch;
pub mod control;
pub mod event_batch;
pub mod headers;
pub mod target;

#[cfg(test)]
mod proptests;

use crate::config::Config;
use crate::error::Error;
pub use batch::{parse_batch, BatchError};
pub use control::Control;
pub use event_batch::{is_event_batch, parse_event_batch, NewEvent};
pub use target::{Scheme, Target};

/// A dispatch request as the adapter received it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A webhook call that passed every check and can be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub method: String,
    pub target: Target,
    /// End-to-end headers to send, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub control: Control,
    /// The caller's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
}

/// 413 for a body over the configured limit.
pub fn too_large(limit: usize) -> Error {
    Error::TooLarge { limit }
}

/// Validates a dispatch request: method, target, control headers, address policy, body size.
pub fn parse_submission(incoming: Incoming, config: &Config) -> Result<Submission, Error> {
    if incoming.body.len() > config.max_body_bytes {
        return Err(too_large(config.max_body_bytes));
    }
    let method = parse_method(&incoming.method)?;
    let is_form = incoming
        .header("content-type")
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let resolved = target::resolve(&incoming.path_and_query, is_form.then_some(incoming.body.as_slice()))?;
    address::check_target(&resolved.target, &config.allowed_private_targets)?;
    let control = parse_control(&incoming.headers, config)?;
    let idempotency_key = parse_idempotency_key(incoming.header("idempotency-key"))?;
    Ok(Submission {
        method,
        target: resolved.target,
        headers: headers::forwarded(&incoming.headers),
        body: resolved.rewritten_body.unwrap_or(incoming.body),
        control,
        idempotency_key,
    })
}

/// An HTTP method (a token), uppercased.
pub(crate) fn parse_method(text: &str) -> Result<String, Error> {
    let method = text.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) {
        return Err(Error::invalid("bad_method", format!("`{method}` is not an HTTP method")));
    }
    Ok(method)
}

/// The `Hookah-*` controls among `headers`, with the callback URL checked against the address
/// policy.
pub(crate) fn parse_control(headers: &[(String, String)], config: &Config) -> Result<Control, Error> {
    let mut control = control::parse(headers)?;
    if let Some(url) = &control.callback {
        // A malformed value is a bad control header like any other; a refused address is not.
        let callback = target::parse_url("hookah-callback", url)
            .map_err(|e| Error::invalid("bad_control_header", e.to_string()))?;
        address::check_target(&callback, &config.allowed_private_targets)?;
        control.callback = Some(callback.url());
    }
    Ok(control)
}

/// An `Idempotency-Key`, trimmed: 1 to 255 characters.
pub(crate) fn parse_idempotency_key(value: Option<&str>) -> Result<Option<String>, Error> {
    let idempotency_key = value.map(|key| key.trim().to_string());
    if idempotency_key.as_ref().is_some_and(|key| key.is_empty() || key.len() > 255) {
        return Err(Error::invalid("bad_idempotency_key", "Idempotency-Key must be 1 to 255 characters"));
    }
    Ok(idempotency_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Incoming {
        Incoming {
            method: method.into(),
            path_and_query: path.into(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn one_pass() {
        let config = Config::default();
        let submission = parse_submission(
            incoming("post", "/example.com/cb?x=1", &[("Authorization", "Bearer t"), ("X-A", "1")], "{}"),
            &config,
        )
        .unwrap();
        assert_eq!(submission.method, "POST");
        assert_eq!(submission.target.url(), "http://example.com/cb?x=1");
        assert_eq!(submission.headers, vec![("x-a".to_string(), "1".to_string())]);
        assert_eq!(submission.body, b"{}");
    }

    #[test]
    fn refusals() {
        let config = Config { max_body_bytes: 4, ..Config::default() };
        let check = |req: Incoming, code: &str, status: u16| {
            let err = crate::ApiError::from(parse_submission(req, &config).unwrap_err());
            assert_eq!((err.code, err.status), (code, status));
        };
        check(incoming("POST", "/example.com/", &[], "12345"), "body_too_large", 413);
        check(incoming("PO ST", "/example.com/", &[], ""), "bad_method", 400);
        check(incoming("POST", "/127.0.0.1/", &[], ""), "forbidden_target", 400);
        check(incoming("POST", "/example.com/", &[("Hookah-Delay", "soon")], ""), "bad_control_header", 400);
        check(incoming("POST", "/", &[], ""), "no_destination", 400);
    }

    #[test]
    fn form_url_is_removed_from_body() {
        let req = incoming(
            "POST",
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "_url=https%3A%2F%2Fexample.com%2Fcb&k=v",
        );
        let submission = parse_submission(req, &Config::default()).unwrap();
        assert_eq!(submission.target.url(), "https://example.com/cb");
        assert_eq!(submission.body, b"k=v");
    }

    /// Seeded random inputs: parsing answers a submission or a 4xx error, and never panics.
    #[test]
    fn arbitrary_input_never_panics() {
        const PIECES: &[&str] = &[
            "/",
            "//",
            "http:",
            "https:",
            "example.com",
            "127.0.0.1",
            "[::1]",
            "[",
            "]",
            ":",
            "8080",
            "?",
            "&",
            "=",
            "_url",
            "%",
            "%2F",
            "%zz",
            "+",
            "@",
            "€",
            " ",
            "\t",
            "dispatch",
            "0x7f",
            "..",
            "#",
            "localhost",
        ];
        let config = Config::default();
        let mut seed: u64 = 42;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        for _ in 0..5_000 {
            let path: String = (0..next(8)).map(|_| PIECES[next(PIECES.len())]).collect();
            let body: String = (0..next(4)).map(|_| PIECES[next(PIECES.len())]).collect();
            let form = if next(2) == 0 { "application/x-www-form-urlencoded" } else { "text/plain" };
            let control = ["hookah-delay", "hookah-mode", "hookah-callback", "hookah-wait"][next(4)];
            let value = PIECES[next(PIECES.len())];
            let request = incoming("POST", &format!("/{path}"), &[("content-type", form), (control, value)], &body);
            if let Err(error) = parse_submission(request, &config) {
                assert!((400..500).contains(&crate::ApiError::from(error).status));
            }
        }
    }
}
