//! The load generators: closed loop (C requests in flight) and open loop (a fixed rate), over one
//! keep-alive HTTP client, plus small helpers for API calls and percentiles.

use bytes::Bytes;
use hookah_host::HostClock;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const TOKEN: &str = "bench-token";

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Which URL the k-th submission goes to.
pub(crate) type UrlFor = Arc<dyn Fn(usize) -> String + Send + Sync>;

pub(crate) fn new_client(connections: usize) -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(connections).build_http()
}

/// One submission as the client saw it.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) k: usize,
    /// When it was sent, on the guests' clock (Unix ms), to compare with the receiver's stamps.
    pub(crate) sent_ms: u64,
    pub(crate) latency: Duration,
    /// 0 when the connection failed.
    pub(crate) status: u16,
    /// The job id of a 202.
    pub(crate) id: Option<String>,
}

async fn submit(client: &HttpClient, clock: &HostClock, url: String, k: usize) -> Outcome {
    let sent_ms = clock.now_unix_ms();
    let started = Instant::now();
    let (status, body) =
        send(client, "POST", &url, br#"{"event":"bench"}"#.to_vec()).await.unwrap_or((0, Bytes::new()));
    let latency = started.elapsed();
    let id = (status == 202)
        .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok()?["id"].as_str().map(String::from))
        .flatten();
    Outcome { k, sent_ms, latency, status, id }
}

/// `n` submissions, `concurrency` at a time; answers the outcomes and the time they took.
pub(crate) async fn closed_loop(
    client: &HttpClient,
    clock: &HostClock,
    n: usize,
    concurrency: usize,
    url_for: UrlFor,
) -> (Vec<Outcome>, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, clock, next, url_for) = (client.clone(), clock.clone(), next.clone(), url_for.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= n {
                        return outcomes;
                    }
                    outcomes.push(submit(&client, &clock, url_for(k), k).await);
                }
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(n);
    for worker in workers {
        outcomes.extend(worker.await.unwrap_or_default());
    }
    (outcomes, started.elapsed())
}

/// Submissions at `rate` per second for `duration`, each sent on its schedule whatever the
/// answers do (at most `max_in_flight` open; past that the generator waits and falls behind,
/// which the achieved rate shows). Stops early once `stop` is set.
pub(crate) async fn open_loop(
    client: &HttpClient,
    clock: &HostClock,
    (rate, duration): (f64, Duration),
    max_in_flight: usize,
    url_for: UrlFor,
    stop: &AtomicBool,
) -> (Vec<Outcome>, Duration) {
    let total = (rate * duration.as_secs_f64()).ceil() as usize;
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for k in 0..total {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep_until(started + Duration::from_secs_f64(k as f64 / rate)).await;
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let (client, clock, url) = (client.clone(), clock.clone(), url_for(k));
        tasks.push(tokio::spawn(async move {
            let outcome = submit(&client, &clock, url, k).await;
            drop(permit);
            outcome
        }));
    }
    let sending = started.elapsed();
    let mut outcomes = Vec::with_capacity(total);
    for task in tasks {
        if let Ok(outcome) = task.await {
            outcomes.push(outcome);
        }
    }
    (outcomes, sending)
}

/// Sends one request with the API token; answers status and body.
pub(crate) async fn send(client: &HttpClient, method: &str, url: &str, body: Vec<u8>) -> anyhow::Result<(u16, Bytes)> {
    let (head, body) = exchange(client, method, url, body).await?;
    Ok((head.status.as_u16(), body))
}

/// [`send`], answering the response's head (status and headers) with its body.
pub(crate) async fn exchange(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: Vec<u8>,
) -> anyhow::Result<(hyper::http::response::Parts, Bytes)> {
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let (head, body) = client.request(request).await?.into_parts();
    Ok((head, body.collect().await?.to_bytes()))
}

/// An API call answered with JSON (`null` when it failed or was not JSON).
pub(crate) async fn call(client: &HttpClient, method: &str, url: &str, body: Vec<u8>) -> serde_json::Value {
    match send(client, method, url, body).await {
        Ok((_, body)) => serde_json::from_slice(&body).unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

/// The p-th percentile (0..=1) of `values`, nearest rank; `None` when there are none.
pub(crate) fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[((sorted.len() as f64 * p) as usize).min(last)])
}

/// Accept-latency percentiles in ms of the 202s among `outcomes`.
pub(crate) fn latency_ms(outcomes: &[Outcome], p: f64) -> Option<f64> {
    let ms: Vec<f64> = outcomes.iter().filter(|o| o.status == 202).map(|o| o.latency.as_secs_f64() * 1e3).collect();
    percentile(&ms, p)
}
