//! The daemon end to end: a real sandbox on loopback, real sled files, real
//! processes killed with SIGKILL.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use imagine_agent::runtime::{self, RunOptions};
use imagine_agent::sandbox::SandboxConfig;
use imagine_agent::wire::types::NewPost;
use imagine_agent::{setup, store};
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

struct Daemon {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), runtime::RuntimeError>>,
}

fn start(cfg: &Path) -> Daemon {
    let loaded = setup::load(cfg).unwrap_or_else(|p| panic!("{p}"));
    let stop = CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(runtime::run(loaded, RunOptions::default(), stop.clone(), rx));
    Daemon { stop, task }
}

impl Daemon {
    async fn shutdown(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn community(n: usize) -> SandboxConfig {
    SandboxConfig { community: n, community_interval: Duration::ZERO, ..quiet_config() }
}

#[tokio::test]
async fn a_mention_gets_one_reply_and_a_follow_gets_followed_back() {
    let s = scenario("bot").community(4).behavior("reply.yaml", REPLY_BEHAVIOR).behavior("follow.yaml", FOLLOW_BEHAVIOR).build().await;
    let (sb, bot) = (&s.sb, s.id.clone());
    let d = s.start();
    let b = burst(sb, serde_json::json!({"target": "bot", "mentions": 6, "follows": 3})).await;
    let posts = post_seqs(&b);
    assert!(eventually(Duration::from_secs(20), || s.replies_on(&posts).values().all(|n| *n >= 1)).await, "every mention answered");
    assert!(eventually(Duration::from_secs(20), || sb.query().following(&bot).len() == 3).await, "followed back");
    assert!(eventually(Duration::from_secs(10), || sb.query().dm_texts(&bot).len() == 3).await, "welcome DMs");
    polls_later(sb, 3).await;
    assert!(s.replies_on(&posts).values().all(|n| *n == 1), "exactly one reply each: {:?}", s.replies_on(&posts));
    assert_eq!(sb.query().dm_texts(&bot).len(), 3, "still one welcome DM each after a quiet period");
    // Counted at the emulator: a repeated follow request would not show in the set of whom it follows.
    assert_eq!(received(sb, "POST /api/agents/{handle}/follow"), 3, "one follow request per follower");
    let reply = sb.query().comment_texts(&bot).remove(0);
    assert!(reply.starts_with("Thanks @"), "{reply}");
    d.shutdown().await;
    s.stop().await;
}

#[tokio::test]
async fn replies_are_threaded_under_the_triggering_comment() {
    let sb = sandbox(community(2)).await;
    let creds = register(&sb, "threader").await;
    let bot = id_of(&sb, "threader");
    let s = imagine_agent::api::Session::new(
        imagine_agent::api::SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone()),
    )
    .unwrap();
    let post = s.create_post(&NewPost::text("my own post")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("reply.yaml", REPLY_BEHAVIOR)], "");
    let d = start(&cfg);
    burst(&sb, serde_json::json!({"target": "threader", "comments": 1})).await;
    assert!(eventually(Duration::from_secs(15), || sb.app.world().comments.values().any(|c| c.agent == bot)).await);
    {
        let w = sb.app.world();
        let mine = w.comments.values().find(|c| c.agent == bot).unwrap();
        let parent = w.comments.get(&mine.parent.expect("threaded")).unwrap();
        assert_ne!(parent.agent, bot);
        assert_eq!(format!("post_{}", mine.post), post.id);
    }
    d.shutdown().await;
    sb.stop().await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_burst_loses_and_repeats_nothing() {
    // Latency keeps events waiting in the inbox at the stop.
    let faults = imagine_agent::sandbox::Faults { latency_ms: 30, ..Default::default() };
    let sb = sandbox(SandboxConfig { faults, ..community(5) }).await;
    let creds = register(&sb, "steady").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("reply.yaml", REPLY_BEHAVIOR)], "");
    let bot = id_of(&sb, "steady");
    let b = burst(&sb, serde_json::json!({"target": "steady", "mentions": 200})).await;
    let posts = post_seqs(&b);
    all_listed(&sb).await; // the whole burst listed (late ones too) before the daemon reads it
    let d = start(&cfg);
    assert!(eventually(Duration::from_secs(20), || replies_on(&sb, &bot, &posts).values().any(|n| *n > 0)).await);
    d.shutdown().await;
    // Work was pending at the stop: events waiting in the inbox, mentions not answered yet.
    let answered = replies_on(&sb, &bot, &posts).values().filter(|n| **n > 0).count();
    let waiting = store::Store::open(&dir.path().join("state/sled")).unwrap().agent("steady").unwrap().inbox_len();
    assert!(answered < posts.len() && waiting > 0, "stopped with {waiting} events waiting, {answered}/{} answered", posts.len());
    assert_eq!(waiting + answered, posts.len(), "every unanswered mention is waiting, durably");
    let d = start(&cfg);
    assert!(eventually(Duration::from_secs(30), || replies_on(&sb, &bot, &posts).values().all(|n| *n >= 1)).await);
    polls_later(&sb, 3).await;
    d.shutdown().await;
    let r = replies_on(&sb, &bot, &posts);
    assert!(r.values().all(|n| *n == 1), "{r:?}");
    sb.stop().await;
}

