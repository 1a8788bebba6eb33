//! Jobs through the engine: durability, takeover, turns, retention, sweep cost, parallel sweeps.

use super::{World, T0};
use crate::api::FollowUp;
use crate::delivery::AttemptResult;
use crate::ids::JobId;
use crate::job::{AttemptError, State};
use crate::keys;
use crate::memory::ScriptedTransport;
use futures::executor::block_on;
use std::cell::Cell;
use std::rc::Rc;

#[test]
fn accepted_job_is_stored_in_one_batch_and_delivered_after_the_answer() {
    let world = World::new(ScriptedTransport::status(200));
    let (id, follow_up) = world.submit(&[]);
    // One counter increment and one batched write before the 202, and one read: the settings of
    // the job's flow key (its target host), which has none.
    assert_eq!(world.kv.commits.get(), 2);
    assert_eq!(world.kv.reads.get(), 1);
    assert!(matches!(world.job(&id).unwrap().state, State::InFlight { claim: 1, .. }));
    assert!(world.transport.sent.borrow().is_empty(), "nothing is sent before the answer");

    world.kv.reads.set(0);
    block_on(world.hookah().follow_up(follow_up));
    // The attempt reads the default signing key's name (the accepting invocation still holds the
    // body). Recording its outcome reads nothing: the record is still the claim while the lease
    // lasts, and the cancel flag matters only to a retry. Then it writes once.
    assert_eq!(world.kv.reads.get(), 1);
    assert_eq!(world.kv.commits.get(), 3, "recording the outcome is one write");
    let job = world.job(&id).unwrap();
    assert!(matches!(job.state, State::Delivered { .. }));
    let sent = world.transport.sent.borrow();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].headers.contains(&("webhook-id".to_string(), id.to_string())));
}

#[test]
fn failed_first_attempt_is_retried_by_a_sweep_when_due() {
    let calls = Rc::new(Cell::new(0));
    let counter = calls.clone();
    let world = World::new(ScriptedTransport::new(move |_| {
        counter.set(counter.get() + 1);
        let status = if counter.get() == 1 { 500 } else { 200 };
        AttemptResult::Response { status, retry_after: None }
    }));
    let (id, follow_up) = world.submit(&[]);
    block_on(world.hookah().follow_up(follow_up));
    let State::Pending { next_at } = world.job(&id).unwrap().state else { panic!("not pending") };
    assert!((T0 + 4_000..=T0 + 6_000).contains(&next_at), "first retry after 5 s ± 20 %");

    assert_eq!(world.sweep().claimed, 0, "not due yet");
    world.clock.advance(8_000);
    let report = world.sweep();
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    assert_eq!(calls.get(), 2);
    assert_eq!(world.job(&id).unwrap().attempts.len(), 2);
}

#[test]
fn a_job_whose_invocation_died_is_taken_over_after_its_lease() {
    let world = World::new(ScriptedTransport::status(204));
    let (id, _lost_follow_up) = world.submit(&[]);
    world.clock.advance(30_000);
    assert_eq!(world.sweep().claimed, 0, "the lease still holds");
    world.clock.advance(35_000);
    let report = world.sweep();
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    let job = world.job(&id).unwrap();
    assert_eq!(job.attempts[0].error, Some(AttemptError::Abandoned));
    assert_eq!(job.attempts[1].status, Some(204));
}

#[test]
fn a_stale_claimant_cannot_overwrite_the_takeover() {
    let calls = Rc::new(Cell::new(0));
    let counter = calls.clone();
    let world = World::new(ScriptedTransport::new(move |_| {
        counter.set(counter.get() + 1);
        // The takeover delivers; the stale holder's late attempt fails.
        let status = if counter.get() == 1 { 204 } else { 500 };
        AttemptResult::Response { status, retry_after: None }
    }));
    let (id, stale_follow_up) = world.submit(&[]);
    world.clock.advance(65_000);
    let report = world.sweep();
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    let taken_over = world.job(&id).unwrap();
    // The first holder was only slow: it makes its attempt after its lease, and its outcome is
    // not recorded over the newer state.
    block_on(world.hookah().follow_up(stale_follow_up));
    assert_eq!(calls.get(), 2);
    assert_eq!(world.job(&id).unwrap(), taken_over);
    assert!(matches!(taken_over.state, State::Delivered { .. }));
}

