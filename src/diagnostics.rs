//! Problems in the configuration and behavior files, each with its file, line
//! and column, collected all at once (never just the first): what `validate`
//! prints and what a rejected reload logs; and the JSON Schema of a duration
//! as files write it. Shared by `config`, `behaviors` and `llm`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use schemars::{JsonSchema, Schema, SchemaGenerator};

/// One thing wrong, where it is.
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

/// Where `path` (`key`, or `parent.key` for a key nested under `parent:`) is
/// written in a YAML text: (line, column), 1-based; (1, 1) when it is not.
pub fn locate(text: &str, path: &str) -> (usize, usize) {
    let lines = text.lines().enumerate();
    let mut within: Option<usize> = None; // the indentation of the parent found so far
    let parts: Vec<&str> = path.split('.').collect();
    let mut depth = 0;
    for (i, line) in lines {
        let t = line.trim_start().trim_start_matches("- ");
        let indent = line.len() - t.len();
        if let Some(p) = within {
            if !t.is_empty() && !t.starts_with('#') && indent <= p {
                return (1, 1); // left the parent's block without finding the key
            }
        }
        if t.starts_with(&format!("{}:", parts[depth])) && within.is_none_or(|p| indent > p) {
            if depth + 1 == parts.len() {
                return (i + 1, indent + 1);
            }
            within = Some(indent);
            depth += 1;
        }
    }
    (1, 1)
}

/// Collects the semantic problems of one document, located by key.
pub struct Check<'a> {
    file: &'a Path,
    doc: &'a str,
    offset: usize,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Check<'a> {
    /// For the document `doc` of `file`, which starts `offset` lines into the file.
    pub fn new(file: &'a Path, doc: &'a str, offset: usize, problems: &'a mut Vec<Problem>) -> Check<'a> {
        Check { file, doc, offset, problems }
    }

    /// Where `key` is, in the document (for comparisons between keys).
    pub fn line_of(&self, key: &str) -> usize {
        locate(self.doc, key).0
    }

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

    pub fn regex(&mut self, key: &str, r: &str) {
        if let Err(e) = regex::Regex::new(r) {
            let msg = e.to_string().lines().last().unwrap_or_default().trim().to_string();
            self.problem(key, format!("invalid regex {r:?}: {msg}"));
        }
    }
}

/// A duration as humantime reads it (`30s`, `5m`, `1h 30m`, `250ms`).
pub struct HumanDuration;

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1h 30m.",
            "pattern": "^\\s*([0-9]+\\s*[a-zA-Zµ]+\\s*)+$",
            "examples": ["30s", "5m", "1h 30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_finds_the_key_under_its_parent_not_the_first_of_its_name() {
        let doc = "name: a\nfilters:\n  regex: x\nguardrails:\n  max_per_hour: 3\ncontent:\n  llm:\n    prompt: p\n";
        assert_eq!(locate(doc, "max_per_hour"), (5, 3));
        assert_eq!(locate(doc, "guardrails.max_per_hour"), (5, 3));
        assert_eq!(locate(doc, "content.llm.prompt"), (8, 5));
        assert_eq!(locate(doc, "filters.max_per_hour"), (1, 1), "not under filters");
        let twice = "a:\n  name: inner\nname: outer\n";
        assert_eq!(locate(twice, "name"), (2, 3), "a bare key is the first anywhere");
        assert_eq!(locate("- kind: x\n", "kind"), (1, 3));
    }
}
