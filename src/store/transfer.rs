//! Moving one agent's complete state between daemons (`state export`,
//! `state import`, `state forget`): its notification cursor and seen-marks,
//! inboxes (live and backlog lanes), intents and outcomes, positions, jobs in
//! flight and drafts: every sled tree of the agent, byte for byte.
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
        crate::api::limits::check_handle(&e.agent).map_err(|err| StoreError::Corrupt { key: "agent".into(), detail: err.to_string() })?;
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
        let mut n = 0;
        for (short, part) in self.parts(&e.agent)? {
            let Some(rows) = e.trees.get(short) else { continue };
            let mut batch = sled::Batch::default();
            for (k, v) in rows {
                let bad = |what: &str| StoreError::Corrupt { key: format!("{short}/{k}"), detail: format!("{what} is not hex") };
                batch.insert(part.k(hex::decode(k).map_err(|_| bad("key"))?), hex::decode(v).map_err(|_| bad("value"))?);
                n += 1;
            }
            part.tree.apply_batch(batch)?;
        }
        // Known as an agent here, even when it held no values.
        self.agent(&e.agent)?;
        self.db.flush()?;
        Ok(n)
    }

    /// Drops every record of `agent`; how many there were.
    pub fn forget_agent(&self, agent: &str) -> Result<usize, StoreError> {
        let mut n = 0;
        for (_, part) in self.parts(agent)? {
            n += part.clear()?;
        }
        self.db.open_tree(layout::AGENTS)?.remove(agent)?;
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
}
