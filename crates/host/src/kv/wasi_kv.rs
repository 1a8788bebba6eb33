//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` on the configured store,
//! following Spin's `factor-key-value` host.

use wasmtime::component::Resource;

use super::store::Swapped;
use super::{Bucket, Cas, KvError, KvHost, OpenError};
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

    /// Reads the key's current value through a CAS handle, as Spin's
    /// `current` (on Redis this also `WATCH`es the key).
    async fn refresh_cas(&mut self, cas: &Resource<Cas>) -> Ret<Option<Vec<u8>>> {
        let Cas { label, key, state } = self.table.get_mut(cas)?;
        Ok(self.store.cas_current(label, key, state).await?.map_err(Into::into))
    }
}

impl store::Host for KvHost {
    async fn open(&mut self, identifier: String) -> Ret<Resource<Bucket>> {
        match self.open_store(&identifier).await? {
            Err(OpenError::AccessDenied) => return Ok(Err(store::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => return Ok(Err(store::Error::NoSuchStore)),
            Err(OpenError::Other(e)) => return Ok(Err(e.into())),
            Ok(()) => {}
        }
        Ok(Ok(self.table.push(Bucket { label: identifier })?))
    }
}

impl store::HostBucket for KvHost {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Ret<Option<Vec<u8>>> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.store.get(&label, &key).await?.map_err(Into::into))
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Ret<()> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.store.set(&label, &key, value).await?.map_err(Into::into))
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Ret<()> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.store.delete(&label, &key).await?.map_err(Into::into))
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Ret<bool> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.store.exists(&label, &key).await?.map_err(Into::into))
    }

    async fn list_keys(&mut self, bucket: Resource<Bucket>, cursor: Option<String>) -> Ret<store::KeyResponse> {
        // Spin returns every key in one page and rejects cursors.
        if cursor.is_some() {
            return Ok(Err(store::Error::Other("list_keys: cursor not supported".to_string())));
        }
        let label = self.bucket_label(&bucket)?;
        let keys = self.store.get_keys(&label).await?;
        Ok(keys.map(|keys| store::KeyResponse { keys, cursor: None }).map_err(Into::into))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvHost {
    async fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: i64) -> Ret<i64> {
        let label = self.bucket_label(&bucket)?;
        Ok(self.store.increment(&label, &key, delta).await?.map_err(Into::into))
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> wasmtime::Result<Result<(), atomics::CasError>> {
        // Spin keeps a swapped handle (and on Redis its connection) until the
        // instance ends; nothing a guest can see depends on that.
        let Cas { label, key, state } = self.table.delete(cas)?;
        match self.store.cas_swap(&label, &key, state, value).await? {
            Ok(Swapped::Done) => Ok(Ok(())),
            Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
            // Like Spin: hand back a fresh handle (on Redis, a new connection)
            // that has already read the latest value, so the guest can retry
            // straight away.
            Ok(Swapped::CasFailed) => {
                let state = match self.store.new_cas().await? {
                    Ok(state) => state,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(e.into()))),
                };
                let fresh = self.table.push(Cas { label, key, state })?;
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
        let state = match self.store.new_cas().await? {
            Ok(state) => state,
            Err(e) => return Ok(Err(e.into())),
        };
        Ok(Ok(self.table.push(Cas { label, key, state })?))
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Ret<Option<Vec<u8>>> {
        self.refresh_cas(&cas).await
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

/// Spin's host answers empty batches itself, without asking the store.
impl batch::Host for KvHost {
    async fn get_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Ret<Vec<(String, Option<Vec<u8>>)>> {
        let label = self.bucket_label(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        Ok(self.store.get_many(&label, keys).await?.map_err(Into::into))
    }

    async fn set_many(&mut self, bucket: Resource<Bucket>, key_values: Vec<(String, Vec<u8>)>) -> Ret<()> {
        let label = self.bucket_label(&bucket)?;
        if key_values.is_empty() {
            return Ok(Ok(()));
        }
        Ok(self.store.set_many(&label, key_values).await?.map_err(Into::into))
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Ret<()> {
        let label = self.bucket_label(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(()));
        }
        Ok(self.store.delete_many(&label, keys).await?.map_err(Into::into))
    }
}
