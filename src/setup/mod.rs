//! What the daemon runs: the configuration file read together with the
//! behavior files and characters it names, checked in one pass that reports
//! every problem at once, as `file:line:column: message` ([`load`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub mod schema;

use crate::api::Budgets;
use crate::behaviors::{self, LoadedBehavior};
use crate::config::{
    interpolate, locate, locate_value, providers, validate_config, Config, CredentialSource, Problem, Problems, Substitutions,
    DEFAULT_PREFIX,
};

/// One agent the daemon runs, normalized from either configuration form.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// The configured handle: required under `agents:`; in the single form it may
    /// be left out and is then learned from the platform.
    pub handle: Option<String>,
    pub name: Option<String>,
    pub bio: Option<String>,
    pub credentials: CredentialSource,
    pub rate_limits: Budgets,
    pub dry_run: bool,
    pub behaviors: Vec<LoadedBehavior>,
    /// Who the agent is to every model call.
    pub character: Option<std::sync::Arc<crate::character::Character>>,
}

impl AgentSpec {
    /// The key reloads match agents by.
    pub fn key(&self) -> &str {
        self.handle.as_deref().unwrap_or("")
    }

    /// Whether everything but the behaviors is the same (else a reload restarts the agent).
    pub fn same_agent(&self, other: &AgentSpec) -> bool {
        (&self.handle, &self.name, &self.bio, &self.credentials, self.rate_limits, self.dry_run, &self.character)
            == (&other.handle, &other.name, &other.bio, &other.credentials, other.rate_limits, other.dry_run, &other.character)
    }
}

/// A validated configuration with its behaviors.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
    /// One per agent: the single `agent:` or each entry of `agents:`.
    pub agents: Vec<AgentSpec>,
}

impl Loaded {
    /// Every behavior of every agent.
    pub fn behaviors(&self) -> impl Iterator<Item = &LoadedBehavior> {
        self.agents.iter().flat_map(|i| i.behaviors.iter())
    }

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

/// Loads and validates the configuration and every behavior file it names.
pub fn load(path: &Path) -> Result<Loaded, Problems> {
    let mut subs = Substitutions::default();
    load_scrubbed(path, &mut subs).map_err(|mut p| {
        subs.scrub(&mut p.0);
        p
    })
}

fn load_scrubbed(path: &Path, subs: &mut Substitutions) -> Result<Loaded, Problems> {
    let mut problems = vec![];
    let text = std::fs::read_to_string(path).map_err(|e| Problems(vec![Problem::at(path, 1, 1, format!("cannot read: {e}"))]))?;
    let text = interpolate(path, &text, &mut problems, subs);
    let mut config: Config = match serde_yaml::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            problems.push(Problem::from_yaml(path, &e, 0));
            return Err(Problems(problems));
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    providers::resolve(&mut config.providers, base);
    for p in config.llm.values_mut() {
        if let Some(f) = p.api_key_file.as_mut().filter(|f| f.is_relative()) {
            *f = base.join(&*f);
        }
    }
    validate_config(path, &text, &config, &mut problems);
    providers::validate(path, &text, &config.providers, &mut problems);
    // Agents naming the same files share one parse (10,000 agents, 3 files: 3 parses, not 30,000).
    let mut parsed = Parsed::default();
    let agents: Vec<AgentSpec> = if config.agents.is_empty() {
        let a = &config.agent;
        vec![AgentSpec {
            handle: a.handle.clone(),
            name: a.name.clone(),
            bio: a.bio.clone(),
            credentials: CredentialSource { file: a.credentials_file.clone(), prefix: DEFAULT_PREFIX.into(), from_env: true },
            rate_limits: config.rate_limits,
            dry_run: config.dry_run,
            behaviors: load_behaviors(path, &text, &config, &config.behaviors, &mut problems, subs, &mut parsed),
            character: load_character(path, a.character.as_deref(), &mut problems, &mut parsed),
        }]
    } else {
        config
            .agents
            .iter()
            .map(|a| AgentSpec {
                handle: Some(a.handle.clone()),
                name: a.name.clone(),
                bio: a.bio.clone(),
                credentials: CredentialSource {
                    file: a.credentials_file.clone(),
                    prefix: a.credentials_env.clone().unwrap_or_else(|| DEFAULT_PREFIX.into()),
                    from_env: a.credentials_env.is_some(),
                },
                rate_limits: a.rate_limits.unwrap_or(config.rate_limits),
                dry_run: config.dry_run || a.dry_run,
                behaviors: load_behaviors(path, &text, &config, &a.behaviors, &mut problems, subs, &mut parsed),
                character: load_character(path, a.character.as_deref(), &mut problems, &mut parsed),
            })
            .collect()
    };
    for (name, p) in &config.llm {
        if !(p.base_url.starts_with("https://") || p.base_url.starts_with("http://")) {
            let (l, col) = locate(&text, name);
            problems.push(Problem::at(path, l, col, format!("llm profile {name}: base_url must be an http(s) URL")));
        }
        if let Err(e) = p.api_key() {
            let (l, col) = locate(&text, if p.api_key_file.is_some() && p.api_key_env.is_none() { "api_key_file" } else { "api_key_env" });
            problems.push(Problem::at(path, l, col, format!("llm profile {name}: {e}")));
        }
    }
    if problems.is_empty() {
        Ok(Loaded { path: path.to_path_buf(), config, agents })
    } else {
        problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        problems.dedup();
        Err(Problems(problems))
    }
}

/// Behavior files and characters read in one load, by path: read, parsed and
/// their problems reported once however many agents name them.
#[derive(Default)]
struct Parsed {
    behaviors: HashMap<PathBuf, Vec<LoadedBehavior>>,
    characters: HashMap<PathBuf, Option<std::sync::Arc<crate::character::Character>>>,
}

/// The behaviors of one agent: files resolved, parsed, names unique, LLM profiles known.
fn load_behaviors(
    path: &Path,
    text: &str,
    config: &Config,
    patterns: &[String],
    problems: &mut Vec<Problem>,
    subs: &mut Substitutions,
    parsed: &mut Parsed,
) -> Vec<LoadedBehavior> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut loaded = vec![];
    for f in resolve_behavior_files(path, text, base, patterns, problems) {
        if let Some(known) = parsed.behaviors.get(&f) {
            loaded.extend(known.iter().cloned());
            continue;
        }
        let these = match std::fs::read_to_string(&f) {
            Ok(t) => {
                let t = interpolate(&f, &t, problems, subs);
                behaviors::parse_file(&f, &t, problems)
            }
            Err(e) => {
                problems.push(Problem::at(&f, 1, 1, format!("cannot read: {e}")));
                vec![]
            }
        };
        loaded.extend(these.iter().cloned());
        parsed.behaviors.insert(f, these);
    }
    let mut names: HashMap<String, (PathBuf, usize)> = Default::default();
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
        for profile in b.behavior.models() {
            let sandbox_default = config.sandbox && profile == "default";
            if !sandbox_default && !config.llm.contains_key(profile) {
                problems.push(Problem::at(
                    &b.file,
                    b.line,
                    1,
                    format!(
                        "behavior {:?} uses LLM profile {:?}, which is not under `llm:` in {}",
                        b.behavior.name(),
                        profile,
                        path.display()
                    ),
                ));
            }
        }
    }
    loaded
}

