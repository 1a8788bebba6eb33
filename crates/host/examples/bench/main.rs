//! Benchmarks of the real components in the local host, on SQLite or a private Redis.
//!
//! `cargo run -p hookah-host --release --example bench -- <mode> [options]`; each run prints one
//! JSON line (for scripts, e.g. `bench/chart.py`) and a short table. See `USAGE`.

mod accept;
mod backlog;
mod batch;
mod capacity;
mod client;
mod edge;
mod fanout;
mod flows;
mod hosts;
mod instances;
mod receiver;
mod report;
mod store;
mod sustained;
mod takeover;

use anyhow::{bail, Context as _};
use store::StoreKind;

const USAGE: &str = "\
usage: bench <mode> [options]

modes:
  accept     N submissions at concurrency C: accept rate, latency, accepted-and-delivered rate,
             and the same client against the floor (one `set` of a new key per request)
  batch      jobs accepted and delivered per second through POST /_hookah/v1/batch, batches of
             1, 10, 100 and 1,000 (about --jobs jobs each), beside the floor; writes per job
  sustained  open-loop load at --rate (or --load × a measured accept rate) for --duration with
             cron sweeps only; --fail-share of the jobs fail their first attempt; retry lateness
  backlog    one receiver down while --jobs retries pile up, then back: drain rate, and the
             delays other receivers saw meanwhile
  capacity   timer slots swept per second, sweeps back to back through the sweep route: N/2
             jobs filed then deleted at their retention's end, N/2 to file, 10 % of those
             retried; against the accept rate measured in the same run
  fanout     publish to a channel of --subscriptions subscriptions, sweeps until all delivered
  instances  two host processes on one Redis, load split over both: rate, nothing lost
  edge       no cron: an outside scheduler calls the sweep token's route every --tick s, the rest
             is sweeps in passing; retry lateness at --rate (default 20) with --fail-share
             failing once, then with no traffic besides bursts of --burst failing jobs
  takeover   two host processes on one Redis under --rate (default 1000) for --duration, one
             SIGKILLed halfway: how late its cut-off jobs are taken over after their lease

options:
  --store sqlite|redis   key-value store (default sqlite; redis starts a private redis-server)
  --jobs N               submissions (accept, backlog, capacity, instances; default 5000)
  --concurrency C        requests in flight (default 32)
  --sweepers K           capacity: sweeps running at once (default 1)
  --rate R               sustained, takeover: offered jobs per second
  --load F[,F…]          sustained without --rate: fractions of a measured accept rate (default 0.8)
  --duration S           sustained, takeover: seconds of load per run (default 60)
  --fail-share F         sustained, backlog: share of jobs whose first attempt fails (default 0.1)
  --subscriptions N      fanout (default 2000)
  --tick S               edge: seconds between the outside scheduler's calls (default 60)
  --burst N              edge: jobs in each burst of the quiet run (default 10)
  --json-out PATH        also append each JSON line to PATH (the guests log to stdout too)

environment:
  HOOKAH_BENCH_NO_BUILD=1  run the components already in target/ (e.g. an older build, to
                           compare before and after with the same bench)";

/// Every option a mode may read, with its default.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) store: StoreKind,
    pub(crate) jobs: usize,
    pub(crate) concurrency: usize,
    pub(crate) sweepers: usize,
    pub(crate) rate: Option<f64>,
    pub(crate) loads: Vec<f64>,
    pub(crate) duration_secs: u64,
    pub(crate) fail_share: f64,
    pub(crate) subscriptions: usize,
    pub(crate) tick_secs: u64,
    pub(crate) burst: usize,
    pub(crate) json_out: Option<std::path::PathBuf>,
}

fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<(String, Options)> {
    let mode = args.next().unwrap_or_default();
    if mode.starts_with('-') && mode != "-h" && mode != "--help" {
        bail!("the mode comes first\n\n{USAGE}");
    }
    let mut options = Options {
        store: StoreKind::Sqlite,
        jobs: 5_000,
        concurrency: 32,
        sweepers: 1,
        rate: None,
        loads: vec![0.8],
        duration_secs: 60,
        fail_share: 0.1,
        subscriptions: 2_000,
        tick_secs: 60,
        burst: 10,
        json_out: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value\n\n{USAGE}"))?;
        let bad = || format!("invalid {flag} {value:?}");
        match flag.as_str() {
            "--store" => options.store = value.parse()?,
            "--jobs" => options.jobs = value.parse().with_context(bad)?,
            "--concurrency" => options.concurrency = value.parse().with_context(bad)?,
            "--sweepers" => options.sweepers = value.parse().with_context(bad)?,
            "--rate" => options.rate = Some(value.parse().with_context(bad)?),
            "--load" => options.loads = value.split(',').map(str::parse).collect::<Result<_, _>>().with_context(bad)?,
            "--duration" => options.duration_secs = value.parse().with_context(bad)?,
            "--fail-share" => options.fail_share = value.parse().with_context(bad)?,
            "--subscriptions" => options.subscriptions = value.parse().with_context(bad)?,
            "--tick" => options.tick_secs = value.parse().with_context(bad)?,
            "--burst" => options.burst = value.parse().with_context(bad)?,
            "--json-out" => options.json_out = Some(value.into()),
            _ => bail!("unknown option {flag:?}\n\n{USAGE}"),
        }
    }
    if options.jobs == 0
        || options.concurrency == 0
        || options.sweepers == 0
        || options.tick_secs == 0
        || options.burst == 0
        || !(0.0..=1.0).contains(&options.fail_share)
    {
        bail!("--jobs, --concurrency, --sweepers, --tick and --burst must be positive, --fail-share within 0..1");
    }
    Ok((mode, options))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (mode, options) = parse(std::env::args().skip(1))?;
    match mode.as_str() {
        "accept" => accept::run(&options).await,
        "sustained" => sustained::run(&options).await,
        "batch" => batch::run(&options).await,
        "backlog" => backlog::run(&options).await,
        "capacity" => capacity::run(&options).await,
        "fanout" => fanout::run(&options).await,
        "instances" => instances::run(&options).await,
        "takeover" => takeover::run(&options).await,
        "edge" => edge::run(&options).await,
        "" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown mode {mode:?}\n\n{USAGE}"),
    }
}
