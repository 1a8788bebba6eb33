//! Hookah on a globally replicated store: two regions of a simulated store whose writes reach
//! each other 1 s late (last writer wins per key, `increment` atomic only within a region), one
//! host in each, both sweeping. What holds there: nothing accepted is lost, and duplicates are
//! counted and bounded.

use crate::support::client::Response;
use crate::support::hookah::{built, manifest};
use crate::support::{send, Answer, Receiver, TOKEN, WAIT};
use hookah_host::{HostConfig, KvRegion, ReplicatedKv, RunningHost};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LAG: Duration = Duration::from_secs(1);
/// Jobs submitted to each region.
const JOBS_PER_REGION: usize = 30;
/// Every third job fails its first attempt, so a sweep makes its retry.
const FLAKY_EVERY: usize = 3;
/// Idempotency keys, each submitted to both regions at once.
const IDEMPOTENT: usize = 10;
/// Host time the sweeps run on once every job has been delivered, to catch late duplicates:
/// past every lease (2 × the 15 s timeout + a 30 s margin), stale turn (30 s) and bucket
/// settling (30 s) the run started.
const SETTLE: Duration = Duration::from_secs(180);
/// Host time after which a job still undelivered is lost: past every lease, and the second
/// retry (5 min) of the default schedule.
const GIVE_UP: Duration = Duration::from_secs(900);

struct Region {
    name: &'static str,
    host: RunningHost,
}

impl Region {
    async fn start(name: &'static str, region: KvRegion) -> Region {
        built().await;
        let mut config = HostConfig::in_region(manifest(), region);
        config.enable_cron = false;
        config.variables.insert("api_token".into(), TOKEN.into());
        config.variables.insert("allowed_private_targets".into(), "127.0.0.1".into());
        // Each region writes its own timer index (crates/core/src/engine/regions.rs).
        config.variables.insert("region".into(), name.to_ascii_lowercase());
        config.variables.insert("regions".into(), "a,b".into());
        Region { name, host: RunningHost::start(config).await.expect("starting a region's host") }
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let auth = format!("Bearer {TOKEN}");
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        send(method, &format!("http://{}{path}", self.host.addr()), &all, body).await
    }

    async fn sweep(&self) -> serde_json::Value {
        let response = self.call("POST", "/_hookah/v1/sweep", &[], b"").await;
        let answer = String::from_utf8_lossy(&response.body);
        assert_eq!(response.status, 200, "region {}'s sweep: {answer}", self.name);
        response.json()
    }

    async fn idle(&self) {
        tokio::time::timeout(WAIT, self.host.idle()).await.expect("a region's host never went idle");
    }
}

/// What the receiver saw of one job id.
#[derive(Default, Debug, Clone)]
struct Seen {
    path: String,
    attempts: usize,
    delivered: usize,
}

/// Answers 500 to the first request of each job on a `/flaky/` path and 200 to everything else,
/// counting per `webhook-id`.
fn record(receiver: &Receiver) -> Arc<Mutex<HashMap<String, Seen>>> {
    let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
    let counts = seen.clone();
    receiver.answer(move |request, _| {
        let id = request.header("webhook-id").expect("a webhook-id").to_string();
        let mut counts = counts.lock().unwrap();
        let job = counts.entry(id).or_default();
        job.path.clone_from(&request.path_and_query);
        job.attempts += 1;
        if request.path_and_query.contains("/flaky/") && job.attempts == 1 {
            return Answer::status(500);
        }
        job.delivered += 1;
        Answer::status(200)
    });
    seen
}