/// The character at `file` (relative to the config at `config`), its problems added.
fn load_character(
    config: &Path,
    file: Option<&Path>,
    problems: &mut Vec<Problem>,
    parsed: &mut Parsed,
) -> Option<std::sync::Arc<crate::character::Character>> {
    let file = config.parent().unwrap_or(Path::new(".")).join(file?);
    if let Some(known) = parsed.characters.get(&file) {
        return known.clone();
    }
    let c = read_character(&file, problems);
    parsed.characters.insert(file, c.clone());
    c
}

fn read_character(file: &Path, problems: &mut Vec<Problem>) -> Option<std::sync::Arc<crate::character::Character>> {
    match crate::character::Character::load(file) {
        Ok(c) => Some(std::sync::Arc::new(c)),
        Err(p) => {
            problems.extend(p);
            None
        }
    }
}

fn resolve_behavior_files(cfg: &Path, text: &str, base: &Path, patterns: &[String], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut out = vec![];
    for p in patterns {
        let full = if Path::new(p).is_absolute() { PathBuf::from(p) } else { base.join(p) };
        let s = full.to_string_lossy().into_owned();
        // Located only for a problem (see validate_agents).
        let at = |msg: String| {
            let (l, col) = locate_value(text, p);
            Problem::at(cfg, l, col, msg)
        };
        if s.contains(['*', '?', '[']) {
            match glob::glob(&s) {
                Ok(paths) => {
                    let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                    found.sort();
                    if found.is_empty() {
                        problems.push(at(format!("no behavior file matches {p:?}")));
                    }
                    out.extend(found);
                }
                Err(e) => problems.push(at(format!("bad glob {p:?}: {e}"))),
            }
        } else if full.is_file() {
            out.push(full);
        } else {
            problems.push(at(format!("behavior file {p:?} not found")));
        }
    }
    out.dedup();
    out
}

impl Loaded {
    /// The agents this daemon runs: all without `shard:`, else the ones its index owns.
    pub fn this_shards_agents(&self) -> Result<Vec<AgentSpec>, String> {
        let Some(s) = &self.config.shard else { return Ok(self.agents.clone()) };
        let me = s.index()?;
        let mine: Vec<AgentSpec> = self
            .agents
            .iter()
            .filter(|a| a.handle.as_deref().is_some_and(|h| crate::config::shard::owner(h, s.count) == me))
            .cloned()
            .collect();
        tracing::info!(shard = me, count = s.count, "shard {me} of {}: running {} of {} agents", s.count, mine.len(), self.agents.len());
        Ok(mine)
    }
}
