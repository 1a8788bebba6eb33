//! The operators' dashboard: the static files of `ui/` (HTML, CSS, JS, no dependencies) compiled
//! in with `include_str!`, served publicly (they hold no data; every call they make needs the API
//! token the operator pastes) under a strict Content-Security-Policy. Its browser test is
//! `crates/host/tests/browser/dashboard.mjs` (`playwright-core` driving Debian's Chromium),
//! started from `crates/host/tests/it/dashboard.rs`.

use super::ApiError;
use super::{FollowUp, Reply};

const INDEX: &str = include_str!("../../../../ui/index.html");
const SCRIPT: &str = include_str!("../../../../ui/app.js");
const STYLE: &str = include_str!("../../../../ui/app.css");

/// Only the page's own files: no inline script or style, no other origin, no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The file at `/_hookah/ui{rest}`, if there is one.
pub(super) fn ui_file(rest: &str) -> Result<Reply, ApiError> {
    let (body, content_type) = match rest {
        "" | "/" => (INDEX, "text/html; charset=utf-8"),
        "/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/app.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return Err(ApiError::not_found(format!("no such dashboard file {rest}"))),
    };
    let headers = [
        ("content-type", content_type),
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-cache"),
    ];
    Ok(Reply {
        status: 200,
        headers: headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect(),
        body: body.as_bytes().to_vec(),
        follow_up: FollowUp::Nothing,
    })
}
