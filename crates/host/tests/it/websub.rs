//! The WebSub hub's guarantees to subscribers: nothing changes until the callback confirms it,
//! and a topic is delivered whole or not at all.

use crate::channels::{echo, encode, wait_for_retrying_job};
use crate::support::receiver::Recorded;
use crate::support::{send, Answer, Receiver, TestHookah};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&").into_bytes()
}

/// A subscriber (`callback`) of one topic (`topic`) on a hub under test.
struct Subscriber<'a> {
    hookah: &'a TestHookah,
    receiver: Receiver,
    callback: String,
    topic: String,
}

impl<'a> Subscriber<'a> {
    /// A callback on a fresh receiver that echoes challenges, for the topic `publisher` serves.
    async fn start(hookah: &'a TestHookah, publisher: &Receiver) -> Subscriber<'a> {
        let receiver = Receiver::start().await;
        receiver.answer(|request, _| echo(request));
        Subscriber {
            hookah,
            callback: format!("http://{}/cb", receiver.host_port()),
            topic: format!("http://{}/feed", publisher.host_port()),
            receiver,
        }
    }

    /// Asks, without the API token (as anyone may), to (re)subscribe with `secret`.
    async fn subscribe(&self, secret: &str, lease_seconds: &str) {
        let body = form(&[
            ("hub.mode", "subscribe"),
            ("hub.callback", &self.callback),
            ("hub.topic", &self.topic),
            ("hub.secret", secret),
            ("hub.lease_seconds", lease_seconds),
        ]);
        let answer = send("POST", &self.hookah.url("/_hookah/hub"), &[FORM], &body).await;
        assert_eq!(answer.status, 202, "{}", String::from_utf8_lossy(&answer.body));
    }

    async fn publish(&self) -> crate::support::client::Response {
        let body = form(&[("hub.mode", "publish"), ("hub.url", &self.topic)]);
        self.hookah.call("POST", "/_hookah/hub", &[FORM], &body).await
    }

    /// Publishes and returns the delivery it made (bounded wait); `None` if nobody matched.
    async fn publish_and_receive(&self) -> Option<Recorded> {
        let before = self.requests("POST").len();
        let answer = self.publish().await;
        assert_eq!(answer.status, 202, "{}", String::from_utf8_lossy(&answer.body));
        if answer.json()["matched"] == 0 {
            return None;
        }
        Some(self.wait_for("POST", before + 1).await.pop().unwrap())
    }

    /// Publishes until the subscription is active and a delivery arrives.
    async fn receive_once_active(&self) -> Recorded {
        for _ in 0..100 {
            if let Some(delivery) = self.publish_and_receive().await {
                return delivery;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the subscription never became active");
    }

    fn requests(&self, method: &str) -> Vec<Recorded> {
        self.receiver.requests().into_iter().filter(|r| r.method == method).collect()
    }

    /// Waits (bounded) for the `n`th request of `method`.
    async fn wait_for(&self, method: &str, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + WAIT;
        loop {
            let requests = self.requests(method);
            if requests.len() >= n {
                return requests;
            }
            assert!(Instant::now() < deadline, "no {n}th {method} within {WAIT:?}: got {}", requests.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn signed_with(delivery: &Recorded, secret: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&delivery.body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    delivery.header("x-hub-signature") == Some(format!("sha256={hex}").as_str())
}

async fn topic_server(body: &'static [u8]) -> Receiver {
    let publisher = Receiver::start().await;
    publisher.answer(move |_, _| Answer::status(200).with_header("content-type", "text/plain").with_body(body));
    publisher
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubscription_changes_nothing_until_the_callback_confirms_it() {
    let hookah = TestHookah::start().await;
    let publisher = topic_server(b"news").await;
    let subscriber = Subscriber::start(&hookah, &publisher).await;
    subscriber.subscribe("old", "3600").await;
    assert!(signed_with(&subscriber.receive_once_active().await, "old"));

    // Someone who knows the callback and topic asks for another secret; the callback refuses.
    subscriber.receiver.answer(|request, _| Answer::status(if request.method == "GET" { 404 } else { 200 }));
    subscriber.subscribe("forged", "7200").await;
    subscriber.wait_for("GET", 2).await;
    let delivery = subscriber.publish_and_receive().await.expect("still subscribed");
    assert!(signed_with(&delivery, "old"), "the secret changed before verification");
    // Its first attempt is recorded after the answer; sweeps make (and record) the other two.
    wait_for_retrying_job(&hookah).await;
    for (step, attempt) in [(10, 3), (400, 4)] {
        hookah.advance_idle(Duration::from_secs(step)).await;
        hookah.sweep().await;
        subscriber.wait_for("GET", attempt).await;
    }
    let delivery = subscriber.publish_and_receive().await.expect("a failed re-verification keeps the subscription");
    assert!(signed_with(&delivery, "old"));

    // The subscriber itself renews: the new secret and lease apply once it echoes the challenge.
    subscriber.receiver.answer(|request, _| echo(request));
    subscriber.subscribe("new", "7200").await;
    subscriber.wait_for("GET", 5).await;
    let mut renewed = false;
    for _ in 0..100 {
        let delivery = subscriber.publish_and_receive().await.expect("subscribed throughout");
        renewed = signed_with(&delivery, "new");
        if renewed {
            break;
        }
        assert!(signed_with(&delivery, "old"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(renewed, "the confirmed renewal never took effect");
    hookah.advance_idle(Duration::from_secs(3_600)).await;
    let delivery = subscriber.publish_and_receive().await.expect("the verified renewal extended the lease");
    assert!(signed_with(&delivery, "new"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_over_the_body_limit_is_refused_rather_than_delivered_cut_off() {
    let hookah = TestHookah::start_with(&[("max_body_bytes", "1024")]).await;
    let publisher = topic_server(b"<feed>small</feed>").await;
    let subscriber = Subscriber::start(&hookah, &publisher).await;
    subscriber.subscribe("s", "3600").await;
    subscriber.receive_once_active().await;

    publisher.answer(|_, _| Answer::status(200).with_body(&[b'x'; 4096]));
    let refused = subscriber.publish().await;
    assert_eq!((refused.status, refused.error_code()), (422, "topic_too_large".to_string()));
    let message: Value = refused.json()["error"]["message"].clone();
    assert!(message.as_str().unwrap().contains("1024"), "{message}");

    publisher.answer(|_, _| Answer::status(200).with_body(b"<feed>whole</feed>"));
    subscriber.publish_and_receive().await.expect("still subscribed");
    let bodies: Vec<Vec<u8>> = subscriber.requests("POST").into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, [b"<feed>small</feed>".to_vec(), b"<feed>whole</feed>".to_vec()], "nothing cut off went out");
}
