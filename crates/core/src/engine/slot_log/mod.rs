//! A slot log: an unordered set of ids kept as numbered entries, for lists that Spin's
//! key-value store cannot scan (the signing keys, `keys`, and a channel's subscriptions,
//! `chan:{name}:subs`). Unlike the lists of jobs, it frees its places.
//!
//! Every numbered index takes its slot numbers the same way, [`reserve`]: one `increment` of its
//! counter for many entries. That serves timer buckets (`due:{b}:n`), per-state lists
//! (`list:{state}:n`) and slot logs. What differs is what happens after: a timer bucket is deleted
//! whole once swept, a list entry goes stale when its job moves on, and a slot log frees and
//! compacts.
//!
//! - **append**: one `increment` of `{log}:n` hands out slots for many ids; the entries
//!   (`{log}:{k}` = `{id} {birth}`) come back for the caller's batched write, which must happen
//!   within [`TURN_DEADLINE_MS`] of the increment. `{log}:live` counts live items (`+n` on
//!   append, `-1` on removal) and can carry a limit: `MAX_KEYS` limits live keys, not keys ever
//!   made. `{log}:meta` is the compaction record.
//! - **remove**: the caller deletes the item's record and calls [`SlotLog::removed`]. Its entry
//!   is left dangling: readers skip an entry whose record is gone, and compaction drops it. The
//!   item need not remember its slot (which compaction changes), and deleting costs no extra
//!   write. Only the deleter that wins the record's next turn (`engine::fence`) and still finds it
//!   counts it out, so two deletes of one item free one place.
//! - **read and page**: slots at or below the meta's *floor* are never read; holes (allocated,
//!   never written) are skipped and ids are de-duplicated. A newest-first listing paged across a
//!   compaction may miss an old item moved past it (listing is a view, not a guarantee); fan-out
//!   cannot (`engine/publish.rs`).
//! - **compaction** (`tidy.rs`): raises the floor by moving the few live entries of the bottom
//!   window to the top, so reads follow live items, not history. A moved entry keeps its *birth*
//!   (the slot it was first given), which lets a walk that began before the move recognise it.

#[cfg(test)]
mod tests;
mod tidy;

#[cfg(test)]
pub(crate) use tidy::SLACK;

use super::fence::{self, TURN_DEADLINE_MS};
use crate::ids::{Id, Prefix};
use crate::keys::{self, Counter, Entry as KvEntry, Key, LogBase, TypedKv};
use crate::ports::{Kv, KvError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::hash::Hash;
use std::ops::RangeInclusive;

/// Entries one page reads at most, per item it may return.
const SCAN_FACTOR: u64 = 4;
const META_VERSION: u32 = 1;

/// One log of `I`s, named by its base key (`keys::key_log`, `keys::channel_subs`).
pub(crate) struct SlotLog<I> {
    base: LogBase<I>,
}

/// What a log holds: an id, kept as its text.
pub(crate) trait Item: Clone + Eq + Hash {
    /// `None` for text that names no item of this kind: its entry is skipped like a hole.
    fn parse(text: &str) -> Option<Self>;
    fn text(&self) -> &str;
}

impl<P: Prefix> Item for Id<P> {
    fn parse(text: &str) -> Option<Self> {
        Id::parse(text)
    }
    fn text(&self) -> &str {
        self.as_str()
    }
}

/// A written entry: `id` sits at `slot`, first appended at `birth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<I> {
    pub(crate) slot: u64,
    pub(crate) id: I,
    pub(crate) birth: u64,
}

/// The fenced meta record that compaction alone writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    v: u32,
    /// Slots at or below it are never read.
    pub(crate) floor: u64,
    /// The highest slot a compaction wrote.
    pub(crate) moved_top: u64,
    /// `{log}:n` as observed at `mark_at`: every slot up to it is written or dead a minute on.
    mark_count: u64,
    /// The floor at `mark_at`: no reader uses an older floor a minute on, so entries up to it go.
    mark_floor: u64,
    mark_at: u64,
    /// The meta turn at `mark_at`; older turn keys go with the next mark.
    mark_turn: u64,
    /// Entries up to here are deleted.
    swept: u64,
    /// Turn keys up to here are deleted.
    turns_swept: u64,
    turn: u64,
}

