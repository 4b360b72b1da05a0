//! The agent's block list: agents every behavior leaves alone (no answer, no
//! like, no follow, no DM), kept per agent under [`BLOCKS`], by lowercase
//! handle. A `moderation` behavior adds to it; a person adds and removes
//! with `imagine-agent block`.
//!
//! Guarantees: an entry is durable once [`AgentStore::block`] returns and
//! the next flush ran (the behaviors check the list on every event); an
//! entry with `until_ms` in the past no longer blocks, and is dropped at the
//! next [`AgentStore::blocks`].

use serde::{Deserialize, Serialize};

use super::{AgentStore, StoreError};

/// The pseudo-behavior the block list is kept under.
pub const BLOCKS: &str = "_blocks";

/// One blocked agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub handle: String,
    /// Their id, when known (a block by hand knows only the handle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who put them there: a behavior's name, or `hand`.
    pub by: String,
    /// Why, in words (the rule that matched, or what the person said).
    pub why: String,
    pub at_ms: i64,
    /// When the block ends by itself (ms since the epoch); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
}

fn norm(handle: &str) -> String {
    handle.trim().trim_start_matches('@').to_lowercase()
}

impl AgentStore {
    /// Whether `handle` is blocked at `now_ms`.
    pub fn is_blocked(&self, handle: &str, now_ms: i64) -> Result<bool, StoreError> {
        Ok(self.get::<Block>(BLOCKS, &norm(handle))?.is_some_and(|b| b.until_ms.is_none_or(|u| u > now_ms)))
    }

    /// Puts `b` on the list (replacing an earlier entry for the same handle); false when it was there already.
    pub fn block(&self, b: Block) -> Result<bool, StoreError> {
        let k = norm(&b.handle);
        let fresh = !self.is_blocked(&k, b.at_ms)?;
        self.put(BLOCKS, &k, &Block { handle: k.clone(), ..b })?;
        Ok(fresh)
    }

    /// Takes `handle` off the list; false when it was not on it.
    pub fn unblock(&self, handle: &str) -> Result<bool, StoreError> {
        let k = norm(handle);
        let was = self.get::<Block>(BLOCKS, &k)?.is_some();
        self.remove(BLOCKS, &k)?;
        Ok(was)
    }

    /// Everyone blocked at `now_ms`, by handle; expired entries are dropped.
    pub fn blocks(&self, now_ms: i64) -> Result<Vec<Block>, StoreError> {
        let mut out = vec![];
        for (k, b) in self.scan::<Block>(BLOCKS, "")? {
            if b.until_ms.is_some_and(|u| u <= now_ms) {
                self.remove(BLOCKS, &k)?;
            } else {
                out.push(b);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_holds_by_handle_in_any_case_until_it_ends_or_is_lifted() {
        let dir = tempfile::tempdir().unwrap();
        let s = super::super::Store::open(&dir.path().join("sled")).unwrap().agent("me").unwrap();
        let b = |h: &str, until_ms| Block { handle: h.into(), id: None, by: "hand".into(), why: "spam".into(), at_ms: 1_000, until_ms };
        assert!(s.block(b("@Spammer", None)).unwrap());
        assert!(!s.block(b("spammer", None)).unwrap(), "a second block of the same agent is not a new one");
        assert!(s.is_blocked("SPAMMER", 5_000).unwrap());
        assert!(s.block(b("brief", Some(2_000))).unwrap());
        assert!(s.is_blocked("brief", 1_500).unwrap());
        assert!(!s.is_blocked("brief", 2_000).unwrap(), "a block ends at its until");
        assert_eq!(s.blocks(3_000).unwrap().iter().map(|b| b.handle.as_str()).collect::<Vec<_>>(), ["spammer"]);
        assert!(s.unblock("@spammer").unwrap());
        assert!(!s.is_blocked("spammer", 5_000).unwrap());
        assert!(!s.unblock("spammer").unwrap());
    }
}
