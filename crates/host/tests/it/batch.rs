//! `POST /_hookah/v1/batch` on the real components: a batch is delivered, a batch with one bad
//! call stores nothing, and the limits are 413s.

use crate::support::{Receiver, TestHookah, WAIT};
use serde_json::{json, Value};

/// `n` calls to the receiver, each its own path and body.
fn calls(receiver: &Receiver, n: usize) -> Value {
    (0..n)
        .map(|i| {
            json!({
                "url": format!("http://{}/b/{i}", receiver.host_port()),
                "headers": { "content-type": "application/json", "x-call": i.to_string() },
                "body": format!("{{\"n\":{i}}}"),
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_50_is_delivered_in_call_order_of_its_answer() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let response = hookah.call("POST", "/_hookah/v1/batch", &[], calls(&receiver, 50).to_string().as_bytes()).await;
    assert_eq!(response.status, 202, "{}", String::from_utf8_lossy(&response.body));
    let jobs = response.json()["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 50);
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(job["target"], format!("http://{}/b/{i}", receiver.host_port()), "in call order");
    }

    let mut got: Vec<(String, Vec<u8>, Option<String>)> = receiver
        .wait_for(50, WAIT)
        .await
        .into_iter()
        .map(|r| (r.path_and_query.clone(), r.body.clone(), r.header("x-call").map(String::from)))
        .collect();
    got.sort();
    let mut expected: Vec<(String, Vec<u8>, Option<String>)> =
        (0..50).map(|i| (format!("/b/{i}"), format!("{{\"n\":{i}}}").into_bytes(), Some(i.to_string()))).collect();
    expected.sort();
    assert_eq!(got, expected);
    for job in &jobs {
        let job = hookah.wait_state(job["id"].as_str().unwrap(), "delivered").await;
        assert_eq!(job["attempt_count"], 1);
    }
    // Stats and listings (the dashboard's sources) count batch jobs like any other, once a
    // sweep past their leases has filed them.
    hookah.advance_idle(std::time::Duration::from_secs(70)).await;
    hookah.sweep().await;
    let stats = hookah.call("GET", "/_hookah/v1/stats", &[], b"").await.json();
    assert_eq!(stats["jobs"]["delivered"], 50, "{stats:#}");
    assert_eq!(stats["attempts"]["delivered_total"], 50, "{stats:#}");
    let listed = hookah.call("GET", "/_hookah/v1/jobs?state=delivered&limit=100", &[], b"").await.json();
    let mut listed: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|job| job["id"].as_str().unwrap()).collect();
    let mut ids: Vec<&str> = jobs.iter().map(|job| job["id"].as_str().unwrap()).collect();
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_bad_call_stores_nothing() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let mut batch = calls(&receiver, 10);
    batch[6] = json!({ "url": format!("http://{}/x", receiver.host_port()), "max_attempts": 0 });
    let response = hookah.call("POST", "/_hookah/v1/batch", &[], batch.to_string().as_bytes()).await;
    assert_eq!((response.status, response.error_code()), (400, "bad_control_header".into()));
    let error = &response.json()["error"];
    assert_eq!(error["index"], 6);
    assert!(error["message"].as_str().unwrap().starts_with("call 6: "), "{error}");
    batch[6] = json!({ "url": "http://10.1.2.3/x" });
    let response = hookah.call("POST", "/_hookah/v1/batch", &[], batch.to_string().as_bytes()).await;
    assert_eq!((response.status, response.error_code()), (400, "forbidden_target".into()));
    for bad in ["[", "[]", "{}"] {
        let response = hookah.call("POST", "/_hookah/v1/batch", &[], bad.as_bytes()).await;
        assert_eq!(response.status, 400, "{bad}");
    }
    hookah.idle().await;
    assert_eq!(hookah.stored_keys(), 0, "a refused batch stores nothing");
    assert!(receiver.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_its_limits_is_a_413() {
    let hookah = TestHookah::start_with(&[("batch_max_calls", "3"), ("max_body_bytes", "2000")]).await;
    let receiver = Receiver::start().await;
    let response = hookah.call("POST", "/_hookah/v1/batch", &[], calls(&receiver, 4).to_string().as_bytes()).await;
    assert_eq!((response.status, response.error_code()), (413, "too_many_calls".into()));
    let mut big = calls(&receiver, 1);
    big[0]["body"] = json!("x".repeat(2_000));
    let response = hookah.call("POST", "/_hookah/v1/batch", &[], big.to_string().as_bytes()).await;
    assert_eq!((response.status, response.error_code()), (413, "body_too_large".into()));
    hookah.idle().await;
    assert_eq!(hookah.stored_keys(), 0, "nothing stored");
    let response = hookah.call("POST", "/_hookah/v1/batch", &[], calls(&receiver, 3).to_string().as_bytes()).await;
    assert_eq!(response.status, 202, "at the limit");
    receiver.wait_for(3, WAIT).await;
}
