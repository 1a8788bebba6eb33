//! Key-value storage: Spin's two local backends, a simulated replicated one,
//! and the two WIT faces on them.
//!
//! - `store`: [`KvStore`], the backend the runtime config chose, one call
//!   per store operation Spin's host makes.
//! - `sqlite`: Spin's SQLite store (`type = "spin"`, the default).
//! - `redis`: Spin's Redis store (`type = "redis"`).
//! - `replicated`: [`ReplicatedKv`], two regions of a globally replicated
//!   store, each with Spin's SQLite semantics, whose writes reach each other
//!   after a lag (last writer wins per key; `increment` atomic only within a
//!   region). Tests only; one host runs in each region ([`KvRegion`]).
//! - `spin_kv`: `fermyon:spin/key-value@2.0.0`.
//! - `wasi_kv`: `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`.
//! - `counts`: calls, keys and time per operation, for the benchmark.
//! - `limits`: a managed host's key length, value size and key cap
//!   (`crate::limits`), checked on every call when configured.
//!
//! Both faces share one per-instance [`KvHost`] and its resource table. Each
//! backend reproduces what Spin 4.0.2's does, quirks included, because Hookah
//! must be correct on what Spin really does rather than on what the WIT says.

mod counts;
mod limits;
mod redis;
mod replicated;
mod spin_kv;
pub(crate) mod sqlite;
mod store;
mod wasi_kv;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use wasmtime::component::ResourceTable;

pub(crate) use self::redis::RedisKv;
pub use counts::{KvOps, OpCount};
pub use replicated::{KvRegion, ReplicatedKv};
pub(crate) use sqlite::SqliteKv;
pub(crate) use store::{CasState, KvStore};

/// The only store label this host defines, as in Spin without runtime config.
pub(crate) const DEFAULT_STORE: &str = "default";

/// A storage failure, reported to guests as `error::other(message)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvError(pub(crate) String);

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type KvResult<T> = Result<T, KvError>;

/// The outcome of one store operation as the guest sees it: the outer error
/// traps the guest (where Spin's host panics), the inner one is an error
/// result.
pub(crate) type Op<T> = wasmtime::Result<KvResult<T>>;

/// Per-instance key-value state.
pub(crate) struct KvHost {
    store: KvStore,
    /// The component's `key_value_stores`.
    allowed: Arc<HashSet<String>>,
    table: ResourceTable,
}

impl KvHost {
    pub(crate) fn new(store: KvStore, allowed: Arc<HashSet<String>>) -> Self {
        Self { store, allowed, table: ResourceTable::new() }
    }

    /// Spin's order of checks: not listed for the component is access-denied,
    /// listed but not defined by the host is no-such-store; then the backend
    /// is opened (Redis connects here, once per host). `&mut self` keeps the
    /// future `Send`: the resource table is not `Sync`.
    async fn open_store(&mut self, label: &str) -> wasmtime::Result<Result<(), OpenError>> {
        if !self.allowed.contains(label) {
            return Ok(Err(OpenError::AccessDenied));
        }
        if label != DEFAULT_STORE {
            return Ok(Err(OpenError::NoSuchStore));
        }
        Ok(self.store.open().await?.map_err(OpenError::Other))
    }
}

enum OpenError {
    AccessDenied,
    NoSuchStore,
    Other(KvError),
}

/// A `fermyon:spin/key-value.store` handle.
// `pub` because bindgen re-exports the resource types it is given.
#[allow(unreachable_pub)]
pub struct SpinStore {
    label: String,
}

/// A `wasi:keyvalue/store.bucket` handle.
// `pub` because bindgen re-exports the resource types it is given.
#[allow(unreachable_pub)]
pub struct Bucket {
    label: String,
}

/// A `wasi:keyvalue/atomics.cas` handle.
// `pub` because bindgen re-exports the resource types it is given.
#[allow(unreachable_pub)]
pub struct Cas {
    label: String,
    key: String,
    state: CasState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_checks_follow_spin() {
        let kv = KvStore::sqlite(SqliteKv::open_in_memory().unwrap());
        let allowed: HashSet<String> = ["default".to_string(), "other".to_string()].into();
        let mut host = KvHost::new(kv, Arc::new(allowed));
        assert!(matches!(host.open_store("default").await, Ok(Ok(()))));
        // Listed for the component but not defined by the host.
        assert!(matches!(host.open_store("other").await, Ok(Err(OpenError::NoSuchStore))));
        // Not listed for the component, whether or not it exists.
        assert!(matches!(host.open_store("nope").await, Ok(Err(OpenError::AccessDenied))));
    }
}
