//! Room in a capped store. Fermyon Cloud caps a key-value store at 1,024 keys on its standard
//! plans, and a write past the cap fails. With `store_max_keys` set:
//!
//! - New work (a job, a published event, a subscription) is admitted only while the store,
//!   with every job held grown to its expected size, still has room for it grown too
//!   (`stats/room.rs`). Past that it is a `507 store_full`, checked before anything is written,
//!   so nothing is stored half-way; the jobs held keep being delivered, and retention's end
//!   frees their keys.
//! - Health and stats say when the store is near full.
//! - The count is a listing of every key (Spin's `list-keys`), one per admission: cheap at a cap
//!   of a few thousand keys, which is where a cap is set. Without a cap nothing is listed.
//! - Parallel admissions read the same listing, so a burst can overshoot the line by what it
//!   admits; the growth reserve absorbs that, and the store's own cap stays the last word.

use super::Hookah;
use crate::error::Error;
use crate::keys;
use crate::ports::{Kv, KvError, Transport};
use crate::stats::room::StoreRoom;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// The store's room, when it has a cap (`store_max_keys`); `None` without one.
    pub fn store_room(&self) -> Result<Option<StoreRoom>, KvError> {
        if self.config.store_max_keys == 0 {
            return Ok(None);
        }
        let listed = self.kv.list_keys()?;
        let jobs = listed.iter().filter(|key| keys::is_job_record(key)).count() as u64;
        Ok(Some(StoreRoom::of(listed.len() as u64, jobs, self.config.store_max_keys)))
    }

    /// Refuses new work counted as `jobs` jobs (a call, an event or a subscription is one; a
    /// batch is one per call) in a store too near its cap.
    pub(crate) fn ensure_room(&self, jobs: u64) -> Result<(), Error> {
        match self.store_room()? {
            Some(room) if !room.admits(jobs) => Err(Error::StoreFull(format!(
                "the key-value store holds {} of its {} keys (store_max_keys), {} once its {} jobs have run their \
                 course; new work waits until deliveries and retention free keys",
                room.keys, room.max_keys, room.projected_keys, room.jobs
            ))),
            _ => Ok(()),
        }
    }
}
