//! The daemon: one identity's session and store, its notification poller and
//! its behaviors, each a supervised task; reload rebuilds only what changed;
//! shutdown cancels everything and waits for in-flight work within a bound.

pub mod clock;
pub mod context;
pub mod http;
pub mod metrics;
pub mod poller;
pub mod supervisor;
pub mod systemd;
pub mod webhook;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, Session, SessionConfig};
use crate::behaviors::LoadedBehavior;
use crate::config::{self, Loaded, Problems};
use crate::sandbox::{self, SandboxConfig, SandboxHandle};
use crate::store::{Store, StoreError};
use context::{Ctx, Identity};
use metrics::Metrics;
use poller::{Route, Routes};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Config(#[from] Problems),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("{0}")]
    Startup(String),
    #[error("llm: {0}")]
    Llm(#[from] crate::llm::LlmError),
}

/// Overrides from the command line (and the clock, for tests).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub sandbox: bool,
    pub dry_run: bool,
    pub clock: clock::Clock,
}

/// Client credentials from the environment or the configured file.
pub fn credentials(cfg: &config::Config) -> Result<(String, String), RuntimeError> {
    let mut id = std::env::var("IMAGINEANYTHING_CLIENT_ID").ok();
    let mut secret = std::env::var("IMAGINEANYTHING_CLIENT_SECRET").ok();
    if let Some(f) = &cfg.agent.credentials_file {
        if id.is_none() || secret.is_none() {
            let text = std::fs::read_to_string(f).map_err(|e| RuntimeError::Credentials(format!("{}: {e}", f.display())))?;
            for line in text.lines() {
                let line = line.trim().trim_start_matches("export ");
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
                match k.trim() {
                    "IMAGINEANYTHING_CLIENT_ID" if id.is_none() => id = Some(v),
                    "IMAGINEANYTHING_CLIENT_SECRET" if secret.is_none() => secret = Some(v),
                    _ => {}
                }
            }
        }
    }
    match (id, secret) {
        (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => Ok((i, s)),
        _ => Err(RuntimeError::Credentials(
            "set IMAGINEANYTHING_CLIENT_ID and IMAGINEANYTHING_CLIENT_SECRET (or agent.credentials_file), or run with --sandbox".into(),
        )),
    }
}

/// Starts the in-process emulator and registers (or reuses) the agent there.
async fn start_sandbox(loaded: &Loaded, state_dir: &Path) -> Result<(SandboxHandle, String, String), RuntimeError> {
    let o = &loaded.config.sandbox_options;
    let cfg = SandboxConfig {
        addr: o.addr.parse().map_err(|e| RuntimeError::Sandbox(format!("addr: {e}")))?,
        community: o.community,
        seed: o.seed,
        community_interval: o.community_interval,
        generation_duration: o.generation_duration,
        state_dir: Some(state_dir.join("sandbox")),
        ..SandboxConfig::default()
    };
    let sb = sandbox::start(cfg).await.map_err(|e| RuntimeError::Sandbox(e.to_string()))?;
    let handle = loaded.config.agent.handle.clone().unwrap_or_else(|| "my_agent".into());
    let existing = sb.app.world().agent_by_handle(&handle).ok().map(|a| (a.client_id.clone(), a.client_secret.clone()));
    let (id, secret) = match existing {
        Some(c) => c,
        None => {
            // Registration goes through the real HTTP path, as a user's would.
            let anon = Session::anonymous(&sb.base_url())?;
            let reg = anon
                .register(&crate::api::types::NewAgent {
                    handle: handle.clone(),
                    name: loaded.config.agent.name.clone().unwrap_or_else(|| "My Agent".into()),
                    bio: loaded.config.agent.bio.clone(),
                    agent_type: Some(crate::api::types::AgentType::Assistant),
                    ..Default::default()
                })
                .await?;
            (reg.client_id, reg.client_secret)
        }
    };
    tracing::info!(url = %sb.base_url(), handle = %handle, community = o.community, "SANDBOX MODE: running against the built-in emulator, not the real platform");
    Ok((sb, id, secret))
}

/// The behaviors of one identity, each with its own cancel token.
struct Topology {
    identity: Arc<Identity>,
    root: CancellationToken,
    routes: Routes,
    running: BTreeMap<String, (LoadedBehavior, CancellationToken, JoinHandle<()>)>,
}

impl Topology {
    fn spawn(&mut self, lb: LoadedBehavior) {
        let name = lb.behavior.name().to_string();
        let cancel = self.root.child_token();
        let wake = Arc::new(Notify::new());
        let ctx = Ctx { identity: self.identity.clone(), behavior: name.clone(), cancel: cancel.clone(), wake: wake.clone() };
        let kinds = lb.behavior.interests();
        if !kinds.is_empty() {
            if let Ok(mut r) = self.routes.write() {
                r.push(Route { behavior: name.clone(), kinds, wake: wake.clone() });
            }
            wake.notify_one();
        }
        let span = tracing::info_span!("behavior", identity = %self.identity.handle, behavior = %name, kind = lb.behavior.kind());
        let b = Arc::new(lb.behavior.clone());
        let metrics = self.identity.metrics.clone();
        let n2 = name.clone();
        let task = tokio::spawn(supervisor::supervise(
            name.clone(),
            cancel.clone(),
            span,
            move || metrics.restart(&n2),
            move || {
                let (b, ctx) = (b.clone(), ctx.clone());
                async move { b.run(&ctx).await }
            },
        ));
        tracing::info!(identity = %self.identity.handle, behavior = %name, kind = lb.behavior.kind(), "behavior started");
        self.running.insert(name, (lb, cancel, task));
    }

    async fn stop(&mut self, name: &str, grace: Duration) {
        if let Some((_, cancel, task)) = self.running.remove(name) {
            cancel.cancel();
            if let Ok(mut r) = self.routes.write() {
                r.retain(|x| x.behavior != name);
            }
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                tracing::warn!(behavior = %name, "did not stop within {:?}; aborted", grace);
                abort.abort();
            }
            tracing::info!(behavior = %name, "behavior stopped");
        }
    }

    /// Starts, stops or restarts only the behaviors that changed.
    async fn apply(&mut self, wanted: Vec<LoadedBehavior>, grace: Duration) {
        let wanted: BTreeMap<String, LoadedBehavior> =
            wanted.into_iter().filter(|b| b.behavior.enabled()).map(|b| (b.behavior.name().to_string(), b)).collect();
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            let keep = wanted.get(&name).is_some_and(|w| self.running.get(&name).is_some_and(|(r, _, _)| r.behavior == w.behavior));
            if !keep {
                self.stop(&name, grace).await;
            }
        }
        for (name, lb) in wanted {
            if !self.running.contains_key(&name) {
                self.spawn(lb);
            }
        }
    }
}

