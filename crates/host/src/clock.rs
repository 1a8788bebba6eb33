//! The host's controllable wall clock.
//!
//! Hookah's retry and retention logic reads wall-clock time inside the guest.
//! Tests need to jump hours ahead without sleeping, so the host hands guests a
//! wall clock that is real time plus an offset the test can move. The monotonic
//! clock stays real: timeouts and durations must keep meaning real time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime_wasi::HostWallClock;

/// Real wall time plus an adjustable offset; clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct HostClock {
    /// Offset in nanoseconds. An atomic rather than a lock because every
    /// guest clock read goes through here.
    offset_nanos: Arc<AtomicU64>,
}

impl HostClock {
    /// A clock with no offset: plain wall time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (cumulative).
    pub fn advance(&self, by: Duration) {
        let by = duration_to_nanos(by);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self.offset_nanos.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |old| Some(old.saturating_add(by)));
    }

    /// Replaces the offset from real time.
    pub fn set_offset(&self, offset: Duration) {
        self.offset_nanos.store(duration_to_nanos(offset), Ordering::SeqCst);
    }

    /// The current offset from real time.
    pub fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }

    /// Whether the two share one offset (one is a clone of the other).
    pub(crate) fn same_as(&self, other: &HostClock) -> bool {
        Arc::ptr_eq(&self.offset_nanos, &other.offset_nanos)
    }

    /// Time since the Unix epoch as the guests see it.
    pub fn now_since_epoch(&self) -> Duration {
        // A system clock before 1970 is a broken machine; treat it as the epoch
        // rather than panicking.
        let real = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        real.saturating_add(self.offset())
    }

    /// Milliseconds since the Unix epoch as the guests see them.
    pub fn now_unix_ms(&self) -> u64 {
        u64::try_from(self.now_since_epoch().as_millis()).unwrap_or(u64::MAX)
    }

    /// Seconds since the Unix epoch as the guests see them.
    pub fn now_unix_secs(&self) -> u64 {
        self.now_since_epoch().as_secs()
    }

    /// The `wasi:clocks/wall-clock` implementation handed to each guest.
    pub(crate) fn wasi_wall_clock(&self) -> GuestWallClock {
        GuestWallClock(self.clone())
    }
}

fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Adapter from [`HostClock`] to wasmtime-wasi's wall-clock trait.
pub(crate) struct GuestWallClock(HostClock);

impl HostWallClock for GuestWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.now_since_epoch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_shared_and_cumulative() {
        let clock = HostClock::new();
        let other = clock.clone();
        clock.advance(Duration::from_secs(60));
        other.advance(Duration::from_secs(60));
        assert_eq!(clock.offset(), Duration::from_secs(120));
        clock.set_offset(Duration::from_secs(5));
        assert_eq!(other.offset(), Duration::from_secs(5));
    }

    #[test]
    fn guest_clock_includes_offset() {
        let clock = HostClock::new();
        clock.set_offset(Duration::from_secs(86_400 * 365));
        let real_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
        let guest = clock.wasi_wall_clock().now().as_millis();
        // The offset is a year; the gap between the two reads is microseconds.
        assert!(guest >= real_ms + 86_400_000 * 365);
        assert!(guest < real_ms + 86_400_000 * 366);
    }
}
