//! Ports shaped like the host: what Spin's key-value store, outbound HTTP, clock and random
//! source can really do. Adapters implement them; tests use in-memory twins.

use crate::delivery::AttemptResult;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

/// Spin's key-value store, limited to what every Spin backend does the same way (SQLite and
/// Redis differ in batch reads, counter formats and compare-and-swap): `get`, `set`, `delete`,
/// atomic `set_many`/`delete_many`, and the value `increment` returns. There is deliberately no
/// compare-and-swap: Spin's Redis store reports every swap as failed although it wrote it, and its
/// SQLite store upserts a missing key. Records that several writers change use `engine::fence`.
pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Values in the order of `keys`, `None` where a key is missing. Adapters make this hold
    /// whatever the backend's batch read does (or fall back to single reads).
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError>;
    /// All entries in one commit.
    fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), KvError>;
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError>;
    /// Atomically adds `delta` to a counter (missing = 0) and returns the new value. Backends
    /// store counters in formats of their own: read one back only through a `keys::Key<Counter>`
    /// (`keys::decode_counter`), and never `set` a key that is incremented.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError>;
    /// Every key the store holds: a full listing (Spin's `list-keys`), so only for stores small
    /// enough to be capped (`store_max_keys`, `engine/room.rs`).
    fn list_keys(&self) -> Result<Vec<String>, KvError>;
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
