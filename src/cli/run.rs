//! `run`: the daemon, until SIGTERM or SIGINT (SIGHUP reloads).

use std::path::PathBuf;

use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{init_logging, signals};
use crate::config::{self, LogFormat};
use crate::runtime::{self, Emulator, RunOptions};
use crate::sandbox::{self, SandboxConfig, SandboxHandle};
use crate::setup;

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
pub async fn run(a: RunArgs, loaded: Option<Result<setup::Loaded, config::Problems>>, json_logs: bool) -> Result<()> {
    let loaded = match loaded.unwrap_or_else(|| setup::load(&a.config)) {
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
    let emulator = match a.sandbox || loaded.config.sandbox {
        true => Some(start_embedded(&loaded).await? as Arc<dyn Emulator>),
        false => None,
    };
    runtime::run(loaded, RunOptions { emulator, dry_run: a.dry_run, ..RunOptions::default() }, stop, rx).await?;
    Ok(())
}

/// The emulator of sandbox mode, in this process, its world kept under the state directory.
struct Embedded {
    base_url: String,
    handle: Mutex<Option<SandboxHandle>>,
}

/// Starts the in-process emulator.
async fn start_embedded(loaded: &setup::Loaded) -> Result<Arc<Embedded>> {
    let o = &loaded.config.sandbox_options;
    let state_dir = loaded.state_dir();
    crate::private::private_dir(&state_dir).with_context(|| format!("state directory {}", state_dir.display()))?;
    let cfg = SandboxConfig {
        addr: o.addr.parse().with_context(|| format!("sandbox: addr {:?}", o.addr))?,
        community: o.community,
        seed: o.seed,
        community_interval: o.community_interval,
        generation_duration: o.generation_duration,
        state_dir: Some(state_dir.join("sandbox")),
        // The daemon's own receiver listens on this machine.
        allow_private_webhooks: true,
        ..SandboxConfig::default()
    };
    let sb = sandbox::start(cfg).await.context("sandbox")?;
    tracing::info!(url = %sb.base_url(), community = o.community, "SANDBOX MODE: running against the built-in emulator, not the real platform");
    Ok(Arc::new(Embedded { base_url: sb.base_url(), handle: Mutex::new(Some(sb)) }))
}

impl Emulator for Embedded {
    fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn register_agent(&self, new: &crate::wire::types::NewAgent) -> Result<(String, String), Arc<dyn std::error::Error + Send + Sync>> {
        let guard = crate::sync::lock(&self.handle);
        let sb =
            guard.as_ref().ok_or_else(|| Arc::new(sandbox::world::Refusal(503, "stopped", "the sandbox has stopped".into())) as Arc<_>)?;
        sb.register_agent(new).map_err(|r| Arc::new(r) as Arc<_>)
    }

    fn stop(&self) -> futures::future::BoxFuture<'_, ()> {
        let sb = crate::sync::lock(&self.handle).take();
        Box::pin(async move {
            if let Some(sb) = sb {
                sb.stop().await;
            }
        })
    }
}
