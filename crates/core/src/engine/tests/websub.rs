//! The WebSub hub: a subscription counts once its callback echoes the challenge, a renewal's
//! secret and lease take effect only once verified, an unsubscription only once confirmed, and a
//! publish fetches the topic and delivers it with `Link` and `X-Hub-Signature`.

use super::{Answer, Answered, World};
use crate::Config;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const CALLBACK: &str = "https://sub.example/cb";
const TOPIC: &str = "https://pub.example/feed";
const FEED: &str = "<feed>new</feed>";

/// A hub whose topic serves `FEED` and whose subscriber echoes challenges.
fn hub() -> World {
    let world = World::receiving(Config::default());
    world.answer(TOPIC, Answer::Body(200, FEED));
    world
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    crate::websub::encode_query(pairs).into_bytes()
}

/// A hub request from anyone (no token), or with `token`.
fn post(world: &World, token: Option<&str>, body: &[u8]) -> Answered {
    let bearer = token.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("host", "hub.test"), ("content-type", "application/x-www-form-urlencoded")];
    headers.extend(bearer.as_deref().map(|bearer| ("authorization", bearer)));
    world.call("POST", "/_hookah/hub", &headers, body)
}

fn subscribe(world: &World, secret: &str, lease: &str) {
    let body = form(&[
        ("hub.mode", "subscribe"),
        ("hub.callback", CALLBACK),
        ("hub.topic", TOPIC),
        ("hub.secret", secret),
        ("hub.lease_seconds", lease),
    ]);
    let answer = post(world, None, &body);
    assert_eq!((answer.status, &answer.json["status"]), (202, &"verifying".into()), "{}", answer.json);
}

fn unsubscribe(world: &World) -> Answered {
    post(world, None, &form(&[("hub.mode", "unsubscribe"), ("hub.callback", CALLBACK), ("hub.topic", TOPIC)]))
}

/// Publishes the topic with the API token; returns how many subscribers matched.
fn publish(world: &World) -> u64 {
    let answer = post(world, Some("t"), &form(&[("hub.mode", "publish"), ("hub.url", TOPIC)]));
    assert_eq!(answer.status, 202, "{}", answer.json);
    answer.json["matched"].as_u64().unwrap()
}

/// The secret the last delivery to the callback was signed with, out of `candidates`.
fn signed_with<'a>(world: &World, candidates: &[&'a str]) -> Option<&'a str> {
    let deliveries: Vec<_> = world.sent_to(CALLBACK).into_iter().filter(|r| r.method == "POST").collect();
    let delivery = deliveries.last()?;
    let header = delivery.headers.iter().find(|(name, _)| name == "x-hub-signature").map(|(_, v)| v.clone())?;
    candidates.iter().copied().find(|secret| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&delivery.body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        header == format!("sha256={hex}")
    })
}

/// The verification GETs the callback got, as their `hub.mode`.
fn verifications(world: &World) -> Vec<String> {
    let gets = world.sent_to(CALLBACK).into_iter().filter(|r| r.method == "GET");
    gets.map(|r| r.url.split("hub.mode=").nth(1).unwrap().split('&').next().unwrap().to_string()).collect()
}

/// Runs the two retries of a verification (5 s and 5 min after the first attempt).
fn sweep_verification_retries(world: &World) {
    world.clock.advance(7_000);
    world.sweep();
    world.clock.advance(6 * 60_000);
    world.sweep();
}

