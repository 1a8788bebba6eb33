//! Scoped tokens: minting (the secret shown once, only its hash stored), revoking, expiry, and
//! what a token may reach: its own channel's subscriptions, its tenant's, with its access.

use super::{Answered, World};
use crate::Config;
use serde_json::{json, Value};

const TOKENS: &str = "/_hookah/v1/tokens";
const APP_SUBS: &str = "/_hookah/v1/channels/app/subscriptions";

/// A world whose `app` channel needs no intent verification.
fn world() -> World {
    let world = World::receiving(Config::default());
    world.request("PUT", "/_hookah/v1/channels/app", r#"{"verify_intent": false}"#);
    world
}

/// Mints a token and returns its answer.
fn mint(world: &World, channel: &str, tenant: &str, access: &str) -> Value {
    let body = json!({ "channel": channel, "tenant": tenant, "access": access, "expires_in": 3600 });
    let answer = world.request("POST", TOKENS, &body.to_string());
    assert_eq!(answer.status, 201, "{}", answer.json);
    answer.json
}

fn token(minted: &Value) -> &str {
    minted["token"].as_str().unwrap()
}

/// What `token` gets for `method path`.
fn check(world: &World, token: &str, method: &str, path: &str, body: &str, expected: u16) -> Answered {
    let answer = world.request_as(token, method, path, body);
    assert_eq!(answer.status, expected, "{method} {path}: {}", answer.json);
    answer
}

#[test]
fn a_minted_token_is_shown_once_and_only_its_hash_is_stored() {
    let world = world();
    let minted = mint(&world, "app", "alice", "write");
    let id = minted["id"].as_str().unwrap();
    assert!(id.starts_with("hkt_"), "{minted}");
    let (prefix, secret) = token(&minted).split_once('.').unwrap();
    assert_eq!(prefix, id);
    assert_eq!(
        (&minted["channel"], &minted["tenant"], &minted["access"]),
        (&json!("app"), &json!("alice"), &json!("write"))
    );
    assert_eq!(minted["expires_at"], crate::job::view::rfc3339(super::T0 + 3_600_000));
    let stored: Vec<Vec<u8>> = world.kv.data.borrow().values().cloned().collect();
    assert!(
        stored.iter().all(|value| !String::from_utf8_lossy(value).contains(secret)),
        "the secret is stored nowhere"
    );
    let default_access = world.request("POST", TOKENS, r#"{"channel": "app", "tenant": "t", "expires_in": 60}"#);
    assert_eq!(default_access.json["access"], "read");
}

#[test]
fn bad_token_requests_are_refused() {
    let world = world();
    for (body, code) in [
        (r#"{"channel": "app", "tenant": "", "expires_in": 60}"#, "bad_token"),
        (&*json!({ "channel": "app", "tenant": "x".repeat(129), "expires_in": 60 }).to_string(), "bad_token"),
        (r#"{"channel": "app", "tenant": "t", "expires_in": 0}"#, "bad_token"),
        (r#"{"channel": "app", "tenant": "t", "expires_in": 31708801}"#, "bad_token"),
        (r#"{"channel": "App", "tenant": "t", "expires_in": 60}"#, "bad_channel"),
        (r#"{"channel": "app", "tenant": "t", "access": "admin", "expires_in": 60}"#, "bad_json"),
        (r#"{"channel": "app", "tenant": "t"}"#, "bad_json"),
    ] {
        let answer = world.request("POST", TOKENS, body);
        assert_eq!((answer.status, answer.code()), (400, code), "{body}");
    }
    assert!(world.kv.keys_with_prefix("tok:").is_empty());
    assert_eq!(world.request("GET", TOKENS, "").status, 405, "tokens are minted and revoked, not listed");
}

#[test]
fn a_write_token_manages_its_tenants_subscriptions_in_its_channel() {
    let world = world();
    let alice = mint(&world, "app", "alice", "write");
    let created = check(&world, token(&alice), "POST", APP_SUBS, r#"{"url": "https://alice.example/hook"}"#, 201);
    assert_eq!(created.json["tenant"], "alice", "the token's tenant, without asking");
    let path = format!("{APP_SUBS}/{}", created.json["id"].as_str().unwrap());
    check(&world, token(&alice), "GET", &path, "", 200);
    check(&world, token(&alice), "PATCH", &path, r#"{"description": "mine"}"#, 200);
    check(&world, token(&alice), "POST", &format!("{path}/rotate"), "{}", 200);
    check(&world, token(&alice), "DELETE", &path, "", 200);
    let foreign = r#"{"url": "https://x.example/hook", "tenant": "bob"}"#;
    assert_eq!(check(&world, token(&alice), "POST", APP_SUBS, foreign, 403).code(), "forbidden");
}

#[test]
fn tenants_do_not_see_each_others_subscriptions() {
    let world = world();
    let (alice, bob) = (mint(&world, "app", "alice", "write"), mint(&world, "app", "bob", "write"));
    let created = check(&world, token(&alice), "POST", APP_SUBS, r#"{"url": "https://alice.example/h"}"#, 201);
    check(&world, token(&bob), "POST", APP_SUBS, r#"{"url": "https://bob.example/h"}"#, 201);
    let path = format!("{APP_SUBS}/{}", created.json["id"].as_str().unwrap());
    check(&world, token(&bob), "GET", &path, "", 403);
    check(&world, token(&bob), "DELETE", &path, "", 403);
    check(&world, token(&bob), "PATCH", &path, "{}", 403);
    let listed = check(&world, token(&bob), "GET", APP_SUBS, "", 200).json;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["tenant"], "bob");
    let all = world.request("GET", APP_SUBS, "").json;
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "the app sees every tenant");
}

#[test]
fn a_read_token_reads_but_does_not_write() {
    let world = world();
    let read = mint(&world, "app", "alice", "read");
    let sub = world.request("POST", APP_SUBS, r#"{"url": "https://a.example/h", "tenant": "alice"}"#).json;
    let path = format!("{APP_SUBS}/{}", sub["id"].as_str().unwrap());
    check(&world, token(&read), "GET", &path, "", 200);
    check(&world, token(&read), "GET", APP_SUBS, "", 200);
    check(&world, token(&read), "POST", APP_SUBS, r#"{"url": "https://a.example/x"}"#, 403);
    check(&world, token(&read), "PATCH", &path, r#"{"description": "x"}"#, 403);
    check(&world, token(&read), "DELETE", &path, "", 403);
    check(&world, token(&read), "POST", &format!("{path}/enable"), "", 403);
}

#[test]
fn a_token_reaches_only_its_channels_subscription_routes() {
    let world = world();
    let alice = token(&mint(&world, "app", "alice", "write")).to_string();
    check(&world, &alice, "GET", "/_hookah/v1/channels/other/subscriptions", "", 403);
    check(&world, &alice, "POST", "/_hookah/v1/channels/other/subscriptions", r#"{"url": "https://a.example/"}"#, 403);
    for (method, path) in [
        ("POST", "/example.com/hook"),
        ("GET", "/_hookah/v1/keys"),
        ("GET", "/_hookah/v1/jobs?state=dead"),
        ("POST", TOKENS),
        ("GET", "/_hookah/v1/channels/app"),
        ("PUT", "/_hookah/v1/channels/app"),
        ("POST", "/_hookah/v1/channels/app/events"),
        ("POST", "/_hookah/v1/sweep"),
        ("GET", "/_hookah/v1/stats"),
    ] {
        assert_eq!(check(&world, &alice, method, path, "{}", 403).code(), "forbidden", "{method} {path}");
    }
    assert!(world.sent().is_empty() && world.job_count() == 0, "nothing was dispatched");
}

#[test]
fn a_revoked_expired_or_wrong_token_is_refused() {
    let world = world();
    let minted = mint(&world, "app", "alice", "write");
    let good = token(&minted).to_string();
    check(&world, &good, "GET", APP_SUBS, "", 200);
    // The same id with another secret goes through the stored hash's constant-time comparison.
    let mut wrong = good.clone();
    let last = if wrong.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(wrong.len() - 1.., last);
    assert_eq!(check(&world, &wrong, "GET", APP_SUBS, "", 401).code(), "unauthorized");
    check(&world, &good[..good.len() - 1], "GET", APP_SUBS, "", 401);
    check(&world, &format!("{}.x", minted["id"].as_str().unwrap()), "GET", APP_SUBS, "", 401);
    check(&world, "hkt_AAAAAAAAAAAAAAAAAAAAAAAAAA.secret", "GET", APP_SUBS, "", 401);

    let id = minted["id"].as_str().unwrap();
    let revoked = world.request("DELETE", &format!("{TOKENS}/{id}"), "");
    assert_eq!((revoked.status, &revoked.json), (200, &json!({ "id": id, "revoked": true })));
    check(&world, &good, "GET", APP_SUBS, "", 401);
    assert_eq!(world.request("DELETE", &format!("{TOKENS}/hkt_nothing"), "").status, 404);
    assert_eq!(world.request("POST", &format!("{TOKENS}/{id}"), "").status, 405);

    let short = world.request("POST", TOKENS, r#"{"channel": "app", "tenant": "t", "expires_in": 60}"#).json;
    check(&world, token(&short), "GET", APP_SUBS, "", 200);
    world.clock.advance(60_000);
    check(&world, token(&short), "GET", APP_SUBS, "", 401);
}

#[test]
fn a_scoped_token_is_read_whatever_the_case_of_its_scheme() {
    // RFC 9110 §11.1: the scheme is case-insensitive, as it already is for the API token.
    let world = world();
    let alice = mint(&world, "app", "alice", "read");
    let lower = format!("bearer {}", token(&alice));
    assert_eq!(world.call("GET", APP_SUBS, &[("authorization", &lower)], b"").status, 200);
    assert_eq!(world.call("GET", APP_SUBS, &[("authorization", "bearer t")], b"").status, 200);
}
