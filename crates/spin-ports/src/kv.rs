//! The key-value port on Spin's `default` store through `wasi:keyvalue` (store, atomics, batch),
//! shaped so the core sees the same behaviour on every Spin backend: `get_many` answers in request
//! order. It never batch-reads a single key, matches a batch answer up by key, and falls back to
//! single reads for the rest of the invocation once the backend refuses a batch (Spin's Redis
//! store builds batch reads on `KEYS`). A call the store refuses as busy (another connection, such
//! as `spin up`'s cron trigger process, holds the SQLite file locked) wrote nothing and is tried
//! again after short pauses (`hookah_core::busy`).

use hookah_core::busy::retry_busy;
use hookah_core::ports::{Kv, KvError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};
use std::cell::Cell;
use std::collections::HashMap;

thread_local! {
    /// Set once the backend refused a batch read: later reads in this invocation go key by key.
    static BATCH_READS_BROKEN: Cell<bool> = const { Cell::new(false) };
}

pub struct SpinKv {
    bucket: store::Bucket,
}

impl SpinKv {
    pub fn open_default() -> Result<Self, KvError> {
        Ok(Self { bucket: store::open("default").map_err(err)? })
    }
}

fn err(error: impl std::fmt::Debug) -> KvError {
    KvError(format!("{error:?}"))
}

/// `op`, tried again while the store is busy; the pauses block this invocation only.
fn retried<T, E: std::fmt::Debug>(mut op: impl FnMut() -> Result<T, E>) -> Result<T, KvError> {
    retry_busy(|ms| std::thread::sleep(std::time::Duration::from_millis(ms)), || op().map_err(err))
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        retried(|| self.bucket.get(key))
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        retried(|| self.bucket.set(key, value))
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        retried(|| self.bucket.delete(key))
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        // Spin's Redis store answers a batch read of one present key with a host panic, which
        // fails the whole request, and fails larger ones: a read of one or two keys is single
        // reads, which costs SQLite nothing and spares Redis a failed round trip.
        if keys.len() <= 2 {
            return keys.iter().map(|key| self.get(key)).collect();
        }
        if !BATCH_READS_BROKEN.get() {
            match retried(|| batch::get_many(&self.bucket, keys)) {
                // SQLite answers found pairs only, sorted by key: match them up by key, not
                // position, and ignore any pair that was not asked for.
                Ok(pairs) => {
                    let found: HashMap<String, Option<Vec<u8>>> = pairs.into_iter().collect();
                    return Ok(keys.iter().map(|key| found.get(key).cloned().flatten()).collect());
                }
                // Spin's Redis store builds batch reads on `KEYS` and fails them.
                Err(_) => BATCH_READS_BROKEN.set(true),
            }
        }
        keys.iter().map(|key| self.get(key)).collect()
    }
    fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        if entries.is_empty() {
            return Ok(());
        }
        retried(|| batch::set_many(&self.bucket, &entries))
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        if keys.is_empty() {
            return Ok(());
        }
        retried(|| batch::delete_many(&self.bucket, keys))
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        retried(|| atomics::increment(&self.bucket, key, delta))
    }
    fn list_keys(&self) -> Result<Vec<String>, KvError> {
        let (mut keys, mut cursor): (Vec<String>, Option<String>) = (Vec::new(), None);
        loop {
            let page = retried(|| self.bucket.list_keys(cursor.as_deref()))?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }
}
