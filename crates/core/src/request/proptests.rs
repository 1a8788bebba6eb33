//! Properties of request parsing: any input gets an answer, never a panic, and what parses prints
//! back to text that parses to the same thing.

use proptest::prelude::*;

use super::control::{self, Control, MAX_ATTEMPTS, MAX_DELAY_SECS, MAX_TIMEOUT_SECS};
use super::headers::{forwarded, HOP_BY_HOP};
use super::target::{parse_url, resolve, Target};
use crate::websub::encode_query;

/// Enough cases to find the edges, few enough that `cargo test` stays quick.
fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

/// Request paths shaped like every target form, with the characters that tend to break parsers
/// (`:`, `[`, `@`, `%`, `#`, non-ASCII) mixed in.
fn target_paths() -> impl Strategy<Value = String> {
    let path_form = "/([hH][tT][tT][pP][sS]?:/{0,2})?(\\[[0-9a-fA-F:.]{0,10}\\]|[a-zA-Z0-9.:@é-]{0,14})(:[0-9+]{0,6})?(/[!-~é ]{0,14})?(\\?[!-~]{0,12})?";
    let url_form = "/(dispatch)?\\?([a-z]=[0-9]&)?_url=[hH][tT][tT][pP][sS]?(://|%3A%2F%2F)[a-z0-9.:\\[\\]%@-]{0,14}(/[!-~]{0,10})?(&[a-z]=[!-~]{0,4})?";
    prop_oneof![path_form, url_form, any::<String>().prop_map(|s| format!("/{s}"))]
}

/// How a caller could name `target` in each form a submission accepts.
fn every_form_of(target: &Target) -> Vec<String> {
    let url = target.url();
    let encoded = encode_query(&[("_url", &url)]);
    vec![format!("/{url}"), format!("/?{encoded}"), format!("/dispatch?{encoded}")]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_path_and_form_body_gets_a_target_or_a_4xx(
        path in prop_oneof![target_paths(), any::<String>()],
        body in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        for form_body in [None, Some(body.as_slice())] {
            match resolve(&path, form_body) {
                Ok(resolved) => {
                    let target = resolved.target;
                    prop_assert!(target.path_and_query.starts_with('/'), "{target:?}");
                    prop_assert!(!target.host.is_empty() && target.host == target.host.to_ascii_lowercase());
                    prop_assert!(!target.url().bytes().any(|b| b <= b' ' || b == 0x7f), "{target:?}");
                }
                Err(error) => {
                    let error = crate::ApiError::from(error);
                    prop_assert_eq!(error.status, 400);
                    prop_assert!(["bad_target", "no_destination"].contains(&error.code), "{error:?}");
                }
            }
        }
    }

    #[test]
    fn a_resolved_target_prints_as_a_url_that_resolves_to_it_again(path in target_paths()) {
        if let Ok(resolved) = resolve(&path, None) {
            let target = resolved.target;
            prop_assert_eq!(parse_url("_url", &target.url()).map_err(|e| e.to_string()), Ok(target.clone()), "from {}", path);
            for form in every_form_of(&target) {
                let again = resolve(&form, None).map(|r| r.target).map_err(|e| e.to_string());
                prop_assert_eq!(again, Ok(target.clone()), "{} from {}", form, path);
            }
        }
    }

    #[test]
    fn forwarded_headers_hold_nothing_hop_by_hop_and_filtering_twice_changes_nothing(
        headers in proptest::collection::vec(header(), 0..12),
    ) {
        let once = forwarded(&headers);
        for (name, _) in &once {
            prop_assert_eq!(name, &name.to_ascii_lowercase());
            prop_assert!(!HOP_BY_HOP.contains(&name.as_str()), "{name}");
            prop_assert!(!["hookah-", "webhook-", "spin-", "proxy-"].iter().any(|p| name.starts_with(p)), "{name}");
            prop_assert!(!["host", "authorization", "content-length"].contains(&name.as_str()), "{name}");
        }
        prop_assert_eq!(forwarded(&once), once);
    }

    #[test]
    fn any_control_headers_parse_or_get_a_400(headers in proptest::collection::vec(control_header(), 0..6)) {
        match control::parse(&headers) {
            Ok(control) => {
                prop_assert!(control.max_attempts.is_none_or(|n| (1..=MAX_ATTEMPTS).contains(&n)));
                prop_assert!(control.timeout_ms.is_none_or(|ms| ms <= MAX_TIMEOUT_SECS * 1000));
                prop_assert!(control.delay_ms <= MAX_DELAY_SECS * 1000);
                prop_assert!(!(control.sync && control.delay_ms > 0));
                prop_assert!(control.flow_key.as_deref().is_none_or(|key| crate::flows::check_flow_key(key).is_ok()));
            }
            Err(error) => prop_assert!(
                matches!(error, crate::Error::Invalid { code: "bad_control_header" | "bad_flow_key", .. }),
                "{:?}",
                error
            ),
        }
    }

    #[test]
    fn a_control_printed_as_headers_parses_back_to_itself(control in valid_control(), shout in any::<bool>()) {
        let headers = print_control(&control, shout);
        prop_assert_eq!(control::parse(&headers).map_err(|e| e.to_string()), Ok(control), "{:?}", headers);
    }
}

