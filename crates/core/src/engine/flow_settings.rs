//! A flow's stored settings through the API (`api/flows.rs`): store or replace, read, list,
//! pause and resume, delete. `hookah.flows()` hands out `Flows`.
//!
//! - A flow's record (`flow:{hash}`, `flows/`) is replaced through fenced turns. Its key outlives
//!   it (a flow deleted may be stored again), so every turn is taken as
//!   `fence::update_reused_key` takes it: a writer that read a version before a deletion neither
//!   brings it back nor writes over the record stored since.
//! - The flows with stored settings are a slot log (`flows`, `keys::flow_log`). A flow joins it
//!   in the commit of its first record, as a channel does (`channel_list.rs`); a slot taken by a
//!   writer that then lost the turn is given back. A removed flow is counted out. Listing pages
//!   through it newest first and costs what it shows.
//! - Settings never touch the queue (`FlowRecord::queue`). Every write that leaves the flow
//!   unpaused carries a timer slot for it (`flow_wakeup`) in its commit, so a sweep soon releases
//!   what may go now: a resumed flow's waiting jobs, or more of them under a raised limit.
//! - Deleting a flow's settings keeps its record, with the defaults, unpaused and marked
//!   `deleted` (absent to the API), and wakes the flow: its steps let what waits go, and the step
//!   that finds the queue empty `DELETION_GRACE_MS` after the deletion removes the record
//!   ([`Hookah::forget_deleted_flow`]). A writer that read the settings just before the deletion
//!   and queued a job meanwhile has written long before, so no job is stranded. The queue's counter
//!   (`flow:{hash}:wait:n`) outlives the record: a flow stored again starts its queue where the
//!   counter stands, so no entry number means two jobs.

use super::fence::{self, Turn, Updated};
use super::flows::{FlowCounts, FlowName};
use super::hub::Removal;
use super::slot_log::{Bounds, Direction, SlotLog};
use super::Hookah;
use crate::error::Error;
use crate::flows::{check_flow_key, FlowQueue, FlowRecord, FlowSettings, MIN_PERIOD_MS, RECORD_VERSION};
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use crate::stats::FlowStat;
use std::cell::Cell;

/// Flows the statistics show at most: the first page of the list.
pub const MAX_FLOW_STATS: usize = 100;

fn flow_log() -> SlotLog<FlowName> {
    SlotLog::new(keys::flow_log())
}

/// A flow's stored settings, and how many of its jobs wait and are in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowState {
    pub record: FlowRecord,
    pub counts: FlowCounts,
}

/// What storing a flow's settings did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFlow {
    pub state: FlowState,
    /// No settings were stored for the key before (or they had been deleted).
    pub created: bool,
}

/// One page of flows, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPage {
    pub items: Vec<FlowState>,
    /// The slot the next page starts at.
    pub next_cursor: Option<u64>,
    /// Keys read to make it.
    pub reads: u64,
}

/// Flows' stored settings: `hookah.flows()`.
pub struct Flows<'h, K, T>(&'h Hookah<'h, K, T>);

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub fn flows(&self) -> Flows<'_, K, T> {
        Flows(self)
    }
}

fn not_found(key: &str) -> Error {
    Error::not_found(format!("no settings are stored for flow `{key}`"))
}

/// A record under the key's hash that names another key: two keys whose hashes agree.
fn collision(key: &str) -> Error {
    Error::conflict("flow_key_collision", format!("another flow key's settings are stored where `{key}`'s would go"))
}

