//! `capacity`: how many timer slots per second sweeps work through, back to back, on the work a
//! sweep sees under sustained load: finished jobs to file at their lease's end, jobs whose
//! retention ended to delete, and due retries to a fast receiver. Sweeps are driven through the
//! HTTP sweep route (`POST /_hookah/v1/sweep`, the engine the cron component runs), `--sweepers`
//! at a time, each starting as the last ended, until none finds a slot. A sweeper whose sweep
//! found all due work held by others waits `BUSY_PAUSE` before its next (cron would wait a
//! second): back to back, such sweeps only take the CPU the working ones need. The figure is compared
//! with the accept rate measured on the same store in the same run: sweeps must keep up with
//! what the accepting instances write (the issue asks for 5×), since every delivered job leaves
//! a slot to file and, a retention later, one to delete.

use crate::accept::wait_for;
use crate::client::{call, closed_loop, new_client, HttpClient, Outcome, UrlFor};
use crate::hosts;
use crate::receiver::{Class, Receiver};
use crate::report::Report;
use crate::store::BenchStore;
use crate::sustained::fails_first;
use crate::Options;
use hookah_host::{KvOps, RunningHost};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Retention for the run, so deletions come due within the run.
const RETENTION_SECS: u64 = 120;
/// Hookah deletes a finished job this long after its retention ends.
const DELETION_GRACE_SECS: u64 = 30;
/// Past the lease of a 15 s timeout (2 × 15 s + 30 s).
const LEASE_SECS: u64 = 61;
/// Share of the second population whose first attempt fails (as in `sustained`).
const RETRY_SHARE: f64 = 0.1;
/// How long a sweeper waits after a sweep that found every due bucket held by another.
const BUSY_PAUSE: Duration = Duration::from_millis(50);
/// The target: sweeps work at least this many times the accept rate.
const TARGET_FACTOR: f64 = 5.0;

/// Sums of the sweep reports of a drain.
#[derive(Default)]
struct Swept {
    sweeps: u64,
    slots: u64,
    claimed: u64,
    delivered: u64,
    deleted: u64,
    skipped: u64,
    rescheduled: u64,
    held_back: u64,
    busy: u64,
    failed_calls: u64,
}

impl Swept {
    fn add(&mut self, report: &Value) {
        let n = |key: &str| report[key].as_u64().unwrap_or(0);
        self.sweeps += 1;
        self.slots += n("slots");
        self.claimed += n("claimed");
        self.delivered += n("delivered");
        self.deleted += n("deleted");
        self.skipped += n("skipped");
        self.rescheduled += n("rescheduled");
        self.held_back += n("held_back");
        self.busy += u64::from(report["busy"].as_bool().unwrap_or(false));
        self.failed_calls += u64::from(report["slots"].is_null());
    }