/// Header names a filter must know about, plus arbitrary ones; `Connection` values name others.
fn header() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("Connection".to_string()),
        Just("Keep-Alive".to_string()),
        Just("Host".to_string()),
        Just("Authorization".to_string()),
        Just("Proxy-Authorization".to_string()),
        Just("Hookah-Max-Attempts".to_string()),
        Just("Webhook-Id".to_string()),
        "[a-zA-Z][a-zA-Z0-9-]{0,10}",
    ];
    let value = prop_oneof!["[ -~]{0,16}", "([a-zA-Z-]{1,8}, ?){0,3}[a-zA-Z-]{1,8}"];
    (name, value)
}

/// `Hookah-*` headers with values near and past their limits, and a few strangers.
fn control_header() -> impl Strategy<Value = (String, String)> {
    let option =
        "(hookah|HOOKAH|Hookah)-(max-attempts|timeout|delay|wait|mode|signing-key|callback|callback-events|flow-key|bogus)";
    let value = prop_oneof![
        "[0-9]{1,4}",
        "[ +-]?[0-9]{0,21}[ .]?",
        "(sync|ASYNC|attempts|end|key_[0-9a-z]{26})",
        any::<String>(),
    ];
    (prop_oneof![option, "[a-z-]{1,12}"], value)
}

fn valid_control() -> impl Strategy<Value = Control> {
    let key_id = "key_[0-9abcdefghjkmnpqrstvwxyz]{26}";
    (
        proptest::option::of(1..=MAX_ATTEMPTS),
        proptest::option::of(1..=MAX_TIMEOUT_SECS),
        0..=MAX_DELAY_SECS,
        proptest::option::of(key_id.prop_map(|text| crate::ids::KeyId::parse(&text).unwrap())),
        any::<bool>(),
        proptest::option::of(1..=MAX_TIMEOUT_SECS),
        proptest::option::of("[!-~]([ -~]{0,20}[!-~])?"),
        any::<bool>(),
        proptest::option::of("[!-~]([ -~]{0,40}[!-~])?"),
    )
        .prop_map(|(max_attempts, timeout, delay, signing_key, sync, wait, callback, attempts, flow_key)| {
            Control {
                max_attempts,
                timeout_ms: timeout.map(|s| s * 1000),
                delay_ms: if sync { 0 } else { delay * 1000 },
                signing_key,
                sync,
                wait_ms: wait.map(|s| s * 1000),
                callback_attempts: attempts && callback.is_some(),
                callback,
                flow_key,
            }
        })
}

/// The headers a caller would send for `control`, with names in upper case when `shout`.
fn print_control(control: &Control, shout: bool) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    let mut add = |name: &str, value: String| {
        let name = if shout { name.to_ascii_uppercase() } else { name.to_string() };
        headers.push((name, value));
    };
    if let Some(n) = control.max_attempts {
        add("hookah-max-attempts", n.to_string());
    }
    if let Some(ms) = control.timeout_ms {
        add("hookah-timeout", (ms / 1000).to_string());
    }
    if control.delay_ms > 0 {
        add("hookah-delay", (control.delay_ms / 1000).to_string());
    }
    if let Some(key) = &control.signing_key {
        add("hookah-signing-key", key.to_string());
    }
    add("hookah-mode", if control.sync { "sync" } else { "async" }.to_string());
    if let Some(key) = &control.flow_key {
        add("hookah-flow-key", key.clone());
    }
    if let Some(ms) = control.wait_ms {
        add("hookah-wait", (ms / 1000).to_string());
    }
    if let Some(url) = &control.callback {
        add("hookah-callback", url.clone());
    }
    if control.callback_attempts {
        add("hookah-callback-events", "attempts".to_string());
    }
    headers
}

/// Found by the round-trip property: Unicode whitespace closing a query was trimmed away when
/// the printed URL was read again.
#[test]
fn a_query_ending_in_unicode_whitespace_survives_the_round_trip() {
    let target = resolve("/A?\u{2000}", None).expect("a target").target;
    assert_eq!(parse_url("_url", &target.url()).map_err(|e| e.to_string()), Ok(target));
}
