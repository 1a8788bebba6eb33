//! The API's view of a job: public states, RFC 3339 times, no internals (timers, leases).

use super::{Attempt, AttemptDetail, AttemptError, JobRecord, State};
use serde_json::{json, Value};

/// The state a caller sees: an attempt in flight is still `pending`.
pub fn public_state(state: &State) -> &'static str {
    match state {
        State::Pending { .. } | State::InFlight { .. } => "pending",
        State::Delivered { .. } => "delivered",
        State::Gone { .. } => "gone",
        State::Dead { .. } => "dead",
        State::Cancelled { .. } => "cancelled",
    }
}

/// The 202 answer to a submission.
pub fn accepted(record: &JobRecord) -> Value {
    json!({ "id": record.id, "state": public_state(&record.state), "target": record.url })
}

/// `GET /_hookah/v1/jobs/{id}`.
pub fn job(record: &JobRecord) -> Value {
    let next_attempt_at = match record.state {
        State::Pending { next_at } => Some(rfc3339(next_at)),
        _ => None,
    };
    let attempts: Vec<Value> =
        record.attempts.iter().enumerate().map(|(i, entry)| attempt(i + 1, entry, None)).collect();
    json!({
        "id": record.id,
        "state": public_state(&record.state),
        "in_flight": matches!(record.state, State::InFlight { .. }),
        "method": record.method,
        "target": record.url,
        "created_at": rfc3339(record.created_at),
        "attempt_count": record.attempts.len(),
        "max_attempts": record.max_attempts,
        "next_attempt_at": next_attempt_at,
        "finished_at": record.state.finished_at().map(rfc3339),
        "attempts": attempts,
    })
}

/// One entry of `GET /_hookah/v1/jobs/{id}/attempts`.
pub fn attempt(n: usize, attempt: &Attempt, detail: Option<&AttemptDetail>) -> Value {
    let mut entry = json!({ "n": n, "at": rfc3339(attempt.at), "duration_ms": attempt.duration_ms });
    if let Some(status) = attempt.status {
        entry["status"] = json!(status);
    }
    if let Some(error) = attempt.error {
        entry["error"] = error_name(error);
    }
    if let Some(message) = &attempt.message {
        entry["message"] = json!(message);
    }
    if let Some(detail) = detail {
        entry["request_headers"] = json!(detail.request_headers);
        entry["response_headers"] = json!(detail.response_headers);
        entry["response_body"] = json!(detail.response_body);
        entry["response_body_encoding"] = json!(if detail.body_base64 { "base64" } else { "utf8" });
        entry["response_truncated"] = json!(detail.truncated);
    }
    entry
}

fn error_name(error: AttemptError) -> Value {
    match error {
        AttemptError::Transport(kind) => json!(kind),
        AttemptError::Abandoned => json!("abandoned"),
    }
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (civil-from-days, proleptic Gregorian).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }
}
