//! The store a benchmark runs on: a fresh SQLite file, or a private `redis-server` on a free
//! loopback port that the bench starts and stops itself.

use anyhow::{anyhow, bail, Context as _};
use hookah_host::HostConfig;
use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    Sqlite,
    Redis,
}

impl std::str::FromStr for StoreKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "sqlite" => Ok(StoreKind::Sqlite),
            "redis" => Ok(StoreKind::Redis),
            _ => bail!("--store {s:?}: expected sqlite or redis"),
        }
    }
}

impl StoreKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Redis => "redis",
        }
    }
}

/// An empty store; the Redis server goes away with it.
pub(crate) struct BenchStore {
    pub(crate) kind: StoreKind,
    kv_path: PathBuf,
    runtime_config: Option<PathBuf>,
    redis: Option<Child>,
    _dir: tempfile::TempDir,
}

impl BenchStore {
    pub(crate) fn start(kind: StoreKind) -> anyhow::Result<BenchStore> {
        let dir = tempfile::tempdir()?;
        let kv_path = dir.path().join("kv.db");
        let (mut runtime_config, mut redis) = (None, None);
        if kind == StoreKind::Redis {
            let (child, url) = start_redis(&dir.path().join("redis"))?;
            redis = Some(child);
            let path = dir.path().join("runtime-config.toml");
            std::fs::write(&path, format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"))?;
            runtime_config = Some(path);
        }
        Ok(BenchStore { kind, kv_path, runtime_config, redis, _dir: dir })
    }

    /// Points an in-process host at this store.
    pub(crate) fn configure(&self, config: &mut HostConfig) {
        match &self.runtime_config {
            Some(path) => config.runtime_config_file = Some(path.clone()),
            None => config.kv_path = Some(self.kv_path.clone()),
        }
    }

    /// Points a `hookah-host up` process at this store.
    pub(crate) fn cli_args(&self) -> Vec<OsString> {
        match &self.runtime_config {
            Some(path) => vec!["--runtime-config-file".into(), path.into()],
            None => vec!["--kv-path".into(), self.kv_path.clone().into()],
        }
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        if let Some(child) = &mut self.redis {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `redis-server` without persistence on a free 127.0.0.1 port; a port found free can be
/// taken before the server binds it, so a few ports are tried.
fn start_redis(dir: &std::path::Path) -> anyhow::Result<(Child, String)> {
    std::fs::create_dir_all(dir)?;
    let mut last_error = anyhow!("not started");
    for _ in 0..5 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port().to_string();
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port, "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server (is it installed?)")?;
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait()?.is_some() {
                last_error = anyhow!("redis-server on port {port} exited at once");
                break;
            }
            if ping(&url).is_ok() {
                return Ok((child, url));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                last_error = anyhow!("redis-server on port {port} did not answer within 10 s");
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err(last_error)
}

fn ping(url: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_connection_with_timeout(Duration::from_secs(1))?;
    redis::cmd("PING").query::<String>(&mut connection)?;
    Ok(())
}
