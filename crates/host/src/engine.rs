//! One wasmtime `Engine` per process and a cache of compiled components.
//!
//! Tests start many hosts in one process; compiling a component with Cranelift
//! takes seconds in a debug build, so each file is compiled once and reused
//! until its modification time changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

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
    // `async` feature every engine supports them.
    let engine = Engine::new(&Config::new()).map_err(|e| anyhow!("creating engine: {e:?}"))?;
    Ok(ENGINE.get_or_init(|| engine))
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
