//! The timer slots one sweep batch writes, and the list entries they carry.
//!
//! Filing a finished job writes its entry in its state's list and a slot at its retention's end;
//! that slot's value is `{id} list:{state}:{k}` (`timers::Carried::ListEntry`). Whatever consumes
//! the slot removes the entry, in the batch's `delete_many`, at no extra commit: the job's
//! deletion, or a visit that finds the job gone or moved on. A slot that is put off (rescheduled,
//! held back) hands its entry to the slot written in its place. So an entry is removed exactly
//! when no slot carries it any more, and no list outlives its jobs. A duplicate entry goes the
//! same way, with its own slot.

use super::{lists, timers};
use crate::ids::JobId;
use crate::keys::{Bytes, Entry, Key};
use crate::ports::{Kv, KvError};
use std::collections::HashSet;

#[derive(Default)]
pub(super) struct SlotWrites<'a> {
    /// `(bucket, id)` of each slot to write.
    timers: Vec<(u64, &'a str)>,
    /// Slots that carry on an entry of the slot they replace: `(index in timers, entry)`.
    carried: Vec<(usize, &'a Key<Bytes>)>,
    /// Filings: `(index in timers, state, id, generation)`.
    filed: Vec<(usize, &'static str, &'a JobId, u32)>,
}

impl<'a> SlotWrites<'a> {
    /// A slot for job `id`; answers its index, for the slot's number after [`Self::allocate`].
    pub(super) fn push(&mut self, bucket: u64, id: &'a str) -> usize {
        self.timers.push((bucket, id));
        self.timers.len() - 1
    }

    /// A slot written in place of one that was put off: it carries that slot's list entry.
    pub(super) fn put_off(&mut self, bucket: u64, id: &'a str, entry: Option<&'a Key<Bytes>>) {
        let i = self.push(bucket, id);
        self.carried.extend(entry.map(|entry| (i, entry)));
    }

    /// The slot at a finished job's retention end, carrying its new entry in `state`'s list.
    pub(super) fn file(&mut self, bucket: u64, state: &'static str, id: &'a JobId, generation: u32) {
        let i = self.push(bucket, id.as_str());
        self.filed.push((i, state, id, generation));
    }

    /// The entries among `consumed` (the entries the batch's slots carried) that no new slot
    /// carries on: they go with the batch's deletions.
    pub(super) fn dropped(&self, consumed: impl Iterator<Item = &'a Key<Bytes>>) -> Vec<String> {
        let kept: HashSet<&str> = self.carried.iter().map(|(_, entry)| entry.as_str()).collect();
        consumed.filter(|entry| !kept.contains(entry.as_str())).map(|entry| entry.as_str().to_string()).collect()
    }

    /// Allocates the slots and the filings' list entries; answers the entries to write and each
    /// slot's number, in the order slots were added.
    pub(super) fn allocate<K: Kv>(self, kv: &K, index: &str) -> Result<(Vec<Entry>, Vec<u64>), KvError> {
        let filings: Vec<_> = self.filed.iter().map(|&(_, state, id, generation)| (state, id, generation)).collect();
        let (mut entries, listed) = lists::append_grouped(kv, &filings)?;
        let mut values: Vec<Option<String>> = vec![None; self.timers.len()];
        for &(i, entry) in &self.carried {
            values[i] = Some(timers::slot_value_with_list_entry(self.timers[i].1, entry.as_str()));
        }
        for (&(i, ..), (state, k)) in self.filed.iter().zip(listed) {
            let entry = crate::keys::list_entry(state, k);
            values[i] = Some(timers::slot_value_with_list_entry(self.timers[i].1, entry.as_str()));
        }
        let wanted: Vec<(u64, &str)> = self
            .timers
            .iter()
            .zip(&values)
            .map(|(&(bucket, id), value)| (bucket, value.as_deref().unwrap_or(id)))
            .collect();
        let (slots, numbers) = timers::allocate_numbered(kv, index, &wanted)?;
        entries.extend(slots);
        Ok((entries, numbers))
    }
}
