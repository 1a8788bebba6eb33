//! The outbound-request cap: at most N outbound HTTP requests per app per hour.
//!
//! Counted per clock hour of the host clock (the hour a request starts in, from the Unix epoch),
//! so a test moves the clock an hour on to start a fresh one. Every request that passed
//! `allowed_outbound_hosts` counts, whatever its outcome; one past the cap is not sent and fails
//! as `HttpRequestDenied` (wasi:http `error-code.HTTP-request-denied`), the code a request to a
//! host that is not allowed gets: the host refuses to send it. Fermyon Cloud does not publish
//! whether its hour is a clock hour or a sliding one, nor the error a guest sees there.
//!
//! One budget per app, shared by all its components and both triggers. The first refusal of an
//! hour is logged to stderr; every refusal is counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::clock::HostClock;

const HOUR_SECS: u64 = 3_600;

/// One app's outbound requests this hour, and the refusals so far.
#[derive(Debug)]
pub(crate) struct OutboundBudget {
    per_hour: Option<u64>,
    clock: HostClock,
    this_hour: Mutex<Hour>,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct Hour {
    /// Hours since the Unix epoch.
    hour: u64,
    sent: u64,
    refusal_logged: bool,
}

impl OutboundBudget {
    pub(crate) fn new(per_hour: Option<u64>, clock: HostClock) -> Self {
        Self { per_hour, clock, this_hour: Mutex::default(), refused: AtomicU64::new(0) }
    }

    /// Takes one request from this hour's budget; `false` when it is spent (the request must not
    /// go out). `component` names the sender in the log.
    pub(crate) fn take(&self, component: &str) -> bool {
        let Some(per_hour) = self.per_hour else { return true };
        let hour = self.clock.now_unix_secs() / HOUR_SECS;
        let first_refusal = {
            let mut this_hour = self.this_hour.lock().unwrap_or_else(|p| p.into_inner());
            if this_hour.hour != hour {
                *this_hour = Hour { hour, ..Hour::default() };
            }
            if this_hour.sent < per_hour {
                this_hour.sent += 1;
                return true;
            }
            !std::mem::replace(&mut this_hour.refusal_logged, true)
        };
        self.refused.fetch_add(1, Ordering::Relaxed);
        if first_refusal {
            eprintln!(
                "hookah-host: component {component:?}: outbound request refused: the app has sent \
                 {per_hour} this hour (the outbound-request limit); refusing the rest of the hour"
            );
        }
        false
    }

    /// Requests refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_cap_holds_within_an_hour_and_a_new_hour_starts_afresh() {
        let clock = HostClock::new();
        // To the start of the next hour: the test ends long before the real clock ends it.
        clock.advance(Duration::from_secs(HOUR_SECS - clock.now_unix_secs() % HOUR_SECS));
        let budget = OutboundBudget::new(Some(3), clock.clone());
        let sent: Vec<bool> = (0..5).map(|_| budget.take("c")).collect();
        assert_eq!(sent, [true, true, true, false, false]);
        assert_eq!(budget.refused(), 2);
        clock.advance(Duration::from_secs(HOUR_SECS));
        let sent: Vec<bool> = (0..4).map(|_| budget.take("c")).collect();
        assert_eq!(sent, [true, true, true, false]);
        assert_eq!(budget.refused(), 3);
    }

    #[test]
    fn no_cap_sends_everything() {
        let budget = OutboundBudget::new(None, HostClock::new());
        assert!((0..10_000).all(|_| budget.take("c")));
        assert_eq!(budget.refused(), 0);
    }

    #[test]
    fn a_cap_of_zero_refuses_all() {
        let budget = OutboundBudget::new(Some(0), HostClock::new());
        assert!(!budget.take("c"));
        assert_eq!(budget.refused(), 1);
    }
}