#[tokio::test]
async fn a_stop_under_a_spent_write_budget_does_not_wait_it_out_and_the_waiting_replies_go_out_once_after_the_restart() {
    let sb = sandbox(community(3)).await;
    let creds = register(&sb, "patient").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("reply.yaml", REPLY_BEHAVIOR)], "");
    // A long grace: a stop that waited for the budget would take all of it.
    let text = std::fs::read_to_string(&cfg).unwrap().replace("shutdown_grace: 3s", "shutdown_grace: 40s");
    std::fs::write(&cfg, text).unwrap();
    // Six writes a minute: once its small burst is spent, each reply waits ten seconds for a slot.
    set_budgets(&cfg, "  reads_per_minute: 0\n  writes_per_minute: 6\n  auth_per_minute: 0\n");
    let bot = id_of(&sb, "patient");
    let posts = post_seqs(&burst(&sb, serde_json::json!({"target": "patient", "mentions": 20})).await);
    all_listed(&sb).await;
    let d = start(&cfg);
    assert!(eventually(Duration::from_secs(20), || replies_on(&sb, &bot, &posts).values().any(|n| *n > 0)).await);
    let t = std::time::Instant::now();
    d.shutdown().await;
    let took = t.elapsed();
    assert!(took < Duration::from_secs(20), "the stop took {took:?}: it waited for the write budget");
    let answered = replies_on(&sb, &bot, &posts).values().filter(|n| **n > 0).count();
    {
        let s = store::Store::open(&dir.path().join("state/sled")).unwrap().agent("patient").unwrap();
        let records = s.actions().unwrap();
        let intents = records.iter().filter(|(_, _, r)| r.state == store::ActionState::Intent).count();
        let skipped: Vec<_> = records.iter().filter(|(_, _, r)| r.state == store::ActionState::Skipped).collect();
        assert!(skipped.is_empty(), "a reply not sent at the stop is not an outcome: {skipped:?}");
        assert!(
            answered < posts.len() && intents > 0,
            "stopped with {intents} replies decided and waiting, {answered}/{} sent",
            posts.len()
        );
        assert_eq!(s.inbox_len(), posts.len() - answered, "every mention not answered is still waiting, durably");
    }
    // The budget lifted: what waited goes out, each once.
    let text = std::fs::read_to_string(&cfg).unwrap().replace("writes_per_minute: 6", "writes_per_minute: 0");
    std::fs::write(&cfg, text).unwrap();
    let d = start(&cfg);
    assert!(eventually(Duration::from_secs(30), || replies_on(&sb, &bot, &posts).values().all(|n| *n >= 1)).await);
    polls_later(&sb, 3).await;
    d.shutdown().await;
    let r = replies_on(&sb, &bot, &posts);
    assert!(r.values().all(|n| *n == 1), "{r:?}");
    sb.stop().await;
}

