//! Recovery under every reading of the reference: a daemon SIGKILLed in the
//! window between the platform's doing a write and the daemon's hearing of it
//! (the emulator holds the answer back) finds the write after the restart,
//! whichever reading the emulator follows (see `imagine_agent::sandbox::readings`).

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::readings::Readings;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};
use imagine_agent::wire::types::NewPost;

fn posts_of(sb: &SandboxHandle, handle: &str) -> Vec<String> {
    let w = sb.app.world();
    let Ok(a) = w.agent_by_handle(handle) else { return vec![] };
    let id = a.id.clone();
    w.posts.values().filter(|p| p.agent == id).map(|p| p.content.clone()).collect()
}

/// A scheduled post whose answer never came: after the SIGKILL and a restart
/// it is found on the platform (past a page of other agents' posts on the
/// timeline), not posted again, and the schedule goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_was_lost_to_a_sigkill_is_posted_once_under_every_reading() {
    for (i, readings) in Readings::all().into_iter().enumerate() {
        let sb = sandbox(SandboxConfig { readings: readings.clone(), ..quiet_config() }).await;
        let handle = format!("poster_{i}");
        let creds = register(&sb, &handle).await;
        let dir = tempfile::tempdir().unwrap();
        let b =
            "kind: scheduled_post\nname: ticks\nschedule: \"* * * * * *\"\ncontent:\n  template: \"tick {{ counter }} at {{ time }}\"\n";
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("t.yaml", b)], "");
        hold(&sb, "POST /api/posts", Some(120_000));
        let mut d = spawn_run(&cfg);
        assert!(eventually(Duration::from_secs(20), || posts_of(&sb, &handle).len() == 1).await, "{readings:?}: the first post was made");
        d.0.kill().unwrap(); // SIGKILL while the answer is held back
        d.0.wait().unwrap();
        hold(&sb, "POST /api/posts", None);
        let first = posts_of(&sb, &handle)[0].clone();
        // More than a page of other agents' posts above ours on the public timeline.
        let crowd = session_for(&sb, &format!("crowd_{i}")).await;
        for n in 0..150 {
            crowd.create_post(&NewPost::text(format!("crowd post {n}"))).await.unwrap();
        }
        let _d = spawn_run(&cfg);
        assert!(
            eventually(Duration::from_secs(30), || posts_of(&sb, &handle).len() >= 3).await,
            "{readings:?}: the schedule went on after the restart: {:?}",
            posts_of(&sb, &handle)
        );
        let got = posts_of(&sb, &handle);
        assert_eq!(got.iter().filter(|t| **t == first).count(), 1, "{readings:?}: the held post exists once: {got:?}");
        let distinct: std::collections::BTreeSet<&String> = got.iter().collect();
        assert_eq!(distinct.len(), got.len(), "{readings:?}: no text posted twice: {got:?}");
        drop(_d);
        sb.stop().await;
    }
}

/// A daemon of `behaviors` for `handle` on a fresh sandbox following `readings` (2 community
/// members, acting only when asked): the sandbox, the agent's id, the config.
async fn setup(
    readings: &Readings,
    handle: &str,
    behaviors: &[(&str, &str)],
) -> (SandboxHandle, String, tempfile::TempDir, std::path::PathBuf) {
    let sb =
        sandbox(SandboxConfig { readings: readings.clone(), community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, handle).await;
    let me = id_of(&sb, handle);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, behaviors, "metrics_addr: 127.0.0.1:0\n");
    (sb, me, dir, cfg)
}

/// Whether the restarted daemon has finished `n` runs of `behavior` within 30 s (the port read
/// again each time: the file is the first run's until the second one binds).
async fn restarted_ran(dir: &tempfile::TempDir, behavior: &str, n: u64) -> bool {
    let state = dir.path().join("state");
    eventually_async(Duration::from_secs(30), || async { runs(bound_port(&state, "metrics").await, behavior).await >= Some(n) }).await
}

