//! `profile` end to end: the declared profile, avatar, capabilities and one
//! introduction post reach the platform; a second start writes nothing; drift
//! is corrected on the reconcile interval (on the controllable clock); a
//! changed avatar file is uploaded again; broken declarations are refused
//! with file:line:column.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use imagine_agent::clock::Clock;
use imagine_agent::sandbox::SandboxHandle;
use imagine_agent::wire::types::AgentType;

const BEHAVIOR: &str = "kind: profile
name: me
display_name: Presenter Bot
bio: I present things, clearly.
agent_type: CREATIVE
website_url: https://presenter.example
avatar: avatar.png
capabilities:
  skills: [presenting, summaries]
  languages: [en, fr]
introduction:
  content:
    template: \"Hello, I am @{{ handle }}: I present things.\"
  hashtags: [introductions]
reconcile_every: 5m
";

/// Every write the behavior can make, as the emulator counted them.
fn writes(sb: &SandboxHandle) -> u64 {
    ["PATCH /api/agents/me", "POST /api/agents/me/avatar", "PATCH /api/agents/me/capabilities", "POST /api/posts"]
        .iter()
        .map(|r| served(sb, r, 0))
        .sum()
}

fn applied(sb: &SandboxHandle, id: &str) -> bool {
    let w = sb.app.world();
    let a = &w.agents[id];
    a.name == "Presenter Bot"
        && a.bio.as_deref() == Some("I present things, clearly.")
        && a.agent_type == Some(AgentType::Creative)
        && a.website_url.as_deref() == Some("https://presenter.example")
        && a.avatar_url.is_some()
        && a.capabilities.skills == ["presenting", "summaries"]
        && a.capabilities.languages == ["en", "fr"]
}

fn introductions(sb: &SandboxHandle, id: &str) -> Vec<String> {
    sb.app.world().posts.values().filter(|p| p.agent == id && p.content.starts_with("Hello, I am")).map(|p| p.content.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_once_applied_only_where_different_and_kept_so() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "presenter").await;
    let id = id_of(&sb, "presenter");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("me.yaml", BEHAVIOR)], "");
    std::fs::write(dir.path().join("behaviors/avatar.png"), b"\x89PNG first picture").unwrap();
    let clock = Clock::manual(Utc::now());

    // First start: everything applied, the introduction posted.
    let (stop, task) = start_on(&cfg, &clock);
    assert!(eventually(Duration::from_secs(20), || applied(&sb, &id) && introductions(&sb, &id).len() == 1).await, "applied");
    stop.cancel();
    task.await.unwrap();
    assert_eq!(introductions(&sb, &id), vec!["Hello, I am @presenter: I present things. #introductions"]);
    let after_first = writes(&sb);
    assert_eq!(after_first, 4, "profile, avatar, capabilities, introduction: one write each");

    // Second start, nothing changed: no write at all.
    let (stop, task) = start_on(&cfg, &clock);
    assert!(eventually(Duration::from_secs(20), || served(&sb, "GET /api/agents/me/capabilities", 0) >= 2).await, "compared again");
    polls_later(&sb, 3).await;
    assert_eq!(writes(&sb), after_first, "a second start writes nothing");

    // Drift on the platform, a new avatar file: corrected on the next reconcile, only what differs.
    {
        let mut w = sb.app.world();
        let a = w.agents.get_mut(&id).unwrap();
        a.bio = Some("someone changed this".into());
    }
    std::fs::write(dir.path().join("behaviors/avatar.png"), b"\x89PNG second picture").unwrap();
    let patches = served(&sb, "PATCH /api/agents/me", 0);
    clock.set(clock.now() + chrono::Duration::minutes(6));
    assert!(
        eventually(Duration::from_secs(20), || applied(&sb, &id) && served(&sb, "POST /api/agents/me/avatar", 0) == 2).await,
        "drift corrected"
    );
    polls_later(&sb, 3).await;
    assert_eq!(served(&sb, "PATCH /api/agents/me", 0), patches + 1, "one profile write for the drift");
    assert_eq!(served(&sb, "PATCH /api/agents/me/capabilities", 0), 1, "capabilities did not drift: not written again");
    assert_eq!(introductions(&sb, &id).len(), 1, "the introduction is posted once in the agent's life");
    stop.cancel();
    task.await.unwrap();
    sb.stop().await;
}

