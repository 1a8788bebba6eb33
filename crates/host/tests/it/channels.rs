//! Channels: subscriptions, scoped tokens, intent verification, fan-out, endpoint health and the
//! WebSub hub, end to end.

use crate::support::receiver::Recorded;
use crate::support::signature::hmac_matches;
use crate::support::{send, Answer, HostProcess, Lift, Receiver, TestHookah, TestStore, WAIT};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Answers an intent verification by echoing its challenge, anything else with 200.
pub(crate) fn echo(request: &Recorded) -> Answer {
    let query = request.path_and_query.split_once('?').map(|(_, q)| q).unwrap_or("");
    let challenge = query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "hookah.challenge" || name == "hub.challenge").then(|| value.to_string())
    });
    match challenge {
        Some(challenge) => Answer::status(200).with_body(challenge.as_bytes()),
        None => Answer::status(200),
    }
}

fn is_verification(request: &Recorded) -> bool {
    request.method == "GET"
}

pub(crate) async fn subscribe(
    hookah: &TestHookah,
    channel: &str,
    body: Value,
    auth: Option<&str>,
) -> crate::support::client::Response {
    let path = format!("/_hookah/v1/channels/{channel}/subscriptions");
    match auth {
        Some(token) => {
            let bearer = format!("Bearer {token}");
            send("POST", &hookah.url(&path), &[("authorization", &bearer)], body.to_string().as_bytes()).await
        }
        None => hookah.call("POST", &path, &[], body.to_string().as_bytes()).await,
    }
}

async fn publish(hookah: &TestHookah, channel: &str, event_type: &str, body: &[u8]) -> Value {
    let path = format!("/_hookah/v1/channels/{channel}/events");
    let response = hookah
        .call("POST", &path, &[("hookah-event-type", event_type), ("content-type", "application/json")], body)
        .await;
    assert_eq!(response.status, 202, "{}", String::from_utf8_lossy(&response.body));
    response.json()
}

async fn sub_status(hookah: &TestHookah, channel: &str, id: &str) -> Value {
    hookah.call("GET", &format!("/_hookah/v1/channels/{channel}/subscriptions/{id}"), &[], b"").await.json()
}

