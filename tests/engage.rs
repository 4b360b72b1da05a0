//! `engage` end to end on the emulator: which posts are picked (sources,
//! words, hashtags, age, never our own), every action once per post through a
//! SIGKILL in the middle of a run, nothing again on a later start; caps per
//! hour and day, the per-author cooldown, the per-run maximum (resumed on the
//! next run) and the model's rating, on the controllable clock.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use common::*;
use imagine_agent::clock::Clock;
use imagine_agent::sandbox::SandboxHandle;
use imagine_agent::wire::types::{NewAgent, NewPost};

/// Registers `handle` in the world; its id.
fn author(sb: &SandboxHandle, handle: &str) -> String {
    sb.register_agent(&NewAgent { handle: handle.into(), name: handle.to_uppercase(), ..Default::default() }).unwrap();
    id_of(sb, handle)
}

/// Creates a post by `id`; its seq.
fn post(sb: &SandboxHandle, id: &str, text: &str) -> u64 {
    sb.app.world().create_post(id, &NewPost::text(text.to_string())).unwrap().0
}

/// Per post seq: (liked, amplified, reposted) by `me`.
fn marks(sb: &SandboxHandle, me: &str) -> BTreeMap<u64, (bool, bool, bool)> {
    let w = sb.app.world();
    w.posts
        .values()
        .filter(|p| p.likes.contains_key(me) || p.amplifies.contains(me) || p.reposts.contains(me))
        .map(|p| (p.seq, (p.likes.contains_key(me), p.amplifies.contains(me), p.reposts.contains(me))))
        .collect()
}

/// Quote posts by `me`, per quoted post seq.
fn quotes_by(sb: &SandboxHandle, me: &str) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for p in sb.app.world().posts.values().filter(|p| p.agent == me && p.is_quote) {
        *out.entry(p.repost_of.unwrap()).or_default() += 1;
    }
    out
}

const EVERYTHING: &str = "kind: engage
name: engage
sources:
  timeline: true
  hashtags: [rustlang]
select:
  keywords: [rust]
  max_age: 1d
actions:
  view: true
  like: true
  amplify: true
  repost: true
  quote:
    template: \"Worth reading, @{{ author }}.\"
  comment:
    template: \"Good point, @{{ author }}.\"
  follow_author: true
caps:
  view: {per_hour: 1000}
  like: {per_hour: 1000}
  amplify: {per_hour: 1000}
  repost: {per_hour: 1000}
  quote: {per_hour: 1000}
  comment: {per_hour: 1000}
  follow: {per_hour: 1000}
