//! The backend behind every store handle: one method per operation of Spin's
//! key-value `Store` and `Cas`, dispatched to SQLite, Redis or a region of the
//! simulated replicated store (`replicated.rs`).
//!
//! The label is passed along because Spin's SQLite store keys rows by it;
//! Spin's Redis store ignores it (all labels share one keyspace).

use std::future::Future;
use std::sync::Arc;

use super::counts::{KvCounts, OpKind};
use super::limits::{self, KvLimits};
use super::redis::{self as redis_store, RedisKv};
use super::replicated::KvRegion;
use super::sqlite::{self, SqliteKv};
use super::Op;

/// The store the host was configured with, what was asked of it, and its limits
/// (`limits.rs`); clones share all three.
#[derive(Clone)]
pub(crate) struct KvStore {
    backend: Backend,
    counts: Arc<KvCounts>,
    limits: Arc<KvLimits>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteKv),
    Redis(RedisKv),
    Replicated(KvRegion),
}

/// What a compare-and-swap handle holds between `current` and `swap`.
pub(crate) enum CasState {
    /// The value `current` read; `None` makes `swap` a plain upsert.
    Sqlite { captured: Option<Vec<u8>> },
    /// The handle's own connection, on which `current` ran `WATCH`.
    Redis(::redis::aio::ConnectionManager),
}

/// The outcome of a swap that reached the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Swapped {
    Done,
    CasFailed,
}

impl KvStore {
    pub(crate) fn sqlite(db: SqliteKv) -> Self {
        Self { backend: Backend::Sqlite(db), counts: Arc::default(), limits: Arc::default() }
    }

    pub(crate) fn redis(r: RedisKv) -> Self {
        Self { backend: Backend::Redis(r), counts: Arc::default(), limits: Arc::default() }
    }

    /// One region of a simulated replicated store: Spin's SQLite semantics in the region.
    pub(crate) fn replicated(region: KvRegion) -> Self {
        Self { backend: Backend::Replicated(region), counts: Arc::default(), limits: Arc::default() }
    }

    /// The same store as another process of the app would open it: for SQLite a connection of
    /// its own to the file (counted with this one); Redis is shared as it is.
    pub(crate) fn for_another_process(&self) -> anyhow::Result<Self> {
        let backend = match &self.backend {
            Backend::Sqlite(db) => Backend::Sqlite(db.another_connection()?),
            Backend::Redis(r) => Backend::Redis(r.clone()),
            Backend::Replicated(region) => Backend::Replicated(region.clone()),
        };
        Ok(Self { backend, counts: self.counts.clone(), limits: self.limits.clone() })
    }

    /// The same store under a managed host's key-value limits.
    pub(crate) fn with_limits(self, limits: &crate::limits::Limits) -> anyhow::Result<Self> {
        if limits.max_keys.is_some() && matches!(self.backend, Backend::Replicated(_)) {
            anyhow::bail!("the key cap (max_keys) is not implemented for the replicated store");
        }
        Ok(Self { limits: Arc::new(KvLimits::new(limits)), ..self })
    }

    /// Calls the limits refused so far.
    pub(crate) fn refused_by_limits(&self) -> u64 {
        self.limits.refused()
    }

    /// Calls, keys and time of every operation so far (the benchmark's profile).
    pub(crate) fn counts(&self) -> &Arc<KvCounts> {
        &self.counts
    }

    /// What Spin does when a guest opens a store: nothing for SQLite; for
    /// Redis, connect (once per host) and ping.
    pub(crate) async fn open(&self) -> Op<()> {
        match &self.backend {
            Backend::Sqlite(_) | Backend::Replicated(_) => Ok(Ok(())),
            Backend::Redis(r) => Ok(r.open().await),
        }
    }

