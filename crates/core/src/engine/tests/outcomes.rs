//! Outcomes recorded in groups (`engine/outcome.rs`): what one write holds, and what it may not.

use super::batch::{calls, ids, post};
use super::{Answer, World, T0};
use crate::delivery::AttemptResult;
use crate::job::{lease_ms, State, LEASE_SAFETY_MS};
use crate::memory::{ManualClock, ScriptedTransport};
use crate::Config;
use futures::executor::block_on;
use std::collections::BTreeSet;

#[test]
fn a_groups_retries_share_an_increment_per_bucket_and_one_for_the_pending_list() {
    let world = World::receiving(Config::default());
    world.answer("https://a.example/", Answer::Status(500));
    world.transport.at_once.set(true);
    let (answer, reply) = post(&world, &calls(20));
    let ids = ids(&answer);
    block_on(world.hookah().follow_up(reply.follow_up));
    let jobs: Vec<_> = ids.iter().map(|id| world.job(id).unwrap()).collect();
    assert!(jobs.iter().all(|job| matches!(job.state, State::Pending { .. }) && job.pending_listed.is_some()));
    // The retries' jitter spreads them over a few buckets: one increment each, one for the
    // pending list, one write for all 20 outcomes (after the batch's own two commits).
    let buckets: BTreeSet<u64> = jobs.iter().map(|job| job.timer).collect();
    assert_eq!(world.kv.commits.get(), 2 + buckets.len() as u64 + 1 + 1);
    let listed = world.kv.keys_with_prefix("list:pending:").len();
    assert_eq!(listed, 20 + 1, "an entry each, and the list's counter");

    world.answer("https://a.example/", Answer::Status(200));
    world.clock.advance(7_000);
    world.sweep();
    assert_eq!(world.sent().len(), 40, "each retried once, from its own timer slot");
    assert!(ids.iter().all(|id| matches!(world.job(id).unwrap().state, State::Delivered { .. })));
}

#[test]
fn a_cancel_during_the_attempts_turns_only_that_jobs_retry_into_a_cancel() {
    let world = World::receiving(Config::default());
    world.answer("https://a.example/", Answer::Status(500));
    let (answer, reply) = post(&world, &calls(3));
    let ids = ids(&answer);
    // In flight since the answer: a cancel only sets the flag the outcome reads.
    let cancelled = world.hookah().jobs().cancel_job(&crate::ids::JobId::parse(&ids[1]).unwrap()).unwrap();
    assert!(matches!(cancelled.state, State::InFlight { .. }), "{:?}", cancelled.state);
    block_on(world.hookah().follow_up(reply.follow_up));
    assert!(matches!(world.job(&ids[0]).unwrap().state, State::Pending { .. }));
    assert!(matches!(world.job(&ids[1]).unwrap().state, State::Cancelled { .. }));
    assert!(matches!(world.job(&ids[2]).unwrap().state, State::Pending { .. }));
}

#[test]
fn the_lease_is_judged_when_the_group_is_written_not_when_each_attempt_ended() {
    // The third attempt takes so long that, by the time the group is written, no lease has
    // `LEASE_SAFETY_MS` left, although the first two ended well inside theirs.
    let clock = ManualClock::at(T0);
    let slow = clock.clone();
    let timeout_ms = Config::default().timeout_ms;
    let mut first = true;
    let transport = ScriptedTransport::new(move |request| {
        if request.url.ends_with("/2") && std::mem::take(&mut first) {
            slow.advance(lease_ms(timeout_ms) - LEASE_SAFETY_MS + 1);
        }
        AttemptResult::Response { status: 200, retry_after: None }
    });
    transport.at_once.set(true);
    let world = World { clock, ..World::new(transport) };
    let (answer, reply) = post(&world, &calls(3));
    let ids = ids(&answer);
    let before = world.kv.commits.get();
    block_on(world.hookah().follow_up(reply.follow_up));
    assert_eq!(world.kv.commits.get(), before, "no outcome written");
    assert!(ids.iter().all(|id| matches!(world.job(id).unwrap().state, State::InFlight { claim: 1, .. })));

    // At the leases' end a sweep takes the jobs over, as if the invocation had died.
    world.clock.advance(LEASE_SAFETY_MS);
    world.sweep_each_second(2);
    assert_eq!(world.sent().len(), 6);
    assert!(ids.iter().all(|id| matches!(world.job(id).unwrap().state, State::Delivered { .. })));
}

#[test]
fn a_sweep_records_its_outcomes_in_groups() {
    let world = World::receiving(Config::default());
    world.answer("https://a.example/", Answer::Status(500));
    world.transport.at_once.set(true);
    world.sweep(); // a fresh store's first sweep walks an hour of empty buckets
    let (answer, reply) = post(&world, &calls(40));
    let ids = ids(&answer);
    block_on(world.hookah().follow_up(reply.follow_up));
    world.answer("https://a.example/", Answer::Status(200));
    world.clock.advance(7_000);
    *world.kv.commit_log.borrow_mut() = Some(Vec::new());
    world.sweep();
    assert!(ids.iter().all(|id| matches!(world.job(id).unwrap().state, State::Delivered { .. })));
    let log = world.kv.commit_log.borrow_mut().take().unwrap();
    let turns = log.iter().filter(|c| c.starts_with("increment job:")).count();
    let places = log.iter().filter(|c| c.starts_with("increment") && c.contains(":flight:")).count();
    assert_eq!(turns, 40, "a turn a claim");
    assert_eq!(places, 2 * 40, "a target place taken and given back an attempt");
    let rest: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .filter(|c| !c.starts_with("increment job:") && !c.contains(":flight:"))
        .collect();
    // Two outcome writes, of 32 and 8 outcomes (the spilled first attempt's detail, the copy
    // in the claim's slot, the record); the rest is the batch's: two bucket claims, one slot
    // reservation and one write for the claims, the statistics (a turn and a write), the
    // buckets' progress, finishing the buckets (deletion and cursor), freeing the bucket claims.
    assert_eq!(rest.iter().filter(|c| **c == "set_many 96" || **c == "set_many 24").count(), 2, "{rest:#?}");
    assert_eq!(rest.len(), 12, "{rest:#?}");
}
