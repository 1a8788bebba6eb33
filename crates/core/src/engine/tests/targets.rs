//! Per-target limits: a target's backlog waits its turn without holding up anyone else's.

use super::World;
use crate::api::FollowUp;
use crate::ids::JobId;
use crate::job::State;
use crate::keys;
use crate::memory::ScriptedTransport;
use futures::executor::block_on;

fn sent_to(world: &World, host: &str) -> usize {
    world.transport.sent.borrow().iter().filter(|request| request.url.contains(host)).count()
}

/// Other sweeps (other instances) hold `n` places in flight to `host`, or give them back.
fn others_hold(world: &World, host: &str, n: i64) {
    use crate::ports::Kv;
    let epoch = world.clock.0.get() / crate::engine::targets::FLIGHT_EPOCH_MS;
    world.kv.increment(keys::target_flight(host, epoch).as_str(), n).unwrap();
}

#[test]
fn claims_waiting_in_a_sweep_hold_no_place_so_a_limit_below_the_batch_still_delivers_it() {
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.target_concurrency = 2;
    let ids: Vec<JobId> = (0..5).map(|_| world.submit(&[("hookah-delay", "5")]).0).collect();
    world.clock.advance(10_000);
    let report = world.sweep();
    assert_eq!((report.claimed, report.delivered, report.held_back), (5, 5, 0), "{report:?}");
    for id in &ids {
        assert_eq!(world.job(id).unwrap().attempts.len(), 1);
    }
}

#[test]
fn a_target_whose_places_other_sweeps_hold_gets_its_claims_back_without_spent_attempts() {
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.target_concurrency = 2;
    let ids: Vec<JobId> = (0..5).map(|_| world.submit(&[("hookah-delay", "5")]).0).collect();
    world.clock.advance(10_000);
    others_hold(&world, "example.com", 2);
    let report = world.sweep();
    assert_eq!((report.claimed, report.delivered, report.held_back), (5, 0, 5), "{report:?}");
    assert_eq!(sent_to(&world, "example.com"), 0);
    for id in &ids {
        let job = world.job(id).unwrap();
        assert!(matches!(job.state, State::Pending { .. }) && job.attempts.is_empty(), "{job:?}");
    }
    // The other sweeps' attempts end: the jobs go a second later, one attempt each.
    others_hold(&world, "example.com", -2);
    world.clock.advance(2_000);
    assert_eq!(world.sweep().delivered, 5);
    for id in &ids {
        assert_eq!(world.job(id).unwrap().attempts.len(), 1, "holding back spent no attempt");
    }
}

#[test]
fn a_claim_given_back_counts_its_previous_attempt_once_in_the_statistics() {
    let world = World::receiving(crate::Config { target_concurrency: 2, ..crate::Config::default() });
    world.answer("http://example.com/", super::Answer::Status(500));
    for _ in 0..3 {
        let (_, follow_up) = world.submit(&[]);
        block_on(world.hookah().follow_up(follow_up)); // the first attempt fails
    }
    world.answer("http://example.com/", super::Answer::Status(200));
    world.clock.advance(10_000);
    others_hold(&world, "example.com", 2);
    assert_eq!(world.sweep().held_back, 3, "claimed (counting each failure), then given back");
    others_hold(&world, "example.com", -2);
    world.clock.advance(2_000);
    assert_eq!(world.sweep().delivered, 3);
    world.clock.advance(120_000); // past the leases: the delivered jobs are filed
    world.sweep();
    let stats = world.hookah().stats_snapshot().unwrap().stats;
    assert_eq!((stats.failed_total, stats.delivered_total), (3, 3), "each attempt counted once");
}

#[test]
fn a_backlog_to_one_target_delays_neither_another_targets_retries_nor_first_attempts() {
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.target_concurrency = 2;
    for _ in 0..20 {
        world.submit_to("/backlog.example/hook", &[("hookah-delay", "5")]);
    }
    let (other, _) = world.submit_to("/other.example/hook", &[("hookah-delay", "5")]);
    world.clock.advance(10_000);
    others_hold(&world, "backlog.example", 2);
    let report = world.sweep();
    assert_eq!((report.delivered, report.held_back), (1, 20), "{report:?}");
    assert_eq!(sent_to(&world, "other.example"), 1, "the other target's job went in the same sweep");
    assert_eq!(world.job(&other).unwrap().attempts.len(), 1);
    // A first attempt is made by the accepting invocation, never queued behind a sweep.
    let (_, follow_up) = world.submit_to("/other.example/hook", &[]);
    assert!(matches!(follow_up, FollowUp::FirstAttempt(..)));
    block_on(world.hookah().follow_up(follow_up));
    assert_eq!(sent_to(&world, "other.example"), 2);
}

#[test]
fn a_claim_that_waited_in_its_sweep_too_long_for_its_lease_goes_back_unattempted() {
    use crate::delivery::AttemptResult;
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.target_concurrency = 1;
    // The receiver takes 45 s to answer: the second claim waits that long for the one place.
    let clock = world.clock.clone();
    world.transport = ScriptedTransport::new(move |_| {
        clock.advance(45_000);
        AttemptResult::Response { status: 200, retry_after: None }
    });
    let ids: Vec<JobId> = (0..2).map(|_| world.submit(&[("hookah-delay", "5")]).0).collect();
    world.clock.advance(10_000);
    let report = world.sweep();
    // Its lease (60 s) could no longer see an attempt through: no attempt whose outcome nobody
    // would record, and so no second delivery after the lease.
    assert_eq!((report.claimed, report.delivered, report.held_back), (2, 1, 1), "{report:?}");
    world.clock.advance(2_000);
    assert_eq!(world.sweep().delivered, 1);
    world.clock.advance(10 * 60_000);
    world.sweep();
    assert_eq!(sent_to(&world, "example.com"), 2);
    for id in &ids {
        assert_eq!(world.job(id).unwrap().attempts.len(), 1);
    }
}
