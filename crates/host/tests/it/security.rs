//! Authentication, address policy and bad input: clear JSON 4xx errors, nothing stored.

use crate::channels::{echo, subscribe};
use crate::support::{send, Receiver, TestHookah, TOKEN};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_health_needs_the_token() {
    let hookah = TestHookah::start().await;
    let health = send("GET", &hookah.url("/_hookah/health"), &[], b"").await;
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("ok")));
    // Health's answer is followed by a sweep in passing, which keeps its own bookkeeping.
    hookah.idle().await;
    let before = hookah.stored_keys();
    for (method, path) in
        [("POST", "/example.com/hook"), ("GET", "/_hookah/v1/jobs/job_x"), ("POST", "/_hookah/v1/sweep")]
    {
        for auth in [None, Some("Bearer wrong"), Some("Bearer test-toke"), Some(TOKEN)] {
            let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
            let response = send(method, &hookah.url(path), &headers, b"").await;
            assert_eq!((response.status, response.error_code()), (401, "unauthorized".into()), "{method} {path}");
        }
    }
    hookah.idle().await;
    assert_eq!(hookah.stored_keys(), before, "a refused request stores nothing and sweeps nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_token_is_a_503_that_says_how_to_set_it() {
    let hookah = TestHookah::start_with(&[("api_token", "")]).await;
    let response = send("POST", &hookah.url("/example.com/"), &[("authorization", "Bearer ")], b"").await;
    assert_eq!(response.status, 503);
    assert_eq!(response.error_code(), "not_configured");
    assert!(response.json()["error"]["message"].as_str().unwrap().contains("SPIN_VARIABLE_API_TOKEN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_targets_are_refused_unless_allowed() {
    let hookah = TestHookah::start().await;
    for path in [
        "/10.0.0.1/x",
        "/192.168.1.10/x",
        "/localhost/x",
        "/169.254.169.254/latest/meta-data",
        "/[::1]:8080/x",
        "/0x7f000002/x",
        "/metadata.google.internal/x",
        "/?_url=http%3A%2F%2F172.16.0.5%2Fx",
    ] {
        let response = hookah.call("POST", path, &[], b"{}").await;
        assert_eq!((response.status, response.error_code()), (400, "forbidden_target".into()), "{path}");
    }
    assert_eq!(hookah.stored_keys(), 0, "a refused request stores nothing");
    // 127.0.0.1 is allowlisted for these tests through the allowed_private_targets variable.
    let receiver = Receiver::start().await;
    hookah.submit("POST", &format!("/{}/ok", receiver.host_port()), &[], b"{}").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_json_4xx_and_stores_nothing() {
    let hookah = TestHookah::start_with(&[("max_body_bytes", "1024")]).await;
    let big = vec![b'x'; 1025];
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [u8], u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("POST", "/example.com/hook", vec![], &big, 413, "body_too_large"),
        ("POST", "/", vec![], b"", 400, "no_destination"),
        ("POST", "/dispatch?x=1", vec![], b"", 400, "no_destination"),
        ("POST", "/example.com:99999/", vec![], b"", 400, "bad_target"),
        ("POST", "/a:b:80/x", vec![], b"", 400, "bad_target"),
        ("POST", "/?_url=ftp%3A%2F%2Fexample.com", vec![], b"", 400, "bad_target"),
        ("POST", "/example.com/", vec![("hookah-max-attempts", "many")], b"", 400, "bad_control_header"),
        ("POST", "/example.com/", vec![("hookah-timeout", "0")], b"", 400, "bad_control_header"),
        ("POST", "/example.com/", vec![("hookah-delay", "-1")], b"", 400, "bad_control_header"),
        ("POST", "/example.com/", vec![("hookah-bogus", "1")], b"", 400, "bad_control_header"),
        ("POST", "/example.com/", vec![("hookah-callback", "not a url")], b"", 400, "bad_control_header"),
        ("POST", "/_hookah/v1/jobs/retry", vec![], b"{", 400, "bad_json"),
        ("DELETE", "/_hookah/v1/sweep", vec![], b"", 405, "method_not_allowed"),
        ("POST", "/_hookah/v1/jobs/job_x", vec![], b"", 405, "method_not_allowed"),
        ("GET", "/_hookah/v1/nothing", vec![], b"", 404, "not_found"),
        ("GET", "/_hookah/v1/jobs/job_00000000000000000000000000", vec![], b"", 404, "not_found"),
        ("GET", "/_hookah/v1/jobs/../../etc", vec![], b"", 404, "not_found"),
    ];
    for (method, path, headers, body, status, code) in cases {
        let response = hookah.call(method, path, &headers, body).await;
        assert_eq!(response.header("content-type"), Some("application/json"), "{method} {path}");
        assert_eq!((response.status, response.error_code()), (status, code.to_string()), "{method} {path}");
    }
    assert_eq!(hookah.stored_keys(), 0);
}

/// A client still sending an oversized body reads its 413 rather than a reset connection. The
/// client writes the whole request before reading, as simple clients do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_oversized_post_reads_its_413() {
    let hookah = TestHookah::start().await;
    let body = vec![b'x'; 2 * 1024 * 1024];
    for n in 0..25 {
        let answer = tokio::time::timeout(Duration::from_secs(30), post_then_read(&hookah, &body)).await;
        let answer = answer.unwrap_or_else(|_| panic!("post {n} took over 30 s"));
        let answer = answer.unwrap_or_else(|e| panic!("post {n}: the connection failed: {e}"));
        let (head, json) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with("HTTP/1.1 413"), "post {n}: {head}");
        assert!(json.contains(r#""code":"body_too_large""#), "post {n}: {json}");
    }
    assert_eq!(hookah.stored_keys(), 0);
}

/// The same for an error found in the headers, before the body is read: a header that is not
/// UTF-8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_with_a_bad_header_reads_its_400() {
    let hookah = TestHookah::start().await;
    let body = vec![b'x'; 512 * 1024];
    for n in 0..10 {
        let answer = post_raw(&hookah, b"x-app-note: caf\xe9\r\n", &body);
        let answer = tokio::time::timeout(Duration::from_secs(30), answer).await;
        let answer = answer.unwrap_or_else(|_| panic!("post {n} took over 30 s"));
        let answer = answer.unwrap_or_else(|e| panic!("post {n}: the connection failed: {e}"));
        let (head, json) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with("HTTP/1.1 400"), "post {n}: {head}");
        assert!(json.contains(r#""code":"bad_header""#) && json.contains("x-app-note"), "post {n}: {json}");
    }
    assert_eq!(hookah.stored_keys(), 0);
}

/// Writes a whole POST on a fresh connection, then reads the answer to the end.
async fn post_then_read(hookah: &TestHookah, body: &[u8]) -> std::io::Result<String> {
    post_raw(hookah, b"", body).await
}

/// [`post_then_read`] with `extra` raw header lines.
async fn post_raw(hookah: &TestHookah, extra: &[u8], body: &[u8]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(hookah.host.addr()).await?;
    let head = format!(
        "POST /example.com/hook HTTP/1.1\r\nhost: hookah.test\r\nauthorization: Bearer {TOKEN}\r\n\
         content-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(extra).await?;
    stream.write_all(b"\r\n").await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_hookah_publishes_to_hookah_ops_or_changes_its_settings() {
    let hookah = TestHookah::start().await;
    let ops = Receiver::start().await;
    ops.answer(|request, _| echo(request));
    let subscribed = subscribe(&hookah, "hookah.ops", json!({"url": format!("http://{}/ops", ops.host_port())}), None);
    let subscribed = subscribed.await;
    assert_eq!(subscribed.status, 201, "subscribing stays allowed");
    // Its intent verification writes too: count the keys once it is done.
    crate::channels::wait_status(&hookah, "hookah.ops", subscribed.json()["id"].as_str().unwrap(), "active").await;
    let stored = hookah.stored_keys();
    let forged = hookah
        .call(
            "POST",
            "/_hookah/v1/channels/hookah.ops/events",
            &[("hookah-event-type", "subscription.disabled")],
            b"{}",
        )
        .await;
    assert_eq!((forged.status, forged.error_code()), (403, "reserved_channel".to_string()));
    let settings = hookah.call("PUT", "/_hookah/v1/channels/hookah.ops", &[], br#"{"verify_intent": false}"#).await;
    assert_eq!((settings.status, settings.error_code()), (403, "reserved_channel".to_string()));
    assert_eq!(hookah.stored_keys(), stored, "nothing stored");
    let read = hookah.call("GET", "/_hookah/v1/channels/hookah.ops", &[], b"").await;
    assert_eq!((read.status, read.json()["verify_intent"].as_bool()), (200, Some(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_has_one_code_and_names_what_was_wrong() {
    let hookah = TestHookah::start().await;
    let callback = hookah.call("POST", "/example.com/", &[("hookah-callback", "not a url")], b"").await;
    let message = callback.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("hookah-callback") && !message.contains("_url"), "{message}");

    let filter = json!({"url": "https://x.example/hook", "event_types": ["a..b"]});
    let filter = subscribe(&hookah, "app", filter, None).await;
    assert_eq!((filter.status, filter.error_code()), (400, "bad_event_type".to_string()));

    let mint = json!({"channel": "app", "tenant": "t", "access": "write", "expires_in": 3600}).to_string();
    let token = hookah.call("POST", "/_hookah/v1/tokens", &[], mint.as_bytes()).await.json()["token"].clone();
    let scoped = format!("Bearer {}", token.as_str().unwrap());
    let form_type = ("content-type", "application/x-www-form-urlencoded");
    let publish = b"hub.mode=publish&hub.url=https%3A%2F%2Fpub.example%2Ffeed";
    let hub = send("POST", &hookah.url("/_hookah/hub"), &[("authorization", &scoped), form_type], publish).await;
    assert_eq!((hub.status, hub.error_code()), (403, "forbidden".to_string()), "as on every route it may not use");
}
