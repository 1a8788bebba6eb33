//! Publishing a batch of events to one channel (`POST /_hookah/v1/channels/{channel}/events` with
//! a JSON array): N events stored at once, each with the first step of its fan-out as far as a
//! budget allows (a single publish's mechanism, `engine/publish.rs`).
//!
//! # Storing
//!
//! The batch was validated whole (`request/event_batch.rs`); the channel and the store's room
//! (`engine/room.rs`, counting one job an event, once for the batch) are checked before anything
//! is written, so a refused batch stores nothing. Then:
//!
//! 1. One read of the subscription slots a first step covers (`fanout_batch` from the log's
//!    floor): every event of the batch has the same publish time, so the same window; each event
//!    takes the subscriptions there that match its type.
//! 2. The events take their first steps in order while their jobs together stay within
//!    `fanout_batch`; the first always does (its jobs are at most the window). The rest are stored
//!    with their fan-out not begun and a timer slot in the next second, so sweeps run their steps
//!    as they run a big channel's later ones. When all the first steps together make at most
//!    `IMMEDIATE_JOBS` (16) jobs, the jobs are stored claimed and attempted after the answer, as a
//!    small single publish's are.
//! 3. One slot reservation for every job and event (`timers::allocate_numbered`): one `increment`
//!    per timer bucket they fall in, and one more for the `pending` list when jobs wait.
//! 4. One `set_many` of every event, body, job and slot: a `202` means the whole batch is stored.
//!
//! Every stored event has its own timer slot, for its next step or for its deletion at the end of
//! retention, and every job has its own. So an invocation that dies after the `202` loses nothing:
//! a claimed job is taken over at its lease's end, an event whose fan-out is not done is stepped by
//! the sweep that reaches its slot. An event's jobs derive their ids from (event, subscription),
//! as a single publish's do; fresh events have no jobs yet, so nothing is checked for existing.
//!
//! # Cost
//!
//! The buckets are at most three: the claims' lease end (jobs attempted after the answer), the
//! next second (jobs that wait, events with steps left) and the end of retention (events fanned
//! out). So a batch of N events costs at most four commits whatever N: three for a small fan-out
//! (the lease's bucket, the retention's bucket, the `set_many`), and four for a larger one (the
//! next second's bucket, the pending list, the retention's bucket, the `set_many`), against three
//! or four for each single publish. A compaction step of the channel's subscription list, when it
//! carries much dead history, comes on top, as for a single publish. After the answer each first
//! attempt records its outcome in one write, through the job batch's path (`first_attempts`):
//! `sweep_concurrency` at once, inside `request_budget`.

use super::publish::IMMEDIATE_JOBS;
use super::{lists, timers, Channels, Held, Hookah};
use crate::channels::grammar::check_app_channel;
use crate::channels::record::{EventRecord, SubscriptionRecord};
use crate::ids::derived_job_id;
use crate::job::{JobRecord, State};
use crate::keys;
use crate::ports::{Kv, KvError, Transport};
use crate::request::{BatchError, NewEvent};

/// A stored batch: its events in batch order, and the jobs to attempt after the answer with what
/// the invocation holds for them.
pub struct PublishedBatch {
    pub events: Vec<EventRecord>,
    pub attempt: Vec<(JobRecord, Held)>,
}

impl<K: Kv, T: Transport> Channels<'_, K, T> {
    /// Stores a validated batch of events, all or nothing, with their first fan-out steps.
    pub fn publish_batch(&self, channel: &str, events: Vec<NewEvent>) -> Result<PublishedBatch, BatchError> {
        check_app_channel(channel)?;
        self.0.ensure_room(events.len() as u64)?;
        Ok(self.0.publish_many(channel, events)?)
    }
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    fn publish_many(&self, channel: &str, batch: Vec<NewEvent>) -> Result<PublishedBatch, KvError> {
        let now = self.clock.now_ms();
        let total = self.subscriptions_to_fan_out(channel)?;
        let window = self.step_window(channel, 0, total, now)?;
        let matching: Vec<Vec<&SubscriptionRecord>> =
            batch.iter().map(|new| window.matching(&new.event_type).collect()).collect();
        let mut budget = self.config.fanout_batch;
        let stepping = matching
            .iter()
            .take_while(|subs| match budget.checked_sub(subs.len()) {
                Some(left) => {
                    budget = left;
                    true
                }
                None => false,
            })
            .count();
        let claimed = self.config.fanout_batch - budget <= IMMEDIATE_JOBS;

        let mut events = Vec::with_capacity(batch.len());
        let mut jobs: Vec<(JobRecord, usize)> = Vec::new();
        for (index, (new, subs)) in batch.iter().zip(&matching).enumerate() {
            let mut event = self.new_event(channel, &new.event_type, new.headers.clone(), &new.body, total, now);
            if index < stepping {
                for sub in subs {
                    let id = derived_job_id(&[event.id.as_str(), sub.id.as_str()]);
                    jobs.push((self.event_job(&event, sub, id, &new.body, now, claimed), index));
                }
                self.stepped(&mut event, &window, subs.len(), now);
            } else {
                // Its first step is a sweep's, when this slot comes due.
                event.timer = keys::timer_bucket(now, now);
            }
            events.push(event);
        }

        // Deliveries to a subscription whose flow has settings go through the flow's queue.
        let queued = self.queue_new_jobs(&mut jobs.iter_mut().map(|(job, _)| job).collect::<Vec<_>>(), now)?;
        let wanted: Vec<(u64, &str)> = jobs
            .iter()
            .filter(|(job, _)| !job.waiting)
            .map(|(job, _)| (job.timer, job.id.as_str()))
            .chain(events.iter().map(|event| (event.timer, event.id.as_str())))
            .collect();
        let (mut entries, numbers) = timers::allocate_numbered(self.kv, &self.config.region, &wanted)?;
        entries.extend(queued);
        let mut waiting: Vec<&mut JobRecord> =
            jobs.iter_mut().map(|(job, _)| job).filter(|job| matches!(job.state, State::Pending { .. })).collect();
        entries.extend(lists::append_pending(self.kv, &mut waiting)?);
        for (job, index) in &jobs {
            entries.push(keys::job(&job.id).entry(job));
            if !batch[*index].body.is_empty() {
                entries.push(keys::body(&job.id).entry(&batch[*index].body));
            }
        }
        for (event, new) in events.iter().zip(&batch) {
            entries.push(keys::event(&event.id).entry(event));
            entries.push(keys::event_body(&event.id).entry(&new.body));
        }
        self.kv.set_many(entries)?;

        let attempt = jobs
            .into_iter()
            .filter(|(job, _)| !job.waiting)
            .zip(numbers)
            .filter(|((job, _), _)| matches!(job.state, State::InFlight { .. }))
            .map(|((job, index), slot)| (job, Held { body: batch[index].body.clone(), slot: Some(slot) }))
            .collect();
        Ok(PublishedBatch { events, attempt })
    }
}
