//! Reading one hub parameter: given at most once, and shaped like a URL where it is one
//! (`hub.callback`, `hub.topic`, `hub.url`).

use crate::error::Error;

/// A repeated hub parameter is ambiguous: the hub and the subscriber could each read a different
/// one, so it is refused rather than resolved first-wins.
pub(crate) fn single<'a>(form: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, Error> {
    let mut values = form.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let first = values.next();
    match values.next() {
        Some(_) => Err(bad(format!("{name} is given more than once"))),
        None => Ok(first),
    }
}

pub(crate) fn required_url(form: &[(String, String)], name: &str) -> Result<String, Error> {
    let url = single(form, name)?.ok_or_else(|| bad(format!("{name} is required")))?;
    check_url(name, url)?;
    Ok(url.to_string())
}

/// Only the shape: an absolute http(s) URL with a host. Addresses and ports are the caller's
/// policy. Spaces, controls, `<`, `>` and `"` are refused because no valid URL holds them raw and
/// the URL later goes into a request line and a `Link: <…>` header.
pub(crate) fn check_url(name: &str, url: &str) -> Result<(), Error> {
    if url.bytes().any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"')) {
        return Err(bad(format!("{name} holds a space, control character, `<`, `>` or `\"`")));
    }
    let rest = strip_prefix_ignore_case(url, "https://").or_else(|| strip_prefix_ignore_case(url, "http://"));
    let Some(rest) = rest else {
        return Err(bad(format!("{name} must be an absolute http:// or https:// URL")));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(bad(format!("{name} has no host")));
    }
    Ok(())
}

/// URL schemes are case-insensitive (RFC 3986 §3.1).
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

pub(crate) fn bad(message: impl Into<String>) -> Error {
    Error::invalid("bad_hub_request", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, ok: bool) {
        let checked = check_url("hub.callback", url)
            .map_err(|e| assert!(matches!(e, Error::Invalid { code: "bad_hub_request", .. }), "{e}"));
        assert_eq!(checked.is_ok(), ok, "{url}");
    }

    #[test]
    fn shapes() {
        check("https://sub.example/cb?id=7", true);
        check("http://sub.example", true);
        check("HTTPS://sub.example", true);
        check("http://u:p@[::1]:8080/x", true);
        check("https://xn--caf-dma.example/é", true);
        check("ftp://sub.example/", false);
        check("https:/sub.example/", false);
        check("sub.example/cb", false);
        check("/cb", false);
        check("", false);
        check("https://", false);
        check("https:///path", false);
        check("https://?q", false);
        check("https://:443/", false);
        check("https://user@/", false);
        check("https://[]/", false);
        check("https://a.example/x y", false);
        check("https://a.example/\r\nX-Injected: 1", false);
        check("https://a.example/>;rel=x", false);
        check("https://a.example/\"", false);
    }
}
