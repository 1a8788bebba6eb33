//! Runtime configuration, read from Spin variables by the adapters and validated here.

use crate::duration::{parse_duration_list_ms, parse_duration_ms, BadDuration};
use thiserror::Error;

/// The default retry schedule: delays after the first attempt (10 attempts over about 3 days),
/// as the Standard Webhooks delivery guidance suggests.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,14h,20h,24h";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Bearer token for every non-public route; empty means "not configured" (503).
    pub api_token: ApiToken,
    /// A `whsec_`/`whsk_` secret that signs every job naming no key of its own, ahead of the
    /// stored default key.
    pub signing_secret: Option<crate::keyring::Secret>,
    /// Hosts (or `host:port`) that may be delivered to although they are loopback or private.
    pub allowed_private_targets: Vec<String>,
    pub max_body_bytes: usize,
    /// Calls one `POST /_hookah/v1/batch` may hold (its body is held to `max_body_bytes` too).
    pub batch_max_calls: usize,
    /// Delay before each retry, in order; its length + 1 is the default attempt budget.
    pub retry_schedule_ms: Vec<u64>,
    /// The longest a receiver's `Retry-After` may push an attempt out.
    pub retry_after_max_ms: u64,
    /// Connect and first-byte timeout for deliveries.
    pub timeout_ms: u64,
    /// How long finished jobs are kept.
    pub retention_ms: u64,
    /// Response body bytes kept in each attempt's log entry.
    pub attempt_body_bytes: usize,
    /// Response body bytes a callback report carries.
    pub callback_body_bytes: usize,
    /// Timers (due-index slots) one sweep handles at most.
    pub sweep_batch: usize,
    /// Deliveries one sweep runs at once.
    pub sweep_concurrency: usize,
    /// How long one sweep keeps taking new batches; the deliveries it started may run past it.
    /// Cron firings do not wait for each other, so with due work left about `sweep_budget` ÷
    /// the cron interval sweeps work at once on each instance.
    pub sweep_budget_ms: u64,
    /// Sweeps in passing (`engine/sweep/passing.rs`): an invocation that answered a request
    /// sweeps afterwards when no sweep has started this second, so retries come on time on
    /// hosts without a cron trigger.
    pub sweep_in_passing: bool,
    /// How long one invocation may run in all, under the host's request time limit (Fermyon
    /// Cloud stops a handler after 30 s): a sweep in passing fits what is left of it.
    pub request_budget_ms: u64,
    /// The store's key cap (Fermyon Cloud: 1,024 on its standard plans); 0: none. Near it, new
    /// work is refused with 507 and health says so (`engine/room.rs`).
    pub store_max_keys: u64,
    /// This instance's region on a store replicated across regions, where `increment` is atomic
    /// only within a region (empty: the store is not): it writes timers to its own index
    /// (`engine/regions.rs`).
    pub region: String,
    /// Every region's name, this one's included; sweeps also walk the others' timer indexes,
    /// once their buckets are `region_takeover` old.
    pub regions: Vec<String>,
    /// How old another region's bucket must be before this region's sweeps work it: more than
    /// the store's replication lag plus a lease, so they act only for a region that stopped.
    pub region_takeover_ms: u64,
    /// The secret path segment of `/_hookah/v1/sweep/{sweep_token}`, for schedulers that cannot
    /// send headers; empty: that route answers 404.
    pub sweep_token: ApiToken,
    /// Attempts sweeps keep in flight to one target host at most (0: no limit).
    pub target_concurrency: u64,
    /// Attempts sweeps start to one target host per second at most (0: no limit).
    pub target_rate: u64,
    /// Subscriptions one fan-out step reads (at publish time, then per sweep).
    pub fanout_batch: usize,
    /// A subscription is disabled after this many dead jobs in a row...
    pub disable_after_dead: u32,
    /// ...or after every attempt has failed for this long.
    pub disable_after_failing_ms: u64,
    /// URL prefixes WebSub subscribers may subscribe to; empty allows every topic.
    pub websub_topics: Vec<String>,
    /// A second token that reads `/_hookah/metrics` only (empty: the API token alone).
    pub metrics_token: ApiToken,
    /// `/_hookah/health` says `degraded` once the sweep lag passes this.
    pub health_max_lag_ms: u64,
}

/// The API token; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ApiToken(String);

