//! The command line's tools against the emulator over HTTP: `register` prints
//! working credentials, `api` makes raw calls, `webhook set` and `remove`,
//! `run --dry-run` writes nothing, `run --sandbox` runs against the built-in
//! emulator whatever `base_url` says.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(args).envs(env.iter().copied()).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_prints_credentials_that_api_and_webhook_use() {
    let sb = sandbox(quiet_config()).await;
    let url = sb.base_url();
    let out = cli(&["register", "--handle", "from_cli", "--name", "From CLI", "--base-url", &url], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Registered @from_cli"), "{stderr}");
    let field =
        |k: &str| stdout.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or_else(|| panic!("{k} in {stdout}")).to_string();
    let (id, secret) = (field("IMAGINEANYTHING_CLIENT_ID"), field("IMAGINEANYTHING_CLIENT_SECRET"));
    let me = id_of(&sb, "from_cli");
    let env = [
        ("IMAGINEANYTHING_CLIENT_ID", id.as_str()),
        ("IMAGINEANYTHING_CLIENT_SECRET", secret.as_str()),
        ("IMAGINEANYTHING_BASE_URL", url.as_str()),
    ];

    // `api`: a raw authenticated read and a write.
    let out = cli(&["api", "GET", "/api/agents/me"], &env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{:?}", text(&out)));
    assert_eq!(v.get("agent").unwrap_or(&v)["handle"], "from_cli", "the platform's JSON as it is: {v}");
    let out = cli(&["api", "POST", "/api/posts", "--data", r#"{"content": "posted raw"}"#], &env);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(sb.app.world().posts.values().any(|p| p.agent == me && p.content == "posted raw"));
    let out = cli(&["api", "GET", "/api/posts?limit=500"], &env);
    assert!(!out.status.success() && text(&out).1.contains("400"), "the platform's refusal, with its status: {:?}", text(&out));

    // `webhook set` then `webhook remove`, through a config with those credentials.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &url, &(id.clone(), secret.clone()), &[("r.yaml", REPLY_BEHAVIOR)], "");
    let c = cfg.to_str().unwrap();
    let out = cli(&["webhook", "--config", c, "set", "https://hooks.example.invalid/imagine"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(sb.app.world().agents[&me].webhook_url.as_deref(), Some("https://hooks.example.invalid/imagine"));
    let out = cli(&["webhook", "--config", c, "remove"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(sb.app.world().agents[&me].webhook_url, None, "removed on the platform");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_dry_run_reads_and_decides_but_writes_nothing() {
    let sb = sandbox(imagine_agent::sandbox::SandboxConfig { community: 3, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "rehearsal").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], "");
    let log = dir.path().join("run.log");
    let _d = spawn_logged_args(&cfg, &log, &["--dry-run"]);
    let posts = post_seqs(&burst(&sb, serde_json::json!({"target": "rehearsal", "mentions": 3})).await);
    let said = || std::fs::read_to_string(&log).unwrap_or_default().matches("dry run: would reply").count();
    assert!(
        eventually(Duration::from_secs(30), || said() >= posts.len()).await,
        "each mention decided:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    polls_later(&sb, 3).await;
    let is_write = |r: &str| !r.starts_with("GET ") && r.contains(" /api/") && !r.contains("/api/auth/");
    let writes: u64 = stats(&sb).received.iter().filter(|(r, _)| is_write(r)).map(|(_, n)| n).sum();
    assert_eq!(writes, 0, "no write: {:?}", stats(&sb).received);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sandbox_runs_against_the_built_in_emulator_whatever_base_url_says() {
    let dir = tempfile::tempdir().unwrap();
    // A base_url where nothing answers, and no credentials: `--sandbox` needs neither.
    std::fs::create_dir_all(dir.path().join("behaviors")).unwrap();
    std::fs::write(dir.path().join("behaviors/r.yaml"), REPLY_BEHAVIOR).unwrap();
    let cfg = dir.path().join("config.yaml");
    let state = dir.path().join("state");
    std::fs::write(
        &cfg,
        format!("base_url: http://127.0.0.1:9\nagent:\n  handle: sandboxed\nstate_dir: {}\nbehaviors:\n  - behaviors/*.yaml\nmetrics_addr: 127.0.0.1:0\nsandbox_options:\n  addr: 127.0.0.1:0\n", state.display()),
    )
    .unwrap();
    let log = dir.path().join("run.log");
    let _d = spawn_logged_args(&cfg, &log, &["--sandbox"]);
    let port = bound_port(&state, "metrics").await;
    assert!(eventually_async(Duration::from_secs(30), || async { metric(port, "imagine_agent_up", &[]).await == Some(1) }).await);
    let running = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(eventually(Duration::from_secs(30), || running().contains("SANDBOX MODE")).await, "{}", running());
}
