//! The stored job record: its own versioned type, converted to API views explicitly.

pub mod transition;
pub mod view;

use crate::delivery::TransportError;
use serde::{Deserialize, Serialize};

/// Version of the stored record format.
pub const RECORD_VERSION: u32 = 1;

/// Extra lease time beyond the connect and first-byte timeouts, so a slow but live attempt is not
/// taken over.
pub const LEASE_MARGIN_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub v: u32,
    pub id: String,
    pub method: String,
    pub url: String,
    /// End-to-end headers to send, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Length of the body stored under `job:{id}:body` (nothing is stored for 0).
    pub body_len: u64,
    pub created_at: u64,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    pub state: State,
    /// Bucket of this job's one authoritative timer slot.
    pub timer: u64,
    pub attempts: Vec<Attempt>,
    /// The key that signs this job's attempts; `None` means the default key at attempt time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// Hex SHA-256 of the body: what the verification endpoint compares against.
    #[serde(default)]
    pub body_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Waiting for its next attempt.
    Pending {
        next_at: u64,
    },
    /// Claimed for attempt number `claim` (1-based) until `lease_until`.
    InFlight {
        claim: u32,
        lease_until: u64,
    },
    Delivered {
        at: u64,
    },
    Gone {
        at: u64,
    },
    Dead {
        at: u64,
    },
}

impl State {
    pub fn finished_at(&self) -> Option<u64> {
        match *self {
            State::Delivered { at } | State::Gone { at } | State::Dead { at } => Some(at),
            State::Pending { .. } | State::InFlight { .. } => None,
        }
    }
}

/// One attempt as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: u64,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AttemptError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why an attempt produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptError {
    Transport(TransportError),
    /// The worker holding the lease vanished; whether the receiver got the call is unknown.
    Abandoned,
}

impl JobRecord {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a job record always serializes")
    }

    /// `None` for bytes that are not a record of a version this code reads.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice::<JobRecord>(bytes).ok().filter(|record| record.v == RECORD_VERSION)
    }

    /// How long one attempt may hold the job.
    pub fn lease_ms(&self) -> u64 {
        lease_ms(self.timeout_ms)
    }
}

pub fn lease_ms(timeout_ms: u64) -> u64 {
    2 * timeout_ms + LEASE_MARGIN_MS
}
