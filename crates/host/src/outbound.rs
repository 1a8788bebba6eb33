//! Outbound HTTP: Spin's `allowed_outbound_hosts` check in front of
//! wasmtime-wasi-http's default client.
//!
//! The matching follows Spin's `outbound-networking-config`: an entry is
//! `scheme://host[:port]`; the scheme must match (or be `*`); the host is `*`,
//! `*.suffix`, an exact name or IP, or a CIDR range; the port is `*`, a number,
//! a `start..end` range, or omitted meaning the scheme's default. A denied
//! request fails with `HttpRequestDenied` before any connection is made.
//! Timeouts from the guest's `request-options` are applied by wasmtime-wasi-http
//! (600 s each when unset, the same default as Spin). Under an outbound-request
//! cap (`limits/outbound.rs`), a request past it fails with `HttpRequestDenied`
//! too, after the allow-list check.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::limits::outbound::OutboundBudget;
use crate::outbound_pool::PooledClient;
use crate::variables::{AppVariables, Template};

/// A component's parsed `allowed_outbound_hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    /// `None` is `*://`.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// Includes the leading dot: `*.example.com` is `.example.com`.
    Subdomain(String),
    Name(String),
    Ip(IpAddr),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    /// Half-open, as Spin's `start..end`.
    Range(u16, u16),
}

impl AllowedHosts {
    /// Parses the manifest list, expanding `{{ variable }}` templates first.
    pub(crate) fn parse(list: &[String], vars: &AppVariables) -> anyhow::Result<Self> {
        if list.len() == 1 && list[0] == "insecure:allow-all" {
            bail!("'insecure:allow-all' is not allowed; use '*://*:*' to allow everything");
        }
        let entries = list
            .iter()
            .map(|item| {
                let template = Template::parse(item).map_err(|e| anyhow!(e))?;
                let text = if template.is_literal() {
                    item.clone()
                } else {
                    vars.expand(&template).map_err(|e| anyhow!(e))?
                };
                AllowedHost::parse(&text).with_context(|| format!("invalid allowed_outbound_hosts entry {item:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { entries })
    }

    /// Whether a request to `scheme://host[:port]` may go out.
    pub(crate) fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.entries.iter().any(|e| e.allows(scheme, host, port))
    }

    /// Checks a full request URI.
    pub(crate) fn allows_uri(&self, uri: &hyper::Uri) -> bool {
        match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allows(scheme, host, uri.port_u16()),
            // Relative ("self") requests are not supported by this host.
            _ => false,
        }
    }
}

impl AllowedHost {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            bail!("missing scheme; expected <scheme>://<host>[:<port>]");
        };
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port.split_once('/') {
            Some((_, path)) if !path.is_empty() => bail!("must not include a path"),
            Some((port, _)) => port,
            None => port,
        };
        let port = PortPattern::parse(port, scheme)?;
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()) => Some(s.to_ascii_lowercase()),
            s => bail!("invalid scheme {s:?}"),
        };
        let host = HostPattern::parse(host)?;
        Ok(Self { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        self.scheme.as_deref().is_none_or(|s| s == scheme) && self.host.allows(host) && self.port.allows(port, &scheme)
    }
}

impl HostPattern {
    fn parse(host: &str) -> anyhow::Result<Self> {
        let host = host.trim().trim_end_matches('/');
        if host == "*" {
            return Ok(Self::Any);
        }
        if host == "self" || host == "self.alt" {
            bail!("`self` (service chaining) hosts are not supported by this host");
        }
        if let Some((addr, bits)) = host.split_once('/') {
            let addr: IpAddr =
                strip_brackets(addr).parse().with_context(|| format!("invalid CIDR address {addr:?}"))?;
            let bits: u8 = bits.parse().context("invalid CIDR prefix length")?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if bits > max {
                bail!("CIDR prefix length {bits} is too long");
            }
            return Ok(Self::Cidr(addr, bits));
        }
        if let Some(domain) = host.strip_prefix("*.") {
            if domain.contains('*') {
                bail!("wildcards are allowed only as prefixes");
            }
            return Ok(Self::Subdomain(format!(".{}", domain.to_ascii_lowercase())));
        }
        if host.contains('*') {
            bail!("wildcards are allowed only as subdomains");
        }
        if host.is_empty() {
            bail!("missing host");
        }
        match strip_brackets(host).parse::<IpAddr>() {
            Ok(ip) => Ok(Self::Ip(ip)),
            Err(_) => Ok(Self::Name(host.to_ascii_lowercase())),
        }
    }

    fn allows(&self, host: &str) -> bool {
        let ip = strip_brackets(host).parse::<IpAddr>().ok();
        let name = host.to_ascii_lowercase();
        match (self, ip) {
            (Self::Any, _) => true,
            (Self::Subdomain(suffix), None) => name.ends_with(suffix.as_str()),
            (Self::Name(n), None) => *n == name,
            (Self::Ip(allowed), Some(ip)) => *allowed == ip,
            (Self::Cidr(net, bits), Some(ip)) => in_cidr(*net, *bits, ip),
            _ => false,
        }
    }
}

impl PortPattern {
    fn parse(port: &str, scheme: &str) -> anyhow::Result<Self> {
        if port.is_empty() {
            return well_known_port(scheme)
                .map(Self::Port)
                .ok_or_else(|| anyhow!("no port given and scheme {scheme:?} has no default port"));
        }
        if port == "*" {
            return Ok(Self::Any);
        }
        if let Some((start, end)) = port.split_once("..") {
            let start = start.parse().context("port range contains a non-number")?;
            let end = end.parse().context("port range contains a non-number")?;
            return Ok(Self::Range(start, end));
        }
        Ok(Self::Port(port.parse().with_context(|| format!("port {port:?} is not a number"))?))
    }

