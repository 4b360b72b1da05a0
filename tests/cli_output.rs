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
    all_listed(&sb).await;
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

#[test]
fn validate_and_schedule_read_as_text_and_as_json() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run =
        |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(args).current_dir(root).output().unwrap();
    let ok = run(&["validate", "--config", "config.example.yaml", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!((v["ok"].as_bool(), v["agents"].as_u64()), (Some(true), Some(1)));
    assert!(v["behaviors"].as_u64().unwrap() >= 9);
    let bad = run(&["validate", "--config", "tests/fixtures/broken/config.yaml", "--json"]);
    assert!(!bad.status.success());
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    let text = String::from_utf8_lossy(&run(&["validate", "--config", "tests/fixtures/broken/config.yaml"]).stdout).into_owned();
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), text.lines().count(), "the same problems as the text: {text}");
    assert!(problems.iter().all(|p| p["line"].as_u64().unwrap() >= 1 && p["message"].is_string()));
    let sched = run(&["schedule", "--config", "config.example.yaml", "--count", "2", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&sched.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert!(rows.iter().any(|r| r["kind"] == "scheduled_post" && r["next"].as_array().unwrap().len() == 2), "{v}");
    let human = String::from_utf8_lossy(&run(&["schedule", "--config", "config.example.yaml", "--count", "2"]).stdout).into_owned();
    assert!(human.contains("(scheduled_post, ") && human.lines().filter(|l| l.starts_with("  20")).count() == 2 * rows.len(), "{human}");
}
