//! Refuses targets that point into the operator's own network: loopback, private, link-local and
//! cloud-metadata addresses, written as IP literals (in any notation a resolver accepts) or as
//! well-known names. DNS-level protection is the host's job (Spin's `block_networks`).

use crate::error::Error;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::target::Target;

/// Names that always mean "this machine" or a metadata service.
const BLOCKED_NAMES: &[&str] = &["localhost", "metadata", "metadata.google.internal", "instance-data"];

/// Allows the target unless it is internal and not named in `allowlist` (`host` or `host:port`).
pub fn check_target(target: &Target, allowlist: &[String]) -> Result<(), Error> {
    let host = target.host.trim_end_matches('.');
    let Some(reason) = internal_reason(host) else {
        return Ok(());
    };
    let authority = target.authority();
    if allowlist.iter().any(|allowed| allowed == host || *allowed == authority) {
        return Ok(());
    }
    Err(Error::invalid(
        "forbidden_target",
        format!("`{host}` is {reason}; name it in the allowed_private_targets variable to allow it"),
    ))
}

fn internal_reason(host: &str) -> Option<&'static str> {
    if BLOCKED_NAMES.contains(&host) || host.ends_with(".localhost") {
        return Some("a local or metadata host name");
    }
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return ipv6_reason(v6);
    }
    parse_ipv4_loose(host).and_then(ipv4_reason)
}

fn ipv4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT address")
    } else if ip.is_link_local() {
        Some("a link-local or metadata address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else {
        None
    }
}

fn ipv6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_reason(v4);
    }
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique local (private) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// Parses IPv4 the way `inet_aton` does (1 to 4 parts, decimal, octal or hex), since resolvers
/// turn `127.1`, `0x7f000001` or `2130706433` into loopback too.
fn parse_ipv4_loose(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u64> = host.split('.').map(parse_number).collect::<Option<_>>()?;
    let (last, init) = parts.split_last()?;
    if parts.len() > 4 || init.iter().any(|&p| p > 255) {
        return None;
    }
    let last_bits = 8 * (4 - init.len() as u32);
    if *last >= 1u64 << last_bits {
        return None;
    }
    let value = init.iter().enumerate().fold(*last, |acc, (i, &p)| acc | p << (24 - 8 * i as u32));
    Some(Ipv4Addr::from(value as u32))
}

fn parse_number(part: &str) -> Option<u64> {
    if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        return if hex.is_empty() { Some(0) } else { u64::from_str_radix(hex, 16).ok() };
    }
    if part.len() > 1 && part.starts_with('0') {
        return u64::from_str_radix(&part[1..], 8).ok();
    }
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::target::Scheme;

    fn check(host: &str, port: Option<u16>, allow: &[&str], allowed: bool) {
        let target = Target { scheme: Scheme::Http, host: host.into(), port, path_and_query: "/".into() };
        let allowlist: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        let result = check_target(&target, &allowlist);
        assert_eq!(result.is_ok(), allowed, "host {host:?} port {port:?}: {result:?}");
    }

    #[test]
    fn refused() {
        for host in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "localhost",
            "api.localhost",
            "localhost.",
            "metadata.google.internal",
        ] {
            check(host, None, &[], false);
        }
    }

    #[test]
    fn allowed() {
        for host in ["example.com", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "1.2.3"] {
            check(host, None, &[], true);
        }
        check("127.0.0.1", Some(8080), &["127.0.0.1"], true);
        check("127.0.0.1", Some(8080), &["127.0.0.1:8080"], true);
        check("127.0.0.1", Some(8081), &["127.0.0.1:8080"], false);
        check("localhost", None, &["127.0.0.1"], false);
    }
}
