//! A capped store (`store_max_keys`): near the cap new work is a 507 with nothing stored, the jobs
//! held are still delivered, and health and stats say the store is near full.

use super::{Answer, World};
use crate::job::State;
use crate::Config;

/// A world whose store is capped at `max_keys`, with receivers that fail until told otherwise.
fn capped(max_keys: u64) -> World {
    let world = World::receiving(Config { store_max_keys: max_keys, ..Config::default() });
    world.answer("http://example.com/", Answer::Status(500));
    world
}

#[test]
fn near_the_cap_a_new_job_is_a_507_with_nothing_stored_and_the_jobs_held_are_delivered() {
    let world = capped(128);
    let mut held = Vec::new();
    let refused = loop {
        let answer = world.request("POST", "/example.com/hook", "{}");
        if answer.status != 202 {
            break answer;
        }
        let id = answer.json["id"].as_str().unwrap().to_string();
        held.push(id);
        assert!(held.len() < 100, "the cap never refused");
    };
    assert_eq!((refused.status, refused.code()), (507, "store_full"));
    assert!(refused.json["error"]["message"].as_str().unwrap().contains("of its 128 keys"));
    let keys = world.kv.data.borrow().len();
    assert!(keys + held.len() * 4 + 16 <= 128, "{keys} keys and {} jobs: the line was crossed", held.len());
    let stored = world.kv.data.borrow().clone();
    for path in ["/example.com/again", "/example.com/third"] {
        assert_eq!(world.request("POST", path, "{}").status, 507);
    }
    assert_eq!(*world.kv.data.borrow(), stored, "a refused job stores nothing");

    let health = world.request("GET", "/_hookah/health", "");
    assert_eq!(health.json["status"], "degraded");
    assert!(health.json["reason"].as_str().unwrap().contains("near full"), "{}", health.json);
    let stats = world.request("GET", "/_hookah/v1/stats", "");
    assert_eq!(
        (stats.json["store"]["max_keys"].as_u64(), stats.json["store"]["near_full"].as_bool()),
        (Some(128), Some(true))
    );

    // The held jobs' retries still go out and are recorded, within the reserve.
    world.answer("http://example.com/", Answer::Status(200));
    world.sweep_each_second(8);
    for id in &held {
        assert!(matches!(world.job(id).unwrap().state, State::Delivered { .. }), "{id}");
    }
    let keys = world.kv.data.borrow().len();
    assert!(keys <= 128, "{keys} keys for {} delivered jobs: the cap would have been met", held.len());
}

#[test]
fn retention_frees_the_keys_and_new_jobs_are_taken_again() {
    let world = World::receiving(Config { store_max_keys: 128, retention_ms: 60_000, ..Config::default() });
    let mut accepted = 0;
    while world.request("POST", "/example.com/hook", "{}").status == 202 {
        accepted += 1;
        assert!(accepted < 100);
    }
    world.sweep_each_second(130);
    let health = world.request("GET", "/_hookah/health", "");
    assert_eq!(health.json["status"], "ok", "{}", health.json);
    assert_eq!(health.json["store"]["near_full"], false);
    assert_eq!(world.request("POST", "/example.com/hook", "{}").status, 202);
}

#[test]
fn publishing_and_subscribing_are_refused_too_and_an_uncapped_store_counts_nothing() {
    let world = capped(64);
    world.open_channel("orders");
    while world.request("POST", "/example.com/hook", "{}").status == 202 {}
    let publish = world.call(
        "POST",
        "/_hookah/v1/channels/orders/events",
        &[("authorization", "Bearer t"), ("hookah-event-type", "order.created")],
        b"{}",
    );
    assert_eq!((publish.status, publish.code()), (507, "store_full"));
    let subscribe =
        world.request("POST", "/_hookah/v1/channels/orders/subscriptions", r#"{"url":"https://a.example/hook"}"#);
    assert_eq!((subscribe.status, subscribe.code()), (507, "store_full"));

    let uncapped = World::receiving(Config::default());
    uncapped.kv.read_log.replace(Some(Vec::new()));
    uncapped.request("POST", "/example.com/hook", "{}");
    uncapped.request("GET", "/_hookah/v1/stats", "");
    uncapped.request("GET", "/_hookah/health", "");
    let log = uncapped.kv.read_log.borrow().clone().unwrap();
    assert!(!log.iter().any(|key| key == "(list-keys)"), "no listing without a cap");
}
