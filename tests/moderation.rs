//! `moderation` end to end: a spam flood reported once and its author left
//! alone by `auto_reply`, and the block list set and lifted by hand with
//! `imagine-agent block` while the daemon runs.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use imagine_agent::api::Session;
use imagine_agent::wire::types::NewPost;

const BIN: &str = env!("CARGO_BIN_EXE_imagine-agent");

/// Answers every mention at once (no cooldown), so only the block list stands between a flood and replies.
const REPLY: &str = "kind: auto_reply
name: replies
on: [MENTION]
content:
  template: \"Thanks @{{ author }}!\"
guardrails:
  author_cooldown: 0s
  max_per_hour: 100
  max_per_day: 100
  max_replies_per_thread: 5
";

const MODERATION: &str = "kind: moderation
name: moderation
rules:
  - name: flood
    repeats: 3
    within: 1h
    report: SPAM
    block: true
max_reports_per_day: 5
";

async fn mention(who: &Session, text: &str) -> u64 {
    let p = who.create_post(&NewPost::text(text)).await.unwrap();
    p.id.trim_start_matches("post_").parse().unwrap()
}

/// A spammer mentions the bot six times with the same text: the third
/// repeat matches the rule, so the spammer is reported once (SPAM, as an
/// agent) and blocked; the third and later mentions never reach auto_reply,
/// nothing the spammer sends later (another text too) is answered, and a
/// friend who mentions the bot after them is. (The two screened before the
/// block went on to auto_reply, which answers them only if it got to them
/// before the block: it checks the list on every event.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spam_flood_is_reported_once_and_its_author_left_alone() {
    // Listed in the order they were made (no late listing): which repeat is the third is then known.
    let s = scenario("guarded")
        .behavior("moderation.yaml", MODERATION)
        .behavior("replies.yaml", REPLY)
        .sandbox(|c| c.readings.late_ms = 0)
        .metrics()
        .build()
        .await;
    let sb = &s.sb;
    let (spammer, friend) = (session_for(sb, "spammer").await, session_for(sb, "friend").await);
    let d = s.start();
    let mut spam = vec![];
    for _ in 0..6 {
        spam.push(mention(&spammer, "@guarded BUY CHEAP FOLLOWERS at example dot com").await);
    }
    let other = mention(&spammer, "@guarded hello, a different text this time").await;
    let friend = mention(&friend, "@guarded what do you think of rust?").await;
    assert!(eventually(Duration::from_secs(30), || s.answered(&[friend]) == 1).await, "the friend is answered");
    // Every event before the friend's went through the screen first; a few more polls give a late reply its chance.
    polls_later(sb, 3).await;
    let answered: Vec<usize> = spam.iter().chain([&other]).map(|p| s.replies_on(&[*p])[p]).collect();
    // The first two went on to auto_reply; whether it answered them before the block depends on timing.
    assert!(answered[..2].iter().all(|n| *n <= 1), "{answered:?}");
    assert_eq!(answered[2..], [0, 0, 0, 0, 0], "nothing from the third repeat on is answered: {answered:?}");
    let spammer_id = id_of(sb, "spammer");
    assert_eq!(sb.query().reports_by("guarded"), [("SPAM".to_string(), spammer_id)], "one report, of the agent");
    let port = s.metrics_port().await;
    let dropped =
        metric(port, "imagine_agent_actions_total", &["behavior=\"moderation\"", "action=\"event\"", "outcome=\"blocked\""]).await;
    assert_eq!(
        dropped,
        Some(4),
        "the fourth to sixth repeats and the other text dropped at the screen (the third was screened, then dropped)"
    );
    d.shutdown().await;
    let out = Command::new(BIN).args(["state", "--config"]).arg(&s.cfg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BLOCKED @spammer by moderation (rule flood: the same text 3 times)"), "state lists the block:\n{text}");
    s.stop().await;
}

