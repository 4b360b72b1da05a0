//! `dm_reply` end to end: messages from two agents answered once per message
//! through SIGKILLs and cut connections (never two answers in a row without a message between),
//! two daemons DMing each other stop at the loop bound, and a hand-off
//! keyword stops answers until `conversations resume`, with `state` listing
//! the conversation meanwhile.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};

/// The messages of conversation `conv` in order: (sender id, text).
fn transcript(sb: &SandboxHandle, conv: u64) -> Vec<(String, String)> {
    sb.app.world().messages.values().filter(|m| m.conv == conv).map(|m| (m.sender.clone(), m.content.clone())).collect()
}

const BEHAVIOR: &str = "kind: dm_reply
name: dms
content:
  template: \"Thanks for your message, @{{ author }}.\"
every: 1s
rescan_every: 1s
human_pause: 0s
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_two_agents_are_answered_once_each_through_sigkills() {
    // A fifth of the answers' connections are cut after the platform handled them: the window a
    // crash between sending and recording would leave, every few messages, on top of the SIGKILLs.
    let faults = imagine_agent::sandbox::Faults { drop_rate: 0.2, ..Default::default() };
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, faults, ..quiet_config() }).await;
    let creds = register(&sb, "dm_bot").await;
    let me = id_of(&sb, "dm_bot");
    let members: Vec<String> = sb.app.world().agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect();
    let convs: Vec<u64> = members.iter().map(|m| sb.app.world().conversation_between(m, &me)).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("dms.yaml", BEHAVIOR)], "");

    let mut d = spawn_run(&cfg);
    let answers = |sb: &SandboxHandle, c: u64| transcript(sb, c).iter().filter(|m| m.0 == me).count();
    const ROUNDS: usize = 8;
    for round in 0..ROUNDS {
        // One message from each agent; every third round a SIGKILL right after they arrive.
        for (who, c) in convs.iter().enumerate() {
            sb.app.world().send_message(*c, &members[who], &format!("message {round} from member {who}")).unwrap();
        }
        if round % 3 == 2 {
            d.0.kill().unwrap();
            d.0.wait().unwrap();
            d = spawn_run(&cfg);
        }
        assert!(
            eventually(Duration::from_secs(30), || convs.iter().all(|c| answers(&sb, *c) == round + 1)).await,
            "round {round} answered: {:?}",
            convs.iter().map(|c| transcript(&sb, *c)).collect::<Vec<_>>()
        );
    }
    polls_later(&sb, 5).await;
    // Exactly one answer per message, whatever was cut or killed on the way.
    for c in &convs {
        let t = transcript(&sb, *c);
        assert_eq!(answers(&sb, *c), ROUNDS, "{t:?}");
        for pair in t.windows(2) {
            assert!(!(pair[0].0 == me && pair[1].0 == me), "two answers in a row in {c}: {t:?}");
        }
    }
    assert!(stats(&sb).faults.values().sum::<u64>() > 0, "connections were cut");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_dming_each_other_stop_at_the_bound() {
    let sb = sandbox(quiet_config()).await;
    let behavior = "kind: dm_reply\nname: dms\ncontent:\n  template: \"Interesting, @{{ author }}! Tell me more.\"\nevery: 1s\nmax_consecutive: 3\nhuman_pause: 1m\n";
    let mut daemons = vec![];
    let mut ports = vec![];
    let mut dirs = vec![];
    for h in ["chatty_x", "chatty_y"] {
        let creds = register(&sb, h).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("dms.yaml", behavior)], "metrics_addr: 127.0.0.1:0\n");
        daemons.push(spawn_run(&cfg));
        ports.push(bound_port(&dir.path().join("state"), "metrics").await);
        dirs.push(dir);
    }
    let (x, y) = (id_of(&sb, "chatty_x"), id_of(&sb, "chatty_y"));
    let conv = sb.app.world().conversation_between(&x, &y);
    sb.app.world().send_message(conv, &x, "Hello Y!").unwrap();
    // Each answers three times, each answer coming back within a second: then both stop.
    assert!(eventually(Duration::from_secs(30), || transcript(&sb, conv).len() == 7).await, "{:?}", transcript(&sb, conv));
    // Five more looks at the conversations by each daemon: a fourth answer would have gone out.
    for port in &ports {
        runs_later(*port, "dms", 5).await;
    }
    let t = transcript(&sb, conv);
    assert_eq!(t.len(), 7, "1 opening + 3 answers each, then silence: {t:?}");
    assert_eq!(t.iter().filter(|m| m.0 == y).count(), 3);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_keyword_stops_answers_until_resumed() {
    let sb = sandbox(SandboxConfig { community: 1, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "desk_bot").await;
    let me = id_of(&sb, "desk_bot");
    let member = sb.app.world().agents.values().find(|a| a.community).map(|a| a.id.clone()).unwrap();
    let conv = sb.app.world().conversation_between(&member, &me);
    let behavior = format!("{BEHAVIOR}handoff_keywords: [human, operator]\n");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("dms.yaml", &behavior)], "metrics_addr: 127.0.0.1:0\n");
    let _d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    let ours = |sb: &SandboxHandle| transcript(sb, conv).iter().filter(|m| m.0 == me).count();

    sb.app.world().send_message(conv, &member, "What do you do?").unwrap();
    assert!(eventually(Duration::from_secs(20), || ours(&sb) == 1).await);
    sb.app.world().send_message(conv, &member, "Can I talk to a human please?").unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(args).arg("--config").arg(&cfg).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let id = format!("conv_{conv}");
    assert!(
        eventually(Duration::from_secs(20), || cli(&["state"]).1.contains(&format!("HANDED OFF conversation {id} in dms"))).await,
        "{}",
        cli(&["state"]).1
    );
    sb.app.world().send_message(conv, &member, "Hello? Anyone?").unwrap();
    runs_later(port, "dms", 5).await;
    assert_eq!(ours(&sb), 1, "no answers after the hand-off");

    let (ok, out) = cli(&["conversations", "resume", &id]);
    assert!(ok && out.contains("on again"), "{out}");
    sb.app.world().send_message(conv, &member, "Back to you, bot.").unwrap();
    assert!(eventually(Duration::from_secs(20), || ours(&sb) == 2).await, "answered again after the resume");
    assert!(!cli(&["state"]).1.contains("HANDED OFF"));
    sb.stop().await;
}

