//! In-memory ports with Spin's semantics, recording what they did, for tests.

use crate::delivery::AttemptResult;
use crate::ports::{Captured, Clock, Entropy, Kv, KvError, OutboundRequest, Sent, Transport};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// A key-value store that counts its operations (a commit is any write or batch write).
#[derive(Default)]
pub struct MemoryKv {
    pub data: RefCell<BTreeMap<String, Vec<u8>>>,
    pub reads: Cell<u64>,
    pub commits: Cell<u64>,
    /// Reads of keys starting with this fail, as from a store that is down (tests of error paths).
    pub failing_reads: RefCell<Option<String>>,
    /// Every key read, while this is `Some` (tests of what a sweep reads).
    pub read_log: RefCell<Option<Vec<String>>>,
    /// Every commit, as `increment {key}` or `set_many {n}` (the number of entries), while this
    /// is `Some` (tests of what one write holds).
    pub commit_log: RefCell<Option<Vec<String>>>,
}

impl MemoryKv {
    fn commit(&self, what: impl FnOnce() -> String) {
        self.commits.set(self.commits.get() + 1);
        if let Some(log) = self.commit_log.borrow_mut().as_mut() {
            log.push(what());
        }
    }
    fn read<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Result<(), KvError> {
        let failing = self.failing_reads.borrow();
        let mut log = self.read_log.borrow_mut();
        for key in keys {
            self.reads.set(self.reads.get() + 1);
            if let Some(log) = log.as_mut() {
                log.push(key.to_string());
            }
            if failing.as_deref().is_some_and(|prefix| key.starts_with(prefix)) {
                return Err(KvError(format!("reading {key} failed")));
            }
        }
        Ok(())
    }
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.data.borrow().keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.read([key])?;
        Ok(self.data.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.commit(|| format!("set {key}"));
        self.data.borrow_mut().insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.commit(|| format!("delete {key}"));
        self.data.borrow_mut().remove(key);
        Ok(())
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.read(keys.iter().map(String::as_str))?;
        let data = self.data.borrow();
        Ok(keys.iter().map(|k| data.get(k).cloned()).collect())
    }
    fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        self.commit(|| format!("set_many {}", entries.len()));
        self.data.borrow_mut().extend(entries);
        Ok(())
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        self.commit(|| format!("delete_many {}", keys.len()));
        let mut data = self.data.borrow_mut();
        for key in keys {
            data.remove(key);
        }
        Ok(())
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        self.commit(|| format!("increment {key}"));
        let mut data = self.data.borrow_mut();
        // Counters are kept as ASCII decimal, like Spin's Redis store (the host's end-to-end
        // tests cover SQLite's 8-byte format), so a reader that assumes one format fails here.
        let current = match data.get(key) {
            None => 0,
            Some(bytes) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .ok_or_else(|| KvError(format!("{key} is not a counter")))?,
        };
        let next = current + delta;
        data.insert(key.to_string(), next.to_string().into_bytes());
        Ok(next)
    }
    fn list_keys(&self) -> Result<Vec<String>, KvError> {
        self.read(["(list-keys)"])?;
        Ok(self.data.borrow().keys().cloned().collect())
    }
}

/// A scripted answer: what came of the call and, when it is a response, its body.
pub struct Scripted {
    pub result: AttemptResult,
    pub body: Vec<u8>,
}

type Script = Box<dyn FnMut(&OutboundRequest) -> Scripted>;

/// A transport that answers from a script and records every request.
pub struct ScriptedTransport {
    pub answer: RefCell<Script>,
    pub sent: RefCell<Vec<OutboundRequest>>,
    /// Answer on the first poll instead of yielding once first, so calls started together end
    /// together (tests that count grouped writes).
    pub at_once: Cell<bool>,
}

impl ScriptedTransport {
    /// Answers with `answer`'s result and, for a response, the body `ok`.
    pub fn new(mut answer: impl FnMut(&OutboundRequest) -> AttemptResult + 'static) -> Self {
        Self::replying(move |request| Scripted { result: answer(request), body: b"ok".to_vec() })
    }
    /// Answers with a result and body of the script's choosing (a challenge echoed, a topic).
    pub fn replying(answer: impl FnMut(&OutboundRequest) -> Scripted + 'static) -> Self {
        Self { answer: RefCell::new(Box::new(answer)), sent: RefCell::new(Vec::new()), at_once: Cell::new(false) }
    }
    pub fn status(status: u16) -> Self {
        Self::new(move |_| AttemptResult::Response { status, retry_after: None })
    }
}

impl Transport for ScriptedTransport {
    async fn send(&self, request: OutboundRequest) -> Sent {
        // A real call waits for the network: let other tasks run meanwhile.
        YieldOnce(self.at_once.get()).await;
        let Scripted { result, body } = (self.answer.borrow_mut())(&request);
        self.sent.borrow_mut().push(request);
        let response = matches!(result, AttemptResult::Response { .. }).then(|| Captured {
            headers: vec![("content-type".into(), "text/plain".into())],
            body,
            truncated: false,
        });
        Sent { result, duration_ms: 3, response }
    }
}

/// Pending once, then ready: gives the executor a chance to run other futures.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// A clock only the test moves; its clones share one time (a scripted receiver can move it).
#[derive(Clone)]
pub struct ManualClock(pub std::rc::Rc<Cell<u64>>);

impl ManualClock {
    pub fn at(ms: u64) -> Self {
        Self(std::rc::Rc::new(Cell::new(ms)))
    }
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// Deterministic "randomness": a seeded linear congruential sequence.
pub struct SeededEntropy(pub Cell<u64>);

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        Self(Cell::new(seed))
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, buf: &mut [u8]) {
        for byte in buf {
            let next = self.0.get().wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            self.0.set(next);
            *byte = (next >> 33) as u8;
        }
    }
}
