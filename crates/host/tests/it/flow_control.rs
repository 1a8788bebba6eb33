//! Flow keys with settings through the real components: a paused key holds its jobs and no
//! other's, an ordered key delivers in acceptance order through failures and a hard kill.

use crate::support::hookah::built;
use crate::support::{Answer, HostProcess, Receiver, TestHookah, TestStore, WAIT};
use std::time::Duration;

const SWEEP_TOKEN: &str = "flow-test-sweep-token";

/// The sequence numbers the receiver got, in arrival order (bodies are `{"seq":n}`).
fn sequence(receiver: &Receiver) -> Vec<u64> {
    receiver
        .requests()
        .iter()
        .map(|request| serde_json::from_slice::<serde_json::Value>(&request.body).unwrap()["seq"].as_u64().unwrap())
        .collect()
}

/// Sweeps a second at a time (bounded) until the receiver has `n` requests.
async fn sweep_until(hookah: &TestHookah, receiver: &Receiver, n: usize) {
    for _ in 0..600 {
        if receiver.requests().len() >= n {
            return;
        }
        hookah.advance_idle(Duration::from_secs(1)).await;
        hookah.sweep().await;
    }
    panic!("{} of {n} requests after 600 sweeps: {:?}", receiver.requests().len(), sequence(receiver));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_flow_holds_its_jobs_and_no_others_until_resumed() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let put = hookah.call("PUT", "/_hookah/v1/flows/tenant%20a", &[], br#"{"paused": true}"#).await;
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let target = receiver.host_port();
    for seq in 0..3 {
        let body = format!(r#"{{"seq":{seq}}}"#);
        hookah.submit("POST", &format!("/{target}/a"), &[("hookah-flow-key", "tenant a")], body.as_bytes()).await;
    }
    hookah.submit("POST", &format!("/{target}/b"), &[("hookah-flow-key", "tenant b")], br#"{"seq":9}"#).await;
    receiver.wait_for(1, WAIT).await;
    for _ in 0..30 {
        hookah.advance_idle(Duration::from_secs(1)).await;
        hookah.sweep().await;
    }
    assert_eq!(sequence(&receiver), [9], "only the other flow's job went");
    let flow = hookah.call("GET", "/_hookah/v1/flows/tenant%20a", &[], b"").await.json();
    assert_eq!((flow["paused"].as_bool(), flow["waiting"].as_u64()), (Some(true), Some(3)), "{flow}");

    let resumed = hookah.call("POST", "/_hookah/v1/flows/tenant%20a/resume", &[], b"").await;
    assert_eq!(resumed.status, 200, "{}", String::from_utf8_lossy(&resumed.body));
    sweep_until(&hookah, &receiver, 4).await;
    // Released together (no limit is set), so attempted at once, in any order.
    let mut released = sequence(&receiver)[1..].to_vec();
    released.sort();
    assert_eq!(released, [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_flow_delivers_in_acceptance_order_through_a_failing_head() {
    let hookah = TestHookah::start_with(&[("retry_schedule", "2s,2s")]).await;
    let receiver = Receiver::start().await;
    // The first job fails twice; nothing after it may go before it is delivered.
    receiver.answer(|request, index| {
        let first = request.body.as_slice() == br#"{"seq":0}"#;
        Answer::status(if first && index < 2 { 503 } else { 200 })
    });
    let put = hookah.call("PUT", "/_hookah/v1/flows/orders", &[], br#"{"ordered": true}"#).await;
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let target = receiver.host_port();
    for seq in 0..8 {
        let body = format!(r#"{{"seq":{seq}}}"#);
        hookah.submit("POST", &format!("/{target}/o"), &[("hookah-flow-key", "orders")], body.as_bytes()).await;
    }
    sweep_until(&hookah, &receiver, 10).await;
    assert_eq!(sequence(&receiver), [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]);
}

/// A stream of ordered jobs, the host killed (SIGKILL) while one is in flight and more are
/// queued, then restarted on the same store: every accepted job is delivered, and no job is
/// attempted before every earlier one ended (the in-flight one may go twice: its lease ran out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_flow_keeps_its_order_across_a_hard_kill() {
    built().await;
    let store = TestStore::new();
    let receiver = Receiver::start().await;
    // The fifth delivery is never answered: the host dies with it in flight.
    receiver.answer(|_, index| if index == 4 { Answer::status(200).held() } else { Answer::status(200) });
    let sweep_token = [("sweep_token", SWEEP_TOKEN)];
    let mut first = HostProcess::start_with(&store, 0, &sweep_token);
    let put = first.call("PUT", "/_hookah/v1/flows/orders", br#"{"ordered": true}"#).await;
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let target = receiver.host_port();
    let mut accepted = Vec::new();
    for seq in 0..20u64 {
        let body = format!(r#"{{"seq":{seq}}}"#);
        let headers = [("hookah-flow-key", "orders")];
        let answer = first.call_with("POST", &format!("/{target}/o"), &headers, body.as_bytes()).await;
        assert_eq!(answer.status, 202);
        accepted.push(seq);
    }
    // Steps run in sweeps: the sweep token's route answers at once and sweeps after, so a sweep
    // held by the unanswered delivery blocks no call. Bounded: the held delivery arrives.
    let sweep = format!("/_hookah/v1/sweep/{SWEEP_TOKEN}");
    for _ in 0..600 {
        if receiver.requests().len() >= 5 {
            break;
        }
        first.call("POST", &sweep, b"").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sequence(&receiver), [0, 1, 2, 3, 4], "one at a time, in order, until the kill");
    first.kill();

    // Restarted five minutes "later": the held attempt's lease has run out.
    let second = HostProcess::start_with(&store, 300, &sweep_token);
    for _ in 0..120 {
        if sequence(&receiver).iter().filter(|&&seq| seq == 19).count() > 0 {
            break;
        }
        second.call("POST", "/_hookah/v1/sweep", b"").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = sequence(&receiver);
    let mut seen: Vec<u64> = got.clone();
    seen.dedup();
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "out of order: {got:?}");
    assert_eq!(seen, accepted, "every accepted job delivered, in order: {got:?}");
}
