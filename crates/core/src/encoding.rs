//! `application/x-www-form-urlencoded` decoding, shared by `_url` parameters and WebSub forms,
//! and the percent-decoding of a path segment (a flow key).

/// Decodes one form component: `+` is a space, `%XX` a byte (two hex digits exactly); `None`
/// for a malformed escape or bytes that are not UTF-8.
pub fn form_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(hex_value(hex[0])? << 4 | hex_value(hex[1])?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Decodes one path segment: `%XX` a byte, `+` itself; `None` as [`form_decode`].
pub fn path_decode(raw: &str) -> Option<String> {
    let raw = raw.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(hex_value(hex[0])? << 4 | hex_value(hex[1])?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::{form_decode, path_decode};

    fn check(raw: &str, expected: Option<&str>) {
        assert_eq!(form_decode(raw.as_bytes()).as_deref(), expected, "{raw:?}");
    }

    #[test]
    fn decoding() {
        check("a+b%20c", Some("a b c"));
        check("%e2%82%AC", Some("€"));
        check("%", None);
        check("%4", None);
        check("%+f", None);
        check("%zz", None);
        check("%ff", None);
        check("", Some(""));
    }

    #[test]
    fn path_segments() {
        let check = |raw: &str, expected: Option<&str>| assert_eq!(path_decode(raw).as_deref(), expected, "{raw:?}");
        check("a+b%20c%2Fd", Some("a+b c/d"));
        check("tenant%3A42", Some("tenant:42"));
        check("%09", Some("\t"));
        check("%e2%82%AC", Some("€"));
        check("%", None);
        check("%4", None);
        check("%ff", None);
    }
}
