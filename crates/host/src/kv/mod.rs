//! Key-value storage: Spin's SQLite store and the two WIT faces on it.
//!
//! - `sqlite`: the table and its operations, with Spin's commit behaviour.
//! - `spin_kv`: `fermyon:spin/key-value@2.0.0`.
//! - `wasi_kv`: `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`.
//!
//! Both faces share one per-instance [`KvHost`] and its resource table.

mod spin_kv;
pub(crate) mod sqlite;
mod wasi_kv;

use std::collections::HashSet;
use std::sync::Arc;

use wasmtime::component::ResourceTable;

pub(crate) use sqlite::SqliteKv;

/// The only store label this host defines, as in Spin without runtime config.
pub(crate) const DEFAULT_STORE: &str = "default";

/// Per-instance key-value state.
pub(crate) struct KvHost {
    db: SqliteKv,
    /// The component's `key_value_stores`.
    allowed: Arc<HashSet<String>>,
    table: ResourceTable,
}

impl KvHost {
    pub(crate) fn new(db: SqliteKv, allowed: Arc<HashSet<String>>) -> Self {
        Self { db, allowed, table: ResourceTable::new() }
    }

    /// Spin's order of checks: not listed for the component is access-denied,
    /// listed but not defined by the host is no-such-store.
    fn check_open(&self, label: &str) -> Result<(), OpenError> {
        if !self.allowed.contains(label) {
            Err(OpenError::AccessDenied)
        } else if label != DEFAULT_STORE {
            Err(OpenError::NoSuchStore)
        } else {
            Ok(())
        }
    }
}

enum OpenError {
    AccessDenied,
    NoSuchStore,
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

/// A `wasi:keyvalue/atomics.cas` handle: the value seen by `current`.
// `pub` because bindgen re-exports the resource types it is given.
#[allow(unreachable_pub)]
pub struct Cas {
    label: String,
    key: String,
    /// Set by `current()`, as Spin's SQLite store does; `None` makes `swap` a
    /// plain upsert.
    captured: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_checks_follow_spin() {
        let kv = SqliteKv::open_in_memory().unwrap();
        let allowed: HashSet<String> = ["default".to_string(), "other".to_string()].into();
        let host = KvHost::new(kv, Arc::new(allowed));
        assert!(host.check_open("default").is_ok());
        // Listed for the component but not defined by the host.
        assert!(matches!(host.check_open("other"), Err(OpenError::NoSuchStore)));
        // Not listed for the component, whether or not it exists.
        assert!(matches!(host.check_open("nope"), Err(OpenError::AccessDenied)));
    }
}
