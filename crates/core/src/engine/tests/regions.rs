//! Regions on a replicated store: each region writes its own timer index, and sweeps another
//! region's only once its buckets are `region_takeover` old. (Replication itself is simulated
//! end to end, in the local host's two-region store.)

use super::{Answer, World};
use crate::job::State;
use crate::keys::TypedKv;
use crate::Config;

fn in_region(region: &str) -> Config {
    Config {
        region: region.into(),
        regions: vec!["a".into(), "b".into()],
        region_takeover_ms: 60_000,
        ..Config::default()
    }
}

#[test]
fn a_region_writes_its_own_timer_index_and_sweeps_it() {
    let world = World::receiving(in_region("a"));
    world.answer("http://example.com/", Answer::Status(500));
    world.request("POST", "/example.com/hook", "{}");
    let timers = world.kv.keys_with_prefix("due");
    assert!(!timers.is_empty() && timers.iter().all(|key| key.starts_with("due@a:")), "{timers:?}");
    world.answer("http://example.com/", Answer::Status(200));
    world.sweep_each_second(8);
    assert_eq!(world.sent().len(), 2, "the retry went out from region a's own index");
}

#[test]
fn another_region_takes_over_a_stopped_regions_jobs_only_after_region_takeover() {
    // One store seen by both regions (no lag): region a accepts, fails once, and stops.
    let a = World::receiving(in_region("a"));
    a.answer("http://example.com/", Answer::Status(500));
    let id = a.request("POST", "/example.com/hook", "{}").json["id"].as_str().unwrap().to_string();
    let b = World { kv: a.kv, ..World::receiving(in_region("b")) };
    b.answer("http://example.com/", Answer::Status(200));
    // The retry is due after 5 s; for b it is another region's, left alone for a minute.
    b.sweep_each_second(50);
    assert!(b.sent().is_empty(), "region b acted on region a's job while a could still");
    assert!(matches!(b.job(&id).unwrap().state, State::Pending { .. }));
    b.sweep_each_second(20);
    assert_eq!(b.sent().len(), 1, "taken over once a's bucket was region_takeover old");
    assert!(matches!(b.job(&id).unwrap().state, State::Delivered { .. }));
}

#[test]
fn a_claim_a_dead_sweep_left_on_another_regions_bucket_goes_with_the_bucket() {
    let a = World::receiving(in_region("a"));
    a.request("POST", "/example.com/hook", "{}");
    let b = World { kv: a.kv, ..World::receiving(in_region("b")) };
    // A sweep of region b that claimed one of a's buckets, by its clock, and died.
    let bucket = b.kv.keys_with_prefix("due@a:").iter().find_map(|key| key.split(':').nth(1)?.parse::<u64>().ok());
    let bucket = bucket.expect("a's timer bucket");
    b.clock.advance(200_000);
    b.kv.add_to(&crate::keys::bucket_claim("a", bucket, b.clock.0.get()), 1).unwrap();
    b.sweep_each_second(40);
    let left = b.kv.keys_with_prefix("due@a:");
    assert!(!left.iter().any(|key| key.contains(":claim:")), "{left:?}");
}