// Multi-threaded: the sandbox keeps serving while this thread waits on child processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_repeats_nothing() {
    // Latency and a write budget of 2 a second (after a burst of 12) keep
    // work in flight, so the kills land mid-burst: some while replies are
    // sent, some while decided ones (their intents written) wait for a slot.
    let faults = imagine_agent::sandbox::Faults { latency_ms: 15, ..Default::default() };
    let sb = sandbox(SandboxConfig { faults, ..community(6) }).await;
    let creds = register(&sb, "survivor").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("reply.yaml", REPLY_BEHAVIOR), ("follow.yaml", FOLLOW_BEHAVIOR)], "");
    set_budgets(&cfg, "  reads_per_minute: 0\n  writes_per_minute: 120\n  auth_per_minute: 0\n");
    let bot = id_of(&sb, "survivor");
    let bin = env!("CARGO_BIN_EXE_imagine-agent");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut posts = vec![];
    let mut killed_mid_work = 0;
    for round in 0..5 {
        posts.extend(post_seqs(&burst(&sb, serde_json::json!({"target": "survivor", "mentions": 24, "follows": 1})).await));
        let mut child = KillOnDrop(
            std::process::Command::new(bin)
                .args(["run", "--config"])
                .arg(&cfg)
                .env("RUST_LOG", "warn")
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        // In the middle of the work: once this run has answered something, a random moment later.
        let done = || replies_on(&sb, &bot, &posts).values().filter(|n| **n > 0).count();
        let before = done();
        assert!(eventually(Duration::from_secs(30), || done() > before).await, "round {round}: the run answers");
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        let after = done();
        eprintln!("round {round}: killed with {after}/{} mentions answered ({before} before this run)", posts.len());
        killed_mid_work += usize::from(after > before && after < posts.len());
    }
    // Some of each run's work done and some not, at every kill (the write budget keeps work waiting).
    assert_eq!(killed_mid_work, 5, "every kill landed in the middle of the work");
    // The last run without the budget, to finish in good time.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("writes_per_minute: 120", "writes_per_minute: 0")).unwrap();
    let mut child = KillOnDrop(
        std::process::Command::new(bin).args(["run", "--config"]).arg(&cfg).stderr(std::process::Stdio::null()).spawn().unwrap(),
    );
    // A notification listed late (below ones already handed over) waits for the next complete
    // poll, one a minute: up to two of those.
    let all = eventually(Duration::from_secs(150), || {
        replies_on(&sb, &bot, &posts).values().all(|n| *n >= 1) && sb.query().following(&bot).len() == 5
    })
    .await;
    polls_later(&sb, 3).await;
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let r = replies_on(&sb, &bot, &posts);
    let followed = sb.query().following(&bot).len();
    assert!(all, "not all handled: {followed} of 5 followed back; replies {r:?}");
    assert!(r.values().all(|n| *n == 1), "duplicates: {r:?}");
    let dms = sb.app.world().messages.values().filter(|m| m.sender == bot).count();
    assert_eq!(dms, 5, "one welcome DM per follower");
    sb.stop().await;
}

#[tokio::test]
async fn dry_run_reads_but_sends_no_writes() {
    let sb = sandbox(community(3)).await;
    let creds = register(&sb, "careful").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sb.base_url(),
        &creds,
        &[("reply.yaml", REPLY_BEHAVIOR), ("follow.yaml", FOLLOW_BEHAVIOR)],
        "dry_run: true\nmetrics_addr: 127.0.0.1:0\n",
    );
    let d = start(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    burst(&sb, serde_json::json!({"target": "careful", "mentions": 4, "follows": 2})).await;
    let would_reply = || metric(port, "imagine_agent_actions_total", &["action=\"reply\"", "outcome=\"dry_run\""]);
    assert!(
        eventually_async(Duration::from_secs(15), || async { would_reply().await >= Some(4) }).await,
        "the mentions were read and answered in the log"
    );
    polls_later(&sb, 3).await;
    d.shutdown().await;
    let writes: u64 = stats(&sb)
        .by_route
        .iter()
        .filter(|(r, _)| !r.starts_with("GET") && !r.contains("/api/auth/") && !r.contains("/sandbox/"))
        .flat_map(|(_, m)| m.values())
        .sum();
    assert_eq!(writes, 0, "{:?}", stats(&sb).by_route);
    let st = store::Store::open(&dir.path().join("state/sled")).unwrap().agent("careful").unwrap();
    let acts = st.actions().unwrap();
    assert!(acts.iter().filter(|a| a.2.result.as_deref() == Some("dry-run")).count() >= 4, "{acts:?}");
    sb.stop().await;
}

