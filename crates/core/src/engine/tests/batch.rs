//! `POST /_hookah/v1/batch`: what a batch costs to store, all or nothing, idempotent repeats.

use super::{Answered, World};
use crate::job::State;
use crate::request::Incoming;
use crate::Config;
use futures::executor::block_on;
use serde_json::{json, Value};

/// Posts `calls` as a batch; answers the reply as read and the reply itself (its follow-up not
/// yet carried out).
pub(super) fn post(world: &World, calls: &Value) -> (Answered, crate::api::Reply) {
    let incoming = Incoming {
        method: "POST".into(),
        path_and_query: "/_hookah/v1/batch".into(),
        headers: vec![("authorization".into(), "Bearer t".into())],
        body: calls.to_string().into_bytes(),
    };
    let reply = block_on(world.hookah().handle(incoming));
    (Answered::of(&reply), reply)
}

pub(super) fn calls(n: usize) -> Value {
    (0..n).map(|i| json!({ "url": format!("https://a.example/{i}"), "body": format!("{{\"n\":{i}}}") })).collect()
}

pub(super) fn ids(answer: &Answered) -> Vec<String> {
    assert_eq!(answer.status, 202, "{}", answer.json);
    answer.json["jobs"].as_array().unwrap().iter().map(|job| job["id"].as_str().unwrap().to_string()).collect()
}

/// A refused batch: its status, code and index, and that it stored nothing.
fn refused(world: &World, calls: &Value) -> (u16, String, Value) {
    let before = world.kv.data.borrow().clone();
    let (answer, _) = post(world, calls);
    assert_eq!(*world.kv.data.borrow(), before, "a refused batch stores nothing: {}", answer.json);
    (answer.status, answer.code().to_string(), answer.json["error"]["index"].clone())
}