/// Starts the daemon with the answers to `route` held back, runs `trigger`, waits until the
/// platform has done the write (`done`), SIGKILLs the daemon in that window, lets the held
/// answer go, and starts the daemon again.
async fn killed_in_the_window(
    sb: &SandboxHandle,
    cfg: &std::path::Path,
    route: &str,
    trigger: impl std::future::Future<Output = ()>,
    done: impl Fn() -> bool,
) -> KillOnDrop {
    hold(sb, route, Some(120_000));
    let mut d = spawn_run(cfg);
    trigger.await;
    assert!(eventually(Duration::from_secs(30), &done).await, "the platform did the write ({route})");
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    hold(sb, route, None);
    spawn_run(cfg)
}

fn community(sb: &SandboxHandle) -> Vec<String> {
    sb.app.world().agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect()
}

/// A reply whose answer was lost: found under the post after the restart, not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_whose_answer_was_lost_to_a_sigkill_is_sent_once_under_every_reading() {
    for (i, r) in Readings::all().into_iter().enumerate() {
        let handle = format!("replier_{i}");
        let (sb, me, _dir, cfg) = setup(&r, &handle, &[("r.yaml", REPLY_BEHAVIOR)]).await;
        let replies = |p: u64| sb.app.world().comments.values().filter(|c| c.agent == me && c.post == p).count();
        let mut first = vec![];
        let trigger = async { first = post_seqs(&burst(&sb, serde_json::json!({"target": handle, "mentions": 1})).await) };
        let _d = killed_in_the_window(&sb, &cfg, "POST /api/posts/{id}/comments", trigger, || {
            sb.app.world().comments.values().any(|c| c.agent == me)
        })
        .await;
        // A later mention is answered after the first one's intent is settled (the inbox is taken in order).
        let second = post_seqs(&burst(&sb, serde_json::json!({"target": handle, "mentions": 1})).await);
        assert!(eventually(Duration::from_secs(30), || replies(second[0]) == 1).await, "{r:?}: the next mention answered");
        assert_eq!((replies(first[0]), replies(second[0])), (1, 1), "{r:?}: one reply each");
        sb.stop().await;
    }
}

/// A DM answer whose answer was lost: found in the conversation, not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_whose_answer_was_lost_to_a_sigkill_is_sent_once_under_every_reading() {
    const DMS: &str =
        "kind: dm_reply\nname: dms\ncontent:\n  template: \"Thanks, @{{ author }}.\"\nevery: 1s\nrescan_every: 1s\nhuman_pause: 0s\n";
    for (i, r) in Readings::all().into_iter().enumerate() {
        let (sb, me, _dir, cfg) = setup(&r, &format!("dmer_{i}"), &[("d.yaml", DMS)]).await;
        let member = community(&sb)[0].clone();
        let conv = sb.app.world().conversation_between(&member, &me);
        let ours = || sb.app.world().messages.values().filter(|m| m.conv == conv && m.sender == me).count();
        let send = |text: &str| {
            sb.app.world().send_message(conv, &member, text).unwrap();
        };
        let _d =
            killed_in_the_window(&sb, &cfg, "POST /api/conversations/{id}/messages", async { send("hello once") }, || ours() == 1).await;
        send("hello twice");
        assert!(eventually(Duration::from_secs(30), || ours() == 2).await, "{r:?}: the next message answered");
        let senders: Vec<String> = sb.app.world().messages.values().filter(|m| m.conv == conv).map(|m| m.sender.clone()).collect();
        assert_eq!(senders, vec![member.clone(), me.clone(), member.clone(), me.clone()], "{r:?}: one answer per message");
        sb.stop().await;
    }
}

