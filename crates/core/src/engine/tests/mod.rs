//! The engine against in-memory ports: a `World` of ports with a manual clock, and the suites
//! that drive it.

use super::Hookah;
use crate::api::FollowUp;
use crate::api::Reply;
use crate::delivery::AttemptResult;
use crate::ids::{JobId, KeyId};
use crate::job::JobRecord;
use crate::memory::{ManualClock, MemoryKv, Scripted, ScriptedTransport, SeededEntropy};
use crate::ports::OutboundRequest;
use crate::request::Incoming;
use crate::Config;
use futures::executor::block_on;
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

mod batch;
mod bounded;
mod event_batch;
mod failures;
mod flow_control;
mod flows;
mod freeing;
mod health;
mod idempotency;
mod jobs;
mod outcomes;
mod passing;
mod regions;
mod replay;
mod room;
mod subscriptions;
mod targets;
mod tokens;
mod websub;

pub(super) const T0: u64 = 1_700_000_000_000;

pub(super) struct World {
    pub(super) config: Config,
    pub(super) kv: MemoryKv,
    pub(super) transport: ScriptedTransport,
    pub(super) clock: ManualClock,
    pub(super) entropy: SeededEntropy,
    /// What the receivers answer, by URL (only for a `World::receiving` one).
    pub(super) receivers: Receivers,
}

/// What a scripted receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// This status, with the body `ok`.
    Status(u16),
    /// A request carrying `hub.challenge` or `hookah.challenge` in its query gets 200 with the
    /// challenge as its body (intent confirmed); anything else 200 `ok`.
    Echo,
    /// `Echo`, but with this status.
    EchoWith(u16),
    /// This status and body.
    Body(u16, &'static str),
}

/// The answers of the receivers a test talks to: the last one set for a prefix of the URL, or
/// `Answer::Echo`. A test may change them at any point.
#[derive(Clone, Default)]
pub(super) struct Receivers(Rc<RefCell<Vec<(String, Answer)>>>);

impl Receivers {
    fn answer_for(&self, url: &str) -> Answer {
        let answers = self.0.borrow();
        answers.iter().rev().find(|(prefix, _)| url.starts_with(prefix.as_str())).map_or(Answer::Echo, |(_, a)| *a)
    }

    fn reply(&self, request: &OutboundRequest) -> Scripted {
        let (status, body) = match self.answer_for(&request.url) {
            Answer::Status(status) => (status, b"ok".to_vec()),
            Answer::Body(status, body) => (status, body.as_bytes().to_vec()),
            Answer::Echo => (200, echoed(&request.url)),
            Answer::EchoWith(status) => (status, echoed(&request.url)),
        };
        Scripted { result: AttemptResult::Response { status, retry_after: None }, body }
    }
}

/// The challenge in `url`'s query, or `ok`.
fn echoed(url: &str) -> Vec<u8> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let pairs = crate::websub::parse_form(query.as_bytes()).unwrap_or_default();
    let challenge = pairs.into_iter().find(|(name, _)| name == "hub.challenge" || name == "hookah.challenge");
    challenge.map_or(b"ok".to_vec(), |(_, value)| value.into_bytes())
}

/// An answer as a test reads it.
pub(super) struct Answered {
    pub(super) status: u16,
    pub(super) json: Value,
    pub(super) headers: Vec<(String, String)>,
}

impl Answered {
    fn of(reply: &Reply) -> Self {
        let json = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        Answered { status: reply.status, json, headers: reply.headers.clone() }
    }
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The error code of an error answer.
    pub(super) fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }
}