pub(crate) async fn wait_status(hookah: &TestHookah, channel: &str, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let sub = sub_status(hookah, channel, id).await;
        if sub["status"] == status {
            return sub;
        }
        assert!(Instant::now() < deadline, "never {status}: {sub:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_verify_publish_and_receive_signed_events_with_filters() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|request, _| echo(request));
    let url = |path: &str| format!("http://{}/{path}", receiver.host_port());
    let invoices =
        subscribe(&hookah, "billing", json!({"url": url("invoices"), "event_types": ["invoice.*"]}), None).await;
    assert_eq!(invoices.status, 201);
    let invoices = invoices.json();
    assert_eq!(invoices["status"], "pending", "intent is verified first");
    let orders =
        subscribe(&hookah, "billing", json!({"url": url("orders"), "event_types": ["order.created"]}), None).await;
    let orders = orders.json();
    for sub in [&invoices, &orders] {
        wait_status(&hookah, "billing", sub["id"].as_str().unwrap(), "active").await;
    }
    let verifications = receiver.requests();
    assert!(verifications.iter().all(|r| is_verification(r) && r.path_and_query.contains("hookah.mode=subscribe")));

    let event = publish(&hookah, "billing", "invoice.paid", br#"{"invoice":7}"#).await;
    assert_eq!(event["matched"], 1);
    let got = receiver.wait_for(3, WAIT).await;
    let delivery = &got[2];
    assert_eq!(delivery.path_and_query, "/invoices");
    assert_eq!(delivery.body, br#"{"invoice":7}"#);
    assert_eq!(delivery.header("webhook-event-type"), Some("invoice.paid"));
    assert!(
        hmac_matches(delivery, invoices["secret"].as_str().unwrap()) == 1,
        "signed with the subscription's own secret"
    );
    assert!(hmac_matches(delivery, orders["secret"].as_str().unwrap()) == 0);

    assert_eq!(publish(&hookah, "billing", "order.created", b"{}").await["matched"], 1);
    assert_eq!(publish(&hookah, "billing", "refund.issued", b"{}").await["matched"], 0);
    let got = receiver.wait_for(4, WAIT).await;
    assert_eq!(got[3].path_and_query, "/orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_tokens_keep_tenants_apart() {
    let hookah = TestHookah::start().await;
    hookah.call("PUT", "/_hookah/v1/channels/app", &[], br#"{"verify_intent": false}"#).await;
    let mint = |tenant: &str, access: &str, channel: &str| {
        let body = json!({"channel": channel, "tenant": tenant, "access": access, "expires_in": 3600});
        let hookah = &hookah;
        async move {
            let response = hookah.call("POST", "/_hookah/v1/tokens", &[], body.to_string().as_bytes()).await;
            assert_eq!(response.status, 201);
            response.json()
        }
    };
    let alice = mint("alice", "write", "app").await;
    let bob = mint("bob", "write", "app").await;
    let alice_read = mint("alice", "read", "app").await;
    let other_channel = mint("alice", "write", "other").await;
    let token = |t: &Value| t["token"].as_str().unwrap().to_string();
    let call = |method: &'static str, path: String, token: String, body: Value| {
        let url = hookah.url(&path);
        async move {
            let bearer = format!("Bearer {token}");
            send(method, &url, &[("authorization", &bearer)], body.to_string().as_bytes()).await
        }
    };
    let created = subscribe(&hookah, "app", json!({"url": "https://alice.example/hook"}), Some(&token(&alice))).await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_string();
    assert_eq!(created.json()["tenant"], "alice");
    subscribe(&hookah, "app", json!({"url": "https://bob.example/hook"}), Some(&token(&bob))).await;

    let sub_path = format!("/_hookah/v1/channels/app/subscriptions/{id}");
    assert_eq!(call("GET", sub_path.clone(), token(&alice), json!(null)).await.status, 200);
    let stray = call("GET", sub_path.clone(), token(&bob), json!(null)).await;
    assert_eq!((stray.status, stray.error_code()), (403, "forbidden".to_string()));
    assert_eq!(call("DELETE", sub_path.clone(), token(&bob), json!(null)).await.status, 403);
    let listed = call("GET", "/_hookah/v1/channels/app/subscriptions".into(), token(&bob), json!(null)).await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["tenant"], "bob");
    let all = hookah.call("GET", "/_hookah/v1/channels/app/subscriptions", &[], b"").await.json();
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "the app sees every tenant");

    let read_only = subscribe(&hookah, "app", json!({"url": "https://a.example/"}), Some(&token(&alice_read))).await;
    assert_eq!(read_only.status, 403);
    assert_eq!(call("GET", sub_path.clone(), token(&alice_read), json!(null)).await.status, 200);
    let elsewhere =
        call("GET", "/_hookah/v1/channels/app/subscriptions".into(), token(&other_channel), json!(null)).await;
    assert_eq!(elsewhere.status, 403);
    let foreign_tenant =
        subscribe(&hookah, "app", json!({"url": "https://x.example/", "tenant": "bob"}), Some(&token(&alice))).await;
    assert_eq!(foreign_tenant.status, 403);
    let dispatch = call("POST", "/example.com/hook".into(), token(&alice), json!({})).await;
    assert_eq!(dispatch.status, 403, "a scoped token cannot dispatch");
    let keys = call("GET", "/_hookah/v1/keys".into(), token(&alice), json!(null)).await;
    assert_eq!(keys.status, 403);

    let revoke =
        hookah.call("DELETE", &format!("/_hookah/v1/tokens/{}", alice["id"].as_str().unwrap()), &[], b"").await;
    assert_eq!(revoke.status, 200);
    assert_eq!(call("GET", sub_path, token(&alice), json!(null)).await.status, 401);
    for bad in [
        json!({"url": "http://10.0.0.1/x"}),
        json!({"url": "ftp://x"}),
        json!({}),
        json!({"url": "https://x.example", "event_types": ["a..b"]}),
    ] {
        let response = subscribe(&hookah, "app", bad.clone(), None).await;
        assert_eq!(response.status, 400, "{bad}");
    }
    assert_eq!(subscribe(&hookah, "Bad_Name", json!({"url": "https://x.example"}), None).await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_whose_url_does_not_confirm_stays_inactive() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await; // answers 200 without echoing the challenge
    let sub =
        subscribe(&hookah, "quiet", json!({"url": format!("http://{}/no", receiver.host_port())}), None).await.json();
    let id = sub["id"].as_str().unwrap();
    receiver.wait_for(1, WAIT).await;
    hookah.idle().await; // the first verification attempt is recorded
    assert_eq!(publish(&hookah, "quiet", "a.b", b"{}").await["matched"], 0, "pending subscriptions get nothing");
    // The first attempt is recorded after the answer; a sweep before that would take it over.
    wait_for_retrying_job(&hookah).await;
    for _ in 0..3 {
        hookah.advance_idle(Duration::from_secs(400)).await;
        hookah.sweep().await;
    }
    wait_status(&hookah, "quiet", id, "verification_failed").await;
    assert_eq!(receiver.requests().len(), 3, "three verification attempts, no event");
    assert!(receiver.requests().iter().all(is_verification));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_subscription_and_the_app_hears_of_it() {
    let hookah = TestHookah::start().await;
    hookah.call("PUT", "/_hookah/v1/channels/shop", &[], br#"{"verify_intent": false}"#).await;
    let gone = Receiver::start().await;
    gone.answer(|_, _| Answer::status(410));
    // hookah.ops keeps its settings: its subscribers prove their intent like any other.
    let ops = Receiver::start().await;
    ops.answer(|request, _| echo(request));
    let ops_sub =
        subscribe(&hookah, "hookah.ops", json!({"url": format!("http://{}/ops", ops.host_port())}), None).await.json();
    wait_status(&hookah, "hookah.ops", ops_sub["id"].as_str().unwrap(), "active").await;
    let sub =
        subscribe(&hookah, "shop", json!({"url": format!("http://{}/gone", gone.host_port())}), None).await.json();
    let id = sub["id"].as_str().unwrap();
    assert_eq!(sub["status"], "active");
    assert_eq!(publish(&hookah, "shop", "order.created", b"{}").await["matched"], 1);
    let disabled = wait_status(&hookah, "shop", id, "disabled").await;
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("410"));
    assert_eq!(publish(&hookah, "shop", "order.created", b"{}").await["matched"], 0);

    hookah.idle().await; // the hookah.ops event is stored
    hookah.advance_idle(Duration::from_secs(2)).await;
    hookah.sweep().await;
    let got = ops.wait_for(2, WAIT).await;
    let event: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(event["type"], "subscription.disabled");
    assert_eq!(event["data"]["subscription"], id);

    let enabled = hookah.call("POST", &format!("/_hookah/v1/channels/shop/subscriptions/{id}/enable"), &[], b"").await;
    assert_eq!(enabled.json()["status"], "active");
}

/// 2,000 subscriptions on one receiver; each gets the event exactly once, across sweeps and a
/// hard kill of the host in the middle of the fan-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_to_2000_subscriptions_delivers_each_exactly_once_despite_a_hard_kill() {
    crate::support::hookah::built().await;
    let store = TestStore::new();
    let receiver = Receiver::start().await;
    let variables = [("fanout_batch", "500"), ("sweep_batch", "1000"), ("sweep_concurrency", "64")];
    // A workload sized beyond a standard plan: 2,000 subscriptions are more keys than a store
    // holds there (1,024), and 2,000 deliveries more than an app may send in an hour (500).
    let lifted = [Lift::KeyCap, Lift::OutboundCap];
    let first = HostProcess::start_lifting(&store, 0, &variables, &lifted);
    first.call("PUT", "/_hookah/v1/channels/crowd", br#"{"verify_intent": false}"#).await;
    let subscribers = 2_000;
    for i in 0..subscribers {
        let body = json!({"url": format!("http://{}/s/{i}", receiver.host_port())}).to_string();
        let response = first.call("POST", "/_hookah/v1/channels/crowd/subscriptions", body.as_bytes()).await;
        assert_eq!(response.status, 201);
    }
    let published = first
        .call_with("POST", "/_hookah/v1/channels/crowd/events", &[("hookah-event-type", "crowd.ping")], b"{}")
        .await;
    assert_eq!(published.status, 202);
    assert_eq!(published.json()["matched"], 500, "the first step ran before the 202");
    let event = published.json()["id"].as_str().unwrap().to_string();
    drop(first); // SIGKILL mid-fan-out

    let second = HostProcess::start_lifting(&store, 5, &variables, &lifted);
    // Each fan-out step's jobs are due in the next whole second: sweep until all arrived. This
    // host runs in its own process, so its clock cannot be moved, only waited for.
    let deadline = Instant::now() + WAIT;
    while receiver.requests().len() < subscribers {
        assert!(Instant::now() < deadline, "{} of {subscribers} delivered", receiver.requests().len());
        let report = second.call("POST", "/_hookah/v1/sweep", b"").await.json();
        assert_eq!(report["busy"], false);
        if report["slots"] == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let got = receiver.requests();
    let mut per_path: HashMap<&str, usize> = HashMap::new();
    for request in &got {
        *per_path.entry(request.path_and_query.as_str()).or_default() += 1;
    }
    assert_eq!(per_path.len(), subscribers);
    assert!(per_path.values().all(|&n| n == 1), "each subscription exactly once");
    let view = second.call("GET", &format!("/_hookah/v1/channels/crowd/events/{event}"), b"").await.json();
    assert_eq!((view["matched"].as_u64(), view["fanout_complete"].as_bool()), (Some(2_000), Some(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websub_hub_verifies_publishes_signs_and_unsubscribes() {
    let hookah = TestHookah::start().await;
    let subscriber = Receiver::start().await;
    subscriber.answer(|request, _| echo(request));
    let publisher = Receiver::start().await;
    publisher.answer(|_, _| {
        Answer::status(200).with_header("content-type", "application/atom+xml").with_body(b"<feed>new</feed>")
    });
    let topic = format!("http://{}/feed", publisher.host_port());
    let callback = format!("http://{}/cb", subscriber.host_port());
    let form = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&").into_bytes()
    };
    let hub = hookah.url("/_hookah/hub");
    let form_type = ("content-type", "application/x-www-form-urlencoded");
    let subscribe = form(&[
        ("hub.mode", "subscribe"),
        ("hub.callback", &callback),
        ("hub.topic", &topic),
        ("hub.secret", "shhh"),
        ("hub.lease_seconds", "3600"),
    ]);
    assert_eq!(send("POST", &hub, &[form_type], &subscribe).await.status, 202);
    let verification = subscriber.wait_for(1, WAIT).await.remove(0);
    assert!(verification.path_and_query.contains("hub.mode=subscribe"), "{}", verification.path_and_query);
    assert!(verification.path_and_query.contains("hub.lease_seconds=3600"));

    // Publishing takes the API token, once the verification took effect.
    hookah.idle().await;
    let publish = form(&[("hub.mode", "publish"), ("hub.url", &topic)]);
    let answer = hookah.call("POST", "/_hookah/hub", &[form_type], &publish).await;
    assert_eq!(answer.status, 202, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["matched"], 1, "the subscription is active");
    let delivery = subscriber.wait_for(2, WAIT).await.remove(1);
    assert_eq!(delivery.body, b"<feed>new</feed>");
    assert_eq!(delivery.header("content-type"), Some("application/atom+xml"));
    let link = delivery.header("link").unwrap();
    assert!(link.contains(&format!("<{topic}>; rel=\"self\"")) && link.contains("rel=\"hub\""), "{link}");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"shhh").unwrap();
    mac.update(&delivery.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(delivery.header("x-hub-signature"), Some(format!("sha256={expected}").as_str()));
    let unauthenticated = send("POST", &hub, &[form_type], &publish).await;
    assert_eq!(unauthenticated.status, 401);

    let unsubscribe = form(&[("hub.mode", "unsubscribe"), ("hub.callback", &callback), ("hub.topic", &topic)]);
    assert_eq!(send("POST", &hub, &[form_type], &unsubscribe).await.status, 202);
    let got = subscriber.wait_for(3, WAIT).await;
    assert!(got[2].path_and_query.contains("hub.mode=unsubscribe"));
    hookah.idle().await;
    let matched = hookah.call("POST", "/_hookah/hub", &[form_type], &publish).await.json()["matched"].clone();
    assert_eq!(matched, 0, "unsubscribed");
    let bad = send("POST", &hub, &[form_type], b"hub.mode=watch").await;
    assert_eq!((bad.status, bad.error_code()), (400, "bad_hub_request".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websub_leases_expire_and_refused_topics_get_a_denial_notice() {
    let publisher = Receiver::start().await;
    let topic = format!("http://{}/feed", publisher.host_port());
    let allowed = format!("http://{}/", publisher.host_port());
    let hookah = TestHookah::start_with(&[("websub_topics", &allowed)]).await;
    let subscriber = Receiver::start().await;
    subscriber.answer(|request, _| echo(request));
    let callback = format!("http://{}/cb", subscriber.host_port());
    let form_type = ("content-type", "application/x-www-form-urlencoded");
    let hub = hookah.url("/_hookah/hub");
    let subscribe = |topic: &str| {
        format!(
            "hub.mode=subscribe&hub.callback={}&hub.topic={}&hub.lease_seconds=300",
            encode(&callback),
            encode(topic)
        )
    };
    let refused = send("POST", &hub, &[form_type], subscribe("http://elsewhere.example/feed").as_bytes()).await;
    assert_eq!(refused.status, 202);
    let denial = subscriber.wait_for(1, WAIT).await.remove(0);
    assert!(denial.path_and_query.contains("hub.mode=denied"), "{}", denial.path_and_query);
    assert!(denial.path_and_query.contains("hub.reason="));

    assert_eq!(send("POST", &hub, &[form_type], subscribe(&topic).as_bytes()).await.status, 202);
    subscriber.wait_for(2, WAIT).await;
    hookah.idle().await; // the verification took effect
    let publish = format!("hub.mode=publish&hub.url={}", encode(&topic));
    let matched = hookah.call("POST", "/_hookah/hub", &[form_type], publish.as_bytes()).await.json()["matched"].clone();
    assert_eq!(matched, 1);
    hookah.advance_idle(Duration::from_secs(301)).await;
    let after = hookah.call("POST", "/_hookah/hub", &[form_type], publish.as_bytes()).await.json();
    assert_eq!(after["matched"], 0, "the lease ran out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_dead_jobs_disables_a_subscription() {
    let variables = [("retry_schedule", "1s"), ("disable_after_dead", "2")];
    let hookah = TestHookah::start_with(&variables).await;
    hookah.call("PUT", "/_hookah/v1/channels/flaky", &[], br#"{"verify_intent": false}"#).await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(500));
    let sub =
        subscribe(&hookah, "flaky", json!({"url": format!("http://{}/x", receiver.host_port())}), None).await.json();
    let id = sub["id"].as_str().unwrap();
    for round in 1..=2 {
        publish(&hookah, "flaky", "t.x", b"{}").await;
        receiver.wait_for(2 * round - 1, WAIT).await;
        hookah.idle().await; // the first attempt is recorded, its retry due in about 1 s
        hookah.advance_idle(Duration::from_secs(3)).await;
        hookah.sweep().await;
        receiver.wait_for(2 * round, WAIT).await;
    }
    let disabled = wait_status(&hookah, "flaky", id, "disabled").await;
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("2 jobs in a row"), "{disabled:#}");
}

/// Waits (bounded) until a job's first attempt is recorded and it waits for its retry.
pub(crate) async fn wait_for_retrying_job(hookah: &TestHookah) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let page = hookah.call("GET", "/_hookah/v1/jobs?state=pending", &[], b"").await.json();
        let waiting = page["data"].as_array().unwrap().iter().any(|job| job["in_flight"] == false);
        if waiting {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no job ever waited for its retry");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
