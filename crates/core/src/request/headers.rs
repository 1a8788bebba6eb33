//! Which of the caller's headers reach the receiver.

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"];

/// Besides those, the ones Hookah sets itself or must never pass on.
const DROPPED: &[&str] = &["host", "authorization", "content-length", "expect", "idempotency-key"];

/// Prefixes of header names that are Hookah's controls, the host's, or signature headers we set.
const DROPPED_PREFIXES: &[&str] = &["proxy-", "hookah-", "spin-", "webhook-"];

/// The caller's end-to-end headers, names lowercased, in their original order.
pub fn forwarded(headers: &[(String, String)]) -> Vec<(String, String)> {
    let named_by_connection: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .collect();
    headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .filter(|(name, _)| {
            !DROPPED.contains(&name.as_str())
                && !HOP_BY_HOP.contains(&name.as_str())
                && !DROPPED_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
                && !named_by_connection.contains(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[(&str, &str)], expected: &[(&str, &str)]) {
        let input: Vec<(String, String)> = input.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let got = forwarded(&input);
        let got: Vec<(&str, &str)> = got.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn filtering() {
        check(
            &[("Content-Type", "application/json"), ("X-Custom", "1"), ("x-custom", "2")],
            &[("content-type", "application/json"), ("x-custom", "1"), ("x-custom", "2")],
        );
        check(
            &[
                ("Authorization", "Bearer app-token"),
                ("Host", "hookah.example"),
                ("Connection", "keep-alive, X-Drop-Me"),
                ("X-Drop-Me", "1"),
                ("Keep-Alive", "timeout=5"),
                ("Transfer-Encoding", "chunked"),
                ("Proxy-Authorization", "x"),
                ("Hookah-Max-Attempts", "3"),
                ("spin-full-url", "http://x"),
                ("Webhook-Signature", "v1,forged"),
                ("Content-Length", "12"),
                ("TE", "trailers"),
                ("Upgrade", "h2c"),
                ("Trailer", "x"),
                ("User-Agent", "app/1"),
            ],
            &[("user-agent", "app/1")],
        );
    }
}
