//! A managed host's key-value limits (`crate::limits`): key length, value size and the number of
//! keys a store holds. Off unless configured; `spin up` has none.
//!
//! - Every operation that names a key checks its length, reads included: Fermyon Cloud does not
//!   publish what a read of a too-long key does, and refusing it here means a test that passes
//!   cannot meet that refusal there. Every write checks its values' sizes (`set`, `set_many`,
//!   a compare-and-swap's `swap`).
//! - The key cap: a write that would create keys past `max_keys` fails whole (a `set_many`
//!   writes nothing); overwriting, deleting and incrementing an existing counter keep working,
//!   even in a store already past the cap. Keys are counted by the backend itself, so several
//!   hosts sharing one store see one count. SQLite: in the write's own transaction, the label's
//!   rows (exact; such a `set`/`set_many` takes the write lock at its start, waiting as any
//!   write does). Redis: `EXISTS` and `DBSIZE` (the whole database, every label, as Spin's
//!   `get_keys` sees it) in one round trip before the write, so writers racing near the cap can
//!   overshoot it by the keys they create at once. Compare-and-swap is not capped (Hookah uses
//!   none).
//!
//! A refusal is an error result the guest sees: `error::other(message)` on both
//! `wasi:keyvalue` and `fermyon:spin/key-value` (the latter's `store-table-full` means too many
//! open store handles, not a full store). The messages are this host's own: the wording
//! Fermyon Cloud uses is not known.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{params, Connection};

use super::redis::RedisKv;
use super::{sqlite, KvError, KvResult};
use crate::limits::Limits;

/// One store's limits, and the calls they refused; shared by the store's clones.
#[derive(Debug, Default)]
pub(crate) struct KvLimits {
    max_key_bytes: Option<usize>,
    max_value_bytes: Option<usize>,
    /// Checked by the backend, in or just before the write.
    pub(crate) max_keys: Option<u64>,
    refused: AtomicU64,
}

impl KvLimits {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            max_key_bytes: limits.max_key_bytes,
            max_value_bytes: limits.max_value_bytes,
            max_keys: limits.max_keys,
            refused: AtomicU64::new(0),
        }
    }

    /// Refuses a key that is too long.
    pub(crate) fn key(&self, key: &str) -> KvResult<()> {
        match self.max_key_bytes {
            Some(max) if key.len() > max => {
                Err(self.refuse(format!("key too long: {} bytes, the limit is {max}", key.len())))
            }
            _ => Ok(()),
        }
    }

    /// Refuses any key that is too long.
    pub(crate) fn keys<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> KvResult<()> {
        keys.into_iter().try_for_each(|key| self.key(key))
    }

    /// Refuses a pair whose key is too long or whose value is too large.
    pub(crate) fn pair(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.key(key)?;
        match self.max_value_bytes {
            Some(max) if value.len() > max => {
                Err(self.refuse(format!("value too large: {} bytes, the limit is {max}", value.len())))
            }
            _ => Ok(()),
        }
    }

    /// Counts a refusal the backend made (the key cap) and passes its error on.
    pub(crate) fn counted<T>(&self, result: KvResult<T>) -> KvResult<T> {
        if matches!(&result, Err(e) if e.0.starts_with(STORE_FULL)) {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Calls refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn refuse(&self, message: String) -> KvError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        KvError(message)
    }
}

const STORE_FULL: &str = "store full";

/// Refuses a write that would add `new` keys to a store holding `held` when it may hold `cap`.
fn room(held: u64, new: u64, cap: u64) -> KvResult<()> {
    if new > 0 && held.saturating_add(new) > cap {
        return Err(KvError(format!(
            "{STORE_FULL}: it holds {held} keys and this write would add {new}, the limit is {cap}"
        )));
    }
    Ok(())
}

