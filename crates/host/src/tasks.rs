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

pub(crate) struct TaskTracker {
    set: Mutex<JoinSet<()>>,
    /// Guest invocations still running, so tests can wait for the host to go idle.
    invocations: watch::Sender<usize>,
}

impl Default for TaskTracker {
    fn default() -> Self {
        Self { set: Mutex::default(), invocations: watch::Sender::new(0) }
    }
}

impl TaskTracker {
    /// Spawns a tracked task on the current runtime.
    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        // Reap finished tasks so a long-running host does not accumulate them.
        while set.try_join_next().is_some() {}
        set.spawn(fut);
    }

    /// Spawns a guest invocation: tracked like any task, and counted until it ends or is
    /// aborted.
    pub(crate) fn spawn_invocation(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.invocations.send_modify(|running| *running += 1);
        let counted = Counted(self.invocations.clone());
        self.spawn(async move {
            let _counted = counted;
            fut.await;
        });
    }

    /// Resolves once no guest invocation is running.
    pub(crate) async fn idle(&self) {
        let _ = self.invocations.subscribe().wait_for(|running| *running == 0).await;
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

/// Counts an invocation as running until dropped, which a finished or aborted task does.
struct Counted(watch::Sender<usize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.send_modify(|running| *running -= 1);
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

    #[tokio::test]
    async fn idle_waits_for_every_invocation_and_counts_aborted_ones_out() {
        use futures::FutureExt as _;
        let tracker = TaskTracker::default();
        tracker.idle().await;
        tracker.spawn_invocation(async {});
        tracker.spawn_invocation(std::future::pending());
        // Counted when spawned, before either has run.
        assert!(tracker.idle().now_or_never().is_none());
        tracker.drain(Duration::from_millis(10)).await;
        tokio::time::timeout(Duration::from_secs(60), tracker.idle()).await.expect("idle once both are gone");
    }
}
