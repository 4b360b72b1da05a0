//! Secrets never reach logs (even at trace level) or the state store.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::SandboxConfig;

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_trace_logs_or_state() {
    let sb =
        sandbox(SandboxConfig { community: 3, community_interval: Duration::ZERO, token_ttl: Duration::from_secs(2), ..quiet_config() })
            .await;
    let creds = register(&sb, "discreet").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR), ("f.yaml", FOLLOW_BEHAVIOR)], "");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    reqwest::Client::new()
        .post(format!("{}/sandbox/community/burst", sb.base_url()))
        .json(&serde_json::json!({"target": "discreet", "mentions": 2, "follows": 1}))
        .send()
        .await
        .unwrap();
    // Long enough for a token refresh (2 s tokens) and the work.
    tokio::time::sleep(Duration::from_secs(4)).await;
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let logs = [out.stdout, out.stderr].concat();
    assert!(contains(&logs, "replied to @"), "the daemon worked: {}", String::from_utf8_lossy(&logs[logs.len().saturating_sub(2000)..]));
    assert!(!contains(&logs, &creds.1), "the client secret is not logged");
    // Written for people (a verb, who, what) with the structured fields kept; no colour codes off a terminal.
    assert!(contains(&logs, "followed @") && contains(&logs, "sent DM to @"), "action lines with verbs");
    assert!(contains(&logs, "kind=\"reply\"") || contains(&logs, "kind=reply"), "structured fields kept");
    assert!(!contains(&logs, "\x1b["), "no ANSI colour codes in a pipe");
    let tokens: Vec<String> = {
        let w = sb.app.world();
        w.tokens.keys().chain(w.refresh_tokens.keys()).cloned().collect()
    };
    assert!(!tokens.is_empty());
    for t in &tokens {
        assert!(!contains(&logs, t), "token {}… is not logged", &t[..8]);
    }
    assert!(!contains(&logs, "iat_") && !contains(&logs, "iar_"), "no token of any kind in the logs");
    for entry in walk(&dir.path().join("state/sled")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(!contains(&bytes, &creds.1), "secret in {}", entry.display());
        assert!(!contains(&bytes, "iat_") && !contains(&bytes, "iar_"), "token in {}", entry.display());
    }
    sb.stop().await;
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
