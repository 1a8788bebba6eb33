//! Operators' tools through the API: retrying a finished job (a new generation with a fresh
//! attempt budget), bulk replay by state and filter in pages, and cancelling a pending job.

use super::{Answer, Answered, World};
use crate::Config;
use serde_json::{json, Value};

const JOBS: &str = "/_hookah/v1/jobs";

/// Submits a call to `http://{path}` with one attempt; returns its id (its attempt made).
fn submit(world: &World, path: &str, headers: &[(&str, &str)]) -> String {
    let mut all = vec![("authorization", "Bearer t")];
    all.extend_from_slice(headers);
    let answer = world.call("POST", &format!("/{path}"), &all, b"{}");
    assert_eq!(answer.status, 202, "{}", answer.json);
    answer.json["id"].as_str().unwrap().to_string()
}

/// A job to `dead.example` that died on its only attempt.
fn dead_job(world: &World, path: &str) -> String {
    world.answer("http://dead.example/", Answer::Status(500));
    let id = submit(world, &format!("dead.example/{path}"), &[("hookah-max-attempts", "1")]);
    assert_eq!(job(world, &id)["state"], "dead");
    id
}

fn job(world: &World, id: &str) -> Value {
    world.request("GET", &format!("{JOBS}/{id}"), "").json
}

/// Lets the leases (a minute) end and sweeps, so that finished jobs are filed in their state's
/// list.
fn file(world: &World) {
    world.clock.advance(62_000);
    world.sweep();
}

fn replay(world: &World, filter: Value) -> Answered {
    world.request("POST", &format!("{JOBS}/retry"), &filter.to_string())
}

fn listed(world: &World, state: &str) -> Vec<String> {
    let page = world.request("GET", &format!("{JOBS}?state={state}"), "").json;
    page["data"].as_array().unwrap().iter().map(|job| job["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn retrying_a_dead_job_redelivers_it_under_the_same_id_as_a_new_generation() {
    let world = World::receiving(Config::default());
    let id = dead_job(&world, "a");
    world.answer("http://dead.example/", Answer::Status(200));
    let retried = world.request("POST", &format!("{JOBS}/{id}/retry"), "");
    assert_eq!(retried.status, 202, "{}", retried.json);
    assert_eq!((&retried.json["state"], &retried.json["in_flight"]), (&json!("pending"), &json!(true)));
    let after = job(&world, &id);
    assert_eq!((&after["state"], &after["attempt_count"]), (&json!("delivered"), &json!(2)), "{after}");
    assert_eq!(world.job(&id).unwrap().generation, 1);
    let sent = world.transport.sent.borrow();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|r| r.headers.contains(&("webhook-id".to_string(), id.clone()))));
}

#[test]
fn a_retry_gets_a_fresh_attempt_budget() {
    let world = World::receiving(Config::default());
    world.answer("http://dead.example/", Answer::Status(500));
    let id = submit(&world, "dead.example/a", &[("hookah-max-attempts", "2")]);
    world.clock.advance(10_000);
    world.sweep();
    assert_eq!(
        (job(&world, &id)["state"].clone(), job(&world, &id)["attempt_count"].clone()),
        (json!("dead"), json!(2))
    );
    world.request("POST", &format!("{JOBS}/{id}/retry"), "");
    let after = job(&world, &id);
    assert_eq!((&after["state"], &after["attempt_count"]), (&json!("pending"), &json!(3)), "one more to go: {after}");
    world.clock.advance(10_000);
    world.sweep();
    assert_eq!(
        (job(&world, &id)["state"].clone(), job(&world, &id)["attempt_count"].clone()),
        (json!("dead"), json!(4))
    );
}

#[test]
fn only_a_finished_job_can_be_retried() {
    let world = World::receiving(Config::default());
    let id = submit(&world, "later.example/a", &[("hookah-delay", "60")]);
    let refused = world.request("POST", &format!("{JOBS}/{id}/retry"), "");
    assert_eq!((refused.status, refused.code()), (409, "not_finished"));
    assert_eq!(world.request("POST", &format!("{JOBS}/job_nothing/retry"), "").status, 404);
    assert_eq!(world.request("GET", &format!("{JOBS}/{id}/retry"), "").status, 405);
}

#[test]
fn bulk_replay_requeues_the_dead_and_their_old_list_entries_go_stale() {
    let world = World::receiving(Config::default());
    let ids: Vec<String> = (0..3).map(|i| dead_job(&world, &i.to_string())).collect();
    file(&world);
    assert_eq!(listed(&world, "dead").len(), 3);
    world.answer("http://dead.example/", Answer::Status(200));
    let report = replay(&world, json!({ "state": "dead" }));
    assert_eq!(report.json, json!({ "requeued": 3, "scanned": 3, "next_cursor": null }));
    assert_eq!(replay(&world, json!({ "state": "dead" })).json["requeued"], 0, "nothing dead is left");
    world.clock.advance(2_000);
    assert_eq!(world.sweep().delivered, 3);
    for id in &ids {
        assert_eq!(world.job(id).unwrap().generation, 1);
    }
    file(&world);
    assert!(listed(&world, "dead").is_empty());
    assert_eq!(listed(&world, "delivered").len(), 3);
}

