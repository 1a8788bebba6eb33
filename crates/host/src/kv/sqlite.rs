//! Spin's SQLite key-value table and its operations.
//!
//! Same schema as Spin's `key-value-spin` crate (`spin_key_value`: store label +
//! key as primary key, value blob), so a database file is interchangeable with
//! `spin up`'s. Same commit behaviour too: each `set`, `delete`, `increment` and
//! CAS `swap` is its own commit; `set_many` is one transaction and
//! `delete_many` one statement. Default SQLite settings (no WAL), as Spin;
//! rusqlite's default 5 s busy timeout lets several host processes share one
//! file.
//!
//! One connection behind a mutex, as Spin; the cron trigger gets a connection of
//! its own ([`SqliteKv::another_connection`]), since `spin up` runs a plugin
//! trigger as a process of its own on the same file. Its writes then contend
//! with the HTTP trigger's as under Spin: a transaction that read before it
//! writes (`increment`) gets `DatabaseBusy` at once rather than wait, since
//! waiting could deadlock. The operations are plain functions
//! on a `Connection` so they can be tested directly; [`SqliteKv::call`] runs one
//! on a blocking thread so SQLite's fsyncs never stall the async runtime.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rusqlite::{named_params, params, Connection, OptionalExtension as _, TransactionBehavior};

use super::store::Swapped;
use super::{limits, KvError, KvResult, Op};

impl From<rusqlite::Error> for KvError {
    fn from(e: rusqlite::Error) -> Self {
        Self(format!("{e:?}"))
    }
}

/// A shared handle to the key-value database.
#[derive(Clone)]
pub(crate) struct SqliteKv {
    conn: Arc<Mutex<Connection>>,
    /// The database file; `None` for an in-memory database.
    path: Option<PathBuf>,
    /// Set once an `increment` met a value that is not a counter: Spin's host
    /// panics there holding the connection's lock, and every later call on
    /// the store panics on the poisoned lock until the host restarts.
    poisoned: Arc<AtomicBool>,
}

impl SqliteKv {
    /// Opens (creating if needed) the database file and its table.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening key-value database {}", path.display()))?;
        Ok(Self { path: Some(path.to_path_buf()), ..Self::from_connection(conn)? })
    }

    /// What another process on the same store would have: a connection of its own to the
    /// file (and its own lock), with the same settings. An in-memory database has no file to
    /// share, so it is the same one.
    pub(crate) fn another_connection(&self) -> anyhow::Result<Self> {
        match &self.path {
            Some(path) => Self::open(path),
            None => Ok(self.clone()),
        }
    }

    /// A database that lives as long as the host, as Spin's `type = "spin"`
    /// store without a `path`.
    pub(crate) fn open_in_memory() -> anyhow::Result<Self> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(conn: Connection) -> anyhow::Result<Self> {
        create_table(&conn).context("creating the key-value table")?;
        // `rarray()`, which Spin's batch queries use.
        rusqlite::vtab::array::load_module(&conn).context("loading SQLite's array module")?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), path: None, poisoned: Arc::new(AtomicBool::new(false)) })
    }

    /// Runs one operation on a blocking thread with the connection locked.
    /// Traps the guest once the store is poisoned.
    pub(crate) async fn call<T, F>(&self, op: F) -> Op<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> KvResult<T> + Send + 'static,
    {
        if self.poisoned.load(Ordering::SeqCst) {
            wasmtime::bail!(
                "key-value store unusable until restart: an earlier increment found a value that is not \
                 an 8-byte counter (Spin's SQLite host panicked there and poisoned its connection lock)"
            );
        }
        let conn = self.conn.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            // Our own lock is never poisoned on purpose (the guest-visible
            // poisoning is `poisoned`); SQLite rolled back anything
            // uncommitted, so carry on.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            op(&mut guard)
        })
        .await;
        Ok(outcome.unwrap_or_else(|e| Err(KvError(format!("key-value task failed: {e}")))))
    }

    /// Spin's `increment`, including its panic on a value that is not an
    /// 8-byte counter: here the guest traps and the store is poisoned. With
    /// `max_keys`, a new counter needs room under that key cap.
    pub(crate) async fn increment(&self, label: &str, key: &str, delta: i64, max_keys: Option<u64>) -> Op<i64> {
        let (label, key) = (label.to_owned(), key.to_owned());
        match self.call(move |c| increment_within(c, &label, &key, delta, max_keys)).await? {
            Ok(Ok(value)) => Ok(Ok(value)),
            Ok(Err(NotACounter { key, len })) => {
                self.poisoned.store(true, Ordering::SeqCst);
                wasmtime::bail!(
                    "increment of {key:?}: its value is {len} bytes, not an 8-byte little-endian counter \
                     (Spin's SQLite host panics here and poisons the store until restart)"
                )
            }
            Err(e) => Ok(Err(e)),
        }
    }
}