impl ApiToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("variable {name}: {source}")]
    Duration { name: &'static str, source: BadDuration },
    #[error("variable {name}: `{value}` is not a whole number in {min}..={max}")]
    Number { name: &'static str, value: String, min: usize, max: usize },
    #[error("variable retry_schedule: it needs at most {max} delays", max = MAX_SCHEDULE_LEN)]
    ScheduleTooLong,
    #[error("variable {name}: `{value}` is neither true nor false")]
    Flag { name: &'static str, value: String },
    #[error("variable sweep_token: it must differ from api_token and be at least {min} characters", min = MIN_SWEEP_TOKEN_LEN)]
    SweepToken,
    #[error("variable {name}: `{value}` is not a region name (1 to 16 of a-z, 0-9 and -)")]
    Region { name: &'static str, value: String },
    #[error("variable regions: it must list this instance's region `{0}`, and needs the region variable set when it lists more than one")]
    RegionNotListed(String),
    #[error("variable signing_secret: {0}")]
    SigningSecret(crate::signing::SigningError),
}

/// Longest retry schedule accepted: bounds the attempt log kept in each job record.
pub const MAX_SCHEDULE_LEN: usize = 49;

impl Config {
    /// Builds the configuration from a variable lookup; a missing variable takes its default.
    pub fn from_lookup(lookup: impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &'static str, default: &str| lookup(name).unwrap_or_else(|| default.to_string());
        let duration = |name: &'static str, default: &str| {
            parse_duration_ms(&text(name, default)).map_err(|source| ConfigError::Duration { name, source })
        };
        let number = |name: &'static str, default: &str, min: usize, max: usize| {
            let value = text(name, default);
            match value.trim().parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ConfigError::Number { name, value, min, max }),
            }
        };
        let flag = |name: &'static str, default: &str| match text(name, default).trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ConfigError::Flag { name, value: other.to_string() }),
        };
        let region = region_name(text("region", "").trim())?;
        let retry_schedule_ms = parse_duration_list_ms(&text("retry_schedule", DEFAULT_RETRY_SCHEDULE))
            .map_err(|source| ConfigError::Duration { name: "retry_schedule", source })?;
        if retry_schedule_ms.len() > MAX_SCHEDULE_LEN {
            return Err(ConfigError::ScheduleTooLong);
        }
        Ok(Config {
            api_token: ApiToken::new(text("api_token", "").trim()),
            signing_secret: signing_secret(text("signing_secret", "").trim())?,
            allowed_private_targets: text("allowed_private_targets", "")
                .split(',')
                .map(|host| host.trim().to_ascii_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
            max_body_bytes: number("max_body_bytes", "1048576", 0, 64 * 1024 * 1024)?,
            batch_max_calls: number("batch_max_calls", "1000", 1, 100_000)?,
            retry_schedule_ms,
            retry_after_max_ms: duration("retry_after_max", "24h")?,
            timeout_ms: duration("timeout", "15s")?.max(1),
            retention_ms: duration("retention", "7d")?,
            attempt_body_bytes: number("attempt_body_bytes", "16384", 0, 262_144)?,
            callback_body_bytes: number("callback_body_bytes", "65536", 0, 262_144)?,
            sweep_batch: number("sweep_batch", "200", 1, 10_000)?,
            sweep_concurrency: number("sweep_concurrency", "32", 1, 1_000)?,
            sweep_budget_ms: duration("sweep_budget", "4s")?,
            sweep_in_passing: flag("sweep_in_passing", "true")?,
            request_budget_ms: duration("request_budget", "25s")?,
            region: region.clone(),
            regions: regions(&text("regions", ""), &region)?,
            region_takeover_ms: duration("region_takeover", "2m")?,
            store_max_keys: number("store_max_keys", "0", 0, 1_000_000_000)? as u64,
            sweep_token: sweep_token(text("sweep_token", "").trim(), text("api_token", "").trim())?,
            target_concurrency: number("target_concurrency", "100", 0, 100_000)? as u64,
            target_rate: number("target_rate", "0", 0, 1_000_000)? as u64,
            fanout_batch: number("fanout_batch", "500", 1, 5_000)?,
            disable_after_dead: number("disable_after_dead", "5", 1, 10_000)? as u32,
            disable_after_failing_ms: duration("disable_after_failing", "5d")?,
            websub_topics: text("websub_topics", "")
                .split(',')
                .map(|prefix| prefix.trim().to_string())
                .filter(|prefix| !prefix.is_empty())
                .collect(),
            metrics_token: ApiToken::new(text("metrics_token", "").trim()),
            health_max_lag_ms: duration("health_max_lag", "2m")?,
        })
    }

    /// Attempts a job gets unless its submission says otherwise.
    pub fn default_max_attempts(&self) -> u32 {
        self.retry_schedule_ms.len() as u32 + 1
    }
}

fn region_name(text: &str) -> Result<String, ConfigError> {
    let valid = text.len() <= 16 && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(text.to_string())
    } else {
        Err(ConfigError::Region { name: "region", value: text.to_string() })
    }
}

