//! Redis for tests: a server and an empty database of one's own.
//!
//! The server is `HOOKAH_TEST_REDIS_URL` when set, otherwise one private
//! `redis-server` (from `PATH`) per test process on a free 127.0.0.1 port,
//! without persistence, that goes away when the process does, even when it is
//! killed. A [`TestDatabase`] claims a free database index on that server (so
//! concurrent tests and test processes never share one), starts it empty and
//! empties and frees it when dropped.

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

/// The environment variable naming an existing server to use.
pub const REDIS_URL_VAR: &str = "HOOKAH_TEST_REDIS_URL";

/// Databases of the private server; index 0 holds the claims.
const PRIVATE_DATABASES: u32 = 1024;
/// A claim outlives a killed test process by at most this long.
const CLAIM_SECS: u64 = 3600;

/// Runs redis-server with its arguments and kills it once stdin (fd 3 here,
/// since a background job's stdin is /dev/null) reaches end of file: the
/// test process holds the only writer, which the kernel closes however the
/// process ends.
const LIFELINE_SCRIPT: &str = r#"exec 3<&0
redis-server "$@" &
server=$!
(cat <&3 >/dev/null; kill "$server" 2>/dev/null) &
wait "$server""#;

/// The URL of the server tests use, starting the private one if needed.
pub fn server_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var(REDIS_URL_VAR) {
        return Ok(url);
    }
    static PRIVATE: OnceLock<Result<PrivateServer, String>> = OnceLock::new();
    match PRIVATE.get_or_init(|| PrivateServer::start().map_err(|e| format!("{e:#}"))) {
        Ok(server) => Ok(server.url.clone()),
        Err(e) => bail!("no Redis for the tests ({REDIS_URL_VAR} is unset): {e}"),
    }
}

/// A private `redis-server`; never dropped when held in a static, so its
/// lifeline closes only when the process ends.
struct PrivateServer {
    url: String,
    _wrapper: Child,
    _lifeline: ChildStdin,
}

impl PrivateServer {
    fn start() -> anyhow::Result<PrivateServer> {
        let mut last_error = anyhow!("not started");
        // A port found free can be taken before redis-server binds it: retry.
        for _ in 0..5 {
            match Self::start_on(free_port()?) {
                Ok(server) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn start_on(port: u16) -> anyhow::Result<PrivateServer> {
        let (port, databases) = (port.to_string(), PRIVATE_DATABASES.to_string());
        let mut wrapper = Command::new("sh")
            .args(["-c", LIFELINE_SCRIPT, "hookah-test-redis"])
            .args(["--bind", "127.0.0.1", "--port", &port, "--save", "", "--appendonly", "no"])
            .args(["--databases", &databases])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .context("running sh to start redis-server")?;
        let lifeline = wrapper.stdin.take().context("redis-server lifeline")?;
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = wrapper.try_wait()? {
                bail!("redis-server on port {port} exited at once ({status}); is it installed?");
            }
            if ping(&url).is_ok() {
                return Ok(PrivateServer { url, _wrapper: wrapper, _lifeline: lifeline });
            }
            if Instant::now() > deadline {
                drop(lifeline);
                let _ = wrapper.wait();
                bail!("redis-server on port {port} did not answer within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn connect(url: &str) -> anyhow::Result<redis::Connection> {
    let client = redis::Client::open(url).with_context(|| format!("Redis URL {url:?}"))?;
    client.get_connection_with_timeout(Duration::from_secs(5)).with_context(|| format!("connecting to {url}"))
}

fn ping(url: &str) -> anyhow::Result<()> {
    redis::cmd("PING").query::<String>(&mut connect(url)?)?;
    Ok(())
}

/// An empty database of one's own on the test server.
pub struct TestDatabase {
    server: String,
    index: u32,
    url: String,
}

impl TestDatabase {
    /// Claims the first free index above 0 and empties it.
    pub fn claim() -> anyhow::Result<TestDatabase> {
        let server = server_url()?;
        let mut claims = connect(&with_database(&server, 0)?)?;
        let reply: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("databases").query(&mut claims)?;
        let databases: u32 = reply.get(1).and_then(|n| n.parse().ok()).context("reading CONFIG GET databases")?;
        for index in 1..databases {
            let claimed: Option<String> = redis::cmd("SET")
                .arg(claim_key(index))
                .arg(std::process::id())
                .arg("NX")
                .arg("EX")
                .arg(CLAIM_SECS)
                .query(&mut claims)?;
            if claimed.is_some() {
                let url = with_database(&server, index)?;
                let db = TestDatabase { server, index, url };
                db.flush()?;
                return Ok(db);
            }
        }
        bail!("all {databases} databases of {server} are claimed")
    }

    /// `redis://…/{index}`: what a runtime config's `url` names.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many keys the database holds.
    pub fn key_count(&self) -> anyhow::Result<usize> {
        Ok(redis::cmd("DBSIZE").query(&mut connect(&self.url)?)?)
    }

    /// Every key of the database (a test's own, so `KEYS` is fine).
    pub fn key_names(&self) -> anyhow::Result<Vec<String>> {
        Ok(redis::cmd("KEYS").arg("*").query(&mut connect(&self.url)?)?)
    }

    fn flush(&self) -> anyhow::Result<()> {
        redis::cmd("FLUSHDB").query::<()>(&mut connect(&self.url)?)?;
        Ok(())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = self.flush();
        if let Ok(url) = with_database(&self.server, 0) {
            if let Ok(mut claims) = connect(&url) {
                let _ = redis::cmd("DEL").arg(claim_key(self.index)).query::<()>(&mut claims);
            }
        }
    }
}

fn claim_key(index: u32) -> String {
    format!("hookah-test:claim:{index}")
}

/// The server URL with its database index replaced.
fn with_database(server: &str, index: u32) -> anyhow::Result<String> {
    let mut url = redis::parse_redis_url(server).with_context(|| format!("invalid Redis URL {server:?}"))?;
    url.set_path(&format!("/{index}"));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(with_database("redis://127.0.0.1:7000", 5).unwrap(), "redis://127.0.0.1:7000/5");
        assert_eq!(with_database("redis://127.0.0.1:7000/2", 5).unwrap(), "redis://127.0.0.1:7000/5");
        assert!(with_database("http://x", 1).is_err());
    }

    #[test]
    fn claimed_databases_are_distinct_empty_and_emptied() {
        let a = TestDatabase::claim().unwrap();
        let b = TestDatabase::claim().unwrap();
        assert_ne!(a.url(), b.url());
        redis::cmd("SET").arg("k").arg("v").query::<()>(&mut connect(a.url()).unwrap()).unwrap();
        assert_eq!((a.key_count().unwrap(), b.key_count().unwrap()), (1, 0));
        let url = a.url().to_string();
        drop(a);
        assert_eq!(redis::cmd("DBSIZE").query::<usize>(&mut connect(&url).unwrap()).unwrap(), 0);
    }
}
