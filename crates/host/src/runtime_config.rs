//! Spin's runtime-config file (`spin up --runtime-config-file`), as far as this
//! host implements it: `[key_value_store.default]` of type `spin` (SQLite) or
//! `redis`. Anything else in the file is a startup error, not silently ignored,
//! except `[limits]`: this host's own extension (`crate::limits`), which real
//! Spin refuses ("unused runtime config key(s): limits"), so a file that has it
//! runs only here.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::kv::{KvStore, RedisKv, SqliteKv, DEFAULT_STORE};
use crate::limits::Limits;

/// Where the `default` key-value store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvStoreConfig {
    /// Spin's SQLite store; `None` is Spin's in-memory database (`type =
    /// "spin"` without a `path`).
    Sqlite {
        path: Option<PathBuf>,
    },
    Redis {
        url: String,
    },
}

impl KvStoreConfig {
    pub(crate) async fn open(self) -> anyhow::Result<KvStore> {
        Ok(match self {
            Self::Sqlite { path } => {
                let db = tokio::task::spawn_blocking(move || match path {
                    Some(path) => SqliteKv::open(&path),
                    None => SqliteKv::open_in_memory(),
                })
                .await
                .context("opening the key-value store")??;
                KvStore::sqlite(db)
            }
            Self::Redis { url } => KvStore::redis(RedisKv::new(&url)?),
        })
    }
}

/// The `[key_value_store.default]` table of a runtime-config file, if any.
pub(crate) fn load(path: &Path) -> anyhow::Result<Option<KvStoreConfig>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read runtime config file '{}'", path.display()))?;
    parse(&text, path.parent()).with_context(|| format!("runtime config file '{}'", path.display()))
}

/// The `[limits]` table of a runtime-config file, if any.
pub(crate) fn load_limits(path: &Path) -> anyhow::Result<Option<Limits>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read runtime config file '{}'", path.display()))?;
    parse_limits(&text).with_context(|| format!("runtime config file '{}'", path.display()))
}

fn parse_limits(text: &str) -> anyhow::Result<Option<Limits>> {
    let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
    table.get("limits").map(Limits::from_toml).transpose().context("[limits]")
}

/// `base_dir` is the file's directory: Spin resolves a relative SQLite `path`
/// against it.
fn parse(text: &str, base_dir: Option<&Path>) -> anyhow::Result<Option<KvStoreConfig>> {
    let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
    if let Some(key) = table.keys().find(|k| *k != "key_value_store" && *k != "limits") {
        bail!("`{key}` is not supported by this host (it reads only [key_value_store.default] and [limits])");
    }
    let Some(stores) = table.get("key_value_store") else { return Ok(None) };
    let stores = stores.as_table().context("`key_value_store` must be a table of stores by label")?;
    let mut default = None;
    for (label, store) in stores {
        if label != DEFAULT_STORE {
            bail!("key_value_store.{label}: this host defines only the {DEFAULT_STORE:?} store");
        }
        default = Some(
            parse_store(store, base_dir)
                .with_context(|| format!("could not configure key-value store with label '{label}'"))?,
        );
    }
    Ok(default)
}

fn parse_store(store: &toml::Value, base_dir: Option<&Path>) -> anyhow::Result<KvStoreConfig> {
    let store = store.as_table().context("a store must be a table")?;
    let kind = store.get("type").context("missing `type` (\"spin\" or \"redis\")")?;
    let kind = kind.as_str().context("`type` must be a string")?;
    let fields: &[&str] = match kind {
        "spin" => &["type", "path"],
        "redis" => &["type", "url"],
        other => bail!("store type {other:?} is not supported by this host (it has \"spin\" and \"redis\")"),
    };
    if let Some(key) = store.keys().find(|k| !fields.contains(&k.as_str())) {
        bail!("unknown field `{key}` for a store of type {kind:?}");
    }
    let string = |name: &str| -> anyhow::Result<Option<&str>> {
        store.get(name).map(|v| v.as_str().with_context(|| format!("`{name}` must be a string"))).transpose()
    };
    Ok(match kind {
        "spin" => KvStoreConfig::Sqlite {
            path: string("path")?.map(|path| match base_dir {
                Some(dir) => dir.join(path),
                None => PathBuf::from(path),
            }),
        },
        _ => KvStoreConfig::Redis { url: string("url")?.context("missing `url`")?.to_owned() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<KvStoreConfig>) {
        assert_eq!(parse(text, Some(Path::new("/etc/hookah"))).unwrap(), expected, "{text}");
    }

    fn check_err(text: &str, needle: &str) {
        let err = format!("{:#}", parse(text, Some(Path::new("/etc/hookah"))).unwrap_err());
        assert!(err.contains(needle), "{text}: {err}");
    }

    fn sqlite(path: Option<&str>) -> Option<KvStoreConfig> {
        Some(KvStoreConfig::Sqlite { path: path.map(PathBuf::from) })
    }

    #[test]
    fn stores() {
        check("", None);
        check("[key_value_store]", None);
        // Relative to the file's directory, as Spin resolves it.
        check(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"",
            sqlite(Some("/etc/hookah/data/kv.db")),
        );
        check("[key_value_store.default]\ntype = \"spin\"\npath = \"/var/kv.db\"", sqlite(Some("/var/kv.db")));
        check("[key_value_store.default]\ntype = \"spin\"", sqlite(None));
        check(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/3\"",
            Some(KvStoreConfig::Redis { url: "redis://127.0.0.1:6379/3".into() }),
        );
    }

    #[test]
    fn limits_sit_beside_the_store() {
        let text = "[key_value_store.default]\ntype = \"spin\"\n[limits]\nprofile = \"fermyon-cloud\"\nmax_keys = 200";
        check(text, sqlite(None));
        let limits = parse_limits(text).unwrap().unwrap();
        assert_eq!(limits, Limits { max_keys: Some(200), ..Limits::fermyon_cloud() });
        assert_eq!(parse_limits("[key_value_store.default]\ntype = \"spin\"").unwrap(), None);
        let err = format!("{:#}", parse_limits("[limits]\nprofile = \"nope\"").unwrap_err());
        assert!(err.contains("unknown limits profile \"nope\""), "{err}");
    }

    #[test]
    fn a_relative_file_resolves_against_the_current_directory() {
        let parsed =
            parse("[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"", Path::new("rc.toml").parent());
        assert_eq!(parsed.unwrap(), sqlite(Some("kv.db")));
    }

    #[test]
    fn what_this_host_does_not_do_is_an_error() {
        check_err("[key_value_store.other]\ntype = \"spin\"", "defines only the \"default\" store");
        check_err("[key_value_store.default]\ntype = \"azure_cosmos\"", "store type \"azure_cosmos\" is not supported");
        check_err("[key_value_store.default]\npath = \"x\"", "missing `type`");
        check_err("[key_value_store.default]\ntype = \"redis\"", "missing `url`");
        check_err("[key_value_store.default]\ntype = \"redis\"\nurl = 6379", "`url` must be a string");
        check_err("[key_value_store.default]\ntype = \"spin\"\nurl = \"redis://x\"", "unknown field `url`");
        check_err("[outbound_networking]\nblock_networks = [\"private\"]", "`outbound_networking` is not supported");
        check_err("key_value_store = 3", "must be a table");
        check_err("[key_value_store.default", "not valid TOML");
    }
}