crate::stored::stored!(Meta, META_VERSION);
fence::fenced!(Meta);

impl Default for Meta {
    fn default() -> Self {
        Meta {
            v: META_VERSION,
            floor: 0,
            moved_top: 0,
            mark_count: 0,
            mark_floor: 0,
            mark_at: 0,
            mark_turn: 0,
            swept: 0,
            turns_swept: 0,
            turn: 0,
        }
    }
}

/// What one batch read of the log's counters found.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    /// Slots handed out so far.
    pub(crate) count: u64,
    /// Items appended and not removed.
    pub(crate) live: u64,
    pub(crate) meta: Meta,
}

/// Slots handed out by [`SlotLog::append`].
#[derive(Debug)]
pub(crate) struct Appended {
    /// To be written in the caller's batch, before `write_by`.
    pub(crate) entries: Vec<KvEntry>,
    pub(crate) write_by: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    NewestFirst,
    OldestFirst,
}

/// Items of one page with the records `load` found for them.
#[derive(Debug)]
pub(crate) struct Page<I, R> {
    pub(crate) items: Vec<(Entry<I>, R)>,
    /// The slot the next page starts at; `None` at the end.
    pub(crate) next: Option<u64>,
    /// Keys read: the entries, and the ids `load` was given.
    pub(crate) reads: u64,
}

impl<I: Item> SlotLog<I> {
    pub(crate) fn new(base: LogBase<I>) -> Self {
        Self { base }
    }

    /// Counters and meta in one batch read.
    pub(crate) fn bounds<K: Kv>(&self, kv: &K) -> Result<Bounds, KvError> {
        let (count_key, live_key, meta_key) =
            (keys::log_count(&self.base), keys::log_live(&self.base), keys::log_meta(&self.base));
        let wanted = [count_key.to_string(), live_key.to_string(), meta_key.to_string()];
        let [count, live, meta]: [Option<Vec<u8>>; 3] =
            kv.get_many(&wanted)?.try_into().map_err(|_| KvError("a batch read lost values".into()))?;
        Ok(Bounds {
            count: count_key.decode(count.as_deref()),
            live: live_key.decode(live.as_deref()),
            meta: meta_key.decode(meta.as_deref()).unwrap_or_default(),
        })
    }

    /// Hands out slots for `ids` at `now`.
    pub(crate) fn append<K: Kv>(&self, kv: &K, ids: &[I], now: u64) -> Result<Appended, KvError> {
        if !ids.is_empty() {
            kv.add_to(&keys::log_live(&self.base), ids.len() as i64)?;
        }
        self.allocate(kv, ids, now)
    }

    /// Like [`Self::append`], unless the live items would then pass `limit`: `None`, and
    /// nothing is allocated.
    pub(crate) fn append_within<K: Kv>(
        &self,
        kv: &K,
        ids: &[I],
        now: u64,
        limit: u64,
    ) -> Result<Option<Appended>, KvError> {
        let n = ids.len() as i64;
        if kv.add_to(&keys::log_live(&self.base), n)? > limit as i64 {
            kv.add_to(&keys::log_live(&self.base), -n)?;
            return Ok(None);
        }
        self.allocate(kv, ids, now).map(Some)
    }

    fn allocate<K: Kv>(&self, kv: &K, ids: &[I], now: u64) -> Result<Appended, KvError> {
        let write_by = now + TURN_DEADLINE_MS;
        if ids.is_empty() {
            return Ok(Appended { entries: Vec::new(), write_by });
        }
        let slots = reserve(kv, &keys::log_count(&self.base), ids.len())?;
        let entries = slots.zip(ids).map(|(slot, id)| self.entry(slot, id, slot)).collect();
        Ok(Appended { entries, write_by })
    }

    /// `n` appended items will not be written after all (their slots stay holes).
    pub(crate) fn abandon<K: Kv>(&self, kv: &K, n: usize) -> Result<(), KvError> {
        self.removed(kv, n)
    }

