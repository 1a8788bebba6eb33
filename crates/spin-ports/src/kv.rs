//! The key-value port on Spin's `default` store through `wasi:keyvalue` (store, atomics, batch).

use hookah_core::ports::{Kv, KvError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};
use std::collections::HashMap;

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

impl Kv for SpinKv {
    type Cas = atomics::Cas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket.get(key).map_err(err)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.bucket.set(key, value).map_err(err)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.bucket.delete(key).map_err(err)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // The batch interface answers with (key, value) pairs, leaving out missing keys: match
        // them up by key, not position (a key may be asked for twice).
        let found: HashMap<String, Option<Vec<u8>>> =
            batch::get_many(&self.bucket, keys).map_err(err)?.into_iter().collect();
        Ok(keys.iter().map(|key| found.get(key).cloned().flatten()).collect())
    }
    fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        if entries.is_empty() {
            return Ok(());
        }
        batch::set_many(&self.bucket, &entries).map_err(err)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        if keys.is_empty() {
            return Ok(());
        }
        batch::delete_many(&self.bucket, keys).map_err(err)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        atomics::increment(&self.bucket, key, delta).map_err(err)
    }
    fn cas_open(&self, key: &str) -> Result<(atomics::Cas, Option<Vec<u8>>), KvError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(err)?;
        let current = cas.current().map_err(err)?;
        Ok((cas, current))
    }
    fn cas_swap(&self, cas: atomics::Cas, value: &[u8]) -> Result<bool, KvError> {
        match atomics::swap(cas, value) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(error)) => Err(err(error)),
        }
    }
}
