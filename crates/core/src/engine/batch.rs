//! Storing a batch (`POST /_hookah/v1/batch`) at a fraction of a commit a call, then making its
//! first attempts.
//!
//! # Storing
//!
//! The batch was validated whole (`request/batch.rs`); what is left to refuse (an unknown signing
//! key, an idempotency key taken by another call, a full store) is found before anything is
//! written, so a refused batch stores nothing. Then:
//!
//! 1. one slot reservation for all the new jobs (`timers::allocate_numbered`): one `increment` per
//!    timer bucket they fall in (jobs claimed now share the bucket of their leases' end), and one
//!    more for the `pending` list when some calls wait for a `delay`;
//! 2. one `set_many` of every record, body, slot and idempotency record: a `202` means all of
//!    the batch is stored, and a crash before it leaves at most spent slot numbers.
//!
//! A call with an `idempotency_key` costs what it costs a single call: a read of the key's record
//! and, when no job answers for it yet, an `increment` of its race counter (its own key, so they
//! cannot be grouped). Every key's record is read before any counter moves, so a key used for a
//! different call refuses the batch without blocking its other keys.
//!
//! A batch of N calls without idempotency keys, none delayed, costs two commits to store (one
//! bucket's `increment`, one `set_many`) instead of 2N.
//!
//! The room check of a capped store (`engine/room.rs`) is made once and counts the batch as one
//! job: as with a burst of parallel admissions, the growth reserve and the store's own cap absorb
//! the rest.
//!
//! # First attempts
//!
//! After the `202` the invocation attempts the batch's jobs, `sweep_concurrency` at once, and
//! records their outcomes in groups (`engine/outcome.rs`): each time it records, one `set_many`
//! for every attempt that has ended (plus, when some will be retried, one `increment` per retry
//! bucket and one for the `pending` list). An attempt starts only while it can end inside `request_budget` and its lease;
//! the others stay claimed and a sweep takes them over at their lease's end, through the timer
//! slot stored with them.

