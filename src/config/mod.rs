//! The configuration file: its format, `${VAR}` interpolation, credential
//! and provider sources, shards, and the checks of the file itself, every
//! problem as `file:line:column: message`. Reading it together with the
//! behavior files and characters it names is [`crate::setup`]'s.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod interpolate;
pub mod providers;
pub mod shard;

pub use interpolate::{interpolate, Substitutions};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::api::Budgets;
pub use crate::diagnostics::{locate, Problem, Problems};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The in-process emulator's settings (`sandbox: true`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxOptions {
    /// Simulated agents that post, mention, follow and reply.
    pub community: usize,
    pub seed: u64,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub community_interval: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub generation_duration: Duration,
    /// `127.0.0.1:0` picks a free port.
    pub addr: String,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            community: 8,
            seed: 42,
            community_interval: Duration::from_secs(3),
            generation_duration: Duration::from_secs(3),
            addr: "127.0.0.1:0".into(),
        }
    }
}

/// Who the daemon acts as (the single-agent form: `agent:` with top-level `behaviors:`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AgentOptions {
    /// In sandbox mode: the handle to register (or reuse).
    pub handle: Option<String>,
    pub name: Option<String>,
    pub bio: Option<String>,
    /// A file with `IMAGINEANYTHING_CLIENT_ID=...` / `IMAGINEANYTHING_CLIENT_SECRET=...` lines
    /// (systemd EnvironmentFile format). The environment variables win when set.
    pub credentials_file: Option<PathBuf>,
    /// A character file (YAML, or an ElizaOS character JSON), relative to this file.
    pub character: Option<PathBuf>,
}

/// One agent under `agents:`: several agents in one daemon, each with its
/// own credentials, session, rate budgets, behaviors and state.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    /// The agent's handle: its key in the state store, logs and metrics. The
    /// platform must confirm it at authentication (catches swapped credentials).
    pub handle: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub bio: Option<String>,
    /// A file with `<PREFIX>_CLIENT_ID=...` / `<PREFIX>_CLIENT_SECRET=...` lines (EnvironmentFile format).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// `<PREFIX>` of the credential variables (default `IMAGINEANYTHING`). When set, the
    /// environment is read first, then `credentials_file`; when unset, only the file is read.
    #[serde(default)]
    pub credentials_env: Option<String>,
    /// A character file (YAML, or an ElizaOS character JSON), relative to the config file.
    #[serde(default)]
    pub character: Option<PathBuf>,
    /// This agent's behavior files: paths or globs, relative to the config file.
    pub behaviors: Vec<String>,
    /// This agent's request budgets; default: the top-level `rate_limits`.
    #[serde(default)]
    pub rate_limits: Option<Budgets>,
    /// Decide everything, send no writes, for this agent only.
    #[serde(default)]
    pub dry_run: bool,
}

/// Where an agent's client credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSource {
    pub file: Option<PathBuf>,
    /// Variables `<prefix>_CLIENT_ID` / `<prefix>_CLIENT_SECRET`.
    pub prefix: String,
    /// Whether the environment is consulted (before the file).
    pub from_env: bool,
}

/// Why an agent's credentials could not be read; it names what to set, never a value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", incomplete(id_var, secret_var, file.as_deref(), *from_env))]
    Incomplete { id_var: String, secret_var: String, file: Option<PathBuf>, from_env: bool },
}

fn incomplete(id_var: &str, secret_var: &str, file: Option<&Path>, from_env: bool) -> String {
    match file {
        Some(f) => {
            format!("{id_var} and {secret_var} are not both set in {}{}", f.display(), if from_env { " or the environment" } else { "" })
        }
        None => format!("set {id_var} and {secret_var} (or a credentials file), or run with --sandbox"),
    }
}

impl CredentialSource {
    /// Reads `(client id, client secret)`; the error names what to set, never a value.
    pub fn read(&self) -> Result<(String, String), CredentialError> {
        let (id_var, secret_var) = (format!("{}_CLIENT_ID", self.prefix), format!("{}_CLIENT_SECRET", self.prefix));
        let env = |v: &str| if self.from_env { std::env::var(v).ok().filter(|s| !s.is_empty()) } else { None };
        let (mut id, mut secret) = (env(&id_var), env(&secret_var));
        if let Some(f) = &self.file {
            if id.is_none() || secret.is_none() {
                let text = std::fs::read_to_string(f).map_err(|source| CredentialError::Read { path: f.clone(), source })?;
                for line in text.lines() {
                    let line = line.trim().trim_start_matches("export ");
                    let Some((k, v)) = line.split_once('=') else {
                        continue;
                    };
                    let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
                    match k.trim() {
                        k if k == id_var && id.is_none() => id = Some(v),
                        k if k == secret_var && secret.is_none() => secret = Some(v),
                        _ => {}
                    }
                }
            }
        }
        match (id, secret) {
            (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => Ok((i, s)),
            _ => Err(CredentialError::Incomplete { id_var, secret_var, file: self.file.clone(), from_env: self.from_env }),
        }
    }
}

/// The body the webhook expects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoticeFormat {
    /// Slack for `hooks.slack.com`, Discord for `discord.com`, both fields otherwise.
    #[default]
    Auto,
    /// `{"text": ...}`
    Slack,
    /// `{"content": ...}`
    Discord,
}

