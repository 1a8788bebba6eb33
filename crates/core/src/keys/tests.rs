//! The layout is what existing stores hold: every key string must stay exactly as it was.

use super::*;
use crate::ids::{Id, JobId, Prefix};

/// Ids of each kind with one tail, `{prefix}{TAIL}`, so the expected keys read plainly.
const TAIL: &str = "0123456789abcdefghjkmnpqrs";

fn id<P: Prefix>() -> Id<P> {
    Id::parse(&format!("{}{TAIL}", P::PREFIX)).unwrap()
}

fn check<V>(key: Key<V>, expected: &str) {
    assert_eq!(key.as_str(), expected.replace("{TAIL}", TAIL));
}

#[test]
fn record_keys_keep_their_layout() {
    check(job(&id()), "job:job_{TAIL}");
    check(subscription(&id()), "sub:sub_{TAIL}");
    check(event(&id()), "evt:evt_{TAIL}");
    check(token(&id()), "tok:hkt_{TAIL}");
    check(signing_key(&id()), "key:key_{TAIL}");
    check(sweep_stats(), "stats:sweep");
    check(log_meta(&key_log()), "keys:meta");
    check(log_meta(&channel_subs("orders")), "chan:orders:subs:meta");
    check(channel("orders"), "chan:orders");
    check(idempotency("ab12"), "idem:ab12");
    check(attempt_detail(&id(), 2), "job:job_{TAIL}:attempt:2");
}

#[test]
fn byte_keys_keep_their_layout() {
    check(body(&id()), "job:job_{TAIL}:body");
    check(cancel_request(&id()), "job:job_{TAIL}:cancel");
    check(event_body(&id()), "evt:evt_{TAIL}:body");
    check(slot("", 1_700_000_000, 3), "due:1700000000:3");
    check(slot("eu-1", 1_700_000_000, 3), "due@eu-1:1700000000:3");
    check(list_entry("dead", 7), "list:dead:7");
    check(log_entry(&key_log(), 4), "keys:4");
    check(log_entry(&channel_subs("orders"), 4), "chan:orders:subs:4");
    check(default_key(), "keys:default");
    let index = format!("websub:{}", crate::digest::sha256_hex(b"https://a.example/cb\nhttps://b.example/t"));
    check(websub_index("https://a.example/cb", "https://b.example/t"), &index);
}

#[test]
fn counter_keys_keep_their_layout() {
    check(slot_count("", 5), "due:5:n");
    check(slot_count("eu", 5), "due@eu:5:n");
    check(bucket_claim("", 5, 31_000), "due:5:claim:2");
    check(bucket_claim("eu", 5, 31_000), "due@eu:5:claim:2");
    check(sweep_gate("", 5), "due:5:gate");
    check(sweep_gate("eu", 5), "due@eu:5:gate");
    assert!(is_job_record(job(&id()).as_str()));
    assert!(!is_job_record(body(&id()).as_str()));
    assert!(!is_job_record("jobs:x"));
    check(list_count("dead"), "list:dead:n");
    check(idempotency_race("ab12", 9), "idem:ab12:n:9");
    check(subscription_health(&id()), "sub:sub_{TAIL}:health");
    check(log_count(&key_log()), "keys:n");
    check(log_live(&channel_subs("orders")), "chan:orders:subs:live");
    check(turn(&job(&id()), 3), "job:job_{TAIL}:turn:3");
    check(turn(&log_meta(&key_log()), 1), "keys:meta:turn:1");
}

#[test]
fn number_keys_keep_their_layout() {
    check(slot_done("", 5), "due:5:done");
    check(slot_done("eu", 5), "due@eu:5:done");
    check(sweep_cursor(""), "sweep:cursor");
    check(sweep_cursor("eu"), "sweep:cursor@eu");
    check(subscription_failing_since(&id()), "sub:sub_{TAIL}:health:since");
    check(turn_seen(&job(&id()), 3), "job:job_{TAIL}:turn:3:seen");
}

#[test]
fn keys_fit_the_host_limit() {
    let id = JobId::from_random(&[9; 16]);
    // The longest region name a config takes.
    let region = "abcdefghijklmnop";
    let longest = [job(&id).to_string(), body(&id).to_string(), slot_count(region, u64::MAX).to_string()];
    let longest = longest.into_iter().chain([
        slot_done(region, u64::MAX).to_string(),
        slot(region, u64::MAX, u64::MAX).to_string(),
        bucket_claim(region, u64::MAX, u64::MAX).to_string(),
    ]);
    for key in longest {
        assert!(key.len() <= MAX_KEY_BYTES, "{key}");
    }
}

#[test]
fn buckets() {
    assert_eq!(bucket_of(1_999), 1);
    assert_eq!(timer_bucket(10_500, 2_000), 10);
    // A due time in the past still lands in a bucket no sweep has finished.
    assert_eq!(timer_bucket(1_000, 5_500), 6);
    assert_eq!(timer_bucket(5_700, 5_500), 6);
}

/// A counter key is a `Key<Counter>`, and `Counter` is neither a record nor settable, so it
/// cannot go where a record key is expected (`fence::update`, `Key::entry`, `TypedKv::save`)
/// nor be `set` at all. Checked when this compiles: naming `is_stored` or `is_settable` on a
/// type that had the trait would be ambiguous between the two impls below.
mod counters_are_not_records {
    use super::super::{Bytes, Counter, Number, Settable};
    use crate::stored::Stored;

    trait AmbiguousIfStored<Which> {
        fn is_stored() {}
    }
    impl<T> AmbiguousIfStored<()> for T {}
    impl<T: Stored> AmbiguousIfStored<u8> for T {}

    trait AmbiguousIfSettable<Which> {
        fn is_settable() {}
    }
    impl<T> AmbiguousIfSettable<()> for T {}
    impl<T: Settable> AmbiguousIfSettable<u8> for T {}

    #[test]
    fn only_records_are_records_and_counters_are_never_set() {
        <Counter as AmbiguousIfStored<_>>::is_stored();
        <Number as AmbiguousIfStored<_>>::is_stored();
        <Bytes as AmbiguousIfStored<_>>::is_stored();
        <Counter as AmbiguousIfSettable<_>>::is_settable();
    }
}

#[test]
fn a_key_shape_leaves_out_numbers_ids_and_hashes() {
    for (key, expected) in [
        ("sweep:cursor", "sweep:cursor"),
        ("due:1700000000:12", "due:#:#"),
        ("job:job_5geyqn043j5xy34fn8gs80ysq9:attempt:2", "job:*:attempt:#"),
        ("target:0123456789abcdef:flight:1888", "target:*:flight:#"),
        ("chan:orders:subs:live", "chan:orders:subs:live"),
        ("list:dead:7", "list:dead:#"),
    ] {
        assert_eq!(super::shape(key), expected, "{key}");
    }
}
