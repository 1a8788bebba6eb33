//! Reading `spin.toml` (manifest version 2): the subset Hookah's host runs.
//!
//! Parsing is deliberately lenient about keys it does not use (descriptions,
//! `watch`, ...) so a manifest that `spin up` accepts also loads here, and strict
//! about the shape of the keys it does use, so a typo fails at startup rather
//! than at the first request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use serde::Deserialize;

/// A parsed manifest with paths made absolute.
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    /// Directory holding the manifest; component sources and builds are relative to it.
    pub(crate) dir: PathBuf,
    pub(crate) variables: BTreeMap<String, VariableDecl>,
    pub(crate) http_triggers: Vec<HttpTrigger>,
    pub(crate) cron_triggers: Vec<CronTrigger>,
    pub(crate) components: BTreeMap<String, ComponentDecl>,
}

/// An application variable from `[variables]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VariableDecl {
    pub(crate) default: Option<String>,
    pub(crate) required: bool,
    /// Only affects how values may be shown; this host never prints values.
    pub(crate) secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTrigger {
    pub(crate) route: RouteDecl,
    pub(crate) component: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteDecl {
    /// A routable pattern such as `/...` or `/api`.
    Path(String),
    /// `{ private = true }`: the component is reachable only by service chaining.
    Private,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CronTrigger {
    pub(crate) component: String,
    pub(crate) cron_expression: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComponentDecl {
    /// Absolute path of the component's Wasm file.
    pub(crate) source: PathBuf,
    pub(crate) allowed_outbound_hosts: Vec<String>,
    pub(crate) key_value_stores: Vec<String>,
    /// Variable name to template, e.g. `api_token = "{{ api_token }}"`.
    pub(crate) variables: BTreeMap<String, String>,
    /// Environment variables the guest sees through `wasi:cli/environment`.
    pub(crate) environment: BTreeMap<String, String>,
    pub(crate) build: Option<BuildDecl>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildDecl {
    /// Shell commands run in order, as `spin build` does.
    pub(crate) commands: Vec<String>,
    /// Directory to run them in, relative to the manifest directory.
    pub(crate) workdir: Option<PathBuf>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading manifest {}", path.display()))?;
        let path = std::path::absolute(path).with_context(|| format!("resolving manifest path {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| anyhow!("manifest path {} has no parent", path.display()))?;
        Self::parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text whose relative paths are relative to `dir`.
    pub(crate) fn parse(text: &str, dir: &Path) -> anyhow::Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version != 2 {
            bail!("spin_manifest_version {} is not supported (only 2)", raw.spin_manifest_version);
        }

        let variables = raw
            .variables
            .into_iter()
            .map(|(name, v)| {
                if v.required && v.default.is_some() {
                    bail!("variable {name:?} cannot be both required and have a default");
                }
                if !v.required && v.default.is_none() {
                    bail!("variable {name:?} needs either a default or `required = true`");
                }
                Ok((name, VariableDecl { default: v.default, required: v.required, secret: v.secret }))
            })
            .collect::<anyhow::Result<_>>()?;

        let components = raw
            .component
            .into_iter()
            .map(|(id, c)| {
                let decl = c.into_decl(dir).with_context(|| format!("component {id:?}"))?;
                Ok((id, decl))
            })
            .collect::<anyhow::Result<BTreeMap<_, _>>>()?;

        let mut http_triggers = Vec::new();
        let mut cron_triggers = Vec::new();
        for (kind, triggers) in raw.trigger {
            match kind.as_str() {
                "http" => {
                    for t in triggers {
                        let t: RawHttpTrigger = t.try_into().context("[[trigger.http]]")?;
                        http_triggers.push(HttpTrigger { route: t.route.into_decl()?, component: t.component });
                    }
                }
                "cron" => {
                    for t in triggers {
                        let t: RawCronTrigger = t.try_into().context("[[trigger.cron]]")?;
                        cron_triggers.push(CronTrigger { component: t.component, cron_expression: t.cron_expression });
                    }
                }
                other => bail!("trigger type {other:?} is not supported by this host"),
            }
        }

        let triggered = http_triggers.iter().map(|t| &t.component).chain(cron_triggers.iter().map(|t| &t.component));
        for id in triggered {
            if !components.contains_key(id) {
                bail!("a trigger refers to component {id:?}, which is not defined");
            }
        }

        Ok(Self { dir: dir.to_path_buf(), variables, http_triggers, cron_triggers, components })
    }

    /// Components referenced by at least one trigger, in a stable order.
    /// Only these are loaded, as `spin up` does.
    pub(crate) fn triggered_components(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .http_triggers
            .iter()
            .map(|t| t.component.as_str())
            .chain(self.cron_triggers.iter().map(|t| t.component.as_str()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

// ---- raw serde shapes ----

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: i64,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawVariable {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

impl RawRoute {
    fn into_decl(self) -> anyhow::Result<RouteDecl> {
        match self {
            RawRoute::Path(p) => Ok(RouteDecl::Path(p)),
            RawRoute::Private { private: true } => Ok(RouteDecl::Private),
            RawRoute::Private { private: false } => {
                bail!("route must be a string pattern or `{{ private = true }}`")
            }
        }
    }
}

#[derive(Deserialize)]
struct RawCronTrigger {
    component: String,
    cron_expression: String,
}

#[derive(Deserialize)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<RawBuild>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Other(toml::Table),
}

#[derive(Deserialize)]
struct RawBuild {
    command: RawCommand,
    #[serde(default)]
    workdir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCommand {
    One(String),
    Many(Vec<String>),
}

impl RawComponent {
    fn into_decl(self, dir: &Path) -> anyhow::Result<ComponentDecl> {
        let source = match self.source {
            RawSource::Path(p) => dir.join(p),
            RawSource::Other(table) => bail!(
                "only file `source` paths are supported, not URL or registry sources \
                 ({{ {} }})",
                table.to_string().trim().replace('\n', ", ")
            ),
        };
        let build = self.build.map(|b| BuildDecl {
            commands: match b.command {
                RawCommand::One(c) => vec![c],
                RawCommand::Many(cs) => cs,
            },
            workdir: b.workdir,
        });
        Ok(ComponentDecl {
            source,
            allowed_outbound_hosts: self.allowed_outbound_hosts,
            key_value_stores: self.key_value_stores,
            variables: self.variables,
            environment: self.environment,
            build,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_manifest() -> Manifest {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
        Manifest::load(&path).expect("the project's spin.toml parses")
    }

    #[test]
    fn parses_the_project_manifest() {
        let m = project_manifest();
        assert_eq!(
            m.http_triggers,
            vec![HttpTrigger { route: RouteDecl::Path("/...".into()), component: "hookah-http".into() }]
        );
        assert_eq!(
            m.cron_triggers,
            vec![CronTrigger { component: "hookah-sweeper".into(), cron_expression: "* * * * * *".into() }]
        );
        assert_eq!(m.triggered_components(), ["hookah-http", "hookah-sweeper"]);

        let api_token = &m.variables["api_token"];
        assert_eq!(api_token.default.as_deref(), Some(""));
        assert!(api_token.secret);
        assert_eq!(m.variables["retry_schedule"].default.as_deref(), Some("5s,5m,30m,2h,5h,10h,14h,20h,24h"));

        let http = &m.components["hookah-http"];
        assert!(http.source.ends_with("target/wasm32-wasip2/release/hookah_http.wasm"));
        assert!(http.source.is_absolute());
        assert_eq!(http.allowed_outbound_hosts, ["http://*:*", "https://*:*"]);
        assert_eq!(http.key_value_stores, ["default"]);
        assert_eq!(http.variables["api_token"], "{{ api_token }}");
        assert_eq!(
            http.build.as_ref().map(|b| b.commands.clone()),
            Some(vec![
                "sh scripts/wasm-target.sh".to_string(),
                "cargo build --target wasm32-wasip2 --release -p hookah-http".to_string()
            ])
        );
        assert!(!m.components["hookah-sweeper"].variables.contains_key("api_token"));
    }

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(text, Path::new("/app"))
    }

    #[test]
    fn rejects_bad_shapes() {
        for (text, why) in [
            ("spin_manifest_version = 1", "version"),
            (
                "spin_manifest_version = 2\n[variables]\nx = { required = true, default = \"a\" }",
                "required with default",
            ),
            ("spin_manifest_version = 2\n[variables]\nx = { secret = true }", "neither default nor required"),
            (
                "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"missing\"",
                "unknown component",
            ),
            ("spin_manifest_version = 2\n[[trigger.redis]]\ncomponent = \"c\"", "unsupported trigger"),
            (
                "spin_manifest_version = 2\n[component.c]\nsource = { url = \"https://x\", digest = \"d\" }",
                "url source",
            ),
        ] {
            assert!(parse(text).is_err(), "accepted: {why}");
        }
    }

    #[test]
    fn reads_private_routes_and_command_lists() {
        let m = parse(
            r#"
spin_manifest_version = 2
[[trigger.http]]
route = { private = true }
component = "c"
[component.c]
source = "c.wasm"
[component.c.build]
command = ["make a", "make b"]
workdir = "sub"
"#,
        )
        .unwrap();
        assert_eq!(m.http_triggers[0].route, RouteDecl::Private);
        let build = m.components["c"].build.clone().unwrap();
        assert_eq!(build.commands, ["make a", "make b"]);
        assert_eq!(build.workdir, Some(PathBuf::from("sub")));
        assert_eq!(m.components["c"].source, Path::new("/app/c.wasm"));
    }
}
