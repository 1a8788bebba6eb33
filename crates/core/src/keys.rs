//! The key layout. Spin's key-value store has no range scan and `get_keys` lists every key, so the
//! sweeper finds due work through a *timer index* of computable keys:
//!
//! - `job:{id}`: the job record (JSON); `job:{id}:body`: its body bytes, written once.
//! - `due:{bucket}:n`: an `increment` counter that hands out slot numbers in a time bucket.
//! - `due:{bucket}:{n}`: slot `n` of the bucket: a job id whose record wants attention then.
//! - `due:{bucket}:done`: how many of the bucket's slots a sweep has handled (a hint).
//! - `sweep:cursor`: the oldest bucket not yet finished and deleted.
//! - `job:{id}:attempt:{n}`: attempt `n`'s request and response, once a later attempt came.
//! - `list:{state}:n` / `list:{state}:{k}`: per-state job lists for listing and bulk replay.
//! - `idem:{hash}` / `idem:{hash}:n:{window}`: idempotency records and the counters that settle races.
//! - `stats:sweep`: the operational statistics sweeps aggregate (see `stats`).
//! - `due:{bucket}:claim:{window}`: which sweep works a bucket in a window (increment to take).
//! - `chan:{name}`, `sub:{id}`, `sub:{id}:health`, `websub:{hash}`: channels and their
//!   subscriptions; `chan:{name}:subs`: the slot log of a channel's subscription ids;
//!   `evt:{id}`, `evt:{id}:body`: published events (an event with fan-out left has a timer slot
//!   like a job); `tok:{id}`: scoped tokens.
//! - `key:{id}`: a signing key; `keys`: the slot log of key ids; `keys:default`: the id of the
//!   key that signs jobs that name none.
//! - A *slot log* `{log}` (`engine::slot_log`): `{log}:n` hands out slots (a counter),
//!   `{log}:{k}` = `{id} {birth slot}`, `{log}:live` counts live items (a counter), `{log}:meta`
//!   is the compaction record (floor, mark; fenced, so also `{log}:meta:turn:{n}`).
//!
//! A slot is a hint, the job record is the truth: a record names the bucket of its own timer,
//! and slots before it are recognised as stale and skipped.

/// Width of a timer bucket.
pub const BUCKET_MS: u64 = 1_000;
/// How long after its end a bucket may still receive slots from a slow writer; it is deleted
/// only after that.
pub const SETTLE_MS: u64 = 30_000;
/// Where the very first sweep starts looking, in buckets before now.
pub const LOOKBACK_BUCKETS: u64 = 3_600;
/// Buckets one sweep walks at most, so a sweeper that was down for long catches up in steps.
pub const MAX_BUCKETS_PER_SWEEP: u64 = 3_600;
/// Spin hosts accept keys up to this length.
pub const MAX_KEY_BYTES: usize = 256;

pub const SWEEP_CURSOR: &str = "sweep:cursor";
/// The operational aggregate that sweeps keep (`stats::StatsRecord`); only `set`.
pub const SWEEP_STATS: &str = "stats:sweep";

pub fn bucket_of(ms: u64) -> u64 {
    ms / BUCKET_MS
}

/// The bucket for a timer due at `due_ms`, never one a sweep may already have finished.
pub fn timer_bucket(due_ms: u64, now_ms: u64) -> u64 {
    bucket_of(due_ms).max(bucket_of(now_ms) + 1)
}

/// How long a sweep owns a bucket it claimed: a sweep that dies frees its buckets when the
/// window ends.
pub const BUCKET_CLAIM_WINDOW_MS: u64 = 15_000;

/// `due:{bucket}:claim:{window}`: the sweep that increments it to 1 works the bucket in that
/// window; parallel sweeps take other buckets.
pub fn bucket_claim(bucket: u64, now_ms: u64) -> String {
    format!("due:{bucket}:claim:{}", now_ms / BUCKET_CLAIM_WINDOW_MS)
}

/// The full record of attempt `n` (1-based) once a later attempt replaced it in the job record.
pub fn attempt_detail(id: &str, n: usize) -> String {
    format!("job:{id}:attempt:{n}")
}

/// The list of jobs in `state`, newest last: `list:{state}:n` counts, `list:{state}:{k}` holds
/// `{job id} {generation}`.
pub fn list_count(state: &str) -> String {
    format!("list:{state}:n")
}

pub fn list_entry(state: &str, k: u64) -> String {
    format!("list:{state}:{k}")
}

/// `idem:{sha256 of the key}`: the job a key created; `idem:{hash}:n`: who got there first.
pub fn idempotency(key_hash: &str) -> String {
    format!("idem:{key_hash}")
}

/// The race counter for a key in one time window (a creator that crashed frees the key when
/// the window ends).
pub fn idempotency_race(key_hash: &str, window: u64) -> String {
    format!("idem:{key_hash}:n:{window}")
}

pub const IDEMPOTENCY_WINDOW_MS: u64 = 60_000;

pub fn channel(name: &str) -> String {
    format!("chan:{name}")
}

/// The slot log of a channel's subscription ids.
pub fn channel_subs(name: &str) -> String {
    format!("chan:{name}:subs")
}

pub fn subscription(id: &str) -> String {
    format!("sub:{id}")
}

