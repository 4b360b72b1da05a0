//! What the agent remembers of each other agent it talks with: the last
//! exchanges (who said what, when) and a short rolling summary the model
//! writes every [`SUMMARY_EVERY`] exchanges. Replies and DMs to an agent see
//! it in their system prompt, the other agent's words delimited as data.
//!
//! Guarantees: kept in sled, so it survives restarts; bounded: at most
//! [`KEEP`] exchanges per agent and [`AGENTS`] agents plus [`SLACK`] (when
//! there are more, the ones met longest ago are forgotten, back to
//! [`AGENTS`]), whatever the volume. Remembering an exchange reads and
//! writes that agent's record alone (plus a count when the agent is new):
//! no work that grows with how many agents are remembered, but the sweep
//! once per [`SLACK`] new agents.

use std::collections::VecDeque;

/// The store namespace of what the agent remembers across behaviors (its recent texts and posts).
pub(crate) const MEMORY: &str = "_memory";

use serde::{Deserialize, Serialize};

use crate::store::{AgentStore, StoreError};

/// The store namespace (shared by the agent's behaviors).
const NS: &str = "_memory";
/// Exchanges kept per agent.
pub const KEEP: usize = 12;
/// A new summary after this many exchanges.
pub const SUMMARY_EVERY: u32 = 10;
/// Agents remembered (see [`SLACK`]).
pub const AGENTS: usize = 2000;
/// New agents met before the ones met longest ago are forgotten, back to [`AGENTS`].
pub const SLACK: usize = AGENTS / 10;
/// How many agents are remembered.
const KNOWN: &str = "known";
/// The first version's map of when each agent was last met (replaced by [`KNOWN`]).
const MET: &str = "met";
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
    let found = recall(store, handle)?;
    let new = found.is_none();
    let mut a = found.unwrap_or_default();
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
    if new {
        let known = match store.get::<usize>(NS, KNOWN)? {
            Some(n) => n + 1,
            // The first version kept a map instead: count once, then keep the count.
            None => {
                store.remove(NS, MET)?;
                store.scan::<serde::de::IgnoredAny>(NS, "who:")?.len()
            }
        };
        let known = if known > AGENTS + SLACK { forget_oldest(store)? } else { known };
        store.put(NS, KNOWN, &known)?;
    }
    Ok(a.since_summary >= SUMMARY_EVERY)
}

/// Forgets the agents met longest ago (by their last exchange), back to [`AGENTS`]; how many are left.
fn forget_oldest(store: &AgentStore) -> Result<usize, StoreError> {
    let mut all: Vec<(i64, String)> =
        store.scan::<Acquaintance>(NS, "who:")?.into_iter().map(|(k, a)| (a.exchanges.back().map_or(0, |e| e.at_ms), k)).collect();
    all.sort();
    let over = all.len().saturating_sub(AGENTS);
    for (_, k) in &all[..over] {
        store.remove(NS, k)?;
    }
    Ok(all.len() - over)
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
        let known: usize = store.get(NS, KNOWN).unwrap().unwrap();
        assert!((AGENTS..=AGENTS + SLACK).contains(&known), "{known} remembered");
        assert!(recall(&store, "ada").unwrap().is_none(), "the one met longest ago is forgotten first");
        assert!(recall(&store, "agent_2999").unwrap().is_some());
        assert!(recall(&store, &format!("agent_{}", 3000 - AGENTS)).unwrap().is_some(), "the last {AGENTS} met are kept");
        assert_eq!(store.scan::<serde_json::Value>(NS, "who:").unwrap().len(), known);
    }
}
