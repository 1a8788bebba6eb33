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
