//! A webhook receiver on 127.0.0.1 that records every request and answers as the test says,
//! and can change its answer mid-test.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Answer only once the test calls [`Receiver::release`] (a stalled receiver).
    pub held: bool,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Answer { status, headers: Vec::new(), body: Vec::new(), held: false }
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }
    /// Held until [`Receiver::release`]: the request stays unanswered, so nothing but the
    /// sender's own timeout can end it before the test says so.
    pub fn held(mut self) -> Self {
        self.held = true;
        self
    }
}

type Responder = Box<dyn Fn(&Recorded, usize) -> Answer + Send + Sync>;

struct Shared {
    requests: Mutex<Vec<Recorded>>,
    count: watch::Sender<usize>,
    responder: Mutex<Arc<Responder>>,
    released: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Starts a receiver that answers 200 until told otherwise.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            count: watch::channel(0).0,
            responder: Mutex::new(Arc::new(Box::new(|_: &Recorded, _| Answer::status(200)))),
            released: watch::channel(false).0,
        });
        let serving = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(shared.clone(), request));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { addr, shared }
    }

    /// Changes how the receiver answers; `index` counts requests from 0.
    pub fn answer(&self, responder: impl Fn(&Recorded, usize) -> Answer + Send + Sync + 'static) {
        *self.shared.responder.lock().unwrap() = Arc::new(Box::new(responder));
    }

    /// Answers every held request, and from now on answers held ones at once.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// `http://127.0.0.1:PORT` without a trailing slash, for `/{host:port}/path` targets.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` requests arrived; panics on timeout.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let mut count = self.shared.count.subscribe();
        let arrived = tokio::time::timeout(within, count.wait_for(|c| *c >= n)).await;
        let requests = self.requests();
        assert!(arrived.is_ok(), "expected {n} requests within {within:?}, got {}", requests.len());
        requests
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes().to_vec();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
    };
    let index = {
        let mut requests = shared.requests.lock().unwrap();
        requests.push(recorded.clone());
        requests.len() - 1
    };
    shared.count.send_modify(|count| *count += 1);
    let responder = shared.responder.lock().unwrap().clone();
    let answer = responder(&recorded, index);
    if answer.held {
        let _ = shared.released.subscribe().wait_for(|released| *released).await;
    }
    let mut response = hyper::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    Ok(response.body(Full::new(Bytes::from(answer.body))).unwrap())
}
