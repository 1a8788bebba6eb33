//! `sustained`: open-loop load for a while, with the host's cron sweeps only (every second, as
//! spin.toml says, overlapping while due work lasts). A share of the jobs go to a path that fails the first attempt, so they are
//! retried after spin.toml's 5 s (±20 %); how late each retry comes is the figure: its arrival at
//! the receiver minus the time Hookah scheduled it for (read from the job once the failure is
//! recorded), both on the same clock. Sweeps start every second and read whole 1 s timer buckets,
//! so a second or two of lateness is the design, before any load.

use crate::accept::wait_for;
use crate::client::{closed_loop, latency_ms, new_client, open_loop, percentile, HttpClient, Outcome, UrlFor};
use crate::hosts;
use crate::receiver::{Class, Receiver};
use crate::report::Report;
use crate::store::BenchStore;
use crate::Options;
use hookah_host::RunningHost;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Submissions of the short closed-loop run that measures the accept rate the loads refer to.
const CALIBRATION_JOBS: usize = 2_000;
/// Submissions open at once before the generator falls behind its schedule.
const MAX_IN_FLIGHT: usize = 1_024;
/// After the load: the longest wait for the last retries (5 s + 20 %, a sweep interval, slack).
const RETRY_WAIT: Duration = Duration::from_secs(60);

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    hosts::build(false).await?;
    let store = BenchStore::start(options.store)?;
    let host = hosts::start_hookah(&store, true, &[]).await?;
    let receiver = Receiver::start(host.clock().clone()).await?;
    let client = new_client(MAX_IN_FLIGHT);
    let base = format!("http://{}", host.addr());

    let (calibrated, rates) = match options.rate {
        Some(rate) => (None, vec![(None, rate)]),
        None => {
            let measured = calibrate(&client, &host, &receiver, &base, options.concurrency).await;
            (Some(measured), options.loads.iter().map(|&f| (Some(f), f * measured)).collect())
        }
    };
    for (run, (load, rate)) in rates.into_iter().enumerate() {
        let mut report = Report::new("sustained", store.kind.name());
        report.num("calibrated_accept_rate", calibrated, 0, "jobs/s");
        report.num("load", load, 2, "");
        let setup = Setup { client: &client, host: &host, receiver: &receiver, base: &base };
        one_run(&setup, run, rate, options, &mut report).await;
        report.print(options.json_out.as_deref())?;
    }
    host.shutdown().await
}

struct Setup<'a> {
    client: &'a HttpClient,
    host: &'a RunningHost,
    receiver: &'a Arc<Receiver>,
    base: &'a str,
}

/// The accept rate at the given concurrency on this host, first attempts included.
async fn calibrate(client: &HttpClient, host: &RunningHost, receiver: &Arc<Receiver>, base: &str, c: usize) -> f64 {
    let (base, target) = (base.to_string(), receiver.clone());
    let url: UrlFor = Arc::new(move |k| format!("{base}/{}", target.target("calibrate", &k.to_string())));
    let (outcomes, took) = closed_loop(client, host.clock(), CALIBRATION_JOBS, c, url).await;
    let accepted = outcomes.iter().filter(|o| o.status == 202).count();
    wait_for(|| receiver.delivered(Class::Other) >= accepted, Duration::from_secs(120)).await;
    accepted as f64 / took.as_secs_f64()
}

/// Whether the k-th job of a run fails its first attempt: spread evenly at `share`.
pub(crate) fn fails_first(k: usize, share: f64) -> bool {
    ((k + 1) as f64 * share).floor() > (k as f64 * share).floor()
}

