//! One agent's life in the daemon: authenticate (waiting out what is
//! transient, backing off from what is not), then run its notification poller,
//! webhook receiver and behaviors until stopped; a reload hands it a new
//! behavior set. Its failures stay inside it: other agents never notice.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::behavior_tasks::BehaviorTasks;
use super::ops::metrics_server::Observed;
use super::task::Task;
use super::{poller, supervisor, webhook, RuntimeError};
use crate::api::{Session, SessionConfig};
use crate::behaviors::Agent;
use crate::behaviors::LoadedBehavior;
use crate::clock::Clock;
use crate::config::WebhookOptions;
use crate::llm::Llm;
use crate::metrics::Metrics;
use crate::setup::AgentSpec;
use crate::store::Store;
use crate::wire::types::Profile;

/// What every agent of the daemon shares.
pub struct Shared {
    pub base_url: String,
    /// One connection pool for every session.
    pub http: reqwest::Client,
    pub store: Store,
    pub llm: Option<Arc<Llm>>,
    pub clock: Clock,
    /// `--dry-run` (each agent may also be dry-run on its own).
    pub dry_run: bool,
    pub sandbox: bool,
    pub poll_interval: Duration,
    pub mark_read: bool,
    pub grace: Duration,
    /// Spread first polls over one interval (several agents).
    pub stagger: bool,
    pub observed: Arc<Observed>,
    pub webhook: Option<Push>,
    /// Bounds concurrent sign-ins, so a daemon of many agents does not storm the platform at start.
    pub sign_ins: Semaphore,
    /// Where new drafts are announced.
    pub notices: Option<Arc<crate::behaviors::engine::notices::Notifier>>,
    /// The AI providers to connect at each agent's start (`providers:`).
    pub providers: std::collections::BTreeMap<String, crate::config::providers::ProviderKey>,
    /// Every secret the daemon holds, kept out of published text.
    pub secrets: Arc<crate::llm::guard::Secrets>,
}

/// Push mode: the shared receiver and where each agent's secret is.
pub struct Push {
    pub receivers: Arc<webhook::Receivers>,
    pub options: WebhookOptions,
    pub state_dir: PathBuf,
    /// The single-agent form: the secret may come from the environment or `secret_file`.
    pub single: bool,
}

/// Where an agent stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Starting,
    Running {
        handle: String,
        behaviors: usize,
    },
    /// Not running; the next attempt is scheduled with backoff.
    Failed(String),
}

/// A spawned agent.
pub struct AgentTask {
    pub spec: AgentSpec,
    status: watch::Receiver<Status>,
    behaviors: watch::Sender<Vec<LoadedBehavior>>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Where an agent's credentials come from (Debug never shows the secret).
#[derive(Clone)]
pub enum Credentials {
    /// Its credentials file or environment variables (read at each sign-in, so a fixed file and a reload are enough).
    FromConfig,
    /// Given (the embedded sandbox registered it).
    Given(String, String),
    /// The embedded sandbox refused to register it.
    Refused { handle: String, refusal: Arc<dyn std::error::Error + Send + Sync> },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::FromConfig => f.write_str("FromConfig"),
            Credentials::Given(id, _) => f.debug_tuple("Given").field(id).field(&"[redacted]").finish(),
            Credentials::Refused { handle, refusal } => {
                f.debug_struct("Refused").field("handle", handle).field("refusal", refusal).finish()
            }
        }
    }
}

impl AgentTask {
    /// Starts an agent with its credentials.
    pub fn spawn(spec: AgentSpec, credentials: Credentials, shared: Arc<Shared>, parent: &CancellationToken) -> AgentTask {
        let cancel = parent.child_token();
        let (status_tx, status) = watch::channel(Status::Starting);
        let (behaviors, behaviors_rx) = watch::channel(spec.behaviors.clone());
        // Context spans are error-level so that they stay on every line whatever RUST_LOG filters out.
        let span = tracing::error_span!("agent", agent = %label(&spec));
        let task = tokio::spawn(live(spec.clone(), credentials, shared, cancel.clone(), behaviors_rx, status_tx).instrument(span));
        AgentTask { spec, status, behaviors, cancel, task }
    }

    /// A reload with the same agent settings: only the behaviors change.
    pub fn reload(&mut self, spec: AgentSpec) {
        self.behaviors.send_replace(spec.behaviors.clone());
        self.spec = spec;
    }

    /// Stops the agent's tasks (each within the grace period) and waits for them.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }
}

/// How an agent is named before the platform confirms it.
pub fn label(spec: &AgentSpec) -> String {
    spec.handle.clone().unwrap_or_else(|| "agent".into())
}

