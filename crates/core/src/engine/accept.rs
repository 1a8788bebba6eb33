//! Storing a submission: one counter increment and one batched write before the 202. The record,
//! body and timer slot are committed together (one `set_many`), so a `202` means stored.
//!
//! # The commit budget
//!
//! On SQLite every `set`, `delete` and `increment` is a commit of its own; a batch write is one.
//! A delivered job costs three:
//!
//! 1. the timer slot's `increment`;
//! 2. one `set_many` (record, body, slot) before the 202;
//! 3. the outcome's write by the claim's holder (`engine/attempt.rs`): one `set_many` of the
//!    record and the finished record's copy in the job's timer slot, a retry's slot or the
//!    previous attempt's detail.
//!
//! The accept reads the flow key's settings (`engine/flows/`: a key with settings gets its jobs
//! through its queue instead); the attempt reads the default signing key's name. The body and the
//! record it still holds, since nobody else may change the record while its lease lasts, and a
//! delivered outcome needs no cancel flag. On Redis, where every read is a round trip, a delivered
//! job costs five calls (three writes, two reads), and filing it later one read of its slot.
//!
//! Filing, retention and bucket clean-up happen in sweeps, batched per bucket, off the request
//! path (`engine/sweep/`). A sweep's claim costs one `increment` (the turn) and a share of the
//! sweep's one `set_many`; a deletion a share of one `delete_many` (no turn). With a
//! `target_concurrency`, taking and giving back the target place adds two `increment`s, and
//! `target_rate` one more (`engine/targets.rs`). Retries, callbacks, idempotency keys and delays
//! add commits only for the jobs that use them.
//!
//! # Idempotency
//!
//! `idem:{hash}` points at the job. Each contender increments `idem:{hash}:n:{minute}`, and only
//! the one that reads 1 creates, in the same batch as the job. The key answers with its job for
//! `IDEMPOTENCY_TTL_MS` (24 h); a different submission under it is a 422, and one still being
//! stored a 409.

