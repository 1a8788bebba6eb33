//! Starting and stopping a host: the library's entry point.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{App, LoadOptions};
use crate::clock::HostClock;
use crate::kv::{KvRegion, KvStore};
use crate::limits::{LimitEvents, Limits};
use crate::manifest::Manifest;
use crate::runtime_config::{self, KvStoreConfig};
use crate::{cron_trigger, http_trigger};

/// How long `shutdown` waits for in-flight requests and guest tasks (which
/// may be delivering webhooks) before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What to run and how.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Path of `spin.toml`; component paths are relative to its directory.
    pub manifest: PathBuf,
    /// Address to listen on; port 0 picks a free port (see [`RunningHost::addr`]).
    pub listen: SocketAddr,
    /// SQLite key-value file (relative paths are relative to the current
    /// directory); default `.spin/sqlite_key_value.db` next to the manifest.
    /// Several hosts may share one file, and a restarted host finds its data.
    pub kv_path: Option<PathBuf>,
    /// Spin's runtime-config file (`spin up --runtime-config-file`); its
    /// `[key_value_store.default]` picks SQLite (`type = "spin"`, `path`) or
    /// Redis (`type = "redis"`, `url`) instead of `kv_path`.
    pub runtime_config_file: Option<PathBuf>,
    /// Variable values that win over `SPIN_VARIABLE_*` and defaults
    /// (like `spin up --variable name=value`).
    pub variables: HashMap<String, String>,
    /// Run `[[trigger.cron]]` schedules. Tests turn this off and call
    /// [`RunningHost::run_cron`] instead.
    pub enable_cron: bool,
    /// The wall clock guests see.
    pub clock: HostClock,
    /// A managed host's limits to enforce (`--limits`; [`Limits::fermyon_cloud`]); none by
    /// default, as `spin up`. A runtime config's `[limits]` may set them instead, not as well.
    pub limits: Limits,
    /// A region of a simulated replicated store ([`crate::ReplicatedKv`]) as the store, instead
    /// of `kv_path` or the runtime config's; the host must then run on the store's clock (see
    /// [`HostConfig::in_region`]).
    pub kv_region: Option<KvRegion>,
}

impl HostConfig {
    /// Listens on 127.0.0.1 with a free port, cron on, no variable overrides,
    /// real time.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kv_path: None,
            runtime_config_file: None,
            variables: HashMap::new(),
            enable_cron: true,
            clock: HostClock::new(),
            limits: Limits::default(),
            kv_region: None,
        }
    }

    /// [`HostConfig::new`] for a host serving one region of a replicated store, on the store's
    /// clock.
    pub fn in_region(manifest: impl Into<PathBuf>, region: KvRegion) -> Self {
        Self { clock: region.clock(), kv_region: Some(region), ..Self::new(manifest) }
    }
}

/// A serving host. Dropping it stops accepting connections; call
/// [`RunningHost::shutdown`] to also wait for work in flight.
pub struct RunningHost {
    addr: SocketAddr,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl RunningHost {
    /// Loads the manifest, compiles (or reuses) its components, opens the
    /// key-value store and starts the triggers.
    pub async fn start(config: HostConfig) -> anyhow::Result<RunningHost> {
        let manifest = Manifest::load(&config.manifest)?;
        let limits = limits(&config)?;
        let kv = kv_store(&config, &manifest).await?.with_limits(&limits)?;
        let app = Arc::new(
            App::load(&manifest, LoadOptions { variables: &config.variables, kv, clock: config.clock.clone(), limits })
                .await?,
        );

        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(http_trigger::serve(listener, app.clone(), stopped.clone()));

        if config.enable_cron {
            for schedule in &app.cron_schedules {
                app.tasks.spawn(cron_trigger::run_schedule(app.clone(), schedule.clone(), stopped.clone()));
            }
        }

        Ok(RunningHost { addr, app, stop, server })
    }

    /// The address the HTTP trigger is listening on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The wall clock guests see; advance it to move time for them.
    pub fn clock(&self) -> &HostClock {
        &self.app.clock
    }

    /// The key-value operations this host's guests have made so far.
    pub fn kv_ops(&self) -> crate::KvOps {
        self.app.kv.counts().snapshot()
    }

    /// Calls (keys, for batches) by operation and key shape, when the host was started with
    /// `HOOKAH_HOST_KV_PROFILE` set; empty otherwise.
    pub fn kv_shapes(&self) -> std::collections::BTreeMap<(&'static str, String), u64> {
        self.app.kv.counts().shapes()
    }

    /// The limits this host enforces (from [`HostConfig::limits`] or the runtime config).
    pub fn limits(&self) -> &Limits {
        &self.app.limits
    }

    /// What the limits refused or stopped so far: invocations killed at the handler time limit,
    /// outbound requests refused past the hourly cap, key-value calls refused.
    pub fn limit_events(&self) -> LimitEvents {
        self.app.limit_events()
    }

    /// Fires `component`'s cron handler once now and waits for it; an error
    /// or trap in the guest is returned. Like a scheduled firing, it runs
    /// alongside any other invocation of the component.
    pub async fn run_cron(&self, component: &str) -> anyhow::Result<()> {
        cron_trigger::invoke(&self.app, component).await
    }

    /// Waits until no HTTP-triggered guest is running, including the work a guest does after
    /// its response (Hookah's first delivery attempt): tests wait for this, not for time.
    pub async fn idle(&self) {
        self.app.tasks.idle().await
    }

    /// Stops accepting connections and cron firings, then waits (up to 30 s)
    /// for in-flight requests and background guest work before aborting it.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        let _ = self.stop.send(true);
        if tokio::time::timeout_at(deadline, &mut self.server).await.is_err() {
            self.server.abort();
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let aborted = self.app.tasks.drain(left).await;
        if aborted > 0 {
            eprintln!("hookah-host: shutdown aborted {aborted} guest task(s) still running");
        }
        Ok(())
    }
}

/// [`HostConfig::limits`] or the runtime config's `[limits]`, not both.
fn limits(config: &HostConfig) -> anyhow::Result<Limits> {
    let from_file = match &config.runtime_config_file {
        Some(path) => runtime_config::load_limits(path)?,
        None => None,
    };
    match from_file {
        Some(_) if !config.limits.is_none() => {
            bail!("both --limits (HostConfig::limits) and the runtime config's [limits] set limits: keep one")
        }
        Some(limits) => Ok(limits),
        None => Ok(config.limits.clone()),
    }
}

/// The runtime config's default store, else `kv_path`, else Spin's default
/// file under the app's `.spin` directory.
async fn kv_store(config: &HostConfig, manifest: &Manifest) -> anyhow::Result<KvStore> {
    if let Some(region) = &config.kv_region {
        if config.kv_path.is_some() || config.runtime_config_file.is_some() {
            bail!("a replicated store's region and --kv-path or a runtime config both name the store: keep one");
        }
        if !config.clock.same_as(&region.clock()) {
            bail!("a host in a region of a replicated store must run on the store's clock (HostConfig::in_region)");
        }
        return Ok(KvStore::replicated(region.clone()));
    }
    let from_file = match &config.runtime_config_file {
        Some(path) => runtime_config::load(path)?,
        None => None,
    };
    let chosen = match (from_file, &config.kv_path) {
        (Some(_), Some(_)) => {
            bail!("both the runtime config's [key_value_store.default] and --kv-path name the store: keep one")
        }
        (Some(chosen), None) => chosen,
        (None, Some(path)) => KvStoreConfig::Sqlite { path: Some(path.clone()) },
        (None, None) => KvStoreConfig::Sqlite { path: Some(manifest.dir.join(".spin").join("sqlite_key_value.db")) },
    };
    chosen.open().await
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>(_: &T) {}

    /// Tests hold hosts across `tokio::spawn` and share them between tasks.
    #[test]
    fn public_types_and_futures_are_thread_safe() {
        assert_send_sync::<RunningHost>();
        assert_send_sync::<HostConfig>();
        assert_send_sync::<HostClock>();
        let start = RunningHost::start(HostConfig::new("missing.toml"));
        assert_send(&start);
        let build = crate::build_components(std::path::Path::new("missing.toml"));
        assert_send(&build);
    }

    fn project_manifest() -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
    }

