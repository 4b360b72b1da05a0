//! `run`: the daemon, until SIGTERM or SIGINT (SIGHUP reloads).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{init_logging, signals};
use crate::config::{self, LogFormat};
use crate::runtime::{self, RunOptions};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(long, short, default_value = "config.yaml")]
    pub config: PathBuf,
    /// Start the built-in emulator and run against it (no account, no network).
    #[arg(long)]
    pub sandbox: bool,
    /// Read and decide, but only log the writes ("would post / reply / follow").
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the daemon on `loaded` (read before the async runtime started, to size it) or on the file.
pub async fn run(a: RunArgs, loaded: Option<Result<config::Loaded, config::Problems>>, json_logs: bool) -> Result<()> {
    let loaded = match loaded.unwrap_or_else(|| config::load(&a.config)) {
        Ok(l) => l,
        Err(p) => {
            init_logging(json_logs);
            for pr in &p.0 {
                eprintln!("{pr}");
            }
            bail!("{} problem(s) in the configuration; nothing started", p.0.len());
        }
    };
    init_logging(json_logs || loaded.config.log_format == LogFormat::Json);
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    signals(stop.clone(), tx)?;
    runtime::run(loaded, RunOptions { sandbox: a.sandbox, dry_run: a.dry_run, ..RunOptions::default() }, stop, rx).await?;
    Ok(())
}
