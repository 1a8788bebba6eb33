//! The target hosts whose attempts fail most, kept short: at most [`MAX_HOSTS`] entries, each
//! forgotten an hour after its last failure, so the list (and the `target_host` label of the
//! metrics) stays bounded whatever the targets.

use serde::{Deserialize, Serialize};

pub const MAX_HOSTS: usize = 20;
/// A host drops off the list this long after its last failure.
pub const FORGET_AFTER_MS: u64 = 3_600_000;
/// Error texts are cut to this many characters.
const MAX_ERROR_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingHost {
    pub host: String,
    /// Failed attempts since the host joined the list.
    pub failures: u64,
    pub last_error: String,
    pub last_at: u64,
}

/// Notes one failed attempt against `host`.
pub fn note(list: &mut Vec<FailingHost>, host: &str, error: &str, at: u64) {
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    match list.iter_mut().find(|entry| entry.host == host) {
        Some(entry) => {
            entry.failures += 1;
            if at >= entry.last_at {
                entry.last_error = error;
                entry.last_at = at;
            }
        }
        None => list.push(FailingHost { host: host.to_string(), failures: 1, last_error: error, last_at: at }),
    }
}

/// Forgets quiet hosts and keeps the worst [`MAX_HOSTS`], worst first.
pub fn trim(list: &mut Vec<FailingHost>, now: u64) {
    list.retain(|entry| entry.last_at + FORGET_AFTER_MS > now);
    list.sort_by(|a, b| b.failures.cmp(&a.failures).then(b.last_at.cmp(&a.last_at)).then(a.host.cmp(&b.host)));
    list.truncate(MAX_HOSTS);
}

/// The host (and port) of a target URL, without any user information.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_from_urls() {
        let check = |url: &str, host: &str| assert_eq!(host_of(url), host, "{url}");
        check("https://Example.com/a?b", "example.com");
        check("http://127.0.0.1:8080/x", "127.0.0.1:8080");
        check("https://user:pass@host.test/", "host.test");
        check("https://host.test?x=1", "host.test");
    }

    #[test]
    fn the_list_stays_short_and_worst_first() {
        let mut list = Vec::new();
        for i in 0..30 {
            for _ in 0..=i {
                note(&mut list, &format!("h{i}"), "HTTP 500", 1_000);
            }
        }
        note(&mut list, "old", "refused", 0);
        trim(&mut list, FORGET_AFTER_MS + 500);
        assert_eq!(list.len(), MAX_HOSTS);
        assert_eq!(list[0].host, "h29");
        assert_eq!(list[0].failures, 30);
        assert!(list.iter().all(|entry| entry.host != "old"));
    }
}
