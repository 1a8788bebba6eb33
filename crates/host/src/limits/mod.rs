//! Platform limits: what a managed Spin host holds an app to, so tests can run Hookah under
//! them. `spin up` enforces none of these; Fermyon Cloud publishes the `fermyon-cloud` profile's
//! figures in its quota table. Chosen by `hookah-host up --limits NAME`, by a `[limits]` table
//! in the runtime-config file, or by [`HostConfig::limits`](crate::HostConfig::limits).
//!
//! `[limits]` is this host's own extension: real Spin's runtime config has no such table and
//! refuses a file that carries one (Spin 4.0.2: "unused runtime config key(s): limits"), so a
//! file with it runs only here. It takes a `profile` and any field on top of it:
//!
//! ```toml
//! [limits]
//! profile = "fermyon-cloud"
//! max_keys = 200
//! ```
//!
//! Where each limit is enforced:
//! - key length, value size, key cap: the key-value store (`kv/limits.rs`);
//! - the handler time limit: both triggers (`deadline`);
//! - the outbound-request cap: outbound HTTP (`outbound`).

pub(crate) mod deadline;
pub(crate) mod outbound;

use std::time::Duration;

use anyhow::{bail, Context as _};

/// The profiles `--limits` and `[limits] profile` know.
const PROFILES: &[&str] = &["fermyon-cloud"];

/// The limits a host enforces; `Limits::default()` enforces none, as `spin up`. Each field is
/// one limit, `None` for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Longest key, in bytes (`max_key_bytes`).
    pub max_key_bytes: Option<usize>,
    /// Largest value, in bytes (`max_value_bytes`).
    pub max_value_bytes: Option<usize>,
    /// Most keys the store holds (`max_keys`): a write that would create keys past it fails.
    pub max_keys: Option<u64>,
    /// How long an invocation (an HTTP request, with the work its guest does after answering,
    /// or a cron firing) may run before it is killed (`handler_timeout_secs`).
    pub handler_timeout: Option<Duration>,
    /// Outbound HTTP requests the app may send per hour of the host clock
    /// (`outbound_requests_per_hour`), all components together.
    pub outbound_requests_per_hour: Option<u64>,
}

impl Limits {
    /// Fermyon Cloud's published limits (standard plans): keys ≤ 255 bytes, values ≤ 1 MiB,
    /// 1,024 keys per store, handlers stopped after 30 s, 500 outbound requests per app per hour.
    pub fn fermyon_cloud() -> Self {
        Self {
            max_key_bytes: Some(255),
            max_value_bytes: Some(1 << 20),
            max_keys: Some(1_024),
            handler_timeout: Some(Duration::from_secs(30)),
            outbound_requests_per_hour: Some(500),
        }
    }

    /// A named profile; an unknown name is an error.
    pub fn profile(name: &str) -> anyhow::Result<Self> {
        match name {
            "fermyon-cloud" => Ok(Self::fermyon_cloud()),
            other => bail!("unknown limits profile {other:?} (this host knows {})", PROFILES.join(", ")),
        }
    }

    /// Whether any limit is set.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// A runtime-config `[limits]` table: its `profile` (none: no limits), then its fields.
    pub(crate) fn from_toml(table: &toml::Value) -> anyhow::Result<Self> {
        let table = table.as_table().context("`limits` must be a table")?;
        let mut limits = match table.get("profile") {
            Some(name) => Self::profile(name.as_str().context("`profile` must be a string")?)?,
            None => Self::default(),
        };
        for (name, value) in table {
            let count = || -> anyhow::Result<u64> {
                let n = value.as_integer().with_context(|| format!("`{name}` must be an integer"))?;
                u64::try_from(n).with_context(|| format!("`{name}` must not be negative"))
            };
            match name.as_str() {
                "profile" => {}
                "max_key_bytes" => limits.max_key_bytes = Some(usize::try_from(count()?)?),
                "max_value_bytes" => limits.max_value_bytes = Some(usize::try_from(count()?)?),
                "max_keys" => limits.max_keys = Some(count()?),
                "outbound_requests_per_hour" => limits.outbound_requests_per_hour = Some(count()?),
                "handler_timeout_secs" => {
                    let secs = value
                        .as_float()
                        .or_else(|| value.as_integer().map(|n| n as f64))
                        .context("`handler_timeout_secs` must be a number")?;
                    let timeout = Duration::try_from_secs_f64(secs)
                        .ok()
                        .filter(|t| !t.is_zero())
                        .context("`handler_timeout_secs` must be a positive number of seconds")?;
                    limits.handler_timeout = Some(timeout);
                }
                other => bail!(
                    "unknown field `{other}` in [limits] (it takes profile, max_key_bytes, max_value_bytes, \
                     max_keys, handler_timeout_secs, outbound_requests_per_hour)"
                ),
            }
        }
        Ok(limits)
    }
}

/// What the limits refused or stopped so far ([`RunningHost::limit_events`](crate::RunningHost::limit_events)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitEvents {
    /// Invocations killed at the handler time limit.
    pub handler_kills: u64,
    /// Outbound requests refused past the hourly cap.
    pub outbound_refused: u64,
    /// Key-value calls refused: a key too long, a value too large, or the store full.
    pub kv_refused: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Limits> {
        let table: toml::Table = toml::from_str(text).unwrap();
        Limits::from_toml(&table["limits"])
    }

    fn check_err(text: &str, needle: &str) {
        let err = format!("{:#}", parse(text).unwrap_err());
        assert!(err.contains(needle), "{text}: {err}");
    }

    #[test]
    fn profiles_and_fields() {
        assert_eq!(parse("[limits]\nprofile = \"fermyon-cloud\"").unwrap(), Limits::fermyon_cloud());
        assert_eq!(
            parse("[limits]\nprofile = \"fermyon-cloud\"\nmax_keys = 200\nhandler_timeout_secs = 0.5").unwrap(),
            Limits {
                max_keys: Some(200),
                handler_timeout: Some(Duration::from_millis(500)),
                ..Limits::fermyon_cloud()
            }
        );
        // Fields without a profile: those limits alone.
        assert_eq!(
            parse("[limits]\noutbound_requests_per_hour = 3\nhandler_timeout_secs = 2").unwrap(),
            Limits {
                outbound_requests_per_hour: Some(3),
                handler_timeout: Some(Duration::from_secs(2)),
                ..Limits::default()
            }
        );
        assert!(parse("[limits]").unwrap().is_none());
        assert!(!Limits::fermyon_cloud().is_none());
        assert_eq!(Limits::fermyon_cloud().max_value_bytes, Some(1_048_576));
    }

    #[test]
    fn what_is_not_a_limit_is_an_error() {
        check_err("[limits]\nprofile = \"fermyon\"", "unknown limits profile \"fermyon\"");
        check_err("[limits]\nprofile = 1", "`profile` must be a string");
        check_err("[limits]\nmax_keys = -1", "must not be negative");
        check_err("[limits]\nmax_keys = \"many\"", "must be an integer");
        check_err("[limits]\nhandler_timeout_secs = 0", "positive number");
        check_err("[limits]\nmax_body_bytes = 10", "unknown field `max_body_bytes`");
        check_err("limits = 3", "must be a table");
        assert!(Limits::profile("none").is_err());
    }
}