/// Runs the daemon until `stop` is cancelled; a message on `reload` re-reads the configuration.
pub async fn run(loaded: Loaded, opts: RunOptions, stop: CancellationToken, mut reload: mpsc::Receiver<()>) -> Result<(), RuntimeError> {
    let cfg = loaded.config.clone();
    let state_dir = loaded.state_dir();
    std::fs::create_dir_all(&state_dir).map_err(|e| StoreError::Open { path: state_dir.clone(), source: e.into() })?;
    let store = Store::open(&state_dir.join("sled"))?;
    let sandbox_mode = opts.sandbox || cfg.sandbox;
    let (sandbox, base_url, id, secret) = if sandbox_mode {
        let (sb, id, secret) = start_sandbox(&loaded, &state_dir).await?;
        let url = sb.base_url();
        (Some(sb), url, id, secret)
    } else {
        let (id, secret) = credentials(&cfg)?;
        (None, cfg.base_url.clone(), id, secret)
    };
    let client_secret = secrecy::SecretString::from(secret.clone());
    let session = Session::new(SessionConfig::new(&base_url).credentials(id, secret).budgets(cfg.rate_limits))?;
    let me = first_contact(&session, &stop).await?;
    tracing::info!(handle = %me.handle, id = %me.id, base_url = %base_url, dry_run = opts.dry_run || cfg.dry_run, "authenticated");
    if sandbox_mode {
        ensure_sandbox_provider(&session).await;
    }
    let mut profiles = cfg.llm.clone();
    if sandbox_mode && !profiles.contains_key("default") {
        profiles.insert("default".into(), crate::llm::ProfileConfig::sandbox(&base_url));
    }
    let llm = if profiles.is_empty() { None } else { Some(Arc::new(crate::llm::Llm::new(&profiles, vec![client_secret])?)) };
    let identity = Arc::new(Identity {
        handle: me.handle.clone(),
        agent_id: me.id.clone(),
        session,
        store: store.identity(&me.handle)?,
        dry_run: opts.dry_run || cfg.dry_run,
        poll_interval: cfg.poll_interval,
        metrics: Arc::new(Metrics::new(&me.handle)),
        llm,
        persona: serde_json::json!({"name": me.name, "bio": me.bio.clone().unwrap_or_default(), "handle": me.handle}),
        handover: tokio::sync::Mutex::new(()),
        clock: opts.clock.clone(),
    });
    let root = stop.child_token();
    let routes: Routes = Arc::new(RwLock::new(vec![]));
    let mut topo = Topology { identity: identity.clone(), root: root.clone(), routes: routes.clone(), running: BTreeMap::new() };
    topo.apply(loaded.behaviors.clone(), cfg.shutdown_grace).await;

    let poll_ctx =
        Ctx { identity: identity.clone(), behavior: "notification-poller".into(), cancel: root.clone(), wake: Arc::new(Notify::new()) };
    let span = tracing::info_span!("poller", identity = %identity.handle);
    let (r2, mark) = (routes.clone(), cfg.mark_notifications_read);
    let m = identity.metrics.clone();
    let poller = tokio::spawn(supervisor::supervise(
        "notification-poller".into(),
        root.clone(),
        span,
        move || m.restart("notification-poller"),
        move || poller::run(poll_ctx.clone(), r2.clone(), mark),
    ));
    tracing::info!(behaviors = topo.running.len(), "running");

    if let Some(w) = &cfg.webhook {
        let secret = webhook_secret(w, &state_dir)?;
        webhook::serve(w.listen, &w.path, identity.clone(), routes.clone(), secret, w.max_age, root.clone())
            .await
            .map_err(|e| RuntimeError::Startup(format!("webhook receiver on {}: {e}", w.listen)))?;
    }
    let observed = Arc::new(http::Observed {
        identities: vec![identity.clone()],
        heartbeat: std::sync::atomic::AtomicI64::new(crate::store::now_ms()),
    });
    if let Some(addr) = cfg.metrics_addr {
        http::serve(addr, observed.clone(), root.clone())
            .await
            .map_err(|e| RuntimeError::Startup(format!("metrics server on {addr}: {e}")))?;
    }
    let describe = |n: usize| format!("running {n} behaviors as @{}{}", identity.handle, if identity.dry_run { " (dry run)" } else { "" });
    systemd::ready(&describe(topo.running.len()));
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
                let waiting = identity.store.inbox_len();
                systemd::status(&format!("{}; {waiting} events waiting", describe(topo.running.len())));
            }
            Some(()) = reload.recv() => {
                tracing::info!(config = %config_path.display(), "reloading");
                systemd::reloading();
                match config::load(&config_path) {
                    Ok(new) => {
                        topo.apply(new.behaviors, cfg.shutdown_grace).await;
                        tracing::info!(behaviors = topo.running.len(), "reloaded");
                        systemd::ready(&describe(topo.running.len()));
                    }
                    Err(p) => {
                        tracing::error!(problems = %p, "reload rejected; the running behaviors stay as they are");
                        systemd::ready(&format!("{}; last reload rejected: {} problem(s)", describe(topo.running.len()), p.0.len()));
                    }
                }
            }
        }
    }
    tracing::info!("stopping");
    systemd::stopping();
    root.cancel();
    let mut tasks: Vec<JoinHandle<()>> = std::mem::take(&mut topo.running).into_values().map(|(_, _, t)| t).collect();
    tasks.push(poller);
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    if tokio::time::timeout(cfg.shutdown_grace, futures::future::join_all(tasks)).await.is_err() {
        tracing::warn!("in-flight work did not finish within {:?}; aborting it (its intents stay recorded)", cfg.shutdown_grace);
        aborts.iter().for_each(|a| a.abort());
    }
    store.flush().await?;
    if let Some(sb) = sandbox {
        sb.stop().await;
    }
    tracing::info!("stopped; state flushed");
    Ok(())
}

