//! What an outcome means beyond its job: an intent verification confirms (or fails) its
//! subscription; a subscription's deliveries decide its health (410 disables it at once, a run of
//! dead jobs or days of failure disable it too); Hookah's operational events go to `hookah.ops`.
//!
//! Health is checked after each recorded outcome of a subscription's job. `sub:{id}:health`
//! counts dead jobs in a row (`increment`; `disable_after_dead`), and `sub:{id}:health:since`
//! remembers when failing began (`disable_after_failing`). A delivery clears both. Disabling
//! publishes to `hookah.ops`, which only Hookah writes: the app's publish and channel-settings
//! routes refuse it (`reserved_channel`).

use super::fence::{self, Updated};
use super::hub::Removal;
use super::Hookah;
use crate::channels::grammar::OPS_CHANNEL;
use crate::channels::record::{Status, SubscriptionRecord};
use crate::ids::{JobId, SubscriptionId};
use crate::job::view::rfc3339;
use crate::job::{JobRecord, State, Verification};
use crate::keys::{self, TypedKv};
use crate::ports::{Kv, KvError, Transport};
use serde::Serialize;
use serde_json::json;

// The `hookah.ops` events: messages Hookah delivers, not API answers. Fields keep the order the
// bodies always had; they are written through a `serde_json::Value`, as they always were.

#[derive(Debug, Serialize)]
struct OpsEvent<'a, P> {
    #[serde(rename = "type")]
    event_type: &'a str,
    data: &'a P,
}

/// `job.dead`: a job ran out of attempts.
#[derive(Debug, Serialize)]
struct JobDead<'a> {
    job_id: &'a JobId,
    target: &'a str,
    attempt_count: usize,
    subscription: Option<&'a SubscriptionId>,
    finished_at: Option<String>,
}

/// `subscription.disabled`: Hookah stopped delivering to a subscription.
#[derive(Debug, Serialize)]
struct SubscriptionDisabled<'a> {
    subscription: &'a SubscriptionId,
    channel: &'a str,
    url: &'a str,
    reason: &'a str,
    disabled_at: String,
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// Called once an outcome is recorded on `job`.
    pub(crate) fn after_outcome(&self, job: &JobRecord) -> Result<(), KvError> {
        if let Some(verification) = &job.verifies {
            return self.verification_ended(job, verification);
        }
        if let Some(sub) = &job.subscription {
            self.track_health(job, sub)?;
        }
        if matches!(job.state, State::Dead { .. }) && !job.ops {
            let payload = JobDead {
                job_id: &job.id,
                target: &job.url,
                attempt_count: job.attempts.len(),
                subscription: job.subscription.as_ref(),
                finished_at: job.state.finished_at().map(rfc3339),
            };
            self.ops_event("job.dead", &payload)?;
        }
        Ok(())
    }

    fn verification_ended(&self, job: &JobRecord, verification: &Verification) -> Result<(), KvError> {
        if verification.unsubscribe {
            let confirmed = matches!(job.state, State::Delivered { .. });
            if confirmed && self.forget_subscription(&verification.subscription)? == Removal::Busy {
                let id = &verification.subscription;
                return Err(KvError(format!("subscription {id} is being changed; it was not removed")));
            }
            return Ok(());
        }
        let now = self.clock.now_ms();
        let confirmed = match job.state {
            State::Delivered { .. } => true,
            State::Dead { .. } | State::Gone { .. } => false,
            _ => return Ok(()),
        };
        self.update_subscription_record(&verification.subscription, |sub| {
            // Only the verification the subscription is waiting for counts.
            (sub.challenge.as_deref() == Some(&verification.challenge)).then(|| sub.verification_ended(confirmed, now))
        })?;
        Ok(())
    }

    fn track_health(&self, job: &JobRecord, sub: &SubscriptionId) -> Result<(), KvError> {
        let dead_key = keys::subscription_health(sub);
        let failing_key = keys::subscription_failing_since(sub);
        let now = self.clock.now_ms();
        match job.state {
            // A delivery ends the run of failures; the reads cost no commit on the happy path.
            State::Delivered { .. } if self.kv.load(&failing_key)?.is_some() || self.kv.load(&dead_key)? > 0 => {
                self.kv.delete_many(&[dead_key.into(), failing_key.into()])?;
            }
            State::Gone { .. } => self.disable(sub, "the endpoint answered 410 Gone", now)?,
            State::Dead { .. } | State::Pending { .. } => {
                let since = match self.kv.load(&failing_key)? {
                    Some(since) => since,
                    None => {
                        self.kv.save(&failing_key, &now)?;
                        now
                    }
                };
                let dead =
                    if matches!(job.state, State::Dead { .. }) { self.kv.add_to(&dead_key, 1)? as u32 } else { 0 };
                if dead >= self.config.disable_after_dead {
                    self.disable(sub, &format!("{dead} jobs in a row ran out of attempts"), now)?;
                } else if now.saturating_sub(since) > self.config.disable_after_failing_ms {
                    self.disable(sub, "every attempt has failed for too long", now)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn disable(&self, sub: &SubscriptionId, reason: &str, now: u64) -> Result<(), KvError> {
        let disabled = self.update_subscription_record(sub, |record| {
            (record.status != Status::Disabled).then(|| {
                record.status = Status::Disabled;
                record.disabled_reason = Some(reason.to_string());
                record.disabled_at = Some(now);
                record.updated_at = now;
            })
        })?;
        if let Some(record) = disabled {
            let payload = SubscriptionDisabled {
                subscription: &record.id,
                channel: &record.channel,
                url: &record.url,
                reason,
                disabled_at: rfc3339(now),
            };
            self.ops_event("subscription.disabled", &payload)?;
        }
        Ok(())
    }

    /// A fenced update of a subscription; `change` returns `None` to leave it as it is.
    /// Returns the new record when it changed.
    pub(crate) fn update_subscription_record(
        &self,
        id: &SubscriptionId,
        change: impl Fn(&mut SubscriptionRecord) -> Option<()>,
    ) -> Result<Option<SubscriptionRecord>, KvError> {
        let now = || self.clock.now_ms();
        let updated = fence::update(self.kv, &keys::subscription(id), &now, |current: &SubscriptionRecord, _| {
            let mut record = current.clone();
            Ok::<_, KvError>(change(&mut record).map(|()| (record, Vec::new())))
        })?;
        match updated {
            Updated::Changed(record) => Ok(Some(record)),
            Updated::Unchanged(_) | Updated::Missing => Ok(None),
            Updated::Busy => Err(KvError(format!("subscription {id} kept changing; the update was not made"))),
        }
    }

    /// Publishes one of Hookah's own events to `hookah.ops`, when anyone subscribed.
    pub(crate) fn ops_event(&self, event_type: &str, payload: &impl Serialize) -> Result<(), KvError> {
        if super::sub_list::subscription_log(OPS_CHANNEL).bounds(self.kv)?.live == 0 {
            return Ok(());
        }
        let body = json!(OpsEvent { event_type, data: payload }).to_string().into_bytes();
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        self.publish_internal(OPS_CHANNEL, event_type, headers, body, false).map(|_| ())
    }
}