/// A follow-back whose answer was lost: one follow request in all (counted at the emulator).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_whose_answer_was_lost_to_a_sigkill_is_requested_once_under_every_reading() {
    for (i, r) in Readings::all().into_iter().enumerate() {
        let handle = format!("follower_{i}");
        let (sb, me, _dir, cfg) = setup(&r, &handle, &[("f.yaml", FOLLOW_BEHAVIOR)]).await;
        let following = || sb.query().following(&me).len();
        let trigger = async {
            burst(&sb, serde_json::json!({"target": handle, "follows": 1})).await;
        };
        let _d = killed_in_the_window(&sb, &cfg, "POST /api/agents/{handle}/follow", trigger, || following() == 1).await;
        burst(&sb, serde_json::json!({"target": handle, "follows": 1})).await;
        assert!(eventually(Duration::from_secs(30), || following() == 2).await, "{r:?}: the next follower followed back");
        let welcomes = || sb.app.world().messages.values().filter(|m| m.sender == me).count();
        assert!(eventually(Duration::from_secs(30), || welcomes() >= 2).await, "{r:?}: both welcomed");
        assert_eq!(received(&sb, "POST /api/agents/{handle}/follow"), 2, "{r:?}: one follow request per follower");
        assert_eq!(welcomes(), 2, "{r:?}: one welcome each");
        sb.stop().await;
    }
}

/// An order's start whose answer was lost: found started, never asked again (a repeat
/// would be refused by the state machine), then delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_transition_whose_answer_was_lost_to_a_sigkill_is_made_once_under_every_reading() {
    use imagine_agent::wire::types::{OrderStatus, PaymentMethod};
    const SHOP: &str = "kind: marketplace\nname: shop\nservices:\n  - key: p\n    title: Portraits\n    description: A portrait.\n    price: 500\n    delivery_days: 1\n    revisions: 1\ndeliverable:\n  template: \"Work for {{ requirements }}\"\nevery: 1s\n";
    for (i, r) in Readings::all().into_iter().enumerate() {
        let (sb, me, _dir, cfg) = setup(&r, &format!("seller_{i}"), &[("s.yaml", SHOP)]).await;
        let buyer = community(&sb)[0].clone();
        let status = |o: u64| sb.app.world().orders[&o].status.clone();
        let mut order = 0;
        let trigger = async {
            let listed = || sb.app.world().services.values().any(|s| s.agent == me);
            assert!(eventually(Duration::from_secs(30), listed).await, "the service is listed");
            let svc = sb.app.world().services.values().find(|s| s.agent == me).unwrap().seq;
            order = sb.app.world().place_order(svc, &buyer, Some("a lake".into()), PaymentMethod::Card);
        };
        let mut d = killed_in_the_window(&sb, &cfg, "PATCH /api/marketplace/orders/{id}", trigger, || {
            sb.app.world().orders.values().any(|o| o.seller == me && o.status == Some(OrderStatus::InProgress))
        })
        .await;
        assert!(eventually(Duration::from_secs(30), || status(order) == Some(OrderStatus::Delivered)).await, "{r:?}: delivered");
        d.0.kill().unwrap();
        let route = "PATCH /api/marketplace/orders/{id}";
        assert_eq!((received(&sb, route), served(&sb, route, 400)), (2, 0), "{r:?}: one start, one delivery, nothing refused");
        sb.stop().await;
    }
}

/// The profile's introduction (posted once in the agent's life) whose answer was lost: found on
/// the timeline after the restart, never posted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_introduction_whose_answer_was_lost_to_a_sigkill_is_posted_once_under_every_reading() {
    const PROFILE: &str =
        "kind: profile\nname: me\nbio: I introduce myself.\nintroduction:\n  content:\n    template: \"Hello, I am @{{ handle }}.\"\n";
    for (i, r) in Readings::all().into_iter().enumerate() {
        let handle = format!("newcomer_{i}");
        let (sb, me, dir, cfg) = setup(&r, &handle, &[("p.yaml", PROFILE)]).await;
        let intros = || sb.app.world().posts.values().filter(|p| p.agent == me && p.content.starts_with("Hello, I am")).count();
        let _d = killed_in_the_window(&sb, &cfg, "POST /api/posts", async {}, || intros() == 1).await;
        assert!(restarted_ran(&dir, "me", 1).await, "{r:?}: the restarted profile ran");
        assert_eq!((intros(), received(&sb, "POST /api/posts")), (1, 1), "{r:?}: one introduction, one request");
        sb.stop().await;
    }
}

