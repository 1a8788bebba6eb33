//! `accept`: N submissions at concurrency C, against the floor measured the same way in the same
//! run: first the floor component on the store, then Hookah on the same store, same client.

use crate::client::{call, closed_loop, latency_ms, new_client, HttpClient, Outcome, UrlFor};
use crate::hosts;
use crate::receiver::{Class, Receiver};
use crate::report::Report;
use crate::store::BenchStore;
use crate::Options;
use hookah_host::HostClock;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests sent before measuring, so connections and instances are warm.
const WARM_UP: usize = 64;
/// The longest the bench waits for deliveries after the last 202.
const DELIVERY_WAIT: Duration = Duration::from_secs(300);

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    let (n, c) = (options.jobs, options.concurrency);
    hosts::build(true).await?;
    let store = BenchStore::start(options.store)?;
    let client = new_client(c);
    let mut report = Report::new("accept", store.kind.name());
    report.count("jobs", n);
    report.count("concurrency", c);

    let floor = hosts::start_floor(&store).await?;
    let base = format!("http://{}", floor.addr());
    let clock = HostClock::new();
    let warm_base = base.clone();
    closed_loop(&client, &clock, WARM_UP, c, Arc::new(move |k| format!("{warm_base}/warm/{k}"))).await;
    let floor_url: UrlFor = Arc::new(move |k| format!("{base}/f/{k}"));
    let (floor_outcomes, floor_took) = closed_loop(&client, &clock, n, c, floor_url).await;
    let config_loads = time_config_loads(&client, &format!("http://{}", floor.addr())).await;
    floor.shutdown().await?;
    let floor_stored = floor_outcomes.iter().filter(|o| o.status == 204).count();

    let host = hosts::start_hookah(&store, false, &[]).await?;
    let receiver = Receiver::start(host.clock().clone()).await?;
    let base = format!("http://{}", host.addr());
    let (warm_base, warm_receiver) = (base.clone(), receiver.clone());
    let warm_url: UrlFor = Arc::new(move |k| format!("{warm_base}/{}", warm_receiver.target("warm", &k.to_string())));
    closed_loop(&client, host.clock(), WARM_UP, c, warm_url).await;
    wait_for(|| receiver.delivered(Class::Other) >= WARM_UP, Duration::from_secs(30)).await;

    let started = Instant::now();
    let ops_before = host.kv_ops();
    let (job_base, job_receiver) = (base.clone(), receiver.clone());
    let job_url: UrlFor = Arc::new(move |k| format!("{job_base}/{}", job_receiver.target("ok", &k.to_string())));
    let (outcomes, took) = closed_loop(&client, host.clock(), n, c, job_url).await;
    let accepted = outcomes.iter().filter(|o| o.status == 202).count();
    wait_for(|| receiver.delivered(Class::Ok) >= accepted, DELIVERY_WAIT).await;
    let all_secs = started.elapsed().as_secs_f64();
    let delivered = receiver.delivered(Class::Ok);
    // Every key-value call of the run, sweeps in passing included (a `get` of the sweep gate per
    // request, one sweep a second).
    let job_ops = host.kv_ops().since(&ops_before);

    let accept_rate = accepted as f64 / took.as_secs_f64();
    let floor_rate = floor_stored as f64 / floor_took.as_secs_f64();
    report.count("accepted", accepted);
    report.num("accept_rate", Some(accept_rate), 0, "jobs/s");
    report.num("accept_p50", latency_ms(&outcomes, 0.50), 1, "ms");
    report.num("accept_p99", latency_ms(&outcomes, 0.99), 1, "ms");
    report.count("delivered", delivered);
    report.num("accepted_and_delivered_rate", Some(delivered as f64 / all_secs), 0, "jobs/s");
    report.count("floor_stored", floor_stored);
    report.num("floor_rate", Some(floor_rate), 0, "req/s");
    report.num("floor_p50", floor_latency_ms(&floor_outcomes, 0.50), 1, "ms");
    report.num("floor_p99", floor_latency_ms(&floor_outcomes, 0.99), 1, "ms");
    report.num("accept_rate_vs_floor", Some(accept_rate / floor_rate), 2, "");
    let (first_us, again_us) = config_loads;
    report.num("config_load_first_us", first_us, 1, "µs");
    report.num("config_load_again_us", again_us, 1, "µs");
    // Against the machine's CPU time per accepted job (every core busy: an upper bound).
    let cpu_us_per_job = crate::report::cpus().max(1) as f64 * 1e6 / accept_rate;
    report.num("config_load_share_of_job_cpu", first_us.map(|us| us / cpu_us_per_job), 3, "");
    crate::capacity::ops_by_kind(&mut report, "accept", &job_ops, accepted.max(1) as f64);
    listing_and_replay(&client, &host, &base, &mut report).await;
    report.print(options.json_out.as_deref())?;
    host.shutdown().await
}

/// Today's extras: file the finished jobs (past their lease), then time a listing page and a
/// bulk-replay batch.
async fn listing_and_replay(client: &HttpClient, host: &hookah_host::RunningHost, base: &str, report: &mut Report) {
    host.clock().advance(Duration::from_secs(61));
    let t = Instant::now();
    for _ in 0..100 {
        let sweep = call(client, "POST", &format!("{base}/_hookah/v1/sweep"), Vec::new()).await;
        if sweep["slots"] == 0 {
            break;
        }
    }
    report.num("filing_secs", Some(t.elapsed().as_secs_f64()), 2, "s");
    let t = Instant::now();
    call(client, "GET", &format!("{base}/_hookah/v1/jobs?state=delivered&limit=50"), Vec::new()).await;
    report.num("listing_page_50", Some(t.elapsed().as_secs_f64() * 1e3), 1, "ms");
    let t = Instant::now();
    let filter = br#"{"state":"delivered","limit":500}"#.to_vec();
    let replay = call(client, "POST", &format!("{base}/_hookah/v1/jobs/retry"), filter).await;
    report.num("bulk_replay_500", Some(t.elapsed().as_secs_f64() * 1e3), 1, "ms");
    report.count("bulk_replay_requeued", replay["requeued"].as_u64().unwrap_or(0) as usize);
}

/// Requests to the floor's `/config` route, one at a time.
const CONFIG_SAMPLES: usize = 200;

/// Median microseconds of the first variable load in an instance (what each Hookah invocation
/// pays) and of a load repeated in a warm instance, as the floor component times them.
async fn time_config_loads(client: &HttpClient, base: &str) -> (Option<f64>, Option<f64>) {
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for k in 0..CONFIG_SAMPLES {
        let url = format!("{base}/config/{k}");
        let Ok((head, _)) = crate::client::exchange(client, "GET", &url, Vec::new()).await else { continue };
        let micros = |name: &str| head.headers.get(name)?.to_str().ok()?.parse::<f64>().ok().map(|ns| ns / 1e3);
        first.extend(micros("x-config-load-first-ns"));
        again.extend(micros("x-config-load-ns"));
    }
    (crate::client::percentile(&first, 0.5), crate::client::percentile(&again, 0.5))
}

fn floor_latency_ms(outcomes: &[Outcome], p: f64) -> Option<f64> {
    let ms: Vec<f64> = outcomes.iter().filter(|o| o.status == 204).map(|o| o.latency.as_secs_f64() * 1e3).collect();
    crate::client::percentile(&ms, p)
}

/// Polls `done` every 5 ms until it holds or `limit` has passed.
pub(crate) async fn wait_for(done: impl Fn() -> bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}
