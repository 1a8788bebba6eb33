//! # Hookah core
//!
//! Everything Hookah decides, as pure functions of their inputs: no Spin, no clock, no randomness
//! of its own. Adapters hand in the ports (`ports`): key-value, outbound HTTP, clock, entropy.
//!
//! # Layout
//! - `api`: routing a request to the engine; the single place errors and results become JSON answers.
//! - `engine`: accept, attempt and sweep, carried out through the ports; the services `Hookah` hands
//!   out by noun (`keyring()`, `channels()`, `jobs()`, `hub()`).
//! - `job`: the stored record, its state machine (`transition`), public states and times (`view`).
//! - `delivery`: attempt classification, retry schedule, jitter, `Retry-After`.
//! - `request`: one-pass parsing of a submission: target, headers, controls, address policy.
//! - `keys`: the key layout and the timer index that replaces a range scan.
//! - `signing`: Standard Webhooks signatures (v1 HMAC, v1a ed25519) and a verifier for receivers.
//! - `keyring`: stored signing keys, rotation with a grace period.
//! - `channels`: channel, subscription and event records, name grammar, scoped tokens.
//! - `websub`: the W3C WebSub hub protocol (forms, intent verification, `X-Hub-Signature`).
//! - `stats`: operational statistics aggregated by sweeps, metrics, structured log facts.
//! - `stored`: versioned JSON records.
//! - `busy`: when a store another connection holds locked is asked again (the adapters pause).
//! - `ids`: typed ids (`JobId`, `KeyId`, …), a readable prefix and 128 random bits.
//! - `config`, `auth`, `duration`, `digest`, `encoding`, `error`: the small pieces.
//! - `memory` (tests only): in-memory ports that record what they did.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod busy;
pub mod channels;
pub mod config;
pub mod delivery;
pub mod digest;
pub mod duration;
pub mod encoding;
pub mod engine;
pub mod error;
pub mod flows;
pub mod ids;
pub mod job;
pub mod keyring;
pub mod keys;
pub mod ports;
pub mod request;
pub mod signing;
pub mod stats;
pub mod stored;
pub mod websub;

#[cfg(test)]
pub mod memory;

pub use api::ApiError;
pub use api::{FollowUp, Reply};
pub use config::Config;
pub use engine::Hookah;
pub use error::Error;
pub use request::Incoming;