/// An engage quote whose answer was lost: found on the timeline, not quoted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_whose_answer_was_lost_to_a_sigkill_is_made_once_under_every_reading() {
    const ENGAGE: &str = "kind: engage\nname: fan\nsources:\n  timeline: true\nselect:\n  keywords: [rust]\nactions:\n  quote:\n    template: \"Worth reading, @{{ author }}.\"\ncaps:\n  quote: {per_hour: 1000}\nmax_candidates: 100\nmax_actions_per_run: 1000\nauthor_cooldown: 0s\nevery: 1h\n";
    for (i, r) in Readings::all().into_iter().enumerate() {
        let (sb, me, _dir, cfg) = setup(&r, &format!("quoter_{i}"), &[("e.yaml", ENGAGE)]).await;
        let author = community(&sb)[0].clone();
        let quotes = || sb.app.world().posts.values().filter(|p| p.agent == me && p.is_quote).count();
        // Two posts to quote: the run's first quote is held and killed; the run at the restart
        // settles it, then quotes the other (engage runs at start, then hourly).
        for text in ["rust ownership, explained", "rust lifetimes, explained"] {
            sb.app.world().create_post(&author, &NewPost::text(text)).unwrap();
        }
        let _d = killed_in_the_window(&sb, &cfg, "POST /api/posts/{id}/quote", async {}, || quotes() == 1).await;
        assert!(eventually(Duration::from_secs(30), || quotes() == 2).await, "{r:?}: the other post quoted");
        assert_eq!(received(&sb, "POST /api/posts/{id}/quote"), 2, "{r:?}: one quote request per post");
        sb.stop().await;
    }
}

/// Each fire time named in the texts of `posts` ("... [<fire>]"), and how often.
fn fires(texts: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for t in texts {
        if let Some((_, f)) = t.rsplit_once('[') {
            *m.entry(f.trim_end_matches(']').to_string()).or_default() += 1;
        }
    }
    m
}

/// The held fire and the one after it (at least) posted, each once.
fn each_fire_once(r: &Readings, held: &str, p: &std::collections::BTreeMap<String, usize>) {
    assert_eq!(p.get(held), Some(&1), "{r:?}: the held fire posted once: {p:?}");
    assert!(p.values().all(|n| *n == 1) && p.len() >= 2, "{r:?}: every fire posted once: {p:?}");
}

/// A report's post whose answer was lost: after the restart the pending fire is finished from
/// its intent (the post found on the timeline, the DM then sent), and every fire is posted and
/// sent once, named by its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_whose_answer_was_lost_to_a_sigkill_is_posted_once_under_every_reading() {
    const REPORT: &str = "kind: report\nname: digest\nschedule: \"*/2 * * * * *\"\nrange: 7d\npost:\n  template: \"{{ digest }} [{{ fired_at }}]\"\ndm_to: operator\ndm:\n  template: \"{{ digest }} [{{ fired_at }}]\"\n";
    for (i, r) in Readings::all().into_iter().enumerate() {
        let handle = format!("reporter_{i}");
        let (sb, me, dir, cfg) = setup(&r, &handle, &[("r.yaml", REPORT)]).await;
        register(&sb, "operator").await;
        let posted = || posts_of(&sb, &handle);
        let sent = || sb.app.world().messages.values().filter(|m| m.sender == me).map(|m| m.content.clone()).collect::<Vec<_>>();
        let _d = killed_in_the_window(&sb, &cfg, "POST /api/posts", async {}, || posted().len() == 1).await;
        let held = fires(&posted()).into_keys().next().unwrap();
        assert!(restarted_ran(&dir, "digest", 2).await, "{r:?}: the restarted report fired twice");
        let (p, s) = (fires(&posted()), fires(&sent()));
        each_fire_once(&r, &held, &p);
        assert_eq!(p, s, "{r:?}: every posted fire sent once");
        sb.stop().await;
    }
}

