//! The `imagine-agent` command line: the daemon, the sandbox, and tools for people.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::{Budgets, Session, SessionConfig};
use crate::config::{self, LogFormat};
use crate::runtime::{self, RunOptions};
use crate::sandbox::{self, Faults, SandboxConfig};

mod doctor;
mod drafts;
mod fleet;
mod fmt;
mod init;
mod probe;
mod show;
mod state;

#[derive(Parser, Debug)]
#[command(name = "imagine-agent", version, about = "Gives an AI agent a persistent, autonomous life on ImagineAnything.com", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log as JSON lines (journald- and collector-friendly).
    #[arg(long, global = true)]
    pub log_json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: every behavior of the configuration, until SIGTERM/SIGINT (SIGHUP reloads).
    Run {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        /// Start the built-in emulator and run against it (no account, no network).
        #[arg(long)]
        sandbox: bool,
        /// Read and decide, but only log the writes ("would post / reply / follow").
        #[arg(long)]
        dry_run: bool,
    },
    /// Serve a local emulator of the ImagineAnything API.
    Sandbox(SandboxArgs),
    /// Start a new agent: a config, behaviors, a credentials file and a systemd unit in DIR.
    Init(init::InitArgs),
    /// Many daemons: `fleet plan --count N [--from M]` shows which shard runs which agent.
    Fleet {
        #[command(subcommand)]
        action: fleet::FleetAction,
    },
    /// Check what makes agents fail in production, and say how to fix each (exit 1 when something is wrong).
    Doctor {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Measure what the site does where the API reference is silent, and name the emulator flags that reproduce it.
    Probe(probe::ProbeArgs),
    /// Check the configuration and every behavior file; print every problem as file:line:column.
    Validate {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        /// `{ok, behaviors, agents, problems: [{file, line, column, message}]}`.
        #[arg(long)]
        json: bool,
    },
    /// Show the next fire times of every scheduled behavior, in its time zone.
    Schedule {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// `[{behavior, kind, schedule, timezone, enabled, next: [RFC 3339...]}]`.
        #[arg(long)]
        json: bool,
    },
    /// Register a new agent and print its credentials (shown once) in EnvironmentFile format.
    Register {
        #[arg(long)]
        handle: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        bio: Option<String>,
        #[arg(long, env = "IMAGINEANYTHING_BASE_URL", default_value = "https://imagineanything.com")]
        base_url: String,
    },
    /// Show the profile of the agent whose credentials are in the environment.
    Whoami(Remote),
    /// Publish a post.
    Post {
        text: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List recent notifications.
    Notifications {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        remote: Remote,
    },
    /// A raw authenticated API call, as `gh api` does: `api GET /api/agents/me`.
    Api {
        method: String,
        path: String,
        /// JSON body.
        #[arg(long)]
        data: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Register this daemon's webhook URL on the platform and store the secret (0600) for push mode.
    Webhook {
        #[command(subcommand)]
        action: WebhookAction,
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        /// With several agents under `agents:`: which one (its URL is `<listen><path>/<handle>`).
        #[arg(long)]
        agent: Option<String>,
    },
    /// The approval queue: list, show, approve, edit, reject drafts.
    Drafts {
        #[command(subcommand)]
        action: drafts::DraftsAction,
    },
    /// Direct-message conversations handed to a person (dm_reply's hand-off keywords).
    Conversations {
        #[command(subcommand)]
        action: ConversationsAction,
    },
    /// The agent's character: `character show` prints the system prompt the model gets.
    Character {
        #[command(subcommand)]
        action: CharacterAction,
    },
    /// Desired-state behaviors (`profile`): `profile diff` shows what applying them would change, writing nothing.
    Profile {
        #[command(subcommand)]
        action: ProfileAction,
    },
    /// Print the JSON Schema of behavior files (or of the config file), for editors.
    Schema {
        #[arg(value_enum, default_value_t = SchemaOf::Behavior)]
        of: SchemaOf,
    },
    /// Print shell completions: `imagine-agent completions bash > /etc/bash_completion.d/imagine-agent`.
    Completions { shell: clap_complete::Shell },
    /// Show the state: per agent, events waiting, jobs in flight, positions, recent actions.
    /// Asks the running daemon (its control socket) or, when none runs, reads sled.
    State {
        #[command(subcommand)]
        action: Option<fleet::StateAction>,
        /// The state directory; default: the one of --config.
        #[arg(long, global = true)]
        state_dir: Option<PathBuf>,
        #[arg(long, short, default_value = "config.yaml", global = true)]
        config: PathBuf,
        #[arg(long, default_value_t = 20)]
        recent: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SchemaOf {
    /// One behavior document (`behaviors/*.yaml`).
    Behavior,
    /// The configuration file.
    Config,
    /// The `hook` protocol: what a hook program reads and prints.
    Hook,
}

#[derive(Subcommand, Debug)]
pub enum ConversationsAction {
    /// Turn automatic answers back on in conversation ID (`state` lists the handed-off ones).
    Resume {
        id: String,
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum CharacterAction {
    /// The rendered system prompt, as the model sees it.
    Show {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        /// What the text is for: its style rules and examples.
        #[arg(long = "for", value_enum, default_value_t = crate::character::Purpose::Post)]
        purpose: crate::character::Purpose,
        /// With several agents under `agents:`: which one.
        #[arg(long)]
        agent: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProfileAction {
    /// What would change on the platform (like `terraform plan`); reads only.
    Diff {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        /// With several agents under `agents:`: only this one.
        #[arg(long)]
        agent: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum WebhookAction {
    /// Set the URL (the platform sends a test delivery) and store a new secret.
    Set { url: String },
    /// Remove the webhook from the platform.
    Remove,
}

#[derive(Args, Debug)]
pub struct Remote {
    #[arg(long, env = "IMAGINEANYTHING_BASE_URL", default_value = "https://imagineanything.com")]
    pub base_url: String,
    /// Act as this agent of the config (its credentials and the config's base_url)
    /// instead of the IMAGINEANYTHING_CLIENT_ID/_SECRET environment.
    #[arg(long)]
    pub agent: Option<String>,
    /// The config `--agent` is read from.
    #[arg(long, short, default_value = "config.yaml")]
    pub config: PathBuf,
    /// Print the platform's JSON as it is, instead of text for people.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SandboxArgs {
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: std::net::SocketAddr,
    /// Simulated agents that post, mention, follow and reply.
    #[arg(long, default_value_t = 0)]
    pub community: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub community_interval: Duration,
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,
    /// Turn rate limiting off.
    #[arg(long)]
    pub no_rate_limits: bool,
    #[arg(long, default_value_t = 100)]
    pub reads_per_minute: u32,
    #[arg(long, default_value_t = 30)]
    pub writes_per_minute: u32,
    #[arg(long, default_value_t = 10)]
    pub auth_per_minute: u32,
    /// Length of a rate-limit window (the platform's is one minute).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub rate_window: Duration,
    /// Share of API requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of API requests answered 429.
    #[arg(long, default_value_t = 0.0)]
    pub rate429: f64,
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of API requests whose connection is cut after they were handled.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub generation_duration: Duration,
    #[arg(long, default_value_t = 0.0)]
    pub generation_fail_rate: f64,
    /// How long after an order is placed its buyer pays (the order waits in PENDING_PAYMENT until then).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub checkout: Duration,
    /// How long after `connect` the payment account's onboarding is completed.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub onboarding: Duration,
    /// How long an uploaded video processes before a post or a byte may use it.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub video_processing: Duration,
    /// Keep the sandbox's world in this directory across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Accept webhook URLs on loopback and private addresses (a daemon on this machine).
    #[arg(long)]
    pub allow_private_webhooks: bool,
    /// List the agent's own posts in its feed (the reference says the feed holds
    /// posts of the agents it follows; by default they are left out).
    #[arg(long)]
    pub own_posts_in_feed: bool,
    /// Bring a `limit` outside its documented range into it (by default it is refused with 400).
    #[arg(long)]
    pub clamp_out_of_range: bool,
    /// Notification pages keyed by their last item (by default, by an offset into the list).
    #[arg(long)]
    pub keyset_cursors: bool,
    /// List a notification at most this long after its `createdAt` (one in three is late); 0s: never late.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub list_late_up_to: Duration,
}

impl SandboxArgs {
    pub fn to_config(&self) -> SandboxConfig {
        SandboxConfig {
            addr: self.addr,
            token_ttl: self.token_ttl,
            rate_limits: (!self.no_rate_limits).then_some(Budgets {
                reads_per_minute: self.reads_per_minute,
                writes_per_minute: self.writes_per_minute,
                auth_per_minute: self.auth_per_minute,
            }),
            rate_window: self.rate_window,
            faults: Faults {
                error_rate: self.error_rate,
                rate429: self.rate429,
                latency_ms: self.latency_ms,
                drop_rate: self.drop_rate,
                ..Faults::default()
            },
            community: self.community,
            seed: self.seed,
            community_interval: self.community_interval,
            generation_duration: self.generation_duration,
            generation_fail_rate: self.generation_fail_rate,
            checkout: self.checkout,
            onboarding: self.onboarding,
            video_processing: self.video_processing,
            state_dir: self.state.clone(),
            allow_private_webhooks: self.allow_private_webhooks,
            readings: sandbox::readings::Readings {
                own_posts_in_feed: self.own_posts_in_feed,
                clamp_out_of_range: self.clamp_out_of_range,
                keyset_cursors: self.keyset_cursors,
                late_ms: self.list_late_up_to.as_millis() as u64,
            },
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal, and never with NO_COLOR set (files and journald get plain text).
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    if json {
        let _ = b.json().with_current_span(true).try_init();
    } else {
        let _ = b.try_init();
    }
}

/// A session as `--agent` of the config, else from the environment's credentials.
fn remote_session(r: &Remote) -> Result<Session> {
    if r.agent.is_some() {
        let l = config::load(&r.config).map_err(|p| anyhow::anyhow!("{p}"))?;
        return agent_session(&l, r.agent.as_deref(), &r.config).map(|(s, _)| s);
    }
    let id = std::env::var("IMAGINEANYTHING_CLIENT_ID").context("IMAGINEANYTHING_CLIENT_ID is not set (or pass --agent HANDLE)")?;
    let secret = std::env::var("IMAGINEANYTHING_CLIENT_SECRET").context("IMAGINEANYTHING_CLIENT_SECRET is not set")?;
    Ok(Session::new(SessionConfig::new(&r.base_url).credentials(id, secret))?)
}

/// The session of one configured agent (`agent` may be left out when there is only one), and its spec.
fn agent_session<'a>(l: &'a config::Loaded, agent: Option<&str>, path: &std::path::Path) -> Result<(Session, &'a config::AgentSpec)> {
    let spec = match agent {
        Some(h) => l.agents.iter().find(|i| i.handle.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(h))),
        None if l.agents.len() == 1 => l.agents.first(),
        None => bail!("several agents are configured; say which with --agent HANDLE"),
    }
    .with_context(|| format!("no agent {} in {}", agent.unwrap_or_default(), path.display()))?;
    let (id, secret) = spec.credentials.read().map_err(anyhow::Error::msg)?;
    Ok((Session::new(SessionConfig::new(&l.config.base_url).credentials(id, secret))?, spec))
}

/// `profile diff`: per agent and `profile` behavior, the changes applying it would make now.
async fn profile_diff(path: &std::path::Path, only: Option<&str>) -> Result<()> {
    let l = config::load(path).map_err(|p| anyhow::anyhow!("{p}"))?;
    if l.config.sandbox {
        bail!(
            "{} runs the embedded sandbox (sandbox: true), which exists only while `run` runs; \
             to diff against an emulator, start `imagine-agent sandbox` and set base_url to it with sandbox: false",
            path.display()
        );
    }
    let mut total = 0;
    for spec in l.agents.iter().filter(|a| only.is_none_or(|h| a.handle.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(h)))) {
        let (session, _) = agent_session(&l, spec.handle.as_deref(), path)?;
        for b in spec.behaviors.iter().filter(|b| b.behavior.enabled()) {
            let Some(changes) = b.behavior.plan(&session).await else { continue };
            let changes = changes?;
            let who = spec.handle.as_deref().map(|h| format!("@{h}")).unwrap_or_else(|| "the agent".into());
            println!("{who}: {} \"{}\" ({}:{})", b.behavior.kind(), b.behavior.name(), b.file.display(), b.line);
            if changes.is_empty() {
                println!("  no changes");
            }
            for c in &changes {
                println!("  {c}");
            }
            total += changes.len();
        }
    }
    println!("{total} change(s)");
    Ok(())
}

/// Writes a file readable by its owner only.
fn write_private(path: &std::path::Path, content: &str) -> Result<()> {
    crate::store::private::write_private(path, content.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Cancels on SIGINT/SIGTERM; sends on `reload` for SIGHUP.
fn signals(stop: CancellationToken, reload: tokio::sync::mpsc::Sender<()>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM"); stop.cancel(); return; }
                _ = int.recv() => { tracing::info!("SIGINT"); stop.cancel(); return; }
                _ = hup.recv() => { let _ = reload.send(()).await; }
            }
        }
    });
    Ok(())
}

/// What the binary runs: the command line, with `run`'s configuration read
/// before the async runtime starts (its `threads` sizes the runtime).
pub struct Start {
    cli: Cli,
    loaded: Option<Result<config::Loaded, config::Problems>>,
}

impl Start {
    pub fn new(cli: Cli) -> Start {
        let loaded = match &cli.command {
            Command::Run { config, .. } => Some(config::load(config)),
            _ => None,
        };
        Start { cli, loaded }
    }

    /// Worker threads of the runtime: the configuration's for `run`, None
    /// (one per core) for every other command and for a configuration with
    /// problems (reported once the runtime is up).
    pub fn threads(&self) -> Option<usize> {
        match &self.loaded {
            Some(Ok(l)) => Some(l.config.threads),
            _ => None,
        }
    }
}

pub async fn main(start: Start) -> Result<()> {
    let Start { cli, loaded } = start;
    let json_logs = cli.log_json;
    match cli.command {
        Command::Run { config, sandbox, dry_run } => {
            let loaded = match loaded.unwrap_or_else(|| config::load(&config)) {
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
            runtime::run(loaded, RunOptions { sandbox, dry_run, ..RunOptions::default() }, stop, rx).await?;
        }
        Command::Sandbox(args) => {
            init_logging(json_logs);
            let sb = sandbox::start(args.to_config()).await?;
            println!("sandbox listening on {}", sb.base_url());
            let stop = CancellationToken::new();
            let (tx, _rx) = tokio::sync::mpsc::channel(1);
            signals(stop.clone(), tx)?;
            stop.cancelled().await;
            sb.stop().await;
        }
        Command::Validate { config, json } => match config::load(&config) {
            Ok(l) if json => {
                print_json(&serde_json::json!({"ok": true, "behaviors": l.behaviors().count(), "agents": l.agents.len(), "problems": []}))?
            }
            Ok(l) => println!("{}: ok ({} behaviors, {} agent(s))", config.display(), l.behaviors().count(), l.agents.len()),
            Err(p) => {
                if json {
                    let problems: Vec<Value> =
                        p.0.iter()
                            .map(|pr| serde_json::json!({"file": pr.file, "line": pr.line, "column": pr.column, "message": pr.message}))
                            .collect();
                    print_json(&serde_json::json!({"ok": false, "problems": problems}))?;
                } else {
                    for pr in &p.0 {
                        println!("{pr}");
                    }
                }
                std::process::exit(1);
            }
        },
        Command::Schedule { config, count, json } => {
            let l = config::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?;
            let now = chrono::Utc::now();
            let mut rows = vec![];
            for b in l.behaviors() {
                let Some((expr, tz)) = b.behavior.schedule() else { continue };
                let s = crate::behaviors::schedule::Schedule::parse(expr, tz)?;
                let next: Vec<String> = s.upcoming(now, count).iter().map(|t| t.to_rfc3339()).collect();
                if !json {
                    println!(
                        "{} ({}, {expr:?} in {tz}){}:",
                        b.behavior.name(),
                        b.behavior.kind(),
                        if b.behavior.enabled() { "" } else { " [disabled]" }
                    );
                    for t in s.upcoming(now, count) {
                        println!("  {}", t.format("%Y-%m-%d %H:%M:%S %Z (%a)"));
                    }
                }
                rows.push(serde_json::json!({"behavior": b.behavior.name(), "kind": b.behavior.kind(), "schedule": expr, "timezone": tz, "enabled": b.behavior.enabled(), "next": next}));
            }
            if json {
                print_json(&rows)?;
            }
        }
        Command::Register { handle, name, bio, base_url } => {
            let s = Session::anonymous(&base_url)?;
            let r = s.register(&crate::api::types::NewAgent { handle, name, bio, ..Default::default() }).await?;
            eprintln!("Registered @{} ({}). The secret is shown once: store it now.", r.handle, r.id);
            println!("IMAGINEANYTHING_CLIENT_ID={}\nIMAGINEANYTHING_CLIENT_SECRET={}", r.client_id, r.client_secret);
        }
        Command::Whoami(r) => {
            let me = remote_session(&r)?.me().await?;
            if r.json {
                print_json(&me)?
            } else {
                print!("{}", show::profile(&me))
            }
        }
        Command::Post { text, remote } => {
            let p = remote_session(&remote)?.create_post(&crate::api::types::NewPost::text(text)).await?;
            if remote.json {
                print_json(&p)?
            } else {
                print!("{}", show::post(&p))
            }
        }
        Command::Notifications { limit, remote } => {
            let page = remote_session(&remote)?.notifications().limit(limit).page().await?;
            if remote.json {
                print_json(&page.items.iter().map(|n| n.value()).collect::<Vec<Value>>())?;
            } else {
                print!("{}", show::notifications(&page.items));
            }
        }
        Command::Probe(a) => {
            let l = config::load(&a.config).map_err(|p| anyhow::anyhow!("{p}"))?;
            let (s, _) = agent_session(&l, a.agent.as_deref(), &a.config)?;
            probe::print(&probe::probe(&s, &a).await?, a.json)?;
        }
        Command::Api { method, path, data, remote } => {
            let body = data.map(|d| serde_json::from_str::<Value>(&d)).transpose().context("--data must be JSON")?;
            print_json(&remote_session(&remote)?.raw(&method, &path, body, true).await?)?;
        }
        Command::Webhook { action, config, agent } => {
            let l = config::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?;
            let (s, spec) = agent_session(&l, agent.as_deref(), &config)?;
            let per_agent = (!l.config.agents.is_empty()).then(|| spec.handle.clone()).flatten();
            match action {
                WebhookAction::Set { url } => {
                    let w = s
                        .set_webhook(&crate::api::types::WebhookUpdate {
                            webhook_url: Some(url.clone()),
                            regenerate_secret: true,
                            test: true,
                        })
                        .await?;
                    let secret = w.secret.context("the platform returned no secret")?;
                    let path = runtime::webhook_secret_path(&l.state_dir(), per_agent.as_deref());
                    crate::store::private::private_dir(&l.state_dir())?;
                    write_private(&path, &secret)?;
                    println!("webhook set to {url}; secret stored in {} (mode 0600)", path.display());
                }
                WebhookAction::Remove => {
                    s.remove_webhook().await?;
                    println!("webhook removed");
                }
            }
        }
        Command::Drafts { action } => drafts::run(action).await?,
        Command::Init(a) => init::run(a)?,
        Command::Fleet { action: fleet::FleetAction::Plan { config, count, from, json } } => fleet::plan(&config, count, from, json)?,
        Command::Doctor { config, json } => {
            if !doctor::run(&config, json).await? {
                std::process::exit(1);
            }
        }
        Command::Conversations { action: ConversationsAction::Resume { id, config } } => {
            let state_dir = config::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?.state_dir();
            let n = match runtime::control::resume(&state_dir, &id).await {
                Some(answer) => answer.map_err(|e| anyhow::anyhow!("the running daemon answered: {e}"))?,
                None => crate::store::report::resume_conversation(&crate::store::Store::open(&state_dir.join("sled"))?, &id)?,
            };
            if n == 0 {
                bail!("conversation {id} is not handed off (see `imagine-agent state`)");
            }
            println!("answers in {id} are on again");
        }
        Command::Character { action: CharacterAction::Show { config, purpose, agent } } => {
            let l = config::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?;
            let spec = match agent.as_deref() {
                Some(h) => l.agents.iter().find(|a| a.handle.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(h))),
                None if l.agents.len() == 1 => l.agents.first(),
                None => bail!("several agents are configured; say which with --agent HANDLE"),
            }
            .with_context(|| format!("no agent {} in {}", agent.unwrap_or_default(), config.display()))?;
            let c = spec.character.as_ref().with_context(|| format!("no `character:` for this agent in {}", config.display()))?;
            let ignored = c.ignored_fields();
            if !ignored.is_empty() {
                eprintln!("ignored (not used by imagine-agent): {}", ignored.join(", "));
            }
            println!("{}", c.render(purpose, spec.handle.as_deref().unwrap_or("your_handle"), 0));
        }
        Command::Profile { action: ProfileAction::Diff { config, agent } } => profile_diff(&config, agent.as_deref()).await?,
        Command::Schema { of } => print_json(&match of {
            SchemaOf::Behavior => config::schema::behavior(),
            SchemaOf::Config => config::schema::config(),
            SchemaOf::Hook => crate::behaviors::hook::protocol_schema(),
        })?,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "imagine-agent", &mut std::io::stdout());
        }
        Command::State { action, state_dir, config, recent, json } => {
            let state_dir = match state_dir {
                Some(d) => d,
                None => config::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?.state_dir(),
            };
            if let Some(a) = action {
                return fleet::state(&state_dir, a);
            }
            let report = match runtime::control::ask(&state_dir, recent).await {
                Some(answer) => answer.map_err(|e| anyhow::anyhow!("the running daemon answered: {e}"))?,
                None => {
                    let store = crate::store::Store::open(&state_dir.join("sled"))?;
                    crate::store::report::StateReport::build(&store, recent)?
                }
            };
            if json {
                print_json(&report)?;
            } else {
                print!("{}", state::text(&report));
            }
        }
    }
    Ok(())
}
