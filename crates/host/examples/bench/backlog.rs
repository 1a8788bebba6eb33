//! `backlog`: a receiver is down while N jobs fail their first attempt and their 5 s retry, then
//! it comes back and the host's clock jumps past their next retry (5 min ±20 %), so all N are due
//! at once: a receiver back after an outage. Cron sweeps drain them. Before that, a paused flow
//! key piles up jobs and an ordered key works through a stream (`flows.rs`). Meanwhile background
//! traffic to other receivers (a share failing once) goes on; its first-attempt delays and retry
//! lateness are compared between a quiet baseline, beside the flows, and the drain.

use crate::accept::wait_for;
use crate::client::{closed_loop, new_client, open_loop, percentile, Outcome, UrlFor};
use crate::flows::Flows;
use crate::hosts;
use crate::receiver::{Arrival, Class, Receiver};
use crate::report::Report;
use crate::store::BenchStore;
use crate::sustained::{fails_first, watch_scheduled_retries};
use crate::Options;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Background submissions per second to the other receivers.
const BACKGROUND_RATE: f64 = 50.0;
/// The quiet stretch measured before the outage.
const BASELINE: Duration = Duration::from_secs(20);
/// Past the backlog's second retry (at most 6 min after its 5 s retry failed), with room for the
/// seconds the submissions took.
const CLOCK_JUMP: Duration = Duration::from_secs(390);
/// Upper bounds of each wait.
const FAILURES_WAIT: Duration = Duration::from_secs(120);
const DRAIN_WAIT: Duration = Duration::from_secs(300);

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    let (n, c) = (options.jobs, options.concurrency);
    hosts::build(false).await?;
    let store = BenchStore::start(options.store)?;
    let host = Arc::new(hosts::start_hookah(&store, true, &[]).await?);
    let receiver = Receiver::start(host.clock().clone()).await?;
    let client = new_client(256);
    let base = format!("http://{}", host.addr());
    let scheduled = watch_scheduled_retries(&client, &receiver, &base);
    let mut report = Report::new("backlog", store.kind.name());
    report.count("jobs", n);
    report.num("background_rate", Some(BACKGROUND_RATE), 0, "jobs/s");

    let stop = Arc::new(AtomicBool::new(false));
    let share = options.fail_share;
    let (bg_base, bg_target) = (base.clone(), receiver.clone());
    let bg_url: UrlFor = Arc::new(move |k| {
        let class = if fails_first(k, share) { "fail-once" } else { "ok" };
        format!("{bg_base}/{}", bg_target.target(class, &format!("bg-{k}")))
    });
    let (bg_client, bg_host, bg_stop) = (client.clone(), host.clone(), stop.clone());
    let background = tokio::spawn(async move {
        let limit = (BACKGROUND_RATE, Duration::from_secs(900));
        open_loop(&bg_client, bg_host.clock(), limit, 256, bg_url, &bg_stop).await.0
    });

    let baseline_from = host.clock().now_unix_ms();
    tokio::time::sleep(BASELINE).await;
    let baseline_to = host.clock().now_unix_ms();

    // A paused key piling up and an ordered key streaming, beside the same traffic.
    let flows_from = host.clock().now_unix_ms();
    let flows = Flows::start(&client, &base, &receiver).await?;
    flows.report_ordered(&mut report).await;
    tokio::time::sleep(BASELINE.saturating_sub(Duration::from_millis(host.clock().now_unix_ms() - flows_from))).await;
    let flows_to = host.clock().now_unix_ms();

    receiver.set_down(true);
    let (down_base, down_target) = (base.clone(), receiver.clone());
    let down_url: UrlFor = Arc::new(move |k| format!("{down_base}/{}", down_target.target("down", &k.to_string())));
    let (outcomes, took) = closed_loop(&client, host.clock(), n, c, down_url).await;
    let piled = outcomes.iter().filter(|o| o.status == 202).count();
    let failed_twice = wait_for(|| receiver.paths_arrived("/down/", 2) >= piled, FAILURES_WAIT).await;
    receiver.set_down(false);
    host.clock().advance(CLOCK_JUMP);
    let drain_from = host.clock().now_unix_ms();
    wait_for(|| receiver.delivered(Class::Down) >= piled, DRAIN_WAIT).await;
    let arrivals = receiver.arrivals();
    let drain_started = delivery_ms(&arrivals, "/down/", Iterator::min);
    let drained = delivery_ms(&arrivals, "/down/", Iterator::max);
    let drain_to = drained.unwrap_or_else(|| host.clock().now_unix_ms());

    // A little traffic after the drain, then the background's last retries.
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::SeqCst);
    let background = background.await?;
    let bg_retries = background.iter().filter(|o| o.status == 202 && fails_first(o.k, share)).count();
    wait_for(|| receiver.delivered_paths("/fail-once/bg-") >= bg_retries, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let arrivals = receiver.arrivals();
    let scheduled = scheduled.lock().unwrap().clone();

    report.num("submit_rate", Some(piled as f64 / took.as_secs_f64()), 0, "jobs/s");
    report.text("failed_first_and_5s_retry", if failed_twice { "all" } else { "not all (timed out)" });
    report.count("backlog_due_at_once", piled);
    report.count("backlog_delivered", receiver.delivered(Class::Down));
    let drain_secs = drain_to.saturating_sub(drain_from) as f64 / 1e3;
    report.num("drain_secs", drained.map(|_| drain_secs), 1, "s");
    report.num("drain_rate", drained.map(|_| piled as f64 / drain_secs), 0, "jobs/s");
    // From the first backlog delivery, so the wait for the next cron firing is left out.
    let first_to_last = drain_started.zip(drained).map(|(a, b)| b.saturating_sub(a) as f64 / 1e3);
    report.num("first_retry_after_jump", drain_started.map(|at| at.saturating_sub(drain_from) as f64 / 1e3), 1, "s");
    report.num("drain_rate_once_started", first_to_last.map(|secs| piled as f64 / secs), 0, "jobs/s");
    flows.resume(&client, &mut report).await;
    let windows = [
        ("baseline", baseline_from, baseline_to),
        ("beside_paused_and_ordered_keys", flows_from, flows_to),
        ("during_drain", drain_from, drain_to),
    ];
    for (name, from, to) in windows {
        let delays = first_attempt_delays(&background, &arrivals, share, from, to);
        report.count(&format!("others_first_attempts_{name}"), delays.len());
        report.num(&format!("others_first_attempt_delay_p50_{name}"), percentile(&delays, 0.5), 0, "ms");
        report.num(&format!("others_first_attempt_delay_p99_{name}"), percentile(&delays, 0.99), 0, "ms");
        let late = retry_lateness(&arrivals, &scheduled, from, to);
        report.count(&format!("others_retries_{name}"), late.len());
        report.num(&format!("others_retry_lateness_p50_{name}"), percentile(&late, 0.5), 0, "ms");
        report.num(&format!("others_retry_lateness_p99_{name}"), percentile(&late, 0.99), 0, "ms");
    }
    report.print(options.json_out.as_deref())?;
    drop(receiver);
    match Arc::try_unwrap(host) {
        Ok(host) => host.shutdown().await,
        Err(_) => Ok(()),
    }
}

