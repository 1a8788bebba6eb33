//! Endpoint health: a 410 disables a subscription at once, a run of dead jobs or a long enough
//! failing spell disables it too, a delivery or a re-enable starts the count afresh, and every
//! disabling is published to `hookah.ops`.

use super::{Answer, World};
use crate::Config;
use serde_json::Value;

const SHOP: &str = "https://shop.example/hook";
const OPS: &str = "https://ops.example/ops";

/// Two attempts a job (one retry after a second), two dead jobs in a row disable, a minute of
/// failing disables.
fn config() -> Config {
    Config {
        retry_schedule_ms: vec![1_000],
        disable_after_dead: 2,
        disable_after_failing_ms: 60_000,
        ..Config::default()
    }
}

/// A world with one active subscription of `shop` (no intent verification) to `SHOP`.
fn shop(config: Config) -> (World, String) {
    let world = World::receiving(config);
    world.request("PUT", "/_hookah/v1/channels/shop", r#"{"verify_intent": false}"#);
    let sub = world.request("POST", "/_hookah/v1/channels/shop/subscriptions", &format!(r#"{{"url": "{SHOP}"}}"#));
    assert_eq!(sub.json["status"], "active", "{}", sub.json);
    (world, sub.json["id"].as_str().unwrap().to_string())
}

/// Publishes an event to `shop` (its first attempts made); returns how many subscriptions matched.
fn publish(world: &World) -> u64 {
    let headers = [("authorization", "Bearer t"), ("hookah-event-type", "order.created")];
    world.call("POST", "/_hookah/v1/channels/shop/events", &headers, b"{}").json["matched"].as_u64().unwrap()
}

/// Publishes an event whose job fails until it is dead.
fn publish_until_dead(world: &World) {
    assert_eq!(publish(world), 1);
    world.sweep_each_second(2);
}

fn subscription(world: &World, id: &str) -> Value {
    world.request("GET", &format!("/_hookah/v1/channels/shop/subscriptions/{id}"), "").json
}

fn status(world: &World, id: &str) -> String {
    subscription(world, id)["status"].as_str().unwrap().to_string()
}

fn enable(world: &World, id: &str) -> Value {
    world.request("POST", &format!("/_hookah/v1/channels/shop/subscriptions/{id}/enable"), "").json
}

#[test]
fn a_410_disables_the_subscription_at_once() {
    let (world, id) = shop(config());
    world.answer(SHOP, Answer::Status(410));
    assert_eq!(publish(&world), 1);
    let sub = subscription(&world, &id);
    assert_eq!(sub["status"], "disabled");
    assert!(sub["disabled_reason"].as_str().unwrap().contains("410"), "{sub}");
    assert_eq!(sub["disabled_at"], crate::job::view::rfc3339(super::T0));
    assert_eq!(publish(&world), 0, "a disabled subscription gets nothing");
    assert_eq!(world.sent_to(SHOP).len(), 1);
}

#[test]
fn a_run_of_dead_jobs_disables_the_subscription() {
    let (world, id) = shop(config());
    world.answer(SHOP, Answer::Status(500));
    publish_until_dead(&world);
    assert_eq!(world.sent_to(SHOP).len(), 2, "both attempts were made");
    assert_eq!(status(&world, &id), "active", "one dead job is not a run");
    publish_until_dead(&world);
    let sub = subscription(&world, &id);
    assert_eq!(sub["status"], "disabled");
    assert!(sub["disabled_reason"].as_str().unwrap().contains("2 jobs in a row"), "{sub}");
}

#[test]
fn a_delivery_ends_the_run() {
    let (world, id) = shop(config());
    world.answer(SHOP, Answer::Status(500));
    publish_until_dead(&world);
    world.answer(SHOP, Answer::Status(200));
    assert_eq!(publish(&world), 1);
    world.answer(SHOP, Answer::Status(500));
    publish_until_dead(&world);
    assert_eq!(status(&world, &id), "active", "dead, delivered, dead is no run of two");
}

#[test]
fn failing_for_longer_than_disable_after_failing_disables_the_subscription() {
    let config = Config { retry_schedule_ms: vec![3_600_000], ..config() };
    let (world, id) = shop(config);
    world.answer(SHOP, Answer::Status(503));
    publish(&world);
    world.clock.advance(60_000);
    publish(&world);
    assert_eq!(status(&world, &id), "active", "failing for exactly the limit is not longer");
    world.clock.advance(1);
    publish(&world);
    let sub = subscription(&world, &id);
    assert_eq!(sub["status"], "disabled");
    assert!(sub["disabled_reason"].as_str().unwrap().contains("too long"), "{sub}");
}

#[test]
fn a_delivery_restarts_the_failing_clock() {
    let config = Config { retry_schedule_ms: vec![3_600_000], ..config() };
    let (world, id) = shop(config);
    world.answer(SHOP, Answer::Status(503));
    publish(&world);
    world.clock.advance(30_000);
    world.answer(SHOP, Answer::Status(200));
    publish(&world);
    world.clock.advance(31_000);
    world.answer(SHOP, Answer::Status(503));
    publish(&world);
    assert_eq!(status(&world, &id), "active", "failing since the last delivery, 31 s ago");
}

#[test]
fn re_enabling_starts_the_dead_count_afresh() {
    let (world, id) = shop(config());
    world.answer(SHOP, Answer::Status(500));
    publish_until_dead(&world);
    publish_until_dead(&world);
    assert_eq!(status(&world, &id), "disabled");
    let enabled = enable(&world, &id);
    assert_eq!((&enabled["status"], &enabled["disabled_reason"]), (&"active".into(), &Value::Null));
    publish_until_dead(&world);
    assert_eq!(status(&world, &id), "active", "the dead jobs before the re-enable do not count");
}

#[test]
fn re_enabling_restarts_the_failing_clock() {
    let config = Config { retry_schedule_ms: vec![3_600_000], ..config() };
    let (world, id) = shop(config);
    world.answer(SHOP, Answer::Status(503));
    publish(&world);
    world.clock.advance(60_001);
    publish(&world);
    assert_eq!(status(&world, &id), "disabled");
    assert_eq!(enable(&world, &id)["status"], "active");
    world.clock.advance(1_000);
    publish(&world);
    assert_eq!(status(&world, &id), "active", "failing for a second since the re-enable");
}

#[test]
fn disabling_is_published_to_hookah_ops() {
    let (world, id) = shop(config());
    let ops = world.request("POST", "/_hookah/v1/channels/hookah.ops/subscriptions", &format!(r#"{{"url": "{OPS}"}}"#));
    assert_eq!(ops.status, 201, "anyone may subscribe to hookah.ops");
    world.answer(SHOP, Answer::Status(410));
    publish(&world);
    assert!(world.sent_to(OPS).iter().all(|r| r.method == "GET"), "only the ops verification so far");
    world.sweep_each_second(2);
    let events: Vec<Value> = world
        .sent_to(OPS)
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "subscription.disabled");
    assert_eq!(
        (&events[0]["data"]["subscription"], &events[0]["data"]["channel"]),
        (&id.clone().into(), &"shop".into())
    );
    assert_eq!(events[0]["data"]["url"], SHOP);
}

#[test]
fn only_hookah_publishes_to_hookah_ops_or_changes_its_settings() {
    let world = World::receiving(config());
    let headers = [("authorization", "Bearer t"), ("hookah-event-type", "subscription.disabled")];
    let forged = world.call("POST", "/_hookah/v1/channels/hookah.ops/events", &headers, b"{}");
    assert_eq!((forged.status, forged.code()), (403, "reserved_channel"));
    let settings = world.request("PUT", "/_hookah/v1/channels/hookah.ops", r#"{"verify_intent": false}"#);
    assert_eq!((settings.status, settings.code()), (403, "reserved_channel"));
    assert!(world.kv.data.borrow().is_empty(), "nothing stored");
    assert_eq!(world.request("GET", "/_hookah/v1/channels/hookah.ops", "").json["verify_intent"], true);
}
