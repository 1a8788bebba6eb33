//! Publishing to a channel and fanning the event out: one delivery job per active subscription
//! whose filters match, in bounded steps. The first step runs before the 202; the rest run in
//! sweeps, one `fanout_batch` of subscription slots each, when the event's own timer slot fires
//! (a sweep tells job slots from event slots by the id's prefix).
//!
//! - An event (`evt:{id}`, `evt:{id}:body`) records the subscription log's slot count at publish
//!   time (`total`) and a cursor.
//! - A step jumps the cursor to the log's floor and walks as far as `total` or the highest slot a
//!   compaction wrote, taking only entries born by `total`. Compaction moves live entries up,
//!   never out of a walk's reach, and subscriptions created after the publish are left out.
//! - A step writes its new jobs, their timers and the advanced event in one `set_many`. The jobs'
//!   ids derive from (event, subscription), so a step redone after a crash names the same jobs
//!   and skips the ones that exist.
//! - A step a sweep runs first takes the event's next fenced turn (`engine/fence.rs`), so two
//!   sweeps on one bucket (one past its claim window) never both write a step: a job written
//!   again after its claim would be attempted twice. A sweep that finds the turn taken, or that
//!   would write it too late, leaves the event a timer slot a second later. An event's slot at or
//!   after its timer counts while the fan-out goes on.

use super::fence::{self, Turn};
use super::sub_list::subscription_log;
use super::{lists, timers, Channels, Hookah};
use crate::channels::grammar::{check_app_channel, check_event_type, matches_any};
use crate::channels::record::{EventRecord, SubscriptionRecord, RECORD_VERSION};
use crate::error::Error;
use crate::ids::{derived_job_id, EventId, JobId, SubscriptionId, ID_RANDOM_BYTES};
use crate::job::{transition, JobRecord, State};
use crate::keys::{self, Entry, TypedKv};
use crate::ports::{Kv, KvError, Transport};

/// A fan-out step that creates at most this many jobs delivers them itself, right away.
pub(super) const IMMEDIATE_JOBS: usize = 16;

impl<K: Kv, T: Transport> Channels<'_, K, T> {
    /// Stores the event and runs the first fan-out step; returns the event and the jobs this
    /// invocation should attempt after answering.
    pub fn publish(
        &self,
        channel: &str,
        event_type: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<(EventRecord, Vec<JobRecord>), Error> {
        check_app_channel(channel)?;
        check_event_type(event_type)?;
        self.0.ensure_room(1)?;
        self.0.publish_internal(channel, event_type, headers, body, true).map_err(Error::from)
    }

    pub fn find_event(&self, channel: &str, id: &EventId) -> Result<EventRecord, Error> {
        let event = self.0.kv.load(&keys::event(id))?.filter(|e| e.channel == channel);
        event.ok_or_else(|| event_not_found(id))
    }
}