/// The first or last (`pick`) 2xx arrival at paths starting with `prefix`.
fn delivery_ms(
    arrivals: &HashMap<String, Vec<Arrival>>,
    prefix: &str,
    pick: fn(std::vec::IntoIter<u64>) -> Option<u64>,
) -> Option<u64> {
    let delivered = arrivals.iter().filter(|(path, _)| path.starts_with(prefix));
    let times: Vec<u64> =
        delivered.flat_map(|(_, seen)| seen.iter().filter(|a| a.status < 300).map(|a| a.at_ms)).collect();
    pick(times.into_iter())
}

/// Submission to first arrival, for background jobs sent within [from, to).
fn first_attempt_delays(
    background: &[Outcome],
    arrivals: &HashMap<String, Vec<Arrival>>,
    share: f64,
    from: u64,
    to: u64,
) -> Vec<f64> {
    let sent = background.iter().filter(|o| o.status == 202 && (from..to).contains(&o.sent_ms));
    sent.filter_map(|o| {
        let class = if fails_first(o.k, share) { "fail-once" } else { "ok" };
        let first = arrivals.get(&format!("/{class}/bg-{}", o.k))?.first()?;
        Some(first.at_ms.saturating_sub(o.sent_ms) as f64)
    })
    .collect()
}

/// Arrival minus scheduled time of background retries scheduled within [from, to): retries due
/// before the clock jump are left out, since the jump, not the sweeps, made them late.
fn retry_lateness(
    arrivals: &HashMap<String, Vec<Arrival>>,
    scheduled: &HashMap<String, u64>,
    from: u64,
    to: u64,
) -> Vec<f64> {
    let retried = arrivals.iter().filter(|(path, _)| path.starts_with("/fail-once/bg-"));
    retried
        .filter_map(|(_, seen)| {
            let (first, second) = (seen.first()?, seen.get(1)?);
            let at = *scheduled.get(&first.id)?;
            (from..to).contains(&at).then_some(second.at_ms as f64 - at as f64)
        })
        .collect()
}
