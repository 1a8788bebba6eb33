//! A flow's stored settings through the API: store, replace, read, list, pause, resume, delete,
//! the wakeup a write leaves for an unpaused flow, and the 400s that store nothing.

use super::{Answered, World, T0};
use crate::engine::fence::{self, Turn};
use crate::flows::FlowRecord;
use crate::job::view::rfc3339;
use crate::keys::{self, TypedKv};
use crate::request::Incoming;
use crate::Config;
use futures::executor::block_on;
use serde_json::{json, Value};

const FLOWS: &str = "/_hookah/v1/flows";

fn put(world: &World, segment: &str, body: &str) -> Answered {
    world.request("PUT", &format!("{FLOWS}/{segment}"), body)
}

fn get(world: &World, segment: &str) -> Answered {
    world.request("GET", &format!("{FLOWS}/{segment}"), "")
}

fn post(world: &World, segment: &str, action: &str) -> Answered {
    world.request("POST", &format!("{FLOWS}/{segment}/{action}"), "")
}

fn list(world: &World, query: &str) -> Value {
    let answer = world.request("GET", &format!("{FLOWS}{query}"), "");
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json
}

fn listed_keys(page: &Value) -> Vec<&str> {
    page["data"].as_array().unwrap().iter().map(|flow| flow["key"].as_str().unwrap()).collect()
}

/// The timer slots that wake flow `key` (`due:{bucket}:{n}` = `flw_{hash}`).
fn wakeups(world: &World, key: &str) -> usize {
    let id = keys::flow_timer_id(key);
    world.kv.data.borrow().iter().filter(|(name, value)| name.starts_with("due:") && **value == id.as_bytes()).count()
}

fn record(world: &World, key: &str) -> Option<FlowRecord> {
    world.kv.load(&keys::flow(key)).unwrap()
}

/// Makes `n` jobs wait in flow `key`'s queue, as the engine counts them.
fn enqueue(world: &World, key: &str, n: i64) {
    world.kv.add_to(&keys::flow_wait_count(key), n).unwrap();
}

fn world() -> World {
    World::receiving(Config::default())
}

#[test]
fn a_flow_is_created_read_replaced_and_deleted() {
    let world = world();
    let body = r#"{"parallelism": 2, "rate": 10, "period": "60s", "retry_schedule": ["5s", "120s", "2h"],
                   "max_attempts": 4, "ordered": true}"#;
    let created = put(&world, "tenant-7", body);
    assert_eq!(created.status, 201, "{}", created.json);
    let view = json!({
        "key": "tenant-7",
        "parallelism": 2,
        "rate": 10,
        "period": "1m",
        "retry_schedule": ["5s", "2m", "2h"],
        "max_attempts": 4,
        "ordered": true,
        "paused": false,
        "waiting": 0,
        "in_flight": 0,
        "head": null,
        "created_at": rfc3339(T0),
        "updated_at": rfc3339(T0),
    });
    assert_eq!(created.json, view);
    let read = get(&world, "tenant-7");
    assert_eq!((read.status, &read.json), (200, &view));

    // A full replace: what is left out takes its default; the creation time stays.
    world.clock.advance(5_000);
    let replaced = put(&world, "tenant-7", r#"{"rate": 3, "period": "1d", "retry_schedule": "10s,1m"}"#);
    assert_eq!(replaced.status, 200, "{}", replaced.json);
    let view = json!({
        "key": "tenant-7",
        "parallelism": null,
        "rate": 3,
        "period": "1d",
        "retry_schedule": ["10s", "1m"],
        "max_attempts": null,
        "ordered": false,
        "paused": false,
        "waiting": 0,
        "in_flight": 0,
        "head": null,
        "created_at": rfc3339(T0),
        "updated_at": rfc3339(T0 + 5_000),
    });
    assert_eq!(replaced.json, view);
    assert_eq!(get(&world, "tenant-7").json, view);

    let deleted = world.request("DELETE", &format!("{FLOWS}/tenant-7"), "");
    assert_eq!((deleted.status, &deleted.json), (200, &json!({ "key": "tenant-7", "deleted": true })));
    let again = get(&world, "tenant-7");
    assert_eq!((again.status, again.code()), (404, "not_found"));
    assert_eq!(world.request("DELETE", &format!("{FLOWS}/tenant-7"), "").status, 404);
    // Its steps remove the record once its queue is empty and a writer that read it before the
    // deletion must have written: nothing of it is left but the list's counters.
    world.clock.advance(crate::job::DELETION_GRACE_MS + 2_000);
    world.sweep();
    assert!(world.kv.keys_with_prefix("flow:").is_empty(), "{:?}", world.kv.keys_with_prefix("flow:"));
    assert_eq!(listed_keys(&list(&world, "")), Vec::<&str>::new());
    assert_eq!(world.kv.load(&keys::log_live(&keys::flow_log())).unwrap(), 0);
    // Stored again, it is new.
    let recreated = put(&world, "tenant-7", "{}");
    assert_eq!((recreated.status, &recreated.json["period"]), (201, &json!("1s")));
    assert_eq!(listed_keys(&list(&world, "")), ["tenant-7"]);
}

