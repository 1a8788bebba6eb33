//! The platform limits a test host enforces: none, as `spin up`, unless `HOOKAH_TEST_LIMITS`
//! names a profile (`fermyon-cloud`), which every host the suite starts then enforces.
//!
//! A test whose workload by design exceeds the platform (more keys than one store may hold,
//! more deliveries than an app may send in an hour) lifts that one limit, in that test, with a
//! comment saying why; every other limit stays on.

use hookah_host::Limits;

/// Names the profile the whole suite runs under.
pub const LIMITS_VAR: &str = "HOOKAH_TEST_LIMITS";

/// A limit a test may lift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lift {
    /// `max_keys`: the keys one store may hold.
    KeyCap,
    /// `outbound_requests_per_hour`: the requests the app may send an hour.
    OutboundCap,
}

/// The suite's limits (`HOOKAH_TEST_LIMITS`), less those `lifted`.
pub fn suite_limits(lifted: &[Lift]) -> Limits {
    let mut limits = match std::env::var(LIMITS_VAR).as_deref() {
        Err(_) | Ok("") | Ok("none") => Limits::default(),
        Ok(name) => Limits::profile(name).unwrap_or_else(|e| panic!("{LIMITS_VAR}={name:?}: {e:#}")),
    };
    for lift in lifted {
        match lift {
            Lift::KeyCap => limits.max_keys = None,
            Lift::OutboundCap => limits.outbound_requests_per_hour = None,
        }
    }
    limits
}

/// The profile `limits` is exactly, if any: what `hookah-host up --limits` can say.
pub fn profile_name(limits: &Limits) -> Option<&'static str> {
    ["fermyon-cloud"].into_iter().find(|name| Limits::profile(name).ok().as_ref() == Some(limits))
}

/// A runtime-config `[limits]` table that sets exactly `limits` (no profile: a field left out
/// is no limit).
pub fn toml_table(limits: &Limits) -> String {
    let mut table = String::from("[limits]\n");
    let mut field = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            table.push_str(&format!("{name} = {value}\n"));
        }
    };
    field("max_key_bytes", limits.max_key_bytes.map(|n| n.to_string()));
    field("max_value_bytes", limits.max_value_bytes.map(|n| n.to_string()));
    field("max_keys", limits.max_keys.map(|n| n.to_string()));
    field("handler_timeout_secs", limits.handler_timeout.map(|t| format!("{:?}", t.as_secs_f64())));
    field("outbound_requests_per_hour", limits.outbound_requests_per_hour.map(|n| n.to_string()));
    table
}
