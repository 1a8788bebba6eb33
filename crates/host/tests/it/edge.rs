//! Hookah where no cron trigger runs (Fermyon Cloud, Akamai Functions, SpinKube's shim): retries
//! go out through sweeps in passing and through the sweep token's route, from `spin-edge.toml`.

use crate::support::hookah::manifest;
use crate::support::{send, Answer, Receiver, TestHookah, TOKEN, WAIT};
use std::time::Duration;

const SWEEP_TOKEN: &str = "edge-sweep-token-0123456789";

fn edge_manifest() -> std::path::PathBuf {
    manifest().with_file_name("spin-edge.toml")
}

/// A host from spin-edge.toml (no cron component at all), with a receiver that fails the first
/// attempt of each job; returns them with the id of a job whose first attempt has failed.
async fn failed_once(variables: &[(&str, &str)]) -> (TestHookah, Receiver, String) {
    let hookah = TestHookah::start_from(edge_manifest(), variables).await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, index| if index == 0 { Answer::status(503) } else { Answer::status(200) });
    let id = hookah.submit("POST", &format!("/{}/edge", receiver.host_port()), &[], b"{}").await;
    hookah.wait_job(&id, WAIT, |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    hookah.idle().await;
    (hookah, receiver, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_edge_toml_is_spin_toml_without_the_cron_parts() {
    let read =
        |path: std::path::PathBuf| -> toml::Table { toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap() };
    let (mut full, edge) = (read(manifest()), read(edge_manifest()));
    full["trigger"].as_table_mut().unwrap().remove("cron");
    full["component"].as_table_mut().unwrap().remove("hookah-sweeper");
    assert_eq!(full, edge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cron_a_retry_goes_out_after_the_next_request_once_it_is_due() {
    let (hookah, receiver, id) = failed_once(&[]).await;
    // Before the retry is due a request sweeps, and finds nothing to do.
    hookah.advance_idle(Duration::from_secs(2)).await;
    send("GET", &hookah.url("/_hookah/health"), &[], b"").await;
    hookah.idle().await;
    assert_eq!(receiver.requests().len(), 1);

    // Once it is due, any request (here a public one) is followed by the sweep that makes it.
    hookah.advance_idle(Duration::from_secs(5)).await;
    let health = send("GET", &hookah.url("/_hookah/health"), &[], b"").await;
    assert_eq!(health.status, 200);
    receiver.wait_for(2, WAIT).await;
    hookah.wait_state(&id, "delivered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_less_scheduler_sweeps_through_the_sweep_token_route() {
    let (hookah, receiver, id) = failed_once(&[("sweep_token", SWEEP_TOKEN), ("sweep_in_passing", "false")]).await;
    hookah.advance_idle(Duration::from_secs(7)).await;
    let bearer = format!("Bearer {TOKEN}");
    for (path, headers) in [
        ("/_hookah/v1/sweep/wrong-token-0123456789".to_string(), vec![]),
        ("/_hookah/v1/sweep/".to_string(), vec![]),
        (format!("/_hookah/v1/sweep/{TOKEN}"), vec![("authorization", bearer.as_str())]),
    ] {
        let response = send("GET", &hookah.url(&path), &headers, b"").await;
        assert_eq!((response.status, response.error_code()), (401, "unauthorized".into()), "{path}");
    }
    let with_sweep_token =
        send("POST", &hookah.url("/_hookah/v1/sweep"), &[("authorization", &format!("Bearer {SWEEP_TOKEN}"))], b"")
            .await;
    assert_eq!(with_sweep_token.status, 401, "the sweep token opens nothing else");
    hookah.idle().await;
    assert_eq!(receiver.requests().len(), 1, "refused calls did no work");

    let started = send("GET", &hookah.url(&format!("/_hookah/v1/sweep/{SWEEP_TOKEN}")), &[], b"").await;
    assert_eq!((started.status, started.json()["sweep"].as_str()), (202, Some("started")));
    receiver.wait_for(2, WAIT).await;
    hookah.wait_state(&id, "delivered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_token_route_is_absent_without_a_token() {
    let hookah = TestHookah::start_from(edge_manifest(), &[]).await;
    let response = send("GET", &hookah.url(&format!("/_hookah/v1/sweep/{SWEEP_TOKEN}")), &[], b"").await;
    assert_eq!((response.status, response.error_code()), (404, "not_found".into()));
}