use super::accept::{idempotency_entry, idempotency_of};
use super::attempt::RECORD_MARGIN_MS;
use super::outcome::ready;
use super::{lists, timers, Accepted, Held, Hookah};
use crate::job::{JobRecord, State};
use crate::keys::{self, Entry};
use crate::ports::{Kv, KvError, Transport};
use crate::request::{BatchError, Submission};
use futures::stream::{FuturesUnordered, StreamExt};

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Stores a validated batch, all or nothing; answers each call's job in call order (the
    /// original one for an idempotent repeat).
    pub(crate) fn accept_batch(&self, calls: Vec<Submission>) -> Result<Vec<Accepted>, BatchError> {
        let now = self.clock.now_ms();
        for (index, call) in calls.iter().enumerate() {
            if let Some(key) = &call.control.signing_key {
                self.check_key_exists(key).map_err(|error| BatchError::at(index, error))?;
            }
        }
        self.ensure_room(calls.len() as u64)?;
        let mut records: Vec<JobRecord> = calls.iter().map(|call| self.record_of(call, now)).collect();
        // Read every key's record before any race counter moves.
        let mut originals: Vec<Option<JobRecord>> = vec![None; calls.len()];
        let mut keyed = Vec::new();
        for (index, (call, record)) in calls.iter().zip(&records).enumerate() {
            let Some(key) = &call.idempotency_key else { continue };
            let (key_hash, fingerprint) = idempotency_of(key, record);
            let original =
                self.idempotent_original(&key_hash, &fingerprint, now).map_err(|error| BatchError::at(index, error))?;
            match original {
                Some(original) => originals[index] = Some(original),
                None => keyed.push((index, key_hash, fingerprint)),
            }
        }
        let mut extra = Vec::with_capacity(keyed.len());
        for (index, key_hash, fingerprint) in keyed {
            // One `increment` per key, as for a single call.
            self.take_idempotency_key(&key_hash, now).map_err(|error| BatchError::at(index, error))?;
            extra.push(idempotency_entry(&mut records[index], key_hash, fingerprint, now));
        }
        let fresh: Vec<usize> = (0..calls.len()).filter(|&i| originals[i].is_none()).collect();
        let slots = self.store_batch(&mut records, &fresh, &calls, extra, now)?;
        let mut slots = slots.into_iter();
        let accepted = records
            .into_iter()
            .zip(originals)
            .map(|(record, original)| match original {
                Some(original) => Accepted { record: original, replayed: true, slot: None },
                None => Accepted { record, replayed: false, slot: slots.next().flatten() },
            })
            .collect();
        Ok(accepted)
    }

    /// Writes the jobs at `fresh` (indexes into `records` and `calls`) with their bodies, timer
    /// slots (or, for jobs that wait for their flow, queue entries and the flows' wake-ups),
    /// pending-list entries and `extra` in one `set_many`; answers their slot numbers.
    fn store_batch(
        &self,
        records: &mut [JobRecord],
        fresh: &[usize],
        calls: &[Submission],
        extra: Vec<Entry>,
        now: u64,
    ) -> Result<Vec<Option<u64>>, KvError> {
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let mut new: Vec<&mut JobRecord> =
            records.iter_mut().enumerate().filter(|(i, _)| fresh.contains(i)).map(|(_, record)| record).collect();
        let queued = self.queue_new_jobs(&mut new, now)?;
        let timed: Vec<usize> = fresh.iter().copied().filter(|&i| !records[i].waiting).collect();
        let wanted: Vec<(u64, &str)> = timed.iter().map(|&i| (records[i].timer, records[i].id.as_str())).collect();
        let (mut entries, numbers) = timers::allocate_numbered(self.kv, &self.config.region, &wanted)?;
        entries.extend(queued);
        let mut numbers = numbers.into_iter();
        let slots: Vec<Option<u64>> =
            fresh.iter().map(|&i| if records[i].waiting { None } else { numbers.next() }).collect();
        let mut waiting: Vec<&mut JobRecord> = records
            .iter_mut()
            .enumerate()
            .filter(|(i, record)| fresh.contains(i) && matches!(record.state, State::Pending { .. }))
            .map(|(_, record)| record)
            .collect();
        if !waiting.is_empty() {
            entries.extend(lists::append_pending(self.kv, &mut waiting)?);
        }
        for &i in fresh {
            entries.push(keys::job(&records[i].id).entry(&records[i]));
            if !calls[i].body.is_empty() {
                entries.push(keys::body(&records[i].id).entry(&calls[i].body));
            }
        }
        entries.extend(extra);
        self.kv.set_many(entries)?;
        Ok(slots)
    }

    /// The first attempts of a batch's jobs this invocation stored claimed, `sweep_concurrency`
    /// at once; an attempt starts only while it can end by `until_ms` and inside its lease.
    /// The outcomes are recorded in groups: whatever has ended whenever the invocation records.
    /// Answers the outcomes of the attempts made.
    pub(crate) async fn first_attempts(
        &self,
        jobs: Vec<(JobRecord, Held)>,
        until_ms: u64,
    ) -> Vec<Result<Option<JobRecord>, KvError>> {
        let mut queue = jobs.into_iter();
        let mut pool = FuturesUnordered::new();
        let mut ended = Vec::new();
        let mut outcomes = Vec::new();
        loop {
            while pool.len() < self.config.sweep_concurrency {
                let Some((record, held)) = queue.next() else { break };
                let now = self.clock.now_ms();
                // Left to the sweep, which takes the claim over at its lease's end.
                if now + record.timeout_ms + RECORD_MARGIN_MS > until_ms || !record.lease_fits_attempt(now) {
                    continue;
                }
                pool.push(self.make_first_attempt(record, held));
            }
            ended.extend(ready(&mut pool));
            outcomes.extend(self.record_ended(std::mem::take(&mut ended)));
            match pool.next().await {
                Some(attempt) => ended.push(attempt),
                None if queue.len() == 0 => break,
                None => {}
            }
        }
        outcomes
    }
}
