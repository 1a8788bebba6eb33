//! Channels and their subscriptions through the API: create, intent verification, read, list,
//! update, delete, rotate, and the 400s that store nothing.

use super::{Answer, Answered, World, T0};
use crate::Config;
use serde_json::{json, Value};

const SUBS: &str = "/_hookah/v1/channels/orders/subscriptions";

fn subscribe(world: &World, body: Value) -> Answered {
    world.request("POST", SUBS, &body.to_string())
}

/// Creates a subscription to `url` and returns its view (secret included).
fn created(world: &World, url: &str) -> Value {
    let answer = subscribe(world, json!({ "url": url }));
    assert_eq!(answer.status, 201, "{}", answer.json);
    answer.json
}

fn get(world: &World, id: &str) -> Answered {
    world.request("GET", &format!("{SUBS}/{id}"), "")
}

fn without_verification() -> World {
    let world = World::receiving(Config::default());
    let answer = world.request("PUT", "/_hookah/v1/channels/orders", r#"{"verify_intent": false}"#);
    assert_eq!((answer.status, &answer.json), (200, &json!({ "name": "orders", "verify_intent": false })));
    world
}

/// A subscription request that is refused with `status` and `code`, storing nothing.
fn check(channel: &str, body: &str, expected: (u16, &str)) {
    let world = World::receiving(Config::default());
    let answer = world.request("POST", &format!("/_hookah/v1/channels/{channel}/subscriptions"), body);
    assert_eq!((answer.status, answer.code()), expected, "{channel} {body}: {}", answer.json);
    assert!(world.kv.data.borrow().is_empty(), "{body} stored something");
    assert!(world.sent().is_empty());
}

#[test]
fn bad_subscriptions_are_refused_and_store_nothing() {
    check("orders", "{}", (400, "bad_subscription"));
    check("orders", r#"{"url": "ftp://a.example/x"}"#, (400, "bad_target"));
    check("orders", r#"{"url": "http://10.0.0.1/x"}"#, (400, "forbidden_target"));
    check("orders", r#"{"url": "http://localhost/x"}"#, (400, "forbidden_target"));
    check("orders", r#"{"url": "https://a.example/x", "event_types": ["a..b"]}"#, (400, "bad_event_type"));
    check("orders", r#"{"url": "https://a.example/x", "event_types": ["*.paid"]}"#, (400, "bad_event_type"));
    let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    check(
        "orders",
        &json!({ "url": "https://a.example/x", "event_types": many }).to_string(),
        (400, "bad_subscription"),
    );
    check("orders", r#"{"url": "https://a.example/x", "secret": "not a key"}"#, (400, "bad_key"));
    check("orders", r#"{"url": "https://a.example/x", "colour": "red"}"#, (400, "bad_json"));
    check("orders", "{", (400, "bad_json"));
    check("Orders", r#"{"url": "https://a.example/x"}"#, (400, "bad_channel"));
    check("hookah.internal", r#"{"url": "https://a.example/x"}"#, (400, "bad_channel"));
}

#[test]
fn a_new_subscription_is_pending_until_its_url_echoes_the_challenge() {
    let world = World::receiving(Config::default());
    let sub = created(&world, "https://a.example/hook");
    assert_eq!(sub["status"], "pending");
    assert!(sub["secret"].as_str().unwrap().starts_with("whsec_"), "{sub}");
    let sent = world.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with("GET https://a.example/hook?hookah.mode=subscribe&hookah.channel=orders&hookah.challenge=")
    );
    let read = get(&world, sub["id"].as_str().unwrap());
    assert_eq!((read.status, &read.json["status"]), (200, &json!("active")));
    assert_eq!(read.json["secret"], Value::Null, "the secret is shown once");
}

#[test]
fn a_url_that_answers_without_the_challenge_fails_verification_after_three_attempts() {
    let world = World::receiving(Config::default());
    world.answer("https://a.example/", Answer::Status(200));
    let id = created(&world, "https://a.example/hook")["id"].as_str().unwrap().to_string();
    assert_eq!(get(&world, &id).json["status"], "pending");
    world.clock.advance(6_000);
    world.sweep();
    world.clock.advance(6 * 60_000);
    world.sweep();
    assert_eq!(get(&world, &id).json["status"], "verification_failed");
    assert_eq!(world.sent().len(), 3, "three verification GETs and nothing else");
    let published = world.call(
        "POST",
        "/_hookah/v1/channels/orders/events",
        &[("authorization", "Bearer t"), ("hookah-event-type", "order.created")],
        b"{}",
    );
    assert_eq!(published.json["matched"], 0);
}

#[test]
fn a_channel_without_intent_verification_activates_subscriptions_at_once() {
    let world = without_verification();
    let sub = created(&world, "https://a.example/hook");
    assert_eq!(sub["status"], "active");
    assert!(world.sent().is_empty());
    let channel = world.request("GET", "/_hookah/v1/channels/orders", "");
    assert_eq!(channel.json, json!({ "name": "orders", "verify_intent": false }));
    let fresh = world.request("GET", "/_hookah/v1/channels/other", "");
    assert_eq!(fresh.json["verify_intent"], true, "channels verify intent unless told otherwise");
    // Every setting has its default: an empty body sets the channel back to them.
    let reset = world.request("PUT", "/_hookah/v1/channels/orders", "{}");
    assert_eq!((reset.status, &reset.json), (200, &json!({ "name": "orders", "verify_intent": true })));
}

#[test]
fn listing_is_newest_first_and_pages_with_a_cursor() {
    let world = without_verification();
    let ids: Vec<String> = (0..3)
        .map(|i| created(&world, &format!("https://a.example/{i}"))["id"].as_str().unwrap().to_string())
        .collect();
    let page = world.request("GET", &format!("{SUBS}?limit=2"), "");
    let listed: Vec<&str> = page.json["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = page.json["next_cursor"].as_str().unwrap();
    let rest = world.request("GET", &format!("{SUBS}?limit=2&cursor={cursor}"), "");
    assert_eq!(rest.json["data"][0]["id"], ids[0]);
    assert_eq!(rest.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(world.request("GET", &format!("{SUBS}?limit=0"), "").code(), "bad_query");
    assert_eq!(world.request("GET", &format!("{SUBS}?state=active"), "").code(), "bad_query");
}

#[test]
fn an_update_changes_what_it_names_and_a_new_url_proves_its_intent_again() {
    let world = World::receiving(Config::default());
    let id = created(&world, "https://a.example/hook")["id"].as_str().unwrap().to_string();
    let path = format!("{SUBS}/{id}");
    let patched = world.request("PATCH", &path, r#"{"description": "mine", "event_types": ["order.*"]}"#);
    assert_eq!(patched.status, 200, "{}", patched.json);
    assert_eq!((&patched.json["description"], &patched.json["event_types"]), (&json!("mine"), &json!(["order.*"])));
    assert_eq!(patched.json["status"], "active");
    assert_eq!(world.sent().len(), 1, "no new verification");

    world.answer("https://b.example/", Answer::Status(200));
    let moved = world.request("PATCH", &path, r#"{"url": "https://b.example/hook"}"#);
    assert_eq!((&moved.json["url"], &moved.json["status"]), (&json!("https://b.example/hook"), &json!("pending")));
    assert_eq!(world.sent_to("https://b.example/hook?hookah.mode=subscribe").len(), 1);
    assert_eq!(get(&world, &id).json["status"], "pending", "b did not echo the challenge");

    let refused = world.request("PATCH", &path, r#"{"secret": "whsec_AAAA"}"#);
    assert_eq!((refused.status, refused.code()), (400, "bad_subscription"));
    assert_eq!(world.request("PATCH", &path, r#"{"tenant": "x"}"#).code(), "bad_subscription");
    assert_eq!(world.request("PATCH", &path, r#"{"event_types": ["a..b"]}"#).code(), "bad_event_type");
    assert_eq!(get(&world, &id).json["event_types"], json!(["order.*"]), "a refused update changes nothing");
}

#[test]
fn a_deleted_subscription_is_gone_from_reads_lists_and_fan_out() {
    let world = without_verification();
    let keep = created(&world, "https://a.example/keep")["id"].as_str().unwrap().to_string();
    let gone = created(&world, "https://a.example/gone")["id"].as_str().unwrap().to_string();
    let deleted = world.request("DELETE", &format!("{SUBS}/{gone}"), "");
    assert_eq!((deleted.status, &deleted.json), (200, &json!({ "id": gone, "deleted": true })));
    assert_eq!((get(&world, &gone).status, get(&world, &gone).code()), (404, "not_found"));
    assert_eq!(world.request("DELETE", &format!("{SUBS}/{gone}"), "").status, 404);
    let listed = world.request("GET", SUBS, "").json;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], keep);
    let published = world.call(
        "POST",
        "/_hookah/v1/channels/orders/events",
        &[("authorization", "Bearer t"), ("hookah-event-type", "order.created")],
        b"{}",
    );
    assert_eq!(published.json["matched"], 1);
    assert_eq!(world.sent(), ["POST https://a.example/keep"]);
}

#[test]
fn deleting_a_subscription_another_writer_is_changing_is_a_409_busy_and_removes_nothing() {
    use crate::engine::fence::{self, Turn};
    use crate::engine::Principal;
    use crate::keys::{self, TypedKv};
    let world = without_verification();
    let id = created(&world, "https://a.example/hook")["id"].as_str().unwrap().to_string();
    let sub = world.hookah().channels().find_subscription(&Principal::App, "orders", &id, false).unwrap();
    let key = keys::subscription(&sub.id);
    // A concurrent change (a PATCH, a verification's outcome) holds the record's next turn.
    assert_eq!(fence::take_turn(&world.kv, &key, sub.turn, T0).unwrap(), Turn::Won(sub.turn + 1));

    let hookah = world.hookah();
    assert_eq!(hookah.channels().delete_subscription(&Principal::App, "orders", &id), Err(crate::Error::Busy));
    let deleted = world.request("DELETE", &format!("{SUBS}/{id}"), "");
    assert_eq!((deleted.status, deleted.code()), (409, "busy"), "{}", deleted.json);
    assert_eq!(world.kv.load(&key).unwrap(), Some(sub), "the subscription is as it was");
    assert_eq!(get(&world, &id).status, 200);
}

#[test]
fn unknown_ids_other_channels_and_wrong_methods_are_refused() {
    let world = without_verification();
    let id = created(&world, "https://a.example/hook")["id"].as_str().unwrap().to_string();
    assert_eq!(get(&world, "sub_nothing").status, 404);
    assert_eq!(get(&world, "not-an-id").status, 404);
    let elsewhere = world.request("GET", &format!("/_hookah/v1/channels/other/subscriptions/{id}"), "");
    assert_eq!(elsewhere.status, 404, "a subscription is found only in its own channel");
    assert_eq!(world.request("PUT", &format!("{SUBS}/{id}"), "{}").status, 405);
    assert_eq!(world.request("DELETE", SUBS, "").status, 405);
    assert_eq!(world.request("GET", &format!("{SUBS}/{id}/rotate"), "").status, 405);
    assert_eq!(world.request("POST", &format!("{SUBS}/{id}/nothing"), "").status, 404);
    assert_eq!(world.call("GET", SUBS, &[], b"").status, 401, "the API needs a token");
}

#[test]
fn a_supplied_secret_is_kept_and_rotating_gives_a_new_one() {
    let world = without_verification();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sub = subscribe(&world, json!({ "url": "https://a.example/hook", "secret": secret })).json;
    assert_eq!(sub["secret"], secret);
    let rotated = world.request("POST", &format!("{SUBS}/{}/rotate", sub["id"].as_str().unwrap()), "{}");
    assert_eq!(rotated.status, 200, "{}", rotated.json);
    let new = rotated.json["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_") && new != secret, "{new}");
    assert!(rotated.json["previous_signs_until"].is_string(), "{}", rotated.json);
}

#[test]
fn filters_choose_which_events_a_subscription_gets() {
    let world = without_verification();
    subscribe(&world, json!({ "url": "https://a.example/invoices", "event_types": ["invoice.*"] }));
    subscribe(&world, json!({ "url": "https://a.example/orders", "event_types": ["order.created"] }));
    let publish = |event_type: &str| {
        let headers = [("authorization", "Bearer t"), ("hookah-event-type", event_type)];
        world.call("POST", "/_hookah/v1/channels/orders/events", &headers, b"{}").json["matched"].clone()
    };
    assert_eq!(publish("invoice.paid"), 1);
    assert_eq!(publish("order.created"), 1);
    assert_eq!(publish("refund.issued"), 0);
    assert_eq!(world.sent(), ["POST https://a.example/invoices", "POST https://a.example/orders"]);
    let sent = world.transport.sent.borrow();
    assert!(sent[0].headers.contains(&("webhook-event-type".into(), "invoice.paid".into())));
}

#[test]
fn channels_are_listed_newest_first_with_their_subscription_counts() {
    let world = World::receiving(Config::default());
    world.request("PUT", "/_hookah/v1/channels/orders", r#"{"verify_intent": false}"#);
    world.request("PUT", "/_hookah/v1/channels/orders", "{}");
    // A channel nobody set up joins the list with its first subscription.
    for url in ["https://a.example/1", "https://a.example/2"] {
        let answer =
            world.request("POST", "/_hookah/v1/channels/users/subscriptions", &json!({ "url": url }).to_string());
        assert_eq!(answer.status, 201, "{}", answer.json);
    }
    created(&world, "https://b.example/hook");
    world.request("PUT", "/_hookah/v1/channels/empty", "{}");

    let page = world.request("GET", "/_hookah/v1/channels", "");
    assert_eq!(page.status, 200, "{}", page.json);
    let listed: Vec<(&str, u64, bool)> = page.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["name"].as_str().unwrap(), c["subscriptions"].as_u64().unwrap(), c["verify_intent"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(listed, [("empty", 0, true), ("users", 2, true), ("orders", 1, true)]);
    assert_eq!(page.json["next_cursor"], Value::Null);

    let first = world.request("GET", "/_hookah/v1/channels?limit=2", "");
    assert_eq!(first.json["data"].as_array().unwrap().len(), 2);
    let cursor = first.json["next_cursor"].as_str().unwrap();
    let rest = world.request("GET", &format!("/_hookah/v1/channels?limit=2&cursor={cursor}"), "");
    assert_eq!(rest.json["data"][0]["name"], "orders");
    assert_eq!(world.request("GET", "/_hookah/v1/channels?limit=0", "").code(), "bad_query");
    assert_eq!(world.request("POST", "/_hookah/v1/channels", "").status, 405);
}
