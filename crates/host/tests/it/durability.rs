//! Nothing that got a 202 is lost: under load, with overlapping sweeps, and across a hard kill.

use crate::support::hookah::built;
use crate::support::{Answer, HostProcess, Launch, Lift, Receiver, TestHookah, TestStore, WAIT};
use std::collections::HashMap;
use std::time::Duration;

mod batches;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_submissions_are_all_delivered() {
    // A load test sized beyond a standard plan: 1,000 jobs held at once are more keys than a
    // store holds there (1,024), and 1,000 deliveries more than an app may send in an hour (500).
    let hookah = std::sync::Arc::new(Launch::new(&[]).lifting(&[Lift::KeyCap, Lift::OutboundCap]).start().await);
    let receiver = Receiver::start().await;
    let path = format!("/{}/bulk", receiver.host_port());
    let submissions: Vec<_> = (0..1_000)
        .map(|i| {
            let hookah = hookah.clone();
            let path = path.clone();
            tokio::spawn(async move { hookah.submit("POST", &path, &[], format!("{{\"n\":{i}}}").as_bytes()).await })
        })
        .collect();
    let mut ids = Vec::new();
    for submission in submissions {
        ids.push(submission.await.unwrap());
    }
    let got = receiver.wait_for(1_000, WAIT).await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for request in &got {
        *per_id.entry(request.header("webhook-id").unwrap().to_string()).or_default() += 1;
    }
    for id in &ids {
        assert_eq!(per_id.get(id), Some(&1), "{id} delivered once");
    }
    assert_eq!(got.len(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sweeps_never_repeat_an_attempt() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(500));
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(hookah.submit("POST", &format!("/{}/hook", receiver.host_port()), &[], b"{}").await);
    }
    receiver.wait_for(60, WAIT).await;
    hookah.idle().await; // every first attempt is recorded, with its retry's timer
    for id in &ids {
        assert_eq!(hookah.job(id).await["attempt_count"], 1);
    }
    hookah.advance_idle(Duration::from_secs(10)).await;
    // Two HTTP sweeps and the cron component at once.
    let (a, b, c) = tokio::join!(hookah.sweep(), hookah.sweep(), hookah.host.run_cron("hookah-sweeper"));
    c.unwrap();
    let claimed = a["claimed"].as_u64().unwrap() + b["claimed"].as_u64().unwrap();
    let got = receiver.requests();
    assert_eq!(got.len(), 120, "each job attempted exactly once more (http sweeps claimed {claimed})");
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for request in &got {
        *per_id.entry(request.header("webhook-id").unwrap()).or_default() += 1;
    }
    assert!(per_id.values().all(|&n| n == 2), "{per_id:?}");
    for id in &ids {
        assert_eq!(hookah.job(id).await["attempt_count"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_a_hard_kill_between_the_202_and_its_delivery() {
    built().await;
    let store = TestStore::new();
    let receiver = Receiver::start().await;
    // The first attempt is never answered, so the host dies with the job in flight.
    receiver.answer(|_, index| if index == 0 { Answer::status(200).held() } else { Answer::status(200) });

    let mut first = HostProcess::start(&store, 0);
    let response = first.call("POST", &format!("/{}/survive", receiver.host_port()), b"precious").await;
    assert_eq!(response.status, 202);
    let id = response.json()["id"].as_str().unwrap().to_string();
    receiver.wait_for(1, WAIT).await;
    first.child.kill().unwrap(); // SIGKILL: no shutdown, no cleanup
    first.child.wait().unwrap();

    // Restarted two minutes "later": the abandoned attempt's lease has run out.
    let second = HostProcess::start(&store, 120);
    let report = second.call("POST", "/_hookah/v1/sweep", b"").await.json();
    assert_eq!(report["claimed"], 1, "{report}");
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1].body, b"precious");
    assert_eq!(got[1].header("webhook-id"), Some(id.as_str()));
    let job = second.call("GET", &format!("/_hookah/v1/jobs/{id}"), b"").await.json();
    assert_eq!(job["state"], "delivered", "{job:#}");
    assert_eq!(job["attempts"][0]["error"], "abandoned");
}

/// On SQLite the cron trigger has a connection of its own, as `spin up`'s cron process has: its
/// sweeps' writes contend with the HTTP trigger's, and a call the store refuses as busy is tried
/// again, so no submission, subscription or sweep answers 503 and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_and_subscriptions_during_cron_sweeps_all_succeed() {
    // A load test sized beyond a standard plan: 380 jobs and 20 subscriptions held at once are
    // more keys than a store holds there (1,024), and their 560 deliveries more than an app may
    // send in an hour (500).
    let lifted = [Lift::KeyCap, Lift::OutboundCap];
    let hookah =
        std::sync::Arc::new(Launch::new(&[("retry_schedule", "1s")]).with_cron().lifting(&lifted).start().await);
    let receiver = Receiver::start().await;
    // Every other job fails both its attempts, so the cron sweeps have retries to make and
    // outcomes to write.
    receiver.answer(|request, _| Answer::status(if request.path_and_query.ends_with("/0") { 500 } else { 200 }));
    let channel = hookah.call("PUT", "/_hookah/v1/channels/busy", &[], br#"{"verify_intent": false}"#).await;
    assert_eq!(channel.status, 200);
    let calls: Vec<_> = (0..400)
        .map(|i| {
            let hookah = hookah.clone();
            let target = receiver.host_port();
            tokio::spawn(async move {
                let answer = match i % 20 {
                    0 => {
                        let body = format!(r#"{{"url": "http://{target}/sub/{i}"}}"#);
                        hookah.call("POST", "/_hookah/v1/channels/busy/subscriptions", &[], body.as_bytes()).await
                    }
                    _ => hookah.call("POST", &format!("/{target}/job/{i}/{}", i % 2), &[], b"{}").await,
                };
                (i, answer.status, answer.json())
            })
        })
        .collect();
    let mut refused = Vec::new();
    let mut retried = Vec::new();
    for call in calls {
        let (i, status, answer) = call.await.unwrap();
        if !(200..300).contains(&status) {
            refused.push(format!("{status} {answer}"));
        } else if i % 20 != 0 && i % 2 == 0 {
            retried.push(answer["id"].as_str().unwrap().to_string());
        }
    }
    assert!(refused.is_empty(), "{} of 400 calls refused: {refused:?}", refused.len());
    // 380 jobs, the 180 failing ones twice (their retry from a cron sweep), then dead.
    for id in &retried {
        hookah.wait_job(id, Duration::from_secs(90), |job| job["state"] == "dead" && job["attempt_count"] == 2).await;
    }
    assert_eq!(receiver.requests().len(), 560);
}