/// A scheduled hook's `post` action whose answer was lost: the program is not asked again for
/// that fire, and its post is found, not made twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_hooks_post_whose_answer_was_lost_to_a_sigkill_is_made_once_under_every_reading() {
    const PROGRAM: &str = r#"#!/bin/sh
at=$(sed -n 's/.*"at":"\([^"]*\)".*/\1/p')
n=$(cat asked 2>/dev/null || echo 0); echo $((n+1)) > asked
printf '{"actions":[{"type":"post","text":"hook news [%s]"}]}' "$at"
"#;
    const HOOK: &str = "kind: hook\nname: news\nschedule: \"*/2 * * * * *\"\nprogram:\n  command: [sh, news.sh]\n";
    for (i, r) in Readings::all().into_iter().enumerate() {
        let handle = format!("hooker_{i}");
        let (sb, _me, dir, cfg) = setup(&r, &handle, &[("h.yaml", HOOK)]).await;
        std::fs::write(dir.path().join("behaviors/news.sh"), PROGRAM).unwrap();
        let posted = || posts_of(&sb, &handle);
        let _d = killed_in_the_window(&sb, &cfg, "POST /api/posts", async {}, || posted().len() == 1).await;
        let held = fires(&posted()).into_keys().next().unwrap();
        assert!(restarted_ran(&dir, "news", 2).await, "{r:?}: the restarted hook fired twice");
        let p = fires(&posted());
        each_fire_once(&r, &held, &p);
        let asked: usize = std::fs::read_to_string(dir.path().join("behaviors/asked")).unwrap().trim().parse().unwrap();
        assert_eq!(asked, p.len(), "{r:?}: the program asked once per fire, not again for the held one");
        sb.stop().await;
    }
}

/// A timeline too busy to walk back to the intent's time (more than 50 pages of other agents'
/// posts above ours): the post is found by the platform's search for its text, not made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_buried_under_fifty_pages_is_found_by_search() {
    for (i, readings) in [Readings::default(), Readings { keyset_cursors: true, ..Readings::default() }].into_iter().enumerate() {
        let sb = sandbox(SandboxConfig { readings: readings.clone(), ..quiet_config() }).await;
        let handle = format!("buried_{i}");
        let creds = register(&sb, &handle).await;
        register(&sb, &format!("busy_{i}")).await;
        let crowd_id = id_of(&sb, &format!("busy_{i}"));
        let dir = tempfile::tempdir().unwrap();
        let b = "kind: scheduled_post\nname: ticks\nschedule: \"* * * * * *\"\ncontent:\n  template: \"tick {{ counter }} at {{ time }} by {{ handle }}\"\n";
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("t.yaml", b)], "");
        hold(&sb, "POST /api/posts", Some(120_000));
        let mut d = spawn_run(&cfg);
        assert!(eventually(Duration::from_secs(20), || posts_of(&sb, &handle).len() == 1).await, "{readings:?}: the first post was made");
        d.0.kill().unwrap(); // SIGKILL while the answer is held back
        d.0.wait().unwrap();
        hold(&sb, "POST /api/posts", None);
        // While the daemon is down, 51 pages of another agent's posts above ours.
        for n in 0..5_100 {
            sb.app.world().create_post(&crowd_id, &NewPost::text(format!("busy post {n}"))).unwrap();
        }
        let d = spawn_run(&cfg);
        let first = posts_of(&sb, &handle)[0].clone();
        assert!(
            eventually(Duration::from_secs(60), || posts_of(&sb, &handle).len() >= 2).await,
            "{readings:?}: the schedule went on after the restart"
        );
        let got = posts_of(&sb, &handle);
        assert_eq!(got.iter().filter(|t| **t == first).count(), 1, "{readings:?}: the buried post exists once: {got:?}");
        assert!(received(&sb, "GET /api/search") >= 1, "{readings:?}: found by the search, past the walk");
        drop(d);
        sb.stop().await;
    }
}

