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
    let mut child = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "trace")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Both pipes drained on threads (trace output would fill them and block the daemon).
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = vec![];
            r.read_to_end(&mut v).unwrap();
            v
        })
    };
    let (out, err) = (drain(Box::new(child.0.stdout.take().unwrap())), drain(Box::new(child.0.stderr.take().unwrap())));
    assert!(eventually(Duration::from_secs(20), || served(&sb, "GET /api/notifications", 200) >= 1).await, "polling");
    let b = burst(&sb, serde_json::json!({"target": "discreet", "mentions": 2, "follows": 1})).await;
    let posts = post_seqs(&b);
    let bot = id_of(&sb, "discreet");
    // The work done, and a token refresh (2 s tokens) in the logs too.
    let worked = || {
        let w = sb.app.world();
        posts.iter().all(|p| w.comments.values().any(|c| c.agent == bot && c.post == *p)) && w.messages.values().any(|m| m.sender == bot)
    };
    assert!(eventually(Duration::from_secs(20), worked).await, "the daemon worked");
    assert!(eventually(Duration::from_secs(20), || stats(&sb).token_grants >= 2).await, "a token was refreshed");
    std::process::Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    exited(&mut child.0, Duration::from_secs(15)).await;
    let logs = [out.join().unwrap(), err.join().unwrap()].concat();
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