pub(crate) fn create_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key   TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        )",
        [],
    )
    .map(drop)
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
     ON CONFLICT(store, key) DO UPDATE SET value = $3";
const SELECT: &str = "SELECT value FROM spin_key_value WHERE store = $1 AND key = $2";
const DELETE: &str = "DELETE FROM spin_key_value WHERE store = $1 AND key = $2";

pub(crate) fn get(conn: &Connection, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
    Ok(conn.prepare_cached(SELECT)?.query_row(params![store, key], |row| row.get(0)).optional()?)
}

pub(crate) fn set(conn: &Connection, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
    conn.prepare_cached(UPSERT)?.execute(params![store, key, value])?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, store: &str, key: &str) -> KvResult<()> {
    conn.prepare_cached(DELETE)?.execute(params![store, key])?;
    Ok(())
}

pub(crate) fn exists(conn: &Connection, store: &str, key: &str) -> KvResult<bool> {
    Ok(get(conn, store, key)?.is_some())
}

pub(crate) fn keys(conn: &Connection, store: &str) -> KvResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT key FROM spin_key_value WHERE store = $1")?;
    let rows = stmt.query_map(params![store], |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Spin's query: only keys that exist come back, in the order SQLite reads
/// them from the primary key (sorted by key, not request order), each once.
pub(crate) fn get_many(conn: &Connection, store: &str, keys: Vec<String>) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
    let keys = Rc::new(keys.into_iter().map(rusqlite::types::Value::from).collect::<Vec<_>>());
    let mut stmt =
        conn.prepare_cached("SELECT key, value FROM spin_key_value WHERE store = :name AND key IN rarray(:keys)")?;
    let rows = stmt.query_map(named_params! {":name": store, ":keys": keys}, |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<Vec<u8>>>(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// All pairs in one transaction: one commit, all or nothing.
pub(crate) fn set_many(conn: &mut Connection, store: &str, pairs: &[(String, Vec<u8>)]) -> KvResult<()> {
    let tx = conn.transaction()?;
    for (key, value) in pairs {
        set(&tx, store, key, value)?;
    }
    tx.commit()?;
    Ok(())
}

/// `set_many` under a key cap (`kv/limits.rs`): one transaction that takes the write lock at its
/// start (waiting as a plain write does), counts, then writes all pairs or none. Still one commit.
pub(crate) fn set_many_capped(
    conn: &mut Connection,
    store: &str,
    pairs: &[(String, Vec<u8>)],
    max_keys: u64,
) -> KvResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    limits::sqlite_room(&tx, store, pairs.iter().map(|(key, _)| key.as_str()), max_keys)?;
    for (key, value) in pairs {
        set(&tx, store, key, value)?;
    }
    tx.commit()?;
    Ok(())
}

/// Spin's one statement: one commit, all or nothing.
pub(crate) fn delete_many(conn: &Connection, store: &str, keys: Vec<String>) -> KvResult<()> {
    let keys = Rc::new(keys.into_iter().map(rusqlite::types::Value::from).collect::<Vec<_>>());
    conn.prepare_cached("DELETE FROM spin_key_value WHERE store = :name AND key IN rarray(:keys)")?
        .execute(named_params! {":name": store, ":keys": keys})?;
    Ok(())
}

/// A value `increment` cannot read as a counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotACounter {
    pub(crate) key: String,
    pub(crate) len: usize,
}

/// Adds `delta` to the 8-byte little-endian counter at `key` (absent counts as
/// 0) and returns the new value, in one transaction. A value of another length
/// changes nothing and is reported for [`SqliteKv::increment`] to act on.
pub(crate) fn increment(
    conn: &mut Connection,
    store: &str,
    key: &str,
    delta: i64,
) -> KvResult<Result<i64, NotACounter>> {
    increment_within(conn, store, key, delta, None)
}

/// [`increment`] under an optional key cap: a new counter is counted in the same transaction.
pub(crate) fn increment_within(
    conn: &mut Connection,
    store: &str,
    key: &str,
    delta: i64,
    max_keys: Option<u64>,
) -> KvResult<Result<i64, NotACounter>> {
    let tx = conn.transaction()?;
    let current = match get(&tx, store, key)? {
        None => {
            if let Some(cap) = max_keys {
                limits::sqlite_room(&tx, store, [key], cap)?;
            }
            0
        }
        Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
            Ok(bytes) => i64::from_le_bytes(bytes),
            Err(_) => return Ok(Err(NotACounter { key: key.to_owned(), len: bytes.len() })),
        },
    };
    // Spin's release build adds without overflow checks: it wraps.
    let new = current.wrapping_add(delta);
    set(&tx, store, key, &new.to_le_bytes())?;
    tx.commit()?;
    Ok(Ok(new))
}

