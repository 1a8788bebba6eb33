//! Flow keys with settings (`engine/flows/`): pause and resume, rate and parallelism, ordered
//! delivery, per-flow retry policy, and that one flow's backlog holds back no other.

use super::{Answer, World};
use crate::job::State;
use crate::Config;
use futures::executor::block_on;

const A: &str = "https://a.example/";

/// Stores `settings` (a JSON body) for flow `key` through its `PUT` route.
fn set_flow(world: &World, key: &str, settings: &str) {
    let answer = world.request("PUT", &format!("/_hookah/v1/flows/{key}"), settings);
    assert!(matches!(answer.status, 200 | 201), "{}", answer.json);
}

/// Submits a call to `a.example/{n}` in flow `key`, carrying out its follow-up; its job id.
fn submit(world: &World, key: &str, n: usize) -> String {
    let answer = world.call(
        "POST",
        &format!("/{A}{n}"),
        &[("authorization", "Bearer t"), ("hookah-flow-key", key)],
        format!("{{\"n\":{n}}}").as_bytes(),
    );
    assert_eq!(answer.status, 202, "{}", answer.json);
    answer.json["id"].as_str().unwrap().to_string()
}

/// The paths sent to, in order (`/0`, `/1`, …).
fn paths(world: &World) -> Vec<String> {
    world.sent().iter().map(|sent| sent.rsplit('/').next().unwrap().to_string()).collect()
}