#[test]
fn a_turn_won_by_a_writer_that_died_is_skipped_once_stale() {
    let world = World::new(ScriptedTransport::status(200));
    let (id, _) = world.submit(&[("hookah-delay", "5")]);
    // A writer won the job's next turn and died before writing it.
    use crate::ports::Kv;
    world.kv.increment(keys::turn(&keys::job(&id), 1).as_str(), 1).unwrap();
    world.clock.advance(10_000);
    let report = world.sweep();
    assert_eq!(report.claimed, 0, "{report:?}");
    assert!(world.transport.sent.borrow().is_empty());
    // Nothing moves until the turn is stale; then the next turn is taken and the job delivered.
    world.clock.advance(20_000);
    assert_eq!(world.sweep().claimed, 0);
    world.clock.advance(15_000);
    let report = world.sweep();
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    assert_eq!(world.job(&id).unwrap().turn, 2);
}

#[test]
fn a_cancel_during_an_attempt_lets_no_attempt_start_after_it() {
    let world = World::new(ScriptedTransport::status(500));
    let (id, follow_up) = world.submit(&[]);
    let answer = world.hookah().jobs().cancel_job(&id).unwrap();
    assert!(matches!(answer.state, State::InFlight { .. }), "the attempt in flight goes on");
    block_on(world.hookah().follow_up(follow_up));
    assert!(matches!(world.job(&id).unwrap().state, State::Cancelled { .. }));
    world.clock.advance(3_600_000);
    world.sweep();
    assert_eq!(world.transport.sent.borrow().len(), 1);
}

#[test]
fn overlapping_sweeps_never_repeat_an_attempt() {
    let world = World::new(ScriptedTransport::status(500));
    let ids: Vec<JobId> = (0..50).map(|_| world.submit(&[("hookah-max-attempts", "5")])).map(|(id, _)| id).collect();
    world.clock.advance(120_000);
    let first = world.sweep();
    assert_eq!(first.claimed, 50, "{first:?}");
    // A second sweep that read the buckets' progress before the first one recorded it sees
    // every slot again: each must be recognised as already handled.
    for key in world.kv.keys_with_prefix("due:") {
        if key.ends_with(":done") {
            world.kv.data.borrow_mut().remove(&key);
        }
    }
    let second = world.sweep();
    assert_eq!(second.claimed, 0, "{second:?}");
    assert_eq!(world.transport.sent.borrow().len(), 50);
    for id in &ids {
        assert_eq!(world.job(id).unwrap().attempts.len(), 2, "abandoned + one real attempt");
    }
}

#[test]
fn delayed_jobs_wait_and_dead_jobs_stop() {
    let world = World::new(ScriptedTransport::status(503));
    let (id, follow_up) = world.submit(&[("hookah-delay", "60"), ("hookah-max-attempts", "2")]);
    assert!(matches!(follow_up, FollowUp::Nothing));
    world.clock.advance(59_000);
    assert_eq!(world.sweep().claimed, 0);
    world.clock.advance(2_000);
    assert_eq!(world.sweep().claimed, 1);
    world.clock.advance(10_000);
    assert_eq!(world.sweep().claimed, 1);
    assert!(matches!(world.job(&id).unwrap().state, State::Dead { .. }));
    world.clock.advance(3_600_000);
    world.sweep();
    assert_eq!(world.transport.sent.borrow().len(), 2);
}

