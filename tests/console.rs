//! The web console in a real browser (headless Chromium over WebDriver): the
//! page shows an action the daemon just took (a follow-back, in words) and a
//! draft waiting for approval; clicking Approve sends it, and the emulator
//! sees the reply exactly once. A screenshot is kept as a test artifact
//! (`$CARGO_TARGET_TMPDIR/console.png`; with `UPDATE_DOCS=1` also `docs/console.png`).
//! Needs `chromium` and `chromium-driver` (Debian); `.ci/run` installs them.
//! Without them the test fails in CI and says so elsewhere.
//! Also over plain HTTP: a form without the page's CSRF token is refused, and a
//! console on a non-loopback address does not start without a token.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};

fn pending(cfg: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .args(["drafts", "list", "--json", "--config"])
        .arg(cfg)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .map(|a| a.iter().filter(|r| r["draft"]["status"] == "pending").map(|r| r["draft"]["id"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

const BEHAVIORS: &[(&str, &str)] = &[
    ("r.yaml", "kind: auto_reply\nname: replies\napproval: required\ncontent:\n  template: \"Thanks @{{ author }}, noted!\"\n"),
    ("f.yaml", "kind: follow_back\nname: follow-back\n"),
];

fn chromedriver() -> Option<std::path::PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].iter().map(std::path::PathBuf::from).find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_approved_by_clicking_in_a_real_browser_and_sent_once() {
    let Some(driver) = chromedriver() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium and chromium-driver (see .ci/run)");
        skipped("a_draft_is_approved_by_clicking_in_a_real_browser", "no chromedriver here (apt-get install chromium chromium-driver)");
        return;
    };
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "console_bot").await;
    let me = id_of(&sb, "console_bot");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, BEHAVIORS, "console_addr: 127.0.0.1:0\n");
    let _d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "console").await;
    polls_later(&sb, 1).await;
    burst(&sb, serde_json::json!({"target": "console_bot", "mentions": 1, "follows": 1})).await;
    assert!(eventually(Duration::from_secs(20), || pending(&cfg).len() == 1).await, "a draft");
    let follows = |sb: &SandboxHandle| sb.query().following(&me).len();
    assert!(eventually(Duration::from_secs(20), || follows(&sb) == 1).await, "a follow-back");
    let id = pending(&cfg)[0].clone();

    let wd_port = free_port();
    let mut wd = KillOnDrop(
        std::process::Command::new(&driver)
            .arg(format!("--port={wd_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=420,900"]}),
    );
    let mut client = None;
    for _ in 0..100 {
        // Plain HTTP to a local chromedriver: no TLS stack needed.
        match fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{wd_port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let c = client.expect("chromedriver answers");
    let url = format!("http://127.0.0.1:{port}/");
    c.goto(&url).await.unwrap();
    let recent = c.find(fantoccini::Locator::Css("#agent-console_bot .recent")).await.unwrap().text().await.unwrap();
    assert!(recent.contains("followed @"), "the follow-back, in words: {recent}");
    let draft = c.find(fantoccini::Locator::Id(&format!("draft-{id}"))).await.unwrap().text().await.unwrap();
    assert!(draft.contains("Thanks @") && draft.contains("replies wants to reply"), "{draft}");
    let shot = c.screenshot().await.unwrap();
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png"), &shot).unwrap();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console.png"), &shot).unwrap();
    }
    assert!(replies_by(&sb, &me).is_empty(), "nothing said before approval");
    c.find(fantoccini::Locator::Id(&format!("approve-{id}"))).await.unwrap().click().await.unwrap();
    let msg = c.wait().at_most(Duration::from_secs(10)).for_element(fantoccini::Locator::Id("msg")).await.unwrap().text().await.unwrap();
    assert_eq!(msg, format!("approved {id}"));
    assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == 1).await, "sent");
    // A second click on a stale page changes nothing.
    c.back().await.unwrap();
    if let Ok(b) = c.find(fantoccini::Locator::Id(&format!("approve-{id}"))).await {
        let _ = b.click().await;
    }
    polls_later(&sb, 5).await;
    assert_eq!(replies_by(&sb, &me).len(), 1, "exactly once");
    c.close().await.unwrap();
    wd.0.kill().unwrap();
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_the_pages_token_is_refused_and_an_open_address_needs_a_token() {
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "guarded_bot").await;
    let me = id_of(&sb, "guarded_bot");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, BEHAVIORS, "console_addr: 127.0.0.1:0\n");
    let _d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "console").await;
    polls_later(&sb, 1).await;
    burst(&sb, serde_json::json!({"target": "guarded_bot", "mentions": 1})).await;
    assert!(eventually(Duration::from_secs(20), || pending(&cfg).len() == 1).await);
    let id = pending(&cfg)[0].clone();
    let http = reqwest::Client::new();
    let forged = http
        .post(format!("http://127.0.0.1:{port}/drafts/guarded_bot/{id}/approve"))
        .form(&[("csrf", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    polls_later(&sb, 3).await;
    assert!(replies_by(&sb, &me).is_empty() && pending(&cfg).len() == 1, "the forged approval did nothing");
    drop(_d);

    // On an address other machines reach, no token file: the daemon refuses to start, saying why.
    let cfg2 = write_config(dir.path(), &sb.base_url(), &creds, BEHAVIORS, "console_addr: 0.0.0.0:0\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(["run", "--config"]).arg(&cfg2).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("set console_token_file"), "{err}");
    sb.stop().await;
}