max_candidates: 100
max_actions_per_run: 1000
author_cooldown: 0s
every: 1h
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_once_per_selected_post_through_a_sigkill_mid_run() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "engager").await;
    let me = id_of(&sb, "engager");
    let authors: Vec<String> = (0..3).map(|i| author(&sb, &format!("writer_{i}"))).collect();
    let mut wanted = vec![];
    for i in 0..12 {
        wanted.push(post(&sb, &authors[i % 3], &format!("Post {i} on Rust and ownership. #rustlang")));
    }
    let others: Vec<u64> = (0..6).map(|i| post(&sb, &authors[i % 3], &format!("Post {i} about gardening."))).collect();
    let own = post(&sb, &me, "My own note on Rust. #rustlang");
    let old = post(&sb, &authors[0], "An old note on Rust. #rustlang");
    sb.app.world().posts.get_mut(&old).unwrap().created_ms -= 3 * 86_400_000;

    let dir = tempfile::tempdir().unwrap();
    // 5 writes a second (a burst of 30): the 84 actions take several seconds, room for a SIGKILL in the middle.
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("engage.yaml", EVERYTHING)], "");
    set_budgets(&cfg, "  reads_per_minute: 0\n  writes_per_minute: 300\n  auth_per_minute: 0\n");

    let spawn = || spawn_run(&cfg);
    let mut d = spawn();
    assert!(eventually(Duration::from_secs(30), || marks(&sb, &me).len() >= 4).await, "the run started");
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    let done_at_kill = marks(&sb, &me).values().filter(|m| *m == &(true, true, true)).count();
    assert!(done_at_kill < wanted.len(), "killed in the middle of the run ({done_at_kill} posts done)");

    let all_done = |sb: &SandboxHandle| {
        let m = marks(sb, &me);
        wanted.iter().all(|s| m.get(s) == Some(&(true, true, true)))
            && quotes_by(sb, &me).len() == wanted.len()
            && comments_by(sb, &me).len() == wanted.len()
            && sb.query().following(&me).len() == 3
    };
    let _d = spawn();
    assert!(eventually(Duration::from_secs(60), || all_done(&sb)).await, "every action on every selected post after the restart");
    polls_later(&sb, 5).await;

    // Exactly once each: requests as the emulator counted them.
    let n = wanted.len() as u64;
    assert_eq!(served(&sb, "POST /api/posts/{id}/like", 0), n, "one like request per post");
    assert_eq!(served(&sb, "POST /api/posts/{id}/repost", 0), n, "one repost request per post");
    assert_eq!(served(&sb, "POST /api/posts/{id}/quote", 0), n, "one quote per post");
    assert_eq!(served(&sb, "POST /api/posts/{id}/comments", 0), n, "one comment per post");
    assert_eq!(served(&sb, "POST /api/agents/{handle}/follow", 0), 3, "each author followed once");
    assert!(quotes_by(&sb, &me).values().all(|c| *c == 1) && comments_by(&sb, &me).values().all(|c| *c == 1));
    // Amplify and view have no "did I" read on the platform: at most the one in flight at the kill repeats (harmlessly).
    assert!((n..=n + 1).contains(&served(&sb, "POST /api/posts/{id}/amplify", 0)));
    assert!((n..=n + 1).contains(&served(&sb, "POST /api/posts/{id}/view", 0)));
    // Never our own post, an old one or one without the keyword.
    let m = marks(&sb, &me);
    for s in others.iter().chain([&own, &old]) {
        assert!(!m.contains_key(s), "post {s} left alone");
    }
    drop(_d);

    // A later start (same state) engages with nothing again.
    let writes = |sb: &SandboxHandle| {
        stats(sb)
            .by_route
            .iter()
            .filter(|(r, _)| r.starts_with("POST ") && !r.starts_with("POST /api/auth/"))
            .map(|(_, m)| m.values().sum::<u64>())
            .sum::<u64>()
    };
    let (before, tags) = (writes(&sb), served(&sb, "GET /api/hashtags/{tag}", 0));
    let _d = spawn();
    assert!(eventually(Duration::from_secs(20), || served(&sb, "GET /api/hashtags/{tag}", 0) > tags).await, "the third start ran");
    polls_later(&sb, 5).await;
    assert_eq!(writes(&sb) - before, 0, "nothing engaged twice");
    sb.stop().await;
}

const CAPPED: &str = "kind: engage
name: capped
sources:
  timeline: true
select:
  max_age: 30d
actions:
  like: true
caps:
  like: {per_hour: 3, per_day: 5}
author_cooldown: 0s
every: 1h
";

const COOLDOWN: &str = "kind: engage
name: cooldown
sources:
  timeline: true
select:
  max_age: 30d
actions:
  like: true
  view: true
caps:
  like: {per_hour: 1000}
  view: {per_hour: 1000}
author_cooldown: 6h
max_actions_per_run: 3
every: 1h
";

const RATED: &str = "kind: engage
name: rated
sources:
  hashtags: [robots]
select:
  max_age: 30d
  score:
    profile: local
    prompt: \"Posts about robotics and control.\"
    threshold: 5
actions:
  amplify: true
author_cooldown: 0s
every: 1h
";

fn liked(sb: &SandboxHandle, me: &str) -> usize {
    sb.app.world().posts.values().filter(|p| p.likes.contains_key(me)).count()
}

