//! The store stays bounded: once every job and event has been deleted, the keys left are a
//! small constant, the same for N rounds of work and 2N, and idle minutes of sweeping add none.

use crate::support::{Answer, Launch, Lift, Receiver, TestHookah};
use std::collections::BTreeMap;
use std::time::Duration;

/// The keys left by shape, and apart the turn keys, which the statistics aggregate keeps for its
/// writes of the last `TURN_KEYS_KEPT_MS` (40 s) and which are bounded but not constant.
fn keys_left(hookah: &TestHookah) -> (BTreeMap<String, usize>, usize) {
    let mut by_shape = BTreeMap::new();
    // Turn keys of the last writes, and sweep gates of the seconds not yet settled: bounded, but
    // how many depends on timing, so they are counted apart.
    let mut recent = 0;
    for key in hookah.store.key_names() {
        match hookah_core::keys::shape(&key) {
            shape if shape.contains(":turn:") || shape == "due:#:gate" => recent += 1,
            shape => *by_shape.entry(shape).or_insert(0) += 1,
        }
    }
    (by_shape, recent)
}

/// Moves the clock 5 s and sweeps, `times` times.
async fn sweep_for(hookah: &TestHookah, times: usize) {
    for _ in 0..times {
        hookah.advance_idle(Duration::from_secs(5)).await;
        hookah.sweep().await;
    }
}

/// `rounds` rounds of delivered, dead, retried, idempotent, cancelled and fanned-out jobs, with
/// a 10 s retention; then sweeps until none is left: the keys left then, and after 5 more
/// minutes of idle sweeping.
async fn keys_left_after(rounds: usize) -> [(BTreeMap<String, usize>, usize); 2] {
    let variables = [("retention", "10s"), ("retry_schedule", "1s,1s"), ("timeout", "2s")];
    // Up to 30 rounds of seven jobs and an event are held at once before sweeps delete them: more
    // keys than a standard plan's store holds (1,024), by design. Every other limit stays on.
    let hookah = Launch::new(&variables).lifting(&[Lift::KeyCap]).start().await;
    let ok = Receiver::start().await;
    let dead = Receiver::start().await;
    dead.answer(|_, _| Answer::status(500));
    // Fails each path's first request, then takes it.
    let retried = Receiver::start().await;
    let seen = std::sync::Mutex::new(std::collections::HashSet::new());
    retried.answer(move |request, _| {
        let first = seen.lock().unwrap().insert(request.path_and_query.clone());
        Answer::status(if first { 500 } else { 200 })
    });
    let channel = hookah.call("PUT", "/_hookah/v1/channels/orders", &[], br#"{"verify_intent": false}"#).await;
    assert_eq!(channel.status, 200);
    for i in 0..2 {
        let body = format!(r#"{{"url": "http://{}/sub{i}"}}"#, ok.host_port());
        let created = hookah.call("POST", "/_hookah/v1/channels/orders/subscriptions", &[], body.as_bytes()).await;
        assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    }
    for i in 0..rounds {
        hookah.submit("POST", &format!("/{}/ok", ok.host_port()), &[], b"{}").await;
        hookah.submit("POST", &format!("/{}/dead", dead.host_port()), &[], b"{}").await;
        hookah.submit("POST", &format!("/{}/retried/{i}", retried.host_port()), &[], b"{}").await;
        let order = format!("order-{i}");
        hookah.submit("POST", &format!("/{}/once", ok.host_port()), &[("idempotency-key", &order)], b"{}").await;
        let delayed =
            hookah.submit("POST", &format!("/{}/later", ok.host_port()), &[("hookah-delay", "60")], b"{}").await;
        assert_eq!(hookah.call("DELETE", &format!("/_hookah/v1/jobs/{delayed}"), &[], b"").await.status, 200);
        let published =
            hookah.call("POST", "/_hookah/v1/channels/orders/events", &[("hookah-event-type", "a.b")], b"{}").await;
        assert_eq!(published.status, 202);
    }
    // Every first attempt has ended before the clock moves on.
    ok.wait_for(4 * rounds, Duration::from_secs(60)).await;
    dead.wait_for(rounds, Duration::from_secs(60)).await;
    retried.wait_for(rounds, Duration::from_secs(60)).await;
    for _ in 0..200 {
        let left = hookah.store.key_names();
        if !left.iter().any(|key| key.starts_with("job:") || key.starts_with("evt:")) {
            break;
        }
        sweep_for(&hookah, 1).await;
    }
    let (jobs, _) = keys_left(&hookah);
    assert!(!jobs.keys().any(|shape| shape.starts_with("job:") || shape.starts_with("evt:")), "{jobs:?}");
    assert_eq!(dead.requests().len(), 3 * rounds, "every dead job made its three attempts");
    assert_eq!(retried.requests().len(), 2 * rounds, "every retried job was delivered at its retry");
    // The buckets settle and are finished.
    sweep_for(&hookah, 12).await;
    let deleted = keys_left(&hookah);
    sweep_for(&hookah, 60).await;
    [deleted, keys_left(&hookah)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_a_job_or_a_sweep_writes_outlives_it() {
    let [small, small_idle] = keys_left_after(15).await;
    let [large, large_idle] = keys_left_after(30).await;
    assert_eq!(small.0, large.0, "keys left after 15 rounds, then 30");
    assert_eq!(small.0, small_idle.0, "5 idle minutes of sweeping add nothing");
    assert_eq!(large.0, large_idle.0);
    // The aggregate's turn keys of the last 40 s of writes, and of the 40 s before its last
    // mark; a gate for each of the last 30-odd seconds at most.
    for (_, recent) in [small, small_idle, large, large_idle] {
        assert!(recent <= 4 * 41 + 36, "{recent} turn keys and gates left");
    }
}
