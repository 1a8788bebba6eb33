//! The key layout. Spin's key-value store has no range scan and `get_keys` lists every key, so the
//! sweeper finds due work through a *timer index* of computable keys (how slots are written and
//! what they mean: `engine/timers.rs`; how sweeps walk them: `engine/sweep/`):
//!
//! - `job:{id}`: the job record (JSON); `job:{id}:body`: its body bytes, written once.
//! - `due:{bucket}:n`: an `increment` counter that hands out slot numbers in a time bucket. With
//!   regions (a replicated store, `engine/regions.rs`) each region writes its own timer index,
//!   `due@{region}:{bucket}:…`, and its own `sweep:cursor@{region}`.
//! - `due:{bucket}:{n}`: slot `n` of the bucket: a job id whose record wants attention then.
//! - `due:{bucket}:done`: how many of the bucket's slots a sweep has handled (a hint).
//! - `sweep:cursor`: the oldest bucket not yet finished and deleted.
//! - `job:{id}:attempt:{n}`: attempt `n`'s request and response, once a later attempt came.
//! - `list:{state}:n` / `list:{state}:{k}`: per-state job lists for listing and bulk replay.
//! - `idem:{hash}` / `idem:{hash}:n:{window}`: idempotency records and the counters that settle
//!   races.
//! - `stats:sweep`: the operational statistics sweeps aggregate (see `stats`).
//! - `target:{host hash}:flight:{epoch}`, `target:{host hash}:rate:{second}`: per-target limits.
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
//! - A fenced record `{key}` (`engine::fence`): `{key}:turn:{n}` and `{key}:turn:{n}:seen`.
//!
//! A slot is a hint, the job record is the truth: a record names the bucket of its own timer,
//! and slots before it are recognised as stale and skipped.
//!
//! Keys are made only here (typed keys: `key.rs`), and read and written through `TypedKv`.
//! Counters are read only through `increment`'s answer or `decode_counter`, which reads both
//! backends' formats; numbers Hookah writes itself (sweep cursor, bucket progress,
//! failing-since) are decimal and never incremented.

mod counter;
mod key;
mod typed_kv;

pub use counter::{decode_counter, encode_number};
pub use key::{Bytes, Counter, Entry, Json, Key, Number, Settable, Value};
pub use typed_kv::{Pair, TypedKv};

use crate::channels::record::{ChannelRecord, EventRecord, SubscriptionRecord};
use crate::channels::token::TokenRecord;
use crate::engine::slot_log::Meta;
use crate::engine::IdempotencyRecord;
use crate::ids::{EventId, JobId, KeyId, SubscriptionId, TokenId};
use crate::job::{AttemptDetail, JobRecord};
use crate::keyring::KeyRecord;
use crate::stats::StatsRecord;
use std::marker::PhantomData;

/// Every key is made here, by these functions.
macro_rules! typed {
    ($($format:tt)*) => {
        Key::new(format!($($format)*))
    };
}

/// The base key of a slot log (`engine::slot_log`) of `I`s, whose keys hang off it.
pub struct LogBase<I>(String, PhantomData<fn() -> I>);

impl<I> LogBase<I> {
    fn new(text: String) -> Self {
        LogBase(text, PhantomData)
    }
}

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

/// Attempts to a target host that sweeps started in a 15-minute epoch and have not finished
/// (`engine::targets`); the host is hashed so any host fits a key.
pub fn target_flight(host: &str, epoch: u64) -> Key<Counter> {
    typed!("target:{}:flight:{epoch}", host_hash(host))
}

/// Attempts to a target host that sweeps started in one second.
pub fn target_rate(host: &str, second: u64) -> Key<Counter> {
    typed!("target:{}:rate:{second}", host_hash(host))
}

fn host_hash(host: &str) -> String {
    crate::digest::sha256_hex(host.as_bytes())[..16].to_string()
}

/// The oldest bucket of timer index `index` not yet finished: `sweep:cursor`, or
/// `sweep:cursor@{index}` for a region's own index.
pub fn sweep_cursor(index: &str) -> Key<Number> {
    typed!("sweep:cursor{}", at(index))
}

/// A region's timer index is named after it: `due@{region}:…` (`engine/regions.rs`); the one
/// index of an unreplicated store has no name, `due:…`.
fn at(index: &str) -> String {
    if index.is_empty() {
        String::new()
    } else {
        format!("@{index}")
    }
}

