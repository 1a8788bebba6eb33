//! Spin 4.0.2's Redis key-value store (`type = "redis"`), quirks included: the
//! same client crate and version, the same commands, the replies parsed the
//! same way. Every label shares the one Redis database, as in Spin.
//!
//! Spin's behaviour that Hookah must live with (each is marked below):
//! `get_many` runs `KEYS`, so it fails or panics; compare-and-swap always
//! reports `CasFailed`, though it wrote; counters are ASCII decimal.

use std::sync::Arc;

use anyhow::Context as _;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands as _, Client, ConnectionInfo, IntoConnectionInfo as _, RedisError, Value};
use tokio::sync::OnceCell;

use super::store::Swapped;
use super::{KvError, KvResult, Op};

/// The store; clones share its one connection, as Spin's store manager does.
#[derive(Clone)]
pub(crate) struct RedisKv {
    inner: Arc<Inner>,
}

struct Inner {
    info: ConnectionInfo,
    /// Made on the first open; a failed attempt is retried on the next.
    connection: OnceCell<ConnectionManager>,
}

/// Spin reports every Redis failure as `error::other` with the error's
/// `Debug` text.
fn other(e: RedisError) -> KvError {
    KvError(format!("{e:?}"))
}

impl RedisKv {
    /// Checks the URL (Spin: "Invalid Redis URL" at startup); connects later,
    /// when a guest first opens the store.
    pub(crate) fn new(url: &str) -> anyhow::Result<Self> {
        redis::parse_redis_url(url).with_context(|| format!("invalid Redis URL {url:?}"))?;
        let info = url.into_connection_info().with_context(|| format!("invalid Redis URL {url:?}"))?;
        Ok(Self { inner: Arc::new(Inner { info, connection: OnceCell::new() }) })
    }

    fn client(&self) -> KvResult<Client> {
        Client::open(self.inner.info.clone()).map_err(other)
    }

    /// The store's one connection (the key cap's count uses it too, `kv/limits.rs`).
    pub(crate) async fn connection(&self) -> KvResult<ConnectionManager> {
        let connection = self
            .inner
            .connection
            .get_or_try_init(|| async { self.client()?.get_connection_manager().await.map_err(other) })
            .await?;
        Ok(connection.clone())
    }

    /// Spin connects, then pings and ignores the answer: the connection
    /// manager reconnects in the background after an I/O error.
    pub(crate) async fn open(&self) -> KvResult<()> {
        let mut conn = self.connection().await?;
        let _ = conn.ping::<()>().await;
        Ok(())
    }

    pub(crate) async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.connection().await?.get(key).await.map_err(other)
    }

    pub(crate) async fn set(&self, key: &str, value: Vec<u8>) -> KvResult<()> {
        self.connection().await?.set(key, value).await.map_err(other)
    }

    pub(crate) async fn delete(&self, key: &str) -> KvResult<()> {
        self.connection().await?.del(key).await.map_err(other)
    }

    pub(crate) async fn exists(&self, key: &str) -> KvResult<bool> {
        self.connection().await?.exists(key).await.map_err(other)
    }

    /// Spin's behaviour: `KEYS *`, every key in the database whatever its label.
    pub(crate) async fn get_keys(&self) -> KvResult<Vec<String>> {
        self.connection().await?.keys("*").await.map_err(other)
    }

    /// Spin's behaviour: `KEYS k1 k2 …`, its reply read as key/value pairs.
    /// Two or more keys: Redis refuses (`wrong number of arguments for 'keys'
    /// command`). One key: the matching key names (the key is a glob
    /// pattern) are paired up; an odd count, such as the one present key,
    /// makes the client crate panic in Spin's host, so the guest traps here
    /// (a client of Spin sees a 500).
    pub(crate) async fn get_many(&self, keys: Vec<String>) -> Op<Vec<(String, Option<Vec<u8>>)>> {
        let mut conn = match self.connection().await {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let reply: Value = match conn.keys(keys).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(other(e))),
        };
        let (reply, left_over) = match reply {
            Value::Array(mut names) if names.len() % 2 == 1 => {
                let last = names.pop();
                (Value::Array(names), last)
            }
            reply => (reply, None),
        };
        // The crate converts pairs in order, so a bad pair fails before the
        // odd one out is reached.
        let pairs = match redis::from_owned_redis_value(reply) {
            Ok(pairs) => pairs,
            Err(e) => return Ok(Err(other(e))),
        };
        if let Some(name) = left_over {
            wasmtime::bail!(
                "get_many: Spin's Redis store read `KEYS` as pairs and got an odd count ({name:?} left over); \
                 Spin's host panics here"
            );
        }
        Ok(Ok(pairs))
    }

    /// One `MSET`: atomic.
    pub(crate) async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        self.connection().await?.mset(&pairs).await.map_err(other)
    }

    /// One multi-key `DEL`: atomic.
    pub(crate) async fn delete_many(&self, keys: Vec<String>) -> KvResult<()> {
        self.connection().await?.del(keys).await.map_err(other)
    }

    /// Spin's behaviour: `INCRBY`, so the counter is stored as ASCII decimal
    /// and a value that is not an integer is an error.
    pub(crate) async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        self.connection().await?.incr(key, delta).await.map_err(other)
    }

    /// Spin's behaviour: every compare-and-swap handle gets a new connection
    /// of its own, since `WATCH` belongs to a connection.
    pub(crate) async fn new_cas(&self) -> KvResult<ConnectionManager> {
        self.client()?.get_connection_manager().await.map_err(other)
    }
}

/// Spin's `current`: `WATCH key`, then `GET key`, on the handle's connection.
pub(crate) async fn cas_current(conn: &mut ConnectionManager, key: &str) -> KvResult<Option<Vec<u8>>> {
    redis::cmd("WATCH").arg(key).exec_async(conn).await.map_err(other)?;
    conn.get(key).await.map_err(other)
}

/// Spin's `swap`: `MULTI`, `SET`, `EXEC`, then `UNWATCH key`. Redis refuses
/// `UNWATCH` with an argument, and Spin reports that refusal as a failed
/// swap: every swap is `CasFailed`, though its `SET` has run unless a
/// conflicting write aborted the `EXEC` (which the `()` reply would have read
/// as success), a missing key included. So compare-and-swap decides nothing
/// on Redis.
pub(crate) async fn cas_swap(conn: &mut ConnectionManager, key: &str, value: Vec<u8>) -> Swapped {
    let written: Result<(), RedisError> = redis::pipe().atomic().set(key, value).query_async(conn).await;
    if redis::cmd("UNWATCH").arg(key).exec_async(conn).await.is_err() {
        return Swapped::CasFailed;
    }
    match written {
        Ok(()) => Swapped::Done,
        Err(_) => Swapped::CasFailed,
    }
}

#[cfg(test)]
mod tests;