async fn one_run(setup: &Setup<'_>, run: usize, rate: f64, options: &Options, report: &mut Report) {
    let Setup { client, host, receiver, base } = *setup;
    let scheduled = watch_scheduled_retries(client, receiver, base);
    let (share, prefix) = (options.fail_share, format!("r{run}-"));
    let (url_base, target, url_prefix) = (base.to_string(), receiver.clone(), prefix.clone());
    let url: UrlFor = Arc::new(move |k| {
        let class = if fails_first(k, share) { "fail-once" } else { "ok" };
        format!("{url_base}/{}", target.target(class, &format!("{url_prefix}{k}")))
    });
    let duration = Duration::from_secs(options.duration_secs);
    let (outcomes, sending) =
        open_loop(client, host.clock(), (rate, duration), MAX_IN_FLIGHT, url, &AtomicBool::new(false)).await;
    let accepted: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == 202).collect();
    let retried = accepted.iter().filter(|o| fails_first(o.k, share)).count();
    let ok_jobs = accepted.len() - retried;
    let arrivals_done = || {
        let ok = receiver.delivered_paths(&format!("/ok/{prefix}"));
        (ok, receiver.delivered_paths(&format!("/fail-once/{prefix}")))
    };
    let deadline = tokio::time::Instant::now() + RETRY_WAIT;
    while arrivals_done() != (ok_jobs, retried) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Lookups still in flight finish within a few seconds.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let scheduled = scheduled.lock().unwrap().clone();

    let arrivals = receiver.arrivals();
    let (mut lateness, mut first_attempt_delay) = (Vec::new(), Vec::new());
    for outcome in &accepted {
        let class = if fails_first(outcome.k, share) { "fail-once" } else { "ok" };
        let Some(seen) = arrivals.get(&format!("/{class}/{prefix}{}", outcome.k)) else { continue };
        if let Some(first) = seen.first() {
            first_attempt_delay.push(first.at_ms.saturating_sub(outcome.sent_ms) as f64);
        }
        if let (Some(first), Some(second)) = (seen.first(), seen.get(1)) {
            if let Some(&at) = scheduled.get(&first.id) {
                lateness.push(second.at_ms as f64 - at as f64);
            }
        }
    }
    let (ok_delivered, retries_delivered) = arrivals_done();
    report.num("offered_rate", Some(rate), 0, "jobs/s");
    report.num("duration", Some(options.duration_secs as f64), 0, "s");
    report.num("sent_rate", Some(outcomes.len() as f64 / sending.as_secs_f64()), 0, "jobs/s");
    report.count("accepted", accepted.len());
    report.count("refused_or_failed", outcomes.len() - accepted.len());
    report.num("accept_p50", latency_ms(&outcomes, 0.50), 1, "ms");
    report.num("accept_p99", latency_ms(&outcomes, 0.99), 1, "ms");
    report.num("first_attempt_delay_p50", percentile(&first_attempt_delay, 0.50), 0, "ms");
    report.num("first_attempt_delay_p99", percentile(&first_attempt_delay, 0.99), 0, "ms");
    report.count("delivered_first_time", ok_delivered);
    report.count("retried_jobs", retried);
    report.count("retries_delivered", retries_delivered);
    report.count("retries_timed", lateness.len());
    report.num("retry_lateness_p50", percentile(&lateness, 0.50), 0, "ms");
    report.num("retry_lateness_p99", percentile(&lateness, 0.99), 0, "ms");
    report.num("retry_lateness_max", percentile(&lateness, 1.0), 0, "ms");
}

/// For every failed first attempt from now on, the time its retry is scheduled for (by job id),
/// read from the job a moment after the failure (the record is written after the answer).
pub(crate) fn watch_scheduled_retries(
    client: &HttpClient,
    receiver: &Receiver,
    base: &str,
) -> Arc<Mutex<HashMap<String, u64>>> {
    let scheduled = Arc::new(Mutex::new(HashMap::new()));
    let mut failures = receiver.watch_first_failures();
    let (client, base, found) = (client.clone(), base.to_string(), scheduled.clone());
    tokio::spawn(async move {
        while let Some((id, _)) = failures.recv().await {
            let (client, base, found) = (client.clone(), base.clone(), found.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Some(at) = hosts::scheduled_retry_ms(&client, &base, &id).await {
                    found.lock().unwrap().insert(id, at);
                }
            });
        }
    });
    scheduled
}