/// Spin's CAS swap: with a captured value, update only if the row still holds
/// it; with none (the key was absent or `current` was never called), a plain
/// upsert, which is not atomic against a concurrent writer.
pub(crate) fn swap(
    conn: &mut Connection,
    store: &str,
    key: &str,
    captured: Option<&[u8]>,
    value: &[u8],
) -> KvResult<Swapped> {
    let changed = match captured {
        Some(old) => conn
            .prepare_cached(
                "UPDATE spin_key_value SET value = $1
                 WHERE store = $2 AND key = $3 AND value = $4",
            )?
            .execute(params![value, store, key, old])?,
        None => {
            let tx = conn.transaction()?;
            let n = tx.prepare_cached(UPSERT)?.execute(params![store, key, value])?;
            tx.commit()?;
            n
        }
    };
    Ok(if changed == 1 { Swapped::Done } else { Swapped::CasFailed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        create_table(&conn).unwrap();
        rusqlite::vtab::array::load_module(&conn).unwrap();
        conn
    }

    const S: &str = "default";

    #[test]
    fn basic_operations_and_store_isolation() {
        let conn = db();
        assert_eq!(get(&conn, S, "k"), Ok(None));
        set(&conn, S, "k", b"v1").unwrap();
        set(&conn, S, "k", b"v2").unwrap();
        set(&conn, "other", "k", b"x").unwrap();
        assert_eq!(get(&conn, S, "k"), Ok(Some(b"v2".to_vec())));
        assert_eq!(exists(&conn, S, "k"), Ok(true));
        assert_eq!(keys(&conn, S), Ok(vec!["k".to_string()]));
        delete(&conn, S, "k").unwrap();
        delete(&conn, S, "k").unwrap();
        assert_eq!(exists(&conn, S, "k"), Ok(false));
        assert_eq!(get(&conn, "other", "k"), Ok(Some(b"x".to_vec())));
    }

    #[test]
    fn increment_uses_8_byte_little_endian() {
        let mut conn = db();
        assert_eq!(increment(&mut conn, S, "n", 1), Ok(Ok(1)));
        assert_eq!(increment(&mut conn, S, "n", 2), Ok(Ok(3)));
        assert_eq!(increment(&mut conn, S, "n", -10), Ok(Ok(-7)));
        assert_eq!(get(&conn, S, "n"), Ok(Some((-7i64).to_le_bytes().to_vec())));
        set(&conn, S, "m", &41i64.to_le_bytes()).unwrap();
        assert_eq!(increment(&mut conn, S, "m", 1), Ok(Ok(42)));
    }

    #[test]
    fn increment_of_a_non_counter_changes_nothing_and_says_so() {
        let mut conn = db();
        set(&conn, S, "s", b"hello").unwrap();
        assert_eq!(increment(&mut conn, S, "s", 1), Ok(Err(NotACounter { key: "s".into(), len: 5 })));
        assert_eq!(get(&conn, S, "s"), Ok(Some(b"hello".to_vec())));
        // Spin's release build wraps on overflow.
        set(&conn, S, "max", &i64::MAX.to_le_bytes()).unwrap();
        assert_eq!(increment(&mut conn, S, "max", 1), Ok(Ok(i64::MIN)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn increment_of_a_non_counter_traps_and_poisons_the_store_like_spin() {
        let kv = SqliteKv::open_in_memory().unwrap();
        kv.call(|c| set(c, S, "s", b"hello")).await.unwrap().unwrap();
        assert_eq!(kv.increment(S, "n", 1, None).await.unwrap(), Ok(1));
        let trap = kv.increment(S, "s", 1, None).await.unwrap_err();
        assert!(format!("{trap:#}").contains("not an 8-byte"), "{trap:#}");
        // Every later call traps too, reads included, until the host restarts.
        assert!(kv.call(|c| get(c, S, "n")).await.is_err());
        assert!(kv.increment(S, "n", 1, None).await.is_err());
    }

    #[test]
    fn cas_succeeds_when_unchanged_and_fails_when_changed() {
        let mut conn = db();
        set(&conn, S, "c", b"a").unwrap();
        let captured = get(&conn, S, "c").unwrap();
        assert_eq!(swap(&mut conn, S, "c", captured.as_deref(), b"b"), Ok(Swapped::Done));
        assert_eq!(get(&conn, S, "c"), Ok(Some(b"b".to_vec())));

        let captured = get(&conn, S, "c").unwrap();
        set(&conn, S, "c", b"changed").unwrap();
        assert_eq!(swap(&mut conn, S, "c", captured.as_deref(), b"lost"), Ok(Swapped::CasFailed));
        assert_eq!(get(&conn, S, "c"), Ok(Some(b"changed".to_vec())));

        // Deleted since capture: the conditional update matches no row.
        delete(&conn, S, "c").unwrap();
        assert_eq!(swap(&mut conn, S, "c", Some(b"changed"), b"x"), Ok(Swapped::CasFailed));
    }

    #[test]
    fn cas_on_a_missing_key_is_a_plain_upsert() {
        let mut conn = db();
        assert_eq!(swap(&mut conn, S, "new", None, b"1"), Ok(Swapped::Done));
        assert_eq!(get(&conn, S, "new"), Ok(Some(b"1".to_vec())));
        // Even if someone wrote in between: Spin does not guard this case.
        set(&conn, S, "new", b"other").unwrap();
        assert_eq!(swap(&mut conn, S, "new", None, b"2"), Ok(Swapped::Done));
        assert_eq!(get(&conn, S, "new"), Ok(Some(b"2".to_vec())));
    }

    #[test]
    fn batch_operations() {
        let mut conn = db();
        let pairs = vec![("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())];
        set_many(&mut conn, S, &pairs).unwrap();
        set(&conn, "other", "c", b"3").unwrap();
        // Found pairs only, sorted by key (not request order), each once; other labels unseen.
        let got = get_many(&conn, S, vec!["b".into(), "missing".into(), "a".into(), "b".into(), "c".into()]).unwrap();
        assert_eq!(got, vec![("a".to_string(), Some(b"1".to_vec())), ("b".to_string(), Some(b"2".to_vec()))]);
        delete_many(&conn, S, vec!["a".into(), "b".into(), "missing".into()]).unwrap();
        assert_eq!(keys(&conn, S), Ok(vec![]));
        assert_eq!(keys(&conn, "other"), Ok(vec!["c".to_string()]));
    }

    #[test]
    fn set_many_is_atomic() {
        let mut conn = db();
        set(&conn, S, "keep", b"old").unwrap();
        // A trigger that rejects one key makes the middle insert fail.
        conn.execute_batch(
            "CREATE TRIGGER reject BEFORE INSERT ON spin_key_value
             WHEN NEW.key = 'bad' BEGIN SELECT RAISE(ABORT, 'rejected'); END;",
        )
        .unwrap();
        let pairs = vec![
            ("keep".to_string(), b"new".to_vec()),
            ("bad".to_string(), b"x".to_vec()),
            ("later".to_string(), b"y".to_vec()),
        ];
        assert!(set_many(&mut conn, S, &pairs).is_err());
        assert_eq!(get(&conn, S, "keep"), Ok(Some(b"old".to_vec())));
        assert_eq!(get(&conn, S, "later"), Ok(None));
    }

    #[test]
    fn delete_many_is_atomic() {
        let mut conn = db();
        set_many(&mut conn, S, &[("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())]).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER reject BEFORE DELETE ON spin_key_value
             WHEN OLD.key = 'b' BEGIN SELECT RAISE(ABORT, 'rejected'); END;",
        )
        .unwrap();
        assert!(delete_many(&conn, S, vec!["a".into(), "b".into()]).is_err());
        assert_eq!(get(&conn, S, "a"), Ok(Some(b"1".to_vec())));
    }

    #[test]
    fn data_survives_reopening_the_file() {
        let dir = std::env::temp_dir().join(format!("hookah-host-kv-{}", std::process::id()));
        let path = dir.join("nested").join("kv.db");
        let _ = std::fs::remove_dir_all(&dir);
        {
            let kv = SqliteKv::open(&path).unwrap();
            let conn = kv.conn.lock().unwrap();
            set(&conn, S, "k", b"persisted").unwrap();
        }
        // A second handle while the first is gone, as a restarted host would open it.
        let kv = SqliteKv::open(&path).unwrap();
        {
            let conn = kv.conn.lock().unwrap();
            assert_eq!(get(&conn, S, "k"), Ok(Some(b"persisted".to_vec())));
        }
        // And two handles at once, as two host processes sharing the file.
        let other = SqliteKv::open(&path).unwrap();
        set(&other.conn.lock().unwrap(), S, "k2", b"x").unwrap();
        assert_eq!(get(&kv.conn.lock().unwrap(), S, "k2"), Ok(Some(b"x".to_vec())));
        drop((kv, other));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn call_runs_off_the_async_thread() {
        let kv = SqliteKv::open_in_memory().unwrap();
        kv.call(|c| set(c, S, "k", b"v")).await.unwrap().unwrap();
        let v = kv.call(|c| get(c, S, "k")).await.unwrap().unwrap();
        assert_eq!(v, Some(b"v".to_vec()));
    }

    /// Two processes' connections to one file, as `spin up`'s HTTP and cron triggers have:
    /// increments from both at once meet `DatabaseBusy` (a transaction that read before it
    /// writes gets no busy wait where waiting could deadlock), the error Hookah retries; nothing
    /// a refused call did stays. Both keep going until one has seen it (at most 20,000 each).
    #[test]
    fn two_connections_to_one_file_contend_as_two_processes_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let first = SqliteKv::open(&path).unwrap();
        let second = first.another_connection().unwrap();
        assert!(!Arc::ptr_eq(&first.conn, &second.conn), "a connection of its own");
        let seen_busy = Arc::new(AtomicBool::new(false));
        let runs: Vec<_> = [first, second]
            .into_iter()
            .map(|db| {
                let seen_busy = seen_busy.clone();
                std::thread::spawn(move || {
                    let mut conn = db.conn.lock().unwrap();
                    let mut done = 0;
                    while done < 100 || (done < 20_000 && !seen_busy.load(Ordering::SeqCst)) {
                        match increment(&mut conn, S, "n", 1) {
                            Ok(Ok(_)) => done += 1,
                            Err(e) if e.0.contains("DatabaseBusy") => seen_busy.store(true, Ordering::SeqCst),
                            other => panic!("{other:?}"),
                        }
                    }
                    done
                })
            })
            .collect();
        let done: i64 = runs.into_iter().map(|run| run.join().unwrap()).sum();
        assert!(seen_busy.load(Ordering::SeqCst), "no DatabaseBusy in {done} contending increments");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(get(&conn, S, "n"), Ok(Some(done.to_le_bytes().to_vec())), "each refused increment left nothing");
    }
}
