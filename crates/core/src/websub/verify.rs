//! Intent verification and denial (WebSub §5.2, §5.3): the GET the hub sends to a callback, and
//! reading the subscriber's answer.

use super::form::encode_query;

/// The query of the intent-verification GET. `hub.lease_seconds` goes out only with `subscribe`:
/// §5.3 requires it there and gives it no meaning for `unsubscribe`.
pub fn verification_query(mode: &str, topic: &str, challenge: &str, lease_seconds: Option<u64>) -> String {
    let lease = lease_seconds.filter(|_| mode == "subscribe").map(|secs| secs.to_string());
    let mut pairs = vec![("hub.mode", mode), ("hub.topic", topic), ("hub.challenge", challenge)];
    if let Some(lease) = &lease {
        pairs.push(("hub.lease_seconds", lease));
    }
    encode_query(&pairs)
}

/// The query of the denial GET (§5.2). `hub.reason` is optional, so an empty one is left out.
pub fn denial_query(topic: &str, reason: &str) -> String {
    let mut pairs = vec![("hub.mode", "denied"), ("hub.topic", topic)];
    if !reason.is_empty() {
        pairs.push(("hub.reason", reason));
    }
    encode_query(&pairs)
}

/// Appends `query` to a callback URL. §5.1.1: the callback's own query is kept and ours goes at
/// its end joined with `&`, even where names overlap. A fragment stays last, where URLs keep it.
pub fn append_query(url: &str, query: &str) -> String {
    if query.is_empty() {
        return url.to_string();
    }
    let (base, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let separator = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with(['?', '&']) => "",
        Some(_) => "&",
    };
    format!("{base}{separator}{query}{fragment}")
}

/// Whether the subscriber confirmed: a 2xx whose body is the challenge (§5.3.1).
///
/// Surrounding ASCII whitespace is allowed, although §5.3.1 says "equal": a trailing newline from
/// `echo` or `print` is the common way subscribers get this wrong, and ignoring it proves no less,
/// since the subscriber still had to know the challenge. Challenges are expected to hold no
/// whitespace; one that does still matches when echoed exactly.
pub fn challenge_echoed(challenge: &str, status: u16, body: &[u8]) -> bool {
    (200..300).contains(&status) && (body == challenge.as_bytes() || body.trim_ascii() == challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        fn check(query: String, expected: &str) {
            assert_eq!(query, expected);
        }
        let topic = "https://pub.example/feed?x=1";
        let t = "https%3A%2F%2Fpub.example%2Ffeed%3Fx%3D1";
        let sub = verification_query("subscribe", topic, "abc", Some(864_000));
        check(sub, &format!("hub.mode=subscribe&hub.topic={t}&hub.challenge=abc&hub.lease_seconds=864000"));
        check(
            verification_query("subscribe", topic, "a+b", None),
            &format!("hub.mode=subscribe&hub.topic={t}&hub.challenge=a%2Bb"),
        );
        check(
            verification_query("unsubscribe", topic, "c", Some(60)),
            &format!("hub.mode=unsubscribe&hub.topic={t}&hub.challenge=c"),
        );
        check(denial_query(topic, "not allowed"), &format!("hub.mode=denied&hub.topic={t}&hub.reason=not%20allowed"));
        check(denial_query(topic, ""), &format!("hub.mode=denied&hub.topic={t}"));
    }

    #[test]
    fn appends() {
        fn check(url: &str, query: &str, expected: &str) {
            assert_eq!(append_query(url, query), expected, "{url} + {query}");
        }
        check("https://s.example/cb", "a=1", "https://s.example/cb?a=1");
        check("https://s.example/cb?id=7", "a=1", "https://s.example/cb?id=7&a=1");
        check(
            "https://s.example/cb?hub.mode=mine",
            "hub.mode=subscribe",
            "https://s.example/cb?hub.mode=mine&hub.mode=subscribe",
        );
        check("https://s.example/cb?", "a=1", "https://s.example/cb?a=1");
        check("https://s.example/cb?id=7&", "a=1", "https://s.example/cb?id=7&a=1");
        check("https://s.example/cb#frag", "a=1", "https://s.example/cb?a=1#frag");
        check("https://s.example/cb?id=7#f?g", "a=1", "https://s.example/cb?id=7&a=1#f?g");
        check("https://s.example/cb?id=7", "", "https://s.example/cb?id=7");
    }

    #[test]
    fn echoes() {
        fn check(status: u16, body: &[u8], echoed: bool) {
            assert_eq!(challenge_echoed("Zx9_q-1", status, body), echoed, "{status} {body:?}");
        }
        check(200, b"Zx9_q-1", true);
        check(204, b"Zx9_q-1", true);
        check(299, b"Zx9_q-1", true);
        check(200, b"Zx9_q-1\n", true);
        check(200, b" \r\nZx9_q-1\t\r\n", true);
        check(200, b"", false);
        check(200, b"zx9_q-1", false);
        check(200, b"Zx9_q-", false);
        check(200, b"Zx9_q-12", false);
        check(200, b"\"Zx9_q-1\"", false);
        check(200, b"challenge=Zx9_q-1", false);
        check(200, "Zx9_q-1\u{a0}".as_bytes(), false);
        check(199, b"Zx9_q-1", false);
        check(300, b"Zx9_q-1", false);
        check(404, b"Zx9_q-1", false);
        check(500, b"Zx9_q-1", false);
    }
}
