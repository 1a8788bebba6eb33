//! Properties of signing and verification: any headers get a verdict, never a panic; what a key
//! signs verifies within the tolerance and nowhere else; a parsed key prints back to its text.

use proptest::prelude::*;

use crate::signing::{
    generate_ed25519_secret, generate_hmac_secret, signature_header, SigningKey, Verifier, VerifyError, WebhookId,
    TIMESTAMP_TOLERANCE_SECS,
};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

/// An HMAC or an ed25519 key made from arbitrary random bytes, as an adapter would.
fn signing_keys() -> impl Strategy<Value = SigningKey> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 24..=64).prop_map(|bytes| generate_hmac_secret(&bytes).unwrap().into()),
        any::<[u8; 32]>().prop_map(|seed| generate_ed25519_secret(&seed).into()),
    ]
}

/// What a receiver trusts for `key`: the secret itself, or the public half.
fn trusted(key: &SigningKey) -> String {
    key.public_key().unwrap_or_else(|| key.expose_secret())
}

/// Printable ASCII without `.` or space: what a webhook id may hold.
fn ids() -> impl Strategy<Value = String> {
    "[!-\\-/-~]{1,40}"
}

/// Signature headers with well-formed, truncated and foreign entries.
fn signature_headers() -> impl Strategy<Value = String> {
    let entry = prop_oneof!["v1a?,[A-Za-z0-9+/]{0,90}={0,2}", "v[0-9],[ -~]{0,12}", "[ -~]{0,20}",];
    proptest::collection::vec(entry, 0..4).prop_map(|entries| entries.join(" "))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_headers_get_a_verdict(
        key in signing_keys(),
        id in proptest::option::of(prop_oneof![ids(), any::<String>()]),
        timestamp in proptest::option::of(prop_oneof!["[+-]?[0-9]{0,21}", any::<String>()]),
        signature in proptest::option::of(signature_headers()),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
    ) {
        let verifier = Verifier::new(&[&trusted(&key)]).unwrap();
        let verdict = verifier.verify_at(id.as_deref(), timestamp.as_deref(), signature.as_deref(), &body, now);
        // Nobody here holds the key, so nothing verifies.
        prop_assert!(verdict.is_err());
    }

    #[test]
    fn a_signature_verifies_within_the_tolerance_and_only_there(
        key in signing_keys(),
        id in ids(),
        sent in 0..=4_102_444_800_i64,
        skew in -2 * TIMESTAMP_TOLERANCE_SECS..=2 * TIMESTAMP_TOLERANCE_SECS,
        body in proptest::collection::vec(any::<u8>(), 0..64),
        noise in signature_headers(),
    ) {
        let webhook_id = WebhookId::new(&id).unwrap();
        let signed = signature_header(std::slice::from_ref(&key), &webhook_id, sent, &body);
        // Among other entries, as during a key rotation, the one valid signature is enough.
        let header = format!("{noise} {signed}");
        let verifier = Verifier::new(&[&trusted(&key)]).unwrap();
        let ts = sent.to_string();
        let verdict = verifier.verify_at(Some(&id), Some(&ts), Some(&header), &body, sent + skew);
        let expected = if skew > TIMESTAMP_TOLERANCE_SECS {
            Err(VerifyError::TimestampTooOld)
        } else if skew < -TIMESTAMP_TOLERANCE_SECS {
            Err(VerifyError::TimestampTooNew)
        } else {
            Ok(())
        };
        prop_assert_eq!(verdict, expected);

        let mut tampered = body.clone();
        tampered.push(b'!');
        let verdict = verifier.verify_at(Some(&id), Some(&ts), Some(&header), &tampered, sent);
        prop_assert_eq!(verdict, Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn a_parsed_key_prints_back_to_its_text(
        key in signing_keys(),
        junk in prop_oneof!["(whsec_|whsk_|whpk_)?[A-Za-z0-9+/]{0,90}={0,3}", "[ -~]{0,40}"],
    ) {
        let text = key.expose_secret();
        prop_assert_eq!(SigningKey::parse(&text).map(|k| k.expose_secret()), Ok(text.clone()));
        if let Ok(parsed) = SigningKey::parse(&junk) {
            prop_assert_eq!(&parsed.expose_secret(), &junk);
        }
        // A verifier takes any text without panicking; only public halves and shared secrets.
        let _ = Verifier::new(&[junk.as_str()]);
        prop_assert!(Verifier::new(&[trusted(&key).as_str()]).is_ok());
    }
}
