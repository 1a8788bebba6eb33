//! The store stays bounded: once every job and event has been deleted, the keys left are a
//! small constant, whatever the number of jobs, events and updates the store has seen.

use super::{Answer, World};
use crate::engine::fence::TURN_KEYS_KEPT_MS;
use crate::engine::slot_log::SLACK;
use crate::engine::{KeyRequest, Principal};
use crate::keys::{self, BUCKET_MS};
use crate::Config;
use std::collections::BTreeMap;

/// What is left: keys counted by shape, with two kinds apart that are bounded but not
/// constant: turn keys (a record that lives on keeps those of its last `TURN_KEYS_KEPT_MS` of
/// writes) and the entries of the slot logs of signing keys and subscriptions (a log is
/// compacted once it holds more than twice its live items and `tidy::SLACK`), and the
/// in-flight counters of target hosts (the last two epochs', until a job whose attempts used
/// them is deleted two epochs on).
#[derive(Debug)]
struct Left {
    by_shape: BTreeMap<String, usize>,
    turn_keys: usize,
    log_entries: usize,
    flight_counters: usize,
}

fn keys_left(world: &World) -> Left {
    let mut left = Left { by_shape: BTreeMap::new(), turn_keys: 0, log_entries: 0, flight_counters: 0 };
    for key in world.kv.data.borrow().keys() {
        let shape = keys::shape(key);
        if shape.contains(":turn:") {
            left.turn_keys += 1;
        } else if shape == "keys:#" || shape == "chan:orders:subs:#" {
            left.log_entries += 1;
        } else if shape == "target:*:flight:#" {
            left.flight_counters += 1;
        } else {
            *left.by_shape.entry(shape).or_insert(0) += 1;
        }
    }
    left
}

/// `rounds` rounds of a mixed load (delivered, dead, retried, idempotent, delayed and cancelled
/// jobs, fan-out events, signing keys and subscription secrets changed), then time until every
/// job and event has been deleted: the keys left.
fn keys_left_after(rounds: usize) -> Left {
    let config =
        Config { retention_ms: 60_000, retry_schedule_ms: vec![1_000, 1_000], timeout_ms: 2_000, ..Config::default() };
    let world = World::receiving(config);
    world.answer("http://dead.example/", Answer::Status(500));
    world.open_channel("orders");
    for i in 0..3 {
        world.subscribe("orders", &format!("https://sub{i}.example/hook"));
    }
    let subscriptions: Vec<String> =
        world.kv.keys_with_prefix("sub:").into_iter().filter(|key| key.matches(':').count() == 1).collect();
    let bearer = ("authorization", "Bearer t");
    for i in 0..rounds {
        world.answer("http://retry.example/", Answer::Status(500));
        world.request("POST", "/ok.example/hook", "{}");
        world.request("POST", "/dead.example/hook", "{}");
        world.request("POST", "/retry.example/hook", "{}");
        let order = format!("order-{i}");
        world.call("POST", "/ok.example/once", &[bearer, ("idempotency-key", &order)], b"{}");
        let delayed = world.call("POST", "/ok.example/later", &[bearer, ("hookah-delay", "30")], b"{}");
        world.request("DELETE", &format!("/_hookah/v1/jobs/{}", delayed.json["id"].as_str().unwrap()), "");
        world.call("POST", "/_hookah/v1/channels/orders/events", &[bearer, ("hookah-event-type", "a.b")], b"{}");
        let sub = &subscriptions[i % subscriptions.len()]["sub:".len()..];
        let rotated = world.request("POST", &format!("/_hookah/v1/channels/orders/subscriptions/{sub}/rotate"), "{}");
        assert_eq!(rotated.status, 200, "{}", rotated.json);
        let (key, _) = world.create_key(KeyRequest::default());
        world.hookah().keyring().rotate_key(&key, KeyRequest::default()).unwrap();
        world.hookah().keyring().delete_key(&key).unwrap();
        world.answer("http://retry.example/", Answer::Status(200));
        world.sweep_each_second(1);
    }
    for _ in 0..3_000 {
        world.sweep_each_second(1);
        if world.job_count() == 0 && world.records("evt:") == 0 {
            break;
        }
    }
    assert_eq!((world.job_count(), world.records("evt:")), (0, 0), "everything was deleted");
    world.sweep_each_second(120);
    // Compaction of the slot logs works a mark (a minute) behind the writers, carried by their
    // deletions, publishes and listings: an operator's listings carry it to its end.
    for _ in 0..4 {
        world.clock.advance(61_000);
        world.hookah().keyring().list_keys().unwrap();
        world.hookah().channels().list_subscriptions(&Principal::App, "orders", 10, None).unwrap();
    }
    keys_left(&world)
}