async fn live(
    spec: AgentSpec,
    credentials: Credentials,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    mut behaviors: watch::Receiver<Vec<LoadedBehavior>>,
    status: watch::Sender<Status>,
) {
    let label = label(&spec);
    let mut delays = crate::backoff::doubling(Duration::from_secs(60), Duration::from_secs(3600));
    loop {
        match sign_in(&spec, &credentials, &shared, &cancel).await {
            Ok(agent) => {
                shared.observed.running(&label, agent.clone());
                serve(agent, &shared, &mut behaviors, &status, &cancel).await;
                shared.observed.gone(&label);
                return;
            }
            Err(_) if cancel.is_cancelled() => return,
            Err(e) => {
                let why = e.to_string();
                let backoff = delays.next_delay();
                tracing::error!(error = %why, "agent not running (the others are unaffected); next attempt in {:?}", backoff);
                shared.observed.failing(&label, &why);
                status.send_replace(Status::Failed(why));
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
}

/// Credentials, session, first authentication, and who we are.
async fn sign_in(
    spec: &AgentSpec,
    credentials: &Credentials,
    shared: &Shared,
    cancel: &CancellationToken,
) -> Result<Arc<Agent>, RuntimeError> {
    let (id, secret) = match credentials {
        Credentials::Given(id, secret) => (id.clone(), secret.clone()),
        Credentials::FromConfig => spec.credentials.read()?,
        // The agent fails visibly (and is retried with backoff), never with the environment's credentials.
        Credentials::Refused { handle, refusal } => {
            return Err(RuntimeError::SandboxRegistration { handle: handle.clone(), source: refusal.clone() })
        }
    };
    let client_secret = secrecy::SecretString::from(secret.clone());
    let cfg = SessionConfig::new(&shared.base_url).credentials(id, secret).budgets(spec.rate_limits).http_client(shared.http.clone());
    let session = Session::new(cfg)?;
    let me = first_contact(&session, cancel, &shared.sign_ins).await?;
    if let Some(h) = &spec.handle {
        if !h.eq_ignore_ascii_case(&me.handle) {
            return Err(RuntimeError::WrongAgent { configured: h.clone(), actual: me.handle.clone() });
        }
    }
    let dry_run = shared.dry_run || spec.dry_run;
    tracing::info!(handle = %me.handle, id = %me.id, base_url = %shared.base_url, dry_run, "authenticated");
    if let Some(c) = &spec.character {
        let ignored = c.ignored_fields();
        tracing::info!(character = %c.name, ignored = %ignored.join(", "), "character loaded (fields this runtime does not use are ignored)");
    }
    shared.secrets.add(client_secret);
    Ok(Arc::new(Agent {
        store: shared.store.agent(&me.handle)?,
        handle: me.handle.clone(),
        id: me.id.clone(),
        session,
        dry_run,
        poll_interval: shared.poll_interval,
        metrics: Arc::new(Metrics::new(&me.handle)),
        llm: shared.llm.clone(),
        persona: serde_json::json!({"name": me.name, "bio": me.bio.clone().unwrap_or_default(), "handle": me.handle}),
        character: spec.character.clone(),
        handover: tokio::sync::Mutex::new(()),
        routes: Default::default(),
        clock: shared.clock.clone(),
        notices: shared.notices.clone(),
        secrets: shared.secrets.clone(),
    }))
}

/// Runs the agent's poller, receiver and behaviors until cancelled.
async fn serve(
    agent: Arc<Agent>,
    shared: &Shared,
    behaviors: &mut watch::Receiver<Vec<LoadedBehavior>>,
    status: &watch::Sender<Status>,
    cancel: &CancellationToken,
) {
    let root = cancel.child_token();
    let routes = agent.routes.clone();
    let mut behavior_tasks = BehaviorTasks::new(agent.clone(), root.clone(), routes.clone());
    let declared = behaviors.borrow_and_update().clone();
    let wanted = prepare(&agent, shared, declared).await;
    behavior_tasks.apply(wanted, shared.grace).await;

    // Reading notifications is what replies wait for: it goes first.
    let poll_task = Arc::new(Task::new(agent.clone(), root.clone()));
    let first_delay = if shared.stagger { shared.poll_interval.mul_f64(rand::rng().random::<f64>()) } else { Duration::ZERO };
    let (r2, mark, m) = (routes.clone(), shared.mark_read, agent.metrics.clone());
    let poller = tokio::spawn(supervisor::supervise(
        "notification-poller".into(),
        root.clone(),
        tracing::error_span!(parent: None, "poller", agent = %agent.handle),
        move || m.restart("notification-poller"),
        move || poller::run(poll_task.clone(), r2.clone(), mark, first_delay),
    ));
    // Approved drafts (behaviors with `approval: required`) go out from here.
    let drafts_task = Arc::new(Task::new(agent.clone(), root.clone()));
    let m2 = agent.metrics.clone();
    let drafts = tokio::spawn(supervisor::supervise(
        "drafts".into(),
        root.clone(),
        tracing::error_span!(parent: None, "drafts", agent = %agent.handle),
        move || m2.restart("drafts"),
        move || crate::runtime::drafts::run(drafts_task.clone()),
    ));
    if let Some(push) = &shared.webhook {
        match super::webhook_secret(&push.options, &push.state_dir, (!push.single).then_some(agent.handle.as_str())) {
            Ok(secret) => {
                agent.secrets.add(secret.clone());
                push.receivers.add(agent.clone(), routes.clone(), secret)
            }
            Err(e) => tracing::error!(error = %e, "push mode off for this agent; the poller still delivers everything"),
        }
    }
    let running = |n| Status::Running { handle: agent.handle.clone(), behaviors: n };
    status.send_replace(running(behavior_tasks.len()));
    tracing::info!(behaviors = behavior_tasks.len(), "running");
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = behaviors.changed() => {
                if changed.is_err() {
                    break;
                }
                let declared = behaviors.borrow_and_update().clone();
                let wanted = prepare(&agent, shared, declared).await;
                behavior_tasks.apply(wanted, shared.grace).await;
                status.send_replace(running(behavior_tasks.len()));
            }
        }
    }
    if let Some(push) = &shared.webhook {
        push.receivers.remove(&agent.handle);
    }
    root.cancel();
    let mut tasks = behavior_tasks.take_tasks();
    tasks.push(poller);
    tasks.push(drafts);
    if !supervisor::join_within(tasks, shared.grace).await {
        tracing::warn!("in-flight work did not finish within {:?}; aborted it (its intents stay recorded)", shared.grace);
    }
}

/// The behaviors to start of those `wanted`: the declared providers connected
/// (see [`super::providers`]; in sandbox mode, fake keys for the others a
/// behavior needs), and a generating behavior whose provider is neither
/// declared nor connected left out, with its file:line:column in the log.
async fn prepare(agent: &Agent, shared: &Shared, wanted: Vec<LoadedBehavior>) -> Vec<LoadedBehavior> {
    use crate::wire::types::Provider;
    let needed: Vec<Provider> = wanted.iter().flat_map(|b| b.behavior.providers()).map(|(_, p)| p).collect();
    if needed.is_empty() && shared.providers.is_empty() {
        return wanted;
    }
    let session = &agent.session;
    if shared.sandbox {
        let connected: Vec<Provider> =
            session.connected_services().await.map(|s| s.into_iter().filter_map(|c| c.provider).collect()).unwrap_or_default();
        for p in needed.iter().filter(|p| !connected.contains(p) && !shared.providers.contains_key(p.as_str())) {
            let key = secrecy::SecretString::from(format!("sk-sandbox-fake-{}", p.as_str().to_lowercase()));
            if let Err(e) = session.connect_service(p, &key).await {
                tracing::warn!(error = %e, "could not connect a sandbox provider");
            }
        }
    }
    let usable = match super::providers::reconcile(session, &agent.handle, &shared.providers).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "the connected providers could not be read or set; the behaviors start as declared");
            return wanted;
        }
    };
    let refused = super::providers::refused(&wanted, &usable);
    for (_, problem) in &refused {
        tracing::error!("{problem}");
    }
    wanted.into_iter().filter(|b| !refused.iter().any(|(name, _)| name == b.behavior.name())).collect()
}

/// Authenticates and reads our profile, retrying transient failures with
/// backoff (a platform hiccup at boot is not fatal; wrong credentials are).
async fn first_contact(session: &Session, stop: &CancellationToken, sign_ins: &Semaphore) -> Result<Profile, RuntimeError> {
    let mut delays = crate::backoff::doubling(Duration::from_millis(500), Duration::from_secs(60));
    loop {
        let attempt = async {
            let _permit = sign_ins.acquire().await;
            session.authenticate().await?;
            session.me().await
        };
        // A stop reaches agents still waiting for their turn to sign in (10,000 of them take seconds).
        let outcome = tokio::select! {
            _ = stop.cancelled() => return Err(RuntimeError::Stopped),
            r = attempt => r,
        };
        match outcome {
            Ok(me) => return Ok(me),
            Err(e) if e.is_transient() => {
                let delay = delays.next_delay();
                tracing::warn!(error = %e, "cannot reach the platform yet; retrying in {:?}", delay);
                tokio::select! {
                    _ = stop.cancelled() => return Err(e.into()),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}