#[test]
fn a_key_is_one_url_encoded_segment() {
    let world = world();
    let answer = put(&world, "tenant%207%2Forders+eu", "{}");
    assert_eq!((answer.status, &answer.json["key"]), (201, &json!("tenant 7/orders+eu")));
    assert_eq!(get(&world, "tenant%207%2Forders+eu").json["key"], "tenant 7/orders+eu");
    assert!(record(&world, "tenant 7/orders+eu").is_some());
    // A key with spaces reads back from the list of flows.
    assert_eq!(listed_keys(&list(&world, "")), ["tenant 7/orders+eu"]);
    assert_eq!(post(&world, "tenant%207%2Forders+eu", "pause").json["paused"], true);
}

#[test]
fn replacing_settings_keeps_the_queue() {
    let world = world();
    put(&world, "q", "{}");
    let mut stored = record(&world, "q").unwrap();
    stored.queue.released = 3;
    stored.queue.head = Some(world.submit(&[]).0);
    world.kv.save(&keys::flow("q"), &stored).unwrap();
    enqueue(&world, "q", 5);
    let replaced = put(&world, "q", r#"{"ordered": true, "paused": true}"#);
    assert_eq!((replaced.status, &replaced.json["waiting"]), (200, &json!(2)));
    assert_eq!(record(&world, "q").unwrap().queue, stored.queue);
    assert_eq!(post(&world, "q", "resume").json["waiting"], 2);
    assert_eq!(record(&world, "q").unwrap().queue, stored.queue);
}

#[test]
fn a_write_that_leaves_the_flow_unpaused_wakes_it() {
    let world = world();
    assert_eq!(put(&world, "w", r#"{"paused": true}"#).status, 201);
    assert_eq!(wakeups(&world, "w"), 0, "a paused flow has nothing to release");
    assert_eq!(post(&world, "w", "pause").json["paused"], true);
    assert_eq!(wakeups(&world, "w"), 0);
    let resumed = post(&world, "w", "resume");
    assert_eq!((resumed.status, &resumed.json["paused"]), (200, &json!(false)));
    assert_eq!(wakeups(&world, "w"), 1);
    // The slot is in the current bucket, so the first sweep after it ends reads it.
    let slot = keys::slot("", keys::bucket_of(T0), 1);
    assert_eq!(crate::ports::Kv::get(&world.kv, slot.as_str()).unwrap(), Some(keys::flow_timer_id("w").into_bytes()));
    // Resuming a running flow changes nothing.
    assert_eq!(post(&world, "w", "resume").status, 200);
    assert_eq!(wakeups(&world, "w"), 1);
    assert_eq!(put(&world, "w", r#"{"rate": 5}"#).status, 200);
    assert_eq!(wakeups(&world, "w"), 2);
    assert_eq!(post(&world, "w", "pause").json["paused"], true);
    assert_eq!(wakeups(&world, "w"), 2);
}

#[test]
fn pause_and_resume_need_stored_settings_and_change_only_paused() {
    let world = world();
    for action in ["pause", "resume"] {
        let answer = post(&world, "nobody", action);
        assert_eq!((answer.status, answer.code()), (404, "not_found"), "{action}");
    }
    assert!(world.kv.data.borrow().is_empty());
    put(&world, "p", r#"{"rate": 7, "ordered": true}"#);
    world.clock.advance(1_000);
    let paused = post(&world, "p", "pause");
    assert_eq!(paused.status, 200);
    assert_eq!(
        (&paused.json["paused"], &paused.json["rate"], &paused.json["ordered"]),
        (&json!(true), &json!(7), &json!(true))
    );
    assert_eq!(paused.json["updated_at"], rfc3339(T0 + 1_000));
    assert_eq!(get(&world, "p").json["paused"], true);
    assert_eq!(post(&world, "p", "resume").json["paused"], false);
}

#[test]
fn flows_are_listed_newest_first_a_page_at_a_time() {
    let world = world();
    for key in ["a", "b", "c", "d", "e"] {
        put(&world, key, "{}");
        world.clock.advance(1_000);
    }
    world.request("DELETE", &format!("{FLOWS}/c"), "");
    let first = list(&world, "?limit=2");
    assert_eq!(listed_keys(&first), ["e", "d"]);
    assert_eq!(first["data"][0], get(&world, "e").json, "items are flow views");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = list(&world, &format!("?limit=2&cursor={cursor}"));
    assert_eq!(listed_keys(&second), ["b", "a"]);
    let rest = second["next_cursor"].as_str().map(|cursor| list(&world, &format!("?limit=2&cursor={cursor}")));
    assert!(rest.as_ref().is_none_or(|page| listed_keys(page).is_empty()), "{rest:?}");
    assert_eq!(listed_keys(&list(&world, "")), ["e", "d", "b", "a"]);
    let bad = world.request("GET", &format!("{FLOWS}?limit=0"), "");
    assert_eq!((bad.status, bad.code()), (400, "bad_query"));
}

#[test]
fn deleting_a_flow_whose_jobs_wait_keeps_its_record_with_the_defaults_until_they_have_gone() {
    let world = world();
    put(&world, "busy", r#"{"parallelism": 1, "paused": true}"#);
    enqueue(&world, "busy", 2);
    let deleted = world.request("DELETE", &format!("{FLOWS}/busy"), "");
    assert_eq!(deleted.status, 200, "{}", deleted.json);
    let kept = record(&world, "busy").unwrap();
    assert!(kept.deleted);
    assert_eq!(kept.settings, crate::flows::FlowSettings { period_ms: 1_000, ..Default::default() });
    assert_eq!(wakeups(&world, "busy"), 1, "its queue drains");
    assert_eq!(get(&world, "busy").status, 404);
    assert_eq!(post(&world, "busy", "resume").status, 404);
    assert_eq!(listed_keys(&list(&world, "")), Vec::<&str>::new());
    assert_eq!(world.hookah().stats_snapshot().unwrap().flows, Vec::new());

    // Stored again, it is new, with its queue where it was.
    let again = put(&world, "busy", "{}");
    assert_eq!((again.status, &again.json["waiting"]), (201, &json!(2)));
    assert_eq!(listed_keys(&list(&world, "")), ["busy"], "listed once");
    world.request("DELETE", &format!("{FLOWS}/busy"), "");

    // Once the queue has drained (its steps let the jobs go: here they are gone), and the
    // deletion's grace has passed, a step removes the record and counts it out of the list.
    let mut drained = record(&world, "busy").unwrap();
    drained.queue.released = 2;
    world.kv.save(&keys::flow("busy"), &drained).unwrap();
    assert_eq!(world.request("DELETE", &format!("{FLOWS}/busy"), "").status, 404);
    world.clock.advance(crate::job::DELETION_GRACE_MS + 2_000);
    world.sweep();
    assert!(record(&world, "busy").is_none());
    assert_eq!(world.kv.keys_with_prefix("flow:"), [keys::flow_wait_count("busy").to_string()]);
    assert_eq!(world.kv.load(&keys::log_live(&keys::flow_log())).unwrap(), 0);
    // Its queue's numbering goes on where it stood.
    let fresh = put(&world, "busy", "{}");
    assert_eq!((fresh.status, &fresh.json["waiting"]), (201, &json!(0)));
    assert_eq!(record(&world, "busy").unwrap().queue.released, 2);
}

#[test]
fn a_writer_that_read_a_flow_before_its_deletion_does_not_write_over_the_next_one() {
    let world = world();
    put(&world, "f", r#"{"rate": 1}"#);
    let old = record(&world, "f").unwrap();
    world.request("DELETE", &format!("{FLOWS}/f"), "");
    world.clock.advance(crate::job::DELETION_GRACE_MS + 2_000);
    world.sweep();
    let key = keys::flow("f");
    assert_eq!(fence::take_turn_of_version(&world.kv, &key, &old, T0).unwrap(), Turn::Gone);
    world.clock.advance(1);
    put(&world, "f", r#"{"rate": 2}"#);
    // The old version's next turn is the new record's: won, then given back.
    assert_eq!(fence::take_turn_of_version(&world.kv, &key, &old, T0).unwrap(), Turn::Busy);
    assert_eq!(put(&world, "f", r#"{"rate": 3}"#).json["rate"], 3, "the turn was given back");
}

/// A request that is refused with 400 and `code`, storing nothing.
fn refused(world: &World, method: &str, segment: &str, body: &str, code: &str) {
    let before = world.kv.data.borrow().clone();
    let answer = world.request(method, &format!("{FLOWS}/{segment}"), body);
    assert_eq!((answer.status, answer.code()), (400, code), "{method} {segment} {body}: {}", answer.json);
    assert_eq!(*world.kv.data.borrow(), before, "{method} {segment} {body} stored something");
}

#[test]
fn bad_settings_and_keys_are_refused_and_store_nothing() {
    let world = world();
    put(&world, "kept", r#"{"rate": 1}"#);
    for key in ["new", "kept"] {
        refused(&world, "PUT", key, r#"{"colour": "red"}"#, "bad_flow");
        refused(&world, "PUT", key, r#"{"rate": 0}"#, "bad_flow");
        refused(&world, "PUT", key, r#"{"rate": -1}"#, "bad_flow");
        refused(&world, "PUT", key, r#"{"parallelism": 1.5}"#, "bad_flow");
        refused(&world, "PUT", key, r#"{"period": "500ms"}"#, "bad_flow");
        refused(&world, "PUT", key, r#"{"period": "2d"}"#, "bad_flow");
        refused(&world, "PUT", key, r#"{"max_attempts": 0}"#, "bad_flow");
        refused(&world, "PUT", key, r#"{"retry_schedule": ["5s", "soon"]}"#, "bad_flow");
        refused(&world, "PUT", key, r#"{"paused": "yes"}"#, "bad_flow");
        for body in ["[]", r#""x""#, "null", "7", "{", ""] {
            refused(&world, "PUT", key, body, "bad_flow");
        }
    }
    let long = "k".repeat(201);
    for segment in [long.as_str(), "tab%09key", "bad%zz", "%ff", "new%0A"] {
        refused(&world, "PUT", segment, "{}", "bad_flow_key");
        refused(&world, "GET", segment, "", "bad_flow_key");
        refused(&world, "DELETE", segment, "", "bad_flow_key");
        refused(&world, "POST", &format!("{segment}/pause"), "", "bad_flow_key");
        refused(&world, "POST", &format!("{segment}/resume"), "", "bad_flow_key");
    }
    // A bad key is named before a bad body.
    refused(&world, "PUT", "tab%09key", "[]", "bad_flow_key");
    assert_eq!(put(&world, &"k".repeat(200), "{}").status, 201, "200 bytes is the most");
}

#[test]
fn unknown_routes_and_methods_answer_as_elsewhere() {
    let world = world();
    put(&world, "r", "{}");
    for (method, path, status) in [
        ("POST", FLOWS.to_string(), 405),
        ("PATCH", format!("{FLOWS}/r"), 405),
        ("GET", format!("{FLOWS}/r/pause"), 405),
        ("DELETE", format!("{FLOWS}/r/resume"), 405),
        ("GET", format!("{FLOWS}/r/stop"), 404),
        ("POST", format!("{FLOWS}/r/pause/now"), 404),
    ] {
        let answer = world.request(method, &path, "");
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.json);
    }
    assert_eq!(world.request_as("wrong", "GET", FLOWS, "").status, 401);
}

#[test]
fn a_job_shows_its_flow_key() {
    let world = world();
    let (keyed, _) = world.submit(&[("hookah-flow-key", "tenant-7")]);
    let (plain, _) = world.submit(&[]);
    assert_eq!(world.request("GET", &format!("/_hookah/v1/jobs/{keyed}"), "").json["flow_key"], "tenant-7");
    assert_eq!(world.request("GET", &format!("/_hookah/v1/jobs/{plain}"), "").json["flow_key"], "example.com");
}

#[test]
fn stats_and_metrics_show_the_flows_with_settings() {
    let world = world();
    put(&world, "quiet", "{}");
    put(&world, "tenant \"7\"", r#"{"paused": true, "ordered": true}"#);
    enqueue(&world, "tenant \"7\"", 3);
    let stats = world.request("GET", "/_hookah/v1/stats", "");
    let expected = json!([
        { "key": "tenant \"7\"", "paused": true, "ordered": true, "waiting": 3, "in_flight": 0 },
        { "key": "quiet", "paused": false, "ordered": false, "waiting": 0, "in_flight": 0 },
    ]);
    assert_eq!(stats.json["flows"], expected);
    let headers = vec![("authorization".to_string(), "Bearer t".to_string())];
    let incoming =
        Incoming { method: "GET".into(), path_and_query: "/_hookah/metrics".into(), headers, body: Vec::new() };
    let metrics = String::from_utf8(block_on(world.hookah().handle(incoming)).body).unwrap();
    assert!(metrics.contains("hookah_flow_waiting{flow=\"tenant \\\"7\\\"\"} 3\n"), "{metrics}");
    assert!(metrics.contains("hookah_flow_waiting{flow=\"quiet\"} 0\n"), "{metrics}");
    assert!(metrics.contains("hookah_flow_in_flight{flow=\"quiet\"} 0\n"), "{metrics}");
}
