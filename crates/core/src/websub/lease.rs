//! How long a subscription lasts: the hub's policy, as data.

/// §8.2: "10 days is a good default".
pub const DEFAULT_LEASE_SECS: u64 = 10 * 86_400;
/// Shorter leases would have subscribers re-verifying more often than deliveries can be worth.
pub const MIN_LEASE_SECS: u64 = 5 * 60;
/// §5.3.1: the hub "MUST NOT issue perpetual lease durations"; a month bounds how long a
/// forgotten callback keeps receiving.
pub const MAX_LEASE_SECS: u64 = 30 * 86_400;

/// The bounds a granted lease is kept within. The granted value goes out as `hub.lease_seconds`
/// in the verification GET and counts from that request's `now` (§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    pub default_secs: u64,
    pub min_secs: u64,
    pub max_secs: u64,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        Self { default_secs: DEFAULT_LEASE_SECS, min_secs: MIN_LEASE_SECS, max_secs: MAX_LEASE_SECS }
    }
}

impl LeasePolicy {
    /// The lease to grant for a request: the default when none was asked, then kept within
    /// `min..=max` (§5.3.1 lets the hub change the value). A misconfigured policy with
    /// `min > max` grants `max` rather than panicking, so the lease still never outgrows the cap.
    pub fn grant(&self, requested: Option<u64>) -> u64 {
        requested.unwrap_or(self.default_secs).max(self.min_secs).min(self.max_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: LeasePolicy, requested: Option<u64>, granted: u64) {
        assert_eq!(policy.grant(requested), granted, "{policy:?} {requested:?}");
    }

    #[test]
    fn grants() {
        let default = LeasePolicy::default();
        check(default, None, 864_000);
        check(default, Some(3_600), 3_600);
        check(default, Some(1), 300);
        check(default, Some(299), 300);
        check(default, Some(300), 300);
        check(default, Some(2_592_000), 2_592_000);
        check(default, Some(2_592_001), 2_592_000);
        check(default, Some(u64::MAX), 2_592_000);
        let odd_default = LeasePolicy { default_secs: 10, min_secs: 60, max_secs: 120 };
        check(odd_default, None, 60);
        let inverted = LeasePolicy { default_secs: 100, min_secs: 500, max_secs: 50 };
        check(inverted, None, 50);
        check(inverted, Some(1_000), 50);
    }
}