/// The regions listed (this one alone when none are); each a name, this one among them.
fn regions(text: &str, own: &str) -> Result<Vec<String>, ConfigError> {
    let mut listed = Vec::new();
    for name in text.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        let name = region_name(name).map_err(|_| ConfigError::Region { name: "regions", value: name.to_string() })?;
        if !listed.contains(&name) {
            listed.push(name);
        }
    }
    if listed.is_empty() {
        return Ok(vec![own.to_string()]);
    }
    if own.is_empty() || !listed.iter().any(|name| name == own) {
        return Err(ConfigError::RegionNotListed(own.to_string()));
    }
    Ok(listed)
}

/// Shortest sweep token accepted: it is a bearer secret in a URL.
pub const MIN_SWEEP_TOKEN_LEN: usize = 16;

/// The sweep token must not open anything else, so it may not be the API token, and it must be
/// long enough not to be guessed.
fn sweep_token(text: &str, api_token: &str) -> Result<ApiToken, ConfigError> {
    if !text.is_empty() && (text == api_token || text.len() < MIN_SWEEP_TOKEN_LEN) {
        return Err(ConfigError::SweepToken);
    }
    Ok(ApiToken::new(text))
}

fn signing_secret(text: &str) -> Result<Option<crate::keyring::Secret>, ConfigError> {
    if text.is_empty() {
        return Ok(None);
    }
    crate::signing::SigningKey::parse(text).map_err(ConfigError::SigningSecret)?;
    Ok(Some(crate::keyring::Secret::new(text.to_string())))
}

impl Default for Config {
    fn default() -> Self {
        Config::from_lookup(|_| None).expect("defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = Config::default();
        assert_eq!(config.retry_schedule_ms.len(), 9);
        assert_eq!(config.default_max_attempts(), 10);
        assert_eq!(config.timeout_ms, 15_000);
        assert_eq!(config.retention_ms, 7 * 86_400_000);
        assert_eq!(config.max_body_bytes, 1 << 20);
        assert!(config.api_token.is_empty());
    }

    #[test]
    fn overrides_and_errors() {
        let config = Config::from_lookup(|name| match name {
            "allowed_private_targets" => Some(" 127.0.0.1 , LocalHost:8080,".into()),
            "retry_schedule" => Some("1s,2s".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.allowed_private_targets, vec!["127.0.0.1", "localhost:8080"]);
        assert_eq!(config.default_max_attempts(), 3);

        let bad = Config::from_lookup(|name| (name == "sweep_batch").then(|| "0".into()));
        assert!(matches!(bad, Err(ConfigError::Number { name: "sweep_batch", .. })));
        let bad = Config::from_lookup(|name| (name == "timeout").then(|| "soon".into()));
        assert!(matches!(bad, Err(ConfigError::Duration { name: "timeout", .. })));
        let bad = Config::from_lookup(|name| (name == "sweep_in_passing").then(|| "yes".into()));
        assert!(matches!(bad, Err(ConfigError::Flag { name: "sweep_in_passing", .. })));
    }

    /// The configuration with these variables set and the rest at their defaults.
    fn with_variables(variables: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| variables.iter().find(|(n, _)| *n == name).map(|(_, value)| value.to_string()))
    }

    #[test]
    fn regions_name_this_one_and_the_others() {
        let with = |region: &str, regions: &str| {
            with_variables(&[("region", region), ("regions", regions)]).map(|config| (config.region, config.regions))
        };
        assert_eq!(with("", ""), Ok((String::new(), vec![String::new()])));
        assert_eq!(with("eu", ""), Ok(("eu".into(), vec!["eu".into()])));
        assert_eq!(with("eu", "us, eu,us"), Ok(("eu".into(), vec!["us".into(), "eu".into()])));
        assert_eq!(with("eu", "us"), Err(ConfigError::RegionNotListed("eu".into())));
        assert_eq!(with("", "us,eu"), Err(ConfigError::RegionNotListed(String::new())));
        assert!(matches!(with("EU", ""), Err(ConfigError::Region { name: "region", .. })));
        assert!(matches!(with("eu", "eu,a:b"), Err(ConfigError::Region { name: "regions", .. })));
        assert_eq!(Config::default().region_takeover_ms, 120_000);
    }

    #[test]
    fn sweep_token_opens_nothing_else() {
        let with = |sweep: &str, api: &str| with_variables(&[("sweep_token", sweep), ("api_token", api)]);
        assert_eq!(with("", "app-token").unwrap().sweep_token.expose(), "");
        assert_eq!(with("0123456789abcdef", "app-token").unwrap().sweep_token.expose(), "0123456789abcdef");
        assert_eq!(with("0123456789abcdef", "0123456789abcdef"), Err(ConfigError::SweepToken));
        assert_eq!(with("short", "app-token"), Err(ConfigError::SweepToken));
        assert!(Config::default().sweep_in_passing);
        assert_eq!(Config::default().request_budget_ms, 25_000);
    }

    #[test]
    fn token_is_redacted() {
        assert_eq!(format!("{:?}", ApiToken::new("secret")), "[REDACTED]");
    }
}