/// The operational aggregate that sweeps keep.
pub fn sweep_stats() -> Key<StatsRecord> {
    Key::new("stats:sweep".into())
}

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
pub fn bucket_claim(index: &str, bucket: u64, now_ms: u64) -> Key<Counter> {
    typed!("due{}:{bucket}:claim:{}", at(index), now_ms / BUCKET_CLAIM_WINDOW_MS)
}

/// `due:{bucket}:gate`: counted by every sweep that starts in the bucket's second, so that
/// invocations answering requests then leave sweeping to it (`engine/sweep/passing.rs`). Deleted
/// with its bucket.
pub fn sweep_gate(index: &str, bucket: u64) -> Key<Counter> {
    typed!("due{}:{bucket}:gate", at(index))
}

/// The full record of attempt `n` (1-based) once a later attempt replaced it in the job record.
pub fn attempt_detail(id: &JobId, n: usize) -> Key<Json<AttemptDetail>> {
    typed!("job:{id}:attempt:{n}")
}

/// The list of jobs in `state`, newest last: `list:{state}:n` counts, `list:{state}:{k}` holds
/// `{job id} {generation}`.
pub fn list_count(state: &str) -> Key<Counter> {
    typed!("list:{state}:n")
}

pub fn list_entry(state: &str, k: u64) -> Key<Bytes> {
    typed!("list:{state}:{k}")
}

/// A list entry's key, from its text (as a timer slot carries it).
pub fn parse_list_entry(text: &str) -> Option<Key<Bytes>> {
    let (state, k) = text.strip_prefix("list:")?.split_once(':')?;
    let valid_state = !state.is_empty() && state.bytes().all(|b| b.is_ascii_lowercase());
    let k: u64 = k.parse().ok()?;
    valid_state.then(|| list_entry(state, k))
}

/// `idem:{sha256 of the key}`: the job a key created; `idem:{hash}:n`: who got there first.
pub(crate) fn idempotency(key_hash: &str) -> Key<Json<IdempotencyRecord>> {
    typed!("idem:{key_hash}")
}

/// The race counter for a key in one time window (a creator that crashed frees the key when
/// the window ends).
pub fn idempotency_race(key_hash: &str, window: u64) -> Key<Counter> {
    typed!("idem:{key_hash}:n:{window}")
}

pub const IDEMPOTENCY_WINDOW_MS: u64 = 60_000;

/// A flow key's stored settings (`flows`); the key is hashed so any key fits.
pub fn flow(key: &str) -> Key<crate::flows::FlowRecord> {
    typed!("flow:{}", host_hash(key))
}

/// The slot log of flow keys with stored settings (`engine::flows`).
pub(crate) fn flow_log() -> LogBase<crate::engine::FlowName> {
    LogBase::new("flows".into())
}

/// A flow's record, by the hash its timer slots carry (`flw_{hash}`).
pub(crate) fn flow_by_timer_id(id: &str) -> Option<Key<crate::flows::FlowRecord>> {
    let hash = id.strip_prefix(FLOW_TIMER_PREFIX)?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| typed!("flow:{hash}"))
}

/// How many jobs ever began to wait in a flow's queue (a counter): the queue's entries are
/// numbered 1 to this, in the order they began to wait.
pub fn flow_wait_count(key: &str) -> Key<Counter> {
    typed!("flow:{}:wait:n", host_hash(key))
}

/// Entry `n` of a flow's queue: the waiting job's id.
pub fn flow_wait(key: &str, n: u64) -> Key<Bytes> {
    typed!("flow:{}:wait:{n}", host_hash(key))
}

/// The id a flow's timer slots carry (`flw_{hash}`): a sweep that reads one takes the flow's
/// next step.
pub fn flow_timer_id(key: &str) -> String {
    format!("{FLOW_TIMER_PREFIX}{}", host_hash(key))
}

pub const FLOW_TIMER_PREFIX: &str = "flw_";

pub fn channel(name: &str) -> Key<Json<ChannelRecord>> {
    typed!("chan:{name}")
}

/// The slot log of channel names (`engine::channel_list`).
pub(crate) fn channel_log() -> LogBase<crate::engine::ChannelName> {
    LogBase::new("chans".into())
}

/// The slot log of a channel's subscription ids.
pub fn channel_subs(name: &str) -> LogBase<SubscriptionId> {
    LogBase::new(format!("chan:{name}:subs"))
}

pub fn subscription(id: &SubscriptionId) -> Key<SubscriptionRecord> {
    typed!("sub:{id}")
}

/// Dead jobs in a row (a counter).
pub fn subscription_health(id: &SubscriptionId) -> Key<Counter> {
    typed!("sub:{id}:health")
}

