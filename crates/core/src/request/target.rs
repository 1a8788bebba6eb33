//! Where a submission goes: `/{host[:port]}/{path}`, `/https://{host}/{path}`, or an `_url` parameter.

use crate::encoding::form_decode;
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A delivery target, validated; `url` is what the receiver is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    /// Lowercase host; IPv6 literals without brackets.
    pub host: String,
    pub port: Option<u16>,
    /// Path and query exactly as they will be sent (never empty: at least `/`).
    pub path_and_query: String,
}

impl Target {
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.port {
            Some(port) => format!("{}://{host}:{port}{}", self.scheme.as_str(), self.path_and_query),
            None => format!("{}://{host}{}", self.scheme.as_str(), self.path_and_query),
        }
    }

    /// `host` or `host:port`, as allowlist entries are written.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

/// The target and, when `_url` came from a form body, that body without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub target: Target,
    pub rewritten_body: Option<Vec<u8>>,
}

fn bad_target(message: impl Into<String>) -> Error {
    Error::invalid("bad_target", message)
}

/// Resolves the target of a submission from its request path, query and (form) body.
pub fn resolve(path_and_query: &str, form_body: Option<&[u8]>) -> Result<Resolved, Error> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    if path == "/" || path == "/dispatch" || path == "/dispatch/" {
        return resolve_url_parameter(query, form_body);
    }
    let rest = path.strip_prefix('/').ok_or_else(|| bad_target("the path must start with /"))?;
    let (scheme, rest) = split_scheme(rest);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = build(scheme.unwrap_or(Scheme::Http), authority, path, query)?;
    Ok(Resolved { target, rewritten_body: None })
}

/// `https://`, `https:/` (a proxy collapsed `//`), or nothing.
fn split_scheme(rest: &str) -> (Option<Scheme>, &str) {
    for (name, scheme) in [("https:", Scheme::Https), ("http:", Scheme::Http)] {
        if rest.get(..name.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(name)) {
            let after = &rest[name.len()..];
            let after = after.strip_prefix("//").or_else(|| after.strip_prefix('/')).unwrap_or(after);
            return (Some(scheme), after);
        }
    }
    (None, rest)
}

fn resolve_url_parameter(query: Option<&str>, form_body: Option<&[u8]>) -> Result<Resolved, Error> {
    if let Some(query) = query {
        if let Some((url, remaining)) = take_param(query, "_url") {
            let target = parse_absolute("_url", &url, remaining.as_deref())?;
            return Ok(Resolved { target, rewritten_body: None });
        }
    }
    if let Some(body) = form_body {
        let body = std::str::from_utf8(body).map_err(|_| bad_target("the form body is not UTF-8"))?;
        if let Some((url, remaining)) = take_param(body, "_url") {
            let target = parse_absolute("_url", &url, query)?;
            let rewritten = remaining.unwrap_or_default().into_bytes();
            return Ok(Resolved { target, rewritten_body: Some(rewritten) });
        }
    }
    Err(Error::invalid("no_destination", "name a target: /{host}/{path}, /https://{host}/{path}, or an _url parameter"))
}

/// Removes the first `name=value` pair; returns the decoded value and the remaining pairs as sent.
fn take_param(encoded: &str, name: &str) -> Option<(String, Option<String>)> {
    let mut value = None;
    let mut rest = Vec::new();
    for pair in encoded.split('&').filter(|pair| !pair.is_empty()) {
        let (key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        if value.is_none() && form_decode(key.as_bytes()).as_deref() == Some(name) {
            value = Some(form_decode(raw_value.as_bytes())?);
        } else {
            rest.push(pair);
        }
    }
    let remaining = (!rest.is_empty()).then(|| rest.join("&"));
    value.map(|value| (value, remaining))
}

/// An absolute `http(s)://` URL, validated like a target (callback URLs, subscription URLs);
/// `name` says in errors where the URL came from.
pub fn parse_url(name: &str, url: &str) -> Result<Target, Error> {
    parse_absolute(name, url, None)
}

fn parse_absolute(name: &str, url: &str, extra_query: Option<&str>) -> Result<Target, Error> {
    // Only C0 controls and spaces around a URL are noise (as URL parsers strip them); other
    // Unicode whitespace is part of what was sent.
    let url = url.trim_matches(|c: char| c <= ' ');
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
        _ => return Err(bad_target(format!("{name} must be an absolute http:// or https:// URL"))),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    let query = match (query, extra_query) {
        (Some(a), Some(b)) => Some(format!("{a}&{b}")),
        (a, b) => a.or(b).map(str::to_string),
    };
    build(scheme, authority, if path.is_empty() { "/" } else { path }, query.as_deref())
}

fn build(scheme: Scheme, authority: &str, path: &str, query: Option<&str>) -> Result<Target, Error> {
    let (host, port) = parse_authority(authority)?;
    let mut path_and_query = path.to_string();
    if let Some(query) = query {
        path_and_query.push('?');
        path_and_query.push_str(query);
    }
    // A raw `#` would start a fragment: the receiver would never see what follows it.
    if path_and_query.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
        return Err(bad_target("the target path or query holds spaces, control characters or a raw #"));
    }
    Ok(Target { scheme, host, port, path_and_query })
}

