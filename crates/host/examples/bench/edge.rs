//! `edge`: retries on time with no cron trigger, as on Fermyon Cloud or Akamai Functions. The host
//! runs without cron; an outside scheduler calls `/_hookah/v1/sweep/{sweep_token}` once every
//! `--tick` seconds (60, as `spin aka cron` at its finest); everything else is sweeps in passing.
//!
//! - **With traffic:** `--rate` jobs/s (default 20) for `--duration` s, `--fail-share` (0.1) of
//!   them failing their first attempt and retried after spin.toml's 5 s (±20 %). Lateness is
//!   counted for the retries due while traffic still flowed; those due after it stopped are
//!   reported apart (they wait for the tick, as in the quiet run).
//! - **Quiet:** bursts of `--burst` jobs that all fail once, one burst per tick interval plus 7 s
//!   (so the bursts meet the tick at different phases), and no other request: each retry waits
//!   for the tick.
//!
//! A retry's lateness is its arrival at the receiver minus the time Hookah scheduled it for (read
//! from the job half a second after the failure; that lookup is a request too, but its sweep
//! finds nothing of this job due).

use crate::accept::wait_for;
use crate::client::{new_client, open_loop, percentile, HttpClient, Outcome, UrlFor};
use crate::hosts;
use crate::receiver::Receiver;
use crate::report::Report;
use crate::store::BenchStore;
use crate::sustained::{fails_first, watch_scheduled_retries};
use crate::Options;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

const SWEEP_TOKEN: &str = "bench-sweep-token-0123456789";
/// Submissions open at once before the generator falls behind its schedule.
const MAX_IN_FLIGHT: usize = 256;
/// The bursts of the quiet run.
const BURSTS: usize = 6;
/// Added to the tick interval between bursts, so each meets the tick at another phase.
const BURST_SHIFT: Duration = Duration::from_secs(7);

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    hosts::build(false).await?;
    let store = BenchStore::start(options.store)?;
    let host = hosts::start_hookah(&store, false, &[("sweep_token", SWEEP_TOKEN)]).await?;
    let receiver = Receiver::start(host.clock().clone()).await?;
    let client = new_client(MAX_IN_FLIGHT);
    let base = format!("http://{}", host.addr());
    let tick = Duration::from_secs(options.tick_secs);
    let ticker = tokio::spawn(ticks(client.clone(), format!("{base}/_hookah/v1/sweep/{SWEEP_TOKEN}"), tick));
    let setup = Setup { client: &client, receiver: &receiver, base: &base, tick, clock: host.clock() };

    let mut report = Report::new("edge-traffic", store.kind.name());
    with_traffic(&setup, options, &mut report).await;
    report.print(options.json_out.as_deref())?;

    let mut report = Report::new("edge-quiet", store.kind.name());
    quiet(&setup, options, &mut report).await;
    report.print(options.json_out.as_deref())?;

    ticker.abort();
    host.shutdown().await
}

struct Setup<'a> {
    client: &'a HttpClient,
    receiver: &'a Arc<Receiver>,
    base: &'a str,
    tick: Duration,
    clock: &'a hookah_host::HostClock,
}

/// The outside scheduler: a bare GET of the sweep route every `tick`, no headers.
async fn ticks(client: HttpClient, url: String, tick: Duration) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    loop {
        interval.tick().await;
        let request = hyper::Request::get(&url).body(http_body_util::Full::new(bytes::Bytes::new()));
        if let Ok(request) = request {
            let _ = client.request(request).await;
        }
    }
}

