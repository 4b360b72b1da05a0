//! The approval queue: with `approval: required` a reply becomes a draft;
//! approving sends it exactly once (also approved twice, or approved while
//! the daemon was SIGKILLed and sent after the restart); a rejected or
//! expired draft is never sent; `on_timeout: send` sends it.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::SandboxConfig;

fn cli(cfg: &std::path::Path, args: &[&str]) -> String {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).arg("drafts").args(args).arg("--config").arg(cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The ids of the drafts in `status`.
fn ids(cfg: &std::path::Path, status: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&cli(cfg, &["list", "--json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["draft"]["status"] == status)
        .map(|r| r["draft"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn behavior(approval: &str) -> String {
    format!("kind: auto_reply\nname: replies\napproval: {approval}\ncontent:\n  template: \"Thanks @{{{{ author }}}}!\"\nguardrails:\n  author_cooldown: 0s\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_waits_for_approval_and_is_sent_once() {
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "careful").await;
    let me = id_of(&sb, "careful");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", &behavior("required"))], "");
    let mut d = spawn_run(&cfg);
    polls_later(&sb, 1).await;
    burst(&sb, serde_json::json!({"target": "careful", "mentions": 2})).await;
    assert!(eventually(Duration::from_secs(20), || ids(&cfg, "pending").len() == 2).await, "two drafts");
    polls_later(&sb, 3).await;
    assert!(replies_by(&sb, &me).is_empty(), "nothing said before approval");
    let state = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(["state", "--config"]).arg(&cfg).output().unwrap();
    let state = String::from_utf8_lossy(&state.stdout).into_owned();
    assert!(state.contains("DRAFTS   2 waiting for approval"), "{state}");
    let list = cli(&cfg, &["list"]);
    assert!(list.contains("pending") && list.contains("replies") && list.contains("\"Thanks @") && list.contains("2 waiting"), "{list}");

    // Approved twice (the second time changes nothing): one reply.
    let pending = ids(&cfg, "pending");
    assert!(cli(&cfg, &["approve", &pending[0]]).contains(&format!("approved {}", pending[0])));
    assert!(cli(&cfg, &["approve", &pending[0]]).contains("nothing changed"));
    assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == 1).await);

    // Approved while the daemon is down (SIGKILLed): sent once after the restart.
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    assert!(cli(&cfg, &["approve", &pending[1]]).contains("approved"));
    let _d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == 2).await);
    polls_later(&sb, 5).await;
    assert_eq!(replies_by(&sb, &me).len(), 2, "each approved draft sent exactly once");
    assert_eq!(ids(&cfg, "sent").len(), 2);

    // Rejected: never sent.
    burst(&sb, serde_json::json!({"target": "careful", "mentions": 1})).await;
    assert!(eventually(Duration::from_secs(20), || ids(&cfg, "pending").len() == 1).await);
    assert!(cli(&cfg, &["reject", "--all"]).contains("rejected"));
    polls_later(&sb, 5).await;
    assert_eq!(replies_by(&sb, &me).len(), 2, "a rejected draft is not sent");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_drafts_are_discarded_or_sent_as_configured() {
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let mut seen = vec![];
    for (handle, on_timeout, sent) in [("discarder", "discard", 0), ("sender", "send", 1)] {
        let creds = register(&sb, handle).await;
        let me = id_of(&sb, handle);
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(
            dir.path(),
            &sb.base_url(),
            &creds,
            &[("r.yaml", &behavior(&format!("{{timeout: 1s, on_timeout: {on_timeout}}}")))],
            "",
        );
        let _d = spawn_run(&cfg);
        polls_later(&sb, 1).await;
        burst(&sb, serde_json::json!({"target": handle, "mentions": 1})).await;
        let status = if sent == 1 { "sent" } else { "discarded" };
        assert!(eventually(Duration::from_secs(20), || ids(&cfg, status).len() == 1).await, "{handle}: {}", cli(&cfg, &["list"]));
        polls_later(&sb, 3).await;
        seen.push((handle, replies_by(&sb, &me).len()));
    }
    assert_eq!(seen, vec![("discarder", 0), ("sender", 1)]);
    sb.stop().await;
}

/// A chat webhook (as Slack's or Discord's) that fails its first `fail` requests; the bodies it accepted.
async fn chat_webhook(fail: usize) -> (String, std::sync::Arc<std::sync::Mutex<(usize, Vec<serde_json::Value>)>>) {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new((0usize, vec![])));
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| {
            let seen = s2.clone();
            async move {
                let mut s = seen.lock().unwrap();
                s.0 += 1;
                if s.0 <= fail {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                s.1.push(body.0);
                axum::http::StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, seen)
}

fn cli_with(cfg: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .arg("drafts")
        .args(args)
        .arg("--config")
        .arg(cfg)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_announced_edited_within_the_rules_and_sent_as_edited() {
    let (hook, seen) = chat_webhook(2).await;
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "editor_bot").await;
    let me = id_of(&sb, "editor_bot");
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("chat-url");
    std::fs::write(&url_file, &hook).unwrap();
    let extra = format!("metrics_addr: 127.0.0.1:0\ndraft_notices:\n  url_file: {}\n  format: slack\n", url_file.display());
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", &behavior("required"))], &extra);
    let _d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    polls_later(&sb, 1).await;
    burst(&sb, serde_json::json!({"target": "editor_bot", "mentions": 2})).await;
    assert!(eventually(Duration::from_secs(20), || ids(&cfg, "pending").len() == 2).await, "two drafts");
    let pending = ids(&cfg, "pending");

    // Each draft announced once, after the webhook's two failures (tried again, not dropped).
    let announced = |id: &str| seen.lock().unwrap().1.iter().filter(|b| b["text"].as_str().unwrap_or("").contains(id)).count();
    assert!(eventually(Duration::from_secs(30), || pending.iter().all(|id| announced(id) == 1)).await, "both announced");
    assert!(seen.lock().unwrap().0 >= 4, "two refused deliveries, then the two notices");
    assert!(seen.lock().unwrap().1.iter().all(|b| b.get("content").is_none()), "Slack's shape only");
    assert!(
        eventually_async(Duration::from_secs(10), || async { metric(port, "imagine_agent_drafts_pending", &[]).await == Some(2) }).await
    );

    // Too long for a reply: refused with the reason, the draft unchanged.
    let long = "x".repeat(1001);
    let out = cli_with(&cfg, &["edit", &pending[0], "--text", &long], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1001 characters; a reply allows at most 1000"), "{err}");
    // Edited in the person's editor (here a script): kept, pending, shown as edited.
    let out = cli_with(&cfg, &["edit", &pending[0]], &[("VISUAL", ""), ("EDITOR", "sed -i s/Thanks/Many_thanks/")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let show = String::from_utf8_lossy(&cli_with(&cfg, &["show", &pending[0]], &[]).stdout).into_owned();
    assert!(show.contains("Many_thanks @") && show.contains("pending (edited by a person)"), "{show}");
    assert!(replies_by(&sb, &me).is_empty(), "an edit does not send");

    assert!(cli(&cfg, &["approve", "--all"]).contains("approved"));
    assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == 2).await);
    polls_later(&sb, 3).await;
    let replies = replies_by(&sb, &me);
    assert_eq!(replies.iter().filter(|r| r.starts_with("Many_thanks @")).count(), 1, "the edited text was sent: {replies:?}");
    assert_eq!(replies.iter().filter(|r| r.starts_with("Thanks @")).count(), 1, "the other as drafted");
    assert!(
        eventually_async(Duration::from_secs(10), || async { metric(port, "imagine_agent_drafts_pending", &[]).await == Some(0) }).await
    );
    assert!(pending.iter().all(|id| announced(id) == 1), "nobody told twice");
    sb.stop().await;
}

/// The drafts in `status` by kind: (kind, id).
fn by_kind(cfg: &std::path::Path, status: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(&cli(cfg, &["list", "--json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["draft"]["status"] == status)
        .map(|r| (r["draft"]["kind"].as_str().unwrap().to_string(), r["draft"]["id"].as_str().unwrap().to_string()))
        .collect()
}

/// `approval: required` on every kind that speaks besides replies: a scheduled post, a DM
/// answer, an engage quote and comment, a marketplace delivery message. Each becomes a draft,
/// nothing is said before approval, and each approved draft is said exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_dms_quotes_comments_and_order_messages_wait_for_approval() {
    use imagine_agent::wire::types::{NewPost, PaymentMethod};
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "reviewed").await;
    let me = id_of(&sb, "reviewed");
    let member = sb.app.world().agents.values().find(|a| a.community).unwrap().id.clone();
    let dir = tempfile::tempdir().unwrap();
    let behaviors = [
        ("post.yaml", "kind: scheduled_post\nname: ticks\napproval: required\nschedule: \"*/5 * * * * *\"\ncontent:\n  template: \"tick {{ counter }}\"\n"),
        ("dms.yaml", "kind: dm_reply\nname: dms\napproval: required\ncontent:\n  template: \"Noted, @{{ author }}.\"\nevery: 1s\nrescan_every: 1s\nhuman_pause: 0s\n"),
        ("fan.yaml", "kind: engage\nname: fan\napproval: required\nsources:\n  timeline: true\nselect:\n  keywords: [storm]\nactions:\n  quote:\n    template: \"Read this, @{{ author }}.\"\n  comment:\n    template: \"Well said, @{{ author }}.\"\ncaps:\n  quote: {per_hour: 100}\n  comment: {per_hour: 100}\nmax_actions_per_run: 100\nauthor_cooldown: 0s\nevery: 1h\n"),
        ("shop.yaml", "kind: marketplace\nname: shop\napproval: required\nservices:\n  - key: p\n    title: Portraits\n    description: A portrait.\n    price: 500\n    delivery_days: 1\n    revisions: 1\ndeliverable:\n  template: \"Work for {{ requirements }}\"\ndelivery_message:\n  template: \"Delivered, enjoy.\"\nevery: 1s\n"),
    ];
    sb.app.world().create_post(&member, &NewPost::text("a storm is coming")).unwrap();
    {
        let mut w = sb.app.world();
        let c = w.conversation_between(&member, &me);
        w.send_message(c, &member, "Hello there").unwrap();
    }
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &behaviors, "");
    let mut d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(30), || sb.app.world().services.values().any(|s| s.agent == me)).await, "listed");
    let svc = sb.app.world().services.values().find(|s| s.agent == me).unwrap().seq;
    sb.app.world().place_order(svc, &member, Some("a lake".into()), PaymentMethod::Card);

    let kinds = |status: &str| by_kind(&cfg, status).into_iter().map(|(k, _)| k).collect::<std::collections::BTreeSet<_>>();
    let all: std::collections::BTreeSet<String> = ["post", "dm", "quote", "comment", "order_message"].map(String::from).into();
    assert!(eventually(Duration::from_secs(40), || kinds("pending") == all).await, "a draft of each kind: {:?}", kinds("pending"));
    let said = || {
        let w = sb.app.world();
        (
            w.posts.values().filter(|p| p.agent == me && !p.is_quote).count(),
            w.posts.values().filter(|p| p.agent == me && p.is_quote).count(),
            w.comments.values().filter(|c| c.agent == me).count(),
            w.messages.values().filter(|m| m.sender == me).count(),
            w.order_messages.values().filter(|m| m.sender == me).count(),
        )
    };
    assert_eq!(said(), (0, 0, 0, 0, 0), "nothing said before approval");

    // One draft of each kind approved, the last while the daemon is down.
    let pending = by_kind(&cfg, "pending");
    let pick = |k: &str| pending.iter().find(|(kind, _)| kind == k).unwrap().1.clone();
    for k in ["post", "dm", "quote", "comment"] {
        assert!(cli(&cfg, &["approve", &pick(k)]).contains("approved"));
    }
    assert!(eventually(Duration::from_secs(20), || said() == (1, 1, 1, 1, 0)).await, "the four approved sent: {:?}", said());
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    assert!(cli(&cfg, &["approve", &pick("order_message")]).contains("approved"));
    let _d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(20), || said() == (1, 1, 1, 1, 1)).await, "the fifth after the restart: {:?}", said());
    polls_later(&sb, 5).await;
    assert_eq!(said(), (1, 1, 1, 1, 1), "each approved draft said once, nothing else said");
    sb.stop().await;
}

/// A post with an image under `approval: required`: the draft shows its media
/// (`drafts show`), the approved one is posted with its image, and the media
/// of the rejected one is deleted from the library, not left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drafted_post_keeps_its_media_and_a_rejected_ones_media_is_deleted() {
    let b = "kind: scheduled_post\nname: pics\napproval: required\nschedule: \"0 * * * * *\"\ncontent:\n  template: \"picture {{ counter }}\"\nmedia: pic.png\n";
    let s = scenario("curator").behavior("p.yaml", b).build().await;
    std::fs::write(s.dir.path().join("behaviors/pic.png"), [&b"\x89PNG\r\n\x1a\n"[..], &[3u8; 1024]].concat()).unwrap();
    let t0 = chrono::Utc::now().date_naive().and_hms_opt(10, 0, 30).unwrap().and_utc();
    let clock = imagine_agent::clock::Clock::manual(t0);
    let (stop, task) = s.start_on(&clock);
    polls_later(&s.sb, 1).await;
    let media =
        || -> Vec<String> { s.sb.app.world().media.values().filter(|m| m.agent == s.id).map(|m| format!("media_{}", m.seq)).collect() };
    clock.set(t0 + chrono::Duration::seconds(30));
    assert!(eventually(Duration::from_secs(20), || ids(&s.cfg, "pending").len() == 1).await, "the first fire drafted");
    clock.set(t0 + chrono::Duration::seconds(90));
    assert!(eventually(Duration::from_secs(20), || ids(&s.cfg, "pending").len() == 2).await, "the second fire drafted");
    assert_eq!(media().len(), 2, "one upload per drafted post");
    let pending = ids(&s.cfg, "pending");
    assert!(cli(&s.cfg, &["list"]).contains("+1 media"), "the list says each draft has its media");
    let shown = cli(&s.cfg, &["show", &pending[0]]);
    assert!(shown.lines().any(|l| l.starts_with("media") && l.contains("media_")), "{shown}");
    cli(&s.cfg, &["approve", &pending[0]]);
    cli(&s.cfg, &["reject", &pending[1]]);
    let posted =
        || -> Vec<Vec<String>> { s.sb.app.world().posts.values().filter(|p| p.agent == s.id).map(|p| p.media_urls.clone()).collect() };
    assert!(
        eventually(Duration::from_secs(20), || posted().len() == 1 && media().len() == 1).await,
        "posted with its image; the other's deleted"
    );
    assert_eq!(posted()[0].len(), 1, "one image on the post");
    stop.cancel();
    task.await.unwrap();
    s.stop().await;
}
