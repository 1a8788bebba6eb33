//! Several hosts on one Redis, as Hookah runs when scaled out: hard kills under load, and sweeps
//! racing for the same due jobs. These run on Redis whatever `HOOKAH_TEST_KV` says.

use crate::support::client::try_send;
use crate::support::hookah::built;
use crate::support::{Answer, HostProcess, Launch, Lift, Receiver, TestStore, TOKEN};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SUBMISSIONS: usize = 3_000;
const KILLS: usize = 6;
const SUBMITTERS: usize = 16;
/// Beyond every lease taken before the clocks move (2 × the 15 s timeout + 30 s margin).
const PAST_THE_LEASES_SECS: u64 = 300;
const VARIABLES: [(&str, &str); 2] = [("sweep_batch", "1000"), ("sweep_concurrency", "64")];

/// Who accepted a submission: the steady host, or incarnation `n` of the one that gets killed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Acceptor {
    Steady,
    Victim(usize),
}

/// The submissions in progress, shared by the submitters and the test.
struct Storm {
    path: String,
    steady: String,
    next: AtomicUsize,
    done: AtomicUsize,
    /// The victim's incarnation and address while it is up.
    victim: Mutex<Option<(usize, String)>>,
    /// Per incarnation: submissions sent and not yet answered or failed.
    open: Vec<AtomicUsize>,
    /// Per incarnation: submissions whose connection failed (cut by the kill, or refused after it).
    failed: Vec<AtomicUsize>,
    accepted: Mutex<Vec<(String, Acceptor)>>,
}

