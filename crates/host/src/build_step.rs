//! `--build`: run each component's `[component.x.build]` commands, as
//! `spin build` does, before serving.

use std::path::Path;

use anyhow::{bail, Context as _};

use crate::manifest::Manifest;

/// Runs every component's build commands (through `sh -c`, in the manifest
/// directory or the component's `workdir`), stopping at the first failure.
pub async fn build_components(manifest: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest)?;
    for (id, component) in &manifest.components {
        let Some(build) = &component.build else {
            continue;
        };
        let dir = match &build.workdir {
            Some(w) => manifest.dir.join(w),
            None => manifest.dir.clone(),
        };
        for command in &build.commands {
            eprintln!("hookah-host: building {id}: {command}");
            let status = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(&dir)
                .status()
                .await
                .with_context(|| format!("running build command for {id:?}"))?;
            if !status.success() {
                bail!("build command for component {id:?} failed ({status}): {command}");
            }
        }
    }
    Ok(())
}
