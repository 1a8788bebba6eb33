//! The id types: how they are made, which texts parse, and how they are stored.

use super::*;

#[test]
fn made_from_random_bytes() {
    assert_eq!(JobId::from_random(&[0; 16]).as_str(), "job_00000000000000000000000000");
    assert_eq!(JobId::from_random(&[0xff; 16]).as_str(), "job_7zzzzzzzzzzzzzzzzzzzzzzzzz");
    assert_eq!(KeyId::from_random(&[0; 16]).as_str(), "key_00000000000000000000000000");
    assert_eq!(TokenId::from_random(&[0; 16]).as_str(), "hkt_00000000000000000000000000");
    assert_eq!(SubscriptionId::from_random(&[0; 16]).as_str(), "sub_00000000000000000000000000");
    assert_eq!(EventId::from_random(&[0; 16]).as_str(), "evt_00000000000000000000000000");
    let id = JobId::from_random(&[7; 16]);
    assert_eq!(id.to_string(), id.as_str());
    assert!(!id.as_str().contains('.'), "Standard Webhooks ids must not contain a dot");
}

#[test]
fn derived_ids_are_stable() {
    let id = derived_job_id(&["evt_a", "sub_b"]);
    assert_eq!(id, derived_job_id(&["evt_a", "sub_b"]));
    assert_ne!(id, derived_job_id(&["evt_a", "sub_c"]));
    assert_eq!(JobId::parse(id.as_str()), Some(id));
}

fn check(text: &str, parses: bool) {
    assert_eq!(JobId::parse(text).map(|id| id.to_string()), parses.then(|| text.to_string()), "{text:?}");
}

#[test]
fn parsing_checks_the_shape() {
    let random = JobId::from_random(&[0x5a; 16]).to_string();
    check(&random, true);
    check("job_00000000000000000000000000", true);
    // The shape check, not the range: a first character no 16 bytes make still parses, as before.
    check("job_zzzzzzzzzzzzzzzzzzzzzzzzzz", true);
    check("msg_00000000000000000000000000", false);
    check("key_00000000000000000000000000", false);
    check("JOB_00000000000000000000000000", false);
    check("job_0000000000000000000000000", false);
    check("job_000000000000000000000000000", false);
    check("job_", false);
    check("", false);
    check("job_0000000000000000000000000i", false);
    check("job_0000000000000000000000000A", false);
    check("job_../../etc/passwd000000000", false);
    check("job_0000000000000000000000000é", false);
    check(" job_00000000000000000000000000", false);
}

fn parses<P: Prefix>(text: &str) -> bool {
    Id::<P>::parse(text).is_some()
}

/// A prefix and whether a text parses as an id of its kind.
type Kind = (&'static str, fn(&str) -> bool);

#[test]
fn each_kind_checks_its_own_prefix() {
    let tail = "00000000000000000000000000";
    let kinds: [Kind; 5] = [
        ("job_", parses::<kind::Job>),
        ("key_", parses::<kind::Key>),
        ("hkt_", parses::<kind::Token>),
        ("sub_", parses::<kind::Subscription>),
        ("evt_", parses::<kind::Event>),
    ];
    for (prefix, _) in kinds {
        let text = format!("{prefix}{tail}");
        let accepted: Vec<&str> = kinds.iter().filter(|(_, parses)| parses(&text)).map(|(p, _)| *p).collect();
        assert_eq!(accepted, [prefix], "{text}");
    }
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Record {
    id: SubscriptionId,
    key: Option<KeyId>,
}

#[test]
fn stored_as_a_plain_string() {
    let record = Record { id: SubscriptionId::from_random(&[1; 16]), key: Some(KeyId::from_random(&[2; 16])) };
    let json = serde_json::to_string(&record).unwrap();
    assert_eq!(json, r#"{"id":"sub_01040g2081040g2081040g2081","key":"key_02081040g2081040g2081040g2"}"#);
    assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
}

#[test]
fn a_malformed_stored_id_fails_to_decode() {
    for json in [
        r#"{"id":"sub_x","key":null}"#,
        r#"{"id":"key_00000000000000000000000000","key":null}"#,
        r#"{"id":"sub_00000000000000000000000000","key":"sub_00000000000000000000000000"}"#,
        r#"{"id":7,"key":null}"#,
    ] {
        let error = serde_json::from_str::<Record>(json).unwrap_err();
        assert!(error.is_data(), "{json}: {error}");
    }
    let error = serde_json::from_str::<Record>(r#"{"id":"sub_x","key":null}"#).unwrap_err().to_string();
    assert!(error.contains("an id `sub_` followed by 26 base32 characters"), "{error}");
}

#[test]
fn a_stored_record_keeps_its_bytes_and_refuses_a_malformed_id() {
    use crate::job::JobRecord;
    use crate::stored::Stored;
    let record = JobRecord::new(JobId::from_random(&[0; 16]));
    let bytes = record.to_bytes();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with(r#"{"v":1,"id":"job_00000000000000000000000000","#), "{text}");
    assert_eq!(JobRecord::from_bytes(&bytes), Some(record));
    let malformed = text.replace("job_00000000000000000000000000", "job_../x");
    assert_eq!(JobRecord::from_bytes(malformed.as_bytes()), None);
}
