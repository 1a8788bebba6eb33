//! What arrives at the receiver, and how results drive the job's state.

use crate::support::{Answer, Receiver, TestHookah, WAIT};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_gets_method_query_headers_and_body_exactly() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let body = br#"{"event":"user.created","id":42}"#;
    let response = hookah
        .call(
            "PUT",
            &format!("/{}/user/callback?x=1&y=%20two", receiver.host_port()),
            &[("content-type", "application/json"), ("x-app-trace", "abc"), ("hookah-max-attempts", "3")],
            body,
        )
        .await;
    assert_eq!(response.status, 202);
    let accepted = response.json();
    let id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(accepted["state"], "pending");
    assert_eq!(accepted["target"], format!("http://{}/user/callback?x=1&y=%20two", receiver.host_port()));
    assert_eq!(response.header("location"), Some(format!("/_hookah/v1/jobs/{id}").as_str()));

    let got = receiver.wait_for(1, WAIT).await;
    let request = &got[0];
    assert_eq!(request.method, "PUT");
    assert_eq!(request.path_and_query, "/user/callback?x=1&y=%20two");
    assert_eq!(request.body, body);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-app-trace"), Some("abc"));
    assert_eq!(request.header("content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(request.header("webhook-id"), Some(id.as_str()));
    assert!(request.header("user-agent").unwrap().starts_with("Hookah/"));
    assert_eq!(request.header("host"), Some(receiver.host_port().as_str()));
    for hidden in ["authorization", "hookah-max-attempts", "spin-full-url"] {
        assert_eq!(request.header(hidden), None, "{hidden} must not reach the receiver");
    }

    let job = hookah.wait_state(&id, "delivered").await;
    assert_eq!(job["attempt_count"], 1);
    assert_eq!(job["max_attempts"], 3);
    assert_eq!(job["attempts"][0]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_form_and_bodiless_methods_work() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let hp = receiver.host_port();
    hookah.submit("GET", &format!("/{hp}/a?q=1"), &[], b"").await;
    // A HEAD answer has no body: the job id is in `Location`.
    let head = hookah.call("HEAD", &format!("/http://{hp}/b"), &[], b"").await;
    assert_eq!(head.status, 202);
    assert!(head.header("location").unwrap().starts_with("/_hookah/v1/jobs/job_"));
    hookah.submit("DELETE", &format!("/http:/{hp}/c"), &[], b"").await;
    hookah.submit("POST", &format!("/?_url=http%3A%2F%2F{hp}%2Fd%3Fk%3Dv&extra=1"), &[], b"x").await;
    hookah
        .submit(
            "POST",
            "/dispatch",
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("a=1&_url=http%3A%2F%2F{hp}%2Fe").as_bytes(),
        )
        .await;
    let mut got: Vec<(String, String, Vec<u8>)> =
        receiver.wait_for(5, WAIT).await.into_iter().map(|r| (r.method, r.path_and_query, r.body)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("DELETE".into(), "/c".into(), vec![]),
            ("GET".into(), "/a?q=1".into(), vec![]),
            ("HEAD".into(), "/b".into(), vec![]),
            ("POST".into(), "/d?k=v&extra=1".into(), b"x".to_vec()),
            ("POST".into(), "/e".into(), b"a=1".to_vec()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_then_a_200_ends_delivered_through_a_sweep() {
    // A minute's delay (48 to 72 s with jitter) leaves a busy machine time to sweep before it.
    let hookah = TestHookah::start_with(&[("retry_schedule", "60s")]).await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, index| Answer::status(if index == 0 { 500 } else { 200 }));
    let id = hookah.submit("POST", &format!("/{}/hook", receiver.host_port()), &[], b"{}").await;
    let job = hookah.wait_job(&id, WAIT, |job| job["attempt_count"] == 1).await;
    assert_eq!(job["state"], "pending");
    assert_eq!(job["attempts"][0]["status"], 500);
    assert!(job["next_attempt_at"].is_string());

    assert_eq!(hookah.sweep().await["claimed"], 0, "the retry is not due yet");
    hookah.advance_idle(Duration::from_secs(73)).await;
    let report = hookah.sweep().await;
    assert_eq!((report["claimed"].as_u64(), report["delivered"].as_u64()), (Some(1), Some(1)), "{report}");
    let job = hookah.job(&id).await;
    assert_eq!(job["state"], "delivered");
    assert_eq!(job["attempt_count"], 2);
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"), "stable across retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_ends_gone_after_one_attempt() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, _| Answer::status(410));
    let id = hookah.submit("POST", &format!("/{}/hook", receiver.host_port()), &[], b"{}").await;
    let job = hookah.wait_state(&id, "gone").await;
    assert_eq!(job["attempt_count"], 1);
    hookah.advance_idle(Duration::from_secs(3_600)).await;
    hookah.sweep().await;
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    receiver.answer(|_, index| {
        if index == 0 {
            Answer::status(503).with_header("retry-after", "120")
        } else {
            Answer::status(200)
        }
    });
    let id = hookah.submit("POST", &format!("/{}/hook", receiver.host_port()), &[], b"{}").await;
    hookah.wait_job(&id, WAIT, |job| job["attempt_count"] == 1).await;
    // The schedule alone would retry after about 5 s; the receiver asked for 120.
    hookah.advance_idle(Duration::from_secs(60)).await;
    assert_eq!(hookah.sweep().await["claimed"], 0);
    hookah.advance_idle(Duration::from_secs(62)).await;
    let report = hookah.sweep().await;
    assert_eq!(report["delivered"], 1, "{report} {:#}", hookah.job(&id).await);
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_receiver_times_out_without_holding_up_other_deliveries() {
    let hookah = TestHookah::start().await;
    let stalled = Receiver::start().await;
    stalled.answer(|_, _| Answer::status(200).held()); // never released
    let fast = Receiver::start().await;

    let waiting =
        hookah.submit("POST", &format!("/{}/a", stalled.host_port()), &[("hookah-timeout", "300")], b"").await;
    let timing_out =
        hookah.submit("POST", &format!("/{}/b", stalled.host_port()), &[("hookah-timeout", "1")], b"").await;
    for i in 0..5 {
        hookah.submit("POST", &format!("/{}/fast/{i}", fast.host_port()), &[], b"{}").await;
    }
    fast.wait_for(5, WAIT).await;
    // The fast deliveries all landed while the first stalled attempt still waits (its timeout is
    // longer than any wait here).
    let job = hookah.job(&waiting).await;
    assert_eq!((job["in_flight"].as_bool(), job["attempt_count"].as_u64()), (Some(true), Some(0)), "{job:#}");
    // Nothing answers the other one, so only its 1 s timeout can end its attempt.
    let job = hookah.wait_job(&timing_out, WAIT, |job| job["attempt_count"] == 1).await;
    assert_eq!(job["attempts"][0]["error"], "timeout", "{job:#}");
}

/// A sweep makes its attempts at once: both receivers hold their requests, and the second
/// request can only arrive while the first is unanswered if the attempts run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_makes_its_attempts_side_by_side() {
    let hookah = TestHookah::start().await;
    let receivers = [Receiver::start().await, Receiver::start().await];
    for receiver in &receivers {
        receiver.answer(|_, index| if index == 0 { Answer::status(500) } else { Answer::status(200).held() });
        // A timeout far past any wait here: no attempt ends until its receiver is released.
        hookah.submit("POST", &format!("/{}/x", receiver.host_port()), &[("hookah-timeout", "300")], b"{}").await;
    }
    hookah.idle().await; // both first attempts failed; their retries wait about 5 s
    hookah.advance_idle(Duration::from_secs(10)).await;
    let (report, ()) = tokio::join!(hookah.sweep(), async {
        for receiver in &receivers {
            receiver.wait_for(2, WAIT).await;
        }
        for receiver in &receivers {
            receiver.release();
        }
    });
    assert_eq!((report["claimed"].as_u64(), report["delivered"].as_u64()), (Some(2), Some(2)), "{report}");
}

/// Cron firings do not wait for each other (as in Spin's cron trigger): while one sweep waits on
/// a receiver that does not answer, the next firings still deliver what comes due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_stuck_on_a_slow_receiver_holds_up_no_later_cron_sweep() {
    let hookah = TestHookah::start_with_cron(&[]).await;
    let receiver = Receiver::start().await;
    // First attempts fail; the first job's retry is never answered, the second's is.
    receiver.answer(|_, index| match index {
        1 => Answer::status(200).held(),
        0 | 2 => Answer::status(500),
        _ => Answer::status(200),
    });
    let stuck =
        hookah.submit("POST", &format!("/{}/stuck", receiver.host_port()), &[("hookah-timeout", "300")], b"").await;
    hookah.wait_job(&stuck, WAIT, |job| job["attempt_count"] == 1).await;
    hookah.advance(Duration::from_secs(10));
    receiver.wait_for(2, WAIT).await; // a cron sweep now waits on the held retry

    let next = hookah.submit("POST", &format!("/{}/next", receiver.host_port()), &[], b"").await;
    hookah.wait_job(&next, WAIT, |job| job["attempt_count"] == 1).await;
    hookah.advance(Duration::from_secs(10));
    // Well inside the stuck attempt's 300 s timeout: only a sweep beside it can deliver this.
    let job = hookah.wait_job(&next, Duration::from_secs(30), |job| job["state"] == "delivered").await;
    assert_eq!(job["attempt_count"], 2);
    let stuck = hookah.job(&stuck).await;
    assert_eq!((stuck["in_flight"].as_bool(), stuck["attempt_count"].as_u64()), (Some(true), Some(1)), "{stuck:#}");
    receiver.release();
}
