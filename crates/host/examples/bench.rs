//! Accept-path and end-to-end throughput of the real components in the local host.
//!
//! `cargo run -p hookah-host --example bench -- [REQUESTS] [CONCURRENCY]`
//!
//! Starts the host on a fresh store and a receiver on 127.0.0.1, sends REQUESTS webhook calls
//! (CONCURRENCY at a time, keep-alive), and prints the accept rate with p50/p99 latency of the
//! 202s, then how long until every call was delivered. Then: a listing page, a bulk-replay batch
//! and a 2,000-subscription fan-out, timed.

use bytes::Bytes;
use hookah_host::{build_components, HostConfig, RunningHost};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(32), |a| a.parse())?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
    build_components(&manifest).await?;
    let dir = tempfile::tempdir()?;
    let mut config = HostConfig::new(&manifest);
    config.kv_path = Some(dir.path().join("kv.db"));
    config.enable_cron = false;
    for (name, value) in [
        ("api_token", TOKEN),
        ("allowed_private_targets", "127.0.0.1"),
        ("sweep_batch", "5000"),
        ("sweep_concurrency", "128"),
    ] {
        config.variables.insert(name.into(), value.into());
    }
    let host = RunningHost::start(config).await?;
    let delivered = Arc::new(AtomicUsize::new(0));
    let receiver = receiver(delivered.clone()).await?;
    let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(concurrency).build_http::<Full<Bytes>>();
    let url = format!("http://{}/{receiver}/bench", host.addr());

    // Accept path.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let t = Instant::now();
                    let status = post(&client, &url, br#"{"event":"bench"}"#.to_vec()).await;
                    assert_eq!(status, 202);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await?);
    }
    let accept_secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "accept: {requests} calls, concurrency {concurrency}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
        requests as f64 / accept_secs,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while delivered.load(Ordering::Relaxed) < requests && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_secs = started.elapsed().as_secs_f64();
    println!(
        "accepted and delivered: {} of {requests} in {all_secs:.2} s: {:.0} jobs/s",
        delivered.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed) as f64 / all_secs
    );

    // Let the lease timers file every job under `delivered`, then time a listing page.
    host.clock().advance(Duration::from_secs(61));
    let base = format!("http://{}", host.addr());
    let t = Instant::now();
    let mut sweeps = 0;
    while sweeps < 100 {
        sweeps += 1;
        let report = call(&client, "POST", &format!("{base}/_hookah/v1/sweep"), Vec::new()).await;
        if report["slots"] == 0 {
            break;
        }
    }
    println!("filing {requests} finished jobs: {sweeps} sweeps, {:.2} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let page = call(&client, "GET", &format!("{base}/_hookah/v1/jobs?state=delivered&limit=50"), Vec::new()).await;
    println!(
        "listing page of {}: {:.1} ms",
        page["data"].as_array().map_or(0, Vec::len),
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let filter = br#"{"state":"delivered","limit":500}"#.to_vec();
    let replay = call(&client, "POST", &format!("{base}/_hookah/v1/jobs/retry"), filter).await;
    println!("bulk replay batch: requeued {} in {:.1} ms", replay["requeued"], t.elapsed().as_secs_f64() * 1e3);

    // Fan-out to 2,000 subscriptions.
    call(&client, "PUT", &format!("{base}/_hookah/v1/channels/bench"), br#"{"verify_intent":false}"#.to_vec()).await;
    for i in 0..2_000 {
        let body = format!(r#"{{"url":"http://{receiver}/sub/{i}"}}"#).into_bytes();
        call(&client, "POST", &format!("{base}/_hookah/v1/channels/bench/subscriptions"), body).await;
    }
    let before = delivered.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut request = hyper::Request::post(format!("{base}/_hookah/v1/channels/bench/events"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("hookah-event-type", "bench.ping");
    request = request.header("content-type", "application/json");
    let response = client.request(request.body(Full::new(Bytes::from_static(b"{}")))?).await?;
    let publish_ms = t.elapsed().as_secs_f64() * 1e3;
    response.into_body().collect().await?;
    let mut sweeps = 0;
    while delivered.load(Ordering::Relaxed) < before + 2_000 && sweeps < 50 {
        host.clock().advance(Duration::from_secs(1));
        call(&client, "POST", &format!("{base}/_hookah/v1/sweep"), Vec::new()).await;
        sweeps += 1;
    }
    println!(
        "fan-out to 2000: publish answered in {publish_ms:.0} ms; {} delivered after {sweeps} sweeps, {:.2} s",
        delivered.load(Ordering::Relaxed) - before,
        t.elapsed().as_secs_f64()
    );
    host.shutdown().await
}

async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    body: Vec<u8>,
) -> u16 {
    let request = hyper::Request::post(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

async fn call(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    method: &str,
    url: &str,
    body: Vec<u8>,
) -> serde_json::Value {
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap_or_default()
}

/// A receiver that answers 204 and counts.
async fn receiver(count: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let count = count.clone();
                    async move {
                        request.into_body().collect().await?;
                        count.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, hyper::Error>(
                            hyper::Response::builder().status(204).body(Full::new(Bytes::new())).unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr.to_string())
}
