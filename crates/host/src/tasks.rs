//! Tracking background guest work so shutdown can wait for it.
//!
//! A guest keeps running after its early response (delivering webhooks,
//! writing KV). Shutdown must let that finish — tests restart a host on the
//! same database and expect the writes — but not forever.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Default)]
pub(crate) struct TaskTracker {
    set: Mutex<JoinSet<()>>,
}

impl TaskTracker {
    /// Spawns a tracked task on the current runtime.
    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        // Reap finished tasks so a long-running host does not accumulate them.
        while set.try_join_next().is_some() {}
        set.spawn(fut);
    }

    /// Waits up to `grace` for all tracked tasks, then aborts what is left.
    /// Returns how many were aborted.
    pub(crate) async fn drain(&self, grace: Duration) -> usize {
        let mut set = std::mem::take(&mut *self.set.lock().unwrap_or_else(|p| p.into_inner()));
        let finished = tokio::time::timeout(grace, async { while set.join_next().await.is_some() {} }).await;
        if finished.is_ok() {
            return 0;
        }
        let left = set.len();
        set.shutdown().await;
        left
    }
}

/// Resolves once the host's stop flag is set, or its sender is gone (the
/// host was dropped, which means stop too).
pub(crate) async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn drain_waits_for_tasks_and_aborts_stragglers() {
        let tracker = TaskTracker::default();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        tracker.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            d.store(true, Ordering::SeqCst);
        });
        assert_eq!(tracker.drain(Duration::from_secs(5)).await, 0);
        assert!(done.load(Ordering::SeqCst));

        tracker.spawn(std::future::pending());
        assert_eq!(tracker.drain(Duration::from_millis(10)).await, 1);
    }
}
