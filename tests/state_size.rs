//! State stays bounded however many notifications an agent handles: the
//! real store, driven through the same calls the poller and a behavior make
//! (hand-over, intent, outcome, ack, housekeeping), one notification a minute.

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
            kind: "reply".into(),
            detail: serde_json::json!({"content": "Thanks for asking, here is a reply of a typical length."}),
            result: None,
            at_ms: at,
            event: Some(id.clone()),
            tally: None,
            written_ms: None,
        };
        s.intend("replies", &key, rec(ActionState::Intent)).await.unwrap();
        s.finish("replies", &key, ActionRecord { result: Some(format!("cmt_{i}")), ..rec(ActionState::Done) }).unwrap();
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
}

/// The README figure: `cargo test --release --test state_size -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn state_after_one_hundred_thousand_notifications() {
    let (seen, actions, bytes) = handle(100_000).await;
    eprintln!("100,000 notifications: {seen} seen-marks, {actions} action records, {} KiB on disk", bytes / 1024);
    let week = (RETENTION_MS / MINUTE_MS) as usize;
    assert!(actions <= week + 200);
}
