//! The store's own tests (records, inbox, layout migration).
use super::*;
use serde_json::json;

#[test]
fn refuses_foreign_directory_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(), "mine");
}

#[test]
fn refuses_a_sled_database_of_someone_else() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"theirs", b"data").unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::WrongFormat { .. }), "{err}");
    let db = sled::open(dir.path()).unwrap();
    assert_eq!(db.get(b"theirs").unwrap().unwrap().as_ref(), b"data");
    assert!(db.get(FORMAT_KEY).unwrap().is_none());
}

#[tokio::test]
async fn inbox_and_actions_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap().agent("me").unwrap();
        let ev = serde_json::value::to_raw_value(&json!({"id": "ntf_1"})).unwrap();
        let h = Handover { id: "ntf_1", at_ms: None, event: &ev, behaviors: vec!["a".into(), "b".into()], position: 0 };
        s.hand_over(&[h], Lane::Live, &[], None).unwrap();
        let rec = ActionRecord {
            state: ActionState::Intent,
            action: "reply".into(),
            detail: json!({"content": "hi"}),
            result: None,
            at_ms: 1,
            event: Some("ntf_1".into()),
            tally: None,
            written_ms: None,
        };
        s.intend("a", "reply:ntf_1", rec).await.unwrap();
    }
    let s = Store::open(dir.path()).unwrap().agent("me").unwrap();
    assert!(s.seen("ntf_1").unwrap());
    assert_eq!(s.inbox("a", 10).unwrap().len(), 1);
    assert_eq!(s.inbox("b", 10).unwrap().len(), 1);
    let rec = s.action("a", "reply:ntf_1").unwrap().unwrap();
    assert_eq!(rec.state, ActionState::Intent);
    let item = s.inbox("a", 10).unwrap().remove(0);
    s.ack(&item).await.unwrap();
    assert!(s.inbox("a", 10).unwrap().is_empty());
    assert_eq!(s.inbox("b", 10).unwrap().len(), 1);
}

/// A damaged record is left out of a behavior's records; the others are read.
#[test]
fn a_record_that_does_not_decode_is_left_out_of_a_behaviors_records() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap().agent("me").unwrap();
    let rec = |at_ms| ActionRecord {
        state: ActionState::Done,
        action: "reply".into(),
        detail: json!({"author": "ada"}),
        result: None,
        at_ms,
        event: None,
        tally: None,
        written_ms: None,
    };
    s.settle_whole("a", "reply:1", rec(1)).unwrap();
    s.actions.insert(key("a", "reply:2"), &b"{not json"[..]).unwrap();
    s.settle_whole("a", "reply:3", rec(3)).unwrap();
    s.settle_whole("b", "reply:4", rec(4)).unwrap();
    let got = s.actions_of("a", "reply:").unwrap();
    assert_eq!(got.iter().map(|(k, r)| (k.as_str(), r.at_ms)).collect::<Vec<_>>(), vec![("reply:1", 1), ("reply:3", 3)]);
}

#[tokio::test]
async fn the_first_layout_is_migrated_record_for_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(FORMAT_KEY, FORMAT_1).unwrap();
        for agent in ["ada", "bob"] {
            db.open_tree(format!("{agent}:kv"))
                .unwrap()
                .insert(key("replies", "list"), serde_json::to_vec(&json!({"at": agent})).unwrap())
                .unwrap();
            db.open_tree(format!("{agent}:seen")).unwrap().insert(b"ntf_1", 5i64.to_be_bytes().to_vec()).unwrap();
            for t in ["actions", "inbox", "cursor"] {
                db.open_tree(format!("{agent}:{t}")).unwrap();
            }
        }
        db.open_tree("llm:tokens").unwrap().insert(b"default\0day", 7u64.to_be_bytes().to_vec()).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.agents(), vec!["ada", "bob"]);
    for agent in ["ada", "bob"] {
        let s = store.agent(agent).unwrap();
        assert_eq!(s.get::<Value>("replies", "list").unwrap(), Some(json!({"at": agent})));
        assert!(s.seen("ntf_1").unwrap() && s.seen_len().unwrap() == 1);
    }
    let names: Vec<String> = store.db.tree_names().iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
    assert!(!names.iter().any(|n| n.starts_with("ada:") || n.starts_with("bob:")), "{names:?}");
    assert!(names.contains(&"llm:tokens".to_string()));
    drop(store);
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(again.agent("bob").unwrap().get::<Value>("replies", "list").unwrap(), Some(json!({"at": "bob"})));
}

/// The code's name changed (`ActionRecord::action`), the stored form did
/// not: records written by the earlier layout read the same, and what is
/// written now is what the earlier version wrote.
#[test]
fn records_of_the_earlier_layout_read_the_same() {
    let stored = r#"{"state":"intent","kind":"reply","detail":{"content":"hi"},"result":null,"at_ms":5,"written_ms":4}"#;
    let r: ActionRecord = serde_json::from_str(stored).unwrap();
    assert_eq!((r.action.as_str(), r.state, r.written_ms), ("reply", ActionState::Intent, Some(4)));
    assert_eq!(serde_json::to_string(&r).unwrap(), stored);
}
