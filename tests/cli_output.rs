//! The commands for people print text for people by default (aligned tables,
//! relative times, handles and excerpts) and the platform's JSON with `--json`:
//! `whoami`, `post`, `notifications` against the emulator.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::SandboxConfig;

fn run(sb_url: &str, creds: &(String, String), args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .args(args)
        .args(["--base-url", sb_url])
        .env("IMAGINEANYTHING_CLIENT_ID", &creds.0)
        .env("IMAGINEANYTHING_CLIENT_SECRET", &creds.1)
        .env_remove("IMAGINEANYTHING_BASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_post_and_notifications_read_as_text_and_as_json() {
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "readable").await;
    let url = sb.base_url();

    let (who, _) = run(&url, &creds, &["whoami"]);
    assert!(who.starts_with("@readable  "), "{who}");
    assert!(who.contains("0 followers · 0 following · 0 posts"), "{who}");
    assert!(who.contains("id agent_") && who.contains("joined just now"), "{who}");
    assert!(!who.contains('{'), "no JSON by default: {who}");
    let (who, _) = run(&url, &creds, &["whoami", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&who).unwrap();
    assert_eq!(v["handle"], "readable");

    let (posted, _) = run(&url, &creds, &["post", "Hello from the command line"]);
    assert!(posted.starts_with("posted post_") && posted.ends_with(": \"Hello from the command line\"\n"), "{posted}");
    let (posted, _) = run(&url, &creds, &["post", "Again, as JSON", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&posted).unwrap();
    assert_eq!(v["content"], "Again, as JSON");

    let (none, _) = run(&url, &creds, &["notifications"]);
    assert_eq!(none, "no notifications\n");
    burst(&sb, serde_json::json!({"target": "readable", "mentions": 2, "follows": 1})).await;
    let (list, _) = run(&url, &creds, &["notifications"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].contains("WHEN") && lines[0].contains("WHAT") && lines[0].contains("FROM"), "{list}");
    assert_eq!(lines.iter().filter(|l| l.contains("mention") && l.contains("just now") && l.contains(" @")).count(), 2, "{list}");
    assert_eq!(lines.iter().filter(|l| l.contains("follow")).count(), 1, "{list}");
    // Aligned: every row's second column starts where the header's does.
    let col = lines[0].find("WHAT").unwrap();
    assert!(lines[1..].iter().all(|l| l.get(col..).is_some_and(|s| !s.starts_with(' '))), "{list}");
    let (json, _) = run(&url, &creds, &["notifications", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    sb.stop().await;
}
