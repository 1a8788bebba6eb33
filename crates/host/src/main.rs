//! `hookah-host up`: serve a Spin manifest locally.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use hookah_host::{build_components, HostConfig, RunningHost};

const USAGE: &str = "\
usage: hookah-host up [options]

Runs the components of a Spin manifest (v2) the way `spin up` would.

options:
  --manifest PATH          spin.toml to run (default: spin.toml)
  --listen ADDR            address to listen on (default: 127.0.0.1:3000; port 0 = any)
  --kv-path PATH           SQLite key-value file (default: .spin/sqlite_key_value.db
                           next to the manifest)
  --runtime-config-file PATH
                           Spin runtime config; its [key_value_store.default] is
                           type \"spin\" (path) or \"redis\" (url); its [limits] table
                           (this host's own; real Spin refuses it) sets limits
                           instead of --limits: profile = \"NAME\" and fields on top
                           (max_key_bytes, max_value_bytes, max_keys,
                           handler_timeout_secs, outbound_requests_per_hour)
  --limits NAME            enforce a managed host's limits; NAME: fermyon-cloud
                           (keys <= 255 bytes, values <= 1 MiB, 1,024 keys, handlers
                           killed after 30 s, 500 outbound requests an hour)
  --build                  run each component's build command first, like `spin build`
  --no-cron                do not run [[trigger.cron]] schedules
  --variable NAME=VALUE    set an application variable (repeatable)
  --clock-offset-secs N    test infrastructure: guests' wall clock runs N seconds ahead

Prints `Serving http://ADDR` on stdout once listening.";

struct Args {
    config: HostConfig,
    build: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    match args.next().as_deref() {
        Some("up") => {}
        Some("-h" | "--help") | None => bail!("{USAGE}"),
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
    let mut config = HostConfig::new("spin.toml");
    config.listen = "127.0.0.1:3000".parse()?;
    let mut build = false;
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--manifest" => config.manifest = PathBuf::from(value()?),
            "--listen" => {
                let v = value()?;
                config.listen = v.parse().with_context(|| format!("invalid --listen {v:?}"))?;
            }
            "--kv-path" => config.kv_path = Some(PathBuf::from(value()?)),
            "--runtime-config-file" => config.runtime_config_file = Some(PathBuf::from(value()?)),
            "--limits" => config.limits = hookah_host::Limits::profile(&value()?)?,
            "--build" => build = true,
            "--no-cron" => config.enable_cron = false,
            "--variable" => {
                let v = value()?;
                let (name, val) = v.split_once('=').with_context(|| format!("--variable {v:?} is not NAME=VALUE"))?;
                config.variables.insert(name.to_string(), val.to_string());
            }
            "--clock-offset-secs" => {
                let v = value()?;
                let secs: u64 = v.parse().with_context(|| format!("invalid --clock-offset-secs {v:?}"))?;
                config.clock.set_offset(Duration::from_secs(secs));
            }
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown option {other:?}\n\n{USAGE}"),
        }
    }
    Ok(Args { config, build })
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.build {
        build_components(&args.config.manifest).await?;
    }
    let host = RunningHost::start(args.config).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "Serving http://{}", host.addr())?;
    stdout.flush()?;
    wait_for_signal().await?;
    host.shutdown().await
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hookah-host: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookah-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}