#[test]
fn finished_jobs_are_deleted_after_retention_and_buckets_are_cleaned() {
    let world = World::new(ScriptedTransport::status(200));
    let (id, follow_up) = world.submit(&[]);
    block_on(world.hookah().follow_up(follow_up));
    world.clock.advance(120_000);
    world.sweep(); // the lease timer fires: the job is kept until its retention ends
    assert!(world.job(&id).is_some());
    world.clock.advance(world.config.retention_ms);
    // Walk forward in sweep-sized steps, as cron would.
    for _ in 0..(world.config.retention_ms / (keys::MAX_BUCKETS_PER_SWEEP * keys::BUCKET_MS) + 2) {
        world.sweep();
    }
    assert!(world.job(&id).is_none());
    assert!(world.kv.keys_with_prefix(keys::body(&id).as_str()).is_empty());
    let left: Vec<String> = world.kv.keys_with_prefix("due:");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sweep_cost_follows_due_work_not_stored_jobs() {
    let world = World::new(ScriptedTransport::status(200));
    world.sweep(); // a fresh store's first sweep walks the lookback
    for _ in 0..2_000 {
        let (_, follow_up) = world.submit(&[]);
        block_on(world.hookah().follow_up(follow_up));
    }
    world.clock.advance(120_000);
    // The lease timers fire: one sweep drains them batch after batch, and each job's timer
    // moves to its retention's end.
    let report = world.sweep();
    assert_eq!(report.slots, 2_000, "{report:?}");
    assert_eq!(report.batches, (2_000 / world.config.sweep_batch) as u64, "{report:?}");
    assert_eq!(world.sweep().slots, 0);
    world.clock.advance(5_000);
    let reads = world.kv.reads.get();
    let report = world.sweep();
    assert_eq!(report.slots, 0);
    // The cursor, then one key a bucket walked (its slot count): an empty bucket has no
    // progress to read.
    assert!(report.buckets <= keys::SETTLE_MS / keys::BUCKET_MS + 10, "{report:?}");
    assert_eq!(world.kv.reads.get() - reads, report.buckets + 1, "{report:?}");
}

#[test]
fn deliveries_are_signed_with_the_default_key_and_both_keys_during_a_rotation() {
    use crate::engine::KeyRequest;
    use crate::signing::Verifier;
    let world = World::new(ScriptedTransport::status(200));
    let (_, follow_up) = world.submit(&[]);
    block_on(world.hookah().follow_up(follow_up));
    assert!(
        !world.transport.sent.borrow()[0].headers.iter().any(|(n, _)| n == "webhook-signature"),
        "no key yet: unsigned"
    );

    let (id, created) = world.create_key(KeyRequest::default());
    assert!(created.is_default, "the first key becomes the default");
    let old_secret = created.record.secret.expose().to_string();
    let rotated =
        world.hookah().keyring().rotate_key(&id, KeyRequest { grace_seconds: Some(60), ..KeyRequest::default() });
    let new_secret = rotated.unwrap().record.secret.expose().to_string();

    let (job, follow_up) = world.submit(&[]);
    block_on(world.hookah().follow_up(follow_up));
    let sent = world.transport.sent.borrow().last().unwrap().clone();
    let header = |name: &str| sent.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let signatures = header("webhook-signature").unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    let now = (world.clock.0.get() / 1000) as i64;
    for secret in [&old_secret, &new_secret] {
        let only_one = Verifier::new(&[secret.as_str()]).unwrap();
        let verified =
            only_one.verify_at(Some(job.as_str()), header("webhook-timestamp"), Some(signatures), &sent.body, now);
        assert_eq!(verified, Ok(()));
    }
    assert_eq!(
        world.hookah().jobs().verify_delivery(
            job.as_str(),
            &crate::digest::sha256_hex(&sent.body),
            Some("http://example.com/")
        ),
        Ok(true)
    );
    assert_eq!(
        world.hookah().jobs().verify_delivery(job.as_str(), &crate::digest::sha256_hex(b"other"), None),
        Ok(false)
    );
    assert_eq!(world.hookah().jobs().verify_delivery("job_00000000000000000000000000", "00", None), Ok(false));
    let digest = crate::digest::sha256_hex(&sent.body);
    assert_eq!(world.hookah().jobs().verify_delivery(job.as_str(), &digest, Some("http://other.example/")), Ok(false));

    world.clock.advance(61_000);
    let (_, follow_up) = world.submit(&[]);
    block_on(world.hookah().follow_up(follow_up));
    let sent = world.transport.sent.borrow().last().unwrap().clone();
    let signatures = sent.headers.iter().find(|(n, _)| n == "webhook-signature").unwrap().1.clone();
    assert_eq!(signatures.split(' ').count(), 1, "after the grace period only the new key signs");
}

#[test]
fn a_retry_after_delay_survives_an_early_sweep() {
    let calls = Rc::new(Cell::new(0));
    let counter = calls.clone();
    let world = World::new(ScriptedTransport::new(move |_| {
        counter.set(counter.get() + 1);
        match counter.get() {
            1 => AttemptResult::Response { status: 503, retry_after: Some("120".into()) },
            _ => AttemptResult::Response { status: 200, retry_after: None },
        }
    }));
    let (id, follow_up) = world.submit(&[]);
    block_on(world.hookah().follow_up(follow_up));
    world.clock.advance(60_000);
    assert_eq!(world.sweep().claimed, 0);
    world.clock.advance(62_000);
    let report = world.sweep();
    assert_eq!(report.delivered, 1, "{report:?} {:?}", world.job(&id));
}

#[test]
fn a_fan_out_runs_in_bounded_steps_and_a_redone_step_creates_no_duplicates() {
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.fanout_batch = 2;
    let hookah = world.hookah();
    world.open_channel("c");
    for i in 0..5 {
        world.subscribe("c", &format!("https://s{i}.example/"));
    }
    let (event, immediate) = hookah.channels().publish("c", "a.b", vec![], b"{}".to_vec()).unwrap();
    assert_eq!((event.matched, event.cursor, immediate.len()), (2, 2, 2), "one bounded step before the answer");

    // Redo the first step as if its writer had died after committing it: same jobs, none new.
    let replayed = crate::channels::record::EventRecord { cursor: 0, matched: 0, ..event.clone() };
    let mut entries = Vec::new();
    let (_, again) = hookah.fanout_step(replayed, b"{}", T0, false, &mut entries).unwrap();
    assert!(again.is_empty(), "derived ids: the step finds its jobs already made");

    block_on(hookah.follow_up(FollowUp::AttemptMany(immediate)));
    // A step per sweep; each step's jobs are delivered by a later sweep.
    world.sweep_each_second(8);
    assert_eq!(
        (world.transport.sent.borrow().len(), world.urls_sent().len()),
        (5, 5),
        "each subscription exactly once"
    );
}

#[test]
fn a_fan_out_step_another_sweep_holds_runs_once_and_only_after_that_turn() {
    use crate::engine::fence::{self, Turn, TURN_STALE_MS};
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.fanout_batch = 1;
    let hookah = world.hookah();
    world.open_channel("c");
    for i in 0..2 {
        world.subscribe("c", &format!("https://s{i}.example/"));
    }
    let (event, immediate) = hookah.channels().publish("c", "a.b", vec![], b"{}".to_vec()).unwrap();
    block_on(hookah.follow_up(FollowUp::AttemptMany(immediate)));
    // A sweep that overran its bucket window is running the second step: it holds the turn.
    let key = keys::event(&event.id);
    assert_eq!(fence::take_turn(&world.kv, &key, event.turn, T0).unwrap(), Turn::Won(1));
    world.sweep_each_second(5);
    assert_eq!(world.urls_sent(), vec!["https://s0.example/"], "no step without the turn");
    // That sweep died without writing: once its turn is stale the step runs, once.
    world.clock.advance(TURN_STALE_MS);
    world.sweep_each_second(5);
    assert_eq!(world.transport.sent.borrow().len(), 2, "{:?}", world.urls_sent());
    assert_eq!(world.urls_sent(), vec!["https://s0.example/", "https://s1.example/"]);
}

#[test]
fn a_fresh_stores_first_sweep_walks_the_lookback_in_steps_then_delivers_what_is_due() {
    let world = World::new(ScriptedTransport::status(200));
    let (id, _) = world.submit(&[("hookah-delay", "5")]);
    world.clock.advance(10_000);
    let report = world.sweep();
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    assert!(report.batches > keys::LOOKBACK_BUCKETS / 256, "an hour of buckets, a stretch a batch: {report:?}");
    assert!(matches!(world.job(&id).unwrap().state, State::Delivered { .. }));
    use crate::keys::TypedKv;
    let cursor = world.kv.load(&keys::sweep_cursor("")).unwrap().unwrap();
    assert!(keys::bucket_of(world.clock.0.get()) - cursor <= keys::SETTLE_MS / keys::BUCKET_MS + 1, "{cursor}");
}

#[test]
fn a_bucket_another_sweep_holds_far_behind_keeps_no_sweep_from_later_work() {
    use crate::ports::Kv;
    let world = World::new(ScriptedTransport::status(200));
    world.sweep();
    let (held, _) = world.submit(&[("hookah-delay", "5")]);
    world.clock.advance(600_000);
    let (later, _) = world.submit(&[("hookah-delay", "5")]);
    world.clock.advance(10_000);
    // Another sweep works the old job's bucket now: the cursor cannot pass it.
    let timer = world.job(&held).unwrap().timer;
    world.kv.increment(keys::bucket_claim("", timer, world.clock.0.get()).as_str(), 1).unwrap();
    let report = world.sweep();
    assert!(report.busy && report.claimed == 1, "{report:?}");
    assert!(matches!(world.job(&later).unwrap().state, State::Delivered { .. }));
    assert!(matches!(world.job(&held).unwrap().state, State::Pending { .. }));
}

#[test]
fn a_sweep_leaves_a_bucket_another_sweep_holds_until_its_window_ends() {
    let world = World::new(ScriptedTransport::status(500));
    let (id, _) = world.submit(&[]);
    world.clock.advance(120_000);
    let timer = world.job(&id).unwrap().timer;
    use crate::ports::Kv;
    world.kv.increment(keys::bucket_claim("", timer, world.clock.0.get()).as_str(), 1).unwrap();
    let report = world.sweep();
    assert!(report.busy && report.claimed == 0, "{report:?}");
    world.clock.advance(keys::BUCKET_CLAIM_WINDOW_MS);
    assert_eq!(world.sweep().claimed, 1);
}

#[test]
fn re_enabling_a_subscription_restarts_its_failing_clock() {
    use crate::channels::record::Status;
    use crate::engine::{Principal, SubscriptionRequest};
    let mut world = World::new(ScriptedTransport::status(500));
    world.config.disable_after_failing_ms = 3_600_000;
    let hookah = world.hookah();
    hookah.channels().set_channel("c", crate::engine::ChannelRequest { verify_intent: false }).unwrap();
    let request = SubscriptionRequest { url: Some("https://s.example/".into()), ..Default::default() };
    let (view, _) = hookah.channels().create_subscription(&Principal::App, "c", request).unwrap();
    let id = view.record.id.to_string();
    let publish_and_attempt = || {
        let hookah = world.hookah();
        let (_, immediate) = hookah.channels().publish("c", "a.b", vec![], b"{}".to_vec()).unwrap();
        block_on(hookah.follow_up(FollowUp::AttemptMany(immediate)));
    };
    let status = || world.hookah().channels().find_subscription(&Principal::App, "c", &id, false).unwrap().status;
    publish_and_attempt();
    world.clock.advance(2 * 3_600_000);
    publish_and_attempt();
    assert_eq!(status(), Status::Disabled, "failing for longer than disable_after_failing");

    world.hookah().channels().enable_subscription(&Principal::App, "c", &id).unwrap();
    assert_eq!(status(), Status::Active);
    publish_and_attempt();
    assert_eq!(status(), Status::Active, "the first failure after /enable starts a new failing clock");
}

#[test]
fn parallel_sweeps_share_the_due_work_without_repeating_an_attempt() {
    let mut world = World::new(ScriptedTransport::status(500));
    // One target for all: no per-target limit, so the sweeps' shares show.
    world.config.target_concurrency = 0;
    // Spread over 30 s, so the retries fall in many buckets.
    let ids: Vec<JobId> = (0..300)
        .map(|_| {
            world.clock.advance(100);
            let (id, follow_up) = world.submit(&[]);
            block_on(world.hookah().follow_up(follow_up));
            id
        })
        .collect();
    world.clock.advance(10_000);
    let (first, second) = (world.hookah(), world.hookah());
    let (a, b) = block_on(async { futures::join!(first.sweep(), second.sweep()) });
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.claimed + b.claimed, 300, "{a:?} {b:?}");
    assert!(a.claimed > 0 && b.claimed > 0, "both worked, on different buckets: {a:?} {b:?}");
    // Even with every bucket's progress and claims forgotten, a third sweep repeats nothing.
    for key in world.kv.keys_with_prefix("due:") {
        if key.ends_with(":done") || key.contains(":claim:") {
            world.kv.data.borrow_mut().remove(&key);
        }
    }
    assert_eq!(world.sweep().claimed, 0);
    assert_eq!(world.transport.sent.borrow().len(), 600);
    for id in &ids {
        assert_eq!(world.job(id).unwrap().attempts.len(), 2);
    }
}

