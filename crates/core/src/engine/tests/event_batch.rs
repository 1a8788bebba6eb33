//! Publishing a batch of events (a JSON array to `…/channels/{channel}/events`): what it costs to
//! store, all or nothing, and fan-outs that reach every subscriber of every event, even when the
//! invocation dies after its answer.

use super::{Answered, World};
use crate::api::{FollowUp, Reply};
use crate::job::State;
use crate::request::Incoming;
use crate::Config;
use futures::executor::block_on;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const EVENTS: &str = "/_hookah/v1/channels/orders/events";
const A: &str = "https://a.example/hook";
const B: &str = "https://b.example/hook";

/// A world whose channel `orders` has active subscriptions to `urls`.
fn channel_with(config: Config, urls: &[&str]) -> World {
    let world = World::receiving(config);
    world.open_channel("orders");
    for url in urls {
        world.subscribe("orders", url);
    }
    world
}

/// Posts `body` to `path` without `Hookah-Event-Type`; answers the reply as read and the reply
/// itself (its follow-up not yet carried out).
fn post_to(world: &World, path: &str, body: &Value) -> (Answered, Reply) {
    let incoming = Incoming {
        method: "POST".into(),
        path_and_query: path.into(),
        headers: vec![("authorization".into(), "Bearer t".into())],
        body: body.to_string().into_bytes(),
    };
    let reply = block_on(world.hookah().handle(incoming));
    (Answered::of(&reply), reply)
}

fn post(world: &World, body: &Value) -> (Answered, Reply) {
    post_to(world, EVENTS, body)
}

/// `n` events of type `order.created`, each with its own JSON body.
fn events(n: usize) -> Value {
    (0..n)
        .map(|i| json!({ "event_type": "order.created", "content_type": "application/json", "body": format!("{{\"n\":{i}}}") }))
        .collect()
}

/// The events of a 202, as answered.
fn published(answer: &Answered) -> Vec<Value> {
    assert_eq!(answer.status, 202, "{}", answer.json);
    answer.json["events"].as_array().unwrap().clone()
}

/// A refused batch: its status, code and index, and that it stored nothing.
fn refused(world: &World, path: &str, body: &Value) -> (u16, String, Value) {
    let before = world.kv.data.borrow().clone();
    let (answer, _) = post_to(world, path, body);
    assert_eq!(*world.kv.data.borrow(), before, "a refused batch stores nothing: {}", answer.json);
    (answer.status, answer.code().to_string(), answer.json["error"]["index"].clone())
}

/// The bodies sent to `url`, sorted.
fn bodies_sent_to(world: &World, url: &str) -> Vec<String> {
    let mut bodies: Vec<String> = world.sent_to(url).into_iter().map(|r| String::from_utf8(r.body).unwrap()).collect();
    bodies.sort();
    bodies
}

fn each_n(n: usize) -> Vec<String> {
    let mut bodies: Vec<String> = (0..n).map(|i| format!("{{\"n\":{i}}}")).collect();
    bodies.sort();
    bodies
}

