//! Hookah's real components running in the local host, with a controllable clock.

use super::client::{send, Response};
use super::limits::{suite_limits, Lift};
use super::store::TestStore;
use hookah_host::{build_components, HostConfig, Limits, RunningHost};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

pub const TOKEN: &str = "test-token";

pub fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

/// Builds the components once per test run (cargo skips the work when they are fresh).
pub async fn built() {
    static BUILT: OnceCell<()> = OnceCell::const_new();
    BUILT.get_or_init(|| async { build_components(&manifest()).await.expect("building the components") }).await;
}

pub struct TestHookah {
    pub host: RunningHost,
    /// Shared with other hosts started on it.
    pub store: Arc<TestStore>,
}

/// How to start a test host; the `TestHookah::start*` shorthands cover the usual cases.
pub struct Launch<'a> {
    manifest: PathBuf,
    store: Arc<TestStore>,
    variables: &'a [(&'a str, &'a str)],
    cron: bool,
    limits: Limits,
}

impl<'a> Launch<'a> {
    /// spin.toml on a store of its own, no cron, under the suite's limits (`support/limits.rs`).
    pub fn new(variables: &'a [(&'a str, &'a str)]) -> Self {
        Launch {
            manifest: manifest(),
            store: Arc::new(TestStore::new()),
            variables,
            cron: false,
            limits: suite_limits(&[]),
        }
    }

    /// On `store`, which other hosts may share.
    pub fn on(mut self, store: Arc<TestStore>) -> Self {
        self.store = store;
        self
    }

    /// Running `manifest` (next to spin.toml, sharing its components).
    pub fn from(mut self, manifest: PathBuf) -> Self {
        self.manifest = manifest;
        self
    }

    /// With the cron trigger firing the sweeper on spin.toml's schedule.
    pub fn with_cron(mut self) -> Self {
        self.cron = true;
        self
    }

    /// Under the suite's limits less those `lifted`: for a workload sized beyond the platform.
    pub fn lifting(mut self, lifted: &[Lift]) -> Self {
        self.limits = suite_limits(lifted);
        self
    }

    /// Under exactly `limits`, whatever `HOOKAH_TEST_LIMITS` says.
    pub fn under(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub async fn start(self) -> TestHookah {
        built().await;
        let mut config = HostConfig::new(self.manifest);
        self.store.configure(&mut config);
        config.enable_cron = self.cron;
        config.limits = self.limits;
        config.variables.insert("api_token".into(), TOKEN.into());
        config.variables.insert("allowed_private_targets".into(), "127.0.0.1".into());
        for (name, value) in self.variables {
            config.variables.insert(name.to_string(), value.to_string());
        }
        let host = RunningHost::start(config).await.expect("starting the host");
        TestHookah { host, store: self.store }
    }
}

impl TestHookah {
    /// A host with its own store; receivers on 127.0.0.1 are allowed as targets.
    pub async fn start() -> TestHookah {
        Self::start_with(&[]).await
    }

    pub async fn start_with(variables: &[(&str, &str)]) -> TestHookah {
        Launch::new(variables).start().await
    }

    /// A host whose cron trigger fires the sweeper on spin.toml's schedule.
    pub async fn start_with_cron(variables: &[(&str, &str)]) -> TestHookah {
        Launch::new(variables).with_cron().start().await
    }

    /// A host running `manifest` (next to spin.toml, sharing its components).
    pub async fn start_from(manifest: PathBuf, variables: &[(&str, &str)]) -> TestHookah {
        Launch::new(variables).from(manifest).start().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host.addr())
    }

    /// Sends with the API token.
    pub async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let auth = format!("Bearer {TOKEN}");
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        send(method, &self.url(path), &all, body).await
    }

    /// Submits a webhook call and expects a 202; returns the job id.
    pub async fn submit(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
        let response = self.call(method, path, headers, body).await;
        assert_eq!(response.status, 202, "{}", String::from_utf8_lossy(&response.body));
        response.json()["id"].as_str().unwrap().to_string()
    }

    pub async fn job(&self, id: &str) -> Value {
        let response = self.call("GET", &format!("/_hookah/v1/jobs/{id}"), &[], b"").await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        response.json()
    }

    pub async fn sweep(&self) -> Value {
        let response = self.call("POST", "/_hookah/v1/sweep", &[], b"").await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        response.json()
    }

    pub fn advance(&self, by: Duration) {
        self.host.clock().advance(by);
    }

    /// Polls the job (bounded) until `done` holds for it; panics with its last view otherwise.
    pub async fn wait_job(&self, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job never got there within {within:?}: {job:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the job reached `state` with its attempt recorded.
    pub async fn wait_state(&self, id: &str, state: &str) -> Value {
        self.wait_job(id, super::WAIT, |job| job["state"] == state && job["in_flight"] == false).await
    }

    /// How many keys the store holds (tests of "nothing stored").
    pub fn stored_keys(&self) -> usize {
        self.store.stored_keys()
    }
}
