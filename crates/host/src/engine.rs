//! One wasmtime `Engine` per process and a cache of compiled components.
//!
//! Tests start many hosts in one process; compiling a component with Cranelift
//! takes seconds in a debug build, so each file is compiled once and reused
//! until its modification time changes.
//!
//! Instances come from wasmtime's pooling allocator, as in Spin (with room for
//! 4,000 live instances where Spin has 1,000), keeping a reused slot's first
//! 2 MiB of memory resident as Spin does.
//!
//! As in Spin, compiled code checks wasmtime's epoch, which a thread of the
//! engine's own moves on every 10 ms: the handler time limit uses it to stop a
//! guest that computes without awaiting (`limits/deadline.rs`). Every store
//! must therefore get an epoch deadline (`HandlerLimit::arm`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context as _};
use tokio::sync::Mutex;
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The process-wide engine; every host and every component shares it.
pub(crate) fn engine() -> anyhow::Result<&'static Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(e) = ENGINE.get() {
        return Ok(e);
    }
    // Async host functions need no extra setting in wasmtime 48: with the
    // `async` feature every engine supports them. Like Spin, instances come
    // from a pool of reused slots: a fresh instance per request then costs no
    // mmap/munmap of its memories and tables. Where the pool cannot be
    // reserved (little virtual memory), instances are allocated on demand.
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.allocation_strategy(pooling());
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("hookah-host: no instance pool ({e}); allocating instances on demand");
            let mut config = Config::new();
            config.epoch_interruption(true);
            Engine::new(&config).map_err(|e| anyhow!("creating engine: {e:?}"))?
        }
    };
    Ok(ENGINE.get_or_init(|| {
        let ticked = engine.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            ticked.increment_epoch();
        });
        engine
    }))
}

/// Spin's epoch tick.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Spin's pooling settings (spin-core 3/4), with room for 4,000 live instances rather than
/// Spin's 1,000: the benchmark keeps up to 1,024 requests open, and each accepting invocation
/// lives on after its answer for the first attempt, so an overloaded run would otherwise see
/// instantiation failures (500s) instead of queueing.
fn pooling() -> wasmtime::InstanceAllocationStrategy {
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(4_000)
        // One async stack per live instance: the default (1,000) would cap them first.
        .total_stacks(4_000)
        .total_core_instances(20_000)
        .total_memories(4_000)
        .total_tables(8_000)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .max_core_instances_per_component(200)
        .max_memories_per_component(10)
        .max_tables_per_component(20)
        .table_elements(100_000)
        .max_memory_size(128 << 20)
        // As Spin: a reused slot's first pages are zeroed in place rather than given back to
        // the kernel, which spares an madvise (and the TLB flush on every core) per instance.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(1 << 19);
    wasmtime::InstanceAllocationStrategy::Pooling(pool)
}

type Cache = HashMap<PathBuf, (SystemTime, Component)>;

/// Loads a component, compiling it only if this file at this mtime is new.
pub(crate) async fn load_component(path: &Path) -> anyhow::Result<Component> {
    // Held across the compile so two hosts starting together compile once.
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));

    let path = std::fs::canonicalize(path)
        .with_context(|| format!("component file {} not found (build it first, e.g. with --build)", path.display()))?;
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading metadata of {}", path.display()))?;

    let mut cache = cache.lock().await;
    if let Some((cached_mtime, component)) = cache.get(&path) {
        if *cached_mtime == mtime {
            return Ok(component.clone());
        }
    }
    let engine = engine()?;
    let compile_path = path.clone();
    let component = tokio::task::spawn_blocking(move || {
        Component::from_file(engine, &compile_path)
            .map_err(|e| anyhow!("{e:?}"))
            .with_context(|| format!("compiling component {}", compile_path.display()))
    })
    .await
    .context("compile task failed")??;
    cache.insert(path, (mtime, component.clone()));
    Ok(component)
}
