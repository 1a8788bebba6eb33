//! `application/x-www-form-urlencoded`, both ways: WebSub requests arrive as form bodies and the
//! hub's verification GETs carry the same encoding in their query.

use crate::error::Error;

/// Splits a form body into decoded `(name, value)` pairs, in order and with duplicates kept so
/// that the caller can decide what a repeated name means.
///
/// Empty segments (`a=1&&b=2`, a trailing `&`) are skipped and a segment without `=` is a name
/// with an empty value, as in the URL standard. Unlike that standard, a `%` not followed by two
/// hex digits is refused rather than kept literally: a client that sends one has a bug, and
/// guessing what it meant could change a callback URL.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, Error> {
    body.split(|&b| b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(i) => (&segment[..i], &segment[i + 1..]),
                None => (segment, &[][..]),
            };
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

fn decode(raw: &[u8]) -> Result<String, Error> {
    // WebSub requires UTF-8 (§5.1); anything else would be mangled on the way to a URL.
    crate::encoding::form_decode(raw)
        .ok_or_else(|| Error::invalid("bad_form", "the form has a `%` without two hex digits, or is not UTF-8"))
}

/// Encodes pairs as `name=value&…`, percent-encoding every byte but the unreserved ones
/// (`A-Z a-z 0-9 - . _ ~`). Escaping more than the form encoding needs costs a few bytes and
/// means a subscriber's query parser, however strict or loose, reads back exactly the values sent.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, name);
        out.push('=');
        encode_into(&mut out, value);
    }
    out
}

fn encode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.extend(['%', char::from(HEX[usize::from(b >> 4)]), char::from(HEX[usize::from(b & 0xF)])]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Result<&[(&str, &str)], ()>) {
        let parsed = parse_form(body.as_bytes())
            .map_err(|e| assert!(matches!(e, Error::Invalid { code: "bad_form", .. }), "{e:?}"));
        let expected = expected.map(|pairs| pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect());
        assert_eq!(parsed, expected, "{body:?}");
    }

    #[test]
    fn parses() {
        check("", Ok(&[]));
        check("a=1&b=2", Ok(&[("a", "1"), ("b", "2")]));
        check("a=1&&b=2&", Ok(&[("a", "1"), ("b", "2")]));
        check("a=1&a=2", Ok(&[("a", "1"), ("a", "2")]));
        check("flag", Ok(&[("flag", "")]));
        check("a=", Ok(&[("a", "")]));
        check("=v", Ok(&[("", "v")]));
        check("a=b=c", Ok(&[("a", "b=c")]));
        check("hub.mode=sub+scribe", Ok(&[("hub.mode", "sub scribe")]));
        check("q=a%2Bb%20c", Ok(&[("q", "a+b c")]));
        check("u=https%3a%2F%2Fx.example%2F%3Fa%3D1%26b%3D2", Ok(&[("u", "https://x.example/?a=1&b=2")]));
        check("n%C3%A9=caf%C3%A9", Ok(&[("né", "café")]));
        check("a=%", Err(()));
        check("a=%4", Err(()));
        check("a=%zz", Err(()));
        check("a=%C3", Err(()));
        check("%FF=1", Err(()));
    }

    /// Encodes, compares with the expected text, then parses it back to the same pairs.
    fn round_trip(pairs: &[(&str, &str)], encoded: &str) {
        assert_eq!(encode_query(pairs), encoded);
        let expected: Vec<(String, String)> = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(parse_form(encoded.as_bytes()), Ok(expected), "{encoded}");
    }

    #[test]
    fn encodes() {
        round_trip(&[], "");
        round_trip(&[("hub.mode", "subscribe")], "hub.mode=subscribe");
        round_trip(&[("a", "x y+z"), ("b", "")], "a=x%20y%2Bz&b=");
        round_trip(&[("t", "https://e.example/f?a=1&b=~")], "t=https%3A%2F%2Fe.example%2Ff%3Fa%3D1%26b%3D~");
        round_trip(&[("é", "\u{1F600}")], "%C3%A9=%F0%9F%98%80");
    }
}
