//! A loaded application: compiled components ready to instantiate, plus the
//! shared state (router, key-value store, clock, background tasks).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use wasmtime::component::ResourceTable;
use wasmtime::Store;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::cron::SpinCronPre;
use crate::clock::HostClock;
use crate::cron_trigger::CronSchedule;
use crate::engine;
use crate::kv::{KvHost, KvStore, DEFAULT_STORE};
use crate::limits::deadline::HandlerLimit;
use crate::limits::outbound::OutboundBudget;
use crate::limits::{LimitEvents, Limits};
use crate::manifest::Manifest;
use crate::outbound::{AllowedHosts, OutboundHooks};
use crate::outbound_pool::PooledClient;
use crate::routes::Router;
use crate::state::{self, InstanceState};
use crate::tasks::TaskTracker;
use crate::variables::{AppVariables, ComponentVariables, VariablesHost};

pub(crate) struct App {
    pub(crate) router: Router,
    pub(crate) components: HashMap<String, LoadedComponent>,
    pub(crate) cron_schedules: Vec<CronSchedule>,
    pub(crate) clock: HostClock,
    pub(crate) tasks: TaskTracker,
    pub(crate) kv: KvStore,
    /// The store as the cron trigger sees it: `spin up` runs a plugin trigger as a process of
    /// its own, with its own connection to a SQLite store.
    cron_kv: KvStore,
    /// Outbound `http://` connections, kept open and shared by every instance of the app.
    outbound: Arc<PooledClient>,
    /// The platform limits the host enforces (`crate::limits`).
    pub(crate) limits: Limits,
    pub(crate) handler_limit: HandlerLimit,
    /// The app's outbound requests this hour, shared by all its components.
    outbound_budget: Arc<OutboundBudget>,
    engine: &'static wasmtime::Engine,
}

pub(crate) struct LoadedComponent {
    pub(crate) id: Arc<str>,
    /// Set when an HTTP trigger routes to the component.
    pub(crate) http: Option<ProxyPre<InstanceState>>,
    /// Set when a cron trigger fires the component.
    pub(crate) cron: Option<SpinCronPre<InstanceState>>,
    allowed_hosts: Arc<AllowedHosts>,
    kv_stores: Arc<HashSet<String>>,
    variables: Arc<ComponentVariables>,
    environment: Vec<(String, String)>,
}

/// What invokes a component: each trigger reaches the store as its own process would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Http,
    Cron,
}

/// Everything [`App::load`] needs besides the manifest.
pub(crate) struct LoadOptions<'a> {
    pub(crate) variables: &'a HashMap<String, String>,
    pub(crate) kv: KvStore,
    pub(crate) clock: HostClock,
    pub(crate) limits: Limits,
}

impl App {
    pub(crate) async fn load(manifest: &Manifest, opts: LoadOptions<'_>) -> anyhow::Result<Self> {
        let app_vars =
            Arc::new(AppVariables::resolve(&manifest.variables, opts.variables, |name| std::env::var(name).ok())?);
        let router = Router::build(&manifest.http_triggers)?;
        let cron_schedules =
            manifest.cron_triggers.iter().map(CronSchedule::new).collect::<anyhow::Result<Vec<_>>>()?;

        let engine = engine::engine()?;
        let linker = state::linker(engine)?;
        let mut components = HashMap::new();
        for id in manifest.triggered_components() {
            let decl = &manifest.components[id];
            for label in &decl.key_value_stores {
                if label != DEFAULT_STORE {
                    bail!(
                        "unknown key_value_stores label {label:?} for component {id:?} \
                         (this host only defines {DEFAULT_STORE:?})"
                    );
                }
            }
            let allowed_hosts = AllowedHosts::parse(&decl.allowed_outbound_hosts, &app_vars)
                .with_context(|| format!("component {id:?}"))?;
            let variables = ComponentVariables::new(id, &decl.variables, app_vars.clone())?;

            let component = engine::load_component(&decl.source).await?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("linking component {id:?}"))?;
            let is_http = manifest.http_triggers.iter().any(|t| t.component == id);
            let is_cron = manifest.cron_triggers.iter().any(|t| t.component == id);
            let http =
                if is_http {
                    Some(ProxyPre::new(pre.clone()).map_err(anyhow::Error::from).with_context(|| {
                        format!("component {id:?} does not export wasi:http/incoming-handler@0.2.x")
                    })?)
                } else {
                    None
                };
            let cron = if is_cron {
                Some(
                    SpinCronPre::new(pre.clone())
                        .map_err(anyhow::Error::from)
                        .with_context(|| format!("component {id:?} does not export handle-cron-event"))?,
                )
            } else {
                None
            };

            components.insert(
                id.to_string(),
                LoadedComponent {
                    id: id.into(),
                    http,
                    cron,
                    allowed_hosts: Arc::new(allowed_hosts),
                    kv_stores: Arc::new(decl.key_value_stores.iter().cloned().collect()),
                    variables: Arc::new(variables),
                    environment: decl.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                },
            );
        }

        let cron_kv = match cron_schedules.is_empty() {
            true => opts.kv.clone(),
            false => opts.kv.for_another_process()?,
        };
        Ok(Self {
            router,
            components,
            cron_schedules,
            handler_limit: HandlerLimit::new(opts.limits.handler_timeout),
            outbound_budget: Arc::new(OutboundBudget::new(opts.limits.outbound_requests_per_hour, opts.clock.clone())),
            limits: opts.limits,
            clock: opts.clock,
            tasks: TaskTracker::default(),
            cron_kv,
            kv: opts.kv,
            outbound: Arc::new(PooledClient::new()),
            engine,
        })
    }

    /// What the limits refused or stopped so far.
    pub(crate) fn limit_events(&self) -> LimitEvents {
        LimitEvents {
            handler_kills: self.handler_limit.kills(),
            outbound_refused: self.outbound_budget.refused(),
            kv_refused: self.kv.refused_by_limits(),
        }
    }

    pub(crate) fn component(&self, id: &str) -> anyhow::Result<&LoadedComponent> {
        self.components.get(id).ok_or_else(|| anyhow!("no loaded component {id:?}"))
    }

    /// A fresh store for one invocation of `component` by `trigger`.
    pub(crate) fn new_store(&self, component: &LoadedComponent, trigger: Trigger) -> Store<InstanceState> {
        let kv = match trigger {
            Trigger::Http => &self.kv,
            Trigger::Cron => &self.cron_kv,
        };
        let wasi = WasiCtx::builder()
            .inherit_stdout()
            .inherit_stderr()
            .envs(&component.environment)
            .wall_clock(self.clock.wasi_wall_clock())
            .build();
        let state = InstanceState {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                allowed: component.allowed_hosts.clone(),
                component: component.id.clone(),
                pooled: self.outbound.clone(),
                budget: self.outbound_budget.clone(),
            },
            kv: KvHost::new(kv.clone(), component.kv_stores.clone()),
            variables: VariablesHost { vars: component.variables.clone() },
        };
        let mut store = Store::new(self.engine, state);
        self.handler_limit.arm(&mut store);
        store
    }
}