#[test]
fn a_batch_of_n_is_stored_in_two_commits_and_its_outcomes_in_a_write_per_group() {
    let world = World::receiving(Config::default());
    let (answer, reply) = post(&world, &calls(50));
    // One bucket's increment for the 50 timer slots, one set_many for records, bodies and slots.
    assert_eq!(world.kv.commits.get(), 2);
    let ids = ids(&answer);
    assert_eq!(ids.len(), 50);
    assert_eq!(answer.json["jobs"][7]["target"], "https://a.example/7", "in call order");
    assert_eq!(answer.json["jobs"][7]["state"], "pending");
    assert_eq!(world.job_count(), 50);
    assert!(world.sent().is_empty(), "nothing is sent before the answer");

    world.transport.at_once.set(true);
    block_on(world.hookah().follow_up(reply.follow_up));
    // The outcomes are recorded in groups of what has ended (`engine/tests/outcomes.rs`): the
    // 32 attempts `sweep_concurrency` lets start first, then the other 18.
    assert_eq!(world.kv.commits.get(), 2 + 2);
    assert_eq!(world.sent().len(), 50);
    for id in &ids {
        assert!(matches!(world.job(id).unwrap().state, State::Delivered { .. }));
    }
    let sent = world.sent_to("https://a.example/7");
    assert_eq!(sent[0].body, br#"{"n":7}"#);
}

#[test]
fn delayed_calls_cost_an_increment_per_bucket_and_one_for_the_pending_list() {
    let world = World::receiving(Config::default());
    let batch = json!([
        { "url": "https://a.example/now" },
        { "url": "https://a.example/later", "delay": 120 },
        { "url": "https://a.example/later-too", "delay": 120 },
        { "url": "https://a.example/much-later", "delay": 3600 },
    ]);
    let (answer, reply) = post(&world, &batch);
    let ids = ids(&answer);
    // Three buckets (the lease's end, +2 min, +1 h), the pending list, one set_many.
    assert_eq!(world.kv.commits.get(), 3 + 1 + 1);
    block_on(world.hookah().follow_up(reply.follow_up));
    assert_eq!(world.sent(), vec!["POST https://a.example/now"]);
    assert!(matches!(world.job(&ids[1]).unwrap().state, State::Pending { .. }));
    world.clock.advance(121_000);
    world.sweep();
    assert_eq!(world.sent().len(), 3, "the delayed calls are swept when due");
}

#[test]
fn a_bad_call_refuses_the_whole_batch_and_names_its_index() {
    let world = World::receiving(Config { batch_max_calls: 5, ..Config::default() });
    let mut batch = calls(5);
    batch[3] = json!({ "url": "http://10.0.0.1/x" });
    assert_eq!(refused(&world, &batch), (400, "forbidden_target".into(), json!(3)));
    batch[3] = json!({ "url": "https://a.example/", "signing_key": "key_nope" });
    assert_eq!(refused(&world, &batch).1, "bad_control_header");
    batch[3] = json!({ "url": "https://a.example/", "retries": 3 });
    assert_eq!(refused(&world, &batch), (400, "bad_call".into(), json!(3)));
    assert_eq!(refused(&world, &json!([])), (400, "empty_batch".into(), Value::Null));
    assert_eq!(refused(&world, &json!({ "url": "https://a.example/" })), (400, "bad_json".into(), Value::Null));
    assert_eq!(refused(&world, &calls(6)), (413, "too_many_calls".into(), Value::Null));
    let key = |k: &str| json!({ "url": "https://a.example/", "idempotency_key": k });
    assert_eq!(
        refused(&world, &json!([key("a"), key("b"), key("a")])),
        (400, "duplicate_idempotency_key".into(), json!(2))
    );
}

#[test]
fn an_unknown_signing_key_refuses_the_batch() {
    let world = World::receiving(Config::default());
    let mut batch = calls(3);
    batch[1] = json!({ "url": "https://a.example/", "signing_key": "key_0123456789abcdef" });
    let (status, code, index) = refused(&world, &batch);
    assert_eq!((status, index), (400, json!(1)), "{code}");
}

#[test]
fn an_over_long_body_is_a_413_and_stores_nothing() {
    let world = World::receiving(Config { max_body_bytes: 100, ..Config::default() });
    assert_eq!(refused(&world, &calls(10)), (413, "body_too_large".into(), Value::Null));
}

#[test]
fn an_idempotent_repeat_names_the_original_job() {
    let world = World::receiving(Config::default());
    let headers = [("authorization", "Bearer t"), ("idempotency-key", "order-1")];
    let single = world.call("POST", "/https://a.example/hook", &headers, b"{}");
    assert_eq!(single.status, 202);
    let batch = json!([
        { "url": "https://a.example/hook", "body": "{}", "idempotency_key": "order-1" },
        { "url": "https://a.example/other", "idempotency_key": "order-2" },
    ]);
    let before = world.kv.commits.get();
    let (answer, reply) = post(&world, &batch);
    let ids = ids(&answer);
    assert_eq!(ids[0], single.json["id"].as_str().unwrap(), "the original job");
    assert_eq!(answer.json["jobs"][0]["state"], "delivered");
    // order-2's race counter (an increment per new key), one bucket, one set_many.
    assert_eq!(world.kv.commits.get() - before, 3);
    block_on(world.hookah().follow_up(reply.follow_up));
    assert_eq!(world.sent().len(), 2, "the repeat is not attempted again");

    // The same batch again: both repeats, nothing stored.
    let before = world.kv.data.borrow().len();
    let (again, _) = post(&world, &batch);
    assert_eq!(self::ids(&again), ids);
    assert_eq!(world.kv.data.borrow().len(), before);
}

#[test]
fn a_key_used_for_another_call_refuses_the_batch_before_any_counter_moves() {
    let world = World::receiving(Config::default());
    let headers = [("authorization", "Bearer t"), ("idempotency-key", "order-1")];
    assert_eq!(world.call("POST", "/https://a.example/hook", &headers, b"{}").status, 202);
    let batch = json!([
        { "url": "https://a.example/x", "idempotency_key": "order-2" },
        { "url": "https://a.example/elsewhere", "body": "{}", "idempotency_key": "order-1" },
    ]);
    assert_eq!(refused(&world, &batch), (422, "idempotency_mismatch".into(), json!(1)));
    // order-2 was not blocked by the refused batch.
    let (answer, _) = post(&world, &json!([batch[0]]));
    assert_eq!(answer.status, 202, "{}", answer.json);
}

#[test]
fn a_full_store_refuses_the_batch() {
    let world = World::receiving(Config { store_max_keys: 1, ..Config::default() });
    assert_eq!(refused(&world, &calls(3)), (507, "store_full".into(), Value::Null));
}

#[test]
fn a_batch_must_fit_whole_where_one_call_still_would() {
    // An empty store capped at 200 keys: 16 reserved, 10 keys for each new job once grown.
    let world = World::receiving(Config { store_max_keys: 200, ..Config::default() });
    assert_eq!(refused(&world, &calls(19)), (507, "store_full".into(), Value::Null));
    assert!(world.kv.data.borrow().is_empty(), "nothing stored");
    let (answer, _) = post(&world, &calls(18));
    assert_eq!(answer.status, 202, "{}", answer.json);
}

#[test]
fn first_attempts_fit_what_the_invocation_has_left_not_what_the_route_has() {
    // The invocation began 20 s before the route ran (a slow upload): with 25 s of
    // request_budget and a 15 s timeout, no first attempt can end in time.
    let world = World::receiving(Config::default());
    let (answer, reply) = post(&world, &calls(3));
    assert_eq!(answer.status, 202, "{}", answer.json);
    let started = world.clock.0.get() - 20_000;
    block_on(world.hookah().after_answer(reply.follow_up, reply.status, started));
    assert!(world.sent().is_empty(), "left to the sweep: {:?}", world.sent());
}