/// Whom it answers and how often, on the agent's clock: a denied handle, a handle not
/// allowed, a message without a keyword get nothing; a second message inside the cooldown
/// waits; past the day's cap everything waits for the next day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_keywords_cooldown_and_the_days_cap_decide_who_is_answered_when() {
    use chrono::TimeZone;
    let sb = sandbox(SandboxConfig { community: 4, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "picky_desk").await;
    let me = id_of(&sb, "picky_desk");
    let members: Vec<(String, String)> =
        sb.app.world().agents.values().filter(|a| a.community).map(|a| (a.id.clone(), a.handle.clone())).collect();
    let convs: Vec<u64> = members.iter().map(|(id, _)| sb.app.world().conversation_between(id, &me)).collect();
    let behavior = format!(
        "kind: dm_reply\nname: dms\ncontent:\n  template: \"Happy to help, @{{{{ author }}}}.\"\nfilters:\n  deny_handles: [\"@{}\"]\nallow_handles: [{}, {}, {}]\nkeywords: [help]\ncooldown: 1h\nmax_per_day: 2\nevery: 1s\nrescan_every: 1s\nhuman_pause: 0s\n",
        members[1].1, members[0].1, members[1].1, members[2].1
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("dms.yaml", &behavior)], "metrics_addr: 127.0.0.1:0\n");
    let clock = imagine_agent::clock::Clock::manual(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
    let (stop, task) = start_on(&cfg, &clock);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    let answers = |i: usize| transcript(&sb, convs[i]).iter().filter(|m| m.0 == me).count();
    let say = |i: usize, text: &str| {
        sb.app.world().send_message(convs[i], &members[i].0, text).unwrap();
    };
    say(0, "can you help me?"); // answered
    say(1, "help, please"); // denied handle
    say(2, "hello there"); // no keyword
    say(3, "help!"); // not in allow_handles
    assert!(eventually(Duration::from_secs(20), || answers(0) == 1).await, "the allowed message with a keyword is answered");
    runs_later(port, "dms", 3).await;
    assert_eq!((answers(0), answers(1), answers(2), answers(3)), (1, 0, 0, 0), "a denied, an unlisted, a keyword-less: none");
    say(0, "more help, please"); // inside the hour's cooldown: waits
    say(2, "ok, help now"); // the keyword now: answered, the day's second
    assert!(eventually(Duration::from_secs(20), || answers(2) == 1).await, "the keyword makes it an answer");
    runs_later(port, "dms", 3).await;
    assert_eq!((answers(0), answers(1), answers(2), answers(3)), (1, 0, 1, 0), "filters, keywords and the cooldown held");

    // Past the cooldown but not the day's cap of 2: still waiting.
    clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap());
    runs_later(port, "dms", 3).await;
    assert_eq!(answers(0), 1, "the day's cap holds all day");
    // The next day: the waiting message is answered, once.
    clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap());
    assert!(eventually(Duration::from_secs(20), || answers(0) == 2).await, "answered the next day");
    runs_later(port, "dms", 3).await;
    assert_eq!((answers(0), answers(1), answers(2), answers(3)), (2, 0, 1, 0), "one answer for the waiting message, nothing else");
    stop.cancel();
    task.await.unwrap();
    sb.stop().await;
}

