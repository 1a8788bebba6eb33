//! The store a test host runs on: SQLite (the default) or Redis, as `HOOKAH_TEST_KV` says.
//!
//! Redis comes from `HOOKAH_TEST_REDIS_URL`, or else one private `redis-server` per test binary;
//! each store gets an empty database of its own there and hands it to hosts through Spin's
//! runtime-config file, as `spin up` would be given it.

use hookah_host::test_redis::TestDatabase;
use hookah_host::HostConfig;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Which backend the suite runs on.
pub const BACKEND_VAR: &str = "HOOKAH_TEST_KV";

pub enum TestStore {
    Sqlite { path: PathBuf, _dir: tempfile::TempDir },
    Redis { db: TestDatabase, runtime_config: PathBuf, _dir: tempfile::TempDir },
}

impl TestStore {
    /// An empty store on the backend `HOOKAH_TEST_KV` names (`sqlite` unless set).
    pub fn new() -> TestStore {
        match std::env::var(BACKEND_VAR).as_deref() {
            Err(_) | Ok("sqlite") => Self::sqlite(),
            Ok("redis") => Self::redis(),
            Ok(other) => panic!("{BACKEND_VAR}={other:?}: expected \"sqlite\" or \"redis\""),
        }
    }

    pub fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        TestStore::Sqlite { path: dir.path().join("kv.db"), _dir: dir }
    }

    /// An empty Redis database, whatever `HOOKAH_TEST_KV` says.
    pub fn redis() -> TestStore {
        let db = TestDatabase::claim().expect("a Redis database for the test");
        let dir = tempfile::tempdir().unwrap();
        let runtime_config = dir.path().join("runtime-config.toml");
        std::fs::write(&runtime_config, redis_table(&db)).unwrap();
        TestStore::Redis { db, runtime_config, _dir: dir }
    }

    /// Points an in-process host at this store.
    pub fn configure(&self, config: &mut HostConfig) {
        match self {
            TestStore::Sqlite { path, .. } => config.kv_path = Some(path.clone()),
            TestStore::Redis { runtime_config, .. } => config.runtime_config_file = Some(runtime_config.clone()),
        }
    }

    /// Points a `hookah-host up` process at this store.
    pub fn cli_args(&self) -> Vec<OsString> {
        match self {
            TestStore::Sqlite { path, .. } => vec!["--kv-path".into(), path.into()],
            TestStore::Redis { runtime_config, .. } => vec!["--runtime-config-file".into(), runtime_config.into()],
        }
    }

    /// Points a `hookah-host up` process at this store, with a runtime config of its own in
    /// `dir` that adds `more` (a `[limits]` table, say).
    pub fn cli_args_adding(&self, more: &str, dir: &Path) -> Vec<OsString> {
        let (mut args, store) = match self {
            TestStore::Sqlite { path, .. } => (vec!["--kv-path".into(), path.into()], String::new()),
            TestStore::Redis { db, .. } => (Vec::new(), redis_table(db)),
        };
        let runtime_config = dir.join("runtime-config.toml");
        std::fs::write(&runtime_config, format!("{store}{more}")).unwrap();
        args.extend(["--runtime-config-file".into(), runtime_config.into()]);
        args
    }

    /// How many keys the store holds.
    pub fn stored_keys(&self) -> usize {
        match self {
            TestStore::Sqlite { path, .. } => {
                let db = rusqlite::Connection::open(path).unwrap();
                db.query_row("SELECT COUNT(*) FROM spin_key_value", [], |row| row.get::<_, i64>(0)).unwrap_or(0)
                    as usize
            }
            TestStore::Redis { db, .. } => db.key_count().unwrap(),
        }
    }

    /// Every key the store holds.
    pub fn key_names(&self) -> Vec<String> {
        match self {
            TestStore::Sqlite { path, .. } => {
                let db = rusqlite::Connection::open(path).unwrap();
                let mut query = db.prepare("SELECT key FROM spin_key_value").unwrap();
                query.query_map([], |row| row.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
            }
            TestStore::Redis { db, .. } => db.key_names().unwrap(),
        }
    }
}

/// The runtime config's `[key_value_store.default]` for a Redis database.
fn redis_table(db: &TestDatabase) -> String {
    format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n", db.url())
}