/// `imagine-agent block add` (through the running daemon's control socket)
/// makes auto_reply leave an agent alone; `block remove` lifts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_set_by_hand_holds_until_it_is_lifted() {
    let s = scenario("handled").behavior("replies.yaml", REPLY).metrics().build().await;
    let sb = &s.sb;
    let (pest, pal) = (session_for(sb, "pest").await, session_for(sb, "pal").await);
    let d = s.start();
    let first = mention(&pest, "@handled first").await;
    assert!(eventually(Duration::from_secs(30), || s.answered(&[first]) == 1).await, "answered before the block");
    let block = |args: &[&str]| {
        let out = Command::new(BIN).arg("block").args(args).arg("--config").arg(&s.cfg).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, said) = block(&["add", "@pest", "--why", "too chatty"]);
    assert!(ok && said.contains("@handled: @pest blocked"), "{said}");
    let (ok, said) = block(&["list"]);
    assert!(ok && said.contains("@pest blocked by hand (too chatty)"), "{said}");
    let second = mention(&pest, "@handled second").await;
    let hi = mention(&pal, "@handled hi").await;
    assert!(eventually(Duration::from_secs(30), || s.answered(&[hi]) == 1).await);
    // The blocked one is handled (dropped), not merely not yet read: it may be listed late.
    let port = s.metrics_port().await;
    let dropped = || metric(port, "imagine_agent_actions_total", &["behavior=\"replies\"", "action=\"event\"", "outcome=\"blocked\""]);
    assert!(eventually_async(Duration::from_secs(30), || async { dropped().await == Some(1) }).await, "the blocked mention was dropped");
    assert_eq!(s.answered(&[second]), 0, "a blocked agent is not answered");
    let (ok, said) = block(&["remove", "pest"]);
    assert!(ok && said.contains("unblocked"), "{said}");
    let (ok, said) = block(&["remove", "pest"]);
    assert!(!ok && said.contains("not blocked"), "{said}");
    let third = mention(&pest, "@handled third").await;
    assert!(eventually(Duration::from_secs(30), || s.answered(&[third]) == 1).await, "answered again once lifted");
    d.shutdown().await;
    s.stop().await;
}

