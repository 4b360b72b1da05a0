//! What the agent remembers of each other agent it talks with: the last
//! exchanges (who said what, when) and a short rolling summary the model
//! writes every [`SUMMARY_EVERY`] exchanges. Replies and DMs to an agent see
//! it in their system prompt, the other agent's words delimited as data.
//!
//! Guarantees: kept in sled, so it survives restarts; bounded: at most
//! [`KEEP`] exchanges per agent and [`AGENTS`] agents (the one met longest
//! ago is forgotten first), whatever the volume.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::store::{AgentStore, StoreError};

/// The store namespace (shared by the agent's behaviors).
const NS: &str = "_memory";
/// Exchanges kept per agent.
pub const KEEP: usize = 12;
/// A new summary after this many exchanges.
pub const SUMMARY_EVERY: u32 = 10;
/// Agents remembered at most.
pub const AGENTS: usize = 2000;
/// At most this many characters of one message are kept.
const TEXT_CHARS: usize = 300;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub at_ms: i64,
    /// The handle of who said it.
    pub from: String,
    pub text: String,
}

/// What is remembered of one agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Acquaintance {
    pub exchanges: VecDeque<Exchange>,
    pub summary: Option<String>,
    /// Exchanges since the summary was written.
    pub since_summary: u32,
    pub total: u64,
}

fn key(handle: &str) -> String {
    format!("who:{}", handle.trim_start_matches('@').to_lowercase())
}

/// What is remembered of `handle`.
pub fn recall(store: &AgentStore, handle: &str) -> Result<Option<Acquaintance>, StoreError> {
    store.get(NS, &key(handle))
}

/// Adds what was said (theirs, then ours) to the memory of `handle`; true when a new summary is due.
pub fn remember(store: &AgentStore, handle: &str, me: &str, theirs: Option<&str>, ours: &str, now_ms: i64) -> Result<bool, StoreError> {
    let mut a = recall(store, handle)?.unwrap_or_default();
    let cut = |t: &str| t.chars().take(TEXT_CHARS).collect::<String>();
    if let Some(t) = theirs {
        a.exchanges.push_back(Exchange { at_ms: now_ms, from: handle.trim_start_matches('@').to_string(), text: cut(t) });
    }
    a.exchanges.push_back(Exchange { at_ms: now_ms, from: me.to_string(), text: cut(ours) });
    while a.exchanges.len() > KEEP {
        a.exchanges.pop_front();
    }
    a.total += 1;
    a.since_summary += 1;
    store.put(NS, &key(handle), &a)?;
    // When each agent was last met: the one met longest ago goes first when there are too many.
    let mut met: BTreeMap<String, i64> = store.get(NS, "met")?.unwrap_or_default();
    met.insert(key(handle), now_ms);
    while met.len() > AGENTS {
        let Some(oldest) = met.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) else { break };
        met.remove(&oldest);
        store.remove(NS, &oldest)?;
    }
    store.put(NS, "met", &met)?;
    Ok(a.since_summary >= SUMMARY_EVERY)
}

/// Keeps the model's new summary of `handle`.
pub fn summarized(store: &AgentStore, handle: &str, summary: &str) -> Result<(), StoreError> {
    if let Some(mut a) = recall(store, handle)? {
        a.summary = Some(summary.chars().take(600).collect());
        a.since_summary = 0;
        store.put(NS, &key(handle), &a)?;
    }
    Ok(())
}

impl Acquaintance {
    /// The part of a system prompt that says what is remembered of `handle` (their words delimited).
    pub fn prompt(&self, handle: &str, me: &str) -> String {
        let mut out = format!("What you remember of @{handle} ({} exchanges so far):", self.total);
        if let Some(s) = &self.summary {
            out.push_str(&format!("\n{}", crate::llm::untrusted(s)));
        }
        let recent: Vec<String> = self
            .exchanges
            .iter()
            .rev()
            .take(6)
            .rev()
            .map(|e| if e.from == me { format!("you: {}", e.text) } else { format!("@{}: {}", e.from, e.text) })
            .collect();
        if !recent.is_empty() {
            out.push_str(&format!("\nLately:\n{}", crate::llm::untrusted(&recent.join("\n"))));
        }
        out
    }

    /// The exchanges as text, for the model to summarize.
    pub fn transcript(&self) -> String {
        self.exchanges.iter().map(|e| format!("@{}: {}", e.from, e.text)).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 exchanges with one agent and with 3,000 agents stay within the bounds.
    #[test]
    fn memory_is_bounded_whatever_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap().agent("me").unwrap();
        let mut due = 0;
        for i in 0..10_000 {
            if remember(&store, "ada", "me", Some(&format!("question {i}")), &format!("answer {i}"), i).unwrap() {
                summarized(&store, "ada", "they ask a lot").unwrap();
                due += 1;
            }
        }
        let a = recall(&store, "ada").unwrap().unwrap();
        assert_eq!((a.exchanges.len(), a.total, due), (KEEP, 10_000, 1000));
        assert_eq!(a.exchanges.back().unwrap().text, "answer 9999");
        for i in 0..3000 {
            remember(&store, &format!("agent_{i}"), "me", None, "hello", 10_000 + i).unwrap();
        }
        let met: BTreeMap<String, i64> = store.get(NS, "met").unwrap().unwrap();
        assert_eq!(met.len(), AGENTS);
        assert!(recall(&store, "ada").unwrap().is_none(), "the one met longest ago is forgotten first");
        assert!(recall(&store, "agent_2999").unwrap().is_some());
        assert_eq!(store.scan::<serde_json::Value>(NS, "who:").unwrap().len(), AGENTS);
    }
}
