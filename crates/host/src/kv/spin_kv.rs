//! `fermyon:spin/key-value@2.0.0` on the configured store.

use wasmtime::component::Resource;

use super::{KvError, KvHost, OpenError, SpinStore};
use crate::bindings::fermyon::spin::key_value::{Error, Host, HostStore};

type Ret<T> = wasmtime::Result<Result<T, Error>>;

impl From<KvError> for Error {
    fn from(e: KvError) -> Self {
        Error::Other(e.0)
    }
}

impl KvHost {
    /// The label behind a guest's store handle; an unknown handle is a guest
    /// bug, so it traps rather than returning an error.
    fn spin_label(&self, store: &Resource<SpinStore>) -> wasmtime::Result<String> {
        Ok(self.table.get(store)?.label.clone())
    }
}

impl Host for KvHost {}

impl HostStore for KvHost {
    async fn open(&mut self, label: String) -> Ret<Resource<SpinStore>> {
        match self.open_store(&label).await? {
            Err(OpenError::AccessDenied) => return Ok(Err(Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => return Ok(Err(Error::NoSuchStore)),
            Err(OpenError::Other(e)) => return Ok(Err(e.into())),
            Ok(()) => {}
        }
        Ok(Ok(self.table.push(SpinStore { label })?))
    }

    async fn get(&mut self, store: Resource<SpinStore>, key: String) -> Ret<Option<Vec<u8>>> {
        let label = self.spin_label(&store)?;
        Ok(self.store.get(&label, &key).await?.map_err(Into::into))
    }

    async fn set(&mut self, store: Resource<SpinStore>, key: String, value: Vec<u8>) -> Ret<()> {
        let label = self.spin_label(&store)?;
        Ok(self.store.set(&label, &key, value).await?.map_err(Into::into))
    }

    async fn delete(&mut self, store: Resource<SpinStore>, key: String) -> Ret<()> {
        let label = self.spin_label(&store)?;
        Ok(self.store.delete(&label, &key).await?.map_err(Into::into))
    }

    async fn exists(&mut self, store: Resource<SpinStore>, key: String) -> Ret<bool> {
        let label = self.spin_label(&store)?;
        Ok(self.store.exists(&label, &key).await?.map_err(Into::into))
    }

    async fn get_keys(&mut self, store: Resource<SpinStore>) -> Ret<Vec<String>> {
        let label = self.spin_label(&store)?;
        Ok(self.store.get_keys(&label).await?.map_err(Into::into))
    }

    async fn drop(&mut self, store: Resource<SpinStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
