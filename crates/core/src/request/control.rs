//! Per-job control headers (`Hookah-*`), validated strictly: a typo is a 400, not a silent default.

use crate::error::Error;
use crate::ids::KeyId;

/// Longest per-job timeout and first-attempt delay a caller may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 300;
pub const MAX_DELAY_SECS: u64 = 30 * 86_400;
pub const MAX_ATTEMPTS: u32 = 50;

/// What a submission asked for; `None` means "use the configured default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    pub max_attempts: Option<u32>,
    pub timeout_ms: Option<u64>,
    pub delay_ms: u64,
    /// The signing key for this job instead of the default one.
    pub signing_key: Option<KeyId>,
    /// `Hookah-Mode: sync`: make the first attempt before answering, and answer with its result.
    pub sync: bool,
    /// `Hookah-Wait`: how long a sync caller waits for that attempt.
    pub wait_ms: Option<u64>,
    /// `Hookah-Callback`: where to report the job's end.
    pub callback: Option<String>,
    /// `Hookah-Callback-Events: attempts`: report every attempt too.
    pub callback_attempts: bool,
    /// `Hookah-Flow-Key`: the flow the job belongs to instead of its target host's.
    pub flow_key: Option<String>,
}

const KNOWN: &str = "hookah-max-attempts, hookah-timeout, hookah-delay, hookah-signing-key, hookah-mode, hookah-wait, \
                     hookah-callback, hookah-callback-events, hookah-flow-key";

/// Reads every `Hookah-*` header; unknown ones are refused so that typos are caught.
pub fn parse(headers: &[(String, String)]) -> Result<Control, Error> {
    let mut control = Control::default();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let Some(option) = name.strip_prefix("hookah-") else {
            continue;
        };
        let value = value.trim();
        match option {
            "max-attempts" => control.max_attempts = Some(number(&name, value, 1, MAX_ATTEMPTS as u64)? as u32),
            "timeout" => control.timeout_ms = Some(number(&name, value, 1, MAX_TIMEOUT_SECS)? * 1000),
            "delay" => control.delay_ms = number(&name, value, 0, MAX_DELAY_SECS)? * 1000,
            "wait" => control.wait_ms = Some(number(&name, value, 1, MAX_TIMEOUT_SECS)? * 1000),
            "signing-key" if KeyId::parse(value).is_some() => control.signing_key = KeyId::parse(value),
            "mode" if value.eq_ignore_ascii_case("sync") => control.sync = true,
            "mode" if value.eq_ignore_ascii_case("async") => control.sync = false,
            "callback" => control.callback = Some(value.to_string()),
            "flow-key" => {
                crate::flows::check_flow_key(value)?;
                control.flow_key = Some(value.to_string());
            }
            "callback-events" if value.eq_ignore_ascii_case("attempts") => control.callback_attempts = true,
            "callback-events" if value.eq_ignore_ascii_case("end") => control.callback_attempts = false,
            "signing-key" | "mode" | "callback-events" => {
                return Err(Error::invalid("bad_control_header", format!("`{name}: {value}` is not valid")))
            }
            _ => {
                return Err(Error::invalid(
                    "bad_control_header",
                    format!("unknown control header `{name}` (known: {KNOWN})"),
                ))
            }
        }
    }
    if control.sync && control.delay_ms > 0 {
        return Err(Error::invalid("bad_control_header", "hookah-mode: sync cannot wait for hookah-delay"));
    }
    if control.callback_attempts && control.callback.is_none() {
        return Err(Error::invalid("bad_control_header", "hookah-callback-events needs hookah-callback"));
    }
    Ok(control)
}

fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, Error> {
    let value = value.trim();
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(Error::invalid(
            "bad_control_header",
            format!("`{name}: {value}` must be a whole number from {min} to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)], expected: Result<Control, ()>) {
        let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(parse(&headers).map_err(|_| ()), expected, "{headers:?}");
    }

    #[test]
    fn controls() {
        check(&[], Ok(Control::default()));
        check(&[("X-Other", "1")], Ok(Control::default()));
        check(
            &[("Hookah-Max-Attempts", "3"), ("hookah-timeout", "2"), ("HOOKAH-DELAY", "60")],
            Ok(Control { max_attempts: Some(3), timeout_ms: Some(2_000), delay_ms: 60_000, ..Control::default() }),
        );
        check(&[("Hookah-Max-Attempts", "0")], Err(()));
        check(&[("Hookah-Max-Attempts", "51")], Err(()));
        check(&[("Hookah-Max-Attempts", "x")], Err(()));
        check(&[("Hookah-Timeout", "-1")], Err(()));
        check(&[("Hookah-Timeout", "+5")], Err(()));
        check(&[("Hookah-Delay", "1.5")], Err(()));
        check(&[("Hookah-Retries", "3")], Err(()));
        check(
            &[("Hookah-Mode", "SYNC"), ("Hookah-Wait", "5")],
            Ok(Control { sync: true, wait_ms: Some(5_000), ..Control::default() }),
        );
        check(&[("Hookah-Mode", "later")], Err(()));
        check(&[("Hookah-Signing-Key", "nope")], Err(()));
        check(&[("Hookah-Callback-Events", "attempts")], Err(()));
        check(
            &[("Hookah-Callback", "https://example.com/r"), ("Hookah-Callback-Events", "attempts")],
            Ok(Control {
                callback: Some("https://example.com/r".into()),
                callback_attempts: true,
                ..Control::default()
            }),
        );
    }
}
