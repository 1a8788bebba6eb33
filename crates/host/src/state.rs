//! Per-instance host state and the linker that exposes it to guests.
//!
//! Each request or cron firing gets a fresh `Store<InstanceState>`, as in
//! Spin: nothing survives between invocations except what goes through the
//! key-value store.

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{fermyon, wasi};
use crate::kv::KvHost;
use crate::outbound::OutboundHooks;
use crate::variables::VariablesHost;

pub(crate) struct InstanceState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: OutboundHooks,
    pub(crate) kv: KvHost,
    pub(crate) variables: VariablesHost,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// All imports a Spin 5.x WASIp2 component may use, except ones Hookah does
/// not need (sqlite, redis, llm, ...): instantiating a component that imports
/// those fails at startup with wasmtime's "missing import" error.
pub(crate) fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker: Linker<InstanceState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;

    fermyon::spin::key_value::add_to_linker::<_, HasSelf<KvHost>>(&mut linker, |s| &mut s.kv)?;
    wasi::keyvalue::store::add_to_linker::<_, HasSelf<KvHost>>(&mut linker, |s| &mut s.kv)?;
    wasi::keyvalue::atomics::add_to_linker::<_, HasSelf<KvHost>>(&mut linker, |s| &mut s.kv)?;
    wasi::keyvalue::batch::add_to_linker::<_, HasSelf<KvHost>>(&mut linker, |s| &mut s.kv)?;
    fermyon::spin::variables::add_to_linker::<_, HasSelf<VariablesHost>>(&mut linker, |s| &mut s.variables)?;
    Ok(linker)
}
