//! Standard Webhooks signatures on every delivery, key rotation, ed25519, and the receivers'
//! verification endpoint. Signatures are checked by a verifier written here, independently of
//! the core's signing code, and by the official Python and Node libraries.

use crate::support::receiver::Recorded;
use crate::support::signature::hmac_matches;
use crate::support::{send, Receiver, TestHookah, WAIT};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ed25519_verifies(request: &Recorded, public_key: &str) -> bool {
    let key: [u8; 32] = STANDARD.decode(public_key.strip_prefix("whpk_").unwrap()).unwrap().try_into().unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    let content = format!(
        "{}.{}.{}",
        request.header("webhook-id").unwrap(),
        request.header("webhook-timestamp").unwrap(),
        String::from_utf8_lossy(&request.body)
    );
    request.header("webhook-signature").unwrap_or_default().split(' ').filter_map(|s| s.strip_prefix("v1a,")).any(
        |signature| {
            let bytes: [u8; 64] = STANDARD.decode(signature).unwrap().try_into().unwrap();
            key.verify_strict(content.as_bytes(), &ed25519_dalek::Signature::from_bytes(&bytes)).is_ok()
        },
    )
}

async fn create_key(hookah: &TestHookah, body: Value) -> Value {
    let response = hookah.call("POST", "/_hookah/v1/keys", &[], body.to_string().as_bytes()).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    response.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_and_keys_rotate_with_a_grace_period() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let key = create_key(&hookah, json!({})).await;
    let (id, old_secret) = (key["id"].as_str().unwrap().to_string(), key["secret"].as_str().unwrap().to_string());
    assert!(old_secret.starts_with("whsec_"));
    assert_eq!(key["default"], true);
    let shown = hookah.call("GET", &format!("/_hookah/v1/keys/{id}"), &[], b"").await;
    assert!(!String::from_utf8_lossy(&shown.body).contains("whsec_"), "the secret is shown once only");

    let target = format!("/{}/signed", receiver.host_port());
    let job = hookah.submit("POST", &target, &[], br#"{"n":1}"#).await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("webhook-id"), Some(job.as_str()));
    assert_eq!(hmac_matches(&got[0], &old_secret), 1);
    let view = hookah.job(&job).await.to_string();
    assert!(!view.contains("whsec_") && !view.contains("v1,"), "no secrets or signatures in job views");

    let rotated =
        hookah.call("POST", &format!("/_hookah/v1/keys/{id}/rotate"), &[], br#"{"grace_seconds":3600}"#).await.json();
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, old_secret);
    hookah.submit("POST", &target, &[], br#"{"n":2}"#).await;
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1].header("webhook-signature").unwrap().split(' ').count(), 2);
    assert_eq!((hmac_matches(&got[1], &old_secret), hmac_matches(&got[1], &new_secret)), (1, 1));

    hookah.advance_idle(Duration::from_secs(3_601)).await;
    hookah.submit("POST", &target, &[], br#"{"n":3}"#).await;
    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!((hmac_matches(&got[2], &old_secret), hmac_matches(&got[2], &new_secret)), (0, 1));
    assert_eq!(got[2].header("webhook-signature").unwrap().split(' ').count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_signatures_verify_with_the_public_key_from_the_public_route() {
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    create_key(&hookah, json!({})).await; // the default, HMAC
    let key = create_key(&hookah, json!({"type": "ed25519"})).await;
    let id = key["id"].as_str().unwrap();
    assert!(key["secret"].as_str().unwrap().starts_with("whsk_"));
    let public = send("GET", &hookah.url(&format!("/_hookah/public-keys/{id}")), &[], b"").await;
    assert_eq!(public.status, 200, "public: no token needed");
    let public_key = public.json()["public_keys"][0].as_str().unwrap().to_string();

    hookah.submit("POST", &format!("/{}/ed", receiver.host_port()), &[("hookah-signing-key", id)], b"hello").await;
    let got = receiver.wait_for(1, WAIT).await;
    assert!(got[0].header("webhook-signature").unwrap().starts_with("v1a,"));
    assert!(ed25519_verifies(&got[0], &public_key));

    let unknown =
        hookah.call("POST", "/example.com/", &[("hookah-signing-key", "key_00000000000000000000000000")], b"").await;
    assert_eq!((unknown.status, unknown.error_code()), (400, "unknown_key".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_endpoint_confirms_only_what_was_sent() {
    let hookah = TestHookah::start_with(&[("retention", "1h")]).await;
    let receiver = Receiver::start().await;
    let body = br#"{"amount":100}"#;
    let job = hookah.submit("POST", &format!("/{}/ipn", receiver.host_port()), &[], body).await;
    receiver.wait_for(1, WAIT).await;
    hookah.wait_state(&job, "delivered").await;

    let verify = |id: String, body: Vec<u8>, query: &'static str| {
        let url = hookah.url(&format!("/_hookah/verify{query}"));
        async move { send("POST", &url, &[("webhook-id", id.as_str())], &body).await.json()["status"].clone() }
    };
    assert_eq!(verify(job.clone(), body.to_vec(), "").await, "VERIFIED");
    assert_eq!(verify(job.clone(), br#"{"amount":1000}"#.to_vec(), "").await, "INVALID");
    assert_eq!(verify("job_00000000000000000000000000".into(), body.to_vec(), "").await, "INVALID");
    assert_eq!(verify("nonsense".into(), body.to_vec(), "").await, "INVALID");
    let digest = hookah_core::digest::sha256_hex(body);
    let by_digest = hookah.url(&format!("/_hookah/verify?sha256={digest}"));
    let answer = send("POST", &by_digest, &[("webhook-id", job.as_str())], b"").await;
    assert_eq!(answer.json()["status"], "VERIFIED");
    // A receiver can also ask whether the call was made to it.
    let mine = format!("http%3A%2F%2F{}%2Fipn", receiver.host_port());
    let to_me = hookah.url(&format!("/_hookah/verify?receiver={mine}"));
    assert_eq!(send("POST", &to_me, &[("webhook-id", job.as_str())], body).await.json()["status"], "VERIFIED");
    let elsewhere = hookah.url("/_hookah/verify?receiver=http%3A%2F%2Fother.example%2F");
    assert_eq!(send("POST", &elsewhere, &[("webhook-id", job.as_str())], body).await.json()["status"], "INVALID");

    hookah.advance_idle(Duration::from_secs(2 * 3_600)).await;
    assert_eq!(verify(job.clone(), body.to_vec(), "").await, "INVALID", "expired with the retention period");
}

/// Runs a receiver script from tests/receivers with the delivery on stdin.
fn official_library_verifies(program: &str, script: &str, secret: &str, request: &Recorded) -> bool {
    let headers: serde_json::Map<String, Value> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .iter()
        .map(|name| (name.to_string(), json!(request.header(name).unwrap())))
        .collect();
    let input = json!({ "secret": secret, "headers": headers, "body": String::from_utf8_lossy(&request.body) });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receivers");
    let mut child = Command::new(program)
        .arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    child.wait().unwrap().success()
}

/// Installs the official libraries where they are missing (from the package registries).
fn install_official_libraries() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receivers");
    let python_has_it =
        Command::new("python3").args(["-c", "import standardwebhooks"]).status().is_ok_and(|s| s.success());
    if !python_has_it {
        let status = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "standardwebhooks==1.1.0"])
            .status()
            .expect("pip");
        assert!(status.success(), "installing the Python standardwebhooks library failed");
    }
    if !dir.join("node_modules/standardwebhooks").exists() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm");
        assert!(status.success(), "installing the Node standardwebhooks library failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_and_node_libraries_verify_deliveries() {
    tokio::task::spawn_blocking(install_official_libraries).await.unwrap();
    let hookah = TestHookah::start().await;
    let receiver = Receiver::start().await;
    let secret = create_key(&hookah, json!({})).await["secret"].as_str().unwrap().to_string();
    hookah.submit("POST", &format!("/{}/lib", receiver.host_port()), &[], br#"{"lib":"official"}"#).await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    assert!(official_library_verifies("python3", "verify.py", &secret, &request), "Python");
    assert!(official_library_verifies("node", "verify.mjs", &secret, &request), "Node");
    let mut forged = request.clone();
    forged.body = br#"{"lib":"forged"}"#.to_vec();
    assert!(!official_library_verifies("python3", "verify.py", &secret, &forged), "Python must reject");
    assert!(!official_library_verifies("node", "verify.mjs", &secret, &forged), "Node must reject");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_secret_variable_signs_jobs_that_name_no_key() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let hookah = TestHookah::start_with(&[("signing_secret", secret)]).await;
    let receiver = Receiver::start().await;
    create_key(&hookah, json!({})).await; // a stored default does not override the variable
    hookah.submit("POST", &format!("/{}/var", receiver.host_port()), &[], b"{}").await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(hmac_matches(&got[0], secret), 1);
    assert_eq!(got[0].header("webhook-signature").unwrap().split(' ').count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_keys_free_their_place_in_the_key_limit() {
    let hookah = TestHookah::start().await;
    // One more create+delete cycle than the limit on keys.
    for _ in 0..=1_000 {
        let key = create_key(&hookah, json!({})).await;
        let deleted =
            hookah.call("DELETE", &format!("/_hookah/v1/keys/{}", key["id"].as_str().unwrap()), &[], b"").await;
        assert_eq!(deleted.status, 200, "{}", String::from_utf8_lossy(&deleted.body));
    }
    let key = create_key(&hookah, json!({})).await;
    let listed = hookah.call("GET", "/_hookah/v1/keys", &[], b"").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["id"], key["id"]);
}