#[test]
fn a_batch_of_3_events_to_2_subscribers_is_stored_in_3_commits_and_delivered_after_the_answer() {
    let world = channel_with(Config::default(), &[A, B]);
    let before = world.kv.commits.get();
    let (answer, reply) = post(&world, &events(3));
    // The claims' lease bucket, the events' retention bucket, one set_many: for all 3 events.
    assert_eq!(world.kv.commits.get() - before, 3);
    let events = published(&answer);
    assert_eq!(events.len(), 3);
    let ids: BTreeSet<&str> = events.iter().map(|event| event["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "an id each");
    for event in &events {
        assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{event}");
        assert_eq!((event["channel"].as_str(), event["event_type"].as_str()), (Some("orders"), Some("order.created")));
        assert_eq!((event["matched"].as_u64(), event["fanout_complete"].as_bool()), (Some(2), Some(true)));
        let read = world.request("GET", &format!("{EVENTS}/{}", event["id"].as_str().unwrap()), "");
        assert_eq!(read.json, *event, "the answer is the event as stored");
    }
    assert_eq!(world.job_count(), 6);
    assert!(world.sent().is_empty(), "nothing is sent before the answer");

    let before = world.kv.commits.get();
    world.transport.at_once.set(true);
    block_on(world.hookah().follow_up(reply.follow_up));
    assert_eq!(world.kv.commits.get() - before, 1, "the six outcomes, ended together, are one group write");
    for url in [A, B] {
        assert_eq!(bodies_sent_to(&world, url), each_n(3), "{url} got each event once");
        let sent = world.sent_to(url);
        assert_eq!(sent[0].headers.iter().find(|(n, _)| n == "webhook-event-type").unwrap().1, "order.created");
        assert!(sent[0].headers.iter().any(|(n, v)| n == "content-type" && v == "application/json"));
    }
    let records = world.kv.keys_with_prefix("job:");
    for key in records.iter().filter(|key| !key[4..].contains(':')) {
        assert!(matches!(world.job(&key[4..]).unwrap().state, State::Delivered { .. }), "{key}");
    }

    // The same 3 events published one by one cost 3 commits each.
    let before = world.kv.commits.get();
    for i in 0..3 {
        let headers = [("authorization", "Bearer t"), ("hookah-event-type", "order.created")];
        let body = format!("{{\"n\":{i}}}");
        let hookah = world.hookah();
        let incoming = Incoming {
            method: "POST".into(),
            path_and_query: EVENTS.into(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.into_bytes(),
        };
        assert_eq!(block_on(hookah.handle(incoming)).status, 202);
    }
    assert_eq!(world.kv.commits.get() - before, 9);
}

#[test]
fn a_larger_fan_out_is_stored_in_4_commits_and_delivered_by_sweeps() {
    let world = channel_with(Config::default(), &[A, B]);
    let before = world.kv.commits.get();
    let (answer, reply) = post(&world, &events(10));
    // 20 jobs are more than an invocation attempts itself: they wait. The next second's bucket
    // (the jobs), the pending list, the events' retention bucket, one set_many.
    assert_eq!(world.kv.commits.get() - before, 4);
    assert!(published(&answer).iter().all(|event| event["matched"] == 2 && event["fanout_complete"] == true));
    assert!(matches!(reply.follow_up, FollowUp::Nothing));
    world.sweep_each_second(2);
    for url in [A, B] {
        assert_eq!(bodies_sent_to(&world, url), each_n(10));
    }
}

#[test]
fn events_past_the_fan_out_budget_are_fanned_out_by_their_own_timers_even_if_the_invocation_dies() {
    // A first step covers 4 jobs for the whole batch: the first event's 3 fit, the others wait
    // for a sweep to take their first step.
    let urls = [A, B, "https://c.example/hook"];
    let world = channel_with(Config { fanout_batch: 4, ..Config::default() }, &urls);
    let before = world.kv.commits.get();
    let (answer, reply) = post(&world, &events(5));
    // The claims' lease bucket, the next second's (the 4 events not begun), the first event's
    // retention bucket, one set_many.
    assert_eq!(world.kv.commits.get() - before, 4);
    let events = published(&answer);
    let progress: Vec<(u64, bool)> =
        events.iter().map(|e| (e["matched"].as_u64().unwrap(), e["fanout_complete"].as_bool().unwrap())).collect();
    assert_eq!(progress, vec![(3, true), (0, false), (0, false), (0, false), (0, false)]);
    assert!(matches!(reply.follow_up, FollowUp::FirstAttempts(ref jobs) if jobs.len() == 3));
    drop(reply); // the invocation dies after its answer: no first attempts

    // The waiting events' slots come due within seconds, then their jobs'; the claimed jobs' at
    // their lease's end.
    world.sweep_each_second(5);
    for url in urls {
        assert_eq!(world.sent_to(url).len(), 4, "{url}: the swept events' jobs, not yet the claimed one");
    }
    world.sweep_each_second(60);
    for url in urls {
        assert_eq!(bodies_sent_to(&world, url), each_n(5), "{url} got each event once");
    }
    for event in &events {
        let read = world.request("GET", &format!("{EVENTS}/{}", event["id"].as_str().unwrap()), "");
        assert_eq!((read.json["matched"].as_u64(), read.json["fanout_complete"].as_bool()), (Some(3), Some(true)));
    }
}

#[test]
fn each_event_goes_to_the_subscriptions_whose_filters_match_its_type() {
    let world = channel_with(Config::default(), &[A]);
    let filtered = json!({ "url": B, "event_types": ["invoice.*"] });
    let answer = world.request("POST", "/_hookah/v1/channels/orders/subscriptions", &filtered.to_string());
    assert_eq!(answer.status, 201, "{}", answer.json);
    let batch = json!([
        { "event_type": "invoice.paid", "body": "paid" },
        { "event_type": "order.created", "body": "created" },
        { "event_type": "invoice.sent", "body_base64": "c2VudA==" },
    ]);
    let (answer, reply) = post(&world, &batch);
    let matched: Vec<u64> = published(&answer).iter().map(|e| e["matched"].as_u64().unwrap()).collect();
    assert_eq!(matched, vec![2, 1, 2]);
    block_on(world.hookah().follow_up(reply.follow_up));
    assert_eq!(bodies_sent_to(&world, A), vec!["created", "paid", "sent"]);
    assert_eq!(bodies_sent_to(&world, B), vec!["paid", "sent"]);
}

#[test]
fn a_bad_event_refuses_the_whole_batch_and_names_its_index() {
    let world = channel_with(Config { batch_max_calls: 5, ..Config::default() }, &[A, B]);
    let mut batch = events(5);
    batch[2] = json!({ "event_type": "order..created" });
    assert_eq!(refused(&world, EVENTS, &batch), (400, "bad_event_type".into(), json!(2)));
    let (answer, _) = post(&world, &batch);
    assert!(answer.json["error"]["message"].as_str().unwrap().starts_with("event 2: "), "{}", answer.json);
    batch[2] = json!({ "event_type": "order.created", "type": "typo" });
    assert_eq!(refused(&world, EVENTS, &batch), (400, "bad_event".into(), json!(2)));
    batch[2] = json!("order.created");
    assert_eq!(refused(&world, EVENTS, &batch), (400, "bad_event".into(), json!(2)));
    batch[2] = json!({ "event_type": "a", "body": "x", "body_base64": "eA==" });
    assert_eq!(refused(&world, EVENTS, &batch), (400, "bad_event".into(), json!(2)));
    assert_eq!(refused(&world, EVENTS, &json!([])), (400, "empty_batch".into(), Value::Null));
    assert_eq!(refused(&world, EVENTS, &events(6)), (413, "too_many_calls".into(), Value::Null));
    let ops = "/_hookah/v1/channels/hookah.ops/events";
    assert_eq!(refused(&world, ops, &events(1)), (403, "reserved_channel".into(), Value::Null));
    let bad_name = "/_hookah/v1/channels/Orders/events";
    assert_eq!(refused(&world, bad_name, &events(1)), (400, "bad_channel".into(), Value::Null));
    assert!(world.sent().is_empty());
}

#[test]
fn malformed_bodies_and_the_limits_store_nothing() {
    let world = channel_with(Config { max_body_bytes: 100, ..Config::default() }, &[A]);
    assert_eq!(refused(&world, EVENTS, &events(10)), (413, "body_too_large".into(), Value::Null));
    for body in ["[", "[{\"event_type\": \"a\"}", "[1,]"] {
        let before = world.kv.data.borrow().clone();
        let answer = world.call("POST", EVENTS, &[("authorization", "Bearer t")], body.as_bytes());
        assert_eq!((answer.status, answer.code()), (400, "bad_json"), "{body}");
        assert_eq!(*world.kv.data.borrow(), before);
    }
    // Without Hookah-Event-Type a body that is not an array is refused as before batches.
    let answer = world.call("POST", EVENTS, &[("authorization", "Bearer t")], b"{}");
    assert_eq!((answer.status, answer.code()), (400, "bad_event_type"));
    assert!(world.sent().is_empty());
}

#[test]
fn a_full_store_refuses_the_batch() {
    let mut world = channel_with(Config::default(), &[A]);
    world.config.store_max_keys = 1; // set once the channel and its subscription are stored
    assert_eq!(refused(&world, EVENTS, &events(3)), (507, "store_full".into(), Value::Null));
}

#[test]
fn with_hookah_event_type_an_array_is_one_event_as_before() {
    let world = channel_with(Config::default(), &[A]);
    let headers = [("authorization", "Bearer t"), ("hookah-event-type", "list.sent")];
    let answer = world.call("POST", EVENTS, &headers, b"[1,2]");
    assert_eq!(answer.status, 202, "{}", answer.json);
    assert!(answer.json["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!((answer.json["matched"].as_u64(), answer.json.get("events")), (Some(1), None));
    assert_eq!(bodies_sent_to(&world, A), vec!["[1,2]"]);
}