#[test]
fn a_verified_subscriber_gets_the_topic_signed_with_link_headers() {
    let world = hub();
    subscribe(&world, "shhh", "3600");
    let get = &world.sent_to(CALLBACK)[0];
    assert_eq!(get.method, "GET");
    assert!(get.url.starts_with(
        "https://sub.example/cb?hub.mode=subscribe&hub.topic=https%3A%2F%2Fpub.example%2Ffeed&hub.challenge="
    ));
    assert!(get.url.ends_with("&hub.lease_seconds=3600"), "{}", get.url);

    assert_eq!(publish(&world), 1);
    assert_eq!(world.sent_to(TOPIC).len(), 1, "the topic was fetched");
    let delivery = world.sent_to(CALLBACK).pop().unwrap();
    assert_eq!((delivery.method.as_str(), delivery.body.as_slice()), ("POST", FEED.as_bytes()));
    let link = delivery.headers.iter().find(|(n, _)| n == "link").map(|(_, v)| v.as_str());
    assert_eq!(link, Some(r#"<http://hub.test/_hookah/hub>; rel="hub", <https://pub.example/feed>; rel="self""#));
    assert_eq!(signed_with(&world, &["shhh"]), Some("shhh"));
}

#[test]
fn a_2xx_without_the_challenge_does_not_confirm() {
    let world = hub();
    world.answer(CALLBACK, Answer::Status(200));
    subscribe(&world, "s", "3600");
    assert_eq!(publish(&world), 0);
    sweep_verification_retries(&world);
    assert_eq!(verifications(&world), ["subscribe"; 3]);
    assert_eq!(publish(&world), 0, "never confirmed");
}

#[test]
fn an_echoed_challenge_with_an_error_status_does_not_confirm() {
    let world = hub();
    world.answer(CALLBACK, Answer::EchoWith(404));
    subscribe(&world, "s", "3600");
    assert_eq!(publish(&world), 0);
    world.answer(CALLBACK, Answer::EchoWith(204));
    world.clock.advance(7_000);
    world.sweep();
    assert_eq!(publish(&world), 1, "an echo with any 2xx confirms");
}

#[test]
fn an_unsubscription_takes_effect_once_the_callback_confirms_it() {
    let world = hub();
    subscribe(&world, "s", "3600");
    world.answer(CALLBACK, Answer::Status(200));
    assert_eq!(unsubscribe(&world).status, 202);
    assert_eq!(publish(&world), 1, "the callback did not confirm the unsubscription");
    world.answer(CALLBACK, Answer::Echo);
    assert_eq!(unsubscribe(&world).status, 202);
    assert_eq!(verifications(&world), ["subscribe", "unsubscribe", "unsubscribe"]);
    assert_eq!(publish(&world), 0, "unsubscribed");
    assert_eq!(world.records("sub:"), 0);
}

#[test]
fn unsubscribing_what_was_never_subscribed_answers_the_same_and_sends_nothing() {
    let world = hub();
    let answer = unsubscribe(&world);
    assert_eq!((answer.status, &answer.json["status"]), (202, &"verifying".into()));
    assert!(world.sent().is_empty());
}

#[test]
fn a_renewal_changes_the_secret_only_once_the_callback_confirms_it() {
    let world = hub();
    subscribe(&world, "old", "3600");
    // Someone else asks for another secret; the callback does not echo.
    world.answer(CALLBACK, Answer::Status(200));
    subscribe(&world, "forged", "7200");
    assert_eq!(publish(&world), 1);
    assert_eq!(signed_with(&world, &["old", "forged"]), Some("old"), "changed before verification");
    sweep_verification_retries(&world);
    assert_eq!(publish(&world), 1, "a failed renewal keeps the subscription");
    assert_eq!(signed_with(&world, &["old", "forged"]), Some("old"));

    world.answer(CALLBACK, Answer::Echo);
    subscribe(&world, "new", "7200");
    assert_eq!(publish(&world), 1);
    assert_eq!(signed_with(&world, &["old", "new"]), Some("new"));
    assert_eq!(world.records("sub:"), 1, "one subscription throughout");
}

#[test]
fn a_lease_ends_unless_a_verified_renewal_extends_it() {
    let world = hub();
    subscribe(&world, "s", "300");
    world.clock.advance(200_000);
    assert_eq!(publish(&world), 1);
    subscribe(&world, "s", "300"); // verified now: 300 s from here
    world.clock.advance(200_000);
    assert_eq!(publish(&world), 1, "the renewal extended the lease");
    world.clock.advance(100_001);
    assert_eq!(publish(&world), 0, "the lease ran out");
}

#[test]
fn publishing_needs_the_api_token_and_a_topic_that_answers() {
    let world = hub();
    let body = form(&[("hub.mode", "publish"), ("hub.url", TOPIC)]);
    assert_eq!(post(&world, None, &body).status, 401);
    let scoped = world.request("POST", "/_hookah/v1/tokens", r#"{"channel": "app", "tenant": "t", "expires_in": 60}"#);
    let scoped = post(&world, scoped.json["token"].as_str(), &body);
    assert_eq!((scoped.status, scoped.code()), (403, "forbidden"));
    assert!(world.sent().is_empty(), "nothing fetched for a refused publish");

    world.answer(TOPIC, Answer::Status(500));
    let failed = post(&world, Some("t"), &body);
    assert_eq!((failed.status, failed.code()), (422, "topic_unavailable"));
    world.answer(TOPIC, Answer::Body(200, FEED));
    assert_eq!(publish(&world), 0, "nobody subscribed");
}

#[test]
fn bad_hub_requests_are_400s() {
    let world = hub();
    for body in [
        &b"hub.mode=watch"[..],
        b"hub.callback=https%3A%2F%2Fsub.example%2Fcb",
        b"hub.mode=subscribe&hub.topic=https%3A%2F%2Fpub.example%2Ffeed",
        b"hub.mode=subscribe&hub.callback=cb&hub.topic=https%3A%2F%2Fpub.example%2Ffeed",
        b"hub.mode=subscribe&hub.callback=https%3A%2F%2Fsub.example%2Fcb&hub.topic=https%3A%2F%2Fpub.example%2Ffeed&hub.secret=",
    ] {
        let answer = post(&world, None, body);
        assert_eq!((answer.status, answer.code()), (400, "bad_hub_request"), "{}", String::from_utf8_lossy(body));
    }
    let private = form(&[("hub.mode", "subscribe"), ("hub.callback", "http://10.0.0.1/cb"), ("hub.topic", TOPIC)]);
    assert_eq!(post(&world, None, &private).code(), "forbidden_target");
    assert!(world.kv.data.borrow().is_empty(), "nothing stored");
    assert_eq!(world.call("GET", "/_hookah/hub", &[], b"").status, 405);
}

#[test]
fn a_topic_the_hub_does_not_serve_gets_a_denial_notice() {
    let world = World::receiving(Config { websub_topics: vec!["https://pub.example/".into()], ..Config::default() });
    let body = form(&[("hub.mode", "subscribe"), ("hub.callback", CALLBACK), ("hub.topic", "https://else.example/f")]);
    let answer = post(&world, None, &body);
    assert_eq!((answer.status, &answer.json["status"]), (202, &"denied".into()));
    assert_eq!(verifications(&world), ["denied"]);
    assert_eq!(world.records("sub:"), 0);
}
