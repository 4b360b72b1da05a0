//! The daemon's configuration: loading, `${VAR}` interpolation, and one
//! validation pass that reports every problem as `file:line:column: message`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::api::Budgets;
use crate::behaviors::{self, LoadedBehavior};

/// One thing wrong with the configuration, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
    }
}

/// All the problems found in one validation pass.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} problem(s) in the configuration:\n{}", .0.len(), .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct Problems(pub Vec<Problem>);

impl Problem {
    pub fn at(file: &Path, line: usize, column: usize, message: impl Into<String>) -> Problem {
        Problem { file: file.to_path_buf(), line: line.max(1), column: column.max(1), message: message.into() }
    }

    /// From a serde_yaml error, shifted by `line_offset` lines.
    pub fn from_yaml(file: &Path, e: &serde_yaml::Error, line_offset: usize) -> Problem {
        let (line, col) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        let msg = e.to_string();
        // serde_yaml appends " at line X column Y"; the prefix already says where.
        let msg = match msg.find(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        Problem::at(file, line + line_offset, col, msg)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The in-process emulator's settings (`sandbox: true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxOptions {
    /// Simulated agents that post, mention, follow and reply.
    pub community: usize,
    pub seed: u64,
    #[serde(with = "humantime_serde")]
    pub community_interval: Duration,
    #[serde(with = "humantime_serde")]
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

/// Who the daemon acts as.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentOptions {
    /// In sandbox mode: the handle to register (or reuse).
    pub handle: Option<String>,
    pub name: Option<String>,
    pub bio: Option<String>,
    /// A file with `IMAGINEANYTHING_CLIENT_ID=...` / `IMAGINEANYTHING_CLIENT_SECRET=...` lines
    /// (systemd EnvironmentFile format). The environment variables win when set.
    pub credentials_file: Option<PathBuf>,
}

/// `webhook:` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookOptions {
    /// Where to listen, e.g. `127.0.0.1:8787` behind a TLS-terminating reverse proxy.
    pub listen: std::net::SocketAddr,
    #[serde(default = "default_webhook_path")]
    pub path: String,
    /// Deliveries older (or newer) than this are rejected as stale.
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// A file holding the secret; default: the one `imagine-agent webhook set` stored in the state directory.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

fn default_webhook_path() -> String {
    "/imagine-agent/webhook".into()
}
fn default_max_age() -> Duration {
    Duration::from_secs(300)
}

/// The daemon's configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Run against an in-process emulator instead of the real platform.
    #[serde(default)]
    pub sandbox: bool,
    #[serde(default)]
    pub sandbox_options: SandboxOptions,
    #[serde(default)]
    pub agent: AgentOptions,
    /// Where sled keeps state; `$STATE_DIRECTORY` (systemd) or `./state` when unset.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Behavior files: paths or globs, relative to this file.
    #[serde(default)]
    pub behaviors: Vec<String>,
    #[serde(default = "default_poll", with = "humantime_serde")]
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
    /// How long to wait for in-flight work on shutdown.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
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

/// A validated configuration with its behaviors.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
    pub behaviors: Vec<LoadedBehavior>,
}

impl Loaded {
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.config.state_dir {
            return d.clone();
        }
        match std::env::var_os("STATE_DIRECTORY") {
            // systemd may pass several, separated by ':'; the first is ours.
            Some(v) => PathBuf::from(v.to_string_lossy().split(':').next().unwrap_or("state")),
            None => PathBuf::from("state"),
        }
    }
}