fn viewed(sb: &SandboxHandle) -> u64 {
    sb.app.world().posts.values().map(|p| p.views).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_cooldown_per_run_maximum_and_rating_hold_on_the_clock() {
    let sb = sandbox(quiet_config()).await;
    let (a, b) = (author(&sb, "writer_a"), author(&sb, "writer_b"));
    for i in 0..10 {
        post(&sb, if i % 2 == 0 { &a } else { &b }, &format!("Note {i}."));
    }
    let robots = [post(&sb, &a, "Robotics control loops, tuned. #robots"), post(&sb, &b, "Robotics and control at scale. #robots")];
    let unrelated = post(&sb, &b, "Baking bread today. #robots");
    // Early in a day, so that the hours below stay within it.
    let clock = Clock::manual(Utc::now().date_naive().and_hms_opt(1, 0, 0).unwrap().and_utc());
    let run = |handle: &'static str, behavior: &'static str| {
        let sb = &sb;
        async move {
            let creds = register(sb, handle).await;
            let dir = tempfile::tempdir().unwrap();
            let extra = format!("llm:\n  local:\n    base_url: {}/v1\n    model: sandbox-stand-in\n", sb.base_url());
            let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("b.yaml", behavior)], &extra);
            let id = id_of(sb, handle);
            (dir, cfg, id)
        }
    };
    let (_d1, cfg1, capped) = run("capped_bot", CAPPED).await;
    let (_d2, cfg2, cooled) = run("cooldown_bot", COOLDOWN).await;
    let (_d3, cfg3, rater) = run("rating_bot", RATED).await;
    let (s1, t1) = start_on(&cfg1, &clock);
    let (s2, t2) = start_on(&cfg2, &clock);
    let (s3, t3) = start_on(&cfg3, &clock);

    // Hour 1: 3 likes (the hourly cap); one post per author (cooldown), viewed then liked, the
    // run's maximum of 3 actions leaves the second post's like for the next run; only the
    // robotics posts rated high.
    assert!(eventually(Duration::from_secs(20), || liked(&sb, &capped) == 3).await);
    assert!(eventually(Duration::from_secs(20), || liked(&sb, &cooled) == 1 && viewed(&sb) == 2).await);
    let amplified =
        |sb: &SandboxHandle| sb.app.world().posts.values().filter(|p| p.amplifies.contains(&rater)).map(|p| p.seq).collect::<Vec<_>>();
    assert!(eventually(Duration::from_secs(20), || amplified(&sb).len() == 2).await);
    polls_later(&sb, 5).await;
    assert_eq!((liked(&sb, &capped), liked(&sb, &cooled), viewed(&sb)), (3, 1, 2), "caps, cooldown and the run's maximum hold");
    assert_eq!(amplified(&sb), robots.to_vec(), "rated 8 (robotics) amplified, rated 2 not: {unrelated} left alone");

    // Hour 2: the capped bot reaches its day (5); the cooled bot is still in the authors' cooldown
    // but finishes the plan the last run left (the second like).
    clock.set(clock.now() + chrono::Duration::hours(1));
    assert!(eventually(Duration::from_secs(20), || liked(&sb, &capped) == 5 && liked(&sb, &cooled) == 2).await);
    polls_later(&sb, 5).await;
    assert_eq!((liked(&sb, &capped), liked(&sb, &cooled), viewed(&sb)), (5, 2, 2), "the day's cap; the authors' cooldown");

    // Seven hours later: the cooldown has passed (two more posts, one per author, the second one's
    // like left for the next run), the capped bot is still at its day's cap.
    clock.set(clock.now() + chrono::Duration::hours(6));
    assert!(eventually(Duration::from_secs(20), || liked(&sb, &cooled) == 3 && viewed(&sb) == 4).await);
    polls_later(&sb, 5).await;
    assert_eq!(liked(&sb, &capped), 5, "the day's cap holds all day");

    // The next day: three more.
    clock.set(clock.now() + chrono::Duration::days(1));
    assert!(eventually(Duration::from_secs(20), || liked(&sb, &capped) == 8).await);
    polls_later(&sb, 5).await;
    assert_eq!(liked(&sb, &capped), 8, "the hourly cap on the new day");
    assert_eq!(amplified(&sb).len(), 2, "every post rated once, none amplified twice");
    for (s, t) in [(s1, t1), (s2, t2), (s3, t3)] {
        s.cancel();
        t.await.unwrap();
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_source_finds_its_posts_and_later_runs_go_deeper() {
    let sb = sandbox(quiet_config()).await;
    let (f, g) = (author(&sb, "writer_f"), author(&sb, "writer_g"));
    let fans = [author(&sb, "fan_1"), author(&sb, "fan_2"), author(&sb, "fan_3")];
    let alpha_f: Vec<u64> = (1..=3).map(|i| post(&sb, &f, &format!("alpha note {i}"))).collect();
    let alpha_g = post(&sb, &g, "alpha note 4");
    let zeta = post(&sb, &g, "a zeta topic");
    // Three likes: the bots below like no post more than twice between them
    // (alpha note 4 by by_agents and deeper), so only this one is ever trending enough.
    let popular = post(&sb, &g, "beta, liked by three");
    for fan in &fans {
        sb.app.world().like_post(popular, fan).unwrap();
    }
    let clock = Clock::manual(Utc::now().date_naive().and_hms_opt(1, 0, 0).unwrap().and_utc());
    let head = "kind: engage\nname: e\nactions:\n  like: true\nauthor_cooldown: 0s\nevery: 1h\nselect:\n  max_age: 30d\n";
    let bots = [
        ("by_following", format!("{head}  keywords: [alpha]\nsources:\n  following: true\n")),
        ("by_search", format!("{head}sources:\n  search: [zeta]\n")),
        ("by_agents", format!("{head}  keywords: [alpha]\nsources:\n  agents: [writer_g]\n")),
        ("by_trending", format!("{head}  min_likes: 3\nsources:\n  trending: true\n")),
        ("deeper", format!("{head}  keywords: [alpha]\nsources:\n  timeline: true\nmax_candidates: 1\n")),
    ];
    let mut running = vec![];
    let mut ids = BTreeMap::new();
    let mut dirs = vec![];
    for (handle, behavior) in &bots {
        let creds = register(&sb, handle).await;
        let id = id_of(&sb, handle);
        if *handle == "by_following" {
            sb.app.world().follow(&id, "writer_f").unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("e.yaml", behavior.as_str())], "");
        running.push(start_on(&cfg, &clock));
        ids.insert(*handle, id);
        dirs.push(dir);
    }
    let liked_by = |sb: &SandboxHandle, me: &str| -> Vec<u64> {
        sb.app.world().posts.values().filter(|p| p.likes.contains_key(me)).map(|p| p.seq).collect()
    };
    let want: Vec<(&str, Vec<u64>)> = vec![
        ("by_following", alpha_f.clone()),
        ("by_search", vec![zeta]),
        ("by_agents", vec![alpha_g]),
        ("by_trending", vec![popular]),
        ("deeper", vec![alpha_g]),
    ];
    for (bot, posts) in &want {
        assert!(eventually(Duration::from_secs(20), || liked_by(&sb, &ids[bot]) == *posts).await, "{bot}: {:?}", liked_by(&sb, &ids[bot]));
    }
    polls_later(&sb, 5).await;
    for (bot, posts) in &want {
        assert_eq!(liked_by(&sb, &ids[bot]), *posts, "{bot} took nothing else");
    }
    // One candidate a run: each later run takes the next newest, until none is left.
    for n in 2..=4 {
        clock.set(clock.now() + chrono::Duration::hours(1));
        assert!(eventually(Duration::from_secs(20), || liked_by(&sb, &ids["deeper"]).len() == n).await, "run {n}");
    }
    clock.set(clock.now() + chrono::Duration::hours(1));
    polls_later(&sb, 5).await;
    let mut all = alpha_f.clone();
    all.push(alpha_g);
    assert_eq!(liked_by(&sb, &ids["deeper"]), all);
    for (stop, task) in running {
        stop.cancel();
        task.await.unwrap();
    }
    sb.stop().await;
}