/// When the subscription's deliveries began failing (a number).
pub fn subscription_failing_since(id: &SubscriptionId) -> Key<Number> {
    typed!("sub:{id}:health:since")
}

/// A WebSub subscription's id is found from its callback and topic.
pub fn websub_index(callback: &str, topic: &str) -> Key<Bytes> {
    typed!("websub:{}", crate::digest::sha256_hex(format!("{callback}\n{topic}").as_bytes()))
}

pub fn event(id: &EventId) -> Key<EventRecord> {
    typed!("evt:{id}")
}

pub fn event_body(id: &EventId) -> Key<Bytes> {
    typed!("evt:{id}:body")
}

pub fn token(id: &TokenId) -> Key<TokenRecord> {
    typed!("tok:{id}")
}

/// The slot log of signing key ids.
pub fn key_log() -> LogBase<KeyId> {
    LogBase::new("keys".into())
}

/// The id of the key that signs jobs that name none.
pub fn default_key() -> Key<Bytes> {
    Key::new("keys:default".into())
}

pub fn signing_key(id: &KeyId) -> Key<KeyRecord> {
    typed!("key:{id}")
}

/// A slot log's slot counter (incremented).
pub fn log_count<I>(log: &LogBase<I>) -> Key<Counter> {
    typed!("{}:n", log.0)
}

/// A slot log's count of live items (incremented both ways).
pub fn log_live<I>(log: &LogBase<I>) -> Key<Counter> {
    typed!("{}:live", log.0)
}

/// A slot log's compaction record.
pub(crate) fn log_meta<I>(log: &LogBase<I>) -> Key<Meta> {
    typed!("{}:meta", log.0)
}

/// Entry `k` of a slot log.
pub fn log_entry<I>(log: &LogBase<I>, k: u64) -> Key<Bytes> {
    typed!("{}:{k}", log.0)
}

pub fn job(id: &JobId) -> Key<JobRecord> {
    typed!("job:{id}")
}

/// Whether a listed key is a job record (`job:{id}`, not a key beside one).
pub fn is_job_record(key: &str) -> bool {
    key.strip_prefix("job:").is_some_and(|id| !id.contains(':'))
}

pub fn body(id: &JobId) -> Key<Bytes> {
    typed!("job:{id}:body")
}

pub fn slot_count(index: &str, bucket: u64) -> Key<Counter> {
    typed!("due{}:{bucket}:n", at(index))
}

pub fn slot_done(index: &str, bucket: u64) -> Key<Number> {
    typed!("due{}:{bucket}:done", at(index))
}

pub fn slot(index: &str, bucket: u64, n: u64) -> Key<Bytes> {
    typed!("due{}:{bucket}:{n}", at(index))
}

/// `{record key}:turn:{n}`: incremented by each writer that wants to write turn `n` of the
/// record; the one that reads 1 is its only writer (see `engine::fence`).
pub fn turn<V>(record: &Key<V>, n: u64) -> Key<Counter> {
    typed!("{record}:turn:{n}")
}

/// When a writer first found turn `n` taken while the record had not moved (a number).
pub fn turn_seen<V>(record: &Key<V>, n: u64) -> Key<Number> {
    typed!("{record}:turn:{n}:seen")
}

/// Set when a job is cancelled during an attempt: no attempt starts after it.
pub fn cancel_request(id: &JobId) -> Key<Bytes> {
    typed!("job:{id}:cancel")
}

/// A key with what varies from one to the next left out, so keys of one layout count together:
/// a number becomes `#`, an id (`job_…`), a hash or another long part `*` (`job:*:attempt:#`,
/// `target:*:flight:#`). For the benchmark's profile and the tests that count what is stored.
pub fn shape(key: &str) -> String {
    key.split(':').map(part_shape).collect::<Vec<_>>().join(":")
}

fn part_shape(part: &str) -> &str {
    let number = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let hash = part.len() >= 16 && part.bytes().all(|b| b.is_ascii_hexdigit());
    if number {
        "#"
    } else if hash || part.contains('_') || part.len() > 24 {
        "*"
    } else {
        part
    }
}

/// A key of any kind, for tests of machinery that works on every kind.
#[cfg(test)]
pub(crate) fn test_key<V>(text: &str) -> Key<V> {
    Key::new(text.to_string())
}

/// A slot log of its own, for the slot log's tests.
#[cfg(test)]
pub(crate) fn test_log(name: &str) -> LogBase<String> {
    LogBase::new(name.to_string())
}

#[cfg(test)]
mod tests;
