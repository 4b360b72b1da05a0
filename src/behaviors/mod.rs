//! Declarative behaviors: one file per kind, one registry (this module).
//!
//! A behavior file is YAML with one behavior per document (`---` separates
//! documents); `kind:` selects the type. Each document is parsed on its own,
//! so every broken behavior is reported, with its file, line and column.

pub mod auto_reply;
pub mod content;
pub mod follow_back;
pub mod generation_pipeline;
pub mod schedule;
pub mod scheduled_post;

use std::path::{Path, PathBuf};

use crate::api::types::NotificationType;
use crate::config::{locate, Problem};
use crate::runtime::context::{BehaviorError, Ctx};

/// Every kind this version knows, as written in `kind:`.
pub const KINDS: &[&str] = &["scheduled_post", "auto_reply", "follow_back", "generation_pipeline"];

/// A configured behavior.
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    ScheduledPost(Box<scheduled_post::Spec>),
    AutoReply(Box<auto_reply::Spec>),
    FollowBack(Box<follow_back::Spec>),
    GenerationPipeline(Box<generation_pipeline::Spec>),
}

impl Behavior {
    pub fn name(&self) -> &str {
        match self {
            Behavior::ScheduledPost(s) => &s.name,
            Behavior::AutoReply(s) => &s.name,
            Behavior::FollowBack(s) => &s.name,
            Behavior::GenerationPipeline(s) => &s.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Behavior::ScheduledPost(_) => "scheduled_post",
            Behavior::AutoReply(_) => "auto_reply",
            Behavior::FollowBack(_) => "follow_back",
            Behavior::GenerationPipeline(_) => "generation_pipeline",
        }
    }

    pub fn enabled(&self) -> bool {
        match self {
            Behavior::ScheduledPost(s) => s.enabled,
            Behavior::AutoReply(s) => s.enabled,
            Behavior::FollowBack(s) => s.enabled,
            Behavior::GenerationPipeline(s) => s.enabled,
        }
    }

    /// The notification types this behavior reacts to (none for scheduled kinds).
    pub fn interests(&self) -> Vec<NotificationType> {
        match self {
            Behavior::AutoReply(s) => s.on.clone(),
            Behavior::FollowBack(_) => vec![NotificationType::Follow],
            _ => vec![],
        }
    }

    /// Every text source of the behavior (to check LLM profiles).
    pub fn contents(&self) -> Vec<&content::Content> {
        match self {
            Behavior::ScheduledPost(s) => vec![&s.content],
            Behavior::AutoReply(s) => vec![&s.content],
            Behavior::FollowBack(s) => s.welcome_dm.iter().collect(),
            Behavior::GenerationPipeline(s) => std::iter::once(&s.prompt).chain(s.caption.iter()).collect(),
        }
    }

    fn validate(&self, c: &mut Check<'_>) {
        match self {
            Behavior::ScheduledPost(s) => s.validate(c),
            Behavior::AutoReply(s) => s.validate(c),
            Behavior::FollowBack(s) => s.validate(c),
            Behavior::GenerationPipeline(s) => s.validate(c),
        }
    }

    /// Runs until cancelled (or an error the supervisor restarts it after).
    pub async fn run(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        match self {
            Behavior::ScheduledPost(s) => s.run(ctx).await,
            Behavior::AutoReply(s) => s.run(ctx).await,
            Behavior::FollowBack(s) => s.run(ctx).await,
            Behavior::GenerationPipeline(s) => s.run(ctx).await,
        }
    }
}

/// A behavior with where it was declared.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedBehavior {
    pub file: PathBuf,
    pub line: usize,
    pub behavior: Behavior,
}

/// Collects semantic problems of one document, located by key.
pub struct Check<'a> {
    file: &'a Path,
    doc: &'a str,
    offset: usize,
    problems: &'a mut Vec<Problem>,
}

