//! Per-state job lists, for listing newest first and for bulk replay. An entry names a job and
//! the generation it was written for; it counts only while the job is in that state and that
//! generation, so a page never shows a job twice and moved jobs simply drop out.

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
/// caller's batched write.
pub(crate) fn append<K: Kv>(kv: &K, state: &str, jobs: &[(&JobId, u32)]) -> Result<Vec<Entry>, KvError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    Ok(super::slot_log::reserve(kv, &keys::list_count(state), jobs.len())?
        .zip(jobs)
        .map(|(k, (id, generation))| keys::list_entry(state, k).entry(&entry(id, *generation)))
        .collect())
}

/// Entries for several states at once, one increment per state.
pub(crate) fn append_grouped<K: Kv>(kv: &K, jobs: &[(&'static str, &JobId, u32)]) -> Result<Vec<Entry>, KvError> {
    let mut by_state: BTreeMap<&str, Vec<(&JobId, u32)>> = BTreeMap::new();
    for &(state, id, generation) in jobs {
        by_state.entry(state).or_default().push((id, generation));
    }
    let mut entries = Vec::new();
    for (state, jobs) in by_state {
        entries.extend(append(kv, state, &jobs)?);
    }
    Ok(entries)
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
