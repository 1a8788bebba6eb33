//! Hookah under a managed host's limits (Fermyon Cloud's profile, `hookah_host::Limits`), whatever
//! `HOOKAH_TEST_LIMITS` says: a full store refuses new work with nothing stored and loses none of
//! what it holds; an invocation killed at the handler limit loses nothing; deliveries past the
//! hourly outbound cap are retried in the next hour; Hookah's own keys stay within 255 bytes.

use crate::support::{send, Answer, Launch, Receiver, TestHookah, WAIT};
use hookah_host::Limits;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// A store this small fills after a score of jobs.
const MAX_KEYS: u64 = 200;

async fn under(limits: Limits, variables: &[(&str, &str)]) -> TestHookah {
    Launch::new(variables).under(limits).start().await
}

fn sorted_keys(hookah: &TestHookah) -> Vec<String> {
    let mut keys = hookah.store.key_names();
    keys.sort();
    keys
}

async fn stats(hookah: &TestHookah) -> Value {
    let response = hookah.call("GET", "/_hookah/v1/stats", &[], b"").await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    response.json()
}

/// A receiver that fails the first request to each path and takes the rest.
async fn failing_each_path_once() -> Receiver {
    let receiver = Receiver::start().await;
    let seen = Mutex::new(HashSet::new());
    receiver.answer(move |request, _| {
        let first = seen.lock().unwrap().insert(request.path_and_query.clone());
        Answer::status(if first { 500 } else { 200 })
    });
    receiver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_refuses_new_jobs_whole_delivers_those_it_holds_and_takes_more_once_they_go() {
    let limits = Limits { max_keys: Some(MAX_KEYS), ..Limits::fermyon_cloud() };
    let max_keys = MAX_KEYS.to_string();
    let variables = [("store_max_keys", max_keys.as_str()), ("retention", "1m")];
    let hookah = under(limits, &variables).await;
    let receiver = failing_each_path_once().await;

    // Jobs whose first attempt fails stay pending, and each holds its retry's keys.
    let mut accepted = Vec::new();
    let refused = loop {
        hookah.idle().await; // the last job's first attempt, its outcome and any sweep are done
        let before = sorted_keys(&hookah);
        let path = format!("/{}/job/{}", receiver.host_port(), accepted.len());
        let response = hookah.call("POST", &path, &[], b"{}").await;
        match response.status {
            202 => accepted.push(response.json()["id"].as_str().unwrap().to_string()),
            507 => {
                hookah.idle().await;
                assert_eq!(sorted_keys(&hookah), before, "the refused submission stored nothing");
                break response;
            }
            other => panic!("submission {}: {other} {}", accepted.len(), String::from_utf8_lossy(&response.body)),
        }
        assert!(accepted.len() < MAX_KEYS as usize, "a store of {MAX_KEYS} keys never filled");
    };
    assert_eq!(refused.error_code(), "store_full");
    assert!(accepted.len() >= 5, "only {} jobs fitted", accepted.len());
    receiver.wait_for(accepted.len(), WAIT).await;
    assert_eq!(receiver.requests().len(), accepted.len(), "the refused job was never attempted");

    let health = send("GET", &hookah.url("/_hookah/health"), &[], b"").await.json();
    assert_eq!(health["status"], "degraded", "{health:#}");
    assert!(health["reason"].as_str().unwrap().contains("near full"), "{health:#}");
    assert_eq!(health["store"]["max_keys"], MAX_KEYS, "{health:#}");
    assert_eq!(stats(&hookah).await["store"]["near_full"], true);

    // The retries, about 5 s on, all succeed: none of the jobs held is lost.
    for _ in 0..10 {
        hookah.advance_idle(Duration::from_secs(10)).await;
        hookah.sweep().await;
        if receiver.requests().len() == 2 * accepted.len() {
            break;
        }
    }
    for id in &accepted {
        let job = hookah.job(id).await;
        assert_eq!((job["state"].as_str(), job["attempt_count"].as_u64()), (Some("delivered"), Some(2)), "{job:#}");
    }
    assert_eq!(receiver.requests().len(), 2 * accepted.len(), "each job attempted twice, no more");
    assert_eq!(hookah.host.limit_events().kv_refused, 0, "Hookah stopped before the store's own cap");

    // Once retention (1 min) and the deletion grace end, sweeps delete the jobs and free room.
    for _ in 0..20 {
        if !hookah.store.key_names().iter().any(|key| key.starts_with("job:")) {
            break;
        }
        hookah.advance_idle(Duration::from_secs(30)).await;
        hookah.sweep().await;
    }
    let left: Vec<String> = hookah.store.key_names().into_iter().filter(|key| key.starts_with("job:")).collect();
    assert!(left.is_empty(), "jobs left after their retention: {left:?}");
    assert_eq!(stats(&hookah).await["store"]["near_full"], false);
    let id = hookah.submit("POST", &format!("/{}/after", receiver.host_port()), &[], b"{}").await;
    assert_eq!(hookah.host.limit_events(), Default::default(), "no limit refused or stopped anything");
    hookah.idle().await;
    assert_eq!(hookah.job(&id).await["attempt_count"], 1);
}

/// Fermyon Cloud's profile with a 3 s handler limit, shorter than the default 15 s delivery
/// timeout: an attempt the receiver holds ends only by its invocation's kill.
async fn killing_host() -> TestHookah {
    under(Limits { handler_timeout: Some(Duration::from_secs(3)), ..Limits::fermyon_cloud() }, &[]).await
}

/// Past the lease of a claim made now with the 15 s timeout: 2 × 15 s + a 30 s margin.
const PAST_THE_LEASE: Duration = Duration::from_secs(61);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_attempt_killed_at_the_handler_limit_is_taken_over_after_its_lease() {
    let hookah = killing_host().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, index| if index == 0 { Answer::status(200).held() } else { Answer::status(200) });
    let id = hookah.submit("POST", &format!("/{}/held", receiver.host_port()), &[], b"precious").await;
    receiver.wait_for(1, WAIT).await;
    hookah.idle().await; // the invocation making the first attempt is killed at 3 s
    assert_eq!(hookah.host.limit_events().handler_kills, 1);
    let job = hookah.job(&id).await;
    assert_eq!((job["in_flight"].as_bool(), job["attempt_count"].as_u64()), (Some(true), Some(0)), "{job:#}");
    receiver.release();

    assert_eq!(hookah.sweep().await["claimed"], 0, "the lease holds the job until it ends");
    hookah.advance_idle(PAST_THE_LEASE).await;
    let report = hookah.sweep().await;
    assert_eq!((report["claimed"].as_u64(), report["delivered"].as_u64()), (Some(1), Some(1)), "{report}");
    let job = hookah.job(&id).await;
    assert_eq!((job["state"].as_str(), job["attempt_count"].as_u64()), (Some("delivered"), Some(2)), "{job:#}");
    assert_eq!(job["attempts"][0]["error"], "abandoned");
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!((got[1].body.as_slice(), got[1].header("webhook-id")), (&b"precious"[..], Some(id.as_str())));
    assert_eq!(hookah.host.limit_events().handler_kills, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_killed_at_the_handler_limit_mid_attempt_loses_nothing() {
    let hookah = killing_host().await;
    let receiver = Receiver::start().await;
    // The first attempt fails; its retry, made by a sweep, is held until the sweep is killed.
    receiver.answer(|_, index| match index {
        0 => Answer::status(500),
        1 => Answer::status(200).held(),
        _ => Answer::status(200),
    });
    let id = hookah.submit("POST", &format!("/{}/held", receiver.host_port()), &[], b"{}").await;
    hookah.wait_job(&id, WAIT, |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    hookah.idle().await;

    hookah.advance_idle(Duration::from_secs(10)).await; // past the retry's 5 s (with jitter)
    let killed = hookah.call("POST", "/_hookah/v1/sweep", &[], b"").await;
    // The sweep answers when it is done, so its kill leaves the host to answer.
    assert_eq!(killed.status, 500, "{}", String::from_utf8_lossy(&killed.body));
    assert_eq!(receiver.requests().len(), 2, "the sweep was killed during the retry");
    hookah.idle().await;
    assert_eq!(hookah.host.limit_events().handler_kills, 1);
    let job = hookah.job(&id).await;
    assert_eq!((job["in_flight"].as_bool(), job["attempt_count"].as_u64()), (Some(true), Some(1)), "{job:#}");
    receiver.release();

    hookah.advance_idle(PAST_THE_LEASE).await;
    let report = hookah.sweep().await;
    assert_eq!((report["claimed"].as_u64(), report["delivered"].as_u64()), (Some(1), Some(1)), "{report}");
    let job = hookah.job(&id).await;
    assert_eq!((job["state"].as_str(), job["attempt_count"].as_u64()), (Some("delivered"), Some(3)), "{job:#}");
    let errors: Vec<&Value> = job["attempts"].as_array().unwrap().iter().map(|a| &a["error"]).collect();
    assert_eq!(errors[1], "abandoned", "{job:#}");
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(hookah.host.limit_events().handler_kills, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_past_the_hourly_outbound_cap_fails_and_goes_out_the_next_hour() {
    // A retry two minutes on (96 to 144 s with jitter) is never due before the test moves the
    // clock, however slow the machine.
    let limits = Limits { outbound_requests_per_hour: Some(3), ..Limits::fermyon_cloud() };
    let hookah = under(limits, &[("retry_schedule", "2m")]).await;
    let receiver = Receiver::start().await;
    // To the start of an hour of the host clock: the four deliveries fall in one hour.
    let now = hookah.host.clock().now_unix_secs();
    hookah.advance_idle(Duration::from_secs(3_600 - now % 3_600)).await;

    for i in 0..3 {
        let id = hookah.submit("POST", &format!("/{}/within/{i}", receiver.host_port()), &[], b"{}").await;
        hookah.wait_state(&id, "delivered").await;
    }
    let fourth = hookah.submit("POST", &format!("/{}/past", receiver.host_port()), &[], b"{}").await;
    let job = hookah.wait_job(&fourth, WAIT, |job| job["attempt_count"] == 1 && job["in_flight"] == false).await;
    // A failure before any response, named for the host's refusal, and a retry scheduled.
    let attempt = &job["attempts"][0];
    assert_eq!((attempt["error"].as_str(), attempt["status"].is_null()), (Some("denied"), true), "{job:#}");
    assert_eq!((job["state"].as_str(), job["next_attempt_at"].is_string()), (Some("pending"), true), "{job:#}");
    assert_eq!(receiver.requests().len(), 3, "the fourth request never left");
    assert_eq!(hookah.host.limit_events().outbound_refused, 1);

    hookah.advance_idle(Duration::from_secs(3_600)).await;
    let report = hookah.sweep().await;
    assert_eq!(report["delivered"], 1, "{report}");
    let job = hookah.job(&fourth).await;
    assert_eq!((job["state"].as_str(), job["attempt_count"].as_u64()), (Some("delivered"), Some(2)), "{job:#}");
    assert_eq!(receiver.requests().len(), 4);
    assert_eq!(hookah.host.limit_events().outbound_refused, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_names_callers_may_choose_keep_every_key_within_255_bytes() {
    let hookah = under(Limits::fermyon_cloud(), &[]).await;
    let receiver = Receiver::start().await;
    // Longest allowed: a channel name of 64, an event type of 128, an idempotency key of 255.
    let channel = format!("c{}", "h.-_9".repeat(13))[..64].to_string();
    let event_type = format!("e{}", ".segment_-9".repeat(12))[..128].to_string();
    let idempotency_key = "k".repeat(255);

    let path = format!("/_hookah/v1/channels/{channel}");
    let created = hookah.call("PUT", &path, &[], br#"{"verify_intent": false}"#).await;
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    let body = json!({"url": format!("http://{}/sub", receiver.host_port()), "event_types": [event_type]});
    let body = body.to_string();
    let subscribed = hookah.call("POST", &format!("{path}/subscriptions"), &[], body.as_bytes()).await;
    assert_eq!(subscribed.status, 201, "{}", String::from_utf8_lossy(&subscribed.body));
    let published = hookah.call("POST", &format!("{path}/events"), &[("hookah-event-type", &event_type)], b"{}").await;
    assert_eq!((published.status, published.json()["matched"].as_u64()), (202, Some(1)));
    let target = format!("/{}/once", receiver.host_port());
    let job = hookah.submit("POST", &target, &[("idempotency-key", &idempotency_key)], b"{}").await;
    let again = hookah.submit("POST", &target, &[("idempotency-key", &idempotency_key)], b"{}").await;
    assert_eq!(job, again);
    receiver.wait_for(2, WAIT).await;
    hookah.idle().await;
    // Sweeps file, keep statistics and retire turn keys over a few minutes.
    for _ in 0..12 {
        hookah.advance_idle(Duration::from_secs(20)).await;
        hookah.sweep().await;
    }

    let longest = hookah.store.key_names().into_iter().max_by_key(String::len).unwrap();
    assert!(longest.len() <= 255, "{} bytes: {longest}", longest.len());
    assert_eq!(hookah.host.limit_events(), Default::default(), "no key too long, and nothing else refused");
    assert_eq!(receiver.requests().len(), 2);
}
