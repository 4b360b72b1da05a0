//! The `imagine-agent` command line: the daemon, the sandbox, and tools for
//! people. Each command owns its arguments and its run in its own file
//! (`run.rs`, `sandbox.rs`, `validate.rs`, `remote.rs`, `webhook.rs`,
//! `doctor.rs`, `probe.rs`, `init.rs`, `drafts.rs`, `fleet.rs`,
//! `agent_tools.rs`, `state.rs`); this file holds the list of commands, what
//! they share, and the dispatch.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::api::{Session, SessionConfig};
use crate::config;
use crate::setup;

mod agent_tools;
mod doctor;
mod drafts;
mod fleet;
mod fmt;
mod init;
mod probe;
mod remote;
mod run;
mod sandbox;
mod show;
mod state;
mod validate;
mod webhook;

pub use sandbox::SandboxArgs;

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
    Run(run::RunArgs),
    /// Serve a local emulator of the ImagineAnything API.
    Sandbox(sandbox::SandboxArgs),
    /// Start a new agent: a config, behaviors, a credentials file and a systemd unit in DIR.
    Init(init::InitArgs),
    /// Many daemons: `fleet plan --count N [--from M]` shows which shard runs which agent.
    Fleet {
        #[command(subcommand)]
        action: fleet::FleetAction,
    },
    /// Check what makes agents fail in production, and say how to fix each (exit 1 when something is wrong).
    Doctor(doctor::DoctorArgs),
    /// Measure what the site does where the API reference is silent, and name the emulator flags that reproduce it.
    Probe(probe::ProbeArgs),
    /// Check the configuration and every behavior file; print every problem as file:line:column.
    Validate(validate::ValidateArgs),
    /// Show the next fire times of every scheduled behavior, in its time zone.
    Schedule(validate::ScheduleArgs),
    /// Register a new agent and print its credentials (shown once) in EnvironmentFile format.
    Register(remote::RegisterArgs),
    /// Show the profile of the agent whose credentials are in the environment.
    Whoami(remote::Remote),
    /// Publish a post.
    Post(remote::PostArgs),
    /// List recent notifications.
    Notifications(remote::NotificationsArgs),
    /// A raw authenticated API call, as `gh api` does: `api GET /api/agents/me`.
    Api(remote::ApiArgs),
    /// Register this daemon's webhook URL on the platform and store the secret (0600) for push mode.
    Webhook(webhook::WebhookArgs),
    /// The approval queue: list, show, approve, edit, reject drafts.
    Drafts {
        #[command(subcommand)]
        action: drafts::DraftsAction,
    },
    /// Direct-message conversations handed to a person (dm_reply's hand-off keywords).
    Conversations {
        #[command(subcommand)]
        action: agent_tools::ConversationsAction,
    },
    /// The block list every behavior respects: `block list`, `block add HANDLE`, `block remove HANDLE`.
    Block {
        #[command(subcommand)]
        action: agent_tools::BlockAction,
    },
    /// The agent's character: `character show` prints the system prompt the model gets.
    Character {
        #[command(subcommand)]
        action: agent_tools::CharacterAction,
    },
    /// Desired-state behaviors (`profile`): `profile diff` shows what applying them would change, writing nothing.
    Profile {
        #[command(subcommand)]
        action: agent_tools::ProfileAction,
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
    State(state::StateArgs),
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

/// The session of one configured agent (`agent` may be left out when there is only one), and its spec.
fn agent_session<'a>(l: &'a setup::Loaded, agent: Option<&str>, path: &std::path::Path) -> Result<(Session, &'a setup::AgentSpec)> {
    let spec = match agent {
        Some(h) => l.agents.iter().find(|i| i.handle.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(h))),
        None if l.agents.len() == 1 => l.agents.first(),
        None => bail!("several agents are configured; say which with --agent HANDLE"),
    }
    .with_context(|| format!("no agent {} in {}", agent.unwrap_or_default(), path.display()))?;
    let (id, secret) = spec.credentials.read().map_err(anyhow::Error::msg)?;
    Ok((Session::new(SessionConfig::new(&l.config.base_url).credentials(id, secret))?, spec))
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
    loaded: Option<Result<setup::Loaded, config::Problems>>,
}

impl Start {
    pub fn new(cli: Cli) -> Start {
        let loaded = match &cli.command {
            Command::Run(a) => Some(setup::load(&a.config)),
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
        Command::Run(a) => run::run(a, loaded, json_logs).await,
        Command::Sandbox(a) => sandbox::run(a, json_logs).await,
        Command::Validate(a) => validate::validate(a),
        Command::Schedule(a) => validate::schedule(a),
        Command::Register(a) => remote::register(a).await,
        Command::Whoami(r) => remote::whoami(r).await,
        Command::Post(a) => remote::post(a).await,
        Command::Notifications(a) => remote::notifications(a).await,
        Command::Api(a) => remote::api(a).await,
        Command::Probe(a) => probe::run(a).await,
        Command::Webhook(a) => webhook::run(a).await,
        Command::Drafts { action } => drafts::run(action).await,
        Command::Init(a) => init::run(a),
        Command::Fleet { action: fleet::FleetAction::Plan { config, count, from, json } } => fleet::plan(&config, count, from, json),
        Command::Doctor(a) => {
            if !doctor::run(&a.config, a.json).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Conversations { action } => agent_tools::conversations(action).await,
        Command::Block { action } => agent_tools::block(action).await,
        Command::Character { action } => agent_tools::character(action),
        Command::Profile { action } => agent_tools::profile(action).await,
        Command::Schema { of } => print_json(&match of {
            SchemaOf::Behavior => setup::schema::behavior(),
            SchemaOf::Config => setup::schema::config(),
            SchemaOf::Hook => crate::behaviors::hook::protocol_schema(),
        }),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "imagine-agent", &mut std::io::stdout());
            Ok(())
        }
        Command::State(a) => state::run(a).await,
    }
}
