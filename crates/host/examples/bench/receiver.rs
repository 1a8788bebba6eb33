//! The webhook receiver on 127.0.0.1. The first path segment says how it answers:
//! `/ok/…` 204; `/fail-once/…` 500 the first time a path arrives, then 204; `/down/…` 503 while
//! the receiver is down, else 204; anything else 204. It stamps every arrival on the guests'
//! clock and counts the 2xx answers per class.

use bytes::Bytes;
use hookah_host::HostClock;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Ok,
    FailOnce,
    Down,
    /// Answers 2xx after `SLOW_ANSWER`, so attempts to it are in flight for that long.
    Slow,
    Other,
}

/// How long a `slow` path takes to answer.
pub(crate) const SLOW_ANSWER: std::time::Duration = std::time::Duration::from_secs(2);

impl Class {
    fn of(path: &str) -> Class {
        match path.trim_start_matches('/').split('/').next() {
            Some("ok") => Class::Ok,
            Some("fail-once") => Class::FailOnce,
            Some("down") => Class::Down,
            Some("slow") => Class::Slow,
            _ => Class::Other,
        }
    }
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub(crate) at_ms: u64,
    /// The `webhook-id` header: the job id.
    pub(crate) id: String,
    pub(crate) status: u16,
}

pub(crate) struct Receiver {
    pub(crate) addr: String,
    clock: HostClock,
    down: AtomicBool,
    delivered: [AtomicUsize; 5],
    arrivals: Mutex<HashMap<String, Vec<Arrival>>>,
    /// Told (job id, arrival) of every failed first attempt at a `fail-once` path.
    first_failures: Mutex<Option<mpsc::UnboundedSender<(String, u64)>>>,
}

impl Receiver {
    pub(crate) async fn start(clock: HostClock) -> anyhow::Result<Arc<Receiver>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let receiver = Arc::new(Receiver {
            addr: listener.local_addr()?.to_string(),
            clock,
            down: AtomicBool::new(false),
            delivered: Default::default(),
            arrivals: Mutex::default(),
            first_failures: Mutex::default(),
        });
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let receiver = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let receiver = receiver.clone();
                        async move {
                            let (status, class) = receiver.answer(&request);
                            if matches!(class, Class::Slow) {
                                tokio::time::sleep(SLOW_ANSWER).await;
                            }
                            request.into_body().collect().await?;
                            Ok::<_, hyper::Error>(
                                hyper::Response::builder().status(status).body(Full::new(Bytes::new())).unwrap(),
                            )
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(receiver)
    }

    /// Records the request; answers its status and its path's class.
    fn answer<B>(&self, request: &hyper::Request<B>) -> (u16, Class) {
        let at_ms = self.clock.now_unix_ms();
        let path = request.uri().path().to_string();
        let id = request.headers().get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let class = Class::of(&path);
        let mut arrivals = self.arrivals.lock().unwrap();
        let seen = arrivals.entry(path).or_default();
        let status = match class {
            Class::FailOnce if seen.is_empty() => 500,
            Class::Down if self.down.load(Ordering::SeqCst) => 503,
            _ => 204,
        };
        if status == 500 {
            if let Some(tell) = &*self.first_failures.lock().unwrap() {
                let _ = tell.send((id.clone(), at_ms));
            }
        }
        seen.push(Arrival { at_ms, id, status });
        if status < 300 {
            self.delivered[class as usize].fetch_add(1, Ordering::SeqCst);
        }
        (status, class)
    }

    /// `{addr}/{class}/{name}`: the path after Hookah's address that makes it deliver here.
    pub(crate) fn target(&self, class: &str, name: &str) -> String {
        format!("{}/{class}/{name}", self.addr)
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// 2xx answers given to a class.
    pub(crate) fn delivered(&self, class: Class) -> usize {
        self.delivered[class as usize].load(Ordering::SeqCst)
    }

    /// From now on, reports failed first attempts at `fail-once` paths.
    pub(crate) fn watch_first_failures(&self) -> mpsc::UnboundedReceiver<(String, u64)> {
        let (tell, told) = mpsc::unbounded_channel();
        *self.first_failures.lock().unwrap() = Some(tell);
        told
    }

    /// Paths starting with `prefix` that got a 2xx answer.
    pub(crate) fn delivered_paths(&self, prefix: &str) -> usize {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.iter().filter(|(path, seen)| path.starts_with(prefix) && seen.iter().any(|a| a.status < 300)).count()
    }

    /// Paths starting with `prefix` that arrived at least `times` times.
    pub(crate) fn paths_arrived(&self, prefix: &str, times: usize) -> usize {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals.iter().filter(|(path, seen)| path.starts_with(prefix) && seen.len() >= times).count()
    }

    /// How many 2xx answers each job (by its `webhook-id`) got so far.
    pub(crate) fn deliveries_by_job(&self) -> HashMap<String, usize> {
        let mut deliveries = HashMap::new();
        for arrival in self.arrivals.lock().unwrap().values().flatten().filter(|a| a.status < 300) {
            *deliveries.entry(arrival.id.clone()).or_default() += 1;
        }
        deliveries
    }

    /// Every path's arrivals so far.
    pub(crate) fn arrivals(&self) -> HashMap<String, Vec<Arrival>> {
        self.arrivals.lock().unwrap().clone()
    }
}
