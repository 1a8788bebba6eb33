//! The host binary as a separate process: killed hard (on drop too) and restarted on the same store.

use super::client::{send, Response};
use super::hookah::manifest;
use super::limits::{profile_name, suite_limits, toml_table, Lift};
use super::store::TestStore;
use super::TOKEN;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct HostProcess {
    pub child: Child,
    pub addr: String,
    /// Its stdout (guest output included), line by line.
    pub lines: Arc<Mutex<Vec<String>>>,
    /// Holds its runtime config, if it has one of its own.
    _config_dir: tempfile::TempDir,
}

impl HostProcess {
    pub fn start(store: &TestStore, clock_offset_secs: u64) -> HostProcess {
        Self::start_with(store, clock_offset_secs, &[])
    }

    pub fn start_with(store: &TestStore, clock_offset_secs: u64, variables: &[(&str, &str)]) -> HostProcess {
        Self::start_lifting(store, clock_offset_secs, variables, &[])
    }

    /// Under the suite's limits (`support/limits.rs`) less those `lifted`: `--limits` names a
    /// whole profile, so other limits go in a `[limits]` table of a runtime config of its own.
    pub fn start_lifting(
        store: &TestStore,
        clock_offset_secs: u64,
        variables: &[(&str, &str)],
        lifted: &[Lift],
    ) -> HostProcess {
        let limits = suite_limits(lifted);
        let config_dir = tempfile::tempdir().unwrap();
        let store_args = match profile_name(&limits) {
            _ if limits.is_none() => store.cli_args(),
            Some(profile) => [store.cli_args(), vec!["--limits".into(), profile.into()]].concat(),
            None => store.cli_args_adding(&toml_table(&limits), config_dir.path()),
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookah-host"));
        for (name, value) in variables {
            command.env(format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()), value);
        }
        let mut child = command
            .args(["up", "--no-cron", "--listen", "127.0.0.1:0"])
            .arg("--manifest")
            .arg(manifest())
            .args(store_args)
            .args(["--clock-offset-secs", &clock_offset_secs.to_string()])
            .env("SPIN_VARIABLE_API_TOKEN", TOKEN)
            .env("SPIN_VARIABLE_ALLOWED_PRIVATE_TARGETS", "127.0.0.1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning hookah-host");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Serving http://") {
                    let _ = tx.send(addr.trim().to_string());
                }
                collected.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the host never said it was serving");
        HostProcess { child, addr, lines, _config_dir: config_dir }
    }

    /// Waits (bounded) for a JSON line of its output that `wanted` accepts.
    pub async fn wait_line(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + super::WAIT;
        loop {
            let found = self.lines.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).find(&wanted);
            if let Some(line) = found {
                return line;
            }
            assert!(Instant::now() < deadline, "no such line in {:#?}", self.lines.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown, no cleanup; returns once the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: the host stops taking requests and lets guest work finish (up to its 30 s grace);
    /// waits at most 40 s for the process to go, then kills it. Says whether it went by itself.
    pub fn stop(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn call(&self, method: &str, path: &str, body: &[u8]) -> Response {
        self.call_with(method, path, &[], body).await
    }

    pub async fn call_with(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let auth = format!("Bearer {TOKEN}");
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        send(method, &self.url(path), &all, body).await
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
