//! A flow's stored settings through the real components: store, read, list, pause, resume and
//! delete; a refused body; a job's flow key; a publish that names one.

use crate::support::{Receiver, TestHookah, WAIT};
use serde_json::{json, Value};

const FLOW: &str = "/_hookah/v1/flows/tenant%207%2Feu";

async fn answer(hookah: &TestHookah, method: &str, path: &str, body: &str) -> (u16, Value) {
    let response = hookah.call(method, path, &[("content-type", "application/json")], body.as_bytes()).await;
    (response.status, response.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_is_stored_read_listed_paused_resumed_and_deleted() {
    let hookah = TestHookah::start().await;
    let (status, created) =
        answer(&hookah, "PUT", FLOW, r#"{"rate": 10, "period": "60s", "retry_schedule": "5s,1h"}"#).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["key"], "tenant 7/eu");
    let settings = ["rate", "period", "retry_schedule", "parallelism", "ordered", "paused", "waiting", "in_flight"]
        .map(|field| created[field].clone());
    let expected =
        [json!(10), json!("1m"), json!(["5s", "1h"]), Value::Null, json!(false), json!(false), json!(0), json!(0)];
    assert_eq!(settings, expected, "{created}");
    assert_eq!(answer(&hookah, "GET", FLOW, "").await, (200, created.clone()));

    let (status, replaced) = answer(&hookah, "PUT", FLOW, r#"{"parallelism": 2, "ordered": true}"#).await;
    assert_eq!((status, &replaced["parallelism"], &replaced["rate"]), (200, &json!(2), &Value::Null));
    assert_eq!(replaced["created_at"], created["created_at"]);
    answer(&hookah, "PUT", "/_hookah/v1/flows/other", "{}").await;
    let (status, page) = answer(&hookah, "GET", "/_hookah/v1/flows?limit=1", "").await;
    assert_eq!((status, &page["data"][0]["key"]), (200, &json!("other")), "{page}");
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, next) = answer(&hookah, "GET", &format!("/_hookah/v1/flows?limit=1&cursor={cursor}"), "").await;
    assert_eq!(next["data"][0], replaced, "{next}");

    let (status, paused) = answer(&hookah, "POST", &format!("{FLOW}/pause"), "").await;
    assert_eq!((status, &paused["paused"], &paused["parallelism"]), (200, &json!(true), &json!(2)));
    let (_, stats) = answer(&hookah, "GET", "/_hookah/v1/stats", "").await;
    let shown = stats["flows"].as_array().unwrap().iter().find(|flow| flow["key"] == "tenant 7/eu").cloned();
    assert_eq!(
        shown,
        Some(json!({ "key": "tenant 7/eu", "paused": true, "ordered": true, "waiting": 0, "in_flight": 0 }))
    );
    let metrics = hookah.call("GET", "/_hookah/metrics", &[], b"").await;
    let metrics = String::from_utf8_lossy(&metrics.body);
    assert!(metrics.contains("hookah_flow_waiting{flow=\"tenant 7/eu\"} 0\n"), "{metrics}");
    let (status, resumed) = answer(&hookah, "POST", &format!("{FLOW}/resume"), "").await;
    assert_eq!((status, &resumed["paused"]), (200, &json!(false)));

    let deleted = answer(&hookah, "DELETE", FLOW, "").await;
    assert_eq!(deleted, (200, json!({ "key": "tenant 7/eu", "deleted": true })));
    let (status, missing) = answer(&hookah, "GET", FLOW, "").await;
    assert_eq!((status, &missing["error"]["code"]), (404, &json!("not_found")));
    assert_eq!(answer(&hookah, "POST", &format!("{FLOW}/pause"), "").await.0, 404);
    let (_, page) = answer(&hookah, "GET", "/_hookah/v1/flows", "").await;
    let keys: Vec<&Value> = page["data"].as_array().unwrap().iter().map(|flow| &flow["key"]).collect();
    assert_eq!(keys, [&json!("other")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_and_keys_are_refused_and_store_nothing() {
    let hookah = TestHookah::start().await;
    let before = hookah.stored_keys();
    for (path, body, code) in [
        (FLOW, r#"{"rate": 0}"#, "bad_flow"),
        (FLOW, r#"{"period": "2d"}"#, "bad_flow"),
        (FLOW, r#"{"colour": "red"}"#, "bad_flow"),
        (FLOW, "[]", "bad_flow"),
        ("/_hookah/v1/flows/tab%09key", "{}", "bad_flow_key"),
    ] {
        let (status, error) = answer(&hookah, "PUT", path, body).await;
        assert_eq!((status, error["error"]["code"].as_str()), (400, Some(code)), "{path} {body}: {error}");
    }
    assert_eq!(hookah.stored_keys(), before, "a refused request stores nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_shows_its_flow_key_and_a_publish_may_not_name_one() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let path = format!("/{}/hook", receiver.host_port());
    let keyed = hookah.submit("POST", &path, &[("hookah-flow-key", "tenant-7")], b"{}").await;
    let plain = hookah.submit("POST", &path, &[], b"{}").await;
    assert_eq!(hookah.wait_state(&keyed, "delivered").await["flow_key"], "tenant-7");
    // Without one, its flow is its target host.
    let plain = hookah.wait_job(&plain, WAIT, |job| job["state"] == "delivered").await;
    assert_eq!(plain["flow_key"], receiver.host_port());
    let publish = hookah
        .call(
            "POST",
            "/_hookah/v1/channels/orders/events",
            &[("hookah-event-type", "paid"), ("hookah-flow-key", "x")],
            b"{}",
        )
        .await;
    assert_eq!((publish.status, publish.error_code()), (400, "flow_key_not_allowed".to_string()));
}
