//! A character's knowledge: facts, and Markdown or text files (or
//! directories of them) split into passages, retrieved per prompt by BM25
//! (the `bm25` crate: stemming and stop words). Passages reach the model as
//! reference data, delimited, within [`BUDGET`] characters.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bm25::{Language, SearchEngine, SearchEngineBuilder};

use super::KnowledgeItem;

/// Characters of passages one prompt may carry.
pub const BUDGET: usize = 1500;
/// A passage is about this long at most (paragraphs are joined up to it).
const PASSAGE_CHARS: usize = 600;
/// Passages retrieved per prompt at most.
const TOP: usize = 3;

/// The passages and their index.
#[derive(Clone)]
pub struct Knowledge {
    passages: Vec<String>,
    engine: Arc<SearchEngine<u32>>,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge").field("passages", &self.passages.len()).finish()
    }
}

impl PartialEq for Knowledge {
    fn eq(&self, other: &Knowledge) -> bool {
        self.passages == other.passages
    }
}

/// Splits a document into passages: paragraphs (blank lines, headings) joined up to [`PASSAGE_CHARS`].
fn passages_of(text: &str, out: &mut Vec<String>) {
    let mut cur = String::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let starts_section = para.starts_with('#');
        if !cur.is_empty() && (starts_section || cur.chars().count() + para.chars().count() > PASSAGE_CHARS) {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push('\n');
        }
        cur.push_str(&para.chars().take(PASSAGE_CHARS * 2).collect::<String>());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
}

fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "md" | "markdown" | "txt")))
        .collect();
    files.sort();
    Ok(files)
}

impl Knowledge {
    /// Reads every item (paths relative to `base`); None when there is nothing to know.
    pub fn load(items: &[KnowledgeItem], base: &Path) -> std::io::Result<Option<Knowledge>> {
        let mut passages = vec![];
        for item in items {
            match item {
                KnowledgeItem::Fact(f) => passages.push(f.clone()),
                KnowledgeItem::Path { path } => passages_of(&std::fs::read_to_string(base.join(path))?, &mut passages),
                KnowledgeItem::Directory { directory } => {
                    for f in files_in(&base.join(directory))? {
                        passages_of(&std::fs::read_to_string(f)?, &mut passages);
                    }
                }
            }
        }
        if passages.is_empty() {
            return Ok(None);
        }
        let engine = SearchEngineBuilder::<u32>::with_corpus(Language::English, passages.clone()).build();
        Ok(Some(Knowledge { passages, engine: Arc::new(engine) }))
    }

    pub fn len(&self) -> usize {
        self.passages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// The passages most relevant to `query`, best first, within [`BUDGET`].
    pub fn retrieve(&self, query: &str) -> Vec<&str> {
        let mut out = vec![];
        let mut used = 0;
        for r in self.engine.search(query, TOP) {
            if r.score <= 0.0 {
                continue;
            }
            let Some(p) = self.passages.get(r.document.id as usize) else { continue };
            if used + p.chars().count() > BUDGET {
                continue;
            }
            used += p.chars().count();
            out.push(p.as_str());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passage_about_the_question_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("notes.md"),
            "# Lighthouses\n\nThe Ushant lighthouse runs a controller written in Rust.\n\n# Cooking\n\nBread needs flour, water, salt and time.",
        )
        .unwrap();
        let items = [KnowledgeItem::Path { path: "notes.md".into() }, KnowledgeItem::Fact("Rust 1.0 shipped in 2015.".into())];
        let k = Knowledge::load(&items, dir.path()).unwrap().unwrap();
        assert_eq!(k.len(), 3);
        let got = k.retrieve("which controller does the lighthouse run?");
        assert!(got.first().is_some_and(|p| p.contains("Ushant")), "{got:?}");
        assert!(!got.iter().any(|p| p.contains("Bread")), "{got:?}");
        assert!(k.retrieve("zzz qqq").is_empty());
    }
}
