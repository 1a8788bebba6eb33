//! Per-job control headers (`Hookah-*`), validated strictly: a typo is a 400, not a silent default.

use crate::error::ApiError;

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
    pub signing_key: Option<String>,
}

/// Reads every `Hookah-*` header; unknown ones are refused so that typos are caught.
pub fn parse(headers: &[(String, String)]) -> Result<Control, ApiError> {
    let mut control = Control::default();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let Some(option) = name.strip_prefix("hookah-") else {
            continue;
        };
        match option {
            "max-attempts" => control.max_attempts = Some(number(&name, value, 1, MAX_ATTEMPTS as u64)? as u32),
            "timeout" => control.timeout_ms = Some(number(&name, value, 1, MAX_TIMEOUT_SECS)? * 1000),
            "delay" => control.delay_ms = number(&name, value, 0, MAX_DELAY_SECS)? * 1000,
            "signing-key" => {
                let id = value.trim();
                if !crate::ids::is_key_id(id) {
                    return Err(ApiError::bad_request("bad_control_header", format!("`{id}` is not a key id")));
                }
                control.signing_key = Some(id.to_string());
            }
            _ => {
                return Err(ApiError::bad_request(
                    "bad_control_header",
                    format!("unknown control header `{name}` (known: hookah-max-attempts, hookah-timeout, hookah-delay, hookah-signing-key)"),
                ))
            }
        }
    }
    Ok(control)
}

fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    let value = value.trim();
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ApiError::bad_request(
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
            Ok(Control { max_attempts: Some(3), timeout_ms: Some(2_000), delay_ms: 60_000, signing_key: None }),
        );
        check(&[("Hookah-Max-Attempts", "0")], Err(()));
        check(&[("Hookah-Max-Attempts", "51")], Err(()));
        check(&[("Hookah-Max-Attempts", "x")], Err(()));
        check(&[("Hookah-Timeout", "-1")], Err(()));
        check(&[("Hookah-Timeout", "+5")], Err(()));
        check(&[("Hookah-Delay", "1.5")], Err(()));
        check(&[("Hookah-Retries", "3")], Err(()));
    }
}