use super::{lists, timers, Hookah};
use crate::digest::sha256_hex;
use crate::error::Error;
use crate::flows::FlowRecord;
use crate::ids::{JobId, ID_RANDOM_BYTES};
use crate::job::{transition, Callback, JobRecord, State, RECORD_VERSION};
use crate::keys::{self, Entry, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use crate::request::Submission;
use serde::{Deserialize, Serialize};

/// How long an `Idempotency-Key` keeps answering with its job.
pub const IDEMPOTENCY_TTL_MS: u64 = 24 * 3_600_000;

/// A stored submission; `replayed` when an `Idempotency-Key` matched an earlier one.
#[derive(Debug)]
pub struct Accepted {
    pub record: JobRecord,
    pub replayed: bool,
    /// The number of the timer slot stored with the job (in the bucket `record.timer`).
    pub slot: Option<u64>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct IdempotencyRecord {
    pub(crate) job: JobId,
    fingerprint: String,
    created_at: u64,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Stores the job, its body and its timer slot in one commit. Without a delay the job is
    /// stored already claimed for its first attempt, which the caller makes after answering; the
    /// timer at the lease's end lets a sweep take over if that invocation dies.
    pub(crate) fn accept(&self, submission: Submission) -> Result<Accepted, Error> {
        let now = self.clock.now_ms();
        if let Some(key) = &submission.control.signing_key {
            self.check_key_exists(key)?;
        }
        self.ensure_room(1)?;
        let mut record = self.record_of(&submission, now);
        let flow = self.flow_settings(&record.flow_key())?;
        if let Some(flow) = &flow {
            if submission.control.sync {
                let message =
                    "this job's flow key has stored settings: its attempts go at the flow's pace, never inline";
                return Err(Error::conflict("flow_controlled", message));
            }
            waits_for_flow(&mut record, flow, now);
        }
        let mut extra = Vec::new();
        if let Some(key) = &submission.idempotency_key {
            let (key_hash, fingerprint) = idempotency_of(key, &record);
            if let Some(original) = self.idempotent_original(&key_hash, &fingerprint, now)? {
                return Ok(Accepted { record: original, replayed: true, slot: None });
            }
            self.take_idempotency_key(&key_hash, now)?;
            extra.push(idempotency_entry(&mut record, key_hash, fingerprint, now));
        }
        if let Some(flow) = flow.filter(|_| record.waiting) {
            extra.extend(self.enqueue(&flow.key, &[&record.id])?);
            extra.extend(self.flow_wakeup_for(&flow)?);
            self.store_waiting(&record, submission.body, extra)?;
            return Ok(Accepted { record, replayed: false, slot: None });
        }
        let slot = self.store_with_slot(&record, submission.body, extra)?;
        Ok(Accepted { record, replayed: false, slot: Some(slot) })
    }

    /// The record a submission makes, not yet stored: claimed for its first attempt unless it
    /// waits for a delay.
    pub(crate) fn record_of(&self, submission: &Submission, now: u64) -> JobRecord {
        let control = &submission.control;
        let mut record = self.new_record(&submission.method, submission.target.url(), submission.headers.clone(), now);
        record.body_len = submission.body.len() as u64;
        record.body_sha256 = sha256_hex(&submission.body);
        record.max_attempts = control.max_attempts.unwrap_or_else(|| self.config.default_max_attempts());
        record.max_attempts_asked = control.max_attempts.is_some();
        record.flow = control.flow_key.clone();
        record.timeout_ms = control.timeout_ms.unwrap_or(self.config.timeout_ms);
        record.signing_key = control.signing_key.clone();
        record.callback = control.callback.clone().map(|url| Callback { url, attempts: control.callback_attempts });
        let next_at = now + control.delay_ms;
        record.state = State::Pending { next_at };
        record.timer = keys::timer_bucket(next_at, now);
        if control.delay_ms == 0 {
            record = transition::claim(record, now);
        }
        record
    }

    /// A fresh record for a call to `url`, pending now, with the configured defaults.
    pub(crate) fn new_record(&self, method: &str, url: String, headers: Vec<(String, String)>, now: u64) -> JobRecord {
        let mut random = [0u8; ID_RANDOM_BYTES];
        self.entropy.fill(&mut random);
        JobRecord {
            v: RECORD_VERSION,
            method: method.to_string(),
            url,
            headers,
            created_at: now,
            max_attempts: self.config.default_max_attempts(),
            timeout_ms: self.config.timeout_ms,
            state: State::Pending { next_at: now },
            timer: keys::timer_bucket(now, now),
            body_sha256: sha256_hex(b""),
            ..JobRecord::new(JobId::from_random(&random))
        }
    }

    /// Writes a new job in one commit: record, body, timer slot, a pending-list entry when it
    /// waits (a job in its first attempt is listed once that attempt ends), and `extra`.
    pub(crate) fn store(&self, record: &JobRecord, body: Vec<u8>, extra: Vec<Entry>) -> Result<(), KvError> {
        self.store_with_slot(record, body, extra).map(|_| ())
    }

    /// Writes a new job that waits in its flow's queue (no timer slot: the flow releases it),
    /// with `extra` (its queue entry, its flow's wake-up) in one commit.
    fn store_waiting(&self, record: &JobRecord, body: Vec<u8>, extra: Vec<Entry>) -> Result<(), KvError> {
        let mut record = record.clone();
        let mut entries = lists::append_pending(self.kv, &mut [&mut record])?;
        entries.push(keys::job(&record.id).entry(&record));
        if !body.is_empty() {
            entries.push(keys::body(&record.id).entry(&body));
        }
        entries.extend(extra);
        self.kv.set_many(entries)
    }

    /// [`Self::store`], answering the number of the job's timer slot.
    pub(crate) fn store_with_slot(&self, record: &JobRecord, body: Vec<u8>, extra: Vec<Entry>) -> Result<u64, KvError> {
        let (mut entries, slot) = timers::allocate_one(self.kv, &self.config.region, record.timer, record.id.as_str())?;
        let mut record = record.clone();
        if matches!(record.state, State::Pending { .. }) {
            entries.extend(lists::append_pending(self.kv, &mut [&mut record])?);
        }
        entries.push(keys::job(&record.id).entry(&record));
        if !body.is_empty() {
            entries.push(keys::body(&record.id).entry(&body));
        }
        entries.extend(extra);
        self.kv.set_many(entries)?;
        Ok(slot)
    }

    /// The job an earlier submission with this key created, if it is still answering for it.
    /// A different submission under the key is a 422; one whose job is gone a 409.
    pub(crate) fn idempotent_original(
        &self,
        key_hash: &str,
        fingerprint: &str,
        now: u64,
    ) -> Result<Option<JobRecord>, Error> {
        let existing = self.kv.load(&keys::idempotency(key_hash))?;
        let Some(existing) = existing.filter(|e| e.created_at + IDEMPOTENCY_TTL_MS > now) else { return Ok(None) };
        if existing.fingerprint != fingerprint {
            return Err(Error::refused(
                "idempotency_mismatch",
                "this Idempotency-Key was used for a different method, target or body",
            ));
        }
        match self.load_job(&existing.job)? {
            Some(original) => Ok(Some(original)),
            None => Err(Error::conflict("idempotency_conflict", "the original job is gone")),
        }
    }

    /// Takes a key no job answers for: first come, first served, only the first increment in
    /// this window may create; one still being stored is a 409.
    pub(crate) fn take_idempotency_key(&self, key_hash: &str, now: u64) -> Result<(), Error> {
        let window = now / keys::IDEMPOTENCY_WINDOW_MS;
        let previous_window = self.kv.load(&keys::idempotency_race(key_hash, window.saturating_sub(1)));
        let first = self.kv.add_to(&keys::idempotency_race(key_hash, window), 1)? == 1;
        // Only ever incremented by one: present means above zero.
        if !first || previous_window? > 0 {
            return Err(Error::conflict(
                "idempotency_conflict",
                "a request with this Idempotency-Key is being processed; retry shortly",
            ));
        }
        Ok(())
    }
}

/// A new job of a flow with settings is not claimed at accept: the flow's steps release it. It
/// waits in the flow's queue from now when it is due now, and always in an ordered flow (whose
/// order is the order of acceptance); a delayed job of another flow joins the queue when its
/// timer comes due.
pub(crate) fn waits_for_flow(record: &mut JobRecord, flow: &FlowRecord, now: u64) {
    let next_at = match record.state {
        State::Pending { next_at } => next_at,
        _ => now,
    };
    record.state = State::Pending { next_at };
    record.timer = keys::timer_bucket(next_at, now);
    record.waiting = flow.settings.ordered || next_at <= now;
}

/// The key's hash and the call's fingerprint (method, target, body): what an idempotency record
/// is kept under and what a repeat must match.
pub(crate) fn idempotency_of(key: &str, record: &JobRecord) -> (String, String) {
    let fingerprint = sha256_hex(format!("{}\n{}\n{}", record.method, record.url, record.body_sha256).as_bytes());
    (sha256_hex(key.as_bytes()), fingerprint)
}

/// The idempotency record pointing at `record`, to store with it; notes the key on the record.
pub(crate) fn idempotency_entry(record: &mut JobRecord, key_hash: String, fingerprint: String, now: u64) -> Entry {
    let idem = IdempotencyRecord { job: record.id.clone(), fingerprint, created_at: now };
    let entry = keys::idempotency(&key_hash).entry(&idem);
    record.idempotency_key = Some(key_hash);
    entry
}
