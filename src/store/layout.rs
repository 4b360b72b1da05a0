//! How agents' state lies in sled: five trees shared by every agent (`kv`,
//! `actions`, `inbox`, `seen`, `cursor`), each key starting with the agent's
//! handle and a NUL, and an `agents` tree naming the agents that have state.
//!
//! Why shared: sled grows slower with every tree it holds (its tree roots live
//! in one record rewritten on each new tree), so a tree per agent made
//! starting 6,000 agents take 52 s and 10,000 stall. Handles never contain a
//! NUL (`api::limits::check_handle`), so one agent's range never overlaps
//! another's.
//!
//! Guarantees: [`migrate`] turns the first layout (five trees per agent) into
//! this one record for record, and can be interrupted and run again: copies
//! are idempotent and the format marker changes only once everything is
//! copied and the old trees dropped.

use std::sync::Arc;

use sled::IVec;

/// The trees holding agents' state, shared by all agents.
pub const TREES: [&str; 5] = ["kv", "actions", "inbox", "seen", "cursor"];
/// Agents with state here: handle -> nothing.
pub const AGENTS: &str = "agents";

/// One agent's share of a shared tree: keys are given and returned without
/// the agent's prefix.
#[derive(Clone)]
pub struct Part {
    pub tree: sled::Tree,
    prefix: Arc<[u8]>,
}

pub fn prefix(agent: &str) -> Vec<u8> {
    let mut p = agent.as_bytes().to_vec();
    p.push(0);
    p
}

impl Part {
    pub fn new(tree: sled::Tree, agent: &str) -> Part {
        Part { tree, prefix: prefix(agent).into() }
    }

    /// The full key of `suffix` in the shared tree (for transactions).
    pub fn k(&self, suffix: impl AsRef<[u8]>) -> Vec<u8> {
        let s = suffix.as_ref();
        let mut k = Vec::with_capacity(self.prefix.len() + s.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(s);
        k
    }

    fn strip(&self, r: sled::Result<(IVec, IVec)>) -> sled::Result<(IVec, IVec)> {
        r.map(|(k, v)| (IVec::from(&k[self.prefix.len()..]), v))
    }

    pub fn get(&self, k: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        self.tree.get(self.k(k))
    }

    pub fn insert(&self, k: impl AsRef<[u8]>, v: impl Into<IVec>) -> sled::Result<Option<IVec>> {
        self.tree.insert(self.k(k), v)
    }

    pub fn remove(&self, k: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        self.tree.remove(self.k(k))
    }

    pub fn contains_key(&self, k: impl AsRef<[u8]>) -> sled::Result<bool> {
        self.tree.contains_key(self.k(k))
    }

    /// Records whose key (without the agent's prefix) starts with `p`, in order.
    pub fn scan_prefix(&self, p: impl AsRef<[u8]>) -> impl DoubleEndedIterator<Item = sled::Result<(IVec, IVec)>> + '_ {
        self.tree.scan_prefix(self.k(p)).map(move |r| self.strip(r))
    }

    /// Records with `from <= key < to` (keys without the agent's prefix).
    pub fn range(&self, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> impl DoubleEndedIterator<Item = sled::Result<(IVec, IVec)>> + '_ {
        self.tree.range(self.k(from)..self.k(to)).map(move |r| self.strip(r))
    }

    /// Every record of the agent.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = sled::Result<(IVec, IVec)>> + '_ {
        self.scan_prefix([])
    }

    /// How many records the agent has here (walks them).
    pub fn len(&self) -> usize {
        self.tree.scan_prefix(&*self.prefix).keys().count()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.scan_prefix(&*self.prefix).next().is_none()
    }

    /// Removes every record of the agent; how many.
    pub fn clear(&self) -> sled::Result<usize> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for k in self.tree.scan_prefix(&*self.prefix).keys() {
            batch.remove(k?);
            n += 1;
        }
        self.tree.apply_batch(batch)?;
        Ok(n)
    }
}

/// Moves every agent's trees of the first layout (`{agent}:{tree}`) into the
/// shared trees; returns how many agents moved.
pub fn migrate(db: &sled::Db) -> sled::Result<usize> {
    let agents_tree = db.open_tree(AGENTS)?;
    let mut moved = std::collections::BTreeSet::new();
    for name in db.tree_names() {
        let Ok(name) = std::str::from_utf8(&name).map(str::to_string) else { continue };
        let Some((agent, short)) = name.rsplit_once(':') else { continue };
        if !TREES.contains(&short) {
            continue;
        }
        let old = db.open_tree(&name)?;
        let shared = db.open_tree(short)?;
        let p = prefix(agent);
        let mut batch = sled::Batch::default();
        for r in old.iter() {
            let (k, v) = r?;
            let mut full = p.clone();
            full.extend_from_slice(&k);
            batch.insert(full, v);
        }
        shared.apply_batch(batch)?;
        agents_tree.insert(agent.as_bytes(), &[])?;
        db.flush()?;
        db.drop_tree(&name)?;
        moved.insert(agent.to_string());
    }
    db.flush()?;
    Ok(moved.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_do_not_see_each_other_and_keys_come_back_without_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let t = db.open_tree("kv").unwrap();
        let (a, ab) = (Part::new(t.clone(), "a"), Part::new(t.clone(), "ab"));
        a.insert("x1", "1").unwrap();
        a.insert("x2", "2").unwrap();
        ab.insert("x1", "other").unwrap();
        let keys: Vec<_> = a.scan_prefix("x").map(|r| r.unwrap().0.to_vec()).collect();
        assert_eq!(keys, vec![b"x1".to_vec(), b"x2".to_vec()]);
        assert_eq!(a.len(), 2);
        assert_eq!(ab.len(), 1);
        assert_eq!(a.range("x", "x2").count(), 1);
        assert_eq!(a.clear().unwrap(), 2);
        assert_eq!(ab.get("x1").unwrap().unwrap().as_ref(), b"other");
    }
}