/// Dead jobs in a row (a counter).
pub fn subscription_health(id: &str) -> String {
    format!("sub:{id}:health")
}

/// When the subscription's deliveries began failing (a number).
pub fn subscription_failing_since(id: &str) -> String {
    format!("sub:{id}:health:since")
}

/// A WebSub subscription's id is found from its callback and topic.
pub fn websub_index(callback: &str, topic: &str) -> String {
    format!("websub:{}", crate::digest::sha256_hex(format!("{callback}\n{topic}").as_bytes()))
}

pub fn event(id: &str) -> String {
    format!("evt:{id}")
}

pub fn event_body(id: &str) -> String {
    format!("evt:{id}:body")
}

pub fn token(id: &str) -> String {
    format!("tok:{id}")
}

/// The slot log of signing key ids.
pub const KEY_LOG: &str = "keys";
pub const DEFAULT_KEY: &str = "keys:default";

pub fn signing_key(id: &str) -> String {
    format!("key:{id}")
}

/// A slot log's slot counter (incremented).
pub fn log_count(log: &str) -> String {
    format!("{log}:n")
}

/// A slot log's count of live items (incremented both ways).
pub fn log_live(log: &str) -> String {
    format!("{log}:live")
}

/// A slot log's compaction record.
pub fn log_meta(log: &str) -> String {
    format!("{log}:meta")
}

/// Entry `k` of a slot log.
pub fn log_entry(log: &str, k: u64) -> String {
    format!("{log}:{k}")
}

pub fn job(id: &str) -> String {
    format!("job:{id}")
}

pub fn body(id: &str) -> String {
    format!("job:{id}:body")
}

pub fn slot_count(bucket: u64) -> String {
    format!("due:{bucket}:n")
}

pub fn slot_done(bucket: u64) -> String {
    format!("due:{bucket}:done")
}

pub fn slot(bucket: u64, n: u64) -> String {
    format!("due:{bucket}:{n}")
}

/// A number Hookah `set`s itself (never one that is incremented): ASCII decimal.
pub fn encode_number(value: u64) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Reads a counter or a number in whichever format the backend or Hookah wrote it: Spin's
/// SQLite store keeps `increment`ed values as 8-byte little-endian, its Redis store as ASCII
/// decimal, and Hookah writes numbers as decimal. The two cannot be confused: an 8-byte
/// little-endian counter below 2^48 has zero high bytes, never ASCII digits. Missing,
/// negative or unreadable is 0.
pub fn decode_counter(bytes: Option<&[u8]>) -> u64 {
    let Some(bytes) = bytes else { return 0 };
    let decimal = !bytes.is_empty() && bytes.len() <= 20 && bytes.iter().all(|b| b.is_ascii_digit() || *b == b'-');
    if decimal {
        return std::str::from_utf8(bytes).ok().and_then(|text| text.parse::<i64>().ok()).unwrap_or(0).max(0) as u64;
    }
    <[u8; 8]>::try_from(bytes).map(|b| i64::from_le_bytes(b).max(0) as u64).unwrap_or(0)
}

/// `{record key}:turn:{n}`: incremented by each writer that wants to write turn `n` of the
/// record; the one that reads 1 is its only writer (see `engine::fence`).
pub fn turn(record_key: &str, n: u64) -> String {
    format!("{record_key}:turn:{n}")
}

/// When a writer first found turn `n` taken while the record had not moved (a number).
pub fn turn_seen(record_key: &str, n: u64) -> String {
    format!("{record_key}:turn:{n}:seen")
}

/// Set when a job is cancelled during an attempt: no attempt starts after it.
pub fn cancel_request(id: &str) -> String {
    format!("job:{id}:cancel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::job_id;

    #[test]
    fn layout() {
        let id = job_id(&[9; 16]);
        for key in [job(&id), body(&id), slot_count(u64::MAX), slot_done(u64::MAX), slot(u64::MAX, u64::MAX)] {
            assert!(key.len() <= MAX_KEY_BYTES, "{key}");
        }
        assert_eq!(slot(1_700_000_000, 3), "due:1700000000:3");
        assert_eq!(slot_count(5), "due:5:n");
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket_of(1_999), 1);
        assert_eq!(timer_bucket(10_500, 2_000), 10);
        // A due time in the past still lands in a bucket no sweep has finished.
        assert_eq!(timer_bucket(1_000, 5_500), 6);
        assert_eq!(timer_bucket(5_700, 5_500), 6);
    }

    #[test]
    fn counters_in_every_backend_format() {
        let check = |bytes: Option<&[u8]>, expected: u64| assert_eq!(decode_counter(bytes), expected, "{bytes:?}");
        // Spin's SQLite store: 8-byte little-endian.
        check(Some(&42i64.to_le_bytes()), 42);
        check(Some(&12_345_678i64.to_le_bytes()), 12_345_678);
        check(Some(&(-3i64).to_le_bytes()), 0);
        // Spin's Redis store: ASCII decimal, any length, eight digits included.
        check(Some(b"790"), 790);
        check(Some(b"12345678"), 12_345_678);
        check(Some(b"-4"), 0);
        // What Hookah sets itself.
        check(Some(&encode_number(1_700_000_000_000)), 1_700_000_000_000);
        check(None, 0);
        check(Some(b"junk"), 0);
        check(Some(b""), 0);
    }
}
