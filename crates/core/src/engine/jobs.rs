//! The jobs service, `hookah.jobs()`: finding and listing jobs here; retry, cancel and bulk
//! replay in `replay.rs`; the receivers' delivery check in `verify.rs`. Reading a job and a list
//! page stay `Hookah`'s own (`load_job`, `lists.rs`), which accepting, sweeping and the stats
//! share; accepting a call stays `Hookah::accept` (`accept.rs`), the hot path.

use super::recent::RECENT_SLOTS;
use super::{Hookah, Page};
use crate::ids::JobId;
use crate::job::view::public_state;
use crate::job::JobRecord;
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use std::collections::HashSet;

/// Jobs: `hookah.jobs()`.
pub struct Jobs<'h, K, T>(pub(super) &'h Hookah<'h, K, T>);

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    pub fn jobs(&self) -> Jobs<'_, K, T> {
        Jobs(self)
    }
}

impl<K: Kv, T: Transport> Jobs<'_, K, T> {
    /// A job's record; `None` if absent or unreadable.
    pub fn find(&self, id: &JobId) -> Result<Option<JobRecord>, KvError> {
        self.0.load_job(id)
    }

    /// Up to `limit` jobs in `state`, newest first, from entry `cursor` (the newest when `None`).
    /// The first page of a finished state starts with the jobs that ended and are not filed yet
    /// (`recent.rs`), so a job shows as soon as its outcome is recorded.
    pub fn list(&self, state: &str, limit: usize, cursor: Option<u64>) -> Result<Page, KvError> {
        if cursor.is_some() || state == "pending" {
            return self.0.list_page(state, limit, cursor, |_| true);
        }
        let recent = self.0.recently_finished(self.0.clock.now_ms(), RECENT_SLOTS)?;
        let ids: Vec<JobId> =
            recent.jobs.iter().filter(|job| public_state(&job.state) == state).map(|job| job.id.clone()).collect();
        // The records as they are now: a job retried or deleted since drops out.
        let current = self.0.kv.load_many(&ids.iter().take(limit).map(keys::job).collect::<Vec<_>>())?;
        let fresh: Vec<JobRecord> =
            current.into_iter().flatten().filter(|job| public_state(&job.state) == state).collect();
        let scanned = recent.reads + fresh.len() as u64;
        if fresh.len() == limit {
            // The filed list follows on the next page, from its newest entry.
            let newest = self.0.kv.load(&keys::list_count(state))?;
            return Ok(Page { jobs: fresh, next: (newest > 0).then_some(newest), scanned });
        }
        let shown: HashSet<JobId> = fresh.iter().map(|job| job.id.clone()).collect();
        let mut page = self.0.list_page(state, limit - fresh.len(), None, |job| !shown.contains(&job.id))?;
        page.jobs.splice(0..0, fresh);
        page.scanned += scanned;
        Ok(page)
    }
}