    fn allows(&self, port: Option<u16>, scheme: &str) -> bool {
        let Some(port) = port.or_else(|| well_known_port(scheme)) else {
            return matches!(self, Self::Any);
        };
        match self {
            Self::Any => true,
            Self::Port(p) => *p == port,
            Self::Range(start, end) => (*start..*end).contains(&port),
        }
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

fn in_cidr(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// wasmtime-wasi-http hooks for one instance: the allow-list, then the app's pooled client for
/// `http://` or the default client for `https://`.
pub(crate) struct OutboundHooks {
    pub(crate) allowed: Arc<AllowedHosts>,
    pub(crate) component: Arc<str>,
    pub(crate) pooled: Arc<PooledClient>,
    pub(crate) budget: Arc<OutboundBudget>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                hyper::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        if !self.allowed.allows_uri(request.uri()) {
            eprintln!(
                "hookah-host: component {:?} may not send a request to {}; add it to \
                 allowed_outbound_hosts",
                self.component,
                request.uri()
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        if !self.budget.take(&self.component) {
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let pooled = self.pooled.clone();
        Box::new(async move {
            if request.uri().scheme() == Some(&hyper::http::uri::Scheme::HTTP) {
                let response = pooled.send(request, options).await?;
                // The pool drives the connection; nothing is left to report on it here.
                return Ok((response, Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>));
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> AllowedHosts {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        AllowedHosts::parse(&list, &AppVariables::default()).unwrap()
    }

    #[test]
    fn allow_table() {
        // (allowed list, url, allowed?)
        let cases: &[(&[&str], &str, bool)] = &[
            (&["http://*:*"], "http://example.com/x", true),
            (&["http://*:*"], "http://127.0.0.1:9000/", true),
            (&["http://*:*"], "https://example.com/", false),
            (&["https://*:*"], "https://example.com:8443/", true),
            (&["https://example.com"], "https://example.com/hook", true),
            (&["https://example.com"], "https://EXAMPLE.com/", true),
            (&["https://example.com"], "https://example.com:443/", true),
            (&["https://example.com"], "https://example.com:8443/", false),
            (&["https://example.com"], "https://api.example.com/", false),
            (&["https://example.com"], "http://example.com/", false),
            (&["https://*.example.com"], "https://api.example.com/", true),
            (&["https://*.example.com"], "https://example.com/", false),
            (&["https://*.example.com"], "https://evilexample.com/", false),
            (&["http://127.0.0.1:8080"], "http://127.0.0.1:8080/", true),
            (&["http://127.0.0.1:8080"], "http://127.0.0.1:8081/", false),
            (&["http://127.0.0.1:8080"], "http://localhost:8080/", false),
            (&["http://localhost:*"], "http://localhost:1234/", true),
            (&["http://127.0.0.1:8000..8002"], "http://127.0.0.1:8001/", true),
            (&["http://127.0.0.1:8000..8002"], "http://127.0.0.1:8002/", false),
            (&["http://10.0.0.0/8:*"], "http://10.1.2.3:80/", true),
            (&["http://10.0.0.0/8:*"], "http://11.1.2.3:80/", false),
            (&["http://[::1]:80"], "http://[::1]/", true),
            (&["*://example.com:*"], "https://example.com:1/", true),
            (&[], "http://example.com/", false),
            (&["https://a.com", "http://b.com"], "http://b.com/", true),
        ];
        for (list, url, expected) in cases {
            let uri: hyper::Uri = url.parse().unwrap();
            assert_eq!(hosts(list).allows_uri(&uri), *expected, "{list:?} {url}");
        }
    }

    #[tokio::test]
    async fn a_request_past_the_hourly_cap_is_denied_before_it_goes_out() {
        let budget = Arc::new(OutboundBudget::new(Some(0), crate::clock::HostClock::new()));
        let mut hooks = OutboundHooks {
            allowed: Arc::new(hosts(&["http://*:*"])),
            component: "c".into(),
            pooled: Arc::new(PooledClient::new()),
            budget: budget.clone(),
        };
        // Nothing listens there: a request that went out would fail otherwise.
        let body = http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync();
        let request = hyper::Request::get("http://127.0.0.1:9/").body(body).unwrap();
        let sent = hooks.send_request(request, None, Box::new(async { Ok(()) }));
        let outcome = Box::into_pin(sent).await;
        assert!(matches!(outcome, Err(wasmtime_wasi_http::Error::HttpRequestDenied)));
        assert_eq!(budget.refused(), 1);
    }

    #[test]
    fn relative_uris_are_denied() {
        let uri: hyper::Uri = "/self".parse().unwrap();
        assert!(!hosts(&["*://*:*"]).allows_uri(&uri));
    }

    #[test]
    fn rejects_malformed_entries() {
        for bad in [
            "example.com",
            "insecure:allow-all",
            "https://ex*ample.com",
            "https://*.ex*.com",
            "https://example.com/path",
            "ftp://example.com",
            "https://example.com:port",
        ] {
            let list = vec![bad.to_string()];
            assert!(AllowedHosts::parse(&list, &AppVariables::default()).is_err(), "{bad}");
        }
    }
}
