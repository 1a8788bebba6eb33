//! Storing a submission: one counter increment and one batched write before the 202.

use super::{timers, Hookah};
use crate::error::ApiError;
use crate::ids::{job_id, ID_RANDOM_BYTES};
use crate::job::{transition, JobRecord, State, RECORD_VERSION};
use crate::keys;
use crate::ports::{Kv, Transport};
use crate::request::Submission;

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Stores the job, its body and its timer slot in one commit. Without a delay the job is
    /// stored already claimed for its first attempt, which the caller makes after answering; the
    /// timer at the lease's end lets a sweep take over if that invocation dies.
    pub fn accept(&self, submission: Submission) -> Result<JobRecord, ApiError> {
        let now = self.clock.now_ms();
        let mut random = [0u8; ID_RANDOM_BYTES];
        self.entropy.fill(&mut random);
        let control = submission.control;
        if let Some(key) = &control.signing_key {
            self.check_key_exists(key)?;
        }
        let next_at = now + control.delay_ms;
        let mut record = JobRecord {
            v: RECORD_VERSION,
            id: job_id(&random),
            method: submission.method,
            url: submission.target.url(),
            headers: submission.headers,
            body_len: submission.body.len() as u64,
            created_at: now,
            max_attempts: control.max_attempts.unwrap_or_else(|| self.config.default_max_attempts()),
            timeout_ms: control.timeout_ms.unwrap_or(self.config.timeout_ms),
            state: State::Pending { next_at },
            timer: keys::timer_bucket(next_at, now),
            attempts: Vec::new(),
            body_sha256: crate::digest::sha256_hex(&submission.body),
            signing_key: control.signing_key,
        };
        if control.delay_ms == 0 {
            record = transition::claim(record, now);
        }
        let mut entries = timers::allocate(self.kv, &[(record.timer, &record.id)]).map_err(ApiError::storage)?;
        entries.push((keys::job(&record.id), record.to_bytes()));
        if !submission.body.is_empty() {
            entries.push((keys::body(&record.id), submission.body));
        }
        self.kv.set_many(entries).map_err(ApiError::storage)?;
        Ok(record)
    }
}
