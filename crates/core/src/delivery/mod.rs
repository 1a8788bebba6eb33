//! Delivery policy: classifying attempts and scheduling the next one.

pub mod classify;
pub mod schedule;

pub use classify::{classify, AttemptResult, Class, TransportError};