/// Two regions 1 s apart take jobs at once, some failing once, and idempotent repeats sent to
/// both; both sweep every (host) second until every accepted job reached the receiver, then on
/// past every lease. Each region writes its own timer index (`engine/regions.rs`).
///
/// Nothing accepted may be lost, and no job is attempted twice while both regions run:
/// - A first attempt is made by the accepting invocation, under a claim the other region sees
///   only 1 s later, in flight under a lease whose outcome arrives before it ends.
/// - A retry's slot is in the index of the region that scheduled it, which the other region
///   reads only `region_takeover` (2 min) after the bucket ended, long after the owner handled it.
/// - An idempotency key raced in both regions within the lag makes at most one job in each: at
///   most one extra job per key, which the receiver gets under a job id of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_regions_one_second_apart_lose_nothing_and_bound_their_duplicates() {
    let store = ReplicatedKv::new(LAG).unwrap();
    let clock = store.clock();
    let (a, b) = tokio::join!(Region::start("A", store.region_a()), Region::start("B", store.region_b()));
    let regions = [&a, &b];
    let receiver = Receiver::start().await;
    let seen = record(&receiver);
    let hp = receiver.host_port();

    // Every job at once, alternating regions; the first attempts run after the 202s.
    let submissions = (0..2 * JOBS_PER_REGION).map(|i| {
        let kind = if i % FLAKY_EVERY == 0 { "flaky" } else { "steady" };
        let path = format!("/{hp}/{kind}/{i}");
        async move { (i, regions[i % 2].call("POST", &path, &[], b"{}").await) }
    });
    let mut accepted: BTreeMap<String, String> = BTreeMap::new(); // job id -> what it is
    let mut flaky = 0;
    for (i, response) in futures::future::join_all(submissions).await {
        assert_eq!(response.status, 202, "{}", String::from_utf8_lossy(&response.body));
        let kind = if i % FLAKY_EVERY == 0 { "flaky" } else { "steady" };
        flaky += usize::from(kind == "flaky");
        accepted.insert(response.json()["id"].as_str().unwrap().to_string(), format!("{kind} job {i}"));
    }

    // Each idempotency key to both regions at once. A 409 (the key is being stored) is retried,
    // as a client would, once the lag has passed.
    let mut jobs_per_key: BTreeMap<usize, HashSet<String>> = BTreeMap::new();
    let mut conflicts_answered = 0;
    for k in 0..IDEMPOTENT {
        let key = format!("key-{k}");
        let path = format!("/{hp}/idem/{k}");
        let headers = [("idempotency-key", key.as_str())];
        let (first, second) =
            tokio::join!(a.call("POST", &path, &headers, b"{}"), b.call("POST", &path, &headers, b"{}"));
        for (region, mut response) in [(&a, first), (&b, second)] {
            let mut tries = 0;
            while response.status == 409 && tries < 5 {
                conflicts_answered += 1;
                tries += 1;
                clock.advance(2 * LAG);
                response = region.call("POST", &path, &headers, b"{}").await;
            }
            assert_eq!(response.status, 202, "{}", String::from_utf8_lossy(&response.body));
            let id = response.json()["id"].as_str().unwrap().to_string();
            accepted.insert(id.clone(), format!("idempotent key {k}"));
            jobs_per_key.entry(k).or_default().insert(id);
        }
    }
    a.idle().await;
    b.idle().await;

    // Both regions sweep each host second, at once, until every accepted job got through; then
    // for `SETTLE` more.
    let started = Instant::now();
    let mut elapsed = Duration::ZERO;
    let mut all_delivered_at = None;
    let mut claimed = [0u64; 2];
    loop {
        let delivered: HashSet<String> =
            seen.lock().unwrap().iter().filter(|(_, s)| s.delivered > 0).map(|(id, _)| id.clone()).collect();
        let missing: Vec<&String> = accepted.keys().filter(|id| !delivered.contains(*id)).collect();
        if missing.is_empty() && all_delivered_at.is_none() {
            all_delivered_at = Some(elapsed);
        }
        match all_delivered_at {
            Some(at) if elapsed >= at + SETTLE => break,
            None if elapsed >= GIVE_UP => break,
            _ => {}
        }
        assert!(started.elapsed() < 3 * WAIT, "sweeping took too long in real time");
        clock.advance(Duration::from_secs(1));
        elapsed += Duration::from_secs(1);
        let (ra, rb) = tokio::join!(a.sweep(), b.sweep());
        for (n, report) in [ra, rb].iter().enumerate() {
            claimed[n] += report["claimed"].as_u64().unwrap_or(0);
        }
        a.idle().await;
        b.idle().await;
    }

    let seen = seen.lock().unwrap().clone();
    let lost: Vec<(&String, &String)> =
        accepted.iter().filter(|(id, _)| seen.get(*id).is_none_or(|s| s.delivered == 0)).collect();
    let deliveries: usize = seen.values().map(|s| s.delivered).sum();
    let attempts: usize = seen.values().map(|s| s.attempts).sum();
    let duplicates: usize = seen.values().map(|s| s.delivered.saturating_sub(1)).sum();
    let doubled_keys = jobs_per_key.values().filter(|jobs| jobs.len() > 1).count();
    // Per idempotency key, the job ids the receiver got it under.
    let mut ids_per_key: BTreeMap<&str, HashSet<&String>> = BTreeMap::new();
    for (id, s) in seen.iter().filter(|(_, s)| s.path.contains("/idem/") && s.delivered > 0) {
        ids_per_key.entry(s.path.as_str()).or_default().insert(id);
    }
    let idempotency_duplicates: usize = ids_per_key.values().map(|ids| ids.len() - 1).sum();
    let done = all_delivered_at.map_or("never".to_string(), |at| format!("after {at:?}"));
    eprintln!(
        "replicated store, {LAG:?} lag: {} jobs accepted ({} plain, {flaky} failing once, {} from {IDEMPOTENT} \
         idempotency keys sent to both regions; {conflicts_answered} answers 409 retried), {attempts} attempts, \
         {deliveries} deliveries, {duplicates} duplicate deliveries of one job id, {doubled_keys} keys that made a \
         job in each region ({idempotency_duplicates} delivered twice under two ids), {} replication conflicts ({} of \
         them increments), {} jobs lost; sweeps claimed {} in A and {} in B; all delivered {done} (host time)",
        accepted.len(),
        2 * JOBS_PER_REGION - flaky,
        accepted.len() - 2 * JOBS_PER_REGION,
        store.conflicts(),
        store.increment_conflicts(),
        lost.len(),
        claimed[0],
        claimed[1],
    );
    for (id, what) in &lost {
        for region in regions {
            let view = region.call("GET", &format!("/_hookah/v1/jobs/{id}"), &[], b"").await;
            eprintln!("lost {what} {id} in region {}: {}", region.name, String::from_utf8_lossy(&view.body));
        }
    }
    assert_eq!(duplicates, 0, "a job delivered twice while both regions ran");
    assert!(
        ids_per_key.values().all(|ids| ids.len() <= 2),
        "an idempotency key delivered under more than one job per region: {ids_per_key:?}"
    );
    assert!(lost.is_empty(), "{} accepted jobs never delivered: {lost:?}", lost.len());
}

