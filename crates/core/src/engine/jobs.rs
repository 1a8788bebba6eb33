//! The jobs service, `hookah.jobs()`: finding and listing jobs here; retry, cancel and bulk
//! replay in `replay.rs`; the receivers' delivery check in `verify.rs`. Reading a job and a list
//! page stay `Hookah`'s own (`load_job`, `lists.rs`), which accepting, sweeping and the stats
//! share; accepting a call stays `Hookah::accept` (`accept.rs`), the hot path.

use super::{Hookah, Page};
use crate::ids::JobId;
use crate::job::JobRecord;
use crate::ports::{Kv, KvError, Transport};

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
    pub fn list(&self, state: &str, limit: usize, cursor: Option<u64>) -> Result<Page, KvError> {
        self.0.list_page(state, limit, cursor, |_| true)
    }
}
