//! State stays bounded however many notifications an agent handles: the
//! real store, driven through the same calls the poller and a behavior make
//! (hand-over, intent, outcome, ack, housekeeping), one notification a minute.

mod common;

use common::*;
use imagine_agent::sandbox::SandboxConfig;
use imagine_agent::store::cursor::SKEW_MS;
use imagine_agent::store::{ActionRecord, ActionState, Cursor, Handover, Lane, Mark, Store};

const MINUTE_MS: i64 = 60_000;
const RETENTION_MS: i64 = 7 * 24 * 60 * MINUTE_MS;

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dir_size(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

/// Handles `n` notifications; returns (seen-marks, action records, bytes on disk).
async fn handle(n: i64) -> (usize, usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let s = store.agent("me").unwrap();
    let mut cur = Cursor::default();
    for i in 0..n {
        let at = i * MINUTE_MS;
        let id = format!("ntf_{i}");
        let event = serde_json::value::to_raw_value(
            &serde_json::json!({"id": id, "type": "MENTION", "createdAt": "2026-01-01T00:00:00Z", "content": "a question".repeat(10)}),
        )
        .unwrap();
        cur.raise(&Mark { at_ms: Some(at), id: id.clone() });
        s.hand_over(
            &[Handover { id: &id, at_ms: Some(at), event: &event, behaviors: vec!["replies".into()], position: 0 }],
            Lane::Live,
            &[],
            Some(&cur),
        )
        .unwrap();
        let key = format!("reply:{id}");
        let rec = |state| ActionRecord {
            state,
            action: "reply".into(),
            detail: serde_json::json!({"content": "Thanks for asking, here is a reply of a typical length."}),
            result: None,
            at_ms: at,
            event: Some(id.clone()),
            tally: None,
            written_ms: None,
        };
        s.intend("replies", &key, rec(ActionState::Intent)).await.unwrap();
        s.settle("replies", &key, ActionRecord { result: Some(format!("cmt_{i}")), ..rec(ActionState::Done) }).unwrap();
        for item in s.inbox("replies", 16).unwrap() {
            s.ack(&item).await.unwrap();
        }
        // The poller's housekeeping.
        if i % 200 == 0 {
            s.prune_seen(at - 2 * SKEW_MS).unwrap();
            s.prune_actions(at - RETENTION_MS).unwrap();
        }
    }
    store.flush().await.unwrap();
    (s.seen_len().unwrap(), s.actions_len(), dir_size(dir.path()))
}

#[tokio::test]
async fn state_stays_bounded_over_twenty_thousand_notifications() {
    let (seen, actions, bytes) = handle(20_000).await;
    eprintln!("20,000 notifications: {seen} seen-marks, {actions} action records, {} KiB on disk", bytes / 1024);
    assert!(seen <= 200 + 2 * (SKEW_MS / MINUTE_MS) as usize, "seen-marks bounded by the skew window: {seen}");
    let week = (RETENTION_MS / MINUTE_MS) as usize;
    assert!(actions <= week + 200, "action records bounded by the retention: {actions}");
    // Measured: about 6 MiB pruned, 11 MiB with no housekeeping.
    assert!(bytes < 9 * 1024 * 1024, "bytes on disk bounded: {} KiB", bytes / 1024);
}

/// The figure in docs/performance.md: `cargo test --release --test state_size -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn state_after_one_hundred_thousand_notifications() {
    let (seen, actions, bytes) = handle(100_000).await;
    eprintln!("100,000 notifications: {seen} seen-marks, {actions} action records, {} KiB on disk", bytes / 1024);
    let week = (RETENTION_MS / MINUTE_MS) as usize;
    assert!(actions <= week + 200);
}

/// The daemon's own housekeeping, not the test's: twelve days of mentions (50 a day, the
/// agent's clock moved 25 hours between days) leave exactly the last week's reply records, and
/// the pruned counter says how many went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_prunes_its_own_records_to_the_retention() {
    use std::time::Duration;
    const PER_DAY: usize = 50;
    const DAYS: i64 = 12;
    let sb = sandbox(SandboxConfig { community: 8, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "tidy").await;
    let bot = id_of(&sb, "tidy");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], "metrics_addr: 127.0.0.1:0\n");
    let start = chrono::Utc::now() - chrono::Duration::hours(25 * DAYS);
    let clock = imagine_agent::clock::Clock::manual(start);
    let (stop, task) = start_on(&cfg, &clock);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    let replies = || sb.app.world().comments.values().filter(|c| c.agent == bot).count();
    for day in 0..DAYS {
        clock.set(start + chrono::Duration::hours(25 * day));
        burst(&sb, serde_json::json!({"target": "tidy", "mentions": PER_DAY})).await;
        let want = PER_DAY * (day as usize + 1);
        assert!(eventually(Duration::from_secs(30), || replies() == want).await, "day {day}: {} of {want} answered", replies());
    }
    // Days 0-4 are more than a week before the last day (25 h apart: day 5 is 150 h back).
    let pruned = 5 * PER_DAY as u64;
    let gone = eventually_async(Duration::from_secs(30), || async {
        metric(port, "imagine_agent_action_records_pruned_total", &[]).await == Some(pruned)
    });
    assert!(gone.await, "the daemon pruned {pruned} records: {:?}", metric(port, "imagine_agent_action_records_pruned_total", &[]).await);
    stop.cancel();
    task.await.unwrap();
    let s = imagine_agent::store::Store::open(&dir.path().join("state/sled")).unwrap().agent("tidy").unwrap();
    assert_eq!(s.actions_len(), (DAYS as usize - 5) * PER_DAY, "the last week's records, no more");
    // (Seen-marks follow the platform's times, all within the last minute here: their bound is
    // the store-level test's.)
    drop(s);
    sb.stop().await;
}