/// Who is answered, by what they are: `filters` on the agent type, verification and followers,
/// then the model's verdict (`decide`): an advertisement is ignored, a goodbye ends the
/// conversation (a later message there is neither answered nor asked about).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_verification_and_follower_filters_then_the_models_verdict() {
    use imagine_agent::wire::types::AgentType;
    let sb = sandbox(SandboxConfig { community: 6, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "choosy").await;
    let me = id_of(&sb, "choosy");
    let members: Vec<(String, String)> =
        sb.app.world().agents.values().filter(|a| a.community).map(|a| (a.id.clone(), a.handle.clone())).collect();
    {
        // Everyone a verified CREATIVE with two followers, except: 1 an ANALYST, 2 unverified, 3 one follower.
        let mut w = sb.app.world();
        for (i, (id, handle)) in members.iter().enumerate() {
            let a = w.agents.get_mut(id).unwrap();
            a.agent_type = Some(if i == 1 { AgentType::Analyst } else { AgentType::Creative });
            a.verified = i != 2;
            let fans: Vec<String> =
                members.iter().filter(|(f, _)| f != id).take(if i == 3 { 1 } else { 2 }).map(|(f, _)| f.clone()).collect();
            for f in fans {
                w.follow(&f, handle).unwrap();
            }
        }
    }
    let convs: Vec<u64> = members.iter().map(|(id, _)| sb.app.world().conversation_between(id, &me)).collect();
    let behavior = "kind: dm_reply\nname: dms\ncontent:\n  template: \"Glad you wrote, @{{ author }}.\"\nfilters:\n  agent_types: [CREATIVE]\n  verified_only: true\n  min_followers: 2\ndecide:\n  profile: local\nevery: 1s\nrescan_every: 1s\nhuman_pause: 0s\n";
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("metrics_addr: 127.0.0.1:0\nllm:\n  local:\n    base_url: {}/v1\n    model: sandbox-stand-in\n", sb.base_url());
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("dms.yaml", behavior)], &extra);
    let say = |i: usize, text: &str| {
        sb.app.world().send_message(convs[i], &members[i].0, text).unwrap();
    };
    say(0, "how do you paint light?"); // answered
    say(1, "how do you paint light?"); // an ANALYST
    say(2, "how do you paint light?"); // not verified
    say(3, "how do you paint light?"); // one follower
    say(4, "buy now: cheap followers"); // the model ignores it
    say(5, "lovely talk, goodbye"); // the model ends it
    let (stop, task) = start_on(&cfg, &imagine_agent::clock::Clock::System);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    let answers = || (0..6).map(|i| transcript(&sb, convs[i]).iter().filter(|m| m.0 == me).count()).collect::<Vec<_>>();
    let verdicts = || served(&sb, "POST /v1/chat/completions", 0);
    assert!(eventually(Duration::from_secs(20), || answers()[0] == 1).await, "the one who passes every filter is answered");
    assert!(eventually(Duration::from_secs(20), || verdicts() == 3).await, "the model asked about the three who pass the filters");
    runs_later(port, "dms", 3).await;
    assert_eq!(answers(), vec![1, 0, 0, 0, 0, 0], "filtered out: type, verification, followers; the model: an ad, a goodbye");
    assert_eq!(verdicts(), 3, "the filtered ones never reach the model");
    // After the goodbye: a new message there is neither answered nor asked about.
    say(5, "one more thing?");
    runs_later(port, "dms", 3).await;
    assert_eq!((answers()[5], verdicts()), (0, 3), "the ended conversation stays ended");
    stop.cancel();
    task.await.unwrap();
    sb.stop().await;
}
