//! The daemon: one state store, one HTTP pool, and each configured agent
//! running on its own (see `agent`); the main loop reports to systemd, reloads
//! by diff (agents and behaviors), and on shutdown waits for in-flight
//! work within a bound.

pub mod agent;
pub mod behavior_tasks;
pub mod drafts;
pub mod ops;
pub mod poller;
pub mod providers;
pub mod supervisor;
pub mod task;
pub mod webhook;

pub use ops::{control, systemd, tls};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::ApiError;
use crate::config::{self, Problems};
use crate::setup::{self, AgentSpec, Loaded};
use crate::store::{Store, StoreError};
use agent::{AgentTask, Shared, Status};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Config(#[from] Problems),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("credentials: {0}")]
    Credentials(#[from] config::CredentialError),
    #[error("credentials: these credentials belong to @{actual}, not @{configured}")]
    WrongAgent { configured: String, actual: String },
    #[error("sandbox: registering @{handle}: {source}")]
    SandboxRegistration { handle: String, source: Arc<dyn std::error::Error + Send + Sync> },
    #[error("sandbox mode: the configuration says `sandbox: true`, but no emulator was given (`imagine-agent run` starts one)")]
    NoEmulator,
    #[error("webhook TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("{what} on {addr}: {source}")]
    Bind { what: &'static str, addr: String, source: std::io::Error },
    #[error("webhook secret {}: {source} (run `imagine-agent webhook set URL{}`{})", path.display(), agent.as_ref().map(|h| format!(" --agent {h}")).unwrap_or_default(), if agent.is_none() { " or set IMAGINEANYTHING_WEBHOOK_SECRET" } else { "" })]
    WebhookSecret { path: PathBuf, agent: Option<String>, source: std::io::Error },
    #[error("no agent could start: {0}")]
    NoneStarted(String),
    #[error("stopped before it was running")]
    Stopped,
    #[error("llm: {0}")]
    Llm(#[from] crate::llm::LlmError),
    #[error("shard: {0}")]
    Shard(String),
    #[error("console: {0}")]
    Console(String),
    #[error("draft_notices: {0}")]
    Notices(#[from] crate::behaviors::engine::notices::NoticeError),
}

/// The platform of sandbox mode. The binary starts the embedded emulator
/// (`imagine-agent run --sandbox`) and hands it to [`run`], which only asks it
/// where it listens, to register the configured agents, and to stop.
pub trait Emulator: Send + Sync {
    fn base_url(&self) -> String;
    /// The agent's credentials (id, secret), registering it first when it does not exist yet.
    fn register_agent(&self, new: &crate::wire::types::NewAgent) -> Result<(String, String), Arc<dyn std::error::Error + Send + Sync>>;
    /// Stops serving (and saves its state, when it keeps one).
    fn stop(&self) -> futures::future::BoxFuture<'_, ()>;
}

/// Overrides from the command line (and the clock, for tests).
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Sandbox mode: the emulator to run against instead of the platform.
    pub emulator: Option<Arc<dyn Emulator>>,
    pub dry_run: bool,
    pub clock: crate::clock::Clock,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("emulator", &self.emulator.as_ref().map(|e| e.base_url()))
            .field("dry_run", &self.dry_run)
            .field("clock", &self.clock)
            .finish()
    }
}

/// The file that says where the daemon's `name` listener (metrics, console, webhook) is
/// bound: with port 0 in the config, the system picks the port, and tools
/// (and tests) read it here instead of choosing one that may be taken.
pub fn addr_file(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(format!("{name}.addr"))
}

fn announce(state_dir: &Path, name: &str, bound: std::net::SocketAddr) {
    let tmp = state_dir.join(format!("{name}.addr.tmp"));
    let written =
        crate::private::write_private(&tmp, bound.to_string().as_bytes()).and_then(|_| std::fs::rename(&tmp, addr_file(state_dir, name)));
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not write where the {name} listener is bound ({bound})");
    }
}

/// Registers the agent in the emulator (or reuses its registration) and returns its credentials.
/// Registered in the world directly: over HTTP the emulator's per-address
/// registration limit (10 a minute, as the platform's) would make a config of
/// many agents wait minutes before starting. Sign-in and everything after go over HTTP.
fn sandbox_credentials(sb: &dyn Emulator, spec: &AgentSpec) -> agent::Credentials {
    let new = crate::wire::types::NewAgent {
        handle: spec.handle.clone().unwrap_or_else(|| "my_agent".into()),
        name: spec.name.clone().unwrap_or_else(|| "My AgentTask".into()),
        bio: spec.bio.clone(),
        agent_type: Some(crate::wire::types::AgentType::Assistant),
        ..Default::default()
    };
    match sb.register_agent(&new) {
        Ok((id, secret)) => agent::Credentials::Given(id, secret),
        Err(refusal) => {
            tracing::error!(agent = %agent::label(spec), error = %refusal, "cannot register in the sandbox");
            agent::Credentials::Refused { handle: new.handle, refusal }
        }
    }
}

/// The agents of the daemon, by reload key.
struct AgentTasks {
    running: BTreeMap<String, AgentTask>,
    shared: Arc<Shared>,
    root: CancellationToken,
}

impl AgentTasks {
    fn add(&mut self, spec: AgentSpec, sandbox: Option<&dyn Emulator>) {
        let credentials = match sandbox {
            Some(sb) => sandbox_credentials(sb, &spec),
            None => agent::Credentials::FromConfig,
        };
        let key = spec.key().to_string();
        self.running.insert(key, AgentTask::spawn(spec, credentials, self.shared.clone(), &self.root));
    }

    /// Applies a reloaded configuration: agents added, removed, changed or
    /// failed are started or stopped; the others only get their new behavior set.
    async fn apply(&mut self, specs: Vec<AgentSpec>, sandbox: Option<&dyn Emulator>) {
        let mut wanted: BTreeMap<String, AgentSpec> = specs.into_iter().map(|s| (s.key().to_string(), s)).collect();
        let keys: Vec<String> = self.running.keys().cloned().collect();
        for key in keys {
            match wanted.remove(&key) {
                // A failed agent starts over at once: the reload may be the fix (a corrected secret file).
                Some(spec)
                    if self.running.get(&key).is_some_and(|a| a.spec.same_agent(&spec) && !matches!(a.status(), Status::Failed(_))) =>
                {
                    if let Some(a) = self.running.get_mut(&key) {
                        a.reload(spec);
                    }
                }
                other => {
                    if let Some(a) = self.running.remove(&key) {
                        tracing::info!(agent = %agent::label(&a.spec), "agent stopping (removed or changed)");
                        a.stop().await;
                    }
                    if let Some(spec) = other {
                        wanted.insert(key, spec);
                    }
                }
            }
        }
        for spec in wanted.into_values() {
            tracing::info!(agent = %agent::label(&spec), "agent starting");
            self.add(spec, sandbox);
        }
    }

    /// Waits until every agent is running or has failed; after `patience`,
    /// one running agent is enough (another may be waiting out a platform
    /// outage); after `limit`, none is needed (a reload must not stall the main loop).
    async fn settled(&self, stop: &CancellationToken, patience: Duration, limit: Option<Duration>) {
        let start = Instant::now();
        // Many agents start for a while: the log says how far (a line every few seconds).
        let mut progress = crate::progress::Progress::new("agents started", Some(self.running.len() as u64));
        loop {
            let statuses: Vec<Status> = self.running.values().map(AgentTask::status).collect();
            let starting = statuses.iter().filter(|s| **s == Status::Starting).count();
            let started = (statuses.len() - starting) as u64;
            progress.add(started.saturating_sub(progress.done()));
            let up = statuses.iter().any(|s| matches!(s, Status::Running { .. }));
            let waited = start.elapsed();
            if starting == 0 || (up && waited > patience) || limit.is_some_and(|l| waited > l) || stop.is_cancelled() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// For `systemctl status`.
    fn describe(&self) -> String {
        let statuses: Vec<(String, Status)> = self.running.values().map(|a| (agent::label(&a.spec), a.status())).collect();
        let behaviors: usize = statuses.iter().map(|(_, s)| if let Status::Running { behaviors, .. } = s { *behaviors } else { 0 }).sum();
        let dry = if self.shared.dry_run { " (dry run)" } else { "" };
        if let [(_, Status::Running { handle, behaviors })] = statuses.as_slice() {
            return format!("running {behaviors} behaviors as @{handle}{dry}");
        }
        let up = statuses.iter().filter(|(_, s)| matches!(s, Status::Running { .. })).count();
        let mut text = format!("{up} of {} agents running, {behaviors} behaviors{dry}", statuses.len());
        if let Some((label, Status::Failed(why))) = statuses.iter().find(|(_, s)| matches!(s, Status::Failed(_))) {
            text.push_str(&format!("; @{label} failed: {why}"));
        }
        text
    }

    /// Every agent's failure, when none is running.
    fn all_failed(&self) -> Option<String> {
        let failures: Vec<String> = self
            .running
            .values()
            .map(|a| match a.status() {
                Status::Failed(why) if self.running.len() == 1 => Some(why),
                Status::Failed(why) => Some(format!("@{}: {why}", agent::label(&a.spec))),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(failures.join("; "))
    }

    async fn stop_all(&mut self) {
        futures::future::join_all(std::mem::take(&mut self.running).into_values().map(AgentTask::stop)).await;
    }
}

/// Runs the daemon until `stop` is cancelled; a message on `reload` re-reads the configuration.
pub async fn run(loaded: Loaded, opts: RunOptions, stop: CancellationToken, mut reload: mpsc::Receiver<()>) -> Result<(), RuntimeError> {
    let cfg = loaded.config.clone();
    let state_dir = loaded.state_dir();
    let private = |e: std::io::Error| StoreError::Open { path: state_dir.clone(), source: e.into() };
    crate::private::private_dir(&state_dir).map_err(private)?;
    let store = Store::open(&state_dir.join("sled"))?;
    // sled created its files under this process's umask: make them private too.
    crate::private::private_dir(&state_dir).map_err(private)?;
    // Where this run's listeners are bound is written once each is (see `addr_file`).
    for name in ["metrics", "console", "webhook"] {
        let _ = std::fs::remove_file(addr_file(&state_dir, name));
    }
    let sandbox = opts.emulator.clone();
    let sandbox_mode = sandbox.is_some();
    if cfg.sandbox && !sandbox_mode {
        return Err(RuntimeError::NoEmulator);
    }
    let base_url = sandbox.as_ref().map(|s| s.base_url()).unwrap_or_else(|| cfg.base_url.clone());
    let mut profiles = cfg.llm.clone();
    if sandbox_mode && !profiles.contains_key("default") {
        profiles.insert("default".into(), crate::llm::ProfileConfig::sandbox(&base_url));
    }
    // The providers' keys are secrets the guardrails keep out of published text too.
    let secrets = Arc::new(crate::llm::guard::Secrets::new(cfg.providers.values().filter_map(|k| k.read().ok()).collect()));
    let llm = if profiles.is_empty() {
        None
    } else {
        Some(Arc::new(crate::llm::Llm::new(&profiles, secrets.clone())?.with_ledger(store.clone())))
    };
    let root = stop.child_token();
    let single = cfg.agents.is_empty();
    let webhook = match &cfg.webhook {
        Some(w) => {
            let tls = match &w.tls {
                Some(t) => Some(tls::acceptor(&t.cert, &t.key)?),
                None => None,
            };
            let (receivers, bound) = webhook::serve(w.listen, &w.path, w.max_age, single, tls, root.clone())
                .await
                .map_err(|source| RuntimeError::Bind { what: "webhook receiver", addr: w.listen.to_string(), source })?;
            announce(&state_dir, "webhook", bound);
            Some(agent::Push { receivers, options: w.clone(), state_dir: state_dir.clone(), single })
        }
        None => None,
    };
    let observed = Arc::new(ops::metrics_server::Observed::default());
    let http = crate::api::session::http_client(Duration::from_secs(30))?;
    let notices = match &cfg.draft_notices {
        Some(n) => Some(Arc::new(crate::behaviors::engine::notices::Notifier::from_file(&n.url_file, n.format, http.clone())?)),
        None => None,
    };
    let shared = Arc::new(Shared {
        base_url,
        http,
        notices,
        store: store.clone(),
        llm,
        clock: opts.clock.clone(),
        dry_run: opts.dry_run,
        sandbox: sandbox_mode,
        poll_interval: cfg.poll_interval,
        mark_read: cfg.mark_notifications_read,
        grace: cfg.shutdown_grace,
        stagger: loaded.agents.len() > 1,
        observed: observed.clone(),
        webhook,
        sign_ins: tokio::sync::Semaphore::new(SIGN_INS_AT_ONCE),
        providers: cfg.providers.clone(),
        secrets,
    });
    let mut agents = AgentTasks { running: BTreeMap::new(), shared, root: root.clone() };
    for spec in loaded.this_shards_agents().map_err(RuntimeError::Shard)? {
        agents.add(spec, sandbox.as_deref());
    }
    if let Some(addr) = cfg.metrics_addr {
        let bound = ops::metrics_server::serve(addr, observed.clone(), root.clone()).await.map_err(|source| RuntimeError::Bind {
            what: "metrics server",
            addr: addr.to_string(),
            source,
        })?;
        announce(&state_dir, "metrics", bound);
    }
    if let Some(addr) = cfg.console_addr {
        let token = match &cfg.console_token_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .map_err(|source| RuntimeError::Console(format!("console_token_file {}: {source}", f.display())))?
                    .trim()
                    .to_string(),
            ),
            None if !addr.ip().is_loopback() => {
                return Err(RuntimeError::Console(format!(
                    "console_addr {addr} is reachable from other machines: set console_token_file (a file holding a long random token)"
                )))
            }
            None => None,
        };
        let bound = ops::console::serve(addr, store.clone(), observed.clone(), token, root.clone())
            .await
            .map_err(|source| RuntimeError::Bind { what: "console", addr: addr.to_string(), source })?;
        announce(&state_dir, "console", bound);
    }
    if let Err(e) = control::serve(&state_dir, store.clone(), root.clone()) {
        tracing::warn!(error = %e, "no control socket: `imagine-agent state` cannot read this daemon's state while it runs");
    }
    agents.settled(&stop, Duration::from_secs(30), None).await;
    if let Some(why) = agents.all_failed() {
        agents.stop_all().await;
        if let Some(sb) = &sandbox {
            sb.stop().await;
        }
        return Err(RuntimeError::NoneStarted(why));
    }
    systemd::ready(&agents.describe());
    // WATCHDOG=1 only when systemd asked for it: notify sends block once an unread socket queue is full.
    let watchdog = systemd::watchdog_interval();
    let mut beat = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(5)));
    let mut status_every = tokio::time::interval(Duration::from_secs(30));
    let config_path: PathBuf = loaded.path.clone();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = beat.tick() => {
                observed.heartbeat.store(crate::store::now_ms(), std::sync::atomic::Ordering::Relaxed);
                if watchdog.is_some() {
                    systemd::watchdog();
                }
            }
            _ = status_every.tick() => {
                let waiting: usize = observed.agents().iter().map(|i| i.store.inbox_len()).sum();
                systemd::status(&format!("{}; {waiting} events waiting", agents.describe()));
            }
            Some(()) = reload.recv() => {
                tracing::info!(config = %config_path.display(), "reloading");
                systemd::reloading();
                match setup::load(&config_path) {
                    Ok(new) => {
                        if new.config.threads != cfg.threads {
                            tracing::warn!(running = cfg.threads, configured = new.config.threads, "threads takes effect at the next start");
                        }
                        let mine = match new.this_shards_agents() {
                            Ok(m) => m,
                            Err(why) => {
                                tracing::error!(reason = %why, "reload rejected; the running agents and behaviors stay as they are");
                                continue;
                            }
                        };
                        agents.apply(mine, sandbox.as_deref()).await;
                        agents.settled(&stop, Duration::from_secs(5), Some(Duration::from_secs(10))).await;
                        tracing::info!(status = %agents.describe(), "reloaded");
                        systemd::ready(&agents.describe());
                    }
                    Err(p) => {
                        tracing::error!(problems = %p, "reload rejected; the running agents and behaviors stay as they are");
                        systemd::ready(&format!("{}; last reload rejected: {} problem(s)", agents.describe(), p.0.len()));
                    }
                }
            }
        }
    }
    tracing::info!("stopping");
    systemd::stopping();
    agents.stop_all().await;
    root.cancel();
    store.flush().await?;
    if let Some(sb) = &sandbox {
        sb.stop().await;
    }
    tracing::info!("stopped; state flushed");
    Ok(())
}

