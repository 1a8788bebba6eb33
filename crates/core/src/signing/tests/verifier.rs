//! The verifier against requests a sender could really send: each row starts from a correctly
//! signed request and changes one thing.

use super::{ed25519_key, hmac_key, NOW};
use crate::signing::{
    encode_base64, signature_header, SigningKey, Verifier, VerifyError, WebhookId, TIMESTAMP_TOLERANCE_SECS,
};

use VerifyError::*;

const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const BODY: &[u8] = br#"{"type":"contact.created"}"#;

/// Headers and body as a receiver sees them.
#[derive(Clone)]
struct Req {
    id: Option<String>,
    timestamp: Option<String>,
    signature: Option<String>,
    body: Vec<u8>,
}

impl Req {
    /// Signed at `timestamp` with the HMAC key the default verifier trusts.
    fn hmac_at(timestamp: i64) -> Self {
        Self::signed(&[hmac_key(1)], timestamp)
    }

    fn ed25519_at(timestamp: i64) -> Self {
        Self::signed(&[ed25519_key(2)], timestamp)
    }

    fn signed(keys: &[SigningKey], timestamp: i64) -> Self {
        let id = WebhookId::new(ID).unwrap();
        Self {
            id: Some(ID.to_owned()),
            timestamp: Some(timestamp.to_string()),
            signature: Some(signature_header(keys, &id, timestamp, BODY)),
            body: BODY.to_vec(),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }

    /// The signature header with `f` applied, e.g. to put junk around the valid entry.
    fn sig(self, f: impl FnOnce(&str) -> String) -> Self {
        let signature = f(self.signature.as_deref().unwrap());
        self.with(|r| r.signature = Some(signature))
    }

    fn verify(&self, verifier: &Verifier) -> Result<(), VerifyError> {
        verifier.verify_at(self.id.as_deref(), self.timestamp.as_deref(), self.signature.as_deref(), &self.body, NOW)
    }
}

/// Trusts HMAC key 1 and the public half of ed25519 key 2.
fn check(req: Req, expected: Result<(), VerifyError>) {
    let verifier = Verifier::from_signing_keys(&[hmac_key(1), ed25519_key(2)]).unwrap();
    assert_eq!(req.verify(&verifier), expected, "signature: {:?}", req.signature);
}

/// Drops `n` characters from the end of the signature value.
fn truncate(n: usize) -> impl FnOnce(&str) -> String {
    move |sig| sig[..sig.len() - n].to_owned()
}

/// Re-encodes the signature one byte short, so it is valid base64 of the wrong length.
fn one_byte_short(sig: &str) -> String {
    use base64::Engine as _;
    let (version, encoded) = sig.split_once(',').unwrap();
    let mut bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    bytes.pop();
    format!("{version},{}", encode_base64(&bytes))
}

#[test]
fn rejects() {
    let tol = TIMESTAMP_TOLERANCE_SECS;
    // Any of the three headers missing; an empty header is as good as missing.
    check(Req::hmac_at(NOW).with(|r| r.id = None), Err(MissingId));
    check(Req::hmac_at(NOW).with(|r| r.timestamp = None), Err(MissingTimestamp));
    check(Req::hmac_at(NOW).with(|r| r.signature = None), Err(MissingSignature));
    check(Req::hmac_at(NOW).with(|r| r.id = Some(String::new())), Err(MissingId));
    check(Req::hmac_at(NOW).with(|r| r.timestamp = Some(String::new())), Err(MissingTimestamp));
    check(Req::hmac_at(NOW).with(|r| r.signature = Some(String::new())), Err(MissingSignature));

    // Timestamp more than the tolerance either side of now, even when correctly signed.
    check(Req::hmac_at(NOW - tol - 1), Err(TimestampTooOld));
    check(Req::hmac_at(NOW + tol + 1), Err(TimestampTooNew));
    check(Req::ed25519_at(NOW - tol - 1), Err(TimestampTooOld));
    check(Req::hmac_at(0), Err(TimestampTooOld));
    check(Req::hmac_at(i64::MAX), Err(TimestampTooNew));

    // Timestamps that are not plain digits could smuggle a '.' into the signed content.
    for bad in ["soon", "1700000000.5", "-1700000000", "+1700000000", " 1700000000", "1e9"] {
        check(Req::hmac_at(NOW).with(|r| r.timestamp = Some(bad.into())), Err(InvalidTimestamp));
    }
    check(Req::hmac_at(NOW).with(|r| r.timestamp = Some("9".repeat(20))), Err(InvalidTimestamp));
    check(Req::hmac_at(NOW).with(|r| r.id = Some("msg.1".into())), Err(InvalidId));

    // A bare 'v1,' or a truncated or otherwise invalid signature.
    check(Req::hmac_at(NOW).sig(|_| "v1,".into()), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(|_| "v1a,".into()), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(|_| "v1".into()), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(|_| " ".into()), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(truncate(1)), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(truncate(4)), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(one_byte_short), Err(NoMatchingSignature));
    check(Req::ed25519_at(NOW).sig(truncate(4)), Err(NoMatchingSignature));
    check(Req::ed25519_at(NOW).sig(one_byte_short), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(|s| s.replacen("v1,", "v1a,", 1)), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(|s| s.replacen("v1,", "v2,", 1)), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).sig(|s| s.replacen("v1,", "", 1)), Err(NoMatchingSignature));