#[tokio::test]
async fn two_bots_mentioning_each_other_stop_within_the_bound() {
    let sb = sandbox(quiet_config()).await;
    let (ca, cb) = (register(&sb, "bot_a").await, register(&sb, "bot_b").await);
    let bounded = "kind: auto_reply\nname: chat\ncontent:\n  template: \"@{{ author }} interesting, tell me more\"\nguardrails:\n  author_cooldown: 0s\n  max_thread_depth: 3\n  max_replies_per_thread: 10\n";
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(&write_config(da.path(), &sb.base_url(), &ca, &[("chat.yaml", bounded)], ""));
    let b = start(&write_config(db.path(), &sb.base_url(), &cb, &[("chat.yaml", bounded)], ""));
    let sa =
        imagine_agent::api::Session::new(imagine_agent::api::SessionConfig::new(sb.base_url()).credentials(ca.0.clone(), ca.1.clone()))
            .unwrap();
    let post = sa.create_post(&NewPost::text("@bot_b what do you think?")).await.unwrap();
    let seq: u64 = post.id.trim_start_matches("post_").parse().unwrap();
    let count = || sb.app.world().comments.values().filter(|c| c.post == seq).count();
    assert!(eventually(Duration::from_secs(20), || count() >= 3).await, "the bots talked");
    // Both daemons poll several more times: a fourth reply would have come by then.
    polls_later(&sb, 10).await;
    let n = count();
    a.shutdown().await;
    b.shutdown().await;
    assert_eq!(n, 3, "replies stop at thread depth 3");
    sb.stop().await;
}

#[tokio::test]
async fn a_generation_completes_into_a_post_and_is_resumed_after_a_restart() {
    let sb = sandbox(SandboxConfig { generation_duration: Duration::from_secs(3), ..quiet_config() }).await;
    let creds = register(&sb, "painter").await;
    let s = imagine_agent::api::Session::new(
        imagine_agent::api::SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone()),
    )
    .unwrap();
    s.connect_service(&imagine_agent::wire::types::Provider::OpenAi, &secrecy::SecretString::from("sk-x-123456789".to_string()))
        .await
        .unwrap();
    let pipeline = |schedule: &str| {
        format!("kind: generation_pipeline\nname: art\nschedule: \"{schedule}\"\nprovider: OPENAI\ntype: image\nprompt:\n  template: \"art number {{{{ counter }}}}\"\ncaption:\n  text: \"new art\"\npoll_every: 1s\n")
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("art.yaml", &pipeline("* * * * * *"))], "");
    let d = start(&cfg);
    assert!(eventually(Duration::from_secs(10), || !sb.app.world().jobs.is_empty()).await, "a job started");
    d.shutdown().await;
    let job = sb.app.world().jobs.values().next().unwrap().clone();
    assert_ne!(job.status, Some(imagine_agent::wire::types::GenerationStatus::Completed), "stopped while the job runs");
    let jobs_before = sb.app.world().jobs.len();
    let unfinished =
        sb.app.world().jobs.values().filter(|j| j.status != Some(imagine_agent::wire::types::GenerationStatus::Completed)).count() as u64;
    // Restart with a schedule that will not fire now: only the resumed job is followed.
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("art.yaml", &pipeline("0 0 1 1 *"))], "metrics_addr: 127.0.0.1:0\n");
    let before = served(&sb, "GET /api/generate/pending", 200);
    let _ = std::fs::remove_file(imagine_agent::runtime::addr_file(&dir.path().join("state"), "metrics"));
    let d = start(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    assert!(
        eventually(Duration::from_secs(15), || sb
            .app
            .world()
            .jobs
            .values()
            .all(|j| j.status == Some(imagine_agent::wire::types::GenerationStatus::Completed)))
        .await
    );
    // The restarted daemon asked the platform about the job it found in flight (it polls only while one is).
    assert!(eventually(Duration::from_secs(5), || served(&sb, "GET /api/generate/pending", 200) > before).await);
    // Every job in flight at the stop seen to its end by the restarted daemon (on a loaded machine this takes a few polls).
    assert!(
        eventually_async(Duration::from_secs(20), || async {
            metric(port, "imagine_agent_generation_jobs_total", &["state=\"completed\""]).await >= Some(unfinished)
        })
        .await
    );
    d.shutdown().await;
    {
        let w = sb.app.world();
        // Exact: a fire's job is never started twice (each fire has its own prompt); the restarted
        // daemon may finish starting at most the one fire that was pending at the stop.
        let mut prompts: Vec<&str> = w.jobs.values().map(|j| j.prompt.as_str()).collect();
        let n = prompts.len();
        prompts.sort();
        prompts.dedup();
        assert_eq!(prompts.len(), n, "no duplicate generation after the restart");
        assert!(w.jobs.len() <= jobs_before + 1);
        let post = w.posts.values().find(|p| p.content == "new art").expect("the completed job became a post");
        assert_eq!(post.media_urls.len(), 1);
    }
    let st = store::Store::open(&dir.path().join("state/sled")).unwrap().agent("painter").unwrap();
    let jid = format!("job_{}", job.seq);
    assert_eq!(st.get::<bool>("art", &format!("finished:{jid}")).unwrap(), Some(true), "the resumed job was followed to the end");
    assert!(st.scan::<serde_json::Value>("art", "job:").unwrap().is_empty());
    sb.stop().await;
}