impl<K: Kv, T: Transport> Hookah<'_, K, T> {
    /// `claim_small`: claim the jobs of a small fan-out for the caller to attempt right away.
    pub(crate) fn publish_internal(
        &self,
        channel: &str,
        event_type: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        claim_small: bool,
    ) -> Result<(EventRecord, Vec<JobRecord>), KvError> {
        let now = self.clock.now_ms();
        let total = self.subscriptions_to_fan_out(channel)?;
        let event = self.new_event(channel, event_type, headers, &body, total, now);
        let mut entries = vec![keys::event_body(&event.id).entry(&body)];
        let (event, jobs) = self.fanout_step(event, &body, now, claim_small, &mut entries)?;
        self.kv.set_many(entries)?;
        let immediate = jobs.into_iter().filter(|job| matches!(job.state, State::InFlight { .. })).collect();
        Ok((event, immediate))
    }

    /// The subscription log's slot count at publish time (an event's `total`), after a
    /// compaction step of the log when it carries much dead history.
    pub(super) fn subscriptions_to_fan_out(&self, channel: &str) -> Result<u64, KvError> {
        let bounds = subscription_log(channel).bounds(self.kv)?;
        self.tidy_subscriptions(channel, &bounds)?;
        Ok(bounds.count)
    }

    /// A new event, its fan-out not begun (no timer yet).
    pub(super) fn new_event(
        &self,
        channel: &str,
        event_type: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
        total: u64,
        now: u64,
    ) -> EventRecord {
        let mut random = [0u8; ID_RANDOM_BYTES];
        self.entropy.fill(&mut random);
        EventRecord {
            v: RECORD_VERSION,
            id: EventId::from_random(&random),
            channel: channel.to_string(),
            event_type: event_type.to_string(),
            created_at: now,
            headers,
            body_len: body.len() as u64,
            total,
            cursor: 0,
            matched: 0,
            timer: 0,
            fanned_out_at: None,
            fanout_error: None,
            turn: 0,
        }
    }

    /// What the fan-out step of an event of `channel` at `cursor` covers: the next
    /// `fanout_batch` subscription slots, and the subscriptions there born by publish time
    /// (`total`) that receive now, whatever the event's type.
    pub(super) fn step_window(&self, channel: &str, cursor: u64, total: u64, now: u64) -> Result<Window, KvError> {
        // Compaction may have raised the floor past the cursor, moving the live entries below it
        // to the top (past `total`, keeping their birth): the walk skips to the floor and goes on
        // as far as the moves reach, taking only subscriptions born by publish time.
        let log = subscription_log(channel);
        let bounds = log.bounds(self.kv)?;
        let start = cursor.max(bounds.meta.floor);
        let last = total.max(bounds.meta.moved_top);
        let end = last.min(start + self.config.fanout_batch as u64).max(start);
        let entries_read = log.read(self.kv, start + 1..=end)?;
        let ids: Vec<SubscriptionId> =
            entries_read.into_iter().filter(|entry| entry.birth <= total).map(|entry| entry.id).collect();
        let subscribers =
            self.load_subscriptions(channel, &ids)?.into_iter().flatten().filter(|sub| sub.receives(now)).collect();
        Ok(Window { end, last, subscribers })
    }

    /// Moves `event` past a step over `window` that made `made` jobs, and sets its timer: now
    /// for its next step, or the end of its retention once the fan-out is done.
    pub(super) fn stepped(&self, event: &mut EventRecord, window: &Window, made: usize, now: u64) {
        event.cursor = window.end;
        event.matched += made as u64;
        let next_wake = if event.cursor >= window.last {
            event.fanned_out_at = Some(now);
            now + self.config.retention_ms
        } else {
            now
        };
        event.timer = keys::timer_bucket(next_wake, now);
    }

    /// One fan-out step over the next `fanout_batch` subscription slots: adds the new jobs, their
    /// timers and the updated event (with a timer for the next step, or for its deletion) to
    /// `entries`, for one commit.
    pub(crate) fn fanout_step(
        &self,
        mut event: EventRecord,
        body: &[u8],
        now: u64,
        claim_small: bool,
        entries: &mut Vec<Entry>,
    ) -> Result<(EventRecord, Vec<JobRecord>), KvError> {
        let window = self.step_window(&event.channel, event.cursor, event.total, now)?;
        let subscribers: Vec<&SubscriptionRecord> = window.matching(&event.event_type).collect();
        let job_ids: Vec<JobId> =
            subscribers.iter().map(|sub| derived_job_id(&[event.id.as_str(), sub.id.as_str()])).collect();
        let existing = self.kv.exist_many(&job_ids.iter().map(keys::job).collect::<Vec<_>>())?;
        let immediate = claim_small && subscribers.len() <= IMMEDIATE_JOBS;
        let mut jobs = Vec::new();
        for ((sub, id), existing) in subscribers.into_iter().zip(job_ids).zip(existing) {
            if existing {
                continue; // made by an earlier try of this step
            }
            let job = self.event_job(&event, sub, id, body, now, immediate);
            jobs.push(job);
        }
        // A subscription whose flow has settings gets its deliveries through the flow's queue.
        entries.extend(self.queue_new_jobs(&mut jobs.iter_mut().collect::<Vec<_>>(), now)?);
        let wanted: Vec<(u64, &str)> =
            jobs.iter().filter(|job| !job.waiting).map(|job| (job.timer, job.id.as_str())).collect();
        entries.extend(timers::allocate(self.kv, &self.config.region, &wanted)?);
        let mut waiting: Vec<&mut JobRecord> =
            jobs.iter_mut().filter(|j| matches!(j.state, State::Pending { .. })).collect();
        entries.extend(lists::append_pending(self.kv, &mut waiting)?);
        for job in &jobs {
            entries.push(keys::job(&job.id).entry(job));
            if !body.is_empty() {
                entries.push(keys::body(&job.id).entry(body));
            }
        }
        self.stepped(&mut event, &window, jobs.len(), now);
        entries.extend(timers::allocate(self.kv, &self.config.region, &[(event.timer, event.id.as_str())])?);
        entries.push(keys::event(&event.id).entry(&event));
        Ok((event, jobs))
    }

    pub(super) fn event_job(
        &self,
        event: &EventRecord,
        sub: &SubscriptionRecord,
        id: JobId,
        body: &[u8],
        now: u64,
        claimed: bool,
    ) -> JobRecord {
        let mut headers = event.headers.clone();
        if let Some(lease) = &sub.websub {
            headers.extend(super::hub::delivery_headers(lease, body));
        } else {
            headers.push(("webhook-event-type".into(), event.event_type.clone()));
        }
        let mut job = self.new_record("POST", sub.url.clone(), headers, now);
        job.id = id;
        job.body_len = body.len() as u64;
        job.body_sha256 = crate::digest::sha256_hex(body);
        job.signing_key = Some(sub.key_id.clone());
        job.subscription = Some(sub.id.clone());
        // One slow subscriber never holds back another.
        job.flow = Some(sub.id.to_string());
        job.ops = event.channel == crate::channels::grammar::OPS_CHANNEL;
        if claimed {
            transition::claim(job, now)
        } else {
            job
        }
    }

    /// A sweep found the event's timer: run the next fan-out step, or delete the event once
    /// its retention ended. A slot before the event's timer is stale; one at or after it counts
    /// while the fan-out goes on (a step that could not run leaves one a second later).
    pub(crate) fn event_timer(&self, id: &EventId, bucket: u64) -> Result<(), KvError> {
        let read_at = self.clock.now_ms();
        let key = keys::event(id);
        let Some(mut event) = self.kv.load(&key)? else {
            return Ok(());
        };
        if bucket < event.timer {
            return Ok(());
        }
        if let Some(done) = event.fanned_out_at {
            if done + self.config.retention_ms <= read_at {
                let mut doomed: Vec<String> = fence::turn_keys(&key, event.turn).collect();
                doomed.extend([key.into(), keys::event_body(id).into()]);
                self.kv.delete_many(&doomed)?;
            }
            return Ok(());
        }
        // Two sweeps on one bucket (one overran its claim window) must not both run this step:
        // each would write the step's jobs, and a job written again after its claim would be
        // attempted twice. The step belongs to the winner of the event's next turn.
        match fence::take_turn_of_existing(self.kv, &key, event.turn, read_at)? {
            Turn::Won(turn) => event.turn = turn,
            Turn::Busy => return self.retry_event_timer(id, read_at),
            Turn::Gone => return Ok(()),
        }
        let body = match self.kv.load(&keys::event_body(id))? {
            Some(body) => body,
            None if event.body_len == 0 => Vec::new(),
            // An empty body in its place would deliver something that was never published.
            None => return self.stop_fanout(event, read_at, "the event's body is missing from the store"),
        };
        let mut entries = Vec::new();
        self.fanout_step(event, &body, read_at, false, &mut entries)?;
        if self.clock.now_ms() > read_at + fence::TURN_DEADLINE_MS {
            // Too slow to write the turn safely: let it go stale and come back.
            return self.retry_event_timer(id, read_at);
        }
        self.kv.set_many(entries)
    }

    /// Leaves the event a timer slot a second from now (a hint: harmless if the step ran).
    fn retry_event_timer(&self, id: &EventId, now: u64) -> Result<(), KvError> {
        let bucket = keys::timer_bucket(now + keys::BUCKET_MS, now);
        self.kv.set_many(timers::allocate(self.kv, &self.config.region, &[(bucket, id.as_str())])?)
    }

    /// Ends a fan-out that cannot go on, saying why on the event; it is deleted after retention
    /// like a finished one.
    fn stop_fanout(&self, mut event: EventRecord, now: u64, reason: &str) -> Result<(), KvError> {
        event.fanout_error = Some(format!("{reason}; the fan-out stopped after {} jobs", event.matched));
        event.fanned_out_at = Some(now);
        event.timer = keys::timer_bucket(now + self.config.retention_ms, now);
        let mut entries = timers::allocate(self.kv, &self.config.region, &[(event.timer, event.id.as_str())])?;
        entries.push(keys::event(&event.id).entry(&event));
        self.kv.set_many(entries)
    }
}

/// The subscription slots one fan-out step covers, read once for every event it serves.
pub(super) struct Window {
    /// The last slot the step covers: the event's cursor after it.
    end: u64,
    /// The last slot the fan-out must reach.
    last: u64,
    /// The subscriptions in the step's slots that receive now, whatever the event's type.
    subscribers: Vec<SubscriptionRecord>,
}

impl Window {
    /// The subscriptions an event of `event_type` goes to.
    pub(super) fn matching<'w>(&'w self, event_type: &'w str) -> impl Iterator<Item = &'w SubscriptionRecord> {
        self.subscribers.iter().filter(move |sub| matches_any(&sub.event_types, event_type))
    }
}

fn event_not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found(format!("no event {id}"))
}

/// The event a path segment names; a segment not shaped like an event id is as unknown as a
/// missing event.
pub(crate) fn event_id(segment: &str) -> Result<EventId, Error> {
    EventId::parse(segment).ok_or_else(|| event_not_found(segment))
}