#[test]
fn the_keys_left_once_everything_is_deleted_do_not_grow_with_what_was_stored() {
    let small = keys_left_after(80);
    let large = keys_left_after(160);
    assert_eq!(small.by_shape, large.by_shape, "keys left after 80 rounds, then 160");
    // The statistics aggregate is written once a second here at most: the turns of the last
    // `TURN_KEYS_KEPT_MS` before its last mark and after it, a key each (and a `seen` key each
    // at worst).
    let turns_kept = 2 * 2 * (TURN_KEYS_KEPT_MS / BUCKET_MS + 1) as usize;
    // Three live subscriptions in one log, none in the other.
    let entries_kept = 2 * 3 + 2 * SLACK as usize;
    for left in [&small, &large] {
        assert!(left.turn_keys <= turns_kept && left.log_entries <= entries_kept, "{left:?}");
        // Two hosts get attempts from sweeps (the dead and the retried jobs'), in at most two
        // epochs each.
        assert!(left.flight_counters <= 4, "{left:?}");
    }
}

#[test]
fn a_deleted_job_takes_the_in_flight_counters_of_its_attempts_with_it() {
    let world = World::receiving(Config { retry_schedule_ms: vec![1_000], ..Config::default() });
    assert!(world.config.target_concurrency > 0);
    world.answer("http://a.example/", Answer::Status(500));
    world.request("POST", "/a.example/hook", "{}");
    world.answer("http://a.example/", Answer::Status(200));
    world.sweep_each_second(3); // the retry, a sweep's attempt, takes a place in flight
    assert_eq!(world.kv.keys_with_prefix("target:").len(), 1);
    world.clock.advance(world.config.retention_ms + 120_000);
    for _ in 0..(world.config.retention_ms / (crate::keys::MAX_BUCKETS_PER_SWEEP * BUCKET_MS) + 2) {
        world.sweep();
    }
    assert_eq!(world.job_count(), 0);
    assert_eq!(world.kv.keys_with_prefix("target:"), Vec::<String>::new());
}

/// The keys that name `id`, or that a list, a timer or a turn holds for it.
fn keys_of_job(world: &World, id: &str) -> Vec<String> {
    let data = world.kv.data.borrow();
    let mut keys: Vec<String> = data
        .iter()
        .filter(|(key, value)| key.contains(id) || (!key.ends_with(":n") && value.starts_with(id.as_bytes())))
        .map(|(key, _)| keys::shape(key))
        .collect();
    keys.sort();
    keys
}

#[test]
fn the_keys_a_job_holds_while_pending_while_retained_and_after_deletion() {
    let config = Config { retry_schedule_ms: vec![5_000], ..Config::default() };
    let world = World::receiving(config);
    world.answer("http://a.example/", Answer::Status(500));
    let id = world.request("POST", "/a.example/hook", "{}").json["id"].as_str().unwrap().to_string();
    // Waiting for its retry: the record, the body, the retry's timer slot and its pending-list
    // entry (the first attempt's timer slot was emptied when the retry was scheduled).
    assert_eq!(keys_of_job(&world, &id), ["due:#:#", "job:*", "job:*:body", "list:pending:#"]);
    world.answer("http://a.example/", Answer::Status(200));
    world.sweep_each_second(6);
    world.clock.advance(world.job(&id).unwrap().lease_ms());
    // Filed at its lease's end; that slot's bucket is deleted once settled (`SETTLE_MS`).
    world.sweep_each_second(1 + (crate::keys::SETTLE_MS / BUCKET_MS) as usize + 1);
    // Retained: the record, the body, the first attempt's detail, the retry's turn, the
    // entries in the pending and delivered lists, and the timer slot at its retention's end.
    let retained =
        ["due:#:#", "job:*", "job:*:attempt:#", "job:*:body", "job:*:turn:#", "list:delivered:#", "list:pending:#"];
    assert_eq!(keys_of_job(&world, &id), retained);
    world.clock.advance(world.config.retention_ms + 60_000);
    for _ in 0..(world.config.retention_ms / (crate::keys::MAX_BUCKETS_PER_SWEEP * BUCKET_MS) + 2) {
        world.sweep();
    }
    assert_eq!(keys_of_job(&world, &id), Vec::<String>::new(), "nothing once deleted");
}