impl Check<'_> {
    pub fn problem(&mut self, key: &str, msg: impl Into<String>) {
        let (l, c) = locate(self.doc, key);
        self.problems.push(Problem::at(self.file, l + self.offset, c, msg));
    }

    /// A problem inside a multi-line value starting at `key` (e.g. a template's line).
    pub fn problem_within(&mut self, key: &str, inner_line: usize, msg: impl Into<String>) {
        let (l, c) = locate(self.doc, key);
        let block = self.doc.lines().nth(l - 1).is_some_and(|s| s.trim_end().ends_with('|') || s.trim_end().ends_with('>'));
        let line = if block { l + inner_line } else { l };
        self.problems.push(Problem::at(self.file, line + self.offset, c, msg));
    }

    pub fn name(&mut self, name: &str) {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            self.problem("name", format!("name must be non-empty letters, digits, '-' or '_', got {name:?}"));
        }
    }

    pub fn content(&mut self, key: &str, c: &content::Content) {
        if let Err((line, msg)) = c.check() {
            // Point at the source that is wrong (the template's own key), else at `key`.
            let inner = ["template", "list", "text"]
                .into_iter()
                .find(|k| msg.starts_with("template") && *k == "template" || (line > 1 && *k == "list"));
            match inner {
                Some(k) if crate::config::locate(self.doc, k).0 > crate::config::locate(self.doc, key).0 => {
                    self.problem_within(k, line, msg)
                }
                _ => self.problem_within(key, line, msg),
            }
        }
    }

    pub fn schedule(&mut self, expr: &str, tz: &str) {
        if let Err(e) = schedule::Schedule::parse(expr, tz) {
            let key = if e.contains("time zone") { "timezone" } else { "schedule" };
            self.problem(key, e);
        }
    }

    pub fn regex(&mut self, key: &str, r: &str) {
        if let Err(e) = regex::Regex::new(r) {
            let msg = e.to_string().lines().last().unwrap_or_default().trim().to_string();
            self.problem(key, format!("invalid regex {r:?}: {msg}"));
        }
    }
}

/// Splits a YAML stream into documents: (line offset, text).
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = vec![];
    let mut cur = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 1;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs.into_iter().filter(|(_, d)| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))).collect()
}

fn parse_as<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, serde_yaml::Error> {
    serde_yaml::from_str(doc)
}

/// Parses every behavior of one file, adding each problem found.
pub fn parse_file(path: &Path, text: &str, problems: &mut Vec<Problem>) -> Vec<LoadedBehavior> {
    let mut out = vec![];
    for (offset, doc) in documents(text) {
        let head: serde_yaml::Value = match serde_yaml::from_str(&doc) {
            Ok(v) => v,
            Err(e) => {
                problems.push(Problem::from_yaml(path, &e, offset));
                continue;
            }
        };
        let first_line = doc.lines().position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).unwrap_or(0) + 1 + offset;
        if !head.is_mapping() {
            problems.push(Problem::at(path, first_line, 1, "expected a behavior: a mapping with `kind:` and `name:`"));
            continue;
        }
        let kind = match head.get("kind").and_then(|k| k.as_str()) {
            Some(k) => k.to_string(),
            None => {
                problems.push(Problem::at(path, first_line, 1, format!("missing `kind:`; expected one of {}", KINDS.join(", "))));
                continue;
            }
        };
        let parsed = match kind.as_str() {
            "scheduled_post" => parse_as(&doc).map(|s| Behavior::ScheduledPost(Box::new(s))),
            "auto_reply" => parse_as(&doc).map(|s| Behavior::AutoReply(Box::new(s))),
            "follow_back" => parse_as(&doc).map(|s| Behavior::FollowBack(Box::new(s))),
            "generation_pipeline" => parse_as(&doc).map(|s| Behavior::GenerationPipeline(Box::new(s))),
            other => {
                let (l, c) = locate(&doc, "kind");
                problems.push(Problem::at(
                    path,
                    l + offset,
                    c + "kind: ".len(),
                    format!("unknown kind {other:?}; expected one of {}", KINDS.join(", ")),
                ));
                continue;
            }
        };
        match parsed {
            Ok(b) => {
                let before = problems.len();
                b.validate(&mut Check { file: path, doc: &doc, offset, problems });
                if problems.len() == before {
                    out.push(LoadedBehavior { file: path.to_path_buf(), line: first_line, behavior: b });
                }
            }
            Err(e) => problems.push(Problem::from_yaml(path, &e, offset)),
        }
    }
    out
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn utc() -> String {
    "UTC".into()
}