    /// Slots that were neither claimed, deleted, skipped nor rescheduled: filed.
    fn filed(&self) -> u64 {
        self.slots.saturating_sub(self.claimed + self.deleted + self.skipped + self.rescheduled + self.held_back)
    }
}

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    let (half, c) = ((options.jobs / 2).max(1), options.concurrency);
    hosts::build(false).await?;
    let store = BenchStore::start(options.store)?;
    let retention = format!("{RETENTION_SECS}s");
    // One receiver host stands for the many a real drain spreads over: no per-target limit
    // (the backlog mode measures that).
    let variables = [("retention", retention.as_str()), ("target_concurrency", "0")];
    let host = hosts::start_hookah(&store, false, &variables).await?;
    let shapes_start = host.kv_shapes();
    let receiver = Receiver::start(host.clock().clone()).await?;
    let client = new_client(c.max(options.sweepers));
    let base = format!("http://{}", host.addr());
    let mut report = Report::new("capacity", store.kind.name());
    report.count("jobs", 2 * half);
    report.count("concurrency", c);
    report.count("sweepers", options.sweepers);

    // First population: delivered now, filed a lease later, deleted a retention later.
    let ops_before = host.kv_ops();
    let (first, _) = submit(&client, &host, &receiver, &base, "old", half, c, 0.0).await;
    let first_done = host.clock().now_unix_ms();
    let accept_ops = host.kv_ops().since(&ops_before);
    host.clock().advance(Duration::from_secs(LEASE_SECS));
    let (filing, filing_secs, _) = drain(&client, &host, &base, options.sweepers).await;

    // Second population, which also gives the accept rate: delivered now, a share failing once.
    let (second, accept_rate) = submit(&client, &host, &receiver, &base, "new", half, c, RETRY_SHARE).await;
    let retries = second.iter().filter(|o| o.status == 202 && fails_first(o.k, RETRY_SHARE)).count();

    // Now everything comes due at once: the second population's lease ends and retries, the
    // first population's retention.
    let now = host.clock().now_unix_ms();
    let retention_end = first_done + (RETENTION_SECS + DELETION_GRACE_SECS + 2) * 1000;
    let jump = (LEASE_SECS * 1000).max(retention_end.saturating_sub(now));
    host.clock().advance(Duration::from_millis(jump));
    let shapes_before = host.kv_shapes();
    let (swept, drain_secs, ops) = drain(&client, &host, &base, options.sweepers).await;
    print_shapes("the mixed drain", &shapes_before, &host.kv_shapes(), swept.slots);
    print_shapes("the whole run", &shapes_start, &host.kv_shapes(), swept.slots);
    let retried = receiver.delivered_paths("/fail-once/");

    let slot_rate = swept.slots as f64 / drain_secs;
    report.num("accept_rate", Some(accept_rate), 0, "jobs/s");
    report.count("accepted", first.len() + second.len());
    report.num("filing_only_slots", Some(filing.slots as f64), 0, "");
    report.num("filing_only_rate", Some(filing.slots as f64 / filing_secs), 0, "slots/s");
    report.count("sweeps", swept.sweeps as usize);
    report.count("slots", swept.slots as usize);
    report.count("filed", swept.filed() as usize);
    report.count("deleted", swept.deleted as usize);
    report.count("claimed", swept.claimed as usize);
    report.count("retries_due", retries);
    report.count("retries_delivered", retried);
    report.count("skipped", swept.skipped as usize);
    report.count("rescheduled", swept.rescheduled as usize);
    report.count("held_back", swept.held_back as usize);
    report.count("busy_sweeps", swept.busy as usize);
    report.count("failed_sweep_calls", swept.failed_calls as usize);
    report.num("drain_secs", Some(drain_secs), 2, "s");
    report.num("slot_rate", Some(slot_rate), 0, "slots/s");
    report.num("slot_rate_vs_accept", Some(slot_rate / accept_rate), 2, "");
    report.text("target", &format!("{TARGET_FACTOR}x the accept rate"));
    let jobs = first.iter().filter(|o| o.status == 202).count().max(1) as f64;
    report.num("kv_calls_per_delivered_job", Some(accept_ops.calls() as f64 / jobs), 2, "");
    report.num("kv_writes_per_delivered_job", Some(accept_ops.writes() as f64 / jobs), 2, "");
    let slots = swept.slots.max(1) as f64;
    report.num("kv_calls_per_slot", Some(ops.calls() as f64 / slots), 2, "");
    report.num("kv_writes_per_slot", Some(ops.writes() as f64 / slots), 2, "");
    report.num("kv_time_share_of_drain", Some(ops.time().as_secs_f64() / drain_secs / options.sweepers as f64), 2, "");
    ops_by_kind(&mut report, "sweep", &ops, slots);
    ops_by_kind(&mut report, "accept", &accept_ops, jobs);
    report.print(options.json_out.as_deref())?;
    host.shutdown().await
}

