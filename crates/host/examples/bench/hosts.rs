//! Hookah and the floor component in the local host, on a bench store.

use crate::client::{call, HttpClient, TOKEN};
use crate::store::BenchStore;
use hookah_host::{build_components, HostConfig, RunningHost};
use std::path::PathBuf;

pub(crate) fn hookah_manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

pub(crate) fn floor_manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench-floor/spin.toml")
}

/// Builds Hookah's components, and the floor's when asked (each manifest's build commands),
/// unless `HOOKAH_BENCH_NO_BUILD` is set.
pub(crate) async fn build(with_floor: bool) -> anyhow::Result<()> {
    if std::env::var_os("HOOKAH_BENCH_NO_BUILD").is_some() {
        return Ok(());
    }
    build_components(&hookah_manifest()).await?;
    if with_floor {
        build_components(&floor_manifest()).await?;
    }
    Ok(())
}

/// Variables every bench host gets: the token, and leave to deliver to 127.0.0.1.
pub(crate) const VARIABLES: [(&str, &str); 2] = [("api_token", TOKEN), ("allowed_private_targets", "127.0.0.1")];

/// Hookah with spin.toml's settings (sweeper every second when `cron`), plus `extra` variables.
pub(crate) async fn start_hookah(
    store: &BenchStore,
    cron: bool,
    extra: &[(&str, &str)],
) -> anyhow::Result<RunningHost> {
    let mut config = HostConfig::new(hookah_manifest());
    store.configure(&mut config);
    config.enable_cron = cron;
    for (name, value) in VARIABLES.iter().chain(extra) {
        config.variables.insert(name.to_string(), value.to_string());
    }
    RunningHost::start(config).await
}

pub(crate) async fn start_floor(store: &BenchStore) -> anyhow::Result<RunningHost> {
    let mut config = HostConfig::new(floor_manifest());
    store.configure(&mut config);
    RunningHost::start(config).await
}

/// When the job's next attempt is scheduled (Unix ms), once its failed attempt is recorded; asks
/// a few times, since the record is written after the receiver answered.
pub(crate) async fn scheduled_retry_ms(client: &HttpClient, base: &str, id: &str) -> Option<u64> {
    for _ in 0..10 {
        let job = call(client, "GET", &format!("{base}/_hookah/v1/jobs/{id}"), Vec::new()).await;
        if let Some(at) = job["next_attempt_at"].as_str() {
            let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
            return u64::try_from(at.timestamp_millis()).ok();
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    None
}
