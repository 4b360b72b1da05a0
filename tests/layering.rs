//! The layers of `docs/architecture.md`, checked: a module may name
//! (`crate::<module>`) only the modules below it. The places that do not hold
//! to the layers yet are listed one by one (file and module named); a new
//! one fails this test, and so does an entry that no longer occurs, so the
//! list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const HELPERS: &[&str] = &["diagnostics", "metrics", "clock", "backoff", "sync", "progress", "private"];

/// What each top-level module may use besides the helpers.
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut m = BTreeMap::new();
    for h in HELPERS {
        m.insert(*h, vec![]);
    }
    m.insert("api", vec![]);
    m.insert("store", vec![]);
    m.insert("llm", vec!["store"]);
    m.insert("character", vec!["llm"]);
    m.insert("config", vec!["api", "llm"]);
    m.insert("behaviors", vec!["api", "store", "llm", "character"]);
    m.insert("sandbox", vec!["api"]);
    m.insert("runtime", vec!["api", "store", "llm", "character", "behaviors", "config"]);
    m.insert("cli", vec!["api", "store", "llm", "character", "behaviors", "config", "runtime", "sandbox"]);
    m.insert("main", vec!["api", "store", "llm", "character", "behaviors", "config", "runtime", "sandbox", "cli"]);
    m
}

/// (file, module it names) pairs that break the layers today.
const NOT_YET: &[(&str, &str)] = &[
    // The reference's handle rule, read when importing state.
    ("src/store/transfer.rs", "api"),
    // The config's one validation pass reads the behavior registry and the character.
    ("src/config/mod.rs", "behaviors"),
    ("src/config/mod.rs", "character"),
    ("src/config/schema.rs", "behaviors"),
    // The emulator's model stand-in reads the untrusted-text delimiters.
    ("src/sandbox/llm.rs", "llm"),
    // The runtime starts the embedded emulator in sandbox mode; a unit test signs as it does.
    ("src/runtime/mod.rs", "sandbox"),
    ("src/runtime/agent.rs", "sandbox"),
    ("src/runtime/webhook.rs", "sandbox"),
];

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
        let text = std::fs::read_to_string(&f).unwrap();
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