/// `webhook:` in the config.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookOptions {
    /// Where to listen, e.g. `127.0.0.1:8787` behind a TLS-terminating reverse proxy.
    pub listen: std::net::SocketAddr,
    #[serde(default = "default_webhook_path")]
    pub path: String,
    /// Deliveries older (or newer) than this are rejected as stale.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub max_age: Duration,
    /// A file holding the secret; default: the one `imagine-agent webhook set` stored in the state directory.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Serve HTTPS itself (when no reverse proxy terminates TLS).
    #[serde(default)]
    pub tls: Option<TlsOptions>,
}

/// `draft_notices:` in the config.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftNotices {
    /// A file holding the webhook's URL (such URLs are secrets, so not in the config itself).
    pub url_file: PathBuf,
    #[serde(default)]
    pub format: NoticeFormat,
}

/// `webhook.tls`: PEM files, e.g. from Let's Encrypt.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsOptions {
    /// The certificate chain (`fullchain.pem`).
    pub cert: PathBuf,
    /// The private key (`privkey.pem`).
    pub key: PathBuf,
}

fn default_webhook_path() -> String {
    "/imagine-agent/webhook".into()
}
fn default_max_age() -> Duration {
    Duration::from_secs(300)
}

/// The daemon's configuration file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_base_url")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub base_url: String,
    /// Run against an in-process emulator instead of the real platform.
    #[serde(default)]
    pub sandbox: bool,
    #[serde(default)]
    pub sandbox_options: SandboxOptions,
    #[serde(default)]
    pub agent: AgentOptions,
    /// Several agents in one daemon (instead of `agent:` and top-level `behaviors:`).
    #[serde(default)]
    pub agents: Vec<AgentEntry>,
    /// Where sled keeps state; `$STATE_DIRECTORY` (systemd) or `./state` when unset.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Behavior files of the single agent: paths or globs, relative to this file.
    #[serde(default)]
    pub behaviors: Vec<String>,
    #[serde(default = "default_poll", with = "humantime_serde")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub poll_interval: Duration,
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub rate_limits: Budgets,
    /// Mark notifications read on the platform once handled (costs one write per batch).
    #[serde(default)]
    pub mark_notifications_read: bool,
    /// Language-model profiles by name; `llm: {profile: name}` in a behavior uses one.
    /// In sandbox mode a `default` profile pointing at the sandbox's stand-in is added.
    #[serde(default)]
    pub llm: std::collections::BTreeMap<String, crate::llm::ProfileConfig>,
    /// Push mode: receive the platform's signed webhook deliveries (the poller stays as the safety net).
    #[serde(default)]
    pub webhook: Option<WebhookOptions>,
    /// Serve `/metrics` (Prometheus) and `/healthz` here, e.g. `127.0.0.1:9464`. Off when unset.
    #[serde(default)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Several daemons share the agents: this one runs the ones its index owns (rendezvous hashing of the handle).
    #[serde(default)]
    pub shard: Option<shard::ShardSpec>,
    /// Serve the web console here, e.g. `127.0.0.1:9465`. Off when unset.
    #[serde(default)]
    pub console_addr: Option<std::net::SocketAddr>,
    /// A file holding the console's token; required when `console_addr` is not a loopback address.
    #[serde(default)]
    pub console_token_file: Option<PathBuf>,
    /// Announce each new draft (`approval: required`) to a Slack or Discord incoming webhook.
    #[serde(default)]
    pub draft_notices: Option<DraftNotices>,
    /// AI providers for generations (OPENAI, RUNWARE, FAL_AI, GOOGLE_GEMINI, ELEVENLABS), each key
    /// from `api_key_env` or `api_key_file`: connected, or their keys updated, at each agent's start.
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, providers::ProviderKey>,
    /// How long to wait for in-flight work on shutdown.
    #[serde(default = "default_grace", with = "humantime_serde")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub shutdown_grace: Duration,
    /// Worker threads of the daemon's async runtime (taken at start; a reload
    /// does not change it). The daemon waits on the network, not the CPU: one
    /// thread handles thousands of notifications a second and 10,000 idle
    /// agents (benches/burst.sh, benches/identities.sh), and a second thread
    /// costs more CPU per notification in wake-ups between threads. Raise it
    /// for hooks or charts that keep a thread busy; scale out with `shard:`.
    #[serde(default = "default_threads")]
    pub threads: usize,
}

/// The most worker threads `threads` accepts.
pub const MAX_THREADS: usize = 256;

fn default_threads() -> usize {
    1
}

fn default_base_url() -> String {
    "https://imagineanything.com".into()
}
fn default_poll() -> Duration {
    Duration::from_secs(10)
}
fn default_grace() -> Duration {
    Duration::from_secs(10)
}

