//! Nothing that got a 202 is lost: under load, with overlapping sweeps, and across a hard kill.

use crate::support::hookah::{built, manifest};
use crate::support::{send, Answer, Receiver, TestHookah, TOKEN, WAIT};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_submissions_are_all_delivered() {
    let hookah = std::sync::Arc::new(TestHookah::start().await);
    let receiver = Receiver::start().await;
    let path = format!("/{}/bulk", receiver.host_port());
    let submissions: Vec<_> = (0..1_000)
        .map(|i| {
            let hookah = hookah.clone();
            let path = path.clone();
            tokio::spawn(async move { hookah.submit("POST", &path, &[], format!("{{\"n\":{i}}}").as_bytes()).await })
        })
        .collect();
    let mut ids = Vec::new();
    for submission in submissions {
        ids.push(submission.await.unwrap());
    }
    let got = receiver.wait_for(1_000, WAIT).await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for request in &got {
        *per_id.entry(request.header("webhook-id").unwrap().to_string()).or_default() += 1;
    }
    for id in &ids {
        assert_eq!(per_id.get(id), Some(&1), "{id} delivered once");
    }
    assert_eq!(got.len(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sweeps_never_repeat_an_attempt() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(500));
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(hookah.submit("POST", &format!("/{}/hook", receiver.host_port()), &[], b"{}").await);
    }
    receiver.wait_for(60, WAIT).await;
    hookah.idle().await; // every first attempt is recorded, with its retry's timer
    for id in &ids {
        assert_eq!(hookah.job(id).await["attempt_count"], 1);
    }
    hookah.advance(Duration::from_secs(10));
    // Two HTTP sweeps and the cron component at once.
    let (a, b, c) = tokio::join!(hookah.sweep(), hookah.sweep(), hookah.host.run_cron("hookah-sweeper"));
    c.unwrap();
    let claimed = a["claimed"].as_u64().unwrap() + b["claimed"].as_u64().unwrap();
    let got = receiver.requests();
    assert_eq!(got.len(), 120, "each job attempted exactly once more (http sweeps claimed {claimed})");
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for request in &got {
        *per_id.entry(request.header("webhook-id").unwrap()).or_default() += 1;
    }
    assert!(per_id.values().all(|&n| n == 2), "{per_id:?}");
    for id in &ids {
        assert_eq!(hookah.job(id).await["attempt_count"], 2);
    }
}

/// The host binary, killed hard (on drop too) and restarted on the same store.
pub(crate) struct HostProcess {
    child: Child,
    addr: String,
}

impl HostProcess {
    fn start(kv_path: &std::path::Path, clock_offset_secs: u64) -> HostProcess {
        Self::start_with(kv_path, clock_offset_secs, &[])
    }

    pub(crate) fn start_with(
        kv_path: &std::path::Path,
        clock_offset_secs: u64,
        variables: &[(&str, &str)],
    ) -> HostProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookah-host"));
        for (name, value) in variables {
            command.env(format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()), value);
        }
        let mut child = command
            .args(["up", "--no-cron", "--listen", "127.0.0.1:0"])
            .arg("--manifest")
            .arg(manifest())
            .arg("--kv-path")
            .arg(kv_path)
            .args(["--clock-offset-secs", &clock_offset_secs.to_string()])
            .env("SPIN_VARIABLE_API_TOKEN", TOKEN)
            .env("SPIN_VARIABLE_ALLOWED_PRIVATE_TARGETS", "127.0.0.1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning hookah-host");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Serving http://") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = rx.recv_timeout(WAIT).expect("the host never said it was serving");
        HostProcess { child, addr }
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: &[u8]) -> crate::support::client::Response {
        self.call_with(method, path, &[], body).await
    }

    pub(crate) async fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> crate::support::client::Response {
        let auth = format!("Bearer {TOKEN}");
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        send(method, &format!("http://{}{path}", self.addr), &all, body).await
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_a_hard_kill_between_the_202_and_its_delivery() {
    built().await;
    let dir = tempfile::tempdir().unwrap();
    let kv_path = dir.path().join("kv.db");
    let receiver = Receiver::start().await;
    // The first attempt is never answered, so the host dies with the job in flight.
    receiver.answer(|_, index| if index == 0 { Answer::status(200).held() } else { Answer::status(200) });

    let mut first = HostProcess::start(&kv_path, 0);
    let response = first.call("POST", &format!("/{}/survive", receiver.host_port()), b"precious").await;
    assert_eq!(response.status, 202);
    let id = response.json()["id"].as_str().unwrap().to_string();
    receiver.wait_for(1, WAIT).await;
    first.child.kill().unwrap(); // SIGKILL: no shutdown, no cleanup
    first.child.wait().unwrap();

    // Restarted two minutes "later": the abandoned attempt's lease has run out.
    let second = HostProcess::start(&kv_path, 120);
    let report = second.call("POST", "/_hookah/v1/sweep", b"").await.json();
    assert_eq!(report["claimed"], 1, "{report}");
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1].body, b"precious");
    assert_eq!(got[1].header("webhook-id"), Some(id.as_str()));
    let job = second.call("GET", &format!("/_hookah/v1/jobs/{id}"), b"").await.json();
    assert_eq!(job["state"], "delivered", "{job:#}");
    assert_eq!(job["attempts"][0]["error"], "abandoned");
}
