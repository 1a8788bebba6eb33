//! The API's JSON bodies, built from the core's records and results: public states, RFC 3339
//! times, no internals (timers, leases, turns, secrets except where one is shown once).

use crate::channels::record::{ChannelRecord, EventRecord, SubscriptionRecord};
use crate::duration::format_duration_ms;
use crate::engine::{
    ChannelPage, FlowPage, FlowState, HubDone, KeyState, NewSubscription, NewToken, RotatedSubscription,
    SubscriptionPage,
};
use crate::job::view::{public_state, rfc3339};
use crate::job::{Attempt, AttemptDetail, AttemptError, JobRecord, State};
use crate::stats::latency;
use crate::stats::record::MINUTE_MS;
use crate::stats::Snapshot;
use serde_json::{json, Value};

/// The 202 answer to a submission.
pub(super) fn accepted(record: &JobRecord) -> Value {
    json!({ "id": record.id, "state": public_state(&record.state), "target": record.url })
}

/// `GET /_hookah/v1/jobs/{id}`.
pub(super) fn job(record: &JobRecord) -> Value {
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
        "flow_key": record.flow_key(),
        "next_attempt_at": next_attempt_at,
        "finished_at": record.state.finished_at().map(rfc3339),
        "attempts": attempts,
    })
}

