//! The receivers' verification endpoint (PayPal IPN style): "did Hookah really send this body
//! under this id?" It answers VERIFIED or INVALID and nothing else; an unknown id and a wrong body
//! look the same.

use super::Jobs;
use crate::digest::sha256_hex;
use crate::ids::JobId;
use crate::job::JobRecord;
use crate::ports::{Kv, KvError, Transport};
use subtle::ConstantTimeEq;

impl<K: Kv, T: Transport> Jobs<'_, K, T> {
    /// `body_sha256` is the receiver's hex digest of the body it got; `receiver`, when given, is
    /// the URL (or a prefix of it) the receiver was called at.
    pub fn verify_delivery(
        &self,
        webhook_id: &str,
        body_sha256: &str,
        receiver: Option<&str>,
    ) -> Result<bool, KvError> {
        let record = match JobId::parse(webhook_id) {
            Some(id) => self.0.load_job(&id)?,
            None => None,
        };
        let record = record.filter(|job| receiver.is_none_or(|url| job.url.starts_with(url)));
        let now = self.0.clock.now_ms();
        let (expected, live) = match &record {
            Some(record) => (record.body_sha256.as_str(), self.sent_and_retained(record, now)),
            // Compare against something all the same, so the answer takes as long.
            None => ("0000000000000000000000000000000000000000000000000000000000000000", false),
        };
        let presented = body_sha256.trim().to_ascii_lowercase();
        let matches = bool::from(presented.as_bytes().ct_eq(expected.as_bytes()));
        Ok(matches && live && !expected.is_empty())
    }

    fn sent_and_retained(&self, record: &JobRecord, now: u64) -> bool {
        let sent = !record.attempts.is_empty();
        let retained = record.state.finished_at().is_none_or(|at| at + self.0.config.retention_ms > now);
        sent && retained
    }
}

/// The digest of a body posted to the endpoint.
pub fn digest_of(body: &[u8]) -> String {
    sha256_hex(body)
}
