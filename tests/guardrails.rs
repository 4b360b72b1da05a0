//! What keeps a bot from being spammy or looping, end to end with exact
//! counts: auto_reply's author cooldown, hourly and daily caps (on the
//! controllable clock), replies per thread, keywords, regex, allow and deny
//! lists. Each case waits until the behavior has handled every notification
//! (its own metric), then counts the replies on the emulator.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use common::*;
use imagine_agent::clock::Clock;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};
use imagine_agent::wire::types::NewPost;
use serde_json::json;

struct Bot {
    handle: String,
    id: String,
    port: u16,
    clock: Clock,
    cfg: std::path::PathBuf,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Bot {
    async fn start(sb: &SandboxHandle, handle: &str, behavior: &str) -> Bot {
        Bot::start_with(sb, handle, behavior, "").await
    }

    /// With `extra` in the config (e.g. `llm:` profiles).
    async fn start_with(sb: &SandboxHandle, handle: &str, behavior: &str, extra: &str) -> Bot {
        let creds = register(sb, handle).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", behavior)], &format!("metrics_addr: 127.0.0.1:0\n{extra}"));
        let clock = Clock::manual(Utc::now());
        let (stop, task) = start_on(&cfg, &clock);
        let port = bound_port(&dir.path().join("state"), "metrics").await;
        let id = id_of(sb, handle);
        Bot { handle: handle.into(), id, port, clock, cfg, stop, task, _dir: dir }
    }

    /// Stops the daemon and starts it again on the same state and clock.
    async fn restart(self) -> Bot {
        self.restart_with(|_| {}).await
    }

    /// [`Bot::restart`], with `between` run on the state directory while the daemon is down.
    async fn restart_with(mut self, between: impl FnOnce(&std::path::Path)) -> Bot {
        self.stop.cancel();
        (&mut self.task).await.unwrap();
        let state = self._dir.path().join("state");
        between(&state);
        // The port of this start, not the last one's.
        std::fs::remove_file(imagine_agent::runtime::addr_file(&state, "metrics")).unwrap();
        (self.stop, self.task) = start_on(&self.cfg, &self.clock);
        self.port = bound_port(&state, "metrics").await;
        self
    }

    /// A post of the bot's own: (id, seq).
    async fn post(&self, sb: &SandboxHandle) -> (String, u64) {
        let (id, secret) = {
            let w = sb.app.world();
            let a = w.agent_by_handle(&self.handle).unwrap();
            (a.client_id.clone(), a.client_secret.clone())
        };
        let s = imagine_agent::api::Session::new(imagine_agent::api::SessionConfig::new(sb.base_url()).credentials(id, secret)).unwrap();
        let post = s.create_post(&NewPost::text("What do you think?")).await.unwrap();
        let seq = post.id.trim_start_matches("post_").parse().unwrap();
        (post.id, seq)
    }

    /// Waits until the behavior has handled `n` notifications in all.
    async fn handled(&self, n: u64) {
        let ok = eventually_async(Duration::from_secs(30), || async {
            metric(self.port, "imagine_agent_notifications_handled_total", &["behavior=\"replies\""]).await >= Some(n)
        })
        .await;
        assert!(ok, "@{} handled {n} notifications", self.handle);
    }

    fn replies(&self, sb: &SandboxHandle) -> BTreeMap<u64, usize> {
        comments_by(sb, &self.id)
    }

    fn advance(&self, d: chrono::Duration) {
        self.clock.set(self.clock.now() + d);
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

fn behavior(extra: &str) -> String {
    format!("kind: auto_reply\nname: replies\ncontent:\n  template: \"Thanks @{{{{ author }}}}!\"\n{extra}")
}

async fn mentions(sb: &SandboxHandle, target: &str, n: usize) -> Vec<u64> {
    post_seqs(&burst(sb, json!({"target": target, "mentions": n})).await)
}

/// The bot posts; 7 comments arrive under the post; its cap of 2 replies per thread holds.
async fn seven_comments_get_two_replies(sb: &SandboxHandle, bot: &Bot) {
    let (_, seq) = bot.post(sb).await;
    let b = burst(sb, json!({"target": bot.handle, "comments": 7})).await;
    assert_eq!(b["commented"], 7);
    bot.handled(7).await;
    assert_eq!(bot.replies(sb).get(&seq).copied(), Some(2), "two replies under the post, not seven");
}

fn community(n: usize) -> SandboxConfig {
    SandboxConfig { community: n, community_interval: Duration::ZERO, ..quiet_config() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_and_daily_caps_hold_and_reopen_on_the_clock() {
    let sb = sandbox(community(6)).await;
    let g = "guardrails:\n  author_cooldown: 0s\n  max_per_hour: 3\n  max_per_day: 5\n  max_replies_per_thread: 100\n";
    let bot = Bot::start(&sb, "capped", &behavior(g)).await;
    mentions(&sb, "capped", 6).await;
    bot.handled(6).await;
    assert_eq!(bot.replies(&sb).len(), 3, "three an hour");
    bot.advance(chrono::Duration::minutes(61));
    mentions(&sb, "capped", 6).await;
    bot.handled(12).await;
    assert_eq!(bot.replies(&sb).len(), 5, "five a day");
    bot.advance(chrono::Duration::hours(24));
    mentions(&sb, "capped", 6).await;
    bot.handled(18).await;
    assert_eq!(bot.replies(&sb).len(), 8, "a new day: three more (the hourly cap)");
    assert!(bot.replies(&sb).values().all(|n| *n == 1));
    bot.stop().await;
    sb.stop().await;
}

/// The cooldown and the caps count the reply records, read again at a start:
/// a restart forgets neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldowns_and_caps_hold_across_a_restart() {
    let sb = sandbox(community(6)).await;
    let g = "guardrails:\n  author_cooldown: 10m\n  max_per_hour: 8\n  max_per_day: 1000\n  max_replies_per_thread: 100\n";
    let bot = Bot::start(&sb, "restarted", &behavior(g)).await;
    mentions(&sb, "restarted", 6).await;
    bot.handled(6).await;
    assert_eq!(bot.replies(&sb).len(), 6, "six authors, one reply each");
    let bot = bot.restart().await;
    mentions(&sb, "restarted", 6).await;
    bot.handled(6).await;
    assert_eq!(bot.replies(&sb).len(), 6, "after a restart: the same six authors, still cooling down");
    bot.advance(chrono::Duration::minutes(11));
    let bot = bot.restart().await;
    mentions(&sb, "restarted", 6).await;
    bot.handled(6).await;
    assert_eq!(bot.replies(&sb).len(), 8, "cooled down, after another restart: two more, the hourly cap of eight");
    bot.stop().await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_author_is_answered_once_per_cooldown() {
    let sb = sandbox(community(6)).await;
    let g = "guardrails:\n  author_cooldown: 10m\n  max_per_hour: 1000\n  max_per_day: 1000\n  max_replies_per_thread: 100\n";
    let bot = Bot::start(&sb, "cool", &behavior(g)).await;
    // Twelve mentions from six authors, two each.
    let first = mentions(&sb, "cool", 12).await;
    bot.handled(12).await;
    let authors = |posts: &[u64]| -> BTreeSet<String> {
        let w = sb.app.world();
        posts.iter().map(|p| w.posts[p].agent.clone()).collect()
    };
    let answered: Vec<u64> = bot.replies(&sb).keys().copied().collect();
    assert_eq!(answered.len(), 6, "one reply per author within the cooldown");
    assert_eq!(authors(&answered), authors(&first), "each author answered once");
    bot.advance(chrono::Duration::minutes(9));
    mentions(&sb, "cool", 6).await;
    bot.handled(18).await;
    assert_eq!(bot.replies(&sb).len(), 6, "nine minutes later: still cooling down");
    bot.advance(chrono::Duration::minutes(2));
    mentions(&sb, "cool", 6).await;
    bot.handled(24).await;
    assert_eq!(bot.replies(&sb).len(), 12, "eleven minutes later: each author once more");
    bot.stop().await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_n_replies_under_one_post() {
    let sb = sandbox(community(6)).await;
    let g = "on: [COMMENT]\nguardrails:\n  author_cooldown: 0s\n  max_per_hour: 1000\n  max_per_day: 1000\n  max_replies_per_thread: 2\n";
    let bot = Bot::start(&sb, "threaded", &behavior(g)).await;
    seven_comments_get_two_replies(&sb, &bot).await;
    bot.stop().await;
    sb.stop().await;
}

/// Comments answered, at most 3 replies under one post.
const THREE_PER_THREAD: &str =
    "on: [COMMENT]\nguardrails:\n  author_cooldown: 0s\n  max_per_hour: 1000\n  max_per_day: 1000\n  max_replies_per_thread: 3\n";

/// Replies per thread outlive the records that counted them: records pruned
/// after 7 days (while the daemon runs, and at a start) fold into the thread's
/// count, which a cap of 3 still meets after two restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thread_cap_outlives_the_records_that_counted_it() {
    let sb = sandbox(community(6)).await;
    let bot = Bot::start(&sb, "longthread", &behavior(THREE_PER_THREAD)).await;
    let (_, seq) = bot.post(&sb).await;
    let comments = |n: usize| burst(&sb, json!({"target": "longthread", "comments": n}));
    comments(2).await;
    bot.handled(2).await;
    assert_eq!(bot.replies(&sb).get(&seq).copied(), Some(2));
    bot.advance(chrono::Duration::days(8));
    let port = bot.port;
    let pruned = || metric(port, "imagine_agent_action_records_pruned_total", &[]);
    assert!(
        eventually_async(Duration::from_secs(30), || async { pruned().await >= Some(2) }).await,
        "the two records pruned while running"
    );
    comments(2).await;
    bot.handled(4).await;
    assert_eq!(bot.replies(&sb).get(&seq).copied(), Some(3), "the pruned two still count: one more reply, the third");
    let bot = bot.restart().await;
    comments(2).await;
    bot.handled(2).await;
    assert_eq!(bot.replies(&sb).get(&seq).copied(), Some(3), "after a restart: two pruned and one kept");
    bot.advance(chrono::Duration::days(8));
    let bot = bot.restart().await;
    comments(2).await;
    bot.handled(2).await;
    // This start's metrics (the port changes with each start).
    let pruned_now = metric(bot.port, "imagine_agent_action_records_pruned_total", &[]).await;
    assert!(pruned_now >= Some(1), "the third record pruned at the start");
    assert_eq!(bot.replies(&sb).get(&seq).copied(), Some(3), "all three pruned, all three still count");
    bot.stop().await;
    sb.stop().await;
}

/// An earlier version counted a thread's replies in one value (records and
/// all): that count holds after the upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_versions_count_per_thread_still_holds() {
    let sb = sandbox(community(6)).await;
    let bot = Bot::start(&sb, "upgraded", &behavior(THREE_PER_THREAD)).await;
    let (post, seq) = bot.post(&sb).await;
    let bot = bot
        .restart_with(|state| {
            let store = imagine_agent::store::Store::open(&state.join("sled")).unwrap();
            store.agent("upgraded").unwrap().put("replies", &format!("thread:{post}"), &2u32).unwrap();
        })
        .await;
    burst(&sb, json!({"target": "upgraded", "comments": 3})).await;
    bot.handled(3).await;
    assert_eq!(bot.replies(&sb).get(&seq).copied(), Some(1), "two counted before the upgrade: one more");
    bot.stop().await;
    sb.stop().await;
}

/// Replies are decided in turn even while several are in flight: with a
/// model writing each reply (slowly: every request to the emulator takes
/// 40 ms), 7 comments under one post still get 2 replies, and 12 mentions
/// under an hourly cap of 5 get 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_hold_while_replies_are_in_flight_and_written_by_a_slow_model() {
    let faults = imagine_agent::sandbox::Faults { latency_ms: 40, ..Default::default() };
    let sb = sandbox(SandboxConfig { faults, ..community(6) }).await;
    let llm = format!("llm:\n  local:\n    base_url: {}/v1\n    model: sandbox-stand-in\n", sb.base_url());
    let written = "content:\n  llm:\n    profile: local\n    prompt: \"Answer @{{ author }}\"\n";
    let g =
        "on: [COMMENT, MENTION]\nguardrails:\n  author_cooldown: 0s\n  max_per_hour: 5\n  max_per_day: 1000\n  max_replies_per_thread: 2\n";
    let spec = format!("kind: auto_reply\nname: replies\n{written}{g}");
    let bot = Bot::start_with(&sb, "inflight", &spec, &llm).await;
    seven_comments_get_two_replies(&sb, &bot).await;
    let posts = mentions(&sb, "inflight", 12).await;
    bot.handled(19).await;
    let r = bot.replies(&sb);
    let answered = posts.iter().filter(|p| r.contains_key(p)).count();
    assert_eq!(answered, 3, "the hourly cap of 5 leaves 3 replies for the mentions: {r:?}");
    bot.stop().await;
    sb.stop().await;
}

/// One bot per filter; each gets 16 mentions (topics and authors cycle) and answers exactly the expected ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_regex_allow_and_deny_filters_answer_exactly_the_matching_mentions() {
    let sb = sandbox(community(6)).await;
    let open = "guardrails:\n  author_cooldown: 0s\n  max_per_hour: 1000\n  max_per_day: 1000\n  max_replies_per_thread: 100\n";
    let members: Vec<String> = {
        let w = sb.app.world();
        w.agents.values().filter(|a| a.community).map(|a| a.handle.clone()).collect()
    };
    let (first, second) = (members[0].clone(), members[1].clone());
    type Expect = Box<dyn Fn(&str, &str) -> bool>;
    let cases: Vec<(&str, String, Expect)> = vec![
        ("kw_bot", format!("filters:\n  keywords: [AGENT MEMORY]\n{open}"), Box::new(|text: &str, _: &str| text.contains("agent memory"))),
        ("re_bot", format!("filters:\n  regex: \"question #1[0-9]:\"\n{open}"), {
            let re = regex::Regex::new("question #1[0-9]:").unwrap();
            Box::new(move |text: &str, _: &str| re.is_match(text))
        }),
        ("deny_bot", format!("filters:\n  deny_handles: [\"@{first}\"]\n{open}"), {
            let f = first.clone();
            Box::new(move |_: &str, author: &str| author != f)
        }),
        ("allow_bot", format!("filters:\n  allow_handles: [{}]\n{open}", second.to_uppercase()), {
            let s = second.clone();
            Box::new(move |_: &str, author: &str| author == s)
        }),
    ];
    for (handle, filters, expect) in cases {
        let bot = Bot::start(&sb, handle, &behavior(&filters)).await;
        let posts = mentions(&sb, handle, 16).await;
        bot.handled(16).await;
        let want: BTreeSet<u64> = {
            let w = sb.app.world();
            posts.iter().copied().filter(|p| expect(&w.posts[p].content, &w.agents[&w.posts[p].agent].handle)).collect()
        };
        assert!(!want.is_empty() && want.len() < 16, "{handle}: the case tells mentions apart");
        let got: BTreeSet<u64> = bot.replies(&sb).keys().copied().collect();
        assert_eq!(got, want, "{handle}: exactly the matching mentions answered");
        bot.stop().await;
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_is_answered_under_the_quoting_post() {
    let sb = sandbox(community(2)).await;
    let bot = Bot::start(&sb, "quoted", &behavior("on: [QUOTE]\nguardrails:\n  author_cooldown: 0s\n")).await;
    let session = |h: &str| {
        let w = sb.app.world();
        let a = w.agent_by_handle(h).unwrap();
        imagine_agent::api::Session::new(
            imagine_agent::api::SessionConfig::new(sb.base_url()).credentials(a.client_id.clone(), a.client_secret.clone()),
        )
        .unwrap()
    };
    let original = session("quoted").create_post(&NewPost::text("A thought worth quoting.")).await.unwrap();
    register(&sb, "quoter").await;
    let quote = session("quoter").quote(&original.id, "Quoting this, with a question: why?").await.unwrap();
    bot.handled(1).await;
    let seq = |id: &str| id.trim_start_matches("post_").parse::<u64>().unwrap();
    let replies = bot.replies(&sb);
    assert_eq!(replies.get(&seq(&quote.id)).copied(), Some(1), "one reply under the quoting post");
    assert_eq!(replies.get(&seq(&original.id)), None, "none under the original");
    bot.stop().await;
    sb.stop().await;
}
