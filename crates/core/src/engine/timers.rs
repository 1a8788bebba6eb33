//! Writing timer slots, and what a slot means. Spin's key-value store has no range scan and
//! `get_keys` lists every key, so sweeps find due work through a *timer index* of computable
//! keys (the layout is in `keys`; the walk in `engine/sweep/mod.rs`).
//!
//! - Time is cut into 1 s buckets (`BUCKET_MS`). To make a job wake at time `t`, a writer takes a
//!   slot number from the bucket's counter (`increment due:{bucket}:n`) and writes
//!   `due:{bucket}:{n}` = the job id. One `increment` per bucket hands out slot numbers for many
//!   jobs at once (`slot_log::reserve`).
//! - Writers only ever write buckets in the future (`keys::timer_bucket`), so a settled bucket
//!   gets no new slots.
//! - New slots are written before the record that points at them, or with it: a crash leaves
//!   stale slots, never a job without a timer.
//!
//! A slot is a hint; the record is the truth. A job record names the bucket of its own timer
//! (`timer`). A slot before it is stale and skipped. A slot at or after it makes the sweep look at
//! the job: claim it if due, or leave a slot for when it will be. So duplicate or left-over slots
//! do no harm, and a writer that may not change the record can still ask for a later look. For a
//! finished job only the record's own timer files it; at the end of retention any slot deletes it
//! (`job::transition::on_timer`). Events have timer slots too: a sweep tells job slots from event
//! slots by the id's prefix.
//!
//! A slot's value is one of:
//!
//! - the id alone;
//! - the id, a space and the job's finished record (`slot_value_with_record`);
//! - the id, a space and its list entry's key, `{id} list:{state}:{k}` (`engine/slot_writes.rs`);
//! - nothing (`SPENT_SLOT`).
//!
//! The invocation that made an attempt (the accepting one, or a sweep, which knows the slot
//! numbers it allocated for its claims) writes the finished record into the claim's own slot in
//! the outcome's batched write. That slot is at the lease's end, still ahead. The sweep that files
//! the job then reads one key, not two. An outcome that schedules a retry empties that slot
//! instead: the record's timer has moved to the retry's slot, so the sweep that reaches the old
//! one reads no record to find it stale.
//!
//! The copy is used only when all it asks is that the job be filed (the slot is the copy's timer
//! and retention has not ended); for anything else the record itself is read. A stale copy can
//! only file a list entry that readers skip, or add a slot that is skipped: the job's own timer
//! always has a slot of its own.

use crate::keys::{self, Bytes, Entry, Key};
use crate::ports::{Kv, KvError};
use std::collections::BTreeMap;

/// Allocates a slot for each `(bucket, id)` and returns the slot entries to store (the caller
/// stores them in the same `set_many` as the records they point at, when it can). A slot holds
/// a job's id or an event's, so it takes the id's text.
/// `index` is the writer's own timer index (its region's; `engine/regions.rs`).
pub(crate) fn allocate<K: Kv>(kv: &K, index: &str, wanted: &[(u64, &str)]) -> Result<Vec<Entry>, KvError> {
    Ok(allocate_numbered(kv, index, wanted)?.0)
}

/// [`allocate`], also answering each slot's number, in the order of `wanted`.
pub(crate) fn allocate_numbered<K: Kv>(
    kv: &K,
    index: &str,
    wanted: &[(u64, &str)],
) -> Result<(Vec<Entry>, Vec<u64>), KvError> {
    let mut by_bucket: BTreeMap<u64, Vec<(usize, &str)>> = BTreeMap::new();
    for (i, &(bucket, id)) in wanted.iter().enumerate() {
        by_bucket.entry(bucket).or_default().push((i, id));
    }
    let mut entries = Vec::with_capacity(wanted.len());
    let mut numbers = vec![0; wanted.len()];
    for (bucket, ids) in by_bucket {
        for (n, (i, id)) in super::slot_log::reserve(kv, &keys::slot_count(index, bucket), ids.len())?.zip(ids) {
            entries.push(keys::slot(index, bucket, n).entry(id.as_bytes()));
            numbers[i] = n;
        }
    }
    Ok((entries, numbers))
}

/// [`allocate`] for one job: its slot entry and the slot's number.
pub(crate) fn allocate_one<K: Kv>(kv: &K, index: &str, bucket: u64, id: &str) -> Result<(Vec<Entry>, u64), KvError> {
    let n = *super::slot_log::reserve(kv, &keys::slot_count(index, bucket), 1)?.start();
    Ok((vec![keys::slot(index, bucket, n).entry(id.as_bytes())], n))
}

/// A timer slot's value: the job id, followed (after a space) by the job's finished record when
/// the invocation that made its last attempt wrote that into the slot with the outcome, so the
/// sweep that files the job need not read the record (`engine::attempt`).
pub(crate) fn slot_value_with_record(id: &str, record: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(id.len() + 1 + record.len());
    value.extend_from_slice(id.as_bytes());
    value.push(b' ');
    value.extend_from_slice(record);
    value
}

/// What the holder of a claim writes into the claim's own timer slot when the attempt ends in a
/// retry: the record's timer has moved to the retry's slot, so this one would only cost the
/// sweep that reaches it a read of the record to find it stale. It names nothing.
pub(crate) const SPENT_SLOT: &[u8] = b"";

/// A timer slot's value that names the job's entry in a finished state's list (`list:{state}:{k}`
/// after the id and a space): the slot at a filed job's retention end carries the entry the
/// filing wrote, so whatever consumes the slot removes the entry (with the job, or as stale).
pub(crate) fn slot_value_with_list_entry(id: &str, entry: &str) -> String {
    format!("{id} {entry}")
}

/// What a slot carries beside the id it names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Carried<'a> {
    Nothing,
    /// The job's finished record, as its last attempt's outcome wrote it.
    Record(&'a [u8]),
    /// The key of the job's list entry written when it was filed.
    ListEntry(Key<Bytes>),
}

/// The id a slot names, and what it carries.
pub(crate) fn parse_slot_value(value: &[u8]) -> Option<(String, Carried<'_>)> {
    let (id, carried) = match value.iter().position(|&b| b == b' ') {
        Some(space) => {
            let rest = &value[space + 1..];
            let carried = match std::str::from_utf8(rest).ok().and_then(keys::parse_list_entry) {
                Some(entry) => Carried::ListEntry(entry),
                None => Carried::Record(rest),
            };
            (&value[..space], carried)
        }
        None => (value, Carried::Nothing),
    };
    Some((String::from_utf8(id.to_vec()).ok()?, carried))
}