#[test]
fn broken_profiles_are_refused_with_their_places() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("behaviors")).unwrap();
    std::fs::write(dir.path().join("behaviors/not-an-image.txt"), "x").unwrap();
    let bad =
        format!("kind: profile\nname: me\nbio: {}\nagent_type: WIZARD\navatar: not-an-image.txt\nwebsite_url: ftp://x\n", "b".repeat(600));
    std::fs::write(dir.path().join("behaviors/me.yaml"), bad).unwrap();
    std::fs::write(dir.path().join("config.yaml"), "sandbox: true\nagent:\n  handle: prof_bot\nbehaviors: [behaviors/*.yaml]\n").unwrap();
    let problems = imagine_agent::setup::load(&dir.path().join("config.yaml")).unwrap_err().to_string();
    let f = dir.path().join("behaviors/me.yaml").display().to_string();
    for (line, what) in [(3, "bio"), (4, "WIZARD"), (5, "PNG, JPEG, GIF or WebP"), (6, "website_url")] {
        assert!(problems.contains(&format!("{f}:{line}:1: ")) && problems.contains(what), "{what} at line {line}: {problems}");
    }
}

/// Runs `imagine-agent profile diff` on `cfg`; its standard output.
fn diff(cfg: &std::path::Path) -> String {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(["profile", "diff", "--config"]).arg(cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_diff_shows_what_would_change_and_writes_nothing() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "planner").await;
    let id = id_of(&sb, "planner");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("me.yaml", BEHAVIOR)], "");
    std::fs::write(dir.path().join("behaviors/avatar.png"), b"\x89PNG picture").unwrap();

    let before = writes(&sb);
    let plan = diff(&cfg);
    for line in [
        "~ name: \"PLANNER\" -> \"Presenter Bot\"",
        "~ bio: (none) -> \"I present things, clearly.\"",
        "~ agentType:",
        "~ websiteUrl: (none) -> \"https://presenter.example\"",
        "+ avatar: upload",
        "~ capabilities.skills: [] -> [\"presenting\", \"summaries\"]",
        "~ capabilities.languages: [] -> [\"en\", \"fr\"]",
        "7 change(s)",
    ] {
        assert!(plan.contains(line), "{line:?} in:\n{plan}");
    }
    assert_eq!(writes(&sb), before, "a diff writes nothing");

    // Applied by the daemon: nothing left to change. One field drifts: exactly that one.
    let (stop, task) = start_on(&cfg, &Clock::manual(Utc::now()));
    assert!(eventually(Duration::from_secs(20), || applied(&sb, &id)).await);
    stop.cancel();
    task.await.unwrap();
    assert!(diff(&cfg).contains("no changes\n0 change(s)"), "{}", diff(&cfg));
    sb.app.world().agents.get_mut(&id).unwrap().bio = Some("edited by hand".into());
    let plan = diff(&cfg);
    assert!(plan.contains("~ bio: \"edited by hand\" -> \"I present things, clearly.\"\n1 change(s)"), "{plan}");
    sb.stop().await;
}

/// The introduction with an image: uploaded once and posted with it, once,
/// whatever the number of starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_introduction_carries_its_image_once() {
    let b = "kind: profile\nname: me\nintroduction:\n  content:\n    text: Hello, I am new here.\n  media: hello.png\n";
    let s = scenario("pictured").behavior("me.yaml", b).build().await;
    std::fs::write(s.dir.path().join("behaviors/hello.png"), b"\x89PNG\r\n\x1a\n a picture").unwrap();
    let sb = &s.sb;
    let posted = || -> Vec<Vec<String>> {
        sb.app
            .world()
            .posts
            .values()
            .filter(|p| p.agent == s.id && p.content.starts_with("Hello, I am"))
            .map(|p| p.media_urls.clone())
            .collect()
    };
    for start in 0..2 {
        let d = s.start();
        assert!(eventually(Duration::from_secs(20), || posted().len() == 1).await, "start {start}: the introduction is posted");
        polls_later(sb, 2).await;
        d.shutdown().await;
    }
    let media = posted();
    assert_eq!(media.len(), 1, "posted once");
    assert_eq!(media[0].len(), 1, "with its image");
    assert_each_upload_used_once(sb, &s.id, &media[0], "the introduction");
    assert_eq!(served(sb, "POST /api/upload", 0), 1, "uploaded once");
    s.stop().await;
}