impl World {
    pub(super) fn new(transport: ScriptedTransport) -> Self {
        let config = Config { api_token: crate::config::ApiToken::new("t"), ..Config::default() };
        World {
            config,
            kv: MemoryKv::default(),
            transport,
            clock: ManualClock::at(T0),
            entropy: SeededEntropy::new(7),
            receivers: Receivers::default(),
        }
    }
    /// A world whose receivers answer as `answer` sets them (echoing challenges until then).
    pub(super) fn receiving(config: Config) -> Self {
        let receivers = Receivers::default();
        let script = receivers.clone();
        let transport = ScriptedTransport::replying(move |request| script.reply(request));
        let config = Config { api_token: crate::config::ApiToken::new("t"), ..config };
        World { config, receivers, ..World::new(transport) }
    }
    /// From now on, URLs starting with `prefix` get `answer`.
    pub(super) fn answer(&self, prefix: &str, answer: Answer) {
        self.receivers.0.borrow_mut().push((prefix.to_string(), answer));
    }
    /// Sends a request as a component would and carries out its follow-up (the attempts it
    /// leaves for after the answer).
    pub(super) fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answered {
        let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let incoming = Incoming { method: method.into(), path_and_query: path.into(), headers, body: body.to_vec() };
        let reply = block_on(self.hookah().handle(incoming));
        let answered = Answered::of(&reply);
        block_on(self.hookah().follow_up(reply.follow_up));
        answered
    }
    /// `call` with the API token and a JSON body (`""` for none).
    pub(super) fn request(&self, method: &str, path: &str, body: &str) -> Answered {
        self.request_as("t", method, path, body)
    }
    /// `call` with `token` as the bearer token and a JSON body (`""` for none).
    pub(super) fn request_as(&self, token: &str, method: &str, path: &str, body: &str) -> Answered {
        let bearer = format!("Bearer {token}");
        self.call(method, path, &[("authorization", &bearer)], body.as_bytes())
    }
    /// The requests the transport sent, as `METHOD url`.
    pub(super) fn sent(&self) -> Vec<String> {
        self.transport.sent.borrow().iter().map(|r| format!("{} {}", r.method, r.url)).collect()
    }
    /// The requests sent to URLs starting with `prefix`.
    pub(super) fn sent_to(&self, prefix: &str) -> Vec<OutboundRequest> {
        self.transport.sent.borrow().iter().filter(|r| r.url.starts_with(prefix)).cloned().collect()
    }
    /// How many job records are stored (not their bodies, attempt details or turns).
    pub(super) fn job_count(&self) -> usize {
        self.records("job:")
    }
    /// How many records of a kind (`job:`, `sub:`) are stored, without the keys beside them.
    pub(super) fn records(&self, prefix: &str) -> usize {
        self.kv.keys_with_prefix(prefix).iter().filter(|key| !key[prefix.len()..].contains(':')).count()
    }
    pub(super) fn hookah(&self) -> Hookah<'_, MemoryKv, ScriptedTransport> {
        Hookah {
            config: &self.config,
            kv: &self.kv,
            transport: &self.transport,
            clock: &self.clock,
            entropy: &self.entropy,
        }
    }
    /// Submits a call; returns its id and the follow-up the invocation would carry out.
    pub(super) fn submit(&self, headers: &[(&str, &str)]) -> (JobId, FollowUp) {
        self.submit_to("/example.com/hook", headers)
    }
    /// Submits a call to `path` (a target in Hookah's path form).
    pub(super) fn submit_to(&self, path: &str, headers: &[(&str, &str)]) -> (JobId, FollowUp) {
        let mut all = vec![("authorization".to_string(), "Bearer t".to_string())];
        all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let incoming =
            Incoming { method: "POST".into(), path_and_query: path.into(), headers: all, body: b"{}".to_vec() };
        let reply = block_on(self.hookah().handle(incoming));
        assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        (JobId::parse(body["id"].as_str().unwrap()).unwrap(), reply.follow_up)
    }
    /// Moves the clock a second and sweeps, `times` times.
    pub(super) fn sweep_each_second(&self, times: usize) {
        for _ in 0..times {
            self.clock.advance(1_000);
            self.sweep();
        }
    }
    /// Creates `channel` with intent verification off, so subscriptions are active at once.
    pub(super) fn open_channel(&self, channel: &str) {
        self.hookah().channels().set_channel(channel, super::ChannelRequest { verify_intent: false }).unwrap();
    }
    /// Subscribes `url` to `channel` as the app.
    pub(super) fn subscribe(&self, channel: &str, url: &str) {
        let request = super::SubscriptionRequest { url: Some(url.into()), ..Default::default() };
        self.hookah().channels().create_subscription(&super::Principal::App, channel, request).unwrap();
    }
    /// The distinct URLs the transport has sent to.
    pub(super) fn urls_sent(&self) -> Vec<String> {
        let mut urls: Vec<String> = self.transport.sent.borrow().iter().map(|r| r.url.clone()).collect();
        urls.sort();
        urls.dedup();
        urls
    }
    /// The job record, by its id or the id's text (as an API answer gave it).
    pub(super) fn job(&self, id: &(impl AsRef<str> + ?Sized)) -> Option<JobRecord> {
        let id = JobId::parse(id.as_ref()).expect("a job id");
        self.hookah().load_job(&id).unwrap()
    }
    /// Creates a signing key; returns its id and what was created (with the secret).
    pub(super) fn create_key(&self, request: super::KeyRequest) -> (KeyId, crate::engine::KeyState) {
        let created = self.hookah().keyring().create_key(request).unwrap();
        (created.record.id.clone(), created)
    }
    pub(super) fn sweep(&self) -> super::SweepReport {
        block_on(self.hookah().sweep()).unwrap()
    }
}
