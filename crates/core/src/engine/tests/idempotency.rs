//! `Idempotency-Key`: within its day the same key answers with the same job and stores one; a
//! different key makes another job; after the day a new job; a different call under the key is
//! refused.

use super::{Answered, World};
use crate::engine::IDEMPOTENCY_TTL_MS;
use crate::Config;

/// Submits `body` to `https://a.example/hook` under `key`.
fn submit(world: &World, key: &str, body: &[u8]) -> Answered {
    let headers = [("authorization", "Bearer t"), ("idempotency-key", key)];
    world.call("POST", "/a.example/hook", &headers, body)
}

fn id(answer: &Answered) -> String {
    assert_eq!(answer.status, 202, "{}", answer.json);
    answer.json["id"].as_str().unwrap().to_string()
}

/// Submits twice under `first` and `second`, `gap_ms` apart; returns whether one job answered
/// both, and how many jobs are stored and were sent.
fn check(first: &str, second: &str, gap_ms: u64, expected: (bool, usize, usize)) {
    let world = World::receiving(Config::default());
    let one = id(&submit(&world, first, b"{}"));
    world.clock.advance(gap_ms);
    let two = submit(&world, second, b"{}");
    let same = id(&two) == one;
    assert_eq!(two.header("idempotent-replayed"), same.then_some("true"));
    let got = (same, world.job_count(), world.transport.sent.borrow().len());
    assert_eq!(got, expected, "{first} then {second} after {gap_ms} ms");
}

#[test]
fn a_key_answers_with_its_job_for_a_day() {
    check("order-1", "order-1", 0, (true, 1, 1));
    check("order-1", "order-1", 59_000, (true, 1, 1));
    check("order-1", "order-1", 3_600_000, (true, 1, 1));
    check("order-1", "order-1", IDEMPOTENCY_TTL_MS - 1, (true, 1, 1));
}

#[test]
fn another_key_or_a_day_later_is_a_new_job() {
    check("order-1", "order-2", 0, (false, 2, 2));
    check("order-1", "ORDER-1", 0, (false, 2, 2));
    check("order-1", "order-1", IDEMPOTENCY_TTL_MS, (false, 2, 2));
    check("order-1", "order-1", 2 * IDEMPOTENCY_TTL_MS, (false, 2, 2));
}

#[test]
fn a_replayed_answer_is_the_original_job_as_it_is_now() {
    let world = World::receiving(Config::default());
    let first = submit(&world, "order-1", b"{}");
    assert_eq!(first.json["state"], "pending");
    let again = submit(&world, "order-1", b"{}");
    assert_eq!((again.status, &again.json["id"]), (202, &first.json["id"]));
    assert_eq!(again.json["state"], "delivered", "the job's state now, not at the first answer");
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(world.sent().len(), 1, "no second attempt");
}

#[test]
fn a_different_call_under_a_used_key_is_refused() {
    let world = World::receiving(Config::default());
    id(&submit(&world, "order-1", br#"{"a":1}"#));
    let other = submit(&world, "order-1", br#"{"a":2}"#);
    assert_eq!((other.status, other.code()), (422, "idempotency_mismatch"));
    let headers = [("authorization", "Bearer t"), ("idempotency-key", "order-1")];
    let elsewhere = world.call("POST", "/b.example/hook", &headers, br#"{"a":1}"#);
    assert_eq!((elsewhere.status, elsewhere.code()), (422, "idempotency_mismatch"));
    assert_eq!(world.job_count(), 1);
}

#[test]
fn a_new_job_after_the_day_takes_the_key_over() {
    let world = World::receiving(Config::default());
    let first = id(&submit(&world, "order-1", b"{}"));
    world.clock.advance(IDEMPOTENCY_TTL_MS);
    let second = id(&submit(&world, "order-1", b"{}"));
    assert_ne!(first, second);
    world.clock.advance(60_000);
    assert_eq!(id(&submit(&world, "order-1", b"{}")), second, "the key now answers with the new job");
    let body = submit(&world, "order-1", br#"{"changed":true}"#);
    assert_eq!(body.code(), "idempotency_mismatch", "and only for the new call");
}

#[test]
fn the_key_itself_is_not_stored() {
    let world = World::receiving(Config::default());
    id(&submit(&world, "customer-42-secret-order", b"{}"));
    let stored = world.kv.data.borrow();
    let found = stored
        .iter()
        .any(|(key, value)| key.contains("customer-42") || String::from_utf8_lossy(value).contains("customer-42"));
    assert!(!found, "only a hash of the key is kept");
}

#[test]
fn an_empty_or_overlong_key_is_refused() {
    let world = World::receiving(Config::default());
    for key in [String::new(), " ".into(), "k".repeat(256)] {
        let answer = submit(&world, &key, b"{}");
        assert_eq!((answer.status, answer.code()), (400, "bad_idempotency_key"), "{key:?}");
    }
    assert_eq!(world.job_count(), 0);
    id(&submit(&world, &"k".repeat(255), b"{}"));
}
