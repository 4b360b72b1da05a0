//! Faults: injected 5xx, 429s, latency, cut connections and revoked tokens,
//! with and without SIGKILLs. The daemon never crashes, never duplicates, and
//! catches up when the faults stop. Counts come from the emulator.
//!
//! The long version is `#[ignore]`: `cargo test --release --test chaos -- --ignored`.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::runtime::{self, RunOptions};
use imagine_agent::sandbox::{Faults, SandboxConfig, SandboxHandle};
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn control(sb: &SandboxHandle, path: &str, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new().post(format!("{}{path}", sb.base_url())).json(&body).send().await.unwrap().json().await.unwrap()
}

/// (posts with no reply, posts with more than one, followers not followed back, DMs sent)
fn tally(sb: &SandboxHandle, bot: &str, posts: &[u64]) -> (usize, usize, usize, usize) {
    let w = sb.app.world();
    let per: Vec<usize> = posts.iter().map(|p| w.comments.values().filter(|c| c.agent == bot && c.post == *p).count()).collect();
    let a = &w.agents[bot];
    let missing_follows = a.followers.iter().filter(|f| !a.following.contains(*f)).count();
    let dms = w.messages.values().filter(|m| m.sender == bot).count();
    (per.iter().filter(|n| **n == 0).count(), per.iter().filter(|n| **n > 1).count(), missing_follows, dms)
}

const FAULTS: Faults =
    Faults { error_rate: 0.1, rate429: 0.05, latency_ms: 10, drop_rate: 0.1, hold_after_ms: std::collections::BTreeMap::new() };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_never_crash_duplicate_or_lose() {
    let sb = sandbox(SandboxConfig { community: 8, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "tough").await;
    let bot = sb.app.world().agent_by_handle("tough").unwrap().id.clone();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR), ("f.yaml", FOLLOW_BEHAVIOR)], "");
    control(&sb, "/sandbox/faults", serde_json::to_value(FAULTS).unwrap()).await;
    let loaded = imagine_agent::config::load(&cfg).unwrap();
    let stop = CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(runtime::run(loaded, RunOptions::default(), stop.clone(), rx));
    let mut posts = post_seqs(&burst(&sb, json!({"target": "tough", "mentions": 25, "follows": 4})).await);
    let answered = |posts: &[u64]| posts.len() - tally(&sb, &bot, posts).0;
    assert!(eventually(Duration::from_secs(30), || answered(&posts) >= 5).await, "working under faults");
    // Every token revoked while the daemon works: it signs in again and goes on.
    let grants = stats(&sb).token_grants;
    control(&sb, "/sandbox/revoke-tokens", json!({})).await;
    posts.extend(post_seqs(&burst(&sb, json!({"target": "tough", "mentions": 15, "follows": 4})).await));
    assert!(eventually(Duration::from_secs(30), || stats(&sb).token_grants > grants).await, "signed in again after the revocation");
    let done = answered(&posts);
    assert!(eventually(Duration::from_secs(30), || answered(&posts) >= done + 5).await, "still working under faults");
    control(&sb, "/sandbox/faults", json!({})).await;
    let caught_up = eventually(Duration::from_secs(60), || {
        let t = tally(&sb, &bot, &posts);
        t.0 == 0 && t.2 == 0 && t.3 == 8
    })
    .await;
    polls_later(&sb, 3).await;
    let t = tally(&sb, &bot, &posts);
    let s = stats(&sb);
    eprintln!("faults injected: {:?}; tally {t:?}", s.faults);
    assert!(!task.is_finished(), "the daemon is still running");
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(caught_up, "caught up after the faults: {t:?}");
    assert_eq!(t.1, 0, "no duplicate replies");
    assert_eq!(t.3, 8, "one welcome DM per follower");
    assert!(
        s.faults.get("5xx").copied().unwrap_or(0) > 0 && s.faults.get("drop").copied().unwrap_or(0) > 0,
        "faults were injected: {:?}",
        s.faults
    );
    sb.stop().await;
}

/// The long version: thousands of mentions and follows, faults, and SIGKILL at random moments, many times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: several minutes; run with --ignored"]
async fn soak_thousands_of_events_under_faults_and_sigkills() {
    let sb = sandbox(SandboxConfig { community: 64, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "soaked").await;
    let bot = sb.app.world().agent_by_handle("soaked").unwrap().id.clone();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR), ("f.yaml", FOLLOW_BEHAVIOR)], "");
    control(&sb, "/sandbox/faults", serde_json::to_value(Faults { latency_ms: 2, ..FAULTS }).unwrap()).await;
    let bin = env!("CARGO_BIN_EXE_imagine-agent");
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut posts = vec![];
    for round in 0..25 {
        posts.extend(post_seqs(&burst(&sb, json!({"target": "soaked", "mentions": 120, "follows": 2})).await));
        let mut child =
            KillOnDrop(std::process::Command::new(bin).args(["run", "--config"]).arg(&cfg).env("RUST_LOG", "error").spawn().unwrap());
        let (before, after) = (rng.random_range(250..2000), rng.random_range(250..2000));
        tokio::time::sleep(Duration::from_millis(before)).await;
        if round % 5 == 4 {
            // Revoked while it runs: it must sign in again mid-work.
            control(&sb, "/sandbox/revoke-tokens", json!({})).await;
        }
        tokio::time::sleep(Duration::from_millis(after)).await;
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        eprintln!("round {round}: {:?}", tally(&sb, &bot, &posts));
    }
    control(&sb, "/sandbox/faults", json!({})).await;
    let mut child =
        KillOnDrop(std::process::Command::new(bin).args(["run", "--config"]).arg(&cfg).env("RUST_LOG", "error").spawn().unwrap());
    let followers = sb.app.world().agents[&bot].followers.len();
    let ok = eventually(Duration::from_secs(600), || {
        let t = tally(&sb, &bot, &posts);
        t.0 == 0 && t.2 == 0 && t.3 == followers
    })
    .await;
    polls_later(&sb, 5).await;
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let t = tally(&sb, &bot, &posts);
    eprintln!("{} mentions, {followers} followers, final tally {t:?}", posts.len());
    assert!(ok, "{t:?}");
    assert_eq!(t.0, 0, "no mention unanswered");
    assert_eq!(t.1, 0, "no duplicates");
    assert_eq!(t.2, 0, "every follower followed back");
    assert_eq!(t.3, followers, "one welcome DM per follower");
    sb.stop().await;
}