/// Sign-ins in flight at once (a daemon of many agents starts them in waves).
const SIGN_INS_AT_ONCE: usize = 8;

/// Where `imagine-agent webhook set` keeps the secret (mode 0600, outside sled):
/// one file per agent under `agents:` (`handle`), one for the single-agent form.
pub fn webhook_secret_path(state_dir: &Path, handle: Option<&str>) -> PathBuf {
    match handle {
        Some(h) => state_dir.join(format!("webhook-secret.{}", h.to_lowercase())),
        None => state_dir.join("webhook-secret"),
    }
}

/// The webhook secret. Single-agent form: `$IMAGINEANYTHING_WEBHOOK_SECRET`, else
/// `secret_file`, else the one `webhook set` stored; under `agents:`, the stored one of `handle`.
fn webhook_secret(w: &config::WebhookOptions, state_dir: &Path, handle: Option<&str>) -> Result<secrecy::SecretString, RuntimeError> {
    if handle.is_none() {
        if let Ok(s) = std::env::var("IMAGINEANYTHING_WEBHOOK_SECRET") {
            return Ok(s.into());
        }
    }
    let stored = webhook_secret_path(state_dir, handle);
    let file = if handle.is_none() { w.secret_file.clone().unwrap_or(stored) } else { stored };
    std::fs::read_to_string(&file)
        .map(|s| secrecy::SecretString::from(s.trim().to_string()))
        .map_err(|source| RuntimeError::WebhookSecret { path: file, agent: handle.map(str::to_string), source })
}