fn parse_authority(authority: &str) -> Result<(String, Option<u16>), Error> {
    if authority.is_empty() {
        return Err(bad_target("the target has no host"));
    }
    if authority.contains('@') {
        return Err(bad_target("credentials in the target URL are not supported; send an Authorization header"));
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad_target("unclosed [ in the target host"))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad_target(format!("`{host}` is not an IPv6 address")));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| bad_target("junk after ] in the target host"))?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            // Only a bracketed host may hold `:`; anything else would be read as an IPv6 address
            // the caller never wrote.
            Some((host, _)) if host.contains(':') => {
                return Err(bad_target(format!("`{authority}` is not host:port; write IPv6 addresses in brackets")))
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Some(port),
            _ => return Err(bad_target(format!("`{text}` is not a port"))),
        },
    };
    let host = host.to_ascii_lowercase();
    let valid_name = host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['.', '-'])
        && host.len() <= 253;
    let bracketed = authority.starts_with('[');
    if !(valid_name || bracketed) || host.is_empty() {
        return Err(bad_target(format!("`{host}` is not a host name")));
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, body: Option<&str>, expected: Result<&str, &str>) {
        let result = resolve(path, body.map(str::as_bytes));
        let got = result.map(|r| r.target.url()).map_err(|e| crate::ApiError::from(e).code);
        assert_eq!(got, expected.map(str::to_string), "path {path:?}");
    }

    #[test]
    fn path_forms() {
        check("/example.com/user/callback?x=1", None, Ok("http://example.com/user/callback?x=1"));
        check("/example.com", None, Ok("http://example.com/"));
        check("/Example.COM:8080/a%20b", None, Ok("http://example.com:8080/a%20b"));
        check("/https://example.com/hook", None, Ok("https://example.com/hook"));
        check("/https:/example.com/hook", None, Ok("https://example.com/hook"));
        check("/HTTP://example.com:81/", None, Ok("http://example.com:81/"));
        check("/[::1]:8080/x", None, Ok("http://[::1]:8080/x"));
        check("/127.0.0.1:9/x?a=b&c", None, Ok("http://127.0.0.1:9/x?a=b&c"));
    }

    #[test]
    fn url_parameter() {
        check("/?_url=http%3A%2F%2Fexample.com%2Fcb%3Fa%3D1", None, Ok("http://example.com/cb?a=1"));
        check("/dispatch?x=2&_url=https://example.com/cb", None, Ok("https://example.com/cb?x=2"));
        check("/?_url=https://example.com", None, Ok("https://example.com/"));
        check("/?_url=ftp://example.com/", None, Err("bad_target"));
        check("/?_url=example.com/cb", None, Err("bad_target"));
        check("/", None, Err("no_destination"));
        check("/dispatch?x=1", None, Err("no_destination"));
    }

    #[test]
    fn url_in_form_body() {
        let resolved = resolve("/", Some(b"a=1&_url=http%3A%2F%2Fexample.com%2Fcb&b=2")).unwrap();
        assert_eq!(resolved.target.url(), "http://example.com/cb");
        assert_eq!(resolved.rewritten_body.as_deref(), Some(&b"a=1&b=2"[..]));
    }

    #[test]
    fn bad_targets() {
        check("//x", None, Err("bad_target"));
        check("/example.com:0/", None, Err("bad_target"));
        check("/example.com:99999/", None, Err("bad_target"));
        check("/example.com:+80/", None, Err("bad_target"));
        check("/user:pw@example.com/", None, Err("bad_target"));
        check("/exa mple.com/", None, Err("bad_target"));
        check("/-x.com/", None, Err("bad_target"));
        check("/[zz]/", None, Err("bad_target"));
        check("/a:b:80/x", None, Err("bad_target"));
        check("/::1/x", None, Err("bad_target"));
        check("/?_url=http%3A%2F%2Fa%3Ab%3A80%2Fx", None, Err("bad_target"));
        check("/?_url=http%3A%2F%2F%3A%3A1%2F", None, Err("bad_target"));
        check("/example.com/a\tb", None, Err("bad_target"));
        check("/example.com/a?b#c", None, Err("bad_target"));
        check("/htt€/x", None, Err("bad_target"));
        check("/h€llo.example/x", None, Err("bad_target"));
    }
}
