//! The documentation stays true to the tree: README is a front page (at most
//! 12 KB), every link and every file a page names exists, every command it
//! shows is one the binary has, its behavior example validates, and
//! `docs/reliability.md` lists exactly the tests there are.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
    out
}

#[test]
fn readme_is_a_front_page() {
    let bytes = std::fs::metadata(root().join("README.md")).unwrap().len();
    assert!(bytes <= 12 * 1024, "README.md is {bytes} bytes: keep it a front page, move the rest to docs/");
}

#[test]
fn every_link_and_every_named_file_exists() {
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").unwrap();
    let named = regex::Regex::new(r"`((?:src|tests|benches|deploy|docs|behaviors|\.ci)/[A-Za-z0-9_./@-]+)`").unwrap();
    let mut missing = vec![];
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for c in link.captures_iter(&text) {
            let target = &c[1];
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            if !dir.join(target).exists() {
                missing.push(format!("{}: link to {target}", page.display()));
            }
        }
        for c in named.captures_iter(&text) {
            let path = c[1].trim_end_matches('.');
            // A path with a placeholder (`<kind>`) or a glob names no one file.
            if path.contains('<') || path.contains('*') {
                continue;
            }
            if !root().join(path).exists() {
                missing.push(format!("{}: names {path}", page.display()));
            }
        }
    }
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
}

/// The subcommands the binary has, from its help.
fn subcommands() -> BTreeSet<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn every_command_shown_is_one_the_binary_has() {
    let known = subcommands();
    assert!(known.contains("run") && known.contains("doctor"), "{known:?}");
    let shown = regex::Regex::new(r"(?m)^\s*(?:\$ )?imagine-agent ([a-z-]+)").unwrap();
    let mut unknown = vec![];
    let mut seen = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for c in shown.captures_iter(&text) {
            seen += 1;
            if !known.contains(&c[1]) {
                unknown.push(format!("{}: imagine-agent {}", page.display(), &c[1]));
            }
        }
    }
    assert!(seen >= 10, "the pages show commands: {seen}");
    assert!(unknown.is_empty(), "commands the binary does not have:\n{}", unknown.join("\n"));
    // Each command README shows answers --help (its arguments parse).
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let used: BTreeSet<String> = shown.captures_iter(&readme).map(|c| c[1].to_string()).collect();
    for cmd in used {
        let ok = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args([&cmd, "--help"]).output().unwrap().status.success();
        assert!(ok, "imagine-agent {cmd} --help fails");
    }
}

#[test]
fn the_readmes_behavior_example_validates() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let block = regex::Regex::new(r"(?s)```yaml\n(kind: .*?)```").unwrap();
    let examples: Vec<String> = block.captures_iter(&readme).map(|c| c[1].to_string()).collect();
    assert!(!examples.is_empty(), "README shows a behavior file");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("behaviors")).unwrap();
    for (i, e) in examples.iter().enumerate() {
        std::fs::write(dir.path().join(format!("behaviors/example_{i}.yaml")), e).unwrap();
    }
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "sandbox: true\nbehaviors:\n  - behaviors/*.yaml\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(["validate", "--config"]).arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// The tests of `file`: the functions marked `#[test]` or `#[tokio::test]`.
fn tests_in(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let func = regex::Regex::new(r"^\s*(?:pub )?(?:async )?fn (\w+)\s*\(").unwrap();
    let mut out = vec![];
    for (i, l) in lines.iter().enumerate() {
        let Some(c) = func.captures(l) else { continue };
        let attrs = lines[..i].iter().rev().take_while(|a| a.trim_start().starts_with("#[") || a.trim_start().starts_with("//"));
        if attrs.into_iter().any(|a| a.trim_start().starts_with("#[test") || a.trim_start().starts_with("#[tokio::test")) {
            out.push(c[1].to_string());
        }
    }
    out
}

#[test]
fn the_reliability_page_lists_exactly_the_tests_there_are() {
    let page = std::fs::read_to_string(root().join("docs/reliability.md")).unwrap();
    let listed_re = regex::Regex::new(r"(?m)^- .*: `(\w+)`$").unwrap();
    let listed: BTreeSet<String> = listed_re.captures_iter(&page).map(|c| c[1].to_string()).collect();
    let mut there = BTreeSet::new();
    for e in std::fs::read_dir(root().join("tests")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            there.extend(tests_in(&p));
        }
    }
    assert!(there.len() > 100, "{} tests found", there.len());
    let unlisted: Vec<&String> = there.difference(&listed).collect();
    let gone: Vec<&String> = listed.difference(&there).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "docs/reliability.md is out of step (regenerate it: python3 .ci/reliability-page.py):\nnot listed: {unlisted:?}\nlisted but gone: {gone:?}"
    );
}
