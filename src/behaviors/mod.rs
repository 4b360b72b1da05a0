//! Declarative behaviors: one file per kind, one registry ([`REGISTRY`]).
//!
//! A behavior file is YAML with one behavior per document (`---` separates
//! documents); `kind:` selects the type. Each document is parsed on its own,
//! so every broken behavior is reported, with its file, line and column.
//!
//! The kinds live in [`kinds`], one file each; what they share is the
//! [`engine`] (the context, the intent path, the inbox, writing, approval,
//! caps, schedules), which never names a kind.
//!
//! # Adding a behavior kind
//! 1. Write `src/behaviors/kinds/<kind>.rs`: a spec declared with [`kind::spec!`]
//!    (the common header comes with it), `impl Kind for Spec`, and
//!    `pub const KIND: Registration = register::<Spec>("<kind>");`.
//! 2. Add `pub mod <kind>;` to `kinds/mod.rs` and `<kind>::KIND` to [`REGISTRY`] below.
//!
//! Parsing, the `kind:` list in messages, the JSON Schema and the fuzz
//! generators all read the registry.

pub mod engine;
pub mod kind;
pub mod kinds;

pub use engine::content::check_content;
pub use engine::ctx::{Agent, Ctx};
pub use engine::effects::{Outcome, Progress, Recorded};
pub use engine::error::{BehaviorError, ErrorKind};
pub use engine::inbox::{decode_event, OnEvent};
pub use engine::recovery::Found;
pub use engine::schedule::check_schedule;

pub use kinds::{
    auto_reply, byte, dm_reply, engage, follow_back, generation_pipeline, hook, marketplace, moderation, network, profile, report,
    scheduled_post,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::diagnostics::Check;
use crate::diagnostics::{locate, Problem};
pub use kind::{Kind, Registration};

use crate::wire::types::NotificationType;

/// Every kind this version knows.
pub const REGISTRY: &[Registration] = &[
    scheduled_post::KIND,
    auto_reply::KIND,
    follow_back::KIND,
    generation_pipeline::KIND,
    profile::KIND,
    network::KIND,
    engage::KIND,
    dm_reply::KIND,
    marketplace::KIND,
    report::KIND,
    hook::KIND,
    byte::KIND,
    moderation::KIND,
];

/// The `kind:` names, in registry order.
pub fn kinds() -> Vec<&'static str> {
    REGISTRY.iter().map(|r| r.kind).collect()
}

/// A configured behavior: its kind, its parsed spec, and the YAML it came from
/// (two behaviors are the same when their kind and YAML are: a reload restarts
/// only what changed).
#[derive(Debug, Clone)]
pub struct Behavior {
    kind: &'static str,
    /// Shared: every agent naming the same file holds the same parse.
    source: Arc<serde_yaml::Value>,
    spec: Arc<dyn Kind>,
}

impl PartialEq for Behavior {
    fn eq(&self, other: &Behavior) -> bool {
        self.kind == other.kind && self.source == other.source
    }
}

impl Behavior {
    pub fn name(&self) -> &str {
        self.spec.name()
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn enabled(&self) -> bool {
        self.spec.enabled()
    }

    /// `approval:`, normalized.
    pub fn approval(&self) -> Option<engine::approval::Approval> {
        self.spec.approval().map(|a| a.approval())
    }

    /// Its turn when the budget is short: `priority:`, else its kind's default.
    pub fn priority(&self) -> crate::api::Priority {
        self.spec.priority().unwrap_or_else(|| self.spec.default_priority())
    }

    pub fn notification_types(&self) -> Vec<NotificationType> {
        self.spec.notification_types()
    }

    /// Whether it screens its events before the other behaviors see them.
    pub fn screens(&self) -> bool {
        self.spec.screens()
    }

    pub fn contents(&self) -> Vec<&engine::content::Content> {
        self.spec.contents()
    }

    /// What applying it would change now (desired-state kinds only).
    pub async fn plan(&self, session: &crate::api::Session) -> Option<Result<Vec<String>, crate::api::ApiError>> {
        match self.spec.plan(session) {
            Some(f) => Some(f.await),
            None => None,
        }
    }

    pub fn models(&self) -> Vec<&str> {
        self.spec.models()
    }

    pub fn schedule(&self) -> Option<(&str, &str)> {
        self.spec.schedule()
    }

    /// The providers it generates with, and the key naming each in its file.
    pub fn providers(&self) -> Vec<(&'static str, crate::wire::types::Provider)> {
        self.spec.providers()
    }

    pub async fn run(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        self.spec.run(ctx).await
    }
}

/// A behavior with where it was declared.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedBehavior {
    pub file: PathBuf,
    pub line: usize,
    pub behavior: Behavior,
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

/// Parses every behavior of one file, adding each problem found.
pub fn parse_file(path: &Path, text: &str, problems: &mut Vec<Problem>) -> Vec<LoadedBehavior> {
    let mut out = vec![];
    for (offset, doc) in documents(text) {
        let source: serde_yaml::Value = match serde_yaml::from_str(&doc) {
            Ok(v) => v,
            Err(e) => {
                problems.push(Problem::from_yaml(path, &e, offset));
                continue;
            }
        };
        let first_line = doc.lines().position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).unwrap_or(0) + 1 + offset;
        if !source.is_mapping() {
            problems.push(Problem::at(path, first_line, 1, "expected a behavior: a mapping with `kind:` and `name:`"));
            continue;
        }
        let Some(kind) = source.get("kind").and_then(|k| k.as_str()) else {
            problems.push(Problem::at(path, first_line, 1, format!("missing `kind:`; expected one of {}", kinds().join(", "))));
            continue;
        };
        let Some(reg) = REGISTRY.iter().find(|r| r.kind == kind) else {
            let (l, c) = locate(&doc, "kind");
            let msg = format!("unknown kind {kind:?}; expected one of {}", kinds().join(", "));
            problems.push(Problem::at(path, l + offset, c + "kind: ".len(), msg));
            continue;
        };
        match (reg.parse)(&doc) {
            Ok(mut spec) => {
                if let Some(s) = Arc::get_mut(&mut spec) {
                    s.resolve_paths(path.parent().unwrap_or(Path::new(".")));
                }
                let before = problems.len();
                spec.validate(&mut Check::new(path, &doc, offset, problems));
                if problems.len() == before {
                    let behavior = Behavior { kind: reg.kind, source: Arc::new(source), spec };
                    out.push(LoadedBehavior { file: path.to_path_buf(), line: first_line, behavior });
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