#[tokio::test]
async fn a_scheduled_post_fires_with_its_template() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "poster").await;
    let dir = tempfile::tempdir().unwrap();
    let sched = "kind: scheduled_post\nname: tick\nschedule: \"* * * * * *\"\ntimezone: Europe/Paris\ncontent:\n  template: \"tick {{ counter }} by {{ handle }}\"\nhashtags: [ticks]\n";
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("tick.yaml", sched)], "");
    let d = start(&cfg);
    let bot = id_of(&sb, "poster");
    assert!(eventually(Duration::from_secs(10), || sb.app.world().posts.values().filter(|p| p.agent == bot).count() >= 2).await);
    d.shutdown().await;
    let mut texts: Vec<String> = sb.app.world().posts.values().filter(|p| p.agent == bot).map(|p| p.content.clone()).collect();
    texts.sort();
    assert_eq!(texts[0], "tick 1 by poster #ticks");
    assert_eq!(texts[1], "tick 2 by poster #ticks");
    sb.stop().await;
}

#[test]
fn validate_reports_every_problem_with_line_and_column() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .args(["validate", "--config", "tests/fixtures/broken/config.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let got = String::from_utf8(out.stdout).unwrap();
    let want = std::fs::read_to_string("tests/fixtures/broken/expected.txt").unwrap();
    assert_eq!(got.trim(), want.trim(), "\n--- got ---\n{got}");
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .args(["validate", "--config", "config.example.yaml"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
}

#[tokio::test]
async fn a_schedule_fires_at_the_computed_time_on_a_controlled_clock() {
    use chrono::TimeZone;
    use imagine_agent::clock::Clock;
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "punctual").await;
    let dir = tempfile::tempdir().unwrap();
    // Crontab's 1 is Monday: 09:00 in Paris is 08:00 UTC in winter.
    let sched = "kind: scheduled_post\nname: monday\nschedule: \"0 9 * * 1\"\ntimezone: Europe/Paris\ncontent:\n  template: \"Good {{ weekday }} at {{ time }}\"\n";
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("monday.yaml", sched)], "");
    let clock = Clock::manual(chrono::Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()); // a Saturday
    let loaded = setup::load(&cfg).unwrap();
    let stop = CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(runtime::run(loaded, RunOptions { clock: clock.clone(), ..RunOptions::default() }, stop.clone(), rx));
    let bot = id_of(&sb, "punctual");
    let mine = || sb.app.world().posts.values().filter(|p| p.agent == bot).map(|p| p.content.clone()).collect::<Vec<_>>();
    polls_later(&sb, 2).await;
    clock.set(chrono::Utc.with_ymd_and_hms(2026, 11, 30, 7, 59, 59).unwrap());
    polls_later(&sb, 2).await;
    assert!(mine().is_empty(), "nothing before Monday 09:00 Paris");
    clock.set(chrono::Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap());
    assert!(eventually(Duration::from_secs(5), || mine().len() == 1).await, "fired at Monday 09:00 Paris");
    assert_eq!(mine(), vec!["Good Monday at 09:00".to_string()]);
    clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()); // Sunday: no new fire
    polls_later(&sb, 2).await;
    assert_eq!(mine().len(), 1);
    clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap());
    assert!(eventually(Duration::from_secs(5), || mine().len() == 2).await, "and the Monday after");
    stop.cancel();
    task.await.unwrap().unwrap();
    sb.stop().await;
}

#[test]
fn a_refused_request_says_its_reason_once() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .args(["post", &"x".repeat(600), "--base-url", "http://127.0.0.1:9"])
        .env("IMAGINEANYTHING_CLIENT_ID", "id")
        .env("IMAGINEANYTHING_CLIENT_SECRET", "secret")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("600 characters, the platform allows at most 500").count(), 1, "{err}");
}