/// State written by the version that counted caps per clock hour and day
/// (`count:<action>:<hour>` and `count:<action>:<day>`) is read by the caps'
/// windows: an hour already spent stays spent after the upgrade, the day's
/// count holds all day, and nothing of the old layout is left once its day is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_counted_by_the_earlier_layout_still_hold() {
    let s = scenario("upgraded_bot").behavior("b.yaml", &CAPPED.replace("name: capped", "name: upgraded")).metrics().build().await;
    let (sb, me) = (&s.sb, s.id.clone());
    let a = author(sb, "writer_m");
    for i in 0..10 {
        post(sb, &a, &format!("Migrated note {i}."));
    }
    let t0 = Utc::now().date_naive().and_hms_opt(1, 0, 0).unwrap().and_utc();
    let clock = Clock::manual(t0);
    let sled = s.state_dir().join("sled");
    {
        // The earlier layout: this hour's 3 likes (the hourly cap), 4 today (the day allows 5).
        let s = imagine_agent::store::Store::open(&sled).unwrap().agent("upgraded_bot").unwrap();
        s.put("upgraded", &format!("count:like:{}", t0.format("%Y-%m-%dT%H")), &3u32).unwrap();
        s.put("upgraded", &format!("count:like:{}", t0.format("%Y-%m-%d")), &4u32).unwrap();
        s.put("upgraded", "count:like:2000-01-01", &9u32).unwrap();
    }
    let (stop, task) = s.start_on(&clock);
    let port = s.metrics_port().await;
    let ran = |n: u64| eventually_async(Duration::from_secs(20), move || async move { runs(port, "upgraded").await >= Some(n) });
    assert!(ran(1).await, "the first run finished");
    assert_eq!(liked(sb, &me), 0, "the hour spent before the upgrade stays spent");
    clock.set(t0 + chrono::Duration::hours(1));
    assert!(ran(2).await, "the second run finished");
    assert_eq!(liked(sb, &me), 1, "the day's fifth, and only it");
    clock.set(t0 + chrono::Duration::hours(2));
    assert!(ran(3).await, "the third run finished");
    assert_eq!(liked(sb, &me), 1, "the day's count (4 before the upgrade) holds");
    stop.cancel();
    task.await.unwrap();
    {
        let s = imagine_agent::store::Store::open(&sled).unwrap().agent("upgraded_bot").unwrap();
        assert_eq!(s.get::<u32>("upgraded", "count:like:2000-01-01").unwrap(), None, "a past day's counter is forgotten");
    }
    s.stop().await;
}