/// Region B takes jobs, makes their first attempts (which fail) and stops sweeping. Region A
/// leaves B's timer index alone until its buckets are `region_takeover` old, then makes the
/// retries: nothing is lost when a region stops, and nothing is done twice before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_regions_retries_are_taken_over_after_region_takeover() {
    let store = ReplicatedKv::new(LAG).unwrap();
    let clock = store.clock();
    let (a, b) = tokio::join!(Region::start("A", store.region_a()), Region::start("B", store.region_b()));
    let receiver = Receiver::start().await;
    let seen = record(&receiver);
    let hp = receiver.host_port();
    let mut ids = Vec::new();
    for i in 0..5 {
        let response = b.call("POST", &format!("/{hp}/flaky/{i}"), &[], b"{}").await;
        assert_eq!(response.status, 202);
        ids.push(response.json()["id"].as_str().unwrap().to_string());
    }
    b.idle().await;
    let delivered = || seen.lock().unwrap().values().filter(|s| s.delivered > 0).count();
    // B stops. A sweeps every second: for the first 100 s (past the 5 s retries) B's buckets are
    // too young to take over.
    for _ in 0..100 {
        clock.advance(Duration::from_secs(1));
        a.sweep().await;
        a.idle().await;
    }
    assert_eq!(delivered(), 0, "region A acted on region B's jobs before region_takeover");
    let mut seconds = 100;
    while delivered() < ids.len() {
        assert!(seconds < 400, "region B's retries were never taken over");
        clock.advance(Duration::from_secs(1));
        seconds += 1;
        a.sweep().await;
        a.idle().await;
    }
    assert!(seconds >= 120, "taken over after {seconds} s, before region_takeover");
    let attempts: usize = seen.lock().unwrap().values().map(|s| s.attempts).sum();
    assert_eq!(attempts, 2 * ids.len(), "each job: its failed first attempt and one retry");
    eprintln!("region B's {} retries were taken over by region A {seconds} s after they were accepted", ids.len());
}
