//! `instances`: two `hookah-host up` processes on one Redis, each with its cron sweeper, the
//! submissions alternating between them; the accepted-and-delivered rate, and every accepted job
//! delivered (by job id, at the receiver).

use crate::accept::wait_for;
use crate::client::{closed_loop, latency_ms, new_client, UrlFor};
use crate::hosts::{self, VARIABLES};
use crate::receiver::{Class, Receiver};
use crate::report::Report;
use crate::store::{BenchStore, StoreKind};
use crate::Options;
use anyhow::{bail, Context as _};
use hookah_host::HostClock;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DELIVERY_WAIT: Duration = Duration::from_secs(300);

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    if options.store != StoreKind::Redis {
        bail!("instances shares one store between processes: run it with --store redis");
    }
    let (n, c) = (options.jobs, options.concurrency);
    hosts::build(false).await?;
    let binary = build_host_binary()?;
    let store = BenchStore::start(options.store)?;
    let hosts = [HostProcess::start(&binary, &store)?, HostProcess::start(&binary, &store)?];
    let clock = HostClock::new();
    let receiver = Receiver::start(clock.clone()).await?;
    let client = new_client(c);
    let mut report = Report::new("instances", store.kind.name());
    report.count("processes", hosts.len());
    report.count("jobs", n);
    report.count("concurrency", c);

    let addrs: Vec<String> = hosts.iter().map(|h| h.addr.clone()).collect();
    let target = receiver.clone();
    let url: UrlFor = Arc::new(move |k| format!("http://{}/{}", addrs[k % 2], target.target("ok", &k.to_string())));
    let started = Instant::now();
    let (outcomes, took) = closed_loop(&client, &clock, n, c, url).await;
    let accepted: Vec<&String> = outcomes.iter().filter_map(|o| o.id.as_ref()).collect();
    wait_for(|| receiver.delivered(Class::Ok) >= accepted.len(), DELIVERY_WAIT).await;
    let all_secs = started.elapsed().as_secs_f64();
    // Leave a sweep interval for duplicates to show up, then count deliveries per job id.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let deliveries = receiver.deliveries_by_job();
    let lost = accepted.iter().filter(|id| !deliveries.contains_key(id.as_str())).count();
    let duplicates: usize = deliveries.values().map(|n| n.saturating_sub(1)).sum();

    report.count("accepted", accepted.len());
    report.count("refused_or_failed", outcomes.len() - accepted.len());
    report.num("accept_rate", Some(accepted.len() as f64 / took.as_secs_f64()), 0, "jobs/s");
    report.num("accept_p50", latency_ms(&outcomes, 0.50), 1, "ms");
    report.num("accept_p99", latency_ms(&outcomes, 0.99), 1, "ms");
    report.count("delivered_jobs", deliveries.len());
    report.num("accepted_and_delivered_rate", Some(deliveries.len() as f64 / all_secs), 0, "jobs/s");
    report.count("lost", lost);
    report.count("duplicate_deliveries", duplicates);
    report.print(options.json_out.as_deref())?;
    for mut host in hosts {
        host.stop();
    }
    Ok(())
}

/// The release `hookah-host` next to this example (`target/release/examples/bench`), built
/// first so it matches the tree.
pub(crate) fn build_host_binary() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        // Named with the example, as `cargo run --example bench` built it: the same features, so
        // nothing is rebuilt.
        .args(["build", "--release", "-p", "hookah-host", "--example", "bench", "--bin", "hookah-host"])
        .status()
        .context("running cargo build for hookah-host")?;
    if !status.success() {
        bail!("building hookah-host failed ({status})");
    }
    let exe = std::env::current_exe()?;
    let release = exe.parent().and_then(|examples| examples.parent()).context("locating target/release")?;
    Ok(release.join("hookah-host"))
}

pub(crate) struct HostProcess {
    child: Child,
    pub(crate) addr: String,
}

impl HostProcess {
    pub(crate) fn start(binary: &Path, store: &BenchStore) -> anyhow::Result<HostProcess> {
        let mut command = Command::new(binary);
        for (name, value) in VARIABLES {
            command.env(format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()), value);
        }
        let mut child = command
            .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
            .arg(hosts::hookah_manifest())
            .args(store.cli_args())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting hookah-host")?;
        let stdout = child.stdout.take().context("hookah-host stdout")?;
        let (tell, told) = std::sync::mpsc::channel();
        // Reads the address, then keeps draining the attempt log so the process never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Serving http://") {
                    let _ = tell.send(addr.trim().to_string());
                }
            }
        });
        let addr = told.recv_timeout(Duration::from_secs(60)).context("hookah-host never said it was serving")?;
        Ok(HostProcess { child, addr })
    }

    /// SIGKILL: the process dies mid-work, as a crashed instance would.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, so guest work finishes; killed if it has not gone within 40 s.
    pub(crate) fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
