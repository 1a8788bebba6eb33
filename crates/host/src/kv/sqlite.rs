//! Spin's SQLite key-value table and its operations.
//!
//! Same schema as Spin's `key-value-spin` crate (`spin_key_value`: store label +
//! key as primary key, value blob), so a database file is interchangeable with
//! `spin up`'s. Same commit behaviour too: each `set`, `delete`, `increment` and
//! CAS `swap` is its own commit; `set_many` and `delete_many` are one
//! transaction each. Default SQLite settings (no WAL), as Spin; rusqlite's
//! default 5 s busy timeout lets several host processes share one file.
//!
//! One connection behind a mutex, as Spin. The operations are plain functions
//! on a `Connection` so they can be tested directly; [`SqliteKv::call`] runs one
//! on a blocking thread so SQLite's fsyncs never stall the async runtime.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rusqlite::{params, Connection, OptionalExtension as _};

/// A storage failure, reported to guests as `error::other(message)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvError(pub(crate) String);

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for KvError {
    fn from(e: rusqlite::Error) -> Self {
        Self(format!("{e:?}"))
    }
}

pub(crate) type KvResult<T> = Result<T, KvError>;

/// A shared handle to the key-value database.
#[derive(Clone)]
pub(crate) struct SqliteKv {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteKv {
    /// Opens (creating if needed) the database file and its table.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening key-value database {}", path.display()))?;
        Self::from_connection(conn)
    }

    #[cfg(test)]
    pub(crate) fn open_in_memory() -> anyhow::Result<Self> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(conn: Connection) -> anyhow::Result<Self> {
        create_table(&conn).context("creating the key-value table")?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs one operation on a blocking thread with the connection locked.
    pub(crate) async fn call<T, F>(&self, op: F) -> KvResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> KvResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means an earlier operation panicked mid-call;
            // SQLite itself rolled back anything uncommitted, so carry on.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            op(&mut guard)
        })
        .await
        .map_err(|e| KvError(format!("key-value task failed: {e}")))?
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

/// Only keys that exist come back, as from Spin's SQLite store (the WIT allows
/// `none` entries for missing keys, but Spin omits them).
pub(crate) fn get_many(
    conn: &mut Connection,
    store: &str,
    keys: &[String],
) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
    // One read transaction so the values are a consistent snapshot.
    let tx = conn.transaction()?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(value) = get(&tx, store, key)? {
            out.push((key.clone(), Some(value)));
        }
    }
    tx.commit()?;
    Ok(out)
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

/// All keys in one transaction: one commit, all or nothing.
pub(crate) fn delete_many(conn: &mut Connection, store: &str, keys: &[String]) -> KvResult<()> {
    let tx = conn.transaction()?;
    for key in keys {
        delete(&tx, store, key)?;
    }
    tx.commit()?;
    Ok(())
}

/// Adds `delta` to the 8-byte little-endian counter at `key` (absent counts as
/// 0) and returns the new value. Spin panics on a value of another length; here
/// it is an error the guest can see.
pub(crate) fn increment(conn: &mut Connection, store: &str, key: &str, delta: i64) -> KvResult<i64> {
    let tx = conn.transaction()?;
    let current = match get(&tx, store, key)? {
        None => 0,
        Some(bytes) => {
            let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                KvError(format!(
                    "cannot increment {key:?}: its value is {} bytes, not an 8-byte \
                     little-endian counter",
                    bytes.len()
                ))
            })?;
            i64::from_le_bytes(bytes)
        }
    };
    let new =
        current.checked_add(delta).ok_or_else(|| KvError(format!("incrementing {key:?} by {delta} overflows")))?;
    set(&tx, store, key, &new.to_le_bytes())?;
    tx.commit()?;
    Ok(new)
}

/// Whether a compare-and-swap took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Swap {
    Done,
    /// The stored value no longer equals the captured one.
    Conflict,
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
) -> KvResult<Swap> {
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
    Ok(if changed == 1 { Swap::Done } else { Swap::Conflict })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        create_table(&conn).unwrap();
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
        assert_eq!(increment(&mut conn, S, "n", 1), Ok(1));
        assert_eq!(increment(&mut conn, S, "n", 2), Ok(3));
        assert_eq!(increment(&mut conn, S, "n", -10), Ok(-7));
        assert_eq!(get(&conn, S, "n"), Ok(Some((-7i64).to_le_bytes().to_vec())));
        set(&conn, S, "m", &41i64.to_le_bytes()).unwrap();
        assert_eq!(increment(&mut conn, S, "m", 1), Ok(42));
    }

    #[test]
    fn increment_of_a_non_counter_is_an_error_and_changes_nothing() {
        let mut conn = db();
        set(&conn, S, "s", b"hello").unwrap();
        assert!(increment(&mut conn, S, "s", 1).is_err());
        assert_eq!(get(&conn, S, "s"), Ok(Some(b"hello".to_vec())));
        set(&conn, S, "max", &i64::MAX.to_le_bytes()).unwrap();
        assert!(increment(&mut conn, S, "max", 1).is_err());
    }

    #[test]
    fn cas_succeeds_when_unchanged_and_fails_when_changed() {
        let mut conn = db();
        set(&conn, S, "c", b"a").unwrap();
        let captured = get(&conn, S, "c").unwrap();
        assert_eq!(swap(&mut conn, S, "c", captured.as_deref(), b"b"), Ok(Swap::Done));
        assert_eq!(get(&conn, S, "c"), Ok(Some(b"b".to_vec())));

        let captured = get(&conn, S, "c").unwrap();
        set(&conn, S, "c", b"changed").unwrap();
        assert_eq!(swap(&mut conn, S, "c", captured.as_deref(), b"lost"), Ok(Swap::Conflict));
        assert_eq!(get(&conn, S, "c"), Ok(Some(b"changed".to_vec())));

        // Deleted since capture: the conditional update matches no row.
        delete(&conn, S, "c").unwrap();
        assert_eq!(swap(&mut conn, S, "c", Some(b"changed"), b"x"), Ok(Swap::Conflict));
    }

    #[test]
    fn cas_on_a_missing_key_is_a_plain_upsert() {
        let mut conn = db();
        assert_eq!(swap(&mut conn, S, "new", None, b"1"), Ok(Swap::Done));
        assert_eq!(get(&conn, S, "new"), Ok(Some(b"1".to_vec())));
        // Even if someone wrote in between: Spin does not guard this case.
        set(&conn, S, "new", b"other").unwrap();
        assert_eq!(swap(&mut conn, S, "new", None, b"2"), Ok(Swap::Done));
        assert_eq!(get(&conn, S, "new"), Ok(Some(b"2".to_vec())));
    }

    #[test]
    fn batch_operations() {
        let mut conn = db();
        let pairs = vec![("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())];
        set_many(&mut conn, S, &pairs).unwrap();
        let got = get_many(&mut conn, S, &["a".into(), "missing".into(), "b".into()]).unwrap();
        assert_eq!(got, vec![("a".to_string(), Some(b"1".to_vec())), ("b".to_string(), Some(b"2".to_vec()))]);
        delete_many(&mut conn, S, &["a".into(), "b".into(), "missing".into()]).unwrap();
        assert_eq!(keys(&conn, S), Ok(vec![]));
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
        assert!(delete_many(&mut conn, S, &["a".into(), "b".into()]).is_err());
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
        kv.call(|c| set(c, S, "k", b"v")).await.unwrap();
        let v = kv.call(|c| get(c, S, "k")).await.unwrap();
        assert_eq!(v, Some(b"v".to_vec()));
    }
}
