//! A small local host that runs Hookah's Spin components the way Spin 3.x/4.x
//! would, for tests and offline development (the `spin` CLI is not available
//! everywhere Hookah is built). Not a product: it implements what Hookah's
//! `spin.toml` uses and fails loudly on the rest.
//!
//! # Layout
//! - `manifest`: reading `spin.toml` (v2).
//! - `routes`: Spin's HTTP route matching.
//! - `variables`: application variables and `fermyon:spin/variables`.
//! - `runtime_config`: Spin's runtime-config file (`[key_value_store.default]`,
//!   and this host's own `[limits]`).
//! - `limits`: a managed host's platform limits ([`Limits`]; `--limits
//!   fermyon-cloud`): key length, value size and a key cap in `kv/limits.rs`,
//!   the handler time limit (`limits/deadline.rs`), the hourly outbound-request
//!   cap (`limits/outbound.rs`). None unless configured, as `spin up`.
//! - `kv`: the key-value stores (SQLite, Redis) with Spin's semantics and
//!   their `fermyon:spin` and `wasi:keyvalue` interfaces; and
//!   [`ReplicatedKv`], a simulated two-region store (writes reach the other
//!   region after a lag, last writer wins, `increment` atomic only within a
//!   region), one host per region ([`HostConfig::in_region`]).
//! - `outbound`: `allowed_outbound_hosts` in front of outbound HTTP.
//! - `clock`: the wall clock guests see, which tests can move.
//! - `engine`: the process-wide engine and compiled-component cache.
//! - `state` / `app`: per-instance state and the loaded application.
//! - `http_trigger` / `cron_trigger`: the two triggers.
//! - `build_step`: `--build`, like `spin build`.
//! - `host`: [`RunningHost`], tying it together.
//! - `test_redis`: a Redis server and database of one's own, for tests.
//!
//! # Invariants
//! - Every guest invocation gets a fresh store; only the key-value store
//!   carries state between invocations.
//! - No host code path panics on guest or manifest input; bad manifests fail
//!   at startup, guest errors become error results, 500s or log lines.
//! - Guest work that outlives its HTTP response is tracked, so shutdown can
//!   wait for it and tests can wait for the host to go idle.
//!
//! # Tests
//! The end-to-end tests live in `tests/it`. They run on SQLite or, with
//! `HOOKAH_TEST_KV=redis`, on Redis; `multi_instance.rs` always runs on Redis,
//! `replicated.rs` on two regions of a [`ReplicatedKv`].

#![forbid(unsafe_code)]

mod app;
mod bindings;
mod build_step;
mod clock;
mod cron_trigger;
mod engine;
mod host;
mod http_trigger;
mod kv;
mod limits;
mod manifest;
mod outbound;
mod outbound_pool;
mod routes;
mod runtime_config;
mod state;
mod tasks;
pub mod test_redis;
mod variables;

pub use build_step::build_components;
pub use clock::HostClock;
pub use host::{HostConfig, RunningHost};
pub use kv::{KvOps, KvRegion, OpCount, ReplicatedKv};
pub use limits::{LimitEvents, Limits};
