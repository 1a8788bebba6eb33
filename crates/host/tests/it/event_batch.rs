//! A batch of events published to a channel (a JSON array to `…/channels/{channel}/events`) on the
//! real components: every event reaches every subscription, and a batch with one bad event stores
//! nothing.

use crate::channels::subscribe;
use crate::support::{Receiver, TestHookah, WAIT};
use serde_json::{json, Value};

const EVENTS: &str = "/_hookah/v1/channels/shop/events";

/// A delivery as the test compares it: path, body, `webhook-event-type`, `content-type`.
type Delivery = (String, Vec<u8>, Option<String>, Option<String>);

/// A host whose channel `shop` has two active subscriptions on `receiver` (`/a` and `/b`).
async fn shop(variables: &[(&str, &str)], receiver: &Receiver) -> TestHookah {
    let hookah = TestHookah::start_with(variables).await;
    hookah.call("PUT", "/_hookah/v1/channels/shop", &[], br#"{"verify_intent": false}"#).await;
    for path in ["a", "b"] {
        let url = format!("http://{}/{path}", receiver.host_port());
        let created = subscribe(&hookah, "shop", json!({ "url": url }), None).await;
        assert_eq!((created.status, &created.json()["status"]), (201, &json!("active")));
    }
    hookah
}

/// `n` events, each its own type and JSON body.
fn events(n: usize) -> Value {
    (0..n)
        .map(|i| json!({ "event_type": format!("order.step{i}"), "content_type": "application/json", "body": format!("{{\"n\":{i}}}") }))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_of_3_events_to_2_subscriptions_makes_6_deliveries() {
    let receiver = Receiver::start().await;
    let hookah = shop(&[], &receiver).await;
    let response = hookah.call("POST", EVENTS, &[], events(3).to_string().as_bytes()).await;
    assert_eq!(response.status, 202, "{}", String::from_utf8_lossy(&response.body));
    let published = response.json()["events"].as_array().unwrap().clone();
    assert_eq!(published.len(), 3);
    for (i, event) in published.iter().enumerate() {
        assert_eq!(event["event_type"], format!("order.step{i}"), "in batch order");
        assert_eq!((event["matched"].as_u64(), event["fanout_complete"].as_bool()), (Some(2), Some(true)));
    }

    let mut got: Vec<Delivery> = receiver
        .wait_for(6, WAIT)
        .await
        .into_iter()
        .map(|r| {
            let event_type = r.header("webhook-event-type").map(String::from);
            (r.path_and_query.clone(), r.body.clone(), event_type, r.header("content-type").map(String::from))
        })
        .collect();
    got.sort();
    let mut expected = Vec::new();
    for path in ["/a", "/b"] {
        for i in 0..3 {
            let body = format!("{{\"n\":{i}}}").into_bytes();
            expected.push((path.to_string(), body, Some(format!("order.step{i}")), Some("application/json".into())));
        }
    }
    expected.sort();
    assert_eq!(got, expected, "each subscription gets each event once");
    for event in &published {
        let read = hookah.call("GET", &format!("{EVENTS}/{}", event["id"].as_str().unwrap()), &[], b"").await;
        assert_eq!(read.json()["matched"], 2);
    }
    hookah.idle().await;
    assert_eq!(receiver.requests().len(), 6, "no delivery twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_with_one_bad_event_stores_nothing() {
    let receiver = Receiver::start().await;
    let hookah = shop(&[("batch_max_calls", "3"), ("max_body_bytes", "2000")], &receiver).await;
    hookah.idle().await;
    let stored = hookah.stored_keys();

    let mut batch = events(3);
    batch[1] = json!({ "event_type": "order..paid", "body": "{}" });
    let response = hookah.call("POST", EVENTS, &[], batch.to_string().as_bytes()).await;
    assert_eq!((response.status, response.error_code()), (400, "bad_event_type".into()));
    let error = &response.json()["error"];
    assert_eq!(error["index"], 1);
    assert!(error["message"].as_str().unwrap().starts_with("event 1: "), "{error}");
    batch[1] = json!({ "event_type": "order.paid", "payload": "{}" });
    let response = hookah.call("POST", EVENTS, &[], batch.to_string().as_bytes()).await;
    assert_eq!(
        (response.status, response.error_code(), &response.json()["error"]["index"]),
        (400, "bad_event".into(), &json!(1))
    );
    let too_many = events(4).to_string();
    let too_large = json!([{ "event_type": "a.b", "body": "x".repeat(2_000) }]).to_string();
    for (bad, status, code) in [
        ("[", 400, "bad_json"),
        ("[]", 400, "empty_batch"),
        ("{}", 400, "bad_event_type"),
        (too_many.as_str(), 413, "too_many_calls"),
        (too_large.as_str(), 413, "body_too_large"),
    ] {
        let response = hookah.call("POST", EVENTS, &[], bad.as_bytes()).await;
        assert_eq!((response.status, response.error_code()), (status, code.to_string()), "{bad:.40}");
    }
    hookah.idle().await;
    assert_eq!(hookah.stored_keys(), stored, "a refused batch stores nothing");
    assert!(receiver.requests().is_empty(), "and delivers nothing");

    let response = hookah.call("POST", EVENTS, &[], events(3).to_string().as_bytes()).await;
    assert_eq!(response.status, 202, "at the limit");
    receiver.wait_for(6, WAIT).await;
}