#[test]
fn a_job_delivered_at_first_is_filed_from_its_timer_slot_without_reading_its_record() {
    let world = World::new(ScriptedTransport::status(200));
    let (id, follow_up) = world.submit(&[]);
    block_on(world.hookah().follow_up(follow_up));
    let lease_ms = world.job(&id).unwrap().lease_ms();
    world.clock.advance(lease_ms + 1_000);
    // The outcome wrote the finished record into the job's slot too: the filing sweep reads
    // no job key at all.
    *world.kv.failing_reads.borrow_mut() = Some("job:".into());
    let report = world.sweep();
    *world.kv.failing_reads.borrow_mut() = None;
    assert_eq!((report.slots, report.skipped), (1, 0), "{report:?}");
    let page = world.hookah().list_page("delivered", 10, None, |_| true).unwrap();
    assert_eq!(page.jobs.iter().map(|job| job.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
}

#[test]
fn an_attempt_that_ends_in_a_retry_spends_its_timer_slot_and_a_sweep_made_delivery_is_filed_from_its_slot() {
    use super::Answer;
    let world = World::receiving(crate::Config::default());
    world.answer("http://flaky.example/", Answer::Status(500));
    let (id, follow_up) = world.submit_to("/flaky.example/a", &[]);
    block_on(world.hookah().follow_up(follow_up));
    let lease_ms = world.job(&id).unwrap().lease_ms();
    // The first attempt (the accepting invocation's) and the second (a sweep's) fail.
    world.clock.advance(7_000);
    assert_eq!(world.sweep().claimed, 1);
    // Both leases end: their slots were spent by the outcomes, so the sweep reads no record.
    world.clock.advance(lease_ms + 1_000);
    let reads_no_job = |world: &World| {
        *world.kv.failing_reads.borrow_mut() = Some("job:".into());
        let report = world.sweep();
        *world.kv.failing_reads.borrow_mut() = None;
        report
    };
    let report = reads_no_job(&world);
    assert_eq!((report.slots, report.skipped, report.claimed), (2, 2, 0), "{report:?}");
    // The third attempt (a sweep's) is delivered; its slot carries the finished record.
    world.answer("http://flaky.example/", Answer::Status(200));
    world.clock.advance(6 * 60_000);
    assert_eq!(world.sweep().claimed, 1);
    assert!(matches!(world.job(&id).unwrap().state, State::Delivered { .. }));
    world.clock.advance(lease_ms + 1_000);
    let report = reads_no_job(&world);
    assert_eq!((report.slots, report.skipped), (1, 0), "{report:?}");
    let page = world.hookah().list_page("delivered", 10, None, |_| true).unwrap();
    assert_eq!(page.jobs.iter().map(|job| job.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
}

#[test]
fn a_sweep_reads_the_progress_of_a_bucket_it_holds_or_another_sweep_holds_once() {
    use crate::keys::TypedKv;
    use crate::ports::Clock;
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.sweep_batch = 10;
    world.sweep(); // a fresh store's first sweep walks the lookback
                   // 5 jobs whose leases end in one bucket, then 30 whose leases end in the next.
    let submit = |n| {
        let mut id = None;
        for _ in 0..n {
            let (job, follow_up) = world.submit(&[]);
            block_on(world.hookah().follow_up(follow_up));
            id = Some(job);
        }
        world.job(&id.unwrap()).unwrap()
    };
    let first = submit(5).timer;
    world.clock.advance(1_000);
    let second = submit(30).timer;
    assert_eq!(second, first + 1);
    world.clock.advance(world.job(&world.kv.keys_with_prefix("job:")[0][4..]).unwrap().lease_ms() + 1_000);
    // Another sweep holds the first bucket; this one takes the second in three batches.
    assert_eq!(world.kv.add_to(&keys::bucket_claim("", first, world.clock.now_ms()), 1).unwrap(), 1);
    *world.kv.read_log.borrow_mut() = Some(Vec::new());
    let report = world.sweep();
    let log = world.kv.read_log.borrow_mut().take().unwrap();
    assert_eq!((report.slots, report.batches, report.busy), (30, 3, true), "{report:?}");
    for bucket in [first, second] {
        for key in [keys::slot_count("", bucket).to_string(), keys::slot_done("", bucket).to_string()] {
            assert_eq!(log.iter().filter(|read| **read == key).count(), 1, "{key} in {report:?}");
        }
    }
}

#[test]
fn a_finished_job_is_listed_and_counted_as_soon_as_its_outcome_is_recorded_and_once_filed() {
    use super::Answer;
    let world = World::receiving(crate::Config { retry_schedule_ms: vec![], ..crate::Config::default() });
    world.answer("http://down.example/", Answer::Status(500));
    let delivered = world.request("POST", "/up.example/hook", "{}").json["id"].as_str().unwrap().to_string();
    let dead = world.request("POST", "/down.example/hook", "{}").json["id"].as_str().unwrap().to_string();
    let listed = |state: &str| -> Vec<String> {
        let page = world.hookah().jobs().list(state, 20, None).unwrap();
        page.jobs.iter().map(|job| job.id.to_string()).collect()
    };
    let counted = |state: &str| world.hookah().stats_snapshot().unwrap().finished(state);
    // No sweep has run: both show at once.
    assert_eq!((listed("delivered"), listed("dead")), (vec![delivered.clone()], vec![dead.clone()]));
    assert_eq!((counted("delivered"), counted("dead")), (1, 1));
    // Filed at the lease's end: still shown and counted once.
    world.clock.advance(world.job(&delivered).unwrap().lease_ms());
    world.sweep_each_second(3);
    assert!(world.kv.keys_with_prefix("list:delivered:").len() > 1, "filed");
    assert_eq!((listed("delivered"), listed("dead")), (vec![delivered.clone()], vec![dead]));
    assert_eq!((counted("delivered"), counted("dead")), (1, 1));
}