    /// `n` items' records were deleted.
    pub(crate) fn removed<K: Kv>(&self, kv: &K, n: usize) -> Result<(), KvError> {
        kv.add_to(&keys::log_live(&self.base), -(n as i64)).map(|_| ())
    }

    /// The written entries of `slots`, in their order, each id once.
    pub(crate) fn read<K: Kv>(&self, kv: &K, slots: impl Iterator<Item = u64>) -> Result<Vec<Entry<I>>, KvError> {
        let slots: Vec<u64> = slots.collect();
        let entry_keys: Vec<_> = slots.iter().map(|&k| keys::log_entry(&self.base, k)).collect();
        let mut seen = HashSet::new();
        Ok(slots
            .into_iter()
            .zip(kv.load_many(&entry_keys)?)
            .filter_map(|(slot, bytes)| parse_entry::<I>(slot, &bytes?))
            .filter(|entry| seen.insert(entry.id.clone()))
            .collect())
    }

    /// Up to `limit` live items from slot `from` (the newest or oldest when `None`), reading at
    /// most `SCAN_FACTOR × limit` entries. `load` returns the record of each id that is still
    /// live. A compaction during paging may move an old item past a newest-first reader.
    pub(crate) fn page<K: Kv, R>(
        &self,
        kv: &K,
        bounds: &Bounds,
        direction: Direction,
        from: Option<u64>,
        limit: usize,
        load: impl Fn(&[I]) -> Result<Vec<Option<R>>, KvError>,
    ) -> Result<Page<I, R>, KvError> {
        let (floor, count) = (bounds.meta.floor, bounds.count);
        let span = SCAN_FACTOR * limit.max(1) as u64;
        let (slots, after): (Vec<u64>, Option<u64>) = match direction {
            Direction::NewestFirst => {
                let start = from.unwrap_or(count).min(count);
                let stop = start.saturating_sub(span).max(floor); // exclusive
                ((stop + 1..=start).rev().collect(), (stop > floor).then_some(stop))
            }
            Direction::OldestFirst => {
                let start = from.unwrap_or(floor + 1).max(floor + 1);
                let end = count.min(start.saturating_add(span - 1));
                ((start..=end).collect(), (end < count).then_some(end + 1))
            }
        };
        let read = slots.len() as u64;
        let entries = self.read(kv, slots.into_iter())?;
        let ids: Vec<I> = entries.iter().map(|entry| entry.id.clone()).collect();
        let mut page = Page { items: Vec::new(), next: after, reads: read + ids.len() as u64 };
        for (entry, record) in entries.into_iter().zip(load(&ids)?) {
            if page.items.len() == limit {
                page.next = Some(entry.slot);
                break;
            }
            if let Some(record) = record {
                page.items.push((entry, record));
            }
        }
        Ok(page)
    }

    fn entry(&self, slot: u64, id: &I, birth: u64) -> KvEntry {
        keys::log_entry(&self.base, slot).entry(format!("{} {birth}", id.text()).as_bytes())
    }
}

/// `{id} {birth}`; an entry written before births were kept is its own birth. The birth is
/// after the last space: a flow key may hold spaces.
fn parse_entry<I: Item>(slot: u64, bytes: &[u8]) -> Option<Entry<I>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (id, birth) = match text.rsplit_once(' ') {
        Some((id, birth)) => (id, birth.parse().ok()?),
        None => (text, slot),
    };
    Some(Entry { slot, id: I::parse(id)?, birth })
}

/// Hands out `n` consecutive slot numbers from `counter` with one `increment`: the step every
/// append-only index shares (timer buckets, per-state lists, slot logs). Slots are never
/// handed out twice, whatever the backend, because `increment` is its one atomic answer.
pub(crate) fn reserve<K: Kv>(kv: &K, counter: &Key<Counter>, n: usize) -> Result<RangeInclusive<u64>, KvError> {
    let last = kv.add_to(counter, n as i64)?;
    let first = last - n as i64 + 1;
    if first < 1 {
        // Only a counter something decremented can get here; writing fewer entries than asked
        // would lose ids silently.
        return Err(KvError(format!("{} went backwards: {last} after adding {n}", counter.as_str())));
    }
    Ok(first as u64..=last as u64)
}
