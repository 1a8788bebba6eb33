//! Per-state job lists, for listing newest first and for bulk replay: `list:{state}:n` hands out
//! entry numbers, and `list:{state}:{k}` = `{job id} {generation}`. An entry counts only while the
//! job is in that state and that generation, so stale entries are skipped, a page never shows a
//! job twice, and moved jobs simply drop out.
//!
//! - Finished jobs are filed by the sweep that first visits them after they end (at the lease
//!   timer), in the sweep's batched write, so the hot path pays nothing. The sweep that holds a
//!   bucket files its jobs once. A duplicate entry (from two sweeps overlapping on a bucket) is
//!   skipped by readers, who show a job once.
//! - `pending` entries are written with a retry's timer (the failure path only), or at accept
//!   for delayed jobs.
//! - Entries go when their job is deleted, at no extra commit. A filed entry rides in the job's
//!   slot at its retention's end (`engine/slot_writes.rs`). `pending` entries are noted in the
//!   record (`pending_entries`) and deleted with it.

use super::Hookah;
use crate::ids::JobId;
use crate::job::view::public_state;
use crate::job::JobRecord;
use crate::keys::{self, Entry, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use std::collections::{BTreeMap, HashSet};

/// States that have lists.
pub const LISTED_STATES: &[&str] = &["pending", "delivered", "dead", "gone", "cancelled"];
/// Entries one page reads at most, per job it may return.
const SCAN_FACTOR: u64 = 4;

/// Allocates entries for `(job id, generation)` in `state`'s list; returns them for the
/// caller's batched write, with their numbers in the order of `jobs`.
pub(crate) fn append<K: Kv>(kv: &K, state: &str, jobs: &[(&JobId, u32)]) -> Result<(Vec<Entry>, Vec<u64>), KvError> {
    if jobs.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let numbers: Vec<u64> = super::slot_log::reserve(kv, &keys::list_count(state), jobs.len())?.collect();
    let entries = numbers
        .iter()
        .zip(jobs)
        .map(|(&k, (id, generation))| keys::list_entry(state, k).entry(&entry(id, *generation)))
        .collect();
    Ok((entries, numbers))
}

/// Pending-list entries for jobs that begin to wait in their generation. Each record notes its
/// entry's number, so the job's deletion removes the entry with it.
pub(crate) fn append_pending<K: Kv>(kv: &K, jobs: &mut [&mut JobRecord]) -> Result<Vec<Entry>, KvError> {
    let (entries, numbers) = {
        let listed: Vec<(&JobId, u32)> = jobs.iter().map(|job| (&job.id, job.generation)).collect();
        append(kv, "pending", &listed)?
    };
    for (job, k) in jobs.iter_mut().zip(numbers) {
        job.note_pending_entry(k);
    }
    Ok(entries)
}

/// A list entry's place: its state's list and its number there.
pub(crate) type Listed = (&'static str, u64);

/// Entries for several states at once, one increment per state; answers each job's entry, in
/// the order of `jobs`.
pub(crate) fn append_grouped<K: Kv>(
    kv: &K,
    jobs: &[(&'static str, &JobId, u32)],
) -> Result<(Vec<Entry>, Vec<Listed>), KvError> {
    let mut by_state: BTreeMap<&'static str, Vec<(usize, &JobId, u32)>> = BTreeMap::new();
    for (i, &(state, id, generation)) in jobs.iter().enumerate() {
        by_state.entry(state).or_default().push((i, id, generation));
    }
    let mut entries = Vec::new();
    let mut numbers = vec![("", 0); jobs.len()];
    for (state, group) in by_state {
        let listed: Vec<(&JobId, u32)> = group.iter().map(|&(_, id, generation)| (id, generation)).collect();
        let (group_entries, group_numbers) = append(kv, state, &listed)?;
        entries.extend(group_entries);
        for ((i, _, _), k) in group.into_iter().zip(group_numbers) {
            numbers[i] = (state, k);
        }
    }
    Ok((entries, numbers))
}

fn entry(id: &JobId, generation: u32) -> Vec<u8> {
    format!("{id} {generation}").into_bytes()
}

fn parse_entry(bytes: &[u8]) -> Option<(JobId, u32)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (id, generation) = text.split_once(' ')?;
    Some((JobId::parse(id)?, generation.parse().ok()?))
}

/// One page of a list, newest first.
#[derive(Debug)]
pub struct Page {
    pub jobs: Vec<JobRecord>,
    /// Where the next page starts; `None` at the end of the list.
    pub next: Option<u64>,
    /// Entries read for this page (its cost).
    pub scanned: u64,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Reads up to `limit` jobs in `state` starting at entry `cursor` (newest when `None`),
    /// reading at most `SCAN_FACTOR × limit` entries; `keep` filters further.
    pub(crate) fn list_page(
        &self,
        state: &str,
        limit: usize,
        cursor: Option<u64>,
        keep: impl Fn(&JobRecord) -> bool,
    ) -> Result<Page, KvError> {
        let start = match cursor {
            Some(cursor) => cursor,
            None => self.kv.load(&keys::list_count(state))?,
        };
        let stop = start.saturating_sub(SCAN_FACTOR * limit as u64); // exclusive
        let ks: Vec<u64> = (stop + 1..=start).rev().collect();
        let entry_keys: Vec<_> = ks.iter().map(|&k| keys::list_entry(state, k)).collect();
        let entries: Vec<Option<(JobId, u32)>> =
            self.kv.load_many(&entry_keys)?.into_iter().map(|e| e.as_deref().and_then(parse_entry)).collect();
        let job_keys: Vec<_> = entries.iter().flatten().map(|(id, _)| keys::job(id)).collect();
        let mut records = self.kv.load_many(&job_keys)?.into_iter();
        let mut seen = HashSet::new();
        let mut page = Page { jobs: Vec::new(), next: None, scanned: 0 };
        for (&k, entry) in ks.iter().zip(&entries) {
            if page.jobs.len() == limit {
                page.next = Some(k);
                return Ok(page);
            }
            page.scanned += 1;
            let Some((id, generation)) = entry else { continue };
            let record = records.next().flatten();
            let Some(record) = record else { continue };
            let current = public_state(&record.state) == state && record.generation == *generation;
            if current && seen.insert(id.clone()) && keep(&record) {
                page.jobs.push(record);
            }
        }
        page.next = (stop > 0).then_some(stop);
        Ok(page)
    }
}
