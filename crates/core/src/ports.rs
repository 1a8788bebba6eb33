//! Ports shaped like the host: what Spin's key-value store, outbound HTTP, clock and random
//! source can really do. Adapters implement them; tests use in-memory twins.

use crate::delivery::AttemptResult;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

/// Spin's key-value store with `wasi:keyvalue` atomics and batch operations.
pub trait Kv {
    /// An open compare-and-swap on one key (it captured the key's value when opened).
    type Cas;

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Values in the order of `keys`.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError>;
    /// All entries in one commit.
    fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), KvError>;
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError>;
    /// Atomically adds `delta` to an 8-byte little-endian counter (missing = 0); returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError>;
    /// Opens a compare-and-swap and returns the value it captured. On a missing key a swap is a
    /// plain upsert (Spin's semantics), so callers only swap keys they saw present.
    fn cas_open(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), KvError>;
    /// `Ok(false)` when the key changed since `cas_open`.
    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> Result<bool, KvError>;
}

/// One outbound webhook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Connect and first-byte timeout.
    pub timeout_ms: u64,
    /// How much of the response body to read and hand back (the rest is left unread).
    pub capture_bytes: usize,
}

/// What came of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub result: AttemptResult,
    pub duration_ms: u64,
    /// The response's headers and the start of its body, when there was a response.
    pub response: Option<Captured>,
}

/// What was read of a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `body` is not the whole body: it went on past `capture_bytes`, or broke off.
    pub truncated: bool,
}

/// Outbound HTTP. A failure is an outcome, not an `Err`.
// Guests are single-threaded, so the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn send(&self, request: OutboundRequest) -> Sent;
}

/// Wall-clock time in Unix milliseconds.
pub trait Clock {
    fn now_ms(&self) -> u64;
}

/// A source of random bytes (ids, secrets, jitter).
pub trait Entropy {
    fn fill(&self, buf: &mut [u8]);

    fn next_u32(&self) -> u32 {
        let mut bytes = [0; 4];
        self.fill(&mut bytes);
        u32::from_le_bytes(bytes)
    }
}
