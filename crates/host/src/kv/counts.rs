//! What guests asked of the key-value store: calls, keys and the time each kind of operation
//! took (waiting for the store included), counted for every instance of a host. The benchmark
//! reads them to count operations per job and per swept slot; counting costs a few atomic adds.
//! With `HOOKAH_HOST_KV_PROFILE=1` calls are counted by key shape too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Set to count calls by key shape too (`job:*:turn:#`), for profiling; off by default.
pub(crate) const PROFILE_ENV: &str = "HOOKAH_HOST_KV_PROFILE";

/// The store operations a guest can make (compare-and-swap is not counted: Hookah uses none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Get,
    Set,
    Delete,
    Exists,
    GetKeys,
    GetMany,
    SetMany,
    DeleteMany,
    Increment,
}

const KINDS: [(OpKind, &str); 9] = [
    (OpKind::Get, "get"),
    (OpKind::Set, "set"),
    (OpKind::Delete, "delete"),
    (OpKind::Exists, "exists"),
    (OpKind::GetKeys, "get_keys"),
    (OpKind::GetMany, "get_many"),
    (OpKind::SetMany, "set_many"),
    (OpKind::DeleteMany, "delete_many"),
    (OpKind::Increment, "increment"),
];

#[derive(Default)]
struct Counter {
    calls: AtomicU64,
    keys: AtomicU64,
    nanos: AtomicU64,
}

/// One counter per operation kind; with [`PROFILE_ENV`] set, also calls by kind and key shape.
pub(crate) struct KvCounts {
    by_kind: [Counter; KINDS.len()],
    by_shape: Option<Mutex<BTreeMap<(&'static str, String), u64>>>,
}

impl Default for KvCounts {
    fn default() -> Self {
        let profile = std::env::var_os(PROFILE_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        Self { by_kind: Default::default(), by_shape: profile.then(Mutex::default) }
    }
}

impl KvCounts {
    pub(crate) fn add(&self, kind: OpKind, keys: usize, took: Duration) {
        let counter = &self.by_kind[kind as usize];
        counter.calls.fetch_add(1, Ordering::Relaxed);
        counter.keys.fetch_add(keys as u64, Ordering::Relaxed);
        counter.nanos.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Notes the shape of a key a call named, when profiling.
    pub(crate) fn shape(&self, kind: OpKind, key: &str) {
        let Some(by_shape) = &self.by_shape else { return };
        let shape = key_shape(key);
        let name = KINDS[kind as usize].1;
        if let Ok(mut by_shape) = by_shape.lock() {
            *by_shape.entry((name, shape)).or_default() += 1;
        }
    }

    /// Calls by operation and key shape so far (empty unless profiling).
    pub(crate) fn shapes(&self) -> BTreeMap<(&'static str, String), u64> {
        self.by_shape.as_ref().and_then(|m| m.lock().ok().map(|m| m.clone())).unwrap_or_default()
    }

    pub(crate) fn snapshot(&self) -> KvOps {
        let ops = KINDS
            .iter()
            .map(|&(kind, name)| {
                let counter = &self.by_kind[kind as usize];
                let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
                (name, OpCount { calls: load(&counter.calls), keys: load(&counter.keys), nanos: load(&counter.nanos) })
            })
            .collect();
        KvOps { ops }
    }
}

/// Calls of one kind of operation, the keys they named and the time they took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCount {
    pub calls: u64,
    pub keys: u64,
    pub nanos: u64,
}

/// A snapshot of a host's key-value operations (see [`crate::RunningHost::kv_ops`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvOps {
    /// By operation name (`get`, `set`, `increment`, …), in a fixed order.
    pub ops: Vec<(&'static str, OpCount)>,
}

impl KvOps {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &KvOps) -> KvOps {
        let ops = self
            .ops
            .iter()
            .map(|&(name, now)| {
                let then = earlier.ops.iter().find(|(n, _)| *n == name).map(|&(_, c)| c).unwrap_or_default();
                let count = OpCount {
                    calls: now.calls.saturating_sub(then.calls),
                    keys: now.keys.saturating_sub(then.keys),
                    nanos: now.nanos.saturating_sub(then.nanos),
                };
                (name, count)
            })
            .collect();
        KvOps { ops }
    }

    /// All calls of every kind.
    pub fn calls(&self) -> u64 {
        self.ops.iter().map(|(_, c)| c.calls).sum()
    }

    /// Time spent in the store, all kinds together.
    pub fn time(&self) -> Duration {
        Duration::from_nanos(self.ops.iter().map(|(_, c)| c.nanos).sum())
    }

    /// Calls that write (and commit on SQLite): sets, deletes, increments and their batches.
    pub fn writes(&self) -> u64 {
        let writes = ["set", "delete", "set_many", "delete_many", "increment"];
        self.ops.iter().filter(|(name, _)| writes.contains(name)).map(|(_, c)| c.calls).sum()
    }
}

/// A key with its numbers as `#` and its ids (`job_…`) as `*`: `due:#:#`, `job:*:turn:#`.
fn key_shape(key: &str) -> String {
    let parts: Vec<&str> = key
        .split(':')
        .map(|part| {
            if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                "#"
            } else if part.contains('_') || part.len() > 24 {
                "*"
            } else {
                part
            }
        })
        .collect();
    parts.join(":")
}
