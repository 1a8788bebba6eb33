//! Compaction: costs follow live items, not history.
//!
//! It runs in bounded steps when the readable span is over twice the live items (plus `SLACK`),
//! carried on by deletes, publishes and listings. One step, done by whoever wins the meta record's
//! next turn (`engine::fence`), reads the bottom window above the floor, appends its live entries
//! anew at the top (keeping their birth), and raises the floor past the window: the moved entries
//! and the new meta go in one commit. Two rules keep it from losing anything:
//!
//! - It works only below a *mark*: the count observed at least [`TIDY_SETTLE_MS`] (a minute)
//!   earlier. Appenders write within `TURN_DEADLINE_MS` of their increment (they check, and give
//!   up otherwise), so a slot below the mark is written by now or never will be; an allocated,
//!   unwritten slot is never passed over.
//! - Entries below the floor are deleted only once that floor is a mark old: a reader uses the
//!   floor it read for one short step, never for a minute. The meta's old turn keys go the same
//!   way, a mark later.
//!
//! A crash after the moved entries' commit cannot leave duplicates (entries and meta are one
//! commit); any that do arise are harmless, as readers de-duplicate by id and fan-out jobs are
//! derived from (event, subscription).

use super::{Bounds, Entry, Item, SlotLog};
use crate::engine::fence::{self, Turn, TURN_DEADLINE_MS};
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, KvError};

/// How old a mark must be before compaction works below it.
pub(crate) const TIDY_SETTLE_MS: u64 = 60_000;
/// Entries one step reads at most.
const WINDOW: u64 = 256;
/// Entries one step deletes at most.
const SWEEP: u64 = 1_024;
/// Readable slots tolerated beyond twice the live items before compaction starts.
pub(crate) const SLACK: u64 = 64;

impl Bounds {
    /// Whether the log has enough dead history, or garbage, to be worth a step.
    pub(crate) fn needs_tidy(&self) -> bool {
        self.too_long() || self.meta.swept < self.meta.mark_floor
    }

    /// Readers would read much more than the live items.
    fn too_long(&self) -> bool {
        self.count.saturating_sub(self.meta.floor) > 2 * self.live + SLACK
    }
}

impl<I: Item> SlotLog<I> {
    /// One bounded compaction step, if one is due and allowed; `is_live` tells which ids still
    /// have their record. `now` gives the time (taken after `bounds` was read). Returns whether
    /// it wrote anything.
    pub(crate) fn tidy<K: Kv>(
        &self,
        kv: &K,
        bounds: &Bounds,
        now: &dyn Fn() -> u64,
        is_live: impl Fn(&[I]) -> Result<Vec<bool>, KvError>,
    ) -> Result<bool, KvError> {
        let started = now();
        let meta = &bounds.meta;
        if !bounds.needs_tidy() || started < meta.mark_at + TIDY_SETTLE_MS {
            return Ok(false);
        }
        let mut next = meta.clone();
        // Garbage a mark old: entries under the old floor, turns of the meta before the old mark.
        let sweep_to = meta.mark_floor.min(meta.swept + SWEEP);
        let mut doomed: Vec<String> =
            (meta.swept + 1..=sweep_to).map(|k| keys::log_entry(&self.base, k).into()).collect();
        next.swept = sweep_to.max(meta.swept);
        // The bottom window, below the mark; a short log only has its garbage swept.
        let window_end = match bounds.too_long() {
            true => meta.mark_count.min(meta.floor + WINDOW).max(meta.floor),
            false => meta.floor,
        };
        let window = self.read(kv, meta.floor + 1..=window_end)?;
        let ids: Vec<I> = window.iter().map(|entry| entry.id.clone()).collect();
        let alive = is_live(&ids)?;
        let keep: Vec<Entry<I>> = window.into_iter().zip(alive).filter(|(_, live)| *live).map(|(e, _)| e).collect();
        next.floor = window_end;
        let renew = next.floor >= meta.mark_count && next.swept >= meta.mark_floor;
        if renew {
            doomed.extend(
                fence::turn_keys(&keys::log_meta(&self.base), meta.mark_turn).skip(2 * meta.turns_swept as usize),
            );
            next.turns_swept = meta.mark_turn;
            next.mark_count = bounds.count;
            next.mark_floor = next.floor;
            next.mark_at = started;
            next.mark_turn = meta.turn;
        }
        if next == *meta {
            return Ok(false);
        }
        let meta_key = keys::log_meta(&self.base);
        let Turn::Won(turn) = fence::take_turn(kv, &meta_key, meta.turn, started)? else { return Ok(false) };
        let mut entries = Vec::with_capacity(keep.len() + 1);
        if !keep.is_empty() {
            let last = kv.add_to(&keys::log_count(&self.base), keep.len() as i64)? as u64;
            let first = last + 1 - keep.len() as u64;
            entries.extend((first..).zip(&keep).map(|(slot, e)| self.entry(slot, &e.id, e.birth)));
            next.moved_top = last;
        }
        if now() > started + TURN_DEADLINE_MS {
            // Too slow: the turn may be skipped by now; the moved slots stay holes.
            return Ok(false);
        }
        if !doomed.is_empty() {
            kv.delete_many(&doomed)?;
        }
        next.turn = turn;
        entries.push(meta_key.entry(&next));
        kv.set_many(entries)?;
        Ok(true)
    }
}