impl<K: Kv, T: Transport> Flows<'_, K, T> {
    /// Stores `settings` as flow `key`'s, replacing any it had (its queue stays as it is).
    pub fn put(&self, key: &str, settings: FlowSettings) -> Result<StoredFlow, Error> {
        check_flow_key(key)?;
        let hookah = self.0;
        let now = || hookah.clock.now_ms();
        let log = flow_log();
        // The list slot the latest try took for a new record, and whether that try revived one.
        let (allocated, created) = (Cell::new(false), Cell::new(false));
        let blank = || FlowRecord {
            v: RECORD_VERSION,
            key: key.to_string(),
            settings: FlowSettings::default(),
            created_at: 0,
            updated_at: 0,
            queue: FlowQueue::default(),
            deleted: false,
            turn: 0,
            turn_mark: Default::default(),
        };
        let result = fence::update_reused_key(hookah.kv, &keys::flow(key), &now, Some(&blank), |current, started| {
            if current.key != key {
                return Err(collision(key));
            }
            if allocated.replace(false) {
                log.abandon(hookah.kv, 1)?;
            }
            // `blank` made it: no record is stored under the key.
            let fresh = current.turn == 0;
            let mut next = current.clone();
            let mut entries = Vec::new();
            if fresh {
                next.queue.released = hookah.kv.load(&keys::flow_wait_count(key))?;
                entries = log.append(hookah.kv, &[FlowName(key.to_string())], started)?.entries;
                allocated.set(true);
            }
            created.set(fresh || current.deleted);
            if created.get() {
                next.created_at = started;
            }
            next.settings = settings.clone();
            next.deleted = false;
            next.updated_at = started;
            if !next.settings.paused {
                entries.extend(hookah.flow_wakeup(key)?);
            }
            Ok(Some((next, entries)))
        });
        if !matches!(result, Ok(Updated::Changed(_))) && allocated.get() {
            log.abandon(hookah.kv, 1)?;
        }
        match result? {
            Updated::Changed(record) => Ok(StoredFlow { state: hookah.flow_state(record)?, created: created.get() }),
            Updated::Unchanged(_) | Updated::Missing | Updated::Busy => Err(Error::Busy),
        }
    }

    /// Flow `key`'s stored settings and counts.
    pub fn get(&self, key: &str) -> Result<FlowState, Error> {
        check_flow_key(key)?;
        let record = self.0.flow_record(key)?.filter(|record| !record.deleted).ok_or_else(|| not_found(key))?;
        Ok(self.0.flow_state(record)?)
    }

    /// Pauses or resumes flow `key`, leaving its other settings as they are. Resuming carries a
    /// timer slot for the flow, so a sweep soon releases its waiting jobs.
    pub fn set_paused(&self, key: &str, paused: bool) -> Result<FlowState, Error> {
        check_flow_key(key)?;
        let hookah = self.0;
        let now = || hookah.clock.now_ms();
        let result = fence::update_reused_key(hookah.kv, &keys::flow(key), &now, None, |current, started| {
            if current.key != key || current.deleted {
                return Err(not_found(key));
            }
            if current.settings.paused == paused {
                return Ok(None);
            }
            let mut next = current.clone();
            next.settings.paused = paused;
            next.updated_at = started;
            let entries = if paused { Vec::new() } else { hookah.flow_wakeup(key)? };
            Ok(Some((next, entries)))
        })?;
        match result {
            Updated::Changed(record) | Updated::Unchanged(record) => Ok(hookah.flow_state(record)?),
            Updated::Missing => Err(not_found(key)),
            Updated::Busy => Err(Error::Busy),
        }
    }

    /// Deletes flow `key`'s settings: its key goes back to the defaults. With jobs still waiting
    /// in its queue, the record stays (see the module doc) until they have gone.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        check_flow_key(key)?;
        let hookah = self.0;
        hookah.flow_record(key)?.filter(|record| !record.deleted).ok_or_else(|| not_found(key))?;
        let now = || hookah.clock.now_ms();
        let result = fence::update_reused_key(hookah.kv, &keys::flow(key), &now, None, |current, started| {
            if current.key != key || current.deleted {
                return Err(not_found(key));
            }
            let mut next = current.clone();
            next.settings = FlowSettings { period_ms: MIN_PERIOD_MS, ..FlowSettings::default() };
            next.deleted = true;
            next.updated_at = started;
            Ok(Some((next, hookah.flow_wakeup(key)?)))
        })?;
        match result {
            Updated::Changed(_) | Updated::Unchanged(_) => Ok(()),
            Updated::Missing => Err(not_found(key)),
            Updated::Busy => Err(Error::Busy),
        }
    }

    /// Up to `limit` flows from `cursor` (the newest when `None`), with their counts.
    pub fn list(&self, limit: usize, cursor: Option<u64>) -> Result<FlowPage, Error> {
        let bounds = flow_log().bounds(self.0.kv)?;
        let page = self.0.flow_page(&bounds, limit, cursor)?;
        self.0.tidy_flows(&bounds)?;
        Ok(page)
    }
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    fn flow_state(&self, record: FlowRecord) -> Result<FlowState, KvError> {
        Ok(FlowState { counts: self.flow_counts(&record)?, record })
    }

    /// A page of the list of flows; it writes nothing.
    fn flow_page(&self, bounds: &Bounds, limit: usize, cursor: Option<u64>) -> Result<FlowPage, KvError> {
        let page = flow_log().page(self.kv, bounds, Direction::NewestFirst, cursor, limit, |names| {
            Ok(self.load_flows(names)?.into_iter().map(|record| record.filter(|record| !record.deleted)).collect())
        })?;
        // The log's three counters, and for each flow its queue counter and two flight counters.
        let reads = 3 + page.reads + 3 * page.items.len() as u64;
        let items = page.items.into_iter().map(|(_, record)| self.flow_state(record)).collect::<Result<_, _>>()?;
        Ok(FlowPage { items, next_cursor: page.next, reads })
    }

    /// The records of `names`, in order (a deleted one that still drains its queue included).
    fn load_flows(&self, names: &[FlowName]) -> Result<Vec<Option<FlowRecord>>, KvError> {
        let records = self.kv.load_many(&names.iter().map(|name| keys::flow(&name.0)).collect::<Vec<_>>())?;
        Ok(records.into_iter().zip(names).map(|(record, name)| record.filter(|record| record.key == name.0)).collect())
    }

    /// A compaction step of the list of flows when it carries much dead history.
    fn tidy_flows(&self, bounds: &Bounds) -> Result<(), KvError> {
        if !bounds.needs_tidy() {
            return Ok(());
        }
        let now = || self.clock.now_ms();
        let is_live = |names: &[FlowName]| Ok(self.load_flows(names)?.iter().map(Option::is_some).collect());
        flow_log().tidy(self.kv, bounds, &now, is_live)?;
        Ok(())
    }

    /// Removes `record`, read at `read_at`, with its turn keys, and counts it out of the list
    /// of flows.
    fn remove_flow(&self, record: &FlowRecord, read_at: u64) -> Result<Removal, KvError> {
        let key = keys::flow(&record.key);
        let turn = match fence::take_turn_of_version(self.kv, &key, record, read_at)? {
            Turn::Won(turn) => turn,
            Turn::Gone => return Ok(Removal::Absent),
            Turn::Busy => return Ok(Removal::Busy),
        };
        let mut doomed: Vec<String> = fence::turn_keys_of(&key, record, turn).collect();
        doomed.push(key.into());
        self.kv.delete_many(&doomed)?;
        let log = flow_log();
        log.removed(self.kv, 1)?;
        self.tidy_flows(&log.bounds(self.kv)?)?;
        Ok(Removal::Removed)
    }

    /// The end of a deletion that found jobs waiting: removes flow `key`'s deleted record once
    /// its queue has drained (`Busy` while jobs still wait, `Absent` for a record not deleted).
    pub(crate) fn forget_deleted_flow(&self, key: &str) -> Result<Removal, KvError> {
        let read_at = self.clock.now_ms();
        let Some(record) = self.flow_record(key)?.filter(|record| record.deleted) else {
            return Ok(Removal::Absent);
        };
        if self.flow_counts(&record)?.waiting > 0 {
            return Ok(Removal::Busy);
        }
        self.remove_flow(&record, read_at)
    }

    /// The flows with stored settings that the statistics show (the first page of the list),
    /// and the keys read for them. It writes nothing.
    pub(crate) fn flow_stats(&self) -> Result<(Vec<FlowStat>, u64), KvError> {
        let page = self.flow_page(&flow_log().bounds(self.kv)?, MAX_FLOW_STATS, None)?;
        let flows = page
            .items
            .into_iter()
            .map(|FlowState { record, counts }| FlowStat {
                key: record.key,
                paused: record.settings.paused,
                ordered: record.settings.ordered,
                waiting: counts.waiting,
                in_flight: counts.in_flight,
            })
            .collect();
        Ok((flows, page.reads))
    }
}