/// A scheduled post with an image, the daemon SIGKILLed after the platform
/// took the upload but before the daemon heard of it: after the restart the
/// upload is found in the agent's media library and used, so every fire is
/// posted once with one image, and no upload is left unused (no orphan, no
/// second upload), under every reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_whose_upload_answer_was_lost_to_a_sigkill_is_uploaded_and_posted_once_under_every_reading() {
    const POSTER: &str = "kind: scheduled_post\nname: pics\nschedule: \"*/2 * * * * *\"\ncontent:\n  template: \"a picture [{{ date }} {{ time }}:{{ counter }}]\"\nmedia: pic.png\n";
    for (i, r) in Readings::all().into_iter().enumerate() {
        let handle = format!("pictures_{i}");
        let (sb, me, dir, cfg) = setup(&r, &handle, &[("p.yaml", POSTER)]).await;
        std::fs::write(dir.path().join("behaviors/pic.png"), [&b"\x89PNG\r\n\x1a\n"[..], &[7u8; 2048]].concat()).unwrap();
        let _d = killed_in_the_window(&sb, &cfg, "POST /api/upload", async {}, || uploads_of(&sb, &me).len() == 1).await;
        assert!(restarted_ran(&dir, "pics", 2).await, "{r:?}: the restarted behavior fired twice");
        let (posted, attached): (Vec<String>, Vec<String>) = {
            let w = sb.app.world();
            let mine: Vec<_> = w.posts.values().filter(|p| p.agent == me).collect();
            (mine.iter().map(|p| p.content.clone()).collect(), mine.iter().flat_map(|p| p.media_urls.clone()).collect())
        };
        let p = fires(&posted);
        assert!(p.values().all(|n| *n == 1) && p.len() >= 2, "{r:?}: every fire posted once: {p:?}");
        assert_eq!(attached.len(), posted.len(), "{r:?}: one image on every post");
        assert_each_upload_used_once(&sb, &me, &attached, &format!("{r:?}"));
        sb.stop().await;
    }
}

/// A report's chart whose upload answer was lost to a SIGKILL: after the
/// restart the chart is found in the media library, so every posted fire
/// carries one chart and no chart is uploaded twice or left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_chart_whose_upload_answer_was_lost_is_uploaded_once() {
    const REPORT: &str = "kind: report\nname: charted\nschedule: \"*/2 * * * * *\"\nrange: 7d\npost:\n  template: \"{{ digest }} [{{ fired_at }}]\"\nchart:\n  days: 7\n  width: 320\n  height: 200\n";
    let r = Readings::default();
    let (sb, me, dir, cfg) = setup(&r, "charter", &[("r.yaml", REPORT)]).await;
    let _d = killed_in_the_window(&sb, &cfg, "POST /api/upload", async {}, || uploads_of(&sb, &me).len() == 1).await;
    assert!(restarted_ran(&dir, "charted", 2).await, "the restarted report fired twice");
    let (posted, attached): (Vec<String>, Vec<String>) = {
        let w = sb.app.world();
        let mine: Vec<_> = w.posts.values().filter(|p| p.agent == me).collect();
        (mine.iter().map(|p| p.content.clone()).collect(), mine.iter().flat_map(|p| p.media_urls.clone()).collect())
    };
    let p = fires(&posted);
    assert!(p.values().all(|n| *n == 1) && p.len() >= 2, "every fire posted once: {p:?}");
    assert_eq!(attached.len(), posted.len(), "one chart on every post");
    assert_each_upload_used_once(&sb, &me, &attached, "charts");
    sb.stop().await;
}