    // Correct signatures over something else: body, id, timestamp, or an untrusted key.
    check(Req::hmac_at(NOW).with(|r| r.body.push(b' ')), Err(NoMatchingSignature));
    check(Req::ed25519_at(NOW).with(|r| r.body.push(b' ')), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW).with(|r| r.id = Some("msg_other".into())), Err(NoMatchingSignature));
    check(Req::hmac_at(NOW - 1).with(|r| r.timestamp = Some(NOW.to_string())), Err(NoMatchingSignature));
    check(Req::signed(&[hmac_key(9)], NOW), Err(NoMatchingSignature));
    check(Req::signed(&[ed25519_key(9)], NOW), Err(NoMatchingSignature));
}

#[test]
fn accepts() {
    let tol = TIMESTAMP_TOLERANCE_SECS;
    check(Req::hmac_at(NOW), Ok(()));
    check(Req::ed25519_at(NOW), Ok(()));
    // The tolerance is inclusive.
    check(Req::hmac_at(NOW - tol), Ok(()));
    check(Req::hmac_at(NOW + tol), Ok(()));

    // Several space-separated signatures of which one is valid.
    check(Req::hmac_at(NOW).sig(|s| format!("v1,AAAA {s}")), Ok(()));
    check(Req::hmac_at(NOW).sig(|s| format!("v1, {s}")), Ok(()));
    check(Req::hmac_at(NOW).sig(|s| format!("{s} v1a,AAAA")), Ok(()));
    check(Req::hmac_at(NOW).sig(|s| format!("v2,future {s}")), Ok(()));
    check(Req::hmac_at(NOW).sig(|s| format!("garbage  {s}")), Ok(()));
    check(Req::ed25519_at(NOW).sig(|s| format!("v1,AAAA {s}")), Ok(()));
    check(Req::signed(&[hmac_key(9), ed25519_key(2)], NOW), Ok(()));
    check(Req::signed(&[ed25519_key(9), hmac_key(1)], NOW), Ok(()));
}

/// Two HMAC keys during rotation: two entries, and a receiver holding either key accepts.
#[test]
fn rotation_hmac() {
    let (old, new) = (hmac_key(3), hmac_key(4));
    let req = Req::signed(&[new.clone(), old.clone()], NOW);
    let entries: Vec<&str> = req.signature.as_deref().unwrap().split(' ').collect();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.starts_with("v1,")));
    assert_ne!(entries[0], entries[1]);

    for key in [&old, &new] {
        let verifier = Verifier::new(&[&key.expose_secret()]).unwrap();
        assert_eq!(req.verify(&verifier), Ok(()));
    }
    let stranger = Verifier::new(&[&hmac_key(5).expose_secret()]).unwrap();
    assert_eq!(req.verify(&stranger), Err(NoMatchingSignature));
}

/// Moving an endpoint from HMAC to ed25519: each entry verifies on its own with its own key.
#[test]
fn rotation_hmac_to_ed25519() {
    let (old, new) = (hmac_key(3), ed25519_key(4));
    let req = Req::signed(&[old.clone(), new.clone()], NOW);
    let header = req.signature.clone().unwrap();
    let (hmac_entry, ed25519_entry) = header.split_once(' ').unwrap();
    assert!(hmac_entry.starts_with("v1,"));
    assert!(ed25519_entry.starts_with("v1a,"));

    let by_secret = Verifier::new(&[&old.expose_secret()]).unwrap();
    let by_public = Verifier::new(&[&new.public_key().unwrap()]).unwrap();
    for (entry, verifier) in [(hmac_entry, &by_secret), (ed25519_entry, &by_public)] {
        let alone = req.clone().with(|r| r.signature = Some(entry.to_owned()));
        assert_eq!(alone.verify(verifier), Ok(()), "{entry}");
        assert_eq!(req.verify(verifier), Ok(()), "full header with {entry}");
    }
    // Each entry is useless to the other key.
    let swapped = req.clone().with(|r| r.signature = Some(hmac_entry.to_owned()));
    assert_eq!(swapped.verify(&by_public), Err(NoMatchingSignature));
}

#[test]
fn signature_header_with_no_keys_is_empty_and_rejected() {
    let req = Req::signed(&[], NOW);
    assert_eq!(req.signature.as_deref(), Some(""));
    check(req, Err(MissingSignature));
}
