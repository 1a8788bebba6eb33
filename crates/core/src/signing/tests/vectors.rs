//! Known-answer vectors from `standard-webhooks.json` beside this file: the Standard Webhooks
//! specification's test suites, each value recomputed outside this codebase (the file's `source`
//! says which case comes from where). The file is compiled in, so a clone tests without anything
//! outside the repository.

use serde::Deserialize;

use crate::signing::{generate_ed25519_secret, signature_header, SigningKey, Verifier, WebhookId};

const VECTORS: &str = include_str!("standard-webhooks.json");

#[derive(Deserialize)]
struct Vectors {
    v1: Vec<HmacVector>,
    v1a: Vec<Ed25519Vector>,
    must_reject: Vec<String>,
    must_accept: Vec<String>,
}

#[derive(Deserialize)]
struct HmacVector {
    secret: String,
    id: String,
    timestamp: i64,
    body: String,
    signature: String,
}

#[derive(Deserialize)]
struct Ed25519Vector {
    secret: String,
    public_key: String,
    id: String,
    timestamp: i64,
    body: String,
    signature: String,
}

fn load() -> Vectors {
    let vectors: Vectors = serde_json::from_str(VECTORS)
        .unwrap_or_else(|e| panic!("cannot parse the known-answer vectors in standard-webhooks.json: {e}"));
    assert!(!vectors.v1.is_empty(), "no v1 vectors");
    assert!(!vectors.v1a.is_empty(), "no v1a vectors");
    vectors
}

/// Signs as Hookah would and verifies as a receiver would, at the vector's own time.
fn check(secret: &str, verify_with: &str, id: &str, timestamp: i64, body: &str, expected: &str) {
    let key = SigningKey::parse(secret).unwrap();
    let id_checked = WebhookId::new(id).unwrap();
    assert_eq!(key.sign(&id_checked, timestamp, body.as_bytes()), expected, "{id}");
    assert_eq!(signature_header(std::slice::from_ref(&key), &id_checked, timestamp, body.as_bytes()), expected);
    assert_eq!(key.expose_secret(), secret, "secret must round-trip");

    let ts = timestamp.to_string();
    let verifier = Verifier::new(&[verify_with]).unwrap();
    let verified = verifier.verify_at(Some(id), Some(&ts), Some(expected), body.as_bytes(), timestamp);
    assert_eq!(verified, Ok(()), "{id} must verify with {verify_with}");
}

#[test]
fn v1_vectors() {
    for v in load().v1 {
        check(&v.secret, &v.secret, &v.id, v.timestamp, &v.body, &v.signature);
    }
}

#[test]
fn v1a_vectors() {
    for v in load().v1a {
        check(&v.secret, &v.public_key, &v.id, v.timestamp, &v.body, &v.signature);
        let key = SigningKey::parse(&v.secret).unwrap();
        assert_eq!(key.public_key().as_deref(), Some(v.public_key.as_str()));
    }
}

/// Generating from the vector's seed must reproduce the vector's key, so the `whsk_` layout
/// (seed then public key) is what other implementations expect.
#[test]
fn v1a_generation_matches_vector_layout() {
    use base64::Engine as _;
    for v in load().v1a {
        let bytes = base64::engine::general_purpose::STANDARD.decode(v.secret.strip_prefix("whsk_").unwrap()).unwrap();
        let seed: [u8; 32] = bytes[..32].try_into().unwrap();
        let key = SigningKey::from(generate_ed25519_secret(&seed));
        assert_eq!(key.expose_secret(), v.secret);
        assert_eq!(key.public_key(), Some(v.public_key));
    }
}

/// The prose cases in the vector file are covered by the named tables in `verifier.rs` and
/// `keys.rs`. A new case in the file fails here until someone adds a table row for it.
#[test]
fn prose_cases_are_covered() {
    let vectors = load();
    let rejects: Vec<&str> = vectors.must_reject.iter().map(String::as_str).collect();
    assert_eq!(
        rejects,
        [
            "timestamp more than 300 s before or after the verifier's clock", // verifier::rejects
            "a bare 'v1,' or a truncated signature",                          // verifier::rejects
            "any of the three headers missing",                               // verifier::rejects
            "a secret that is empty or only 'whsec_'",                        // keys::verifier_keys
        ]
    );
    let accepts: Vec<&str> = vectors.must_accept.iter().map(String::as_str).collect();
    assert_eq!(
        accepts,
        ["a header holding several space-separated signatures of which one is valid (key rotation)"] // verifier::accepts, verifier::rotation_*
    );
}
