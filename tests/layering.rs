//! The layers of `docs/architecture.md` and `src/lib.rs`, checked: a module
//! may name (`crate::<module>`) only the modules below it, and the engine's
//! files only those its map lists before them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const HELPERS: &[&str] = &["diagnostics", "metrics", "clock", "backoff", "sync", "progress", "private"];

/// What each top-level module may use besides the helpers. `wire` (what the
/// client and the emulator share) is a leaf both stand on.
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut m = BTreeMap::new();
    for h in HELPERS {
        m.insert(*h, vec![]);
    }
    m.insert("wire", vec![]);
    m.insert("api", vec!["wire"]);
    m.insert("store", vec!["wire"]);
    m.insert("sandbox", vec!["wire"]);
    m.insert("llm", vec!["wire", "store"]);
    m.insert("character", vec!["wire", "llm"]);
    m.insert("config", vec!["wire", "api", "llm"]);
    m.insert("behaviors", vec!["wire", "api", "store", "llm", "character", "config"]);
    m.insert("setup", vec!["wire", "api", "store", "llm", "character", "config", "behaviors"]);
    m.insert("runtime", vec!["wire", "api", "store", "llm", "character", "config", "behaviors", "setup"]);
    m.insert("cli", vec!["wire", "api", "store", "llm", "character", "config", "behaviors", "setup", "runtime", "sandbox"]);
    m.insert("main", vec!["wire", "api", "store", "llm", "character", "config", "behaviors", "setup", "runtime", "sandbox", "cli"]);
    m
}

/// (file, module it names) pairs allowed to break the layers for now: none.
/// A new crossing fails the test; an entry here that no longer occurs fails
/// too, so the list cannot rot.
const NOT_YET: &[(&str, &str)] = &[];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`src/api/list.rs` -> `api`, `src/clock.rs` -> `clock`).
fn module_of(rel: &str) -> String {
    let rest = rel.trim_start_matches("src/");
    rest.split('/').next().unwrap().trim_end_matches(".rs").to_string()
}

/// Every (file, module) pair where a file names a module its layer may not use.
fn crossings() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = vec![];
    files(&root.join("src"), &mut all);
    let allowed = allowed();
    let named = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut out = BTreeSet::new();
    for f in all {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        let me = module_of(&rel);
        if me == "lib" {
            continue;
        }
        let may = allowed.get(me.as_str()).unwrap_or_else(|| panic!("{rel}: module {me} has no layer in this test"));
        let text = code_of(&f);
        for c in named.captures_iter(&text) {
            let target = &c[1];
            if target == me || HELPERS.contains(&target) || may.contains(&target) || !allowed.contains_key(target) {
                continue;
            }
            out.insert((rel.clone(), target.to_string()));
        }
    }
    out
}

#[test]
fn modules_name_only_the_layers_below_them() {
    let found = crossings();
    let listed: BTreeSet<(String, String)> = NOT_YET.iter().map(|(f, m)| (f.to_string(), m.to_string())).collect();
    let new: Vec<_> = found.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&found).collect();
    assert!(new.is_empty(), "modules naming a layer above or beside them (see docs/architecture.md):\n{new:#?}");
    assert!(gone.is_empty(), "no longer crossing the layers: take them off NOT_YET:\n{gone:#?}");
}

/// The client mirrors the emulator: one file per resource on each side
/// (`api/endpoints/<resource>.rs` beside `sandbox/routes/<resource>.rs`); the
/// emulator's control routes have no client.
#[test]
fn each_emulator_resource_has_its_client_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let names = |dir: &str, skip: &[&str]| -> BTreeSet<String> {
        std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".rs").to_string())
            .filter(|n| !skip.contains(&n.as_str()))
            .collect()
    };
    let routes = names("sandbox/routes", &["mod", "control"]);
    let client = names("api/endpoints", &["mod"]);
    assert!(routes.len() >= 10, "{routes:?}");
    assert_eq!(routes, client, "sandbox/routes and api/endpoints name the same resources");
}

/// Code lines of a source file (comment lines, where intra-doc links live, left out).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The engine reads top to bottom: each file of `src/behaviors/engine/` uses
/// only the files its `mod.rs` lists before it (so there is no circle), and
/// the engine names neither a kind nor the registry above it.
#[test]
fn the_engine_uses_only_what_its_map_lists_before() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/behaviors/engine");
    let map = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    let doc: String = map.lines().filter(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
    let order: Vec<String> = regex::Regex::new(r"\[`([a-z_]+)`\]").unwrap().captures_iter(&doc).map(|c| c[1].to_string()).collect();
    let mut on_disk: BTreeSet<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    on_disk.remove("mod");
    let listed: BTreeSet<String> = order.iter().cloned().collect();
    assert_eq!(listed, on_disk, "engine/mod.rs's map lists every engine file once");
    assert_eq!(listed.len(), order.len(), "engine/mod.rs's map lists a file twice: {order:?}");
    let sibling = regex::Regex::new(r"(?:super|crate::behaviors::engine)::([a-z_]+)").unwrap();
    let above = regex::Regex::new(r"crate::behaviors::([a-z_]+)").unwrap();
    let mut wrong = vec![];
    for (i, me) in order.iter().enumerate() {
        let code = code_of(&dir.join(format!("{me}.rs")));
        for c in sibling.captures_iter(&code) {
            let used = &c[1];
            if used == me.as_str() || !listed.contains(used) {
                continue;
            }
            let j = order.iter().position(|o| o == used).unwrap();
            if j > i {
                wrong.push(format!("{me} uses {used}, listed after it"));
            }
        }
        for c in above.captures_iter(&code) {
            if &c[1] != "engine" {
                wrong.push(format!("{me} names crate::behaviors::{}, above the engine", &c[1]));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "the engine's files out of their order (see src/behaviors/engine/mod.rs):\n{wrong:#?}");
}
