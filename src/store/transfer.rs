//! Moving one agent's complete state between daemons (`state export`,
//! `state import`, `state forget`): its notification cursor and seen-marks,
//! inboxes (live and backlog lanes), intents and outcomes, positions, jobs in
//! flight and drafts: every sled tree of the agent, byte for byte, except
//! the inbox's sequences, catch-up lanes and seen-mark batches, given out
//! again by the target's id counter in the same order (the source's counter
//! would collide with it).
//!
//! Guarantees: an export is the agent's state at one moment (read with the
//! daemon stopped: sled allows one process); an import refuses to mix with
//! state already there unless told to replace it, and is flushed before it
//! returns; the moved agent carries on where it stood, so nothing is lost or
//! repeated. Forget the agent at the source once the target runs it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::layout::{self, Part};
use super::{Store, StoreError};

/// Decoded records by tree name (without the agent prefix): (key, value).
type Rows<'a> = BTreeMap<&'a str, Vec<(Vec<u8>, Vec<u8>)>>;

/// The format's name, checked on import.
pub const FORMAT: &str = "imagine-agent-agent-state/1";

/// One agent's state: tree name (without the agent prefix) -> (key, value) pairs in hex.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Export {
    pub format: String,
    pub agent: String,
    pub trees: BTreeMap<String, Vec<(String, String)>>,
}

impl Export {
    /// Records in all trees.
    pub fn records(&self) -> usize {
        self.trees.values().map(Vec::len).sum()
    }
}

impl Store {
    fn parts(&self, agent: &str) -> Result<Vec<(&'static str, Part)>, StoreError> {
        layout::TREES.iter().map(|name| Ok((*name, Part::new(self.db.open_tree(name)?, agent)))).collect()
    }

    /// Everything of `agent`, or None when this store has no state of it.
    pub fn export_agent(&self, agent: &str) -> Result<Option<Export>, StoreError> {
        if !self.agents().iter().any(|a| a == agent) {
            return Ok(None);
        }
        let mut trees = BTreeMap::new();
        for (short, part) in self.parts(agent)? {
            let mut rows = vec![];
            for kv in part.iter() {
                let (k, v) = kv?;
                rows.push((hex::encode(k), hex::encode(v)));
            }
            if !rows.is_empty() {
                trees.insert(short.to_string(), rows);
            }
        }
        Ok(Some(Export { format: FORMAT.into(), agent: agent.to_string(), trees }))
    }

    /// Writes `e` as the state of its agent; refuses when the agent has state here, unless `replace`.
    pub fn import_agent(&self, e: &Export, replace: bool) -> Result<usize, StoreError> {
        if e.format != FORMAT {
            return Err(StoreError::Corrupt { key: "format".into(), detail: format!("expected {FORMAT}, found {:?}", e.format) });
        }
        crate::wire::limits::check_handle(&e.agent).map_err(|err| StoreError::Corrupt { key: "agent".into(), detail: err.to_string() })?;
        if let Some(unknown) = e.trees.keys().find(|t| !layout::TREES.contains(&t.as_str())) {
            return Err(StoreError::Corrupt {
                key: unknown.clone(),
                detail: format!("not a tree of an agent's state (those are {})", layout::TREES.join(", ")),
            });
        }
        if self.agents().iter().any(|a| a == &e.agent) {
            if !replace {
                return Err(StoreError::Corrupt {
                    key: e.agent.clone(),
                    detail: "this state directory already has state of this agent: forget it first, or import with --replace".into(),
                });
            }
            self.forget_agent(&e.agent)?;
        }
        let mut trees: Rows = BTreeMap::new();
        for (short, rows) in &e.trees {
            let mut decoded = Vec::with_capacity(rows.len());
            for (k, v) in rows {
                let bad = |what: &str| StoreError::Corrupt { key: format!("{short}/{k}"), detail: format!("{what} is not hex") };
                decoded.push((hex::decode(k).map_err(|_| bad("key"))?, hex::decode(v).map_err(|_| bad("value"))?));
            }
            trees.insert(short.as_str(), decoded);
        }
        self.renumber(&mut trees)?;
        let mut n = 0;
        for (short, part) in self.parts(&e.agent)? {
            let Some(rows) = trees.remove(short) else { continue };
            let mut batch = sled::Batch::default();
            for (k, v) in rows {
                batch.insert(part.k(k), v);
                n += 1;
            }
            part.tree.apply_batch(batch)?;
        }
        // Known as an agent here, even when it held no values.
        self.agent(&e.agent)?;
        self.reread_marks(&e.agent);
        self.db.flush()?;
        Ok(n)
    }

