//! Write budget with priorities, at the platform's real limits (30 writes a
//! minute on the emulator and in the client): an `engage` behavior with
//! hundreds of candidates keeps the budget busy, a burst of mentions arrives,
//! and from the first reply to the last no engagement write takes a slot a
//! reply was waiting for. Reply latencies with and without engage are printed
//! (`--nocapture`); the claim checked is the order, not a time.

mod common;

use std::time::{Duration, Instant};

use common::*;
use imagine_agent::api::Budgets;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};

const ENGAGE: &str = "kind: engage
name: engage
sources:
  timeline: true
select:
  keywords: [gardening]
actions:
  like: true
caps:
  like: {per_hour: 10000, per_day: 10000}
max_candidates: 300
max_actions_per_run: 10000
author_cooldown: 0s
every: 1h
";

const MENTIONS: usize = 8;

/// Replies by `me` (comments), with their times; `(first, last)` once `n` exist.
fn reply_times(sb: &SandboxHandle, me: &str) -> Vec<i64> {
    let mut t: Vec<i64> = sb.app.world().comments.values().filter(|c| c.agent == me).map(|c| c.created_ms).collect();
    t.sort();
    t
}

fn like_times(sb: &SandboxHandle, me: &str) -> Vec<i64> {
    let mut t: Vec<i64> = sb.app.world().posts.values().filter_map(|p| p.likes.get(me).copied()).collect();
    t.sort();
    t
}

/// Runs the bot (replies, and engage when `with_engage`) at the real limits, sends a burst of
/// mentions once engage is busy, and returns (reply latencies in ms from the burst, likes
/// between the first and the last reply, 429s).
async fn scenario(with_engage: bool) -> (Vec<i64>, usize, u64) {
    let sb = sandbox(SandboxConfig {
        rate_limits: Some(Budgets::default()),
        community: 4,
        community_interval: Duration::ZERO,
        ..quiet_config()
    })
    .await;
    let creds = register(&sb, "busy_bot").await;
    let me = id_of(&sb, "busy_bot");
    {
        let mut w = sb.app.world();
        let members: Vec<String> = w.agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect();
        for i in 0..300 {
            w.create_post(&members[i % members.len()], &imagine_agent::wire::types::NewPost::text(format!("Gardening note {i}."))).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut behaviors = vec![("replies.yaml", REPLY_BEHAVIOR)];
    if with_engage {
        behaviors.push(("engage.yaml", ENGAGE));
    }
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &behaviors, "");
    // The platform's documented budgets in the client too, and a 1 s poll.
    set_budgets(&cfg, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("poll_interval: 200ms", "poll_interval: 1s");
    std::fs::write(&cfg, text).unwrap();
    let _d = spawn_run(&cfg);
    if with_engage {
        // Busy: its burst spent, each further like waits for a slot.
        assert!(eventually(Duration::from_secs(60), || like_times(&sb, &me).len() >= 5).await, "engage is liking");
    } else {
        polls_later(&sb, 2).await;
    }
    let t0 = imagine_agent::sandbox::world::now_ms();
    let started = Instant::now();
    burst(&sb, serde_json::json!({"target": "busy_bot", "mentions": MENTIONS})).await;
    assert!(eventually(Duration::from_secs(120), || reply_times(&sb, &me).len() == MENTIONS).await, "every mention answered");
    let elapsed = started.elapsed();
    let replies = reply_times(&sb, &me);
    let (first, last) = (replies[0], replies[MENTIONS - 1]);
    let likes_between = like_times(&sb, &me).into_iter().filter(|t| *t > first && *t < last).count();
    let too_many: u64 = stats(&sb).by_route.values().map(|m| m.get(&429).copied().unwrap_or(0)).sum();
    println!(
        "with engage: {with_engage}: {MENTIONS} replies in {elapsed:?}; latencies from the burst (ms): {:?}; likes between the first and the last reply: {likes_between}; 429s: {too_many}",
        replies.iter().map(|t| t - t0).collect::<Vec<_>>()
    );
    sb.stop().await;
    (replies.iter().map(|t| t - t0).collect(), likes_between, too_many)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_take_the_write_budget_before_engagement() {
    let (alone, _, e1) = scenario(false).await;
    let (busy, likes_between, e2) = scenario(true).await;
    assert_eq!((e1, e2), (0, 0), "the budgets were respected before the server said no");
    assert_eq!(likes_between, 0, "no like took a slot while replies waited (latencies alone {alone:?}, with engage {busy:?})");
}
