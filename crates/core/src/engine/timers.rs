//! Writing timer slots: one `increment` per bucket hands out slot numbers for many jobs at once.

use crate::keys::{self, Entry};
use crate::ports::{Kv, KvError};
use std::collections::BTreeMap;

/// Allocates a slot for each `(bucket, id)` and returns the slot entries to store (the caller
/// stores them in the same `set_many` as the records they point at, when it can). A slot holds
/// a job's id or an event's, so it takes the id's text.
pub(crate) fn allocate<K: Kv>(kv: &K, wanted: &[(u64, &str)]) -> Result<Vec<Entry>, KvError> {
    let mut by_bucket: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for &(bucket, id) in wanted {
        by_bucket.entry(bucket).or_default().push(id);
    }
    let mut entries = Vec::with_capacity(wanted.len());
    for (bucket, ids) in by_bucket {
        for (n, id) in super::slot_log::reserve(kv, &keys::slot_count(bucket), ids.len())?.zip(ids) {
            entries.push(keys::slot(bucket, n).entry(id.as_bytes()));
        }
    }
    Ok(entries)
}
