//! The backend behind every store handle: one method per operation of Spin's
//! key-value `Store` and `Cas`, dispatched to SQLite or Redis.
//!
//! The label is passed along because Spin's SQLite store keys rows by it;
//! Spin's Redis store ignores it (all labels share one keyspace).

use std::future::Future;
use std::sync::Arc;

use super::counts::{KvCounts, OpKind};
use super::redis::{self as redis_store, RedisKv};
use super::sqlite::{self, SqliteKv};
use super::Op;

/// The store the host was configured with, and what was asked of it; clones share both.
#[derive(Clone)]
pub(crate) struct KvStore {
    backend: Backend,
    counts: Arc<KvCounts>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteKv),
    Redis(RedisKv),
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
        Self { backend: Backend::Sqlite(db), counts: Arc::default() }
    }

    pub(crate) fn redis(r: RedisKv) -> Self {
        Self { backend: Backend::Redis(r), counts: Arc::default() }
    }

    /// The same store as another process of the app would open it: for SQLite a connection of
    /// its own to the file (counted with this one); Redis is shared as it is.
    pub(crate) fn for_another_process(&self) -> anyhow::Result<Self> {
        let backend = match &self.backend {
            Backend::Sqlite(db) => Backend::Sqlite(db.another_connection()?),
            Backend::Redis(r) => Backend::Redis(r.clone()),
        };
        Ok(Self { backend, counts: self.counts.clone() })
    }

    /// Calls, keys and time of every operation so far (the benchmark's profile).
    pub(crate) fn counts(&self) -> &Arc<KvCounts> {
        &self.counts
    }

    /// What Spin does when a guest opens a store: nothing for SQLite; for
    /// Redis, connect (once per host) and ping.
    pub(crate) async fn open(&self) -> Op<()> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Ok(())),
            Backend::Redis(r) => Ok(r.open().await),
        }
    }

    pub(crate) async fn get(&self, label: &str, key: &str) -> Op<Option<Vec<u8>>> {
        self.counts.shape(OpKind::Get, key);
        self.counted(OpKind::Get, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let (label, key) = (label.to_owned(), key.to_owned());
                    db.call(move |c| sqlite::get(c, &label, &key)).await
                }
                Backend::Redis(r) => Ok(r.get(key).await),
            }
        })
        .await
    }

    pub(crate) async fn set(&self, label: &str, key: &str, value: Vec<u8>) -> Op<()> {
        self.counts.shape(OpKind::Set, key);
        self.counted(OpKind::Set, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let (label, key) = (label.to_owned(), key.to_owned());
                    db.call(move |c| sqlite::set(c, &label, &key, &value)).await
                }
                Backend::Redis(r) => Ok(r.set(key, value).await),
            }
        })
        .await
    }

    pub(crate) async fn delete(&self, label: &str, key: &str) -> Op<()> {
        self.counts.shape(OpKind::Delete, key);
        self.counted(OpKind::Delete, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let (label, key) = (label.to_owned(), key.to_owned());
                    db.call(move |c| sqlite::delete(c, &label, &key)).await
                }
                Backend::Redis(r) => Ok(r.delete(key).await),
            }
        })
        .await
    }

    pub(crate) async fn exists(&self, label: &str, key: &str) -> Op<bool> {
        self.counts.shape(OpKind::Exists, key);
        self.counted(OpKind::Exists, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let (label, key) = (label.to_owned(), key.to_owned());
                    db.call(move |c| sqlite::exists(c, &label, &key)).await
                }
                Backend::Redis(r) => Ok(r.exists(key).await),
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
            }
        })
        .await
    }

    pub(crate) async fn get_many(&self, label: &str, keys: Vec<String>) -> Op<Vec<(String, Option<Vec<u8>>)>> {
        keys.iter().for_each(|key| self.counts.shape(OpKind::GetMany, key));
        let keys_asked = keys.len();
        self.counted(OpKind::GetMany, keys_asked, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let label = label.to_owned();
                    db.call(move |c| sqlite::get_many(c, &label, keys)).await
                }
                Backend::Redis(r) => r.get_many(keys).await,
            }
        })
        .await
    }

    pub(crate) async fn set_many(&self, label: &str, pairs: Vec<(String, Vec<u8>)>) -> Op<()> {
        pairs.iter().for_each(|(key, _)| self.counts.shape(OpKind::SetMany, key));
        let keys_asked = pairs.len();
        self.counted(OpKind::SetMany, keys_asked, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let label = label.to_owned();
                    db.call(move |c| sqlite::set_many(c, &label, &pairs)).await
                }
                Backend::Redis(r) => Ok(r.set_many(pairs).await),
            }
        })
        .await
    }

    pub(crate) async fn delete_many(&self, label: &str, keys: Vec<String>) -> Op<()> {
        keys.iter().for_each(|key| self.counts.shape(OpKind::DeleteMany, key));
        let keys_asked = keys.len();
        self.counted(OpKind::DeleteMany, keys_asked, async {
            match &self.backend {
                Backend::Sqlite(db) => {
                    let label = label.to_owned();
                    db.call(move |c| sqlite::delete_many(c, &label, keys)).await
                }
                Backend::Redis(r) => Ok(r.delete_many(keys).await),
            }
        })
        .await
    }

    pub(crate) async fn increment(&self, label: &str, key: &str, delta: i64) -> Op<i64> {
        self.counts.shape(OpKind::Increment, key);
        self.counted(OpKind::Increment, 1, async {
            match &self.backend {
                Backend::Sqlite(db) => db.increment(label, key, delta).await,
                Backend::Redis(r) => Ok(r.increment(key, delta).await),
            }
        })
        .await
    }

    /// Runs `op`, adding it to the profile as one call of `kind` over `keys_asked` keys.
    async fn counted<T>(&self, kind: OpKind, keys_asked: usize, op: impl Future<Output = Op<T>>) -> Op<T> {
        let started = std::time::Instant::now();
        let result = op.await;
        self.counts.add(kind, keys_asked, started.elapsed());
        result
    }

    /// A new compare-and-swap handle; it reads nothing until `current`.
    pub(crate) async fn new_cas(&self) -> Op<CasState> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Ok(CasState::Sqlite { captured: None })),
            Backend::Redis(r) => Ok(r.new_cas().await.map(CasState::Redis)),
        }
    }

    pub(crate) async fn cas_current(&self, label: &str, key: &str, state: &mut CasState) -> Op<Option<Vec<u8>>> {
        match (&self.backend, state) {
            (Backend::Sqlite(db), CasState::Sqlite { captured }) => {
                let (label, key) = (label.to_owned(), key.to_owned());
                let value = db.call(move |c| sqlite::get(c, &label, &key)).await?;
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
        match (&self.backend, state) {
            (Backend::Sqlite(db), CasState::Sqlite { captured }) => {
                let (label, key) = (label.to_owned(), key.to_owned());
                db.call(move |c| sqlite::swap(c, &label, &key, captured.as_deref(), &value)).await
            }
            (Backend::Redis(_), CasState::Redis(mut conn)) => {
                Ok(Ok(redis_store::cas_swap(&mut conn, key, value).await))
            }
            _ => Err(wasmtime::format_err!("compare-and-swap handle from another store")),
        }
    }
}
