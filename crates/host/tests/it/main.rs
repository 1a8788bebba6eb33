//! End-to-end tests: the real .wasm components in the local host, real receivers on 127.0.0.1.

// A test binary has no public API: `pub` here only means "shared between modules".
#![allow(unreachable_pub)]

mod support;

mod batch;
mod bounded;
mod channels;
mod dashboard;
mod delivery;
mod durability;
mod edge;
mod event_batch;
mod flow_control;
mod flows;
mod limits;
mod multi_instance;
mod ops;
mod replicated;
mod responses;
mod security;
mod signing;
mod websub;