async fn with_traffic(setup: &Setup<'_>, options: &Options, report: &mut Report) {
    let Setup { client, receiver, base, tick, clock } = *setup;
    let scheduled = watch_scheduled_retries(client, receiver, base);
    let (rate, share) = (options.rate.unwrap_or(20.0), options.fail_share);
    let (url_base, target) = (base.to_string(), receiver.clone());
    let url: UrlFor = Arc::new(move |k| {
        let class = if fails_first(k, share) { "fail-once" } else { "ok" };
        format!("{url_base}/{}", target.target(class, &format!("t{k}")))
    });
    let duration = Duration::from_secs(options.duration_secs);
    let (outcomes, _) = open_loop(client, clock, (rate, duration), MAX_IN_FLIGHT, url, &AtomicBool::new(false)).await;
    let traffic_end = clock.now_unix_ms();
    let accepted: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == 202).collect();
    let retried = accepted.iter().filter(|o| fails_first(o.k, share)).count();
    wait_for(|| receiver.delivered_paths("/fail-once/t") >= retried, tick + Duration::from_secs(30)).await;
    let scheduled = scheduled.lock().unwrap().clone();
    let (during, after) = lateness(receiver, &scheduled, "/fail-once/t", traffic_end);

    report.num("offered_rate", Some(rate), 0, "jobs/s");
    report.num("duration", Some(duration.as_secs_f64()), 0, "s");
    report.num("tick", Some(tick.as_secs_f64()), 0, "s");
    report.count("accepted", accepted.len());
    report.count("refused_or_failed", outcomes.len() - accepted.len());
    report.count("retried_jobs", retried);
    report.count("retries_delivered", receiver.delivered_paths("/fail-once/t"));
    report.count("retries_timed_during_traffic", during.len());
    report.num("retry_lateness_p50", percentile(&during, 0.50), 0, "ms");
    report.num("retry_lateness_p99", percentile(&during, 0.99), 0, "ms");
    report.num("retry_lateness_max", percentile(&during, 1.0), 0, "ms");
    report.count("retries_due_after_traffic", after.len());
    report.num("after_traffic_lateness_max", percentile(&after, 1.0), 0, "ms");
}

async fn quiet(setup: &Setup<'_>, options: &Options, report: &mut Report) {
    let Setup { client, receiver, base, tick, clock } = *setup;
    let scheduled = watch_scheduled_retries(client, receiver, base);
    let mut submitted = 0;
    for burst in 0..BURSTS {
        if burst > 0 {
            tokio::time::sleep(tick + BURST_SHIFT).await;
        }
        let (url_base, target) = (base.to_string(), receiver.clone());
        let url: UrlFor =
            Arc::new(move |k| format!("{url_base}/{}", target.target("fail-once", &format!("q{burst}-{k}"))));
        let (outcomes, _) = crate::client::closed_loop(client, clock, options.burst, options.burst, url).await;
        submitted += outcomes.iter().filter(|o| o.status == 202).count();
    }
    wait_for(|| receiver.delivered_paths("/fail-once/q") >= submitted, tick + Duration::from_secs(30)).await;
    let scheduled = scheduled.lock().unwrap().clone();
    let (late, _) = lateness(receiver, &scheduled, "/fail-once/q", u64::MAX);
    report.num("tick", Some(tick.as_secs_f64()), 0, "s");
    report.count("bursts", BURSTS);
    report.count("retried_jobs", submitted);
    report.count("retries_delivered", receiver.delivered_paths("/fail-once/q"));
    report.count("retries_timed", late.len());
    report.num("retry_lateness_p50", percentile(&late, 0.50), 0, "ms");
    report.num("retry_lateness_p99", percentile(&late, 0.99), 0, "ms");
    report.num("retry_lateness_max", percentile(&late, 1.0), 0, "ms");
}

/// Lateness (ms) of each retry at paths under `prefix`, split by whether it was scheduled
/// before `cut` (Unix ms) or not.
fn lateness(receiver: &Receiver, scheduled: &HashMap<String, u64>, prefix: &str, cut: u64) -> (Vec<f64>, Vec<f64>) {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for (_, seen) in receiver.arrivals().into_iter().filter(|(path, _)| path.starts_with(prefix)) {
        let (Some(first), Some(second)) = (seen.first(), seen.get(1)) else { continue };
        let Some(&at) = scheduled.get(&first.id) else { continue };
        let late = second.at_ms as f64 - at as f64;
        if at < cut {
            before.push(late);
        } else {
            after.push(late);
        }
    }
    (before, after)
}
