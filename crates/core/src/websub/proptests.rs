//! Properties of the hub's forms: any body gets pairs or a 400, never a panic; encoding and
//! parsing are inverse; a hub request printed as a form reads back as the same request.

use proptest::prelude::*;

use super::{encode_query, parse_form, parse_hub_request, HubRequest, Subscription, MAX_SECRET_BYTES};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

/// Bodies made of the bytes a form parser cares about, so escapes and separators are common.
fn form_bodies() -> impl Strategy<Value = Vec<u8>> {
    let tricky = prop_oneof![
        Just(b'&'),
        Just(b'='),
        Just(b'%'),
        Just(b'+'),
        Just(b'2'),
        Just(b'F'),
        Just(b'a'),
        Just(0xC3),
        Just(0xA9),
        any::<u8>()
    ];
    prop_oneof![proptest::collection::vec(tricky, 0..40), proptest::collection::vec(any::<u8>(), 0..40)]
}

/// Absolute http(s) URLs as a subscriber would send them (no raw space, control, `<`, `>`, `"`).
fn urls() -> impl Strategy<Value = String> {
    "[hH][tT][tT][pP][sS]?://([a-z0-9.-]{1,12}|\\[::1\\])(:[0-9]{1,5})?(/[!#-;=?-~é]{0,16})?"
}

fn subscriptions(subscribe: bool) -> impl Strategy<Value = Subscription> {
    let secret = proptest::option::of(proptest::collection::vec(any::<char>(), 1..60).prop_map(String::from_iter))
        .prop_filter("§5.1: under 200 bytes", |s| s.as_ref().is_none_or(|s| s.len() <= MAX_SECRET_BYTES));
    (urls(), urls(), proptest::option::of(1..=u64::MAX), secret).prop_map(
        move |(callback, topic, lease_seconds, secret)| {
            let (lease_seconds, secret) = if subscribe { (lease_seconds, secret) } else { (None, None) };
            Subscription { callback, topic, lease_seconds, secret }
        },
    )
}

fn hub_requests() -> impl Strategy<Value = HubRequest> {
    prop_oneof![
        subscriptions(true).prop_map(HubRequest::Subscribe),
        subscriptions(false).prop_map(HubRequest::Unsubscribe),
        urls().prop_map(|topic| HubRequest::Publish { topic }),
    ]
}

/// The form a subscriber or publisher would send for `request`.
fn print(request: &HubRequest) -> String {
    let lease;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    match request {
        HubRequest::Subscribe(sub) | HubRequest::Unsubscribe(sub) => {
            let mode = if matches!(request, HubRequest::Subscribe(_)) { "subscribe" } else { "unsubscribe" };
            pairs.extend([("hub.mode", mode), ("hub.callback", &sub.callback), ("hub.topic", &sub.topic)]);
            if let Some(seconds) = sub.lease_seconds {
                lease = seconds.to_string();
                pairs.push(("hub.lease_seconds", &lease));
            }
            if let Some(secret) = &sub.secret {
                pairs.push(("hub.secret", secret));
            }
        }
        HubRequest::Publish { topic } => pairs.extend([("hub.mode", "publish"), ("hub.url", topic.as_str())]),
    }
    encode_query(&pairs)
}

/// Hub parameters with values that are right, wrong, repeated or missing.
fn hub_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof!["hub\\.(mode|callback|topic|url|lease_seconds|secret)", "[a-z.]{0,8}",];
    let value =
        prop_oneof!["(subscribe|unsubscribe|publish|denied|Subscribe)", urls(), "[0-9+-]{0,22}", any::<String>(),];
    proptest::collection::vec((name, value), 0..8)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_body_parses_to_pairs_that_encode_and_parse_back_the_same(body in form_bodies()) {
        match parse_form(&body) {
            Ok(pairs) => {
                let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                prop_assert_eq!(parse_form(encode_query(&borrowed).as_bytes()), Ok(pairs));
            }
            Err(error) => prop_assert!(matches!(error, crate::Error::Invalid { code: "bad_form", .. }), "{:?}", error),
        }
    }

    #[test]
    fn encoded_pairs_parse_back_to_themselves(pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..6)) {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let encoded = encode_query(&borrowed);
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%=&".contains(&b)), "{}", encoded);
        prop_assert_eq!(parse_form(encoded.as_bytes()), Ok(pairs));
    }

    #[test]
    fn any_hub_parameters_get_a_request_or_a_400(pairs in hub_pairs()) {
        if let Err(error) = parse_hub_request(&pairs) {
            prop_assert!(matches!(error, crate::Error::Invalid { code: "bad_hub_request", .. }), "{:?}", error);
        }
    }

    #[test]
    fn a_hub_request_printed_as_a_form_reads_back_the_same(request in hub_requests()) {
        let form = print(&request);
        let pairs = parse_form(form.as_bytes()).map_err(|e| e.to_string());
        prop_assert!(pairs.is_ok(), "{form}: {pairs:?}");
        let parsed = parse_hub_request(&pairs.unwrap()).map_err(|e| e.to_string());
        prop_assert_eq!(parsed, Ok(request), "{}", form);
    }
}