impl Storm {
    /// Submits until all are accepted: even numbers go to the victim while it is up; a
    /// submission the victim failed goes to the steady host, as a client behind a load balancer
    /// would retry.
    async fn submit_all(self: Arc<Self>) {
        loop {
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            if n >= SUBMISSIONS {
                return;
            }
            let body = format!("{{\"n\":{n}}}");
            let victim = if n.is_multiple_of(2) { self.victim_to_use() } else { None };
            if let Some((incarnation, addr)) = victim {
                let outcome = submit(&addr, &self.path, &body).await;
                if let Ok(id) = &outcome {
                    self.accepted.lock().unwrap().push((id.clone(), Acceptor::Victim(incarnation)));
                }
                if outcome.is_err() {
                    self.failed[incarnation].fetch_add(1, Ordering::SeqCst);
                }
                self.open[incarnation].fetch_sub(1, Ordering::SeqCst);
                if outcome.is_ok() {
                    self.done.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
            }
            let id = submit(&self.steady, &self.path, &body)
                .await
                .unwrap_or_else(|e| panic!("the steady host is never killed, yet: {e}"));
            self.accepted.lock().unwrap().push((id, Acceptor::Steady));
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The victim's incarnation and address, counted as open under the same lock the test takes
    /// to bring it down, so no submission slips past the count.
    fn victim_to_use(&self) -> Option<(usize, String)> {
        let victim = self.victim.lock().unwrap();
        let (incarnation, addr) = victim.clone()?;
        self.open[incarnation].fetch_add(1, Ordering::SeqCst);
        Some((incarnation, addr))
    }

    fn accepted_by(&self, acceptor: Acceptor) -> Vec<String> {
        self.accepted.lock().unwrap().iter().filter(|(_, a)| *a == acceptor).map(|(id, _)| id.clone()).collect()
    }
}

/// A 202's job id; a failed connection is an error, any other answer a test failure.
async fn submit(addr: &str, path: &str, body: &str) -> Result<String, String> {
    let auth = format!("Bearer {TOKEN}");
    let response =
        try_send("POST", &format!("http://{addr}{path}"), &[("authorization", &auth)], body.as_bytes()).await?;
    assert_eq!(response.status, 202, "submission to {addr}: {}", String::from_utf8_lossy(&response.body));
    Ok(response.json()["id"].as_str().unwrap().to_string())
}

async fn start_process(store: &Arc<TestStore>, clock_offset_secs: u64) -> HostProcess {
    let store = store.clone();
    // A load test sized beyond a standard plan: 3,000 jobs are more keys than a store holds there
    // (1,024), and more deliveries than an app may send in an hour (500).
    let lifted = [Lift::KeyCap, Lift::OutboundCap];
    tokio::task::spawn_blocking(move || HostProcess::start_lifting(&store, clock_offset_secs, &VARIABLES, &lifted))
        .await
        .unwrap()
}

/// Waits (bounded) until `mark` submissions are accepted; a submitter that failed fails the test.
async fn wait_for_progress(storm: &Storm, mark: usize, submitters: &mut Vec<tokio::task::JoinHandle<()>>) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while storm.done.load(Ordering::SeqCst) < mark {
        if let Some(i) = submitters.iter().position(|s| s.is_finished()) {
            if let Err(e) = submitters.remove(i).await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        assert!(Instant::now() < deadline, "only {} of {mark} submissions accepted", storm.done.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until every submission sent to `incarnation` has its answer or its failure.
async fn wait_until_answered(storm: &Storm, incarnation: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while storm.open[incarnation].load(Ordering::SeqCst) > 0 {
        assert!(Instant::now() < deadline, "submissions to a killed host never failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two `hookah-host up` processes on one Redis take 3,000 submissions between them while one is
/// killed with SIGKILL six times and restarted; the other sweeps all along. Then both are
/// stopped gracefully and restarted with their clocks past every lease, and sweep until done.
///
/// Every job that got a 202 must reach the receiver. A job can reach it twice only if an attempt
/// of it was in flight when a kill came, so the bound on duplicate deliveries is, summed over the
/// kills: the killed incarnation's accepted jobs still in flight right after the kill (read from
/// the steady host), plus the submissions to it that the kill cut off or that were refused (their
/// jobs may have been stored without a 202). Each duplicated job must be one of those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_on_one_redis_deliver_every_accepted_job_across_repeated_hard_kills() {
    built().await;
    let store = Arc::new(TestStore::redis());
    let receiver = Receiver::start().await;
    let mut steady = start_process(&store, 0).await;
    let mut victim = start_process(&store, 0).await;
    let storm = Arc::new(Storm {
        path: format!("/{}/storm", receiver.host_port()),
        steady: steady.addr.clone(),
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        victim: Mutex::new(Some((0, victim.addr.clone()))),
        open: (0..=KILLS).map(|_| AtomicUsize::new(0)).collect(),
        failed: (0..=KILLS).map(|_| AtomicUsize::new(0)).collect(),
        accepted: Mutex::new(Vec::new()),
    });

    let stop_sweeping = Arc::new(AtomicBool::new(false));
    let sweeper = tokio::spawn(sweep_until(steady.url("/_hookah/v1/sweep"), stop_sweeping.clone()));
    let mut submitters: Vec<_> = (0..SUBMITTERS).map(|_| tokio::spawn(storm.clone().submit_all())).collect();

    let mut in_flight_at_kills: HashSet<String> = HashSet::new();
    let mut bound = 0;
    for incarnation in 0..KILLS {
        wait_for_progress(&storm, (incarnation + 1) * SUBMISSIONS / (KILLS + 1), &mut submitters).await;
        *storm.victim.lock().unwrap() = None;
        victim.kill();
        wait_until_answered(&storm, incarnation).await;
        let frozen = still_in_flight(&steady, &storm.accepted_by(Acceptor::Victim(incarnation))).await;
        bound += frozen.len() + storm.failed[incarnation].load(Ordering::SeqCst);
        in_flight_at_kills.extend(frozen);
        victim = start_process(&store, 0).await;
        *storm.victim.lock().unwrap() = Some((incarnation + 1, victim.addr.clone()));
    }
    wait_for_progress(&storm, SUBMISSIONS, &mut submitters).await;
    for submitter in submitters {
        submitter.await.unwrap();
    }
    stop_sweeping.store(true, Ordering::SeqCst);
    let sweeps = sweeper.await.unwrap().unwrap_or_else(|e| panic!("a sweep of the steady host failed: {e}"));

    // Move both clocks past the leases the kills left behind: stop both (their guests finish their
    // work, so no live claim remains) and restart them ahead.
    assert!(steady.stop() && victim.stop(), "a host did not stop within its grace period");
    let steady = start_process(&store, PAST_THE_LEASES_SECS).await;
    let victim = start_process(&store, PAST_THE_LEASES_SECS).await;
    let accepted: HashSet<String> = storm.accepted.lock().unwrap().iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(accepted.len(), SUBMISSIONS);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let received: HashSet<String> = delivered_ids(&receiver).into_keys().collect();
        let missing = accepted.difference(&received).count();
        if missing == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{missing} accepted jobs never delivered");
        let (a, b) =
            tokio::join!(steady.call("POST", "/_hookah/v1/sweep", b""), victim.call("POST", "/_hookah/v1/sweep", b""));
        let body = |r: &crate::support::client::Response| String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!((a.status, b.status), (200, 200), "sweeps after the storm: {} / {}", body(&a), body(&b));
    }

    let per_id = delivered_ids(&receiver);
    let unknown: Vec<&String> = per_id.keys().filter(|id| !accepted.contains(*id)).collect();
    let duplicated: Vec<(&String, usize)> = per_id.iter().filter(|(_, n)| **n > 1).map(|(id, n)| (id, *n)).collect();
    let duplicates: usize = duplicated.iter().map(|(_, n)| n - 1).sum();
    let failed: usize = storm.failed.iter().map(|f| f.load(Ordering::SeqCst)).sum();
    eprintln!(
        "{SUBMISSIONS} accepted, {KILLS} kills, {sweeps} steady sweeps during the storm, {} in flight at the kills, \
         {failed} submissions cut off or refused, {} deliveries without a 202, {duplicates} duplicate deliveries \
         (bound {bound})",
        in_flight_at_kills.len(),
        unknown.len()
    );
    assert!(unknown.len() <= failed, "jobs delivered that nobody submitted: {unknown:?}");
    for (id, n) in &duplicated {
        assert!(*n <= 2, "{id} delivered {n} times");
        assert!(
            in_flight_at_kills.contains(*id) || unknown.contains(id),
            "{id} delivered {n} times though no kill caught it in flight"
        );
    }
    assert!(duplicates <= bound, "{duplicates} duplicate deliveries, more than the {bound} in flight at the kills");
}

/// Sweeps the host every 50 ms until told to stop (at most ten minutes); how many sweeps ran.
async fn sweep_until(url: String, stop: Arc<AtomicBool>) -> Result<usize, String> {
    let auth = format!("Bearer {TOKEN}");
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut sweeps = 0;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let response = try_send("POST", &url, &[("authorization", &auth)], b"").await?;
        if response.status != 200 {
            return Err(format!("{}: {}", response.status, String::from_utf8_lossy(&response.body)));
        }
        sweeps += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(sweeps)
}

/// The jobs among `ids` that the host reports in flight.
async fn still_in_flight(host: &HostProcess, ids: &[String]) -> Vec<String> {
    let mut frozen = Vec::new();
    for id in ids {
        let response = host.call("GET", &format!("/_hookah/v1/jobs/{id}"), b"").await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        if response.json()["in_flight"] == true {
            frozen.push(id.clone());
        }
    }
    frozen
}

/// How many times the receiver got each webhook id.
fn delivered_ids(receiver: &Receiver) -> HashMap<String, usize> {
    let mut per_id = HashMap::new();
    for request in receiver.requests() {
        *per_id.entry(request.header("webhook-id").expect("a webhook-id").to_string()).or_default() += 1;
    }
    per_id
}

/// Two hosts on one Redis, their clocks moved together, sweep the same failing jobs round after
/// round (two HTTP sweeps and a cron run each, all at once): every round makes exactly one more
/// attempt of each job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_sweeping_the_same_due_jobs_on_one_redis_never_repeat_an_attempt() {
    const JOBS: usize = 40;
    const ROUNDS: usize = 6;
    let store = Arc::new(TestStore::redis());
    // 5 s ± 20 % jitter: due within each round's 10 s step.
    let variables = [("retry_schedule", "5s,5s,5s,5s,5s,5s"), ("sweep_batch", "1000")];
    // 40 jobs that fail seven times keep each attempt's details until retention ends: more keys
    // than a standard plan's store holds (1,024), by design. Every other limit stays on.
    let first = Launch::new(&variables).on(store.clone()).lifting(&[Lift::KeyCap]).start().await;
    let second = Launch::new(&variables).on(store).lifting(&[Lift::KeyCap]).start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(500));
    let path = format!("/{}/hammered", receiver.host_port());
    let mut ids = Vec::new();
    for i in 0..JOBS {
        let host = if i % 2 == 0 { &first } else { &second };
        ids.push(host.submit("POST", &path, &[], b"{}").await);
    }
    receiver.wait_for(JOBS, Duration::from_secs(30)).await;
    for id in &ids {
        first.wait_job(id, Duration::from_secs(20), |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    }

    for round in 1..=ROUNDS {
        first.advance_idle(Duration::from_secs(10)).await;
        second.advance_idle(Duration::from_secs(10)).await;
        let (a, b, c, d, e, f) = tokio::join!(
            first.sweep(),
            second.sweep(),
            first.sweep(),
            second.sweep(),
            first.host.run_cron("hookah-sweeper"),
            second.host.run_cron("hookah-sweeper"),
        );
        e.unwrap();
        f.unwrap();
        let claimed: Vec<_> = [a, b, c, d].iter().map(|r| r["claimed"].as_u64().unwrap()).collect();
        let per_id = delivered_ids(&receiver);
        assert_eq!(per_id.len(), JOBS);
        let attempts = round + 1;
        assert!(
            per_id.values().all(|&n| n == attempts),
            "round {round}: want {attempts} attempts of each job (http sweeps claimed {claimed:?}): {per_id:?}"
        );
    }
    for id in &ids {
        let job = first.job(id).await;
        assert_eq!(job["attempt_count"], ROUNDS + 1, "{job:#}");
    }
}