/// Replaces `${VAR}` with the environment's value; unknown variables are problems.
pub fn interpolate(file: &Path, text: &str, problems: &mut Vec<Problem>) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        let mut col = 1;
        while let Some(start) = rest.find("${") {
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            out.push_str(&rest[..start]);
            let trimmed_comment = rest[..start].contains('#');
            match std::env::var(name) {
                Ok(v) => out.push_str(&v),
                Err(_) if trimmed_comment => out.push_str(&rest[start..start + end + 1]),
                Err(_) => problems.push(Problem::at(file, i + 1, col + start, format!("environment variable {name} is not set"))),
            }
            col += start + end + 1;
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// Loads and validates the configuration and every behavior file it names.
pub fn load(path: &Path) -> Result<Loaded, Problems> {
    let mut problems = vec![];
    let text = std::fs::read_to_string(path).map_err(|e| Problems(vec![Problem::at(path, 1, 1, format!("cannot read: {e}"))]))?;
    let text = interpolate(path, &text, &mut problems);
    let config: Config = match serde_yaml::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem::from_yaml(path, &e, 0));
            return Err(Problems(problems));
        }
    };
    validate_config(path, &text, &config, &mut problems);
    let base = path.parent().unwrap_or(Path::new("."));
    let files = resolve_behavior_files(path, &text, base, &config.behaviors, &mut problems);
    let mut loaded = vec![];
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => {
                let t = interpolate(&f, &t, &mut problems);
                loaded.extend(behaviors::parse_file(&f, &t, &mut problems));
            }
            Err(e) => problems.push(Problem::at(&f, 1, 1, format!("cannot read: {e}"))),
        }
    }
    let mut names: std::collections::HashMap<String, (PathBuf, usize)> = Default::default();
    for b in &loaded {
        if let Some((f, l)) = names.get(b.behavior.name()) {
            problems.push(Problem::at(
                &b.file,
                b.line,
                1,
                format!("behavior name {:?} is already used at {}:{}", b.behavior.name(), f.display(), l),
            ));
        } else {
            names.insert(b.behavior.name().to_string(), (b.file.clone(), b.line));
        }
    }
    for b in &loaded {
        for c in b.behavior.contents() {
            if let Some(l) = &c.llm {
                let sandbox_default = config.sandbox && l.profile == "default";
                if !sandbox_default && !config.llm.contains_key(&l.profile) {
                    problems.push(Problem::at(
                        &b.file,
                        b.line,
                        1,
                        format!(
                            "behavior {:?} uses LLM profile {:?}, which is not under `llm:` in {}",
                            b.behavior.name(),
                            l.profile,
                            path.display()
                        ),
                    ));
                }
            }
        }
    }
    for (name, p) in &config.llm {
        if !(p.base_url.starts_with("https://") || p.base_url.starts_with("http://")) {
            let (l, col) = locate(&text, name);
            problems.push(Problem::at(path, l, col, format!("llm profile {name}: base_url must be an http(s) URL")));
        }
        if let Some(var) = &p.api_key_env {
            if std::env::var(var).is_err() {
                let (l, col) = locate(&text, "api_key_env");
                problems.push(Problem::at(path, l, col, format!("llm profile {name}: environment variable {var} is not set")));
            }
        }
    }
    if problems.is_empty() {
        Ok(Loaded { path: path.to_path_buf(), config, behaviors: loaded })
    } else {
        problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        problems.dedup();
        Err(Problems(problems))
    }
}

/// The line and column of the first `key:` in `text` (1-based), for semantic problems.
pub fn locate(text: &str, key: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start().trim_start_matches("- ");
        if t.starts_with(&format!("{key}:")) {
            return (i + 1, line.len() - t.len() + 1);
        }
    }
    (1, 1)
}

fn validate_config(path: &Path, text: &str, c: &Config, problems: &mut Vec<Problem>) {
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
    if c.behaviors.is_empty() {
        let (l, col) = locate(text, "behaviors");
        problems.push(Problem::at(path, l, col, "expected at least one behavior file (paths or globs) under `behaviors:`"));
    }
    if c.sandbox {
        if let Some(h) = &c.agent.handle {
            if let Err(e) = crate::api::limits::check_handle(h) {
                let (l, col) = locate(text, "handle");
                problems.push(Problem::at(path, l, col, e.to_string()));
            }
        }
        if c.sandbox_options.addr.parse::<std::net::SocketAddr>().is_err() {
            let (l, col) = locate(text, "addr");
            problems.push(Problem::at(path, l, col, format!("expected an address such as 127.0.0.1:0, got {:?}", c.sandbox_options.addr)));
        }
    }
}

fn resolve_behavior_files(cfg: &Path, text: &str, base: &Path, patterns: &[String], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut out = vec![];
    for p in patterns {
        let full = if Path::new(p).is_absolute() { PathBuf::from(p) } else { base.join(p) };
        let s = full.to_string_lossy().into_owned();
        let (l, col) = locate_value(text, p);
        if s.contains(['*', '?', '[']) {
            match glob::glob(&s) {
                Ok(paths) => {
                    let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                    found.sort();
                    if found.is_empty() {
                        problems.push(Problem::at(cfg, l, col, format!("no behavior file matches {p:?}")));
                    }
                    out.extend(found);
                }
                Err(e) => problems.push(Problem::at(cfg, l, col, format!("bad glob {p:?}: {e}"))),
            }
        } else if full.is_file() {
            out.push(full);
        } else {
            problems.push(Problem::at(cfg, l, col, format!("behavior file {p:?} not found")));
        }
    }
    out.dedup();
    out
}

fn locate_value(text: &str, value: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.find(value) {
            return (i + 1, c + 1);
        }
    }
    (1, 1)
}
