//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` on the SQLite store,
//! following Spin's `factor-key-value` host.

use wasmtime::component::Resource;

use super::sqlite::{self, KvError, SqliteKv, Swap};
use super::{Bucket, Cas, KvHost, OpenError};
use crate::bindings::wasi::keyvalue::{atomics, batch, store};

type Ret<T> = wasmtime::Result<Result<T, store::Error>>;

impl From<KvError> for store::Error {
    fn from(e: KvError) -> Self {
        store::Error::Other(e.0)
    }
}

impl KvHost {
    fn bucket_label(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(bucket)?.label.clone())
    }

    /// Reads the key's current value into a CAS handle, as Spin's `current`.
    async fn refresh_cas(&mut self, cas: &Resource<Cas>) -> Ret<Option<Vec<u8>>> {
        let (label, key) = {
            let c = self.table.get(cas)?;
            (c.label.clone(), c.key.clone())
        };
        let value = match run(&self.db, move |c| sqlite::get(c, &label, &key)).await? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        self.table.get_mut(cas)?.captured = value.clone();
        Ok(Ok(value))
    }
}

/// Runs a storage operation, mapping its failure to `error::other`. Takes the
/// database rather than `&KvHost` so the future stays `Send`.
async fn run<T, F>(db: &SqliteKv, op: F) -> Ret<T>
where
    T: Send + 'static,
    F: FnOnce(&mut rusqlite::Connection) -> sqlite::KvResult<T> + Send + 'static,
{
    Ok(db.call(op).await.map_err(Into::into))
}

impl store::Host for KvHost {
    async fn open(&mut self, identifier: String) -> Ret<Resource<Bucket>> {
        match self.check_open(&identifier) {
            Err(OpenError::AccessDenied) => return Ok(Err(store::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => return Ok(Err(store::Error::NoSuchStore)),
            Ok(()) => {}
        }
        Ok(Ok(self.table.push(Bucket { label: identifier })?))
    }
}

impl store::HostBucket for KvHost {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Ret<Option<Vec<u8>>> {
        let label = self.bucket_label(&bucket)?;
        run(&self.db, move |c| sqlite::get(c, &label, &key)).await
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Ret<()> {
        let label = self.bucket_label(&bucket)?;
        run(&self.db, move |c| sqlite::set(c, &label, &key, &value)).await
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Ret<()> {
        let label = self.bucket_label(&bucket)?;
        run(&self.db, move |c| sqlite::delete(c, &label, &key)).await
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Ret<bool> {
        let label = self.bucket_label(&bucket)?;
        run(&self.db, move |c| sqlite::exists(c, &label, &key)).await
    }

    async fn list_keys(&mut self, bucket: Resource<Bucket>, cursor: Option<String>) -> Ret<store::KeyResponse> {
        // Spin returns every key in one page and rejects cursors.
        if cursor.is_some() {
            return Ok(Err(store::Error::Other("list_keys: cursor not supported".to_string())));
        }
        let label = self.bucket_label(&bucket)?;
        Ok(run(&self.db, move |c| sqlite::keys(c, &label)).await?.map(|keys| store::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvHost {
    async fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: i64) -> Ret<i64> {
        let label = self.bucket_label(&bucket)?;
        run(&self.db, move |c| sqlite::increment(c, &label, &key, delta)).await
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas { label, key, captured } = self.table.delete(cas)?;
        let outcome = {
            let (label, key) = (label.clone(), key.clone());
            run(&self.db, move |c| sqlite::swap(c, &label, &key, captured.as_deref(), &value)).await?
        };
        match outcome {
            Ok(Swap::Done) => Ok(Ok(())),
            Err(e) => Ok(Err(atomics::CasError::StoreError(e))),
            // Like Spin: hand back a fresh handle that has already read the
            // latest value, so the guest can retry straight away.
            Ok(Swap::Conflict) => {
                let fresh = self.table.push(Cas { label, key, captured: None })?;
                match self.refresh_cas(&fresh).await? {
                    Ok(_) => Ok(Err(atomics::CasError::CasFailed(fresh))),
                    Err(e) => {
                        self.table.delete(fresh)?;
                        Ok(Err(atomics::CasError::StoreError(e)))
                    }
                }
            }
        }
    }
}

impl atomics::HostCas for KvHost {
    async fn new(&mut self, bucket: Resource<Bucket>, key: String) -> Ret<Resource<Cas>> {
        let label = self.bucket_label(&bucket)?;
        // Spin reads nothing here: the value is captured by `current`.
        Ok(Ok(self.table.push(Cas { label, key, captured: None })?))
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Ret<Option<Vec<u8>>> {
        self.refresh_cas(&cas).await
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KvHost {
    async fn get_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Ret<Vec<(String, Option<Vec<u8>>)>> {
        let label = self.bucket_label(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        run(&self.db, move |c| sqlite::get_many(c, &label, &keys)).await
    }

    async fn set_many(&mut self, bucket: Resource<Bucket>, key_values: Vec<(String, Vec<u8>)>) -> Ret<()> {
        let label = self.bucket_label(&bucket)?;
        if key_values.is_empty() {
            return Ok(Ok(()));
        }
        run(&self.db, move |c| sqlite::set_many(c, &label, &key_values)).await
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Ret<()> {
        let label = self.bucket_label(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(()));
        }
        run(&self.db, move |c| sqlite::delete_many(c, &label, &keys)).await
    }
}
