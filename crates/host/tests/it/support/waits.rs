//! Waiting for events, never for time. The bound here only limits how long a failing test hangs,
//! so it is generous: a test on a busy two-core machine must not fail for being slow.

use super::hookah::TestHookah;
use std::time::Duration;

/// The longest any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(120);

impl TestHookah {
    /// Waits (bounded) until no guest invocation is running: the first attempt after a 202, the
    /// outcome it records and any report or verification it stores are all done.
    pub async fn idle(&self) {
        tokio::time::timeout(WAIT, self.host.idle()).await.expect("the host never went idle");
    }
}

impl TestHookah {
    /// Moves the clock once the host is idle: a sweep in passing still running after its answer
    /// would otherwise see the new time and take the work the test means for its next sweep.
    pub async fn advance_idle(&self, by: Duration) {
        self.idle().await;
        self.advance(by);
    }
}