/// SQLite: whether the store label has room for the keys among `keys` it lacks. Run inside the
/// write's transaction, so the count and the write are one.
pub(crate) fn sqlite_room<'k>(
    conn: &Connection,
    store: &str,
    keys: impl IntoIterator<Item = &'k str>,
    cap: u64,
) -> KvResult<()> {
    let mut new = 0;
    for key in keys.into_iter().collect::<BTreeSet<_>>() {
        if !sqlite::exists(conn, store, key)? {
            new += 1;
        }
    }
    if new == 0 {
        return Ok(());
    }
    let held: u64 = conn
        .prepare_cached("SELECT COUNT(*) FROM spin_key_value WHERE store = $1")?
        .query_row(params![store], |row| row.get(0))?;
    room(held, new, cap)
}

/// Redis: whether the database has room for the keys among `keys` it lacks, asked in one round
/// trip just before the write (see the module doc for the race).
pub(crate) async fn redis_room(redis: &RedisKv, keys: &[&str], cap: u64) -> KvResult<()> {
    let distinct: Vec<&str> = keys.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    if distinct.is_empty() {
        return Ok(());
    }
    let mut conn = redis.connection().await?;
    let (present, held): (u64, u64) = ::redis::pipe()
        .cmd("EXISTS")
        .arg(&distinct)
        .cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .map_err(|e| KvError(format!("{e:?}")))?;
    room(held, (distinct.len() as u64).saturating_sub(present), cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{KvStore, SqliteKv};

    fn limits(max_keys: Option<u64>) -> KvLimits {
        KvLimits::new(&Limits { max_keys, ..Limits::fermyon_cloud() })
    }

    #[test]
    fn key_and_value_sizes() {
        let l = limits(None);
        let long = "k".repeat(256);
        assert_eq!(l.key(&"k".repeat(255)), Ok(()));
        assert_eq!(l.key(&long), Err(KvError("key too long: 256 bytes, the limit is 255".into())));
        // Bytes, not characters.
        assert!(l.key(&"é".repeat(128)).is_err());
        assert_eq!(l.pair("k", &vec![0; 1 << 20]), Ok(()));
        assert_eq!(
            l.pair("k", &vec![0; (1 << 20) + 1]),
            Err(KvError("value too large: 1048577 bytes, the limit is 1048576".into()))
        );
        assert!(l.keys(["a", long.as_str()]).is_err());
        assert_eq!(l.refused(), 4);
        let none = KvLimits::new(&Limits::default());
        assert_eq!(none.pair(&long, &vec![0; 2 << 20]), Ok(()));
    }

    #[test]
    fn room_counts_only_new_keys() {
        assert_eq!(room(3, 0, 3), Ok(()), "overwrites always fit");
        assert_eq!(room(9, 0, 3), Ok(()), "even past the cap");
        assert_eq!(room(2, 1, 3), Ok(()));
        let err = room(2, 2, 3).unwrap_err();
        assert_eq!(err.0, "store full: it holds 2 keys and this write would add 2, the limit is 3");
        let l = limits(Some(3));
        assert!(l.counted(Err::<(), _>(err)).is_err());
        assert!(l.counted(Err::<(), _>(KvError("DatabaseBusy".into()))).is_err());
        assert_eq!(l.refused(), 1, "only the cap's refusal is the limit's");
    }

    #[test]
    fn sqlite_counts_the_label_and_dedupes_the_batch() {
        let conn = Connection::open_in_memory().unwrap();
        sqlite::create_table(&conn).unwrap();
        for key in ["a", "b"] {
            sqlite::set(&conn, "default", key, b"1").unwrap();
        }
        sqlite::set(&conn, "other", "x", b"1").unwrap();
        assert_eq!(sqlite_room(&conn, "default", ["a", "b"], 2), Ok(()));
        assert_eq!(sqlite_room(&conn, "default", ["c", "c", "a"], 3), Ok(()), "c once; the other label not counted");
        assert!(sqlite_room(&conn, "default", ["c", "d"], 3).is_err());
    }

    /// The whole contract through the store, as both WIT faces call it.
    async fn check_store(store: KvStore) {
        const S: &str = "default";
        let store = store.with_limits(&Limits { max_keys: Some(3), ..Limits::fermyon_cloud() }).unwrap();
        let pair = |k: &str| (k.to_string(), b"v".to_vec());
        let full = |e: KvResult<()>| e.is_err_and(|e| e.0.starts_with(STORE_FULL));

        // Sizes first: refused before the store is asked.
        let long = "k".repeat(256);
        assert!(store.get(S, &long).await.unwrap().is_err());
        assert!(store.set(S, "k", vec![0; (1 << 20) + 1]).await.unwrap().is_err());
        assert!(store.set_many(S, vec![pair("a"), pair(&long)]).await.unwrap().is_err());
        assert!(store.increment(S, &long, 1).await.unwrap().is_err());
        assert_eq!(store.get(S, "a").await.unwrap(), Ok(None), "nothing of a refused batch written");

        store.set_many(S, vec![pair("a"), pair("b")]).await.unwrap().unwrap();
        assert_eq!(store.increment(S, "n", 1).await.unwrap(), Ok(1));
        // Full: a new key, alone, in a batch or as a counter, is refused, and a batch whole.
        assert!(full(store.set(S, "c", b"v".to_vec()).await.unwrap()));
        assert!(full(store.set_many(S, vec![pair("a"), pair("c")]).await.unwrap()));
        assert_eq!(store.get(S, "a").await.unwrap(), Ok(Some(b"v".to_vec())));
        assert!(store.increment(S, "m", 1).await.unwrap().is_err());
        assert_eq!(store.get(S, "c").await.unwrap(), Ok(None));
        assert_eq!(store.get(S, "m").await.unwrap(), Ok(None));
        // What creates nothing keeps working.
        store.set(S, "a", b"w".to_vec()).await.unwrap().unwrap();
        store.set_many(S, vec![pair("a"), pair("b"), pair("b")]).await.unwrap().unwrap();
        assert_eq!(store.increment(S, "n", 1).await.unwrap(), Ok(2));
        // Deleting makes room.
        store.delete(S, "a").await.unwrap().unwrap();
        store.set(S, "c", b"v".to_vec()).await.unwrap().unwrap();
        assert_eq!(store.refused_by_limits(), 7);
        // Another process's handle on the store shares its limits.
        let other = store.for_another_process().unwrap();
        assert!(other.set(S, "d", b"v".to_vec()).await.unwrap().is_err());
        assert_eq!(store.refused_by_limits(), 8);
    }

    #[tokio::test]
    async fn the_key_cap_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        check_store(KvStore::sqlite(SqliteKv::open(&dir.path().join("kv.db")).unwrap())).await;
    }

    #[tokio::test]
    async fn the_key_cap_on_redis() {
        let db = tokio::task::spawn_blocking(crate::test_redis::TestDatabase::claim).await.unwrap().unwrap();
        let redis = RedisKv::new(db.url()).unwrap();
        assert_eq!(redis.open().await, Ok(()));
        check_store(KvStore::redis(redis)).await;
    }

    /// Two hosts on one SQLite file see one count.
    #[tokio::test]
    async fn hosts_sharing_a_file_share_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { max_keys: Some(2), ..Limits::default() };
        let path = dir.path().join("kv.db");
        let one = KvStore::sqlite(SqliteKv::open(&path).unwrap()).with_limits(&limits).unwrap();
        let two = KvStore::sqlite(SqliteKv::open(&path).unwrap()).with_limits(&limits).unwrap();
        one.set("default", "a", b"1".to_vec()).await.unwrap().unwrap();
        two.set("default", "b", b"1".to_vec()).await.unwrap().unwrap();
        assert!(one.increment("default", "c", 1).await.unwrap().is_err());
        assert!(two.set("default", "c", b"1".to_vec()).await.unwrap().is_err());
    }
}