#[test]
fn a_paused_flow_makes_no_attempts_until_resumed_and_holds_back_no_other_flow() {
    let world = World::receiving(Config::default());
    set_flow(&world, "tenant-a", r#"{"paused":true}"#);
    let ids: Vec<String> = (0..3).map(|n| submit(&world, "tenant-a", n)).collect();
    let other = submit(&world, "tenant-b", 9);
    assert_eq!(world.sent(), vec![format!("POST {A}9")], "only the other flow's job went, at once");
    world.sweep_each_second(120);
    assert_eq!(world.sent().len(), 1, "a paused flow makes no attempts");
    for id in &ids {
        let job = world.job(id).unwrap();
        assert!(job.waiting && job.attempts.is_empty(), "{:?}", job.state);
    }
    let flow = world.hookah().flow_record("tenant-a").unwrap().unwrap();
    assert_eq!(world.hookah().flow_counts(&flow).unwrap().waiting, 3);
    assert!(matches!(world.job(&other).unwrap().state, State::Delivered { .. }));

    set_flow(&world, "tenant-a", "{}");
    world.sweep_each_second(2);
    assert_eq!(paths(&world), ["9", "0", "1", "2"], "released in the order they began to wait");
    for id in &ids {
        assert!(matches!(world.job(id).unwrap().state, State::Delivered { .. }));
    }
    let flow = world.hookah().flow_record("tenant-a").unwrap().unwrap();
    assert_eq!(world.hookah().flow_counts(&flow).unwrap().waiting, 0);
    assert!(world.kv.keys_with_prefix("flow:").iter().all(|key| !key.contains(":wait:") || key.ends_with(":wait:n")));
}

#[test]
fn a_flows_rate_lets_that_many_start_a_period() {
    let world = World::receiving(Config::default());
    set_flow(&world, "slow", r#"{"rate":2}"#);
    for n in 0..6 {
        submit(&world, "slow", n);
    }
    assert!(world.sent().is_empty(), "a flow with settings attempts nothing inline");
    let mut per_second = Vec::new();
    for _ in 0..5 {
        let before = world.sent().len();
        world.sweep_each_second(1);
        per_second.push(world.sent().len() - before);
    }
    assert_eq!(per_second, [2, 2, 2, 0, 0]);
    assert_eq!(paths(&world), ["0", "1", "2", "3", "4", "5"]);
}

#[test]
fn a_flows_rate_counts_over_its_period() {
    let world = World::receiving(Config::default());
    // At the start of a period.
    world.clock.advance(60_000 - world.clock.0.get() % 60_000);
    set_flow(&world, "hourly", r#"{"rate":3,"period":"1m"}"#);
    for n in 0..5 {
        submit(&world, "hourly", n);
    }
    world.sweep_each_second(59);
    let sent_first_minute = world.sent().len();
    world.sweep_each_second(62);
    assert_eq!(sent_first_minute, 3, "as many as the rate in the first period");
    assert_eq!(world.sent().len(), 5, "the rest in the next period");
}

#[test]
fn an_ordered_flow_delivers_one_at_a_time_in_acceptance_order_and_a_failing_head_blocks_it() {
    let world = World::receiving(Config::default());
    set_flow(&world, "orders", r#"{"ordered":true}"#);
    world.answer(&format!("{A}0"), Answer::Status(503));
    let ids: Vec<String> = (0..3).map(|n| submit(&world, "orders", n)).collect();
    world.sweep_each_second(3);
    assert_eq!(paths(&world), ["0"], "the head failed; nothing after it goes");
    world.sweep_each_second(30);
    assert!(paths(&world).iter().all(|path| path == "0"), "{:?}", paths(&world));
    let flow = world.hookah().flow_record("orders").unwrap().unwrap();
    assert_eq!(flow.queue.head.as_ref().map(|id| id.to_string()), Some(ids[0].clone()), "the head blocks");
    let shown = world.request("GET", "/_hookah/v1/flows/orders", "");
    assert_eq!((shown.json["head"].as_str(), shown.json["waiting"].as_u64()), (Some(ids[0].as_str()), Some(2)));

    world.answer(&format!("{A}0"), Answer::Status(200));
    // Its next retry comes on the variables' schedule; the others follow it at once.
    world.sweep_each_second(300);
    let sent = paths(&world);
    let first_other = sent.iter().position(|path| path != "0").unwrap();
    assert_eq!(&sent[first_other..], ["1", "2"], "then the rest, in order: {sent:?}");
    assert!(ids.iter().all(|id| matches!(world.job(id).unwrap().state, State::Delivered { .. })));
}

#[test]
fn an_ordered_flows_cancelled_head_lets_the_next_job_go() {
    let world = World::receiving(Config::default());
    set_flow(&world, "orders", r#"{"ordered":true}"#);
    world.answer(&format!("{A}0"), Answer::Status(503));
    let ids: Vec<String> = (0..2).map(|n| submit(&world, "orders", n)).collect();
    world.sweep_each_second(2);
    let cancelled = world.request("DELETE", &format!("/_hookah/v1/jobs/{}", ids[0]), "");
    assert_eq!(cancelled.status, 200, "{}", cancelled.json);
    world.sweep_each_second(40);
    assert_eq!(paths(&world), ["0", "1"]);
}

#[test]
fn parallelism_caps_the_attempts_a_flows_step_releases() {
    let world = World::receiving(Config::default());
    set_flow(&world, "one-at-a-time", r#"{"parallelism":1}"#);
    for n in 0..3 {
        submit(&world, "one-at-a-time", n);
    }
    let mut per_second = Vec::new();
    for _ in 0..4 {
        let before = world.sent().len();
        world.sweep_each_second(1);
        per_second.push(world.sent().len() - before);
    }
    assert_eq!(per_second, [1, 1, 1, 0]);
}

#[test]
fn a_flows_retry_schedule_and_max_attempts_stand_in_for_the_variables() {
    let world = World::receiving(Config::default());
    set_flow(&world, "patient", r#"{"retry_schedule":["60s"],"max_attempts":2}"#);
    world.answer(A, Answer::Status(500));
    let id = submit(&world, "patient", 0);
    world.sweep_each_second(2);
    let State::Pending { next_at } = world.job(&id).unwrap().state else { panic!("not pending") };
    let attempted = world.job(&id).unwrap().attempts[0].at;
    assert!((48_000..=72_000).contains(&(next_at - attempted)), "the flow's 60 s ± 20 %: {}", next_at - attempted);
    world.sweep_each_second(80);
    let job = world.job(&id).unwrap();
    assert!(matches!(job.state, State::Dead { .. }), "dead after the flow's 2 attempts: {:?}", job.state);
    assert_eq!(job.attempts.len(), 2);

    // A submission's own Hookah-Max-Attempts still wins.
    let answer = world.call(
        "POST",
        &format!("/{A}own"),
        &[("authorization", "Bearer t"), ("hookah-flow-key", "patient"), ("hookah-max-attempts", "3")],
        b"{}",
    );
    world.sweep_each_second(200);
    let own = world.job(answer.json["id"].as_str().unwrap()).unwrap();
    assert_eq!(own.attempts.len(), 3, "{:?}", own.state);
}

#[test]
fn a_paused_subscriptions_flow_holds_only_its_own_deliveries() {
    let world = World::receiving(Config::default());
    world.open_channel("orders");
    world.subscribe("orders", "https://slow.example/hook");
    world.subscribe("orders", "https://fast.example/hook");
    let subs =
        world.hookah().channels().list_subscriptions(&crate::engine::Principal::App, "orders", 10, None).unwrap();
    let slow = subs.items.iter().find(|sub| sub.url.contains("slow")).unwrap().id.to_string();
    set_flow(&world, &slow, r#"{"paused":true}"#);
    let published = world.call(
        "POST",
        "/_hookah/v1/channels/orders/events",
        &[("authorization", "Bearer t"), ("hookah-event-type", "order.created")],
        b"{}",
    );
    assert_eq!(published.status, 202, "{}", published.json);
    world.sweep_each_second(10);
    assert_eq!(world.urls_sent(), ["https://fast.example/hook"]);
    set_flow(&world, &slow, "{}");
    world.sweep_each_second(2);
    assert_eq!(world.urls_sent(), ["https://fast.example/hook", "https://slow.example/hook"]);
}

#[test]
fn a_batchs_calls_in_an_ordered_flow_go_in_call_order() {
    let world = World::receiving(Config::default());
    set_flow(&world, "orders", r#"{"ordered":true}"#);
    let calls: serde_json::Value =
        (0..5).map(|n| serde_json::json!({ "url": format!("{A}{n}"), "flow_key": "orders" })).collect();
    let (answer, reply) = super::batch::post(&world, &calls);
    assert_eq!(answer.status, 202, "{}", answer.json);
    block_on(world.hookah().follow_up(reply.follow_up));
    assert!(world.sent().is_empty());
    world.sweep_each_second(10);
    assert_eq!(paths(&world), ["0", "1", "2", "3", "4"]);
}

#[test]
fn a_sync_call_to_a_flow_with_settings_is_refused_and_stores_nothing() {
    let world = World::receiving(Config::default());
    set_flow(&world, "tenant-a", "{}");
    let before = world.kv.data.borrow().clone();
    let answer = world.call(
        "POST",
        &format!("/{A}0"),
        &[("authorization", "Bearer t"), ("hookah-flow-key", "tenant-a"), ("hookah-mode", "sync")],
        b"{}",
    );
    assert_eq!((answer.status, answer.code()), (409, "flow_controlled"));
    assert_eq!(*world.kv.data.borrow(), before);
}

#[test]
fn an_ordered_flows_head_hands_its_turn_on_within_the_sweep() {
    let world = World::receiving(Config::default());
    set_flow(&world, "orders", r#"{"ordered":true}"#);
    for n in 0..10 {
        submit(&world, "orders", n);
    }
    world.sweep_each_second(2);
    assert_eq!(paths(&world), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], "each the moment the last ended");
}

#[test]
fn a_flow_has_one_chain_of_steps_however_many_wake_ups_were_written() {
    let world = World::receiving(Config::default());
    set_flow(&world, "trickle", r#"{"rate":1}"#);
    // A job a second for 30 s, each accept in a bucket of its own, into a flow that lets one go a
    // second: the queue stays long, and every accept finds a step already scheduled.
    let mut steps = 0;
    for n in 0..30 {
        submit(&world, "trickle", n);
        submit(&world, "trickle", 100 + n);
        world.clock.advance(1_000);
        steps += world.sweep().flow_steps;
    }
    assert!(steps <= 31, "{steps} steps in 30 s");
    let mut later = Vec::new();
    for _ in 0..10 {
        world.clock.advance(1_000);
        later.push(world.sweep().flow_steps);
    }
    assert!(later.iter().all(|&n| n == 1), "one step a second: {later:?}");
}

#[test]
fn what_a_job_of_an_ordered_flow_costs() {
    let world = World::receiving(Config::default());
    world.transport.at_once.set(true);
    set_flow(&world, "orders", r#"{"ordered":true}"#);
    world.sweep_each_second(1);
    *world.kv.commit_log.borrow_mut() = Some(Vec::new());
    let reads = world.kv.reads.get();
    for n in 0..20 {
        submit(&world, "orders", n);
    }
    let accepted = world.kv.commit_log.borrow_mut().replace(Vec::new()).unwrap();
    let accept_reads = world.kv.reads.get() - reads;
    world.sweep_each_second(2);
    assert_eq!(world.sent().len(), 20);
    let delivered = world.kv.commit_log.borrow_mut().take().unwrap();
    // Accepting: the queue's increment, the pending list's, a wake-up slot's, one set_many; and
    // one read of the flow's settings.
    assert_eq!((accepted.len(), accept_reads), (4 * 20, 20), "{accepted:#?}");
    // Delivering, a step a job: the flow's turn and the job's, the claim's timer slot, the
    // step's set_many and its deletion of the entry passed, the outcome's set_many and its
    // wake-up slot; and the sweeps' own few writes.
    let steps = delivered.iter().filter(|c| c.starts_with("increment flow:") && c.contains(":turn:")).count();
    assert_eq!(steps, 20 + 1, "a step a job, and one that finds the last ended");
    assert!(delivered.len() <= 8 * 20, "{} commits: {delivered:#?}", delivered.len());
}

#[test]
fn accepts_behind_an_ordered_head_write_no_wake_up() {
    let world = World::receiving(Config::default());
    set_flow(&world, "orders", r#"{"ordered":true}"#);
    world.answer(&format!("{A}0"), Answer::Status(503));
    submit(&world, "orders", 0);
    world.sweep_each_second(2);
    assert_eq!(paths(&world), ["0"], "the head is out, retrying");
    // The step that claimed the head scheduled a look at its lease's end; until then the head's
    // end is what wakes the flow, so an accept costs three commits: the queue's increment, the
    // pending list's and one set_many.
    let before = world.kv.commits.get();
    for n in 1..=10 {
        submit(&world, "orders", n);
    }
    assert_eq!(world.kv.commits.get() - before, 3 * 10);
    world.answer(&format!("{A}0"), Answer::Status(200));
    world.sweep_each_second(40);
    assert_eq!(paths(&world), ["0", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
}
