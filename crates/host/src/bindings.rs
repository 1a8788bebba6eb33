//! Host-side bindings generated from our WIT declarations.
//!
//! `host.wit` lists the Spin interfaces this host implements; wasi:cli, io,
//! clocks, random and http come from wasmtime-wasi and wasmtime-wasi-http.
//! The cron world is read from the workspace's `wit/spin-cron.wit`, the same
//! file the guest sweeper binds to.

#![allow(missing_docs, unreachable_pub, clippy::all)]

wasmtime::component::bindgen!({
    path: "wit",
    world: "hookah:host/host",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::kv::SpinStore,
        "wasi:keyvalue/store.bucket": crate::kv::Bucket,
        "wasi:keyvalue/atomics.cas": crate::kv::Cas,
    },
});

/// The `spin-cron` world: one exported `handle-cron-event`.
pub(crate) mod cron {
    wasmtime::component::bindgen!({
        path: "../../wit/spin-cron.wit",
        world: "fermyon:spin-cron/spin-cron",
        exports: { default: async },
    });
}