    async fn start_error(config: HostConfig) -> String {
        RunningHost::start(config).await.err().map(|e| format!("{e:#}")).expect("a startup error")
    }

    #[tokio::test]
    async fn a_store_this_host_lacks_is_a_startup_error() {
        let dir = tempfile::tempdir().unwrap();
        let runtime_config = dir.path().join("runtime-config.toml");
        std::fs::write(&runtime_config, "[key_value_store.default]\ntype = \"azure_cosmos\"\n").unwrap();
        let mut config = HostConfig::new(project_manifest());
        config.runtime_config_file = Some(runtime_config.clone());
        let err = start_error(config).await;
        assert!(err.contains("runtime-config.toml") && err.contains("\"azure_cosmos\" is not supported"), "{err}");

        std::fs::write(&runtime_config, "[key_value_store.default]\ntype = \"redis\"\nurl = \"http://x\"\n").unwrap();
        let mut config = HostConfig::new(project_manifest());
        config.runtime_config_file = Some(runtime_config);
        assert!(start_error(config).await.contains("invalid Redis URL"));
    }

    #[tokio::test]
    async fn a_runtime_config_store_and_kv_path_together_are_a_startup_error() {
        let dir = tempfile::tempdir().unwrap();
        let runtime_config = dir.path().join("runtime-config.toml");
        std::fs::write(&runtime_config, "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n").unwrap();
        let mut config = HostConfig::new(project_manifest());
        config.runtime_config_file = Some(runtime_config);
        config.kv_path = Some(dir.path().join("other.db"));
        assert!(start_error(config).await.contains("keep one"));
    }

    #[tokio::test]
    async fn limits_come_from_one_place_and_name_a_known_profile() {
        let dir = tempfile::tempdir().unwrap();
        let runtime_config = dir.path().join("runtime-config.toml");
        std::fs::write(&runtime_config, "[limits]\nprofile = \"fermyon-kloud\"\n").unwrap();
        let mut config = HostConfig::new(project_manifest());
        config.runtime_config_file = Some(runtime_config.clone());
        let err = start_error(config).await;
        assert!(err.contains("unknown limits profile \"fermyon-kloud\""), "{err}");

        std::fs::write(&runtime_config, "[limits]\nmax_keys = 10\n").unwrap();
        let mut config = HostConfig::new(project_manifest());
        config.runtime_config_file = Some(runtime_config.clone());
        assert_eq!(limits(&config).unwrap(), Limits { max_keys: Some(10), ..Limits::default() });
        config.limits = Limits::fermyon_cloud();
        assert!(start_error(config).await.contains("keep one"));

        std::fs::write(&runtime_config, "[key_value_store.default]\ntype = \"spin\"\n").unwrap();
        let mut config = HostConfig::new(project_manifest());
        config.runtime_config_file = Some(runtime_config);
        config.limits = Limits::fermyon_cloud();
        assert_eq!(limits(&config).unwrap(), Limits::fermyon_cloud());
    }

    #[tokio::test]
    async fn a_missing_manifest_is_a_startup_error() {
        let err = RunningHost::start(HostConfig::new("/nonexistent/spin.toml")).await.err().map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| e.contains("/nonexistent/spin.toml")));
    }
}
