//! Key formats, generation, webhook ids and `Debug` redaction.

use super::{ed25519_key, hmac_key, whsec_of_len};
use crate::signing::{
    encode_base64, generate_ed25519_secret, generate_hmac_secret, SigningError, SigningKey, Verifier, WebhookId,
};

use SigningError::*;

/// A valid `whsk_` key and its `whpk_`, from seed `[2; 32]`.
fn ed25519_pair() -> (String, String) {
    let key = ed25519_key(2);
    (key.expose_secret(), key.public_key().unwrap())
}

/// `whsk_` built from one seed and another key's public half.
fn spliced_whsk() -> String {
    let seed = [2u8; 32];
    let other = generate_ed25519_secret(&[3; 32]).public_key().to_string();
    let other = other.strip_prefix("whpk_").unwrap();
    let other_bytes = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(other).unwrap()
    };
    format!("whsk_{}", encode_base64(&[&seed[..], &other_bytes].concat()))
}

#[test]
fn signing_keys() {
    fn check(input: &str, expected: Result<(), SigningError>) {
        let parsed = SigningKey::parse(input);
        assert_eq!(parsed.as_ref().map(|_| ()).map_err(Clone::clone), expected, "{input:?}");
        if let Ok(key) = parsed {
            assert_eq!(key.expose_secret(), input, "must round-trip");
        }
    }
    let (whsk, whpk) = ed25519_pair();
    check(&whsec_of_len(24), Ok(()));
    check(&whsec_of_len(64), Ok(()));
    check(&whsk, Ok(()));
    check("", Err(EmptyKey));
    check("whsec_", Err(EmptyKey));
    check("whsk_", Err(EmptyKey));
    check(&whsec_of_len(23), Err(HmacKeyLength { len: 23 }));
    check(&whsec_of_len(65), Err(HmacKeyLength { len: 65 }));
    check("whsec_not base64!", Err(InvalidBase64));
    check(whsec_of_len(24).trim_end_matches('='), Ok(())); // 24 bytes need no padding
    check(whsec_of_len(25).trim_end_matches('='), Err(InvalidBase64));
    check(&format!(" {}", whsec_of_len(24)), Err(UnknownPrefix { expected: "whsec_ or whsk_" }));
    check(&whpk, Err(UnknownPrefix { expected: "whsec_ or whsk_" }));
    check("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Err(UnknownPrefix { expected: "whsec_ or whsk_" }));
    check(&format!("whsk_{}", encode_base64(&[2; 63])), Err(Ed25519SecretLength { len: 63 }));
    check(&format!("whsk_{}", encode_base64(&[2; 32])), Err(Ed25519SecretLength { len: 32 }));
    check(&spliced_whsk(), Err(KeyPairMismatch));
}

#[test]
fn verifier_keys() {
    fn check(keys: &[&str], expected: Result<(), SigningError>) {
        assert_eq!(Verifier::new(keys).map(|_| ()), expected, "{keys:?}");
    }
    let (whsk, whpk) = ed25519_pair();
    let whsec = whsec_of_len(32);
    check(&[&whsec], Ok(()));
    check(&[&whpk], Ok(()));
    check(&[&whsec, &whpk], Ok(()));
    // A secret that is empty or only the prefix.
    check(&[""], Err(EmptyKey));
    check(&["whsec_"], Err(EmptyKey));
    check(&["whpk_"], Err(EmptyKey));
    check(&[&whsec, ""], Err(EmptyKey));
    check(&[], Err(NoKeys));
    check(&[&whsec_of_len(16)], Err(HmacKeyLength { len: 16 }));
    check(&["whsec_====="], Err(InvalidBase64));
    check(&[&whsk], Err(PrivateKeyInVerifier));
    check(&["sk_live_123"], Err(UnknownPrefix { expected: "whsec_ or whpk_" }));
    check(&[&format!("whpk_{}", encode_base64(&[2; 31]))], Err(Ed25519PublicKeyLength { len: 31 }));
    check(&[&format!("whpk_{}", encode_base64(&[2; 64]))], Err(Ed25519PublicKeyLength { len: 64 }));
    check(&[&format!("whpk_{}", encode_base64(&NOT_ON_CURVE))], Err(InvalidPublicKey));
}

/// y = 2 is not the y-coordinate of any point on edwards25519.
const NOT_ON_CURVE: [u8; 32] = {
    let mut y = [0; 32];
    y[0] = 2;
    y
};

#[test]
fn hmac_generation() {
    fn check(random_len: usize, expected: Result<(), SigningError>) {
        let random = vec![0xA5; random_len];
        let generated = generate_hmac_secret(&random);
        assert_eq!(generated.as_ref().map(|_| ()).map_err(Clone::clone), expected);
        if let Ok(secret) = generated {
            let exposed = secret.expose_secret();
            assert_eq!(exposed, format!("whsec_{}", encode_base64(&random)));
            assert_eq!(SigningKey::parse(&exposed).unwrap().expose_secret(), exposed);
        }
    }
    check(0, Err(HmacKeyLength { len: 0 }));
    check(23, Err(HmacKeyLength { len: 23 }));
    check(24, Ok(()));
    check(32, Ok(()));
    check(64, Ok(()));
    check(65, Err(HmacKeyLength { len: 65 }));
}

#[test]
fn ed25519_generation_is_deterministic_and_round_trips() {
    let (a, b) = (ed25519_key(7), ed25519_key(7));
    assert_eq!(a.expose_secret(), b.expose_secret());
    assert_ne!(a.expose_secret(), ed25519_key(8).expose_secret());
    let reparsed = SigningKey::parse(&a.expose_secret()).unwrap();
    assert_eq!(reparsed.public_key(), a.public_key());
    assert!(a.public_key().unwrap().starts_with("whpk_"));
    assert_eq!(hmac_key(1).public_key(), None);
}

#[test]
fn webhook_ids() {
    fn check(id: &str, expected: Result<(), SigningError>) {
        assert_eq!(WebhookId::new(id).map(|_| ()), expected, "{id:?}");
    }
    check("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", Ok(()));
    check("a", Ok(()));
    check("", Err(InvalidWebhookId));
    check("msg.1", Err(InvalidWebhookId));
    check(".", Err(InvalidWebhookId));
    check("msg 1", Err(InvalidWebhookId));
    check("msg_1\r\nx-evil: 1", Err(InvalidWebhookId));
    check("msg_é", Err(InvalidWebhookId));
}

/// No secret material in `Debug`, whichever wrapper it sits in.
#[test]
fn debug_is_redacted() {
    fn check(debug: String, exposed: &str) {
        use base64::Engine as _;
        let encoded = exposed.split_once('_').unwrap().1;
        let raw = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        let raw_debug = format!("{:?}", &raw[..4]);
        assert!(debug.contains("[REDACTED]"), "{debug}");
        assert!(!debug.contains(encoded), "{debug} shows the base64 key");
        assert!(!debug.contains(raw_debug.trim_matches(['[', ']'])), "{debug} shows key bytes");
    }
    let (hmac, ed25519) = (hmac_key(0x5A), ed25519_key(0x5B));
    let (hmac_secret, ed25519_secret) = (hmac.expose_secret(), ed25519.expose_secret());
    check(format!("{hmac:?}"), &hmac_secret);
    check(format!("{hmac:#?}"), &hmac_secret);
    check(format!("{ed25519:?}"), &ed25519_secret);
    if let (SigningKey::Hmac(h), SigningKey::Ed25519(e)) = (&hmac, &ed25519) {
        check(format!("{h:?}"), &hmac_secret);
        check(format!("{e:?}"), &ed25519_secret);
    }
    let verifier = Verifier::from_signing_keys(&[hmac.clone(), ed25519.clone()]).unwrap();
    check(format!("{verifier:?}"), &hmac_secret);
    check(format!("{verifier:?}"), &ed25519_secret);
}