/// One entry of `GET /_hookah/v1/jobs/{id}/attempts`.
pub(super) fn attempt(n: usize, attempt: &Attempt, detail: Option<&AttemptDetail>) -> Value {
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

/// A signing key: everything but the secrets.
pub(super) fn key(key: &KeyState) -> Value {
    let KeyState { record, is_default, now } = key;
    json!({
        "id": record.id,
        "type": record.kind(),
        "default": is_default,
        "public_keys": record.public_keys(*now),
        "created_at": rfc3339(record.created_at),
        "rotated_at": record.rotated_at.map(rfc3339),
        "previous_signs_until": record.previous.as_ref().filter(|p| p.until > *now).map(|p| rfc3339(p.until)),
    })
}

/// A key just created or rotated: its view and, this once, its secret.
pub(super) fn key_with_secret(state: &KeyState) -> Value {
    let mut view = key(state);
    view["secret"] = Value::String(state.record.secret.expose().to_string());
    view
}

pub(super) fn channel(record: &ChannelRecord) -> Value {
    json!({ "name": record.name, "verify_intent": record.verify_intent })
}

pub(super) fn subscription(sub: &SubscriptionRecord) -> Value {
    json!({
        "id": sub.id,
        "channel": sub.channel,
        "tenant": sub.tenant,
        "url": sub.url,
        "event_types": sub.event_types,
        "description": sub.description,
        "metadata": sub.metadata,
        "status": sub.status,
        "disabled_reason": sub.disabled_reason,
        "disabled_at": sub.disabled_at.map(rfc3339),
        "signing_key": sub.key_id,
        "created_at": rfc3339(sub.created_at),
        "updated_at": rfc3339(sub.updated_at),
    })
}

/// A subscription just created: its view and, this once, its secret.
pub(super) fn new_subscription(created: &NewSubscription) -> Value {
    let mut view = subscription(&created.record);
    view["secret"] = json!(created.secret.expose());
    view
}

/// `GET /_hookah/v1/channels`: channels newest first, with their live subscription counts.
pub(super) fn channel_page(page: &ChannelPage) -> Value {
    let data: Vec<Value> = page
        .items
        .iter()
        .map(|listed| {
            let mut view = channel(&listed.record);
            view["created_at"] = json!(rfc3339(listed.record.created_at));
            view["subscriptions"] = json!(listed.subscriptions);
            view
        })
        .collect();
    json!({ "data": data, "next_cursor": page.next_cursor.map(|c| c.to_string()) })
}

pub(super) fn subscription_page(page: &SubscriptionPage) -> Value {
    let data: Vec<Value> = page.items.iter().map(subscription).collect();
    json!({ "data": data, "next_cursor": page.next_cursor.map(|c| c.to_string()) })
}

pub(super) fn rotated_subscription(rotated: &RotatedSubscription) -> Value {
    let view = key_with_secret(&rotated.key);
    let (secret, until) = (&view["secret"], &view["previous_signs_until"]);
    json!({ "id": rotated.id, "secret": secret, "previous_signs_until": until })
}

pub(super) fn event(event: &EventRecord) -> Value {
    json!({
        "id": event.id,
        "channel": event.channel,
        "event_type": event.event_type,
        "created_at": rfc3339(event.created_at),
        "matched": event.matched,
        "fanout_complete": event.fanned_out_at.is_some() && event.fanout_error.is_none(),
        "fanned_out_at": event.fanned_out_at.map(rfc3339),
        "fanout_error": event.fanout_error,
    })
}

/// A flow's stored settings and counts; durations in their largest whole unit.
pub(super) fn flow(state: &FlowState) -> Value {
    let FlowState { record, counts } = state;
    let settings = &record.settings;
    let schedule = settings
        .retry_schedule_ms
        .as_ref()
        .map(|delays| delays.iter().map(|&ms| format_duration_ms(ms)).collect::<Vec<_>>());
    json!({
        "key": record.key,
        "parallelism": settings.parallelism,
        "rate": settings.rate,
        "period": format_duration_ms(settings.period_ms),
        "retry_schedule": schedule,
        "max_attempts": settings.max_attempts,
        "ordered": settings.ordered,
        "paused": settings.paused,
        "waiting": counts.waiting,
        "in_flight": counts.in_flight,
        "head": record.queue.head,
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    })
}

/// `GET /_hookah/v1/flows`: flows with stored settings, newest first.
pub(super) fn flow_page(page: &FlowPage) -> Value {
    let data: Vec<Value> = page.items.iter().map(flow).collect();
    json!({ "data": data, "next_cursor": page.next_cursor.map(|c| c.to_string()) })
}

/// A token just minted, with the text to present (shown this once).
pub(super) fn new_token(minted: &NewToken) -> Value {
    let record = &minted.record;
    json!({
        "id": record.id,
        "token": minted.token,
        "channel": record.channel,
        "tenant": record.tenant,
        "access": record.access,
        "expires_at": rfc3339(record.expires_at),
    })
}

pub(super) fn hub(done: &HubDone) -> Value {
    match done {
        HubDone::Denied => json!({ "status": "denied" }),
        HubDone::Verifying => json!({ "status": "verifying" }),
        HubDone::Published { event_id, matched } => json!({ "event_id": event_id, "matched": matched }),
    }
}

/// `GET /_hookah/v1/stats`.
pub(super) fn stats(snapshot: &Snapshot) -> Value {
    let stats = &snapshot.stats;
    let per_minute: Vec<Value> = snapshot
        .per_minute()
        .into_iter()
        .map(|(minute, [delivered, failed])| json!({ "at": minute * MINUTE_MS, "delivered": delivered, "failed": failed }))
        .collect();
    let last_hour = snapshot.per_minute().iter().fold([0, 0], |sum, (_, m)| [sum[0] + m[0], sum[1] + m[1]]);
    let latency_count: u64 = stats.latency_counts.iter().sum();
    let quantile = |q| latency::quantile_ms(&stats.latency_counts, q);
    let last_sweep = (stats.sweeps_total > 0).then(|| json!(stats.last_sweep));
    json!({
        "now": snapshot.now,
        "jobs": {
            "pending": snapshot.open.pending,
            "in_flight": snapshot.open.in_flight,
            "open_exact": snapshot.open.exact,
            "recent_exact": snapshot.recent.exact,
            "delivered": snapshot.finished("delivered"),
            "dead": snapshot.finished("dead"),
            "gone": snapshot.finished("gone"),
            "cancelled": snapshot.finished("cancelled"),
        },
        "backlog": {
            "due_slots": snapshot.backlog.due_slots,
            "oldest_due_at": snapshot.backlog.oldest_due_at,
            "lag_ms": snapshot.backlog.lag_ms(snapshot.now),
            "complete": snapshot.backlog.complete,
        },
        "last_sweep": last_sweep,
        "sweeps_total": stats.sweeps_total,
        "store": snapshot.room,
        "attempts": {
            "delivered_total": stats.delivered_total,
            "failed_total": stats.failed_total,
            "delivered_last_hour": last_hour[0],
            "failed_last_hour": last_hour[1],
            "per_minute": per_minute,
        },
        "failing_hosts": stats.hosts,
        "flows": snapshot.flows.iter().map(|flow| json!({
            "key": flow.key,
            "paused": flow.paused,
            "ordered": flow.ordered,
            "waiting": flow.waiting,
            "in_flight": flow.in_flight,
        })).collect::<Vec<_>>(),
        "first_attempt_latency": {
            "count": latency_count,
            "sum_ms": stats.latency_sum_ms,
            "p50_ms": quantile(0.5),
            "p90_ms": quantile(0.9),
            "p99_ms": quantile(0.99),
        },
        "cost": { "keys_read": snapshot.reads },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::KeyId;
    use crate::keyring::{KeyRecord, Previous, Secret};
    use crate::signing::generate_hmac_secret;

    #[test]
    fn a_key_shows_its_secret_only_when_asked() {
        let secret = |byte| Secret::new(generate_hmac_secret(&[byte; 32]).unwrap().expose_secret());
        let record = KeyRecord {
            v: 1,
            id: KeyId::from_random(&[1; 16]),
            secret: secret(1),
            created_at: 0,
            rotated_at: Some(5),
            previous: Some(Previous { secret: secret(2), until: 100 }),
            turn: 0,
            turn_mark: Default::default(),
        };
        let state = KeyState { record, is_default: true, now: 0 };
        let view = key(&state).to_string();
        assert!(!view.contains("whsec_"), "{view}");
        let shown = key_with_secret(&state);
        assert_eq!(shown["secret"], state.record.secret.expose());
        assert_eq!(shown["previous_signs_until"], rfc3339(100));
    }
}