/// The example validates; a rule with two conditions, one that does
/// nothing and an unknown reason are each refused at the rules' line.
#[test]
fn the_shipped_example_validates_and_bad_rules_are_refused_where_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("behaviors")).unwrap();
    std::fs::copy("behaviors/examples/moderation.yaml", dir.path().join("behaviors/moderation.yaml")).unwrap();
    std::fs::write(
        dir.path().join("behaviors/bad.yaml"),
        "kind: moderation\nname: bad\nrules:\n  - name: two\n    repeats: 2\n    keywords: [x]\n    block: true\n  - name: idle\n    keywords: [y]\n  - name: odd\n    keywords: [z]\n    report: ANNOYING\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("config.yaml"), "sandbox: true\nagent:\n  handle: guard\nbehaviors: [behaviors/*.yaml]\n").unwrap();
    let (ok, text) = validate(&dir.path().join("config.yaml"));
    assert!(!ok, "the bad rules fail the validation: {text}");
    assert!(!text.contains("moderation.yaml"), "the example validates: {text}");
    for said in [
        "bad.yaml:3:1: rule \"two\": give exactly one of",
        "bad.yaml:3:1: rule \"idle\" does nothing",
        "bad.yaml:3:1: rule \"odd\": unknown report reason \"ANNOYING\"",
    ] {
        assert!(text.contains(said), "{said}: {text}");
    }
}

/// With `dms: true`, a direct message with a link from an agent the bot
/// does not follow blocks its author: dm_reply answers a friend who writes
/// after, and nothing more of the stranger's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_from_a_stranger_in_a_dm_blocks_them_for_dm_reply() {
    let moderation = "kind: moderation\nname: moderation\non: []\ndms: true\nevery: 10s\nrules:\n  - name: links\n    links_from_strangers: true\n    block: true\n";
    let dms = "kind: dm_reply\nname: dms\nevery: 1s\ncontent:\n  template: \"Hi @{{ author }}\"\n";
    let s = scenario("inbox_guard").behavior("moderation.yaml", moderation).behavior("dms.yaml", dms).metrics().build().await;
    let sb = &s.sb;
    let (stranger, friend) = (session_for(sb, "stranger").await, session_for(sb, "pal2").await);
    let d = s.start();
    // Moderation has looked at the conversations once: what comes after is screened.
    let port = s.metrics_port().await;
    assert!(eventually_async(Duration::from_secs(20), || async { runs(port, "moderation").await >= Some(2) }).await, "moderation ran");
    let conv = stranger.start_conversation("inbox_guard", "cheap followers at https://spam.example").await.unwrap();
    let listed = || {
        let out = Command::new(BIN).args(["block", "list", "--config"]).arg(&s.cfg).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains("@stranger blocked by moderation (rule links: a link from an agent we do not follow)")
    };
    assert!(eventually_async(Duration::from_secs(40), || async { listed() }).await, "the stranger is blocked");
    let answers_to = |who: &str| sb.query().dm_texts("inbox_guard").iter().filter(|t| t.contains(who)).count();
    let before = answers_to("@stranger");
    stranger.send_message(&conv.id, "hello? anyone?").await.unwrap();
    friend.start_conversation("inbox_guard", "hi there").await.unwrap();
    assert!(eventually(Duration::from_secs(30), || answers_to("@pal2") == 1).await, "the friend is answered");
    // Two more runs of dm_reply: a late answer to the stranger would have had its chance.
    runs_later(port, "dms", 2).await;
    assert_eq!(answers_to("@stranger"), before, "nothing more of the stranger's is answered");
    d.shutdown().await;
    s.stop().await;
}

/// What an author sent is kept a day: once the agent's clock is a day past
/// their last message, the next start forgets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_author_silent_for_a_day_is_forgotten() {
    let s = scenario("forgetful").behavior("moderation.yaml", MODERATION).metrics().build().await;
    let sb = &s.sb;
    let talker = session_for(sb, "talker").await;
    let clock = imagine_agent::clock::Clock::manual(chrono::Utc::now());
    let kept = |s: &common::scenario::Scenario| -> Vec<String> {
        let store = imagine_agent::store::Store::open(&s.state_dir().join("sled")).unwrap();
        store.agent("forgetful").unwrap().keys("moderation", "sent:").unwrap()
    };
    let (stop, task) = s.start_on(&clock);
    mention(&talker, "@forgetful hello").await;
    let port = s.metrics_port().await;
    let handled = || metric(port, "imagine_agent_notifications_handled_total", &["behavior=\"moderation\""]);
    assert!(eventually_async(Duration::from_secs(20), || async { handled().await >= Some(1) }).await, "the mention screened");
    stop.cancel();
    task.await.unwrap();
    assert_eq!(kept(&s), ["sent:talker"], "what the talker sent is kept");
    clock.set(clock.now() + chrono::Duration::hours(25));
    let (stop, task) = s.start_on(&clock);
    polls_later(sb, 2).await;
    stop.cancel();
    task.await.unwrap();
    assert!(kept(&s).is_empty(), "forgotten a day later: {:?}", kept(&s));
    s.stop().await;
}

/// A model server that accepts connections, counts them, and never answers.
async fn silent_model() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s2 = seen.clone();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = l.accept().await {
            s2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    (url, seen)
}

/// The daemon is SIGKILLed while moderation waits on a model for a mention;
/// moderation is then removed from the configuration: at the next start the
/// mention it had not screened goes on to auto_reply, and is answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_a_removed_moderation_had_not_screened_is_answered() {
    let judged = "kind: moderation\nname: moderation\nrules:\n  - name: judged\n    model:\n      profile: slow\n      question: Is this spam?\n    block: true\n";
    let (model, asked) = silent_model().await;
    let llm = format!("llm:\n  slow:\n    base_url: {model}\n    model: m\n    timeout: 120s\n    retries: 0\n");
    let s = scenario("unscreened").behavior("moderation.yaml", judged).behavior("replies.yaml", REPLY).config(&llm).build().await;
    let sb = &s.sb;
    let fan = session_for(sb, "fan2").await;
    let mut d = s.spawn();
    let post = mention(&fan, "@unscreened are you there?").await;
    let waiting = || asked.load(std::sync::atomic::Ordering::SeqCst) > 0;
    assert!(eventually(Duration::from_secs(30), waiting).await, "moderation asks the model about the mention");
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    assert_eq!(s.answered(&[post]), 0, "not answered while unscreened");
    std::fs::remove_file(s.dir.path().join("behaviors/moderation.yaml")).unwrap();
    let _d = s.spawn();
    assert!(eventually(Duration::from_secs(30), || s.answered(&[post]) == 1).await, "answered once moderation is gone");
    polls_later(sb, 3).await;
    assert_eq!(s.replies_on(&[post])[&post], 1, "once");
    s.stop().await;
}
