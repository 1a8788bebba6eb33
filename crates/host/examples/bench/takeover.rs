//! `takeover`: two `hookah-host up` processes on one Redis under open-loop load (`--rate`, split
//! over both), and one of them SIGKILLed halfway through. The jobs it had accepted but not yet
//! delivered when it died are in flight under a lease (60 s for spin.toml's 15 s timeout); the
//! other instance's sweeps take them over once the lease ends. The figure is how late each comes:
//! its first delivery minus its lease's end (the abandoned attempt the job's log shows). A share
//! of the jobs (`SLOW_SHARE`) go to a receiver that answers after 2 s, so the kill cuts attempts
//! off mid-flight. The jobs are looked at once those leases have ended. Also: nothing lost, and
//! duplicates counted apart from the jobs taken over (an attempt cut off by the kill may have
//! reached its receiver: delivery is at least once).

use crate::accept::wait_for;
use crate::client::{call, new_client, open_loop, percentile, UrlFor};
use crate::hosts;
use crate::instances::{build_host_binary, HostProcess};
use crate::receiver::Receiver;
use crate::report::Report;
use crate::store::{BenchStore, StoreKind};
use crate::sustained::fails_first;
use crate::Options;
use anyhow::bail;
use hookah_host::HostClock;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long after the load every accepted job must have arrived: a lease, and slack for sweeps.
const DELIVERY_WAIT: Duration = Duration::from_secs(150);
/// How long after the kill the jobs are looked at: the lease of an attempt the kill cut off
/// (60 s for spin.toml's 15 s timeout), and slack for the sweeps that take it over. An attempt
/// cut off after it reached its receiver counts as delivered at once, so waiting for every job
/// to arrive does not wait for the takeovers.
const TAKEOVER_WAIT_MS: u64 = 80_000;
/// How far before the kill the dead instance's jobs are looked at for an abandoned attempt.
const RECENT_MS: u64 = 15_000;
/// Submissions open at once.
const MAX_IN_FLIGHT: usize = 1_024;
/// Share of the jobs sent to the slow receiver.
const SLOW_SHARE: f64 = 0.05;

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    if options.store != StoreKind::Redis {
        bail!("takeover shares one store between processes: run it with --store redis");
    }
    let rate = options.rate.unwrap_or(1_000.0);
    let duration = Duration::from_secs(options.duration_secs);
    hosts::build(false).await?;
    let binary = build_host_binary()?;
    let store = BenchStore::start(options.store)?;
    let mut doomed = HostProcess::start(&binary, &store)?;
    let survivor = HostProcess::start(&binary, &store)?;
    let clock = HostClock::new();
    let receiver = Receiver::start(clock.clone()).await?;
    let client = new_client(MAX_IN_FLIGHT);
    let mut report = Report::new("takeover", store.kind.name());
    report.num("offered_rate", Some(rate), 0, "jobs/s");
    report.count("duration_s", duration.as_secs() as usize);

    // Even submissions go to the instance that dies, odd ones to the survivor; once it is dead,
    // all go to the survivor.
    let killed = Arc::new(AtomicBool::new(false));
    let addrs = [doomed.addr.clone(), survivor.addr.clone()];
    let (target, dead, share) = (receiver.clone(), killed.clone(), options.fail_share);
    let url: UrlFor = Arc::new(move |k| {
        let host = if dead.load(Ordering::SeqCst) { &addrs[1] } else { &addrs[k % 2] };
        let class = match (fails_first(k, share), fails_first(k + 7, SLOW_SHARE)) {
            (true, _) => "fail-once",
            (false, true) => "slow",
            (false, false) => "ok",
        };
        format!("http://{host}/{}", target.target(class, &k.to_string()))
    });
    let never = AtomicBool::new(false);
    let load = open_loop(&client, &clock, (rate, duration), MAX_IN_FLIGHT, url, &never);
    let kill = async {
        tokio::time::sleep(duration / 2).await;
        doomed.kill();
        killed.store(true, Ordering::SeqCst);
        clock.now_unix_ms()
    };
    let ((outcomes, sending), killed_at) = tokio::join!(load, kill);

    let accepted: Vec<_> = outcomes.iter().filter(|o| o.id.is_some()).collect();
    let ids: HashSet<&str> = accepted.iter().filter_map(|o| o.id.as_deref()).collect();
    let delivered = |deliveries: &HashMap<String, usize>| ids.iter().filter(|id| deliveries.contains_key(**id)).count();
    wait_for(|| delivered(&receiver.deliveries_by_job()) >= ids.len(), DELIVERY_WAIT).await;
    let takeovers_done = killed_at + TAKEOVER_WAIT_MS;
    tokio::time::sleep(Duration::from_millis(takeovers_done.saturating_sub(clock.now_unix_ms()))).await;

    // The dead instance's jobs from the seconds before it died: those whose attempt it never
    // recorded carry an abandoned attempt dated at their lease's end, then the attempt the
    // survivor made when it took them over.
    let base = format!("http://{}", survivor.addr);
    // Jobs delivered twice are looked at too: a retry the dead instance's sweeps had claimed may
    // belong to either instance's jobs.
    let deliveries = receiver.deliveries_by_job();
    let recent = accepted.iter().filter(|o| o.k % 2 == 0 && o.sent_ms + RECENT_MS >= killed_at);
    let mut looked_at: Vec<&str> = recent.filter_map(|o| o.id.as_deref()).collect();
    looked_at.extend(ids.iter().copied().filter(|id| deliveries.get(*id).is_some_and(|&n| n > 1)));
    looked_at.sort_unstable();
    looked_at.dedup();
    let mut lateness = Vec::new();
    let mut taken_over = HashSet::new();
    for id in looked_at {
        let job = call(&client, "GET", &format!("{base}/_hookah/v1/jobs/{id}"), Vec::new()).await;
        if let Some((lease_end, retaken)) = takeover(&job) {
            lateness.push((retaken as f64 - lease_end as f64) / 1e3);
            taken_over.insert(id);
        }
    }
    // Arrivals beyond each job's first, of the jobs taken over and of the others.
    let deliveries = receiver.deliveries_by_job();
    let extra = |id: &&str| deliveries.get(*id).map_or(0, |n| n.saturating_sub(1));
    let taken_over_twice: usize = taken_over.iter().map(extra).sum();
    let duplicates: usize = ids.iter().filter(|id| !taken_over.contains(**id)).map(extra).sum();
    let delivered = delivered(&deliveries);

    report.count("accepted", accepted.len());
    report.num("sent_rate", Some(outcomes.len() as f64 / sending.as_secs_f64()), 0, "jobs/s");
    report.count("taken_over_jobs", lateness.len());
    report.num("takeover_lateness_p50", percentile(&lateness, 0.50), 1, "s");
    report.num("takeover_lateness_p99", percentile(&lateness, 0.99), 1, "s");
    report.num("takeover_lateness_max", lateness.iter().copied().reduce(f64::max), 1, "s");
    report.count("delivered_jobs", delivered);
    report.count("lost", ids.len() - delivered);
    report.count("duplicate_deliveries", duplicates);
    report.count("taken_over_delivered_twice", taken_over_twice);
    report.print(options.json_out.as_deref())?;
    let mut survivor = survivor;
    survivor.stop();
    Ok(())
}

/// The end of the job's abandoned attempt's lease (the attempt is dated then), and when the
/// attempt after it was made.
fn takeover(job: &serde_json::Value) -> Option<(u64, u64)> {
    let attempts = job["attempts"].as_array()?;
    let abandoned = attempts.iter().position(|a| a["error"] == "abandoned")?;
    Some((millis(&attempts[abandoned]["at"])?, millis(&attempts.get(abandoned + 1)?["at"])?))
}

fn millis(rfc3339: &serde_json::Value) -> Option<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339.as_str()?).ok()?;
    u64::try_from(at.timestamp_millis()).ok()
}