    /// Inbox sequences, catch-up lanes and seen-mark batches were given out
    /// by the source database's id counter; they are given out again by this one's, in the
    /// same order (the order events are taken in), and the cursor's lane with
    /// them: a sequence given out here later never lands on the key of an
    /// imported event still waiting.
    fn renumber(&self, trees: &mut Rows<'_>) -> Result<(), StoreError> {
        // Inbox keys: behavior NUL, then 20 digits (live), `~` and 20 digits
        // (a backlog of older versions), or `~`, a lane's 20 digits, a
        // position's and the notification's id (none from older versions).
        fn id_at(key: &[u8]) -> Option<(usize, u64)> {
            let mut at = key.iter().position(|b| *b == 0)? + 1;
            let walk = key.get(at) == Some(&b'~');
            if walk {
                at += 1;
            }
            let tail = &key[at..];
            let digits = |n: usize| tail.len() >= n && tail[..n].iter().all(u8::is_ascii_digit);
            if !(tail.len() == 20 && digits(20) || walk && digits(40)) {
                return None;
            }
            Some((at, std::str::from_utf8(&tail[..20]).ok()?.parse().ok()?))
        }
        // Seen-mark batches are keyed by a sequence of the same counter.
        for (k, _) in trees.get_mut("seen").into_iter().flatten() {
            if super::seen::is_batch_key(k) {
                *k = super::seen::batch_key(self.db.generate_id()?);
            }
        }
        let decode_cursor = |v: &[u8]| serde_json::from_slice::<super::Cursor>(v).ok();
        let mut old: std::collections::BTreeSet<u64> = Default::default();
        for (k, _) in trees.get("inbox").into_iter().flatten() {
            old.extend(id_at(k).map(|(_, id)| id));
        }
        for (k, v) in trees.get("cursor").into_iter().flatten() {
            if k.as_slice() == super::cursor::CURSOR_KEY {
                old.extend(decode_cursor(v).and_then(|c| c.scan).and_then(|s| s.lane));
            }
        }
        let mut new: BTreeMap<u64, u64> = BTreeMap::new();
        for id in old {
            new.insert(id, self.db.generate_id()?);
        }
        for (k, _) in trees.get_mut("inbox").into_iter().flatten() {
            if let Some((at, id)) = id_at(k) {
                k.splice(at..at + 20, format!("{:020}", new[&id]).into_bytes());
            }
        }
        for (k, v) in trees.get_mut("cursor").into_iter().flatten() {
            if k.as_slice() != super::cursor::CURSOR_KEY {
                continue;
            }
            if let Some(mut c) = decode_cursor(v) {
                if let Some(scan) = c.scan.as_mut() {
                    scan.lane = scan.lane.map(|l| new[&l]);
                }
                *v = serde_json::to_vec(&c).map_err(|e| StoreError::Corrupt { key: "cursor".into(), detail: e.to_string() })?;
            }
        }
        Ok(())
    }

    /// Drops every record of `agent`; how many there were.
    pub fn forget_agent(&self, agent: &str) -> Result<usize, StoreError> {
        let mut n = 0;
        for (_, part) in self.parts(agent)? {
            n += part.clear()?;
        }
        self.db.open_tree(layout::AGENTS)?.remove(agent)?;
        self.reread_marks(agent);
        self.db.flush()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_moves_byte_for_byte_and_an_import_does_not_mix() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let src = Store::open(&a.path().join("sled")).unwrap();
        let s = src.agent("mover").unwrap();
        s.put("replies", "list", &serde_json::json!({"next": 3})).unwrap();
        src.agent("stayer").unwrap().put("x", "y", &1).unwrap();
        let e = src.export_agent("mover").unwrap().unwrap();
        assert!(e.records() >= 1 && e.trees.keys().all(|t| !t.contains(':')), "{:?}", e.trees.keys());
        assert!(src.export_agent("nobody").unwrap().is_none());
        let dst = Store::open(&b.path().join("sled")).unwrap();
        let text = serde_json::to_string(&e).unwrap();
        let back: Export = serde_json::from_str(&text).unwrap();
        assert_eq!(dst.import_agent(&back, false).unwrap(), e.records());
        assert_eq!(dst.agent("mover").unwrap().get::<serde_json::Value>("replies", "list").unwrap(), Some(serde_json::json!({"next": 3})));
        assert_eq!(dst.agents(), vec!["mover"]);
        assert!(dst.import_agent(&back, false).is_err(), "no mixing");
        assert!(dst.import_agent(&back, true).is_ok());
        assert_eq!(src.forget_agent("mover").unwrap(), e.records());
        assert_eq!(src.agents(), vec!["stayer"]);
    }

