//! `network` end to end: discovery, filters and the daily cap pick exactly who
//! is followed; one introduction DM per agent ever; nothing repeated across a
//! SIGKILL; agents that did not follow back are unfollowed after the period
//! (on the controllable clock).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use common::*;
use imagine_agent::clock::Clock;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};
use imagine_agent::wire::types::AgentType;

const BEHAVIOR: &str = "kind: network
name: net
discover:
  recommended: true
  search: sandbox
filters:
  agent_types: [CREATIVE]
  deny_handles: [DENYHANDLE]
max_follows_per_day: 2
every: 1h
introduction_dm:
  template: \"Hello {{ author_name }}, I follow creative agents.\"
unfollow_after: 7d
";

fn following(sb: &SandboxHandle, id: &str) -> BTreeSet<String> {
    sb.app.world().agents[id].following.clone()
}

fn dms(sb: &SandboxHandle, id: &str) -> Vec<String> {
    sb.app.world().messages.values().filter(|m| m.sender == id).map(|m| m.content.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_whom_the_filters_and_the_cap_allow_once_each_and_unfollows_the_silent() {
    let sb = sandbox(SandboxConfig { community: 6, community_interval: std::time::Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "networker").await;
    let me = id_of(&sb, "networker");
    // Members 0-3 creative (member 3 denied), 4-5 not.
    let members: Vec<(String, String)> = {
        let mut w = sb.app.world();
        let ids: Vec<String> = w.agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect();
        for (i, id) in ids.iter().enumerate() {
            w.edit_kind(id, |a| a.agent_type = Some(if i < 4 { AgentType::Creative } else { AgentType::Assistant }));
        }
        ids.iter().map(|id| (id.clone(), w.agents[id].handle.clone())).collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let behavior = BEHAVIOR.replace("DENYHANDLE", &members[3].1);
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("net.yaml", &behavior)], "");
    let eligible: BTreeSet<String> = members[..3].iter().map(|m| m.0.clone()).collect();
    // Noon of today: a frozen clock far from midnight, whatever the real time.
    let clock = Clock::manual(Utc::now().date_naive().and_hms_opt(12, 0, 0).unwrap().and_utc());

    // Day 1: the cap allows two of the three eligible agents.
    let mut d = spawn_run(&cfg);
    assert!(
        eventually(Duration::from_secs(20), || following(&sb, &me).len() == 2 && dms(&sb, &me).len() == 2).await,
        "two follows, two DMs"
    );
    // SIGKILL, then a restart on the same day: nothing repeated, the cap still holds.
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    let (stop, task) = start_on(&cfg, &clock);
    polls_later(&sb, 3).await;
    let day1 = following(&sb, &me);
    assert_eq!(day1.len(), 2, "the daily cap holds across the restart");
    assert!(day1.is_subset(&eligible), "only creative, not denied agents: {day1:?}");
    assert_eq!(dms(&sb, &me).len(), 2, "one DM per followed agent");

    // A day after the first day's follows (made by the child process on the real clock): the
    // cap's day window has passed, and the next run follows the third one.
    clock.set(Utc::now() + chrono::Duration::days(1));
    assert!(eventually(Duration::from_secs(20), || following(&sb, &me) == eligible).await, "the third eligible agent followed");
    assert!(eventually(Duration::from_secs(20), || dms(&sb, &me).len() == 3).await);
    polls_later(&sb, 3).await;
    assert_eq!(dms(&sb, &me).len(), 3, "one introduction per agent ever");
    assert_eq!(served(&sb, "POST /api/agents/{handle}/follow", 0), 3, "three follows in all");

    // Eight days later: one of them followed back, the other two are unfollowed.
    let back = members[0].clone();
    sb.app.world().follow(&back.0, "networker").unwrap();
    clock.set(clock.now() + chrono::Duration::days(8));
    let want: BTreeSet<String> = [back.0.clone()].into_iter().collect();
    assert!(eventually(Duration::from_secs(20), || following(&sb, &me) == want).await, "unfollowed who did not follow back");
    polls_later(&sb, 3).await;
    assert_eq!(served(&sb, "POST /api/agents/{handle}/follow", 0), 3, "nobody followed again");
    stop.cancel();
    task.await.unwrap();
    sb.stop().await;
}

/// `who` reacts to `post` of `me` the way `kind` says, as the platform records it (a notification for `me`).
fn react(sb: &SandboxHandle, who: &str, me: &str, post: u64, kind: imagine_agent::wire::types::NotificationType) {
    use imagine_agent::wire::types::NotificationType as T;
    let mut w = sb.app.world();
    match kind {
        T::Like => {
            w.like_post(post, who).unwrap();
        }
        T::Repost => {
            w.react(post, |p| p.reposts.insert(who.to_string())).unwrap();
        }
        _ => {}
    }
    w.notify(me, kind, who, Some(post), None, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_who_reacted_are_followed_in_order_within_the_cap_and_the_rest_wait() {
    use imagine_agent::wire::types::NotificationType as T;
    let sb = sandbox(SandboxConfig { community: 5, community_interval: std::time::Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "reacted").await;
    let me = id_of(&sb, "reacted");
    let post = sb.app.world().create_post(&me, &imagine_agent::wire::types::NewPost::text("A post people react to.")).unwrap().0;
    let members: Vec<String> = sb.app.world().agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect();
    // In this order: the last member likes first; a COMMENT is not a reaction this behavior takes.
    for (who, kind) in [(4, T::Like), (1, T::Repost), (2, T::Quote), (0, T::Like)] {
        react(&sb, &members[who], &me, post, kind);
        std::thread::sleep(Duration::from_millis(5));
    }
    react(&sb, &members[3], &me, post, T::Comment);
    let behavior = "kind: network
name: net
discover:
  reactions: [LIKE, REPOST, QUOTE]
max_follows_per_day: 2
every: 1h
";
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("net.yaml", behavior)], "metrics_addr: 127.0.0.1:0\n");
    // Noon of today: a frozen clock far from midnight, whatever the real time.
    let clock = Clock::manual(Utc::now().date_naive().and_hms_opt(12, 0, 0).unwrap().and_utc());
    let (stop, task) = start_on(&cfg, &clock);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    let first: BTreeSet<String> = [members[4].clone(), members[1].clone()].into_iter().collect();
    assert!(eventually(Duration::from_secs(20), || following(&sb, &me) == first).await, "the first two who reacted");
    // The day's round is over (hourly: no other comes before the clock moves).
    assert!(eventually_async(Duration::from_secs(20), || async { runs(port, "net").await >= Some(1) }).await, "the round finished");
    assert_eq!(following(&sb, &me), first, "the cap holds; the others wait");

    // The next day: the two still waiting, and not the one who only commented.
    clock.set(clock.now() + chrono::Duration::days(1));
    let all: BTreeSet<String> = [4, 1, 2, 0].into_iter().map(|i| members[i].clone()).collect();
    assert!(eventually(Duration::from_secs(20), || following(&sb, &me) == all).await, "the rest the next day");
    assert!(eventually_async(Duration::from_secs(20), || async { runs(port, "net").await >= Some(2) }).await, "the round finished");
    assert_eq!(following(&sb, &me), all);
    assert_eq!(served(&sb, "POST /api/agents/{handle}/follow", 0), 4);
    stop.cancel();
    task.await.unwrap();
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_in_the_middle_of_a_run_repeats_no_follow_and_no_dm() {
    let sb = sandbox(SandboxConfig { community: 20, community_interval: std::time::Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "killed_networker").await;
    let me = id_of(&sb, "killed_networker");
    let behavior = "kind: network
name: net
discover:
  recommended: true
max_follows_per_day: 100
every: 1h
introduction_dm:
  template: \"Hello @{{ author }}!\"
";
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("net.yaml", behavior)], "");
    // 4 writes a second (a burst of 24): the 40 writes take seconds, room for a SIGKILL in the middle.
    set_budgets(&cfg, "  reads_per_minute: 0\n  writes_per_minute: 240\n  auth_per_minute: 0\n");
    let spawn = || spawn_run(&cfg);
    let mut d = spawn();
    assert!(eventually(Duration::from_secs(30), || following(&sb, &me).len() >= 3).await, "the run started");
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    let at_kill = following(&sb, &me).len();
    assert!(at_kill < 20, "killed in the middle of the run ({at_kill} followed)");
    let _d = spawn();
    assert!(
        eventually(Duration::from_secs(60), || following(&sb, &me).len() == 20 && dms(&sb, &me).len() == 20).await,
        "{} {}",
        following(&sb, &me).len(),
        dms(&sb, &me).len()
    );
    polls_later(&sb, 5).await;
    assert_eq!(
        received(&sb, "POST /api/agents/{handle}/follow"),
        20,
        "each agent followed once (requests received, answered or cut by the kill)"
    );
    let sent = dms(&sb, &me);
    let distinct: BTreeSet<&String> = sent.iter().collect();
    assert_eq!((sent.len(), distinct.len()), (20, 20), "one introduction per agent: {sent:?}");
    sb.stop().await;
}

/// `discover.capabilities`: the platform's discovery filtered by skills,
/// languages and response time (each list matching any of its values, every
/// filter at once), read by the emulator as the reference lists them: exactly
/// the agents that match all three are followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_found_by_their_capabilities() {
    let behavior = "kind: network\nname: by_skill\ndiscover:\n  capabilities:\n    skills: [image-generation]\n    languages: [en]\n    response_time: fast\nmax_follows_per_day: 100\nevery: 1h\n";
    let s = scenario("skill_seeker").community(6).behavior("net.yaml", behavior).metrics().build().await;
    let sb = &s.sb;
    let members: Vec<String> = sb.app.world().agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect();
    let caps = |skills: &[&str], languages: &[&str], apis: &[&str], time: &str| imagine_agent::wire::types::Capabilities {
        skills: skills.iter().map(|x| x.to_string()).collect(),
        apis: apis.iter().map(|x| x.to_string()).collect(),
        response_time: Some(time.to_string()),
        languages: languages.iter().map(|x| x.to_string()).collect(),
    };
    let profiles = [
        caps(&["image-generation"], &["en"], &[], "fast"),                              // matches
        caps(&["image-generation"], &["fr"], &[], "fast"),                              // another language
        caps(&["code-review"], &["en"], &[], "fast"),                                   // another skill
        caps(&["code-review", "image-generation"], &["es", "en"], &["openai"], "fast"), // matches (any of its values)
        imagine_agent::wire::types::Capabilities::default(),                            // declares nothing
        caps(&["image-generation"], &["en"], &[], "slow"),                              // slower
    ];
    {
        let mut w = sb.app.world();
        for (id, c) in members.iter().zip(profiles) {
            w.edit_kind(id, |a| a.capabilities = c);
        }
    }
    let want: BTreeSet<String> = [members[0].clone(), members[3].clone()].into_iter().collect();
    let clock = Clock::manual(Utc::now());
    let (stop, task) = s.start_on(&clock);
    let port = s.metrics_port().await;
    assert!(eventually_async(Duration::from_secs(20), || async { runs(port, "by_skill").await >= Some(1) }).await, "the run finished");
    assert_eq!(following(sb, &s.id), want, "exactly the agents with the skill, the language and the response time");
    stop.cancel();
    task.await.unwrap();
    s.stop().await;
}
