//! `batch`: jobs accepted and delivered per second through `POST /_hookah/v1/batch`, for batches
//! of 1, 10, 100 and 1,000 calls, beside the floor (one `set` of a new key per request) measured
//! in the same run on the same store; and the key-value writes per job (each a commit on SQLite),
//! first attempts and their outcomes included. About `--jobs` jobs per size, `--concurrency`
//! requests in flight at most.

use crate::accept::wait_for;
use crate::client::{closed_loop, new_client, send, HttpClient, UrlFor};
use crate::hosts;
use crate::receiver::{Class, Receiver};
use crate::report::Report;
use crate::store::BenchStore;
use crate::Options;
use hookah_host::HostClock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIZES: [usize; 4] = [1, 10, 100, 1_000];
/// The longest wait for a size's deliveries.
const DELIVERY_WAIT: Duration = Duration::from_secs(300);

pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    hosts::build(true).await?;
    let store = BenchStore::start(options.store)?;
    let client = new_client(options.concurrency);
    let mut report = Report::new("batch", store.kind.name());
    report.count("jobs_per_size", options.jobs);

    let floor = hosts::start_floor(&store).await?;
    let base = format!("http://{}", floor.addr());
    let floor_url: UrlFor = Arc::new(move |k| format!("{base}/f/{k}"));
    let (outcomes, took) = closed_loop(&client, &HostClock::new(), options.jobs, options.concurrency, floor_url).await;
    floor.shutdown().await?;
    let floor_rate = outcomes.iter().filter(|o| o.status == 204).count() as f64 / took.as_secs_f64();
    report.num("floor_rate", Some(floor_rate), 0, "req/s");

    let host = hosts::start_hookah(&store, false, &[]).await?;
    let receiver = Receiver::start(host.clock().clone()).await?;
    let base = format!("http://{}", host.addr());
    for size in SIZES {
        let batches = (options.jobs / size).max(1);
        let ops_before = host.kv_ops();
        let delivered_before = receiver.delivered(Class::Ok);
        let started = Instant::now();
        let accepted = post_batches(&client, &base, &receiver, size, batches, options.concurrency).await;
        let all = wait_for(|| receiver.delivered(Class::Ok) >= delivered_before + accepted, DELIVERY_WAIT).await;
        let secs = started.elapsed().as_secs_f64();
        let writes = host.kv_ops().since(&ops_before).writes();
        let jobs = accepted.max(1) as f64;
        report.count(&format!("size_{size}_accepted"), accepted);
        report.text(&format!("size_{size}_all_delivered"), if all { "yes" } else { "no" });
        report.num(&format!("size_{size}_jobs_per_s"), Some(accepted as f64 / secs), 0, "jobs/s");
        report.num(&format!("size_{size}_vs_floor"), Some(accepted as f64 / secs / floor_rate), 2, "");
        report.num(&format!("size_{size}_writes_per_job"), Some(writes as f64 / jobs), 2, "");
    }
    report.print(options.json_out.as_deref())?;
    host.shutdown().await
}

/// Posts `batches` batches of `size` calls, at most `concurrency` at once; answers the calls
/// accepted (those of batches answered 202).
async fn post_batches(
    client: &HttpClient,
    base: &str,
    receiver: &Arc<Receiver>,
    size: usize,
    batches: usize,
    concurrency: usize,
) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency.min(batches))
        .map(|_| {
            let (client, next, receiver, url) =
                (client.clone(), next.clone(), receiver.clone(), format!("{base}/_hookah/v1/batch"));
            tokio::spawn(async move {
                let mut accepted = 0;
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= batches {
                        return accepted;
                    }
                    let calls: Vec<serde_json::Value> = (0..size)
                        .map(|i| {
                            let target = receiver.target("ok", &format!("b{size}-{k}-{i}"));
                            serde_json::json!({ "url": format!("http://{target}"), "body": "{\"event\":\"bench\"}" })
                        })
                        .collect();
                    let body = serde_json::to_vec(&calls).unwrap_or_default();
                    if let Ok((202, _)) = send(&client, "POST", &url, body).await {
                        accepted += size;
                    }
                }
            })
        })
        .collect();
    let mut accepted = 0;
    for worker in workers {
        accepted += worker.await.unwrap_or(0);
    }
    accepted
}