/// `n` submissions (`share` of them failing their first attempt), and the wait until every
/// first attempt has arrived and been recorded; answers the outcomes and the accept rate.
#[allow(clippy::too_many_arguments)]
async fn submit(
    client: &HttpClient,
    host: &RunningHost,
    receiver: &Arc<Receiver>,
    base: &str,
    prefix: &str,
    n: usize,
    c: usize,
    share: f64,
) -> (Vec<Outcome>, f64) {
    let (url_base, target, prefix) = (base.to_string(), receiver.clone(), prefix.to_string());
    let url: UrlFor = Arc::new(move |k| {
        let class = if fails_first(k, share) { "fail-once" } else { "ok" };
        format!("{url_base}/{}", target.target(class, &format!("{prefix}{k}")))
    });
    let arrived_before = receiver.delivered(Class::Ok) + receiver.paths_arrived("/fail-once/", 1);
    let (outcomes, took) = closed_loop(client, host.clock(), n, c, url).await;
    let accepted = outcomes.iter().filter(|o| o.status == 202).count();
    let arrived = || receiver.delivered(Class::Ok) + receiver.paths_arrived("/fail-once/", 1);
    wait_for(|| arrived() >= arrived_before + accepted, Duration::from_secs(300)).await;
    host.idle().await;
    (outcomes, accepted as f64 / took.as_secs_f64())
}

/// Sweeps, `sweepers` at a time back to back, until one finds nothing to do; answers the sums
/// of their reports, the seconds until the last sweep that found slots ended, and the store's
/// operations meanwhile.
async fn drain(client: &HttpClient, host: &RunningHost, base: &str, sweepers: usize) -> (Swept, f64, KvOps) {
    let before = host.kv_ops();
    let started = Instant::now();
    let url = format!("{base}/_hookah/v1/sweep");
    let workers: Vec<_> = (0..sweepers)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let (mut swept, mut last_work) = (Swept::default(), Duration::ZERO);
                for _ in 0..10_000 {
                    let report = call(&client, "POST", &url, Vec::new()).await;
                    swept.add(&report);
                    if report["slots"].as_u64().unwrap_or(0) > 0 {
                        last_work = started.elapsed();
                    } else if report["busy"].as_bool().unwrap_or(false) {
                        tokio::time::sleep(BUSY_PAUSE).await;
                    } else {
                        break;
                    }
                }
                (swept, last_work)
            })
        })
        .collect();
    let (mut total, mut secs) = (Swept::default(), 0f64);
    for worker in workers {
        let Ok((swept, last_work)) = worker.await else { continue };
        secs = secs.max(last_work.as_secs_f64());
        total.sweeps += swept.sweeps;
        total.slots += swept.slots;
        total.claimed += swept.claimed;
        total.delivered += swept.delivered;
        total.deleted += swept.deleted;
        total.skipped += swept.skipped;
        total.rescheduled += swept.rescheduled;
        total.held_back += swept.held_back;
        total.busy += swept.busy;
        total.failed_calls += swept.failed_calls;
    }
    (total, secs.max(1e-3), host.kv_ops().since(&before))
}

/// Calls and keys per unit (slot or job) and time per call, by operation kind.
pub(crate) fn ops_by_kind(report: &mut Report, what: &str, ops: &KvOps, units: f64) {
    for (name, count) in ops.ops.iter().filter(|(_, count)| count.calls > 0) {
        let per_call_us = count.nanos as f64 / count.calls as f64 / 1e3;
        let shown = format!(
            "{:.2} calls ({:.2} keys) per {}, {per_call_us:.0} µs a call",
            count.calls as f64 / units,
            count.keys as f64 / units,
            if what == "sweep" { "slot" } else { "job" }
        );
        report.text(&format!("{what}_{name}"), &shown);
    }
}

/// With `HOOKAH_HOST_KV_PROFILE` set: calls by operation and key shape between two snapshots,
/// per slot of the drain, most first (stderr, beside the report).
fn print_shapes(
    what: &str,
    before: &std::collections::BTreeMap<(&'static str, String), u64>,
    after: &std::collections::BTreeMap<(&'static str, String), u64>,
    slots: u64,
) {
    let mut rows: Vec<_> = after
        .iter()
        .map(|(shape, &n)| (n - before.get(shape).copied().unwrap_or(0), shape))
        .filter(|(n, _)| *n > 0)
        .collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.0));
    eprintln!("key-value calls (keys, for batches) in {what}, per slot of the drain:");
    for (n, (op, shape)) in rows {
        eprintln!("  {:>8.3}  {op:<12} {shape}", n as f64 / slots.max(1) as f64);
    }
}