    pub(crate) async fn get(&self, label: &str, key: &str) -> Op<Option<Vec<u8>>> {
        if let Err(e) = self.limits.key(key) {
            return Ok(Err(e));
        }
        self.counts.shape(OpKind::Get, key);
        self.counted(OpKind::Get, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let (label, key) = (label.to_owned(), key.to_owned());
                    db.call(move |c| sqlite::get(c, &label, &key)).await
                }
                Backend::Redis(r) => Ok(r.get(key).await),
                Backend::Replicated(region) => region.get(label, key),
            }
        })
        .await
    }

    pub(crate) async fn set(&self, label: &str, key: &str, value: Vec<u8>) -> Op<()> {
        if let Err(e) = self.limits.pair(key, &value) {
            return Ok(Err(e));
        }
        let max_keys = self.limits.max_keys;
        self.counts.shape(OpKind::Set, key);
        self.counted(OpKind::Set, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let (label, key) = (label.to_owned(), key.to_owned());
                    match max_keys {
                        None => db.call(move |c| sqlite::set(c, &label, &key, &value)).await,
                        Some(cap) => db.call(move |c| sqlite::set_many_capped(c, &label, &[(key, value)], cap)).await,
                    }
                }
                Backend::Redis(r) => {
                    if let Some(Err(e)) = redis_room(r, &[key], max_keys).await {
                        return Ok(Err(e));
                    }
                    Ok(r.set(key, value).await)
                }
                Backend::Replicated(region) => region.set(label, key, value),
            }
        })
        .await
    }

    pub(crate) async fn delete(&self, label: &str, key: &str) -> Op<()> {
        if let Err(e) = self.limits.key(key) {
            return Ok(Err(e));
        }
        self.counts.shape(OpKind::Delete, key);
        self.counted(OpKind::Delete, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let (label, key) = (label.to_owned(), key.to_owned());
                    db.call(move |c| sqlite::delete(c, &label, &key)).await
                }
                Backend::Redis(r) => Ok(r.delete(key).await),
                Backend::Replicated(region) => region.delete(label, key),
            }
        })
        .await
    }

    pub(crate) async fn exists(&self, label: &str, key: &str) -> Op<bool> {
        if let Err(e) = self.limits.key(key) {
            return Ok(Err(e));
        }
        self.counts.shape(OpKind::Exists, key);
        self.counted(OpKind::Exists, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let (label, key) = (label.to_owned(), key.to_owned());
                    db.call(move |c| sqlite::exists(c, &label, &key)).await
                }
                Backend::Redis(r) => Ok(r.exists(key).await),
                Backend::Replicated(region) => region.exists(label, key),
            }
        })
        .await
    }

    pub(crate) async fn get_keys(&self, label: &str) -> Op<Vec<String>> {
        self.counted(OpKind::GetKeys, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let label = label.to_owned();
                    db.call(move |c| sqlite::keys(c, &label)).await
                }
                Backend::Redis(r) => Ok(r.get_keys().await),
                Backend::Replicated(region) => region.get_keys(label),
            }
        })
        .await
    }

    pub(crate) async fn get_many(&self, label: &str, keys: Vec<String>) -> Op<Vec<(String, Option<Vec<u8>>)>> {
        if let Err(e) = self.limits.keys(keys.iter().map(String::as_str)) {
            return Ok(Err(e));
        }
        keys.iter().for_each(|key| self.counts.shape(OpKind::GetMany, key));
        let keys_asked = keys.len();
        self.counted(OpKind::GetMany, keys_asked, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let label = label.to_owned();
                    db.call(move |c| sqlite::get_many(c, &label, keys)).await
                }
                Backend::Redis(r) => r.get_many(keys).await,
                Backend::Replicated(region) => region.get_many(label, keys),
            }
        })
        .await
    }

    pub(crate) async fn set_many(&self, label: &str, pairs: Vec<(String, Vec<u8>)>) -> Op<()> {
        if let Err(e) = pairs.iter().try_for_each(|(key, value)| self.limits.pair(key, value)) {
            return Ok(Err(e));
        }
        let max_keys = self.limits.max_keys;
        pairs.iter().for_each(|(key, _)| self.counts.shape(OpKind::SetMany, key));
        let keys_asked = pairs.len();
        self.counted(OpKind::SetMany, keys_asked, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let label = label.to_owned();
                    match max_keys {
                        None => db.call(move |c| sqlite::set_many(c, &label, &pairs)).await,
                        Some(cap) => db.call(move |c| sqlite::set_many_capped(c, &label, &pairs, cap)).await,
                    }
                }
                Backend::Redis(r) => {
                    let keys: Vec<&str> = pairs.iter().map(|(key, _)| key.as_str()).collect();
                    if let Some(Err(e)) = redis_room(r, &keys, max_keys).await {
                        return Ok(Err(e));
                    }
                    Ok(r.set_many(pairs).await)
                }
                Backend::Replicated(region) => region.set_many(label, pairs),
            }
        })
        .await
    }

    pub(crate) async fn delete_many(&self, label: &str, keys: Vec<String>) -> Op<()> {
        if let Err(e) = self.limits.keys(keys.iter().map(String::as_str)) {
            return Ok(Err(e));
        }
        keys.iter().for_each(|key| self.counts.shape(OpKind::DeleteMany, key));
        let keys_asked = keys.len();
        self.counted(OpKind::DeleteMany, keys_asked, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let label = label.to_owned();
                    db.call(move |c| sqlite::delete_many(c, &label, keys)).await
                }
                Backend::Redis(r) => Ok(r.delete_many(keys).await),
                Backend::Replicated(region) => region.delete_many(label, keys),
            }
        })
        .await
    }

    pub(crate) async fn increment(&self, label: &str, key: &str, delta: i64) -> Op<i64> {
        if let Err(e) = self.limits.key(key) {
            return Ok(Err(e));
        }
        let max_keys = self.limits.max_keys;
        self.counts.shape(OpKind::Increment, key);
        self.counted(OpKind::Increment, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => db.increment(label, key, delta, max_keys).await,
                Backend::Redis(r) => {
                    if let Some(Err(e)) = redis_room(r, &[key], max_keys).await {
                        return Ok(Err(e));
                    }
                    Ok(r.increment(key, delta).await)
                }
                Backend::Replicated(region) => region.increment(label, key, delta),
            }
        })
        .await
    }

    /// Runs `op`, adding it to the profile as one call of `kind` over `keys_asked` keys.
    async fn counted<T>(&self, kind: OpKind, keys_asked: usize, op: impl Future<Output = Op<T>>) -> Op<T> {
        let started = std::time::Instant::now();
        let result = op.await;
        self.counts.add(kind, keys_asked, started.elapsed());
        result.map(|r| self.limits.counted(r))
    }

    /// A new compare-and-swap handle; it reads nothing until `current`.
    pub(crate) async fn new_cas(&self) -> Op<CasState> {
        match &self.backend {
            Backend::Sqlite(_) | Backend::Replicated(_) => Ok(Ok(CasState::Sqlite { captured: None })),
            Backend::Redis(r) => Ok(r.new_cas().await.map(CasState::Redis)),
        }
    }

    pub(crate) async fn cas_current(&self, label: &str, key: &str, state: &mut CasState) -> Op<Option<Vec<u8>>> {
        if let Err(e) = self.limits.key(key) {
            return Ok(Err(e));
        }
        match (&self.backend, state) {
            (Backend::Sqlite(db), CasState::Sqlite { captured }) => {
                let (label, key) = (label.to_owned(), key.to_owned());
                let value = db.call(move |c| sqlite::get(c, &label, &key)).await?;
                if let Ok(v) = &value {
                    captured.clone_from(v);
                }
                Ok(value)
            }
            (Backend::Replicated(region), CasState::Sqlite { captured }) => {
                let value = region.get(label, key)?;
                if let Ok(v) = &value {
                    captured.clone_from(v);
                }
                Ok(value)
            }
            (Backend::Redis(_), CasState::Redis(conn)) => Ok(redis_store::cas_current(conn, key).await),
            _ => Err(wasmtime::format_err!("compare-and-swap handle from another store")),
        }
    }

    pub(crate) async fn cas_swap(&self, label: &str, key: &str, state: CasState, value: Vec<u8>) -> Op<Swapped> {
        if let Err(e) = self.limits.pair(key, &value) {
            return Ok(Err(e));
        }
        match (&self.backend, state) {
            (Backend::Sqlite(db), CasState::Sqlite { captured }) => {
                let (label, key) = (label.to_owned(), key.to_owned());
                db.call(move |c| sqlite::swap(c, &label, &key, captured.as_deref(), &value)).await
            }
            (Backend::Replicated(region), CasState::Sqlite { captured }) => {
                region.swap(label, key, captured.as_deref(), value)
            }
            (Backend::Redis(_), CasState::Redis(mut conn)) => {
                Ok(Ok(redis_store::cas_swap(&mut conn, key, value).await))
            }
            _ => Err(wasmtime::format_err!("compare-and-swap handle from another store")),
        }
    }
}

/// The key cap on Redis (`limits.rs`), when there is one: `None` without a cap.
async fn redis_room(redis: &RedisKv, keys: &[&str], max_keys: Option<u64>) -> Option<super::KvResult<()>> {
    Some(limits::redis_room(redis, keys, max_keys?).await)
}
