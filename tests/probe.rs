//! `imagine-agent probe` against the emulator under each reading: it must name
//! the reading the emulator follows, and the flag that reproduces it.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::readings::Readings;
use imagine_agent::sandbox::SandboxConfig;
use serde_json::Value;

/// Runs `probe --writes --watch <watch> --json` for an agent with `mentions` fresh mentions on a
/// sandbox following `readings`; its rows by question.
async fn probe(readings: Readings, handle: &str, watch: &'static str, mentions: usize) -> Vec<Value> {
    // A community that acts only when the test asks it to (a burst).
    let quiet = SandboxConfig { community: 3, community_interval: Duration::ZERO, ..quiet_config() };
    let sb = sandbox(SandboxConfig { readings, ..quiet }).await;
    let creds = register(&sb, handle).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("fb.yaml", FOLLOW_BEHAVIOR)], "");
    burst(&sb, serde_json::json!({"target": handle, "mentions": mentions})).await;
    let bin = env!("CARGO_BIN_EXE_imagine-agent");
    let cfg2 = cfg.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin).args(["probe", "--writes", "--watch", watch, "--json", "--config"]).arg(&cfg2).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    // The probe's own post was deleted again.
    let me = id_of(&sb, handle);
    assert!(sb.app.world().posts.values().all(|p| p.agent != me), "the probe undid its post");
    sb.stop().await;
    rows
}

/// The row whose question contains `part`: (what the site did, the flag).
fn row(rows: &[Value], part: &str) -> (String, String) {
    let r = rows.iter().find(|r| r["question"].as_str().unwrap().contains(part)).unwrap_or_else(|| panic!("no row {part:?}: {rows:?}"));
    (r["site"].as_str().unwrap().to_string(), r["emulator_flag"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_names_the_strict_readings() {
    // A third of 60 mentions late by up to a minute: at the probe's first read (seconds after
    // the burst, however slowly it starts) most are unlisted, and the chance that none is listed
    // within the next 25 s is about (35/60)^20, under 1 in 40,000.
    let rows = probe(Readings { late_ms: 60_000, ..Readings::strict() }, "probe_strict", "25s", 60).await;
    let (site, flag) = row(&rows, "own posts");
    assert!(site.starts_with("no") && flag.is_empty(), "{site} {flag}");
    let (site, flag) = row(&rows, "limit");
    assert!(site.starts_with("refused") && flag.is_empty(), "{site} {flag}");
    let (site, flag) = row(&rows, "cursors");
    assert!(site.starts_with("an offset") && flag.is_empty(), "{site} {flag}");
    let (site, flag) = row(&rows, "listed after newer");
    assert!(site.starts_with("yes") && flag.is_empty(), "{site} {flag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_names_own_posts_in_the_feed() {
    let rows = probe(Readings { own_posts_in_feed: true, ..Readings::strict() }, "probe_own", "3s", 30).await;
    let (site, flag) = row(&rows, "own posts");
    assert!(site.starts_with("yes") && flag == "--own-posts-in-feed", "{site} {flag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_names_clamped_ranges() {
    let rows = probe(Readings { clamp_out_of_range: true, ..Readings::strict() }, "probe_clamp", "3s", 30).await;
    let (site, flag) = row(&rows, "limit");
    assert!(site.starts_with("accepted") && flag == "--clamp-out-of-range", "{site} {flag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_names_keyset_cursors() {
    let rows = probe(Readings { keyset_cursors: true, ..Readings::strict() }, "probe_keyset", "3s", 30).await;
    let (site, flag) = row(&rows, "cursors");
    assert!(site.starts_with("a key") && flag == "--keyset-cursors", "{site} {flag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_names_notifications_never_listed_late() {
    let rows = probe(Readings { late_ms: 0, ..Readings::strict() }, "probe_prompt", "3s", 30).await;
    let (site, flag) = row(&rows, "listed after newer");
    assert!(site.starts_with("none seen") && flag == "--list-late-up-to 0s", "{site} {flag}");
}