#[test]
fn bulk_replay_takes_only_what_the_filter_names() {
    let world = World::receiving(Config::default());
    let early = dead_job(&world, "early");
    world.clock.advance(10_000);
    let late = dead_job(&world, "late");
    world.answer("http://other.example/", Answer::Status(500));
    submit(&world, "other.example/x", &[("hookah-max-attempts", "1")]);
    file(&world);
    let split = (super::T0 + 5_000) / 1_000;

    let report = replay(&world, json!({ "state": "dead", "target_prefix": "http://dead.example/", "until": split }));
    assert_eq!(report.json["requeued"], 1, "{}", report.json);
    assert_eq!(world.job(&early).unwrap().generation, 1);
    let report = replay(&world, json!({ "state": "dead", "since": split, "target_prefix": "http://dead.example/" }));
    assert_eq!(report.json["requeued"], 1, "{}", report.json);
    assert_eq!(world.job(&late).unwrap().generation, 1);
    assert_eq!(listed(&world, "dead").len(), 1, "the other target's job stays dead");
}

#[test]
fn bulk_replay_goes_page_by_page() {
    let world = World::receiving(Config::default());
    for i in 0..5 {
        dead_job(&world, &i.to_string());
    }
    file(&world);
    let mut requeued = 0;
    let mut cursor = Value::Null;
    for _ in 0..5 {
        let report = replay(&world, json!({ "state": "dead", "limit": 2, "cursor": cursor })).json;
        requeued += report["requeued"].as_u64().unwrap();
        cursor = report["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(requeued, 5);
}

#[test]
fn bad_replay_filters_are_refused() {
    let world = World::receiving(Config::default());
    for (filter, code) in [
        (r#"{"state": "pending"}"#, "bad_filter"),
        (r#"{"state": "dead", "limit": 0}"#, "bad_filter"),
        (r#"{"state": "dead", "limit": 501}"#, "bad_filter"),
        (r#"{"state": "dead", "colour": "red"}"#, "bad_json"),
        (r#"{}"#, "bad_json"),
    ] {
        let answer = world.request("POST", &format!("{JOBS}/retry"), filter);
        assert_eq!((answer.status, answer.code()), (400, code), "{filter}");
    }
}

#[test]
fn a_cancelled_job_makes_no_attempt_and_cannot_be_cancelled_again() {
    let world = World::receiving(Config::default());
    let id = submit(&world, "later.example/a", &[("hookah-delay", "60")]);
    let cancelled = world.request("DELETE", &format!("{JOBS}/{id}"), "");
    assert_eq!((cancelled.status, &cancelled.json["state"]), (200, &json!("cancelled")));
    world.clock.advance(120_000);
    world.sweep();
    assert!(world.sent().is_empty(), "no attempt after the cancel");
    let again = world.request("DELETE", &format!("{JOBS}/{id}"), "");
    assert_eq!((again.status, again.code()), (409, "already_finished"));
    assert_eq!(listed(&world, "cancelled"), [id.as_str()]);
    assert_eq!(world.request("DELETE", &format!("{JOBS}/job_nothing"), "").status, 404);

    let retried = world.request("POST", &format!("{JOBS}/{id}/retry"), "");
    assert_eq!(retried.status, 202, "a cancelled job can be retried");
    assert_eq!(world.sent(), ["POST http://later.example/a"]);
}

#[test]
fn a_job_past_its_retention_is_not_retried_and_is_deleted_after_the_grace_without_a_turn() {
    use crate::job::DELETION_GRACE_MS;
    use crate::ports::Kv;
    let config = Config { retention_ms: 120_000, ..Config::default() };
    let world = World::receiving(config);
    let id = dead_job(&world, "a");
    file(&world);
    world.clock.advance(120_000 - 62_000 + 1_000);
    // Past retention: no writer changes it any more, one by one or in bulk.
    let retried = world.request("POST", &format!("{JOBS}/{id}/retry"), "");
    assert_eq!((retried.status, retried.code()), (404, "not_found"), "{}", retried.json);
    let bulk = replay(&world, json!({ "state": "dead" }));
    assert_eq!(bulk.json["requeued"], 0, "{}", bulk.json);
    world.sweep();
    assert!(world.job(&id).is_some(), "kept through the grace");
    // A writer that read it before its retention ended holds its next turn: the deleter takes
    // none, so it is not held up.
    world.kv.increment(&format!("job:{id}:turn:1"), 1).unwrap();
    world.clock.advance(DELETION_GRACE_MS);
    assert_eq!(world.sweep().deleted, 1);
    assert!(world.job(&id).is_none());
    assert_eq!(world.kv.keys_with_prefix(&format!("job:{id}")), Vec::<String>::new());
}
