//! Operability: stats, Prometheus metrics (read by the official Python parser), health with
//! sweep lag, the OpenAPI document against the router, and the structured log lines.

use crate::support::hookah::{built, manifest};
use crate::support::{send, Answer, HostProcess, Receiver, TestHookah, TestStore, TOKEN};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Installs a PyPI package for the test when Python lacks it (as the signing test does).
fn python_with(module: &str, package: &str) {
    let has_it = Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !has_it {
        let status = Command::new("python3").args(["-m", "pip", "install", "--quiet", package]).status().expect("pip");
        assert!(status.success(), "installing {package}");
    }
}

/// Runs a Python script with `input` on stdin; returns its stdout.
fn python(script: &str, input: &[u8]) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Every sample of a Prometheus exposition as `[name, labels, value]`, parsed by
/// `prometheus_client`'s own text parser.
fn parse_exposition(text: &str) -> Vec<Value> {
    python_with("prometheus_client", "prometheus-client==0.26.0");
    let script = "import sys, json\nfrom prometheus_client.parser import text_string_to_metric_families\n\
        print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))";
    serde_json::from_str(&python(script, text.as_bytes())).unwrap()
}

fn sample(samples: &[Value], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    samples.iter().find(|s| s[0] == name && label.is_none_or(|(k, v)| s[1][k] == v)).map(|s| s[2].as_f64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_metrics_follow_deliveries_and_failures() {
    let hookah = TestHookah::start_with(&[("metrics_token", "scrape-only")]).await;
    let good = Receiver::start().await;
    let bad = Receiver::start().await;
    bad.answer(|_, _| Answer::status(500));
    let mut delivered = Vec::new();
    for i in 0..3 {
        delivered
            .push(hookah.submit("POST", &format!("/{}/ok", good.host_port()), &[], format!("{i}").as_bytes()).await);
    }
    let mut failing = Vec::new();
    for _ in 0..2 {
        failing.push(hookah.submit("POST", &format!("/{}/fail", bad.host_port()), &[], b"x").await);
    }
    for id in &delivered {
        hookah.wait_state(id, "delivered").await;
    }
    for id in &failing {
        hookah.wait_job(id, WAIT, |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    }
    // Past the first attempts' leases: the sweep files the delivered jobs and retries the others.
    hookah.advance_idle(Duration::from_secs(70)).await;
    let report = hookah.sweep().await;
    assert_eq!(report["claimed"], 2, "{report}");

    let unauthorized = send("GET", &hookah.url("/_hookah/v1/stats"), &[], b"").await;
    assert_eq!((unauthorized.status, unauthorized.error_code().as_str()), (401, "unauthorized"));
    let stats = hookah.call("GET", "/_hookah/v1/stats", &[], b"").await;
    assert_eq!(stats.status, 200, "{}", String::from_utf8_lossy(&stats.body));
    let stats = stats.json();
    assert_eq!(stats["jobs"]["delivered"], 3, "{stats:#}");
    assert_eq!(stats["jobs"]["pending"], 2, "{stats:#}");
    assert_eq!(stats["attempts"]["delivered_total"], 3, "{stats:#}");
    // The first failures are counted now; the retries' when a sweep next sees them.
    assert_eq!(stats["attempts"]["failed_total"], 2, "{stats:#}");
    assert_eq!(stats["attempts"]["per_minute"].as_array().unwrap().len(), 60);
    assert_eq!(stats["failing_hosts"][0]["host"], bad.host_port());
    assert_eq!(stats["failing_hosts"][0]["failures"], 2);
    assert_eq!(stats["failing_hosts"][0]["last_error"], "HTTP 500");
    assert_eq!(stats["first_attempt_latency"]["count"], 5);
    assert!(stats["first_attempt_latency"]["p50_ms"].is_u64(), "{stats:#}");
    assert_eq!(stats["backlog"]["lag_ms"], 0, "{stats:#}");
    assert_eq!(stats["last_sweep"]["claimed"], 2);
    let bad_method = hookah.call("POST", "/_hookah/v1/stats", &[], b"").await;
    assert_eq!(bad_method.status, 405);

    let metrics = send("GET", &hookah.url("/_hookah/metrics"), &[("authorization", "Bearer scrape-only")], b"").await;
    assert_eq!(metrics.status, 200, "{}", String::from_utf8_lossy(&metrics.body));
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let samples = parse_exposition(&String::from_utf8(metrics.body).unwrap());
    assert_eq!(sample(&samples, "hookah_jobs", Some(("state", "delivered"))), Some(3.0));
    assert_eq!(sample(&samples, "hookah_attempts_total", Some(("outcome", "failed"))), Some(2.0));
    let host = bad.host_port();
    assert_eq!(sample(&samples, "hookah_target_host_failures", Some(("target_host", host.as_str()))), Some(2.0));
    assert_eq!(sample(&samples, "hookah_first_attempt_latency_seconds_count", None), Some(5.0));
    assert_eq!(sample(&samples, "hookah_sweep_lag_seconds", None), Some(0.0));
    // The metrics token reads metrics and nothing else; the API token reads both.
    let scoped = send("GET", &hookah.url("/_hookah/v1/stats"), &[("authorization", "Bearer scrape-only")], b"").await;
    assert_eq!(scoped.status, 401);
    assert_eq!(hookah.call("GET", "/_hookah/metrics", &[], b"").await.status, 200);
    let nobody = send("GET", &hookah.url("/_hookah/metrics"), &[("authorization", "Bearer wrong")], b"").await;
    assert_eq!((nobody.status, nobody.error_code().as_str()), (401, "unauthorized"));
}

async fn health(hookah: &TestHookah) -> Value {
    let response = send("GET", &hookah.url("/_hookah/health"), &[], b"").await;
    assert_eq!(response.status, 200, "health is public and always 200");
    response.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_degraded_while_due_work_waits_for_a_sweep() {
    // No sweeps in passing either: the health request would sweep after its answer.
    let hookah = TestHookah::start_with(&[("sweep_in_passing", "false")]).await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(503));
    assert_eq!(health(&hookah).await["status"], "ok");
    let id = hookah.submit("POST", &format!("/{}/h", receiver.host_port()), &[], b"{}").await;
    hookah.wait_job(&id, WAIT, |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    // A sweep that sets the cursor, then ten minutes with no sweep while the retry is due.
    hookah.advance_idle(Duration::from_secs(40)).await;
    hookah.sweep().await;
    hookah.advance_idle(Duration::from_secs(600)).await;
    let degraded = health(&hookah).await;
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    assert!(degraded["reason"].as_str().unwrap().contains("sweep lag"), "{degraded}");
    assert!(degraded["sweep_lag_ms"].as_u64().unwrap() > 120_000, "{degraded}");
    let report = hookah.sweep().await;
    assert_eq!(report["claimed"], 1, "{report}");
    assert!(report["lag_ms"].as_u64().unwrap() > 120_000, "the sweep reports the lag it found: {report}");
    assert_eq!(health(&hookah).await["status"], "ok");
}

/// Paths of the OpenAPI document with sample values for their parameters.
fn concrete(path: &str) -> String {
    path.replace("{channel}", "orders")
        .replace("{id}", "job_0000000000000000000000000")
        .replace("{sweep_token}", SWEEP_TOKEN)
        .replace("{key}", "tenant%207")
}

const SWEEP_TOKEN: &str = "openapi-sweep-token-0123";

/// Whether `path` fits the OpenAPI path `template` (a `{parameter}` stands for one segment).
fn matches_template(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template.iter().zip(&path).all(|(t, p)| t == p || (t.starts_with('{') && *t != "{target}"))
}

/// Served unless the router answered "no such route" or "method not allowed".
async fn served(hookah: &TestHookah, method: &str, path: &str) -> bool {
    let response = hookah.call(method, path, &[], b"").await;
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
    let unrouted = response.status == 404 && (message.starts_with("no API route") || message.starts_with("no such"));
    response.status != 405 && !unrouted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_router_and_validates() {
    let hookah = TestHookah::start_with(&[("sweep_token", SWEEP_TOKEN)]).await;
    let response = send("GET", &hookah.url("/_hookah/openapi.json"), &[], b"").await;
    assert_eq!(response.status, 200, "public");
    let committed = std::fs::read(manifest().parent().unwrap().join("openapi.json")).unwrap();
    assert_eq!(response.body, committed, "the served document is the committed one");

    python_with("openapi_spec_validator", "openapi-spec-validator==0.9.0");
    let script =
        "import sys, json\nfrom openapi_spec_validator import validate\nvalidate(json.load(sys.stdin))\nprint('valid')";
    assert_eq!(python(script, &committed).trim(), "valid");

    let document: Value = serde_json::from_slice(&committed).unwrap();
    let methods = ["get", "post", "put", "patch", "delete"];
    let mut documented_segments = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        documented_segments.extend(path.split('/').map(String::from));
        if path == "/{target}" {
            continue; // Every other path is a submission; the delivery tests cover it.
        }
        for method in methods {
            let documented = operations.get(method).is_some();
            let is_served = served(&hookah, &method.to_uppercase(), &concrete(path)).await;
            assert_eq!(documented, is_served, "{method} {path}: documented {documented}, served {is_served}");
        }
        // Nothing undocumented hangs below a documented API path. (A public key's id and the
        // sweep token take the rest of the path, so nothing can hang below them.)
        let below = format!("{path}/unlisted");
        let templates = document["paths"].as_object().unwrap().keys();
        let documented_below = templates.clone().any(|template| matches_template(template, &below));
        let takes_the_rest = ["/_hookah/public-keys/", "/_hookah/v1/sweep/"].iter().any(|p| path.starts_with(p));
        if !documented_below && !takes_the_rest {
            let below = concrete(&below);
            assert!(!served(&hookah, "GET", &below).await, "GET {below} is served but not documented");
        }
    }
    // Every literal path segment the router matches on is in some documented path.
    let api = manifest().parent().unwrap().join("crates/core/src/api");
    for entry in std::fs::read_dir(api).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in source.lines().filter(|line| line.trim_start().starts_with('[') || line.contains("([")) {
            let Some(pattern) = line.split('[').nth(1).and_then(|rest| rest.split(']').next()) else { continue };
            for literal in pattern.split(',').filter_map(|part| part.trim().strip_prefix('"')?.strip_suffix('"')) {
                assert!(documented_segments.contains(literal), "route segment `{literal}` is not documented: {line}");
            }
        }
        for literal in source.split("\"/_hookah/").skip(1).filter_map(|rest| rest.split('"').next()) {
            let prefix = format!("/_hookah/{literal}");
            let documented = document["paths"].as_object().unwrap().keys().any(|path| path.starts_with(&prefix))
                || documented_segments.contains(literal.trim_end_matches('/'));
            assert!(documented, "route /_hookah/{literal} is not documented");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_and_sweeps_log_one_json_line_each_without_secrets() {
    built().await;
    let store = TestStore::new();
    let host = HostProcess::start(&store, 0);
    let receiver = Receiver::start().await;
    let auth = format!("Bearer {TOKEN}");
    let headers = [("authorization", auth.as_str()), ("x-receiver-key", "receiver-secret-123")];
    let url = format!("http://{}/{}/logged", host.addr, receiver.host_port());
    let response = send("POST", &url, &headers, b"top-secret-body").await;
    assert_eq!(response.status, 202);
    let id = response.json()["id"].as_str().unwrap().to_string();
    receiver.wait_for(1, WAIT).await;

    let attempt = host.wait_line(|line| line["event"] == "attempt" && line["job"] == id.as_str()).await;
    assert_eq!(attempt["target_host"], receiver.host_port());
    assert_eq!((attempt["attempt"].as_u64(), attempt["status"].as_u64()), (Some(1), Some(200)));
    assert_eq!(attempt["state"], "delivered");
    assert!(attempt["duration_ms"].is_u64() && attempt["time"].as_str().unwrap().ends_with('Z'), "{attempt}");

    let swept = send("POST", &format!("http://{}/_hookah/v1/sweep", host.addr), &headers[..1], b"").await;
    assert_eq!(swept.status, 200);
    let sweep = host.wait_line(|line| line["event"] == "sweep").await;
    assert!(sweep["lag_ms"].is_u64() && sweep["slots"].is_u64(), "{sweep}");
    for line in host.lines.lock().unwrap().iter() {
        for secret in ["top-secret-body", "receiver-secret-123", TOKEN] {
            assert!(!line.contains(secret), "a log line holds `{secret}`: {line}");
        }
    }
}