/// The credential variables' prefix in the single-agent form.
pub const DEFAULT_PREFIX: &str = "IMAGINEANYTHING";

pub(crate) fn validate_config(path: &Path, text: &str, c: &Config, problems: &mut Vec<Problem>) {
    if !(c.base_url.starts_with("https://") || c.base_url.starts_with("http://")) {
        let (l, col) = locate(text, "base_url");
        problems.push(Problem::at(
            path,
            l,
            col,
            format!("base_url must start with https:// (or http:// on loopback), got {:?}", c.base_url),
        ));
    }
    if c.poll_interval < Duration::from_millis(100) {
        let (l, col) = locate(text, "poll_interval");
        problems.push(Problem::at(path, l, col, "poll_interval must be at least 100ms"));
    }
    if !(1..=MAX_THREADS).contains(&c.threads) {
        let (l, col) = locate(text, "threads");
        problems.push(Problem::at(path, l, col, format!("threads must be between 1 and {MAX_THREADS}, got {}", c.threads)));
    }
    if c.agents.is_empty() {
        if c.behaviors.is_empty() {
            let (l, col) = locate(text, "behaviors");
            problems.push(Problem::at(path, l, col, "expected at least one behavior file (paths or globs) under `behaviors:`"));
        }
        if let (true, Some(h)) = (c.sandbox, &c.agent.handle) {
            if let Err(e) = crate::wire::limits::check_handle(h) {
                let (l, col) = locate(text, "handle");
                problems.push(Problem::at(path, l, col, e.to_string()));
            }
        }
    } else {
        validate_agents(path, text, c, problems);
    }
    if let Some(t) = c.webhook.as_ref().and_then(|w| w.tls.as_ref()) {
        for (key, file) in [("cert", &t.cert), ("key", &t.key)] {
            if !file.is_file() {
                let (l, col) = locate(text, key);
                problems.push(Problem::at(path, l, col, format!("webhook TLS {key} file {} not found", file.display())));
            }
        }
    }
    if let Some(sh) = &c.shard {
        let (l, col) = locate(text, "shard");
        if sh.count == 0 {
            problems.push(Problem::at(path, l, col, "shard.count must be at least 1"));
        } else if sh.index.is_some_and(|i| i >= sh.count) {
            problems.push(Problem::at(path, l, col, format!("shard.index must be below shard.count ({})", sh.count)));
        }
        if c.agents.is_empty() && c.agent.handle.is_none() {
            problems.push(Problem::at(path, l, col, "sharding assigns agents by handle: give the agent a handle (or use `agents:`)"));
        }
    }
    if c.sandbox && c.sandbox_options.addr.parse::<std::net::SocketAddr>().is_err() {
        let (l, col) = locate(text, "addr");
        problems.push(Problem::at(path, l, col, format!("expected an address such as 127.0.0.1:0, got {:?}", c.sandbox_options.addr)));
    }
}

/// The `agents:` form: handles valid and unique, behaviors and credentials named, no single-agent keys beside it.
fn validate_agents(path: &Path, text: &str, c: &Config, problems: &mut Vec<Problem>) {
    if !c.behaviors.is_empty() {
        let (l, col) = locate(text, "behaviors");
        problems.push(Problem::at(
            path,
            l,
            col,
            "top-level `behaviors:` belongs to the single-agent form; with `agents:` give each agent its own `behaviors:`",
        ));
    }
    if c.agent != AgentOptions::default() {
        let (l, col) = locate(text, "agent");
        problems.push(Problem::at(path, l, col, "use either `agent:` (one agent) or `agents:` (several), not both"));
    }
    let mut seen = std::collections::HashSet::new();
    for a in &c.agents {
        // Located only for a problem: finding every agent's line would cost agents x lines.
        let at = |msg: String| {
            let (l, col) = locate_value(text, &format!("handle: {}", a.handle));
            Problem::at(path, l, col, format!("agent @{}: {msg}", a.handle))
        };
        if let Err(e) = crate::wire::limits::check_handle(&a.handle) {
            problems.push(at(e.to_string()));
        }
        if !seen.insert(a.handle.to_lowercase()) {
            problems.push(at("this handle is listed twice under `agents:`".into()));
        }
        if a.behaviors.is_empty() {
            problems.push(at("expected at least one behavior file (paths or globs) under its `behaviors:`".into()));
        }
        if !c.sandbox && a.credentials_file.is_none() && a.credentials_env.is_none() {
            problems
                .push(at("expected `credentials_file:` or `credentials_env:` (several agents cannot share the default variables)".into()));
        }
        if let Some(p) = &a.credentials_env {
            if p.is_empty() || !p.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_') {
                problems.push(at(format!("credentials_env must be an upper-case variable prefix such as NEWS_BOT, got {p:?}")));
            }
        }
    }
}

pub(crate) fn locate_value(text: &str, value: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.find(value) {
            return (i + 1, c + 1);
        }
    }
    (1, 1)
}