    /// Inbox sequences and lanes come from each database's own id counter: an
    /// imported event still waiting is never overwritten by one handed over
    /// after the import, and the order events are taken in is kept.
    #[test]
    fn imported_events_keep_their_order_and_are_not_overwritten_by_new_ones() {
        use crate::store::{Cursor, Handover, Lane, Mark, Scan};
        let a = tempfile::tempdir().unwrap();
        let src = Store::open(&a.path().join("sled")).unwrap();
        let s = src.agent("mover").unwrap();
        let ev = |i: u32| serde_json::value::to_raw_value(&serde_json::json!({"id": format!("n{i}")})).unwrap();
        let hand = |s: &crate::store::AgentStore, i: u32, lane: Lane, cur: Option<&Cursor>| {
            let (e, id) = (ev(i), format!("n{i}"));
            s.hand_over(&[Handover { id: &id, at_ms: None, event: &e, behaviors: vec!["b".into()], position: i as u64 }], lane, &[], cur)
                .unwrap();
        };
        // Source: two live events, a revealed catch-up lane of two, and a walk under way with one.
        hand(&s, 1, Lane::Live, None);
        hand(&s, 2, Lane::Live, None);
        let done = s.new_lane().unwrap();
        hand(&s, 3, Lane::Walk { scan: done }, None);
        hand(&s, 4, Lane::Walk { scan: done }, None);
        let walking = s.new_lane().unwrap();
        let cur = Cursor {
            hwm: None,
            scan: Some(Scan {
                top: Mark { at_ms: None, id: "n9".into() },
                next: Some("c".into()),
                positions: 1,
                handed: 0,
                pages: 1,
                lane: Some(walking),
                listed_ms: None,
            }),
        };
        hand(&s, 5, Lane::Walk { scan: walking }, Some(&cur));
        let ids =
            |s: &crate::store::AgentStore| s.inbox("b", 100).unwrap().iter().map(|i| crate::store::id_of(&i.event)).collect::<Vec<_>>();
        // Walk positions grow toward older notifications: n4 was read after n3, so it is older.
        assert_eq!(ids(&s), ["n1", "n4", "n2", "n3"], "live and backlog in turn; the walk's lane hidden");

        // Targets: a fresh database, whose counter starts where the source's
        // did, and one whose counter has moved on (another agent's events).
        let export = src.export_agent("mover").unwrap().unwrap();
        for shift in [0, 7] {
            let b = tempfile::tempdir().unwrap();
            let dst = Store::open(&b.path().join("sled")).unwrap();
            for i in 0..shift {
                hand(&dst.agent("other").unwrap(), 100 + i, Lane::Live, None);
            }
            dst.import_agent(&export, false).unwrap();
            let d = dst.agent("mover").unwrap();
            assert_eq!(ids(&d), ["n1", "n4", "n2", "n3"], "shift {shift}: the walk's lane still hidden");
            for i in 6..10 {
                hand(&d, i, Lane::Live, None);
            }
            assert_eq!(ids(&d), ["n1", "n4", "n2", "n3", "n6", "n7", "n8", "n9"], "shift {shift}: nothing imported overwritten");
            let mut cur = d.cursor().unwrap();
            cur.scan = None;
            d.save_cursor(&cur).unwrap();
            assert_eq!(
                ids(&d),
                ["n1", "n4", "n2", "n3", "n6", "n5", "n7", "n8", "n9"],
                "shift {shift}: the walk's lane followed its cursor"
            );
        }
    }
}