/// `sources.trending_hashtags`: the pages of the platform's top N hashtags of
/// the moment: with 2, the posts under the two most used tags are liked, the
/// posts under a rarer tag and untagged ones are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trending_hashtags_lead_to_their_posts() {
    let behavior = "kind: engage\nname: trend\nsources:\n  trending_hashtags: 2\nselect:\n  max_age: 30d\nactions:\n  like: true\ncaps:\n  like: {per_hour: 1000}\nauthor_cooldown: 0s\nmax_candidates: 100\nmax_actions_per_run: 100\nevery: 1h\n";
    let s = scenario("trend_bot").behavior("b.yaml", behavior).metrics().build().await;
    let sb = &s.sb;
    let a = author(sb, "writer_t");
    let mut want = std::collections::BTreeSet::new();
    for i in 0..5 {
        want.insert(post(sb, &a, &format!("Hot take {i} #hot")));
    }
    for i in 0..3 {
        want.insert(post(sb, &a, &format!("Warm note {i} #warm")));
    }
    let cold = post(sb, &a, "A quiet one #cold");
    let plain = post(sb, &a, "No tag at all");
    let liked_posts = || -> std::collections::BTreeSet<u64> {
        sb.app.world().posts.values().filter(|p| p.likes.contains_key(&s.id)).map(|p| p.seq).collect()
    };
    let clock = Clock::manual(Utc::now());
    let (stop, task) = s.start_on(&clock);
    let port = s.metrics_port().await;
    assert!(eventually_async(Duration::from_secs(20), || async { runs(port, "trend").await >= Some(1) }).await, "the run finished");
    assert_eq!(liked_posts(), want, "the posts of the two trending tags, not #cold ({cold}) nor the untagged one ({plain})");
    stop.cancel();
    task.await.unwrap();
    s.stop().await;
}
