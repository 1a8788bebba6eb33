//! The job state machine as pure functions: what a timer firing means, and what an attempt's
//! result does to the record. Adapters carry the decisions out.

use super::{lease_ms, Attempt, AttemptDetail, AttemptError, JobRecord, State, DELETION_GRACE_MS};
use crate::config::Config;
use crate::delivery::{classify, schedule, AttemptResult, Class};
use crate::keys::{bucket_of, timer_bucket};

/// What to do about a timer slot in bucket `slot_bucket`, found by a sweep at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerAction {
    /// A stale or duplicate slot: the record's timer is elsewhere.
    Skip,
    /// Attempt now: store `record` (in flight, with its new timer) and deliver.
    Claim(Box<JobRecord>),
    /// Not due yet: look again at `bucket` (a new slot; the record stays as it is).
    Reschedule { bucket: u64 },
    /// Finished; keep it until its retention ends (and the deletion grace after it): a new slot
    /// in `bucket`, record unchanged.
    KeepUntil { bucket: u64 },
    /// Finished, past retention and its grace: delete the record and body.
    Delete,
}

/// Decides what a timer means for `record`. A slot counts for an unfinished job when it is at
/// or after the record's own timer: writers that could not change the record (it was another
/// writer's turn) leave such slots so the job is looked at again. Earlier slots are stale.
pub fn on_timer(record: &JobRecord, slot_bucket: u64, now: u64, config: &Config) -> TimerAction {
    if let Some(expires) = record.retention_end(config.retention_ms) {
        let delete_at = expires.saturating_add(DELETION_GRACE_MS);
        return if delete_at <= now {
            TimerAction::Delete
        } else if expires <= now {
            // Past retention, inside the grace (a slot written for the retention's end itself).
            TimerAction::Reschedule { bucket: timer_bucket(delete_at, now) }
        } else if slot_bucket == record.timer {
            TimerAction::KeepUntil { bucket: timer_bucket(delete_at, now) }
        } else {
            TimerAction::Skip
        };
    }
    // A job waiting for its flow goes when the flow's step releases it, not by its timer.
    if slot_bucket < record.timer || record.waiting {
        return TimerAction::Skip;
    }
    match record.state {
        State::Pending { next_at } if next_at > now => TimerAction::Reschedule { bucket: timer_bucket(next_at, now) },
        State::InFlight { lease_until, .. } if lease_until > now => {
            TimerAction::Reschedule { bucket: timer_bucket(lease_until, now) }
        }
        State::InFlight { lease_until, .. } => {
            let mut abandoned = record.clone();
            abandoned.attempts.push(Attempt {
                at: lease_until,
                duration_ms: 0,
                status: None,
                error: Some(AttemptError::Abandoned),
                message: Some("the attempt's lease expired before it reported".into()),
            });
            TimerAction::Claim(Box::new(claim(abandoned, now)))
        }
        _ => TimerAction::Claim(Box::new(claim(record.clone(), now))),
    }
}

/// Takes the job for its next attempt: in flight until the lease ends, timer at the lease's end.
pub fn claim(mut record: JobRecord, now: u64) -> JobRecord {
    let lease_until = now + lease_ms(record.timeout_ms);
    // A sweep that takes a per-target place for the claim notes it after this.
    record.target_place = None;
    record.state = State::InFlight { claim: record.attempts.len() as u32 + 1, lease_until };
    record.timer = timer_bucket(lease_until, now);
    record
}

/// Where the job goes after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    Gone,
    Retry {
        at: u64,
    },
    Dead,
    /// The job was cancelled while the attempt was in flight.
    Cancelled,
}

/// Decides the next state after attempt number `attempts_made` ended with `result`.
pub fn decide(record: &JobRecord, result: &AttemptResult, now: u64, config: &Config, random: u32) -> Decision {
    match classify(result) {
        Class::Delivered => Decision::Delivered,
        Class::Gone => Decision::Gone,
        Class::Retryable { retry_after } => {
            // Only this generation's attempts count against the budget: a replay starts afresh.
            let attempts_made = record.attempts.len().saturating_sub(record.series_start) as u32 + 1;
            match schedule::next_attempt_at(
                config,
                attempts_made,
                record.max_attempts,
                now,
                retry_after.as_deref(),
                random,
            ) {
                Some(at) => Decision::Retry { at },
                None => Decision::Dead,
            }
        }
    }
}

