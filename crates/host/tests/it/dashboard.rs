//! The dashboard in a real browser: headless Debian Chromium driven by `playwright-core`
//! (tests/browser/dashboard.mjs) against the real components.

use crate::support::{send, Answer, Receiver, TestHookah, TOKEN};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_opens_a_delivered_job_and_retries_it() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let id = hookah.submit("POST", &format!("/{}/ui", receiver.host_port()), &[], br#"{"hello":"ui"}"#).await;
    hookah.wait_state(&id, "delivered").await;
    let failing = Receiver::start().await;
    failing.answer(|_, _| Answer::status(500));
    let dead_path = format!("/{}/down", failing.host_port());
    let dead = hookah.submit("POST", &dead_path, &[("hookah-max-attempts", "1")], b"{}").await;
    hookah.wait_state(&dead, "dead").await;
    // A channel with a subscription (no intent check, so no request reaches the receiver).
    let channel = hookah.call("PUT", "/_hookah/v1/channels/orders", &[], br#"{"verify_intent": false}"#).await;
    assert_eq!(channel.status, 200);
    let body = format!(r#"{{"url": "http://{}/orders"}}"#, receiver.host_port());
    let subscribed = hookah.call("POST", "/_hookah/v1/channels/orders/subscriptions", &[], body.as_bytes()).await;
    assert_eq!(subscribed.status, 201);
    // A flow with stored settings, running until the dashboard pauses it.
    let flow = hookah.call("PUT", "/_hookah/v1/flows/tenant%207", &[], br#"{"rate": 5}"#).await;
    assert_eq!(flow.status, 201);
    // A sweep makes the attempt of a delayed job (which also fails), but the clock moves only
    // that far: the jobs are not filed (that waits for their leases' end), and the dashboard
    // must show them all the same, as soon as their outcomes are in.
    let delayed = [("hookah-max-attempts", "1"), ("hookah-delay", "1")];
    hookah.submit("POST", &format!("/{}/later", failing.host_port()), &delayed, b"{}").await;
    // The submission's sweep in passing has ended before the clock moves.
    hookah.idle().await;
    hookah.advance_idle(Duration::from_secs(3)).await;
    assert_eq!(hookah.sweep().await["claimed"], 1);

    let page = send("GET", &hookah.url("/_hookah/ui"), &[], b"").await;
    assert_eq!(page.status, 200, "the dashboard's files are public");
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
    assert!(!String::from_utf8_lossy(&page.body).contains("<script>"), "no inline script");

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm").args(["install", "--no-audit", "--no-fund"]).current_dir(&dir).status();
        assert!(status.expect("npm").success(), "installing playwright-core");
    }
    // Screenshots go to docs/ when asked for (to refresh the README's), else to a temp dir.
    let temp = tempfile::tempdir().unwrap();
    let shots = match std::env::var_os("HOOKAH_UPDATE_SCREENSHOTS") {
        Some(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs"),
        None => temp.path().to_path_buf(),
    };
    let base = hookah.url("");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("dashboard.mjs")
            .args([base.as_str(), TOKEN, id.as_str()])
            .arg(&shots)
            .arg(dead.as_str())
            .current_dir(&dir)
            .output()
            .expect("node")
    })
    .await
    .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && log.contains("dashboard ok"), "{log}");
    assert_eq!(receiver.requests().len(), 2, "the retry button made a real second delivery");
    assert_eq!(failing.requests().len(), 2);
    let flow = hookah.call("GET", "/_hookah/v1/flows/tenant%207", &[], b"").await;
    assert_eq!(flow.json()["paused"], true, "the Pause button paused the flow");
}
