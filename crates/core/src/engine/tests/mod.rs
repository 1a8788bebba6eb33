//! The engine against in-memory ports: a `World` of ports with a manual clock, and the suites
//! that drive it.

use super::Hookah;
use crate::api::FollowUp;
use crate::ids::{JobId, KeyId};
use crate::job::JobRecord;
use crate::memory::{ManualClock, MemoryKv, ScriptedTransport, SeededEntropy};
use crate::request::Incoming;
use crate::Config;
use futures::executor::block_on;

mod failures;
mod freeing;
mod jobs;
mod targets;

pub(super) const T0: u64 = 1_700_000_000_000;

pub(super) struct World {
    pub(super) config: Config,
    pub(super) kv: MemoryKv,
    pub(super) transport: ScriptedTransport,
    pub(super) clock: ManualClock,
    pub(super) entropy: SeededEntropy,
}

impl World {
    pub(super) fn new(transport: ScriptedTransport) -> Self {
        let config = Config { api_token: crate::config::ApiToken::new("t"), ..Config::default() };
        World { config, kv: MemoryKv::default(), transport, clock: ManualClock::at(T0), entropy: SeededEntropy::new(7) }
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
    /// The distinct URLs the transport has sent to.
    pub(super) fn urls_sent(&self) -> Vec<String> {
        let mut urls: Vec<String> = self.transport.sent.borrow().iter().map(|r| r.url.clone()).collect();
        urls.sort();
        urls.dedup();
        urls
    }
    pub(super) fn job(&self, id: &JobId) -> Option<JobRecord> {
        self.hookah().load_job(id).unwrap()
    }
    /// Creates a signing key; returns its id and its view (with the secret).
    pub(super) fn create_key(&self, request: super::KeyRequest) -> (KeyId, serde_json::Value) {
        let created = self.hookah().create_key(request).unwrap();
        (KeyId::parse(created["id"].as_str().unwrap()).unwrap(), created)
    }
    pub(super) fn sweep(&self) -> super::SweepReport {
        block_on(self.hookah().sweep()).unwrap()
    }
}
