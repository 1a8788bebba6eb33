use super::*;

fn parsed(body: &str) -> Result<FlowSettings, String> {
    parse_settings(body.as_bytes()).map_err(|error| match error {
        Error::Invalid { code, message } => format!("{code}: {message}"),
        other => panic!("{other:?}"),
    })
}

#[test]
fn settings_take_their_defaults_when_left_out() {
    let settings = parsed("{}").unwrap();
    assert_eq!(settings, FlowSettings { period_ms: 1_000, ..FlowSettings::default() });
    let settings = parsed(
        r#"{"parallelism":2,"rate":10,"period":"1m","retry_schedule":["5s","1m"],"max_attempts":3,
            "ordered":true,"paused":true}"#,
    )
    .unwrap();
    assert_eq!(settings.parallelism, Some(2));
    assert_eq!((settings.rate, settings.period_ms), (Some(10), 60_000));
    assert_eq!(settings.retry_schedule_ms, Some(vec![5_000, 60_000]));
    assert_eq!(settings.max_attempts, Some(3));
    assert!(settings.ordered && settings.paused);
    assert_eq!(parsed(r#"{"retry_schedule":"5s,30s"}"#).unwrap().retry_schedule_ms, Some(vec![5_000, 30_000]));
    assert_eq!(parsed(r#"{"rate":null,"parallelism":null}"#).unwrap().rate, None);
}

#[test]
fn bad_settings_are_refused_with_the_field_named() {
    let table = [
        (r#"{"rate":0}"#, "rate"),
        (r#"{"rate":-3}"#, "rate"),
        (r#"{"parallelism":0}"#, "parallelism"),
        (r#"{"rate":1.5}"#, "bad_flow"),
        (r#"{"period":"500ms"}"#, "period"),
        (r#"{"period":"0s"}"#, "period"),
        (r#"{"period":"2d"}"#, "period"),
        (r#"{"max_attempts":0}"#, "max_attempts"),
        (r#"{"max_attempts":51}"#, "max_attempts"),
        (r#"{"retry_schedule":["5 parsecs"]}"#, "retry_schedule"),
        (r#"{"paralelism":2}"#, "unknown field"),
        (r#"{"ordered":"yes"}"#, "bad_flow"),
        ("[]", "bad_flow"),
        ("not json", "bad_flow"),
    ];
    for (body, named) in table {
        let error = parsed(body).expect_err(body);
        assert!(error.starts_with("bad_flow: ") && error.contains(named), "{body}: {error}");
    }
    let long: String = std::iter::repeat_n("1s", MAX_SCHEDULE_LEN + 1).collect::<Vec<_>>().join(",");
    assert!(parsed(&format!(r#"{{"retry_schedule":"{long}"}}"#)).unwrap_err().contains("at most"));
}

#[test]
fn a_flow_key_is_one_to_two_hundred_bytes_without_control_characters() {
    assert!(check_flow_key("tenant-42").is_ok());
    assert!(check_flow_key("émoji ok 🚦 / and spaces").is_ok());
    assert!(check_flow_key(&"k".repeat(200)).is_ok());
    for bad in ["", &"k".repeat(201), "tab\there", "nul\0"] {
        let error = check_flow_key(bad).unwrap_err();
        assert!(matches!(error, Error::Invalid { code: "bad_flow_key", .. }), "{bad:?}");
    }
}
