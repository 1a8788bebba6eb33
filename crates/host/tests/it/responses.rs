//! Response handling: inline mode, callback reports, the attempt log, listing, retry, cancel,
//! bulk replay and idempotency keys.

use crate::support::{Answer, Launch, Lift, Receiver, TestHookah, WAIT};
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

/// Lets each finished job's lease timer fire, so the sweeper files it under its final state.
async fn settle(hookah: &TestHookah) {
    hookah.advance_idle(Duration::from_secs(61)).await;
    for _ in 0..20 {
        if hookah.sweep().await["slots"] == 0 {
            return;
        }
    }
    panic!("sweeps never ran dry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_mode_answers_with_the_receivers_response() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(201).with_header("x-receiver", "yes").with_body(b"created!"));
    let target = format!("/{}/sync", receiver.host_port());
    let response = hookah.call("POST", &target, &[("hookah-mode", "sync")], b"{}").await;
    assert_eq!(response.status, 201);
    assert_eq!(response.body, b"created!");
    assert_eq!(response.header("x-receiver"), Some("yes"));
    let id = response.header("hookah-job-id").unwrap().to_string();
    assert_eq!(response.header("hookah-job-state"), Some("delivered"));
    assert_eq!(hookah.job(&id).await["state"], "delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_mode_passes_a_failure_on_and_keeps_retrying() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, index| if index == 0 { Answer::status(500).with_body(b"boom") } else { Answer::status(200) });
    let target = format!("/{}/sync", receiver.host_port());
    let response = hookah.call("POST", &target, &[("hookah-mode", "sync")], b"{}").await;
    assert_eq!((response.status, response.body.as_slice()), (500, &b"boom"[..]));
    assert_eq!(response.header("hookah-retrying"), Some("true"));
    let id = response.header("hookah-job-id").unwrap().to_string();
    hookah.advance_idle(Duration::from_secs(7)).await;
    hookah.sweep().await;
    // That sweep, or one in passing after a request it overlapped, makes the retry.
    hookah.wait_state(&id, "delivered").await;

    // A receiver that stalls past Hookah-Wait: a 504, and the job stays pending.
    receiver.answer(|_, _| Answer::status(200).held());
    let response = hookah.call("POST", &target, &[("hookah-mode", "sync"), ("hookah-wait", "1")], b"{}").await;
    assert_eq!((response.status, response.error_code()), (504, "upstream_timeout".to_string()));
    assert_eq!(response.header("hookah-retrying"), Some("true"));
    let id = response.header("hookah-job-id").unwrap().to_string();
    assert_eq!(hookah.job(&id).await["state"], "pending");
}

async fn reports(callback: &Receiver, n: usize) -> Vec<Value> {
    callback.wait_for(n, WAIT).await.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_report_arrives_once_per_ended_job_and_is_retried() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(200).with_body(b"thanks"));
    let callback = Receiver::start().await;
    callback.answer(|_, index| Answer::status(if index == 0 { 503 } else { 204 }));
    let callback_url = format!("http://{}/reports", callback.host_port());
    let id = hookah
        .submit("POST", &format!("/{}/hook", receiver.host_port()), &[("hookah-callback", &callback_url)], b"{}")
        .await;
    hookah.wait_state(&id, "delivered").await;
    hookah.idle().await; // the report is stored
                         // The report is a job of its own: its first delivery fails, a sweep retries it.
    for _ in 0..3 {
        hookah.advance_idle(Duration::from_secs(10)).await;
        hookah.sweep().await;
    }
    let got = reports(&callback, 2).await;
    assert_eq!(got[0], got[1], "the retry carries the same report");
    let report = &got[1];
    assert_eq!(report["type"], "job.ended");
    assert_eq!(report["job_id"], id);
    assert_eq!(report["state"], "delivered");
    assert_eq!(report["attempt_count"], 1);
    assert_eq!(report["last_response"]["status"], 200);
    assert_eq!(report["last_response"]["body"], "thanks");
    let requests = callback.requests();
    assert_eq!(requests[0].header("webhook-id"), requests[1].header("webhook-id"));
    settle(&hookah).await;
    assert_eq!(callback.requests().len(), 2, "no report about the report, no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_events_can_include_every_attempt() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, index| Answer::status(if index == 0 { 500 } else { 200 }));
    let callback = Receiver::start().await;
    let callback_url = format!("http://{}/r", callback.host_port());
    let headers = [("hookah-callback", callback_url.as_str()), ("hookah-callback-events", "attempts")];
    let id = hookah.submit("POST", &format!("/{}/hook", receiver.host_port()), &headers, b"{}").await;
    hookah.wait_job(&id, WAIT, |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    hookah.idle().await; // the first report is stored
    hookah.advance_idle(Duration::from_secs(8)).await;
    hookah.sweep().await; // the retry (delivered) and the first report
    hookah.advance_idle(Duration::from_secs(2)).await;
    hookah.sweep().await; // the second report
    let mut kinds: Vec<String> =
        reports(&callback, 2).await.iter().map(|r| format!("{} {}", r["type"], r["state"])).collect();
    kinds.sort();
    assert_eq!(kinds, vec![r#""job.attempted" "pending""#, r#""job.ended" "delivered""#]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attempt_log_keeps_requests_and_responses() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let big = vec![b'z'; 20_000];
    let binary = vec![0xff, 0xfe, 0x00, 0x01];
    let (big_answer, binary_answer) = (big.clone(), binary.clone());
    receiver.answer(move |_, index| match index {
        0 => Answer::status(500).with_body(&big_answer),
        1 => Answer::status(502).with_body(&binary_answer),
        _ => Answer::status(200).with_body(b"fine"),
    });
    let id = hookah
        .submit("POST", &format!("/{}/log", receiver.host_port()), &[("x-api-key", "s3cret"), ("x-trace", "t1")], b"{}")
        .await;
    hookah.wait_job(&id, WAIT, |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    for _ in 0..2 {
        hookah.advance_idle(Duration::from_secs(400)).await;
        hookah.sweep().await;
    }
    let response = hookah.call("GET", &format!("/_hookah/v1/jobs/{id}/attempts"), &[], b"").await;
    let log = response.json();
    let attempts = log["data"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{log:#}");
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[0]["response_body"].as_str().unwrap().len(), 16_384);
    assert_eq!(attempts[0]["response_truncated"], true);
    assert_eq!(attempts[1]["response_body_encoding"], "base64");
    assert_eq!(attempts[1]["response_body"], "//4AAQ==");
    assert_eq!(attempts[2]["response_body"], "fine");
    let sent: Vec<(String, String)> = serde_json::from_value(attempts[2]["request_headers"].clone()).unwrap();
    assert!(sent.contains(&("x-api-key".into(), "[REDACTED]".into())), "{sent:?}");
    assert!(sent.contains(&("x-trace".into(), "t1".into())));
    assert!(!log.to_string().contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_return_each_job_exactly_once() {
    let hookah = TestHookah::start_with(&[("sweep_batch", "1000")]).await;
    let receiver = Receiver::start().await;
    let mut ids = HashSet::new();
    for _ in 0..120 {
        ids.insert(hookah.submit("POST", &format!("/{}/l", receiver.host_port()), &[], b"{}").await);
    }
    receiver.wait_for(120, WAIT).await;
    for id in &ids {
        hookah.wait_state(id, "delivered").await;
    }
    settle(&hookah).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let query = match &cursor {
            Some(c) => format!("/_hookah/v1/jobs?state=delivered&limit=50&cursor={c}"),
            None => "/_hookah/v1/jobs?state=delivered&limit=50".to_string(),
        };
        let page = hookah.call("GET", &query, &[], b"").await.json();
        seen.extend(page["data"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), ids);
    for bad in ["state=nope", "state=dead&cursor=x", "state=dead&limit=0", "limit=5", "state=dead&color=red"] {
        let response = hookah.call("GET", &format!("/_hookah/v1/jobs?{bad}"), &[], b"").await;
        assert_eq!(response.status, 400, "{bad}");
    }
    let bad = hookah.call("POST", "/_hookah/v1/jobs/retry", &[], br#"{"state":"pending"}"#).await;
    assert_eq!((bad.status, bad.error_code()), (400, "bad_filter".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_redelivers_a_finished_job_and_cancel_stops_a_pending_one() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let id = hookah.submit("POST", &format!("/{}/again", receiver.host_port()), &[], b"once").await;
    hookah.wait_state(&id, "delivered").await;
    let retried = hookah.call("POST", &format!("/_hookah/v1/jobs/{id}/retry"), &[], b"").await;
    assert_eq!(retried.status, 202);
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1].header("webhook-id"), Some(id.as_str()));
    assert_eq!(got[1].body, b"once");
    assert_eq!(hookah.wait_state(&id, "delivered").await["attempt_count"], 2);

    receiver.answer(|_, _| Answer::status(500));
    let doomed = hookah.submit("POST", &format!("/{}/cancel", receiver.host_port()), &[], b"{}").await;
    hookah.wait_job(&doomed, WAIT, |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    let cancelled = hookah.call("DELETE", &format!("/_hookah/v1/jobs/{doomed}"), &[], b"").await;
    assert_eq!(cancelled.json()["state"], "cancelled");
    settle(&hookah).await;
    assert_eq!(receiver.requests().len(), 3, "no attempt after the cancel");
    let again = hookah.call("DELETE", &format!("/_hookah/v1/jobs/{doomed}"), &[], b"").await;
    assert_eq!((again.status, again.error_code()), (409, "already_finished".to_string()));
    let page = hookah.call("GET", "/_hookah/v1/jobs?state=cancelled", &[], b"").await.json();
    assert_eq!(page["data"][0]["id"], doomed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_replay_of_500_dead_jobs_redelivers_all_500() {
    // Sized beyond a standard plan: 500 dead jobs held are more keys than a store holds there
    // (1,024), and their 1,000 deliveries more than an app may send in an hour (500).
    let variables = [("sweep_batch", "2000"), ("sweep_concurrency", "64")];
    let hookah = Launch::new(&variables).lifting(&[Lift::KeyCap, Lift::OutboundCap]).start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(500));
    let target = format!("/{}/replay", receiver.host_port());
    let mut ids = HashSet::new();
    for _ in 0..500 {
        ids.insert(hookah.submit("POST", &target, &[("hookah-max-attempts", "1")], b"{}").await);
    }
    receiver.wait_for(500, WAIT).await;
    for id in &ids {
        hookah.wait_state(id, "dead").await;
    }
    settle(&hookah).await;
    receiver.answer(|_, _| Answer::status(200));

    let mut requeued = 0;
    let mut cursor = Value::Null;
    for _ in 0..10 {
        let filter =
            serde_json::json!({"state": "dead", "limit": 200, "cursor": cursor, "target_prefix": "http://127.0.0.1"});
        let report = hookah.call("POST", "/_hookah/v1/jobs/retry", &[], filter.to_string().as_bytes()).await.json();
        requeued += report["requeued"].as_u64().unwrap();
        cursor = report["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(requeued, 500);
    // All to one target: a sweep starts at most `sweep_concurrency` (32) attempts at once, within
    // `target_concurrency` (100), and the claims waiting for their start hold no place, so none
    // is held back.
    // Deliveries are counted at the receiver: the sweep in passing after a replay request's
    // answer may make some of them.
    let mut held_back = 0;
    for _ in 0..20 {
        hookah.advance_idle(Duration::from_secs(2)).await;
        let report = hookah.sweep().await;
        held_back += report["held_back"].as_u64().unwrap();
        if receiver.requests().len() >= 1_000 {
            break;
        }
    }
    let got = receiver.wait_for(1_000, WAIT).await;
    assert_eq!(got.len(), 1_000, "each of the 500 delivered once more");
    assert_eq!(held_back, 0, "claims waiting in a sweep are not in flight");
    let redelivered: HashSet<String> = got[500..].iter().map(|r| r.header("webhook-id").unwrap().to_string()).collect();
    assert_eq!(redelivered, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_return_the_original_job_even_under_concurrency() {
    let hookah = std::sync::Arc::new(TestHookah::start().await);
    let receiver = Receiver::start().await;
    let target = format!("/{}/idem", receiver.host_port());
    let first = hookah.call("POST", &target, &[("idempotency-key", "order-1")], b"{\"a\":1}").await;
    let again = hookah.call("POST", &target, &[("idempotency-key", "order-1")], b"{\"a\":1}").await;
    assert_eq!(first.status, 202);
    assert_eq!(again.status, 202);
    assert_eq!(first.json()["id"], again.json()["id"]);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = hookah.call("POST", &target, &[("idempotency-key", "order-1")], b"{\"a\":2}").await;
    assert_eq!((other.status, other.error_code()), (422, "idempotency_mismatch".to_string()));

    let racers: Vec<_> = (0..20)
        .map(|_| {
            let (hookah, target) = (hookah.clone(), target.clone());
            tokio::spawn(async move { hookah.call("POST", &target, &[("idempotency-key", "order-2")], b"{}").await })
        })
        .collect();
    let mut created = HashSet::new();
    for racer in racers {
        let response = racer.await.unwrap();
        match response.status {
            202 => {
                created.insert(response.json()["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(response.error_code(), "idempotency_conflict"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created.len(), 1, "one job for one key");
    for id in created.iter().chain([first.json()["id"].as_str().unwrap().to_string()].iter()) {
        hookah.wait_state(id, "delivered").await;
    }
    settle(&hookah).await;
    assert_eq!(receiver.requests().len(), 2, "order-1 once, order-2 once");
}