/// Where `imagine-agent webhook set` keeps the secret (mode 0600, outside sled).
pub fn webhook_secret_path(state_dir: &Path) -> PathBuf {
    state_dir.join("webhook-secret")
}

/// The webhook secret: `$IMAGINEANYTHING_WEBHOOK_SECRET`, else `secret_file`, else the one `webhook set` stored.
fn webhook_secret(w: &config::WebhookOptions, state_dir: &Path) -> Result<secrecy::SecretString, RuntimeError> {
    if let Ok(s) = std::env::var("IMAGINEANYTHING_WEBHOOK_SECRET") {
        return Ok(s.into());
    }
    let file = w.secret_file.clone().unwrap_or_else(|| webhook_secret_path(state_dir));
    std::fs::read_to_string(&file).map(|s| secrecy::SecretString::from(s.trim().to_string())).map_err(|e| {
        RuntimeError::Startup(format!(
            "webhook secret {}: {e} (run `imagine-agent webhook set URL` or set IMAGINEANYTHING_WEBHOOK_SECRET)",
            file.display()
        ))
    })
}

/// Authenticates and reads our profile, retrying transient failures with
/// backoff (a platform hiccup at boot is not fatal; wrong credentials are).
async fn first_contact(session: &Session, stop: &CancellationToken) -> Result<crate::api::types::Profile, RuntimeError> {
    let mut delay = Duration::from_millis(500);
    loop {
        let attempt = async {
            session.authenticate().await?;
            session.me().await
        };
        match attempt.await {
            Ok(me) => return Ok(me),
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot reach the platform yet; retrying in {:?}", delay);
                tokio::select! {
                    _ = stop.cancelled() => return Err(e.into()),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// In sandbox mode the generation pipeline needs a connected provider; connect a fake key.
async fn ensure_sandbox_provider(session: &Session) {
    use crate::api::types::Provider;
    let connected: Vec<Provider> =
        session.connected_services().await.map(|s| s.into_iter().filter_map(|c| c.provider).collect()).unwrap_or_default();
    for p in [Provider::OpenAi, Provider::ElevenLabs, Provider::Runware] {
        if !connected.contains(&p) {
            let key = secrecy::SecretString::from(format!("sk-sandbox-fake-{}", p.as_str().to_lowercase()));
            if let Err(e) = session.connect_service(&p, &key).await {
                tracing::warn!(error = %e, "could not connect a sandbox provider");
            }
        }
    }
}
