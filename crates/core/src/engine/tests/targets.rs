//! Per-target limits: a target's backlog waits its turn without holding up anyone else's.

use super::World;
use crate::api::FollowUp;
use crate::ids::JobId;
use crate::memory::ScriptedTransport;
use futures::executor::block_on;

fn sent_to(world: &World, host: &str) -> usize {
    world.transport.sent.borrow().iter().filter(|request| request.url.contains(host)).count()
}

#[test]
fn a_target_limit_holds_jobs_back_and_releases_them_without_spending_attempts() {
    let mut world = World::new(ScriptedTransport::status(200));
    world.config.target_concurrency = 2;
    let ids: Vec<JobId> = (0..5).map(|_| world.submit(&[("hookah-delay", "5")]).0).collect();
    world.clock.advance(10_000);
    let report = world.sweep();
    assert_eq!((report.claimed, report.held_back), (2, 3), "{report:?}");
    world.clock.advance(2_000);
    let report = world.sweep();
    assert_eq!((report.claimed, report.held_back), (2, 1), "{report:?}");
    world.clock.advance(2_000);
    assert_eq!(world.sweep().claimed, 1);
    assert_eq!(sent_to(&world, "example.com"), 5);
    for id in &ids {
        assert_eq!(world.job(id).unwrap().attempts.len(), 1, "holding back spent no attempt");
    }
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
    let report = world.sweep();
    assert_eq!((report.claimed, report.held_back), (3, 18), "{report:?}");
    assert_eq!(sent_to(&world, "other.example"), 1, "the other target's job went in the same sweep");
    assert_eq!(world.job(&other).unwrap().attempts.len(), 1);
    // A first attempt is made by the accepting invocation, never queued behind a sweep.
    let (_, follow_up) = world.submit_to("/other.example/hook", &[]);
    assert!(matches!(follow_up, FollowUp::FirstAttempt(..)));
    block_on(world.hookah().follow_up(follow_up));
    assert_eq!(sent_to(&world, "other.example"), 2);
}
