//! The handler time limit: an invocation still running after it is killed.
//!
//! An invocation is everything a trigger runs for one request or firing: instantiation, the
//! handler, and for HTTP the work the guest goes on doing after its response (Hookah's first
//! delivery attempt), timed from when the trigger starts it. Killing means dropping the
//! invocation's future, and the guest's store with it: the guest stops at its next await and
//! nothing of it runs again; a response not yet sent becomes the trigger's 500, a body not yet
//! finished is cut off.
//!
//! A guest computing without awaiting would never give its future back, so a store under a
//! limit yields to the runtime on every epoch tick (wasmtime's epoch interruption, which the
//! engine turns on and ticks every 10 ms as Spin's does; see `engine.rs`), and the timer gets
//! its turn. Stores without a limit get a deadline they never reach: no yields, as before.
//!
//! Each kill is logged to stderr and counted.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::Store;

/// One host's handler time limit and the invocations it killed.
#[derive(Debug, Default)]
pub(crate) struct HandlerLimit {
    limit: Option<Duration>,
    kills: AtomicU64,
}

impl HandlerLimit {
    pub(crate) fn new(limit: Option<Duration>) -> Self {
        Self { limit, kills: AtomicU64::new(0) }
    }

    /// Makes a fresh store interruptible where a limit applies (see the module doc). Every store
    /// needs a deadline of some kind: with epoch interruption on, a store without one traps at
    /// once.
    pub(crate) fn arm<T>(&self, store: &mut Store<T>) {
        match self.limit {
            Some(_) => store.epoch_deadline_async_yield_and_update(1),
            // Far enough that adding the current epoch cannot overflow.
            None => store.set_epoch_deadline(u64::MAX / 2),
        }
    }

    /// Runs one invocation of `component` by `trigger`, or kills it at the limit: `None` then.
    pub(crate) async fn run<T>(
        &self,
        trigger: &str,
        component: &str,
        invocation: impl Future<Output = T>,
    ) -> Option<T> {
        let Some(limit) = self.limit else { return Some(invocation.await) };
        match tokio::time::timeout(limit, invocation).await {
            Ok(done) => Some(done),
            Err(_) => {
                self.kills.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "hookah-host: {trigger} invocation of component {component:?} killed: still running \
                     after {limit:?}, the handler time limit"
                );
                None
            }
        }
    }

    /// Invocations killed so far.
    pub(crate) fn kills(&self) -> u64 {
        self.kills.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// `(module (func (export "spin") (loop (br 0))))`: a guest that computes forever and never
    /// awaits anything.
    const SPIN_FOREVER: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
        0x03, 0x02, 0x01, 0x00, // one function of that type
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export "spin"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop { br 0 }
    ];

    #[tokio::test]
    async fn a_finished_invocation_is_not_killed() {
        let limit = HandlerLimit::new(Some(Duration::from_secs(60)));
        assert_eq!(limit.run("http", "c", async { 7 }).await, Some(7));
        let unlimited = HandlerLimit::new(None);
        assert_eq!(unlimited.run("http", "c", async { 8 }).await, Some(8));
        assert_eq!(limit.kills() + unlimited.kills(), 0);
    }

    #[tokio::test]
    async fn an_invocation_waiting_past_the_limit_is_killed() {
        let limit = HandlerLimit::new(Some(Duration::from_millis(50)));
        let dropped = std::sync::Arc::new(());
        let held = dropped.clone();
        let outcome = limit
            .run("http", "c", async move {
                let _held = held;
                std::future::pending::<()>().await
            })
            .await;
        assert_eq!(outcome, None);
        assert_eq!(limit.kills(), 1);
        // The invocation's future, and all it held (a guest's store), is gone.
        assert_eq!(std::sync::Arc::strong_count(&dropped), 1);
    }

    #[tokio::test]
    async fn a_guest_computing_without_awaiting_is_killed_too() {
        let engine = crate::engine::engine().unwrap();
        let module = wasmtime::Module::new(engine, SPIN_FOREVER).unwrap();
        let limit = HandlerLimit::new(Some(Duration::from_millis(200)));
        let mut store = Store::new(engine, ());
        limit.arm(&mut store);
        let started = Instant::now();
        let outcome = limit
            .run("cron", "spinner", async {
                let instance = wasmtime::Instance::new_async(&mut store, &module, &[]).await?;
                let spin = instance.get_typed_func::<(), ()>(&mut store, "spin")?;
                spin.call_async(&mut store, ()).await
            })
            .await;
        assert!(outcome.is_none(), "killed, not finished: {outcome:?}");
        assert_eq!(limit.kills(), 1);
        assert!(started.elapsed() < Duration::from_secs(30), "killed near the limit: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_store_without_a_limit_runs_wasm() {
        // With epoch interruption on, a store left without a deadline would trap at once.
        const NOTHING: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
            0x07, 0x07, 0x01, 0x03, b'r', b'u', b'n', 0x00, 0x00, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b,
        ];
        let engine = crate::engine::engine().unwrap();
        let module = wasmtime::Module::new(engine, NOTHING).unwrap();
        let mut store = Store::new(engine, ());
        HandlerLimit::new(None).arm(&mut store);
        let instance = wasmtime::Instance::new_async(&mut store, &module, &[]).await.unwrap();
        let run = instance.get_typed_func::<(), ()>(&mut store, "run").unwrap();
        run.call_async(&mut store, ()).await.unwrap();
    }
}