/// Applies an attempt and its decision to the record that claimed it. `retry_timer` is the bucket
/// of the slot already written for a retry. `None` when the record is no longer this claim's.
pub fn complete(
    record: &JobRecord,
    claim: u32,
    attempt: Attempt,
    detail: Option<AttemptDetail>,
    decision: &Decision,
    retry_timer: Option<u64>,
) -> Option<JobRecord> {
    if !matches!(record.state, State::InFlight { claim: c, .. } if c == claim) {
        return None;
    }
    let mut next = record.clone();
    // The attempt's per-target place is given back by the attempt itself.
    next.target_place = None;
    let at = attempt.at + attempt.duration_ms;
    next.attempts.push(attempt);
    next.last_detail = detail;
    next.state = match *decision {
        Decision::Delivered => State::Delivered { at },
        Decision::Gone => State::Gone { at },
        Decision::Dead => State::Dead { at },
        Decision::Cancelled => State::Cancelled { at },
        Decision::Retry { at: next_at } => {
            next.timer = retry_timer.unwrap_or_else(|| bucket_of(next_at));
            State::Pending { next_at }
        }
    };
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::TransportError;

    const NOW: u64 = 1_700_000_000_000;

    fn record(state: State, timer: u64) -> JobRecord {
        JobRecord {
            method: "POST".into(),
            url: "http://example.com/".into(),
            headers: vec![],
            body_len: 0,
            created_at: NOW - 60_000,
            max_attempts: 3,
            timeout_ms: 15_000,
            state,
            timer,
            attempts: vec![],
            ..JobRecord::new(crate::ids::JobId::from_random(&[1; 16]))
        }
    }

    fn attempt(status: Option<u16>) -> Attempt {
        Attempt { at: NOW, duration_ms: 10, status, error: None, message: None }
    }

    #[test]
    fn timers() {
        let config = Config::default();
        let b = bucket_of(NOW) - 1;
        let lease_bucket = timer_bucket(NOW + lease_ms(15_000), NOW);
        // Due: claimed, with the timer moved to the end of the lease.
        let action = on_timer(&record(State::Pending { next_at: NOW - 5 }, b), b, NOW, &config);
        let TimerAction::Claim(claimed) = action else { panic!("{action:?}") };
        assert_eq!(claimed.state, State::InFlight { claim: 1, lease_until: NOW + 60_000 });
        assert_eq!(claimed.timer, lease_bucket);
        // A slot before the record's timer is stale; one after it still counts.
        assert_eq!(on_timer(&record(State::Pending { next_at: NOW - 5 }, b + 7), b, NOW, &config), TimerAction::Skip);
        assert!(matches!(
            on_timer(&record(State::Pending { next_at: NOW - 5 }, b - 7), b, NOW, &config),
            TimerAction::Claim(_)
        ));
        // Not yet due: looked at again when it is.
        let action = on_timer(&record(State::Pending { next_at: NOW + 10_000 }, b), b, NOW, &config);
        assert_eq!(action, TimerAction::Reschedule { bucket: bucket_of(NOW + 10_000) });
        // Lease expired: an abandoned attempt is logged and the job is claimed again.
        let action = on_timer(&record(State::InFlight { claim: 1, lease_until: NOW - 1 }, b), b, NOW, &config);
        let TimerAction::Claim(claimed) = action else { panic!("{action:?}") };
        assert_eq!(claimed.attempts[0].error, Some(AttemptError::Abandoned));
        assert!(matches!(claimed.state, State::InFlight { claim: 2, .. }));
    }

    #[test]
    fn finished_timers() {
        let config = Config::default();
        let b = bucket_of(NOW) - 1;
        let delivered = record(State::Delivered { at: NOW - 1_000 }, b);
        let keep = on_timer(&delivered, b, NOW, &config);
        let delete_at = NOW - 1_000 + config.retention_ms + DELETION_GRACE_MS;
        assert_eq!(keep, TimerAction::KeepUntil { bucket: bucket_of(delete_at) });
        assert_eq!(on_timer(&delivered, b - 3, NOW, &config), TimerAction::Skip);
        // Past retention, any slot (one written for the retention's end itself) waits out the
        // grace; after it, any slot deletes.
        let ended = record(State::Dead { at: NOW - config.retention_ms }, b - 3);
        let grace_end = NOW + DELETION_GRACE_MS;
        assert_eq!(on_timer(&ended, b, NOW, &config), TimerAction::Reschedule { bucket: bucket_of(grace_end) });
        assert_eq!(on_timer(&ended, b, grace_end, &config), TimerAction::Delete);
    }

    #[test]
    fn decisions() {
        let config = Config::default();
        let job = record(State::InFlight { claim: 1, lease_until: NOW + 1 }, 0);
        let check = |result: AttemptResult, expected: Decision| {
            assert_eq!(decide(&job, &result, NOW, &config, 200_000), expected, "{result:?}");
        };
        check(AttemptResult::Response { status: 204, retry_after: None }, Decision::Delivered);
        check(AttemptResult::Response { status: 410, retry_after: None }, Decision::Gone);
        check(AttemptResult::Response { status: 500, retry_after: None }, Decision::Retry { at: NOW + 5_000 });
        check(
            AttemptResult::Response { status: 503, retry_after: Some("60".into()) },
            Decision::Retry { at: NOW + 60_000 },
        );
        let timeout = AttemptResult::Failed { error: TransportError::Timeout, message: "t".into() };
        check(timeout.clone(), Decision::Retry { at: NOW + 5_000 });
        let mut last = job.clone();
        last.attempts = vec![attempt(Some(500)), attempt(Some(500))];
        assert_eq!(decide(&last, &timeout, NOW, &config, 0), Decision::Dead);
    }

    #[test]
    fn completion_checks_the_claim() {
        let job = record(State::InFlight { claim: 1, lease_until: NOW + 1 }, 0);
        assert_eq!(complete(&job, 2, attempt(Some(200)), None, &Decision::Delivered, None), None);
        let done = complete(&job, 1, attempt(Some(200)), None, &Decision::Delivered, None).unwrap();
        assert_eq!(done.state, State::Delivered { at: NOW + 10 });
        let retry =
            complete(&job, 1, attempt(Some(500)), None, &Decision::Retry { at: NOW + 5_000 }, Some(77)).unwrap();
        assert_eq!((retry.state, retry.timer), (State::Pending { next_at: NOW + 5_000 }, 77));
    }
}
