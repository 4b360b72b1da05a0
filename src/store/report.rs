//! What `imagine-agent state` shows: per agent, the notifications seen, the
//! events waiting, generation jobs in flight, schedule and list positions, and
//! the recent side effects. Built from a [`Store`], whether the CLI opened it
//! or the running daemon answered on its control socket.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ActionState, Store, StoreError};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateReport {
    pub agents: Vec<AgentReport>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentReport {
    pub handle: String,
    /// Notification ids remembered as handed over (the dedupe marks).
    pub notifications_seen: usize,
    /// Events waiting, by behavior.
    pub events_waiting: BTreeMap<String, usize>,
    pub actions: usize,
    /// Side effects recorded as intended and not yet known done (checked on the platform after a crash).
    pub unfinished_intents: usize,
    /// Generation jobs started and not yet seen finish: (behavior, job id, record).
    pub jobs_in_flight: Vec<(String, String, Value)>,
    /// Schedule positions, list cursors and counters: (behavior, key, value).
    pub positions: Vec<(String, String, Value)>,
    /// The newest side effects first.
    pub recent: Vec<RecentAction>,
    /// Conversations handed to a person (dm_reply): (behavior, conversation id, who, what).
    #[serde(default)]
    pub handoffs: Vec<(String, String, Value)>,
    /// Drafts waiting for a person (`approval: required`).
    #[serde(default)]
    pub drafts_pending: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecentAction {
    pub at: String,
    pub behavior: String,
    pub key: String,
    pub kind: String,
    pub state: ActionState,
    pub result: Option<String>,
}

/// Keys of per-event records (one per follower, per finished job): counted, not listed as positions.
const PER_EVENT: &[&str] = &[
    "finished:",
    "followed_back:",
    "dm:",
    "engaged:",
    "score:",
    "author:",
    "plan:",
    "pending:",
    "owed:",
    "followed:",
    "conv:",
    "count:",
    "who:",
    "thread:",
    "stopped:",
    "draft:",
    "omsg:",
    "open:",
    "owed_msg:",
    "fails:",
];

impl StateReport {
    pub fn build(store: &Store, recent: usize) -> Result<StateReport, StoreError> {
        let mut agents = vec![];
        for handle in store.agents() {
            let s = store.agent(&handle)?;
            let mut actions = s.actions()?;
            actions.sort_by_key(|a| std::cmp::Reverse(a.2.at_ms));
            let mut r = AgentReport {
                notifications_seen: s.seen_len(),
                events_waiting: s.inbox_by_behavior()?,
                actions: actions.len(),
                unfinished_intents: actions.iter().filter(|a| a.2.state == ActionState::Intent).count(),
                recent: actions
                    .into_iter()
                    .take(recent)
                    .map(|(behavior, key, a)| RecentAction {
                        at: chrono::DateTime::from_timestamp_millis(a.at_ms).map(|t| t.to_rfc3339()).unwrap_or_default(),
                        behavior,
                        key,
                        kind: a.kind,
                        state: a.state,
                        result: a.result,
                    })
                    .collect(),
                handle,
                ..AgentReport::default()
            };
            for (b, k, v) in s.values()? {
                if let Some(job) = k.strip_prefix("job:") {
                    r.jobs_in_flight.push((b, job.to_string(), v));
                } else if k.starts_with("draft:") {
                    if v.get("status").and_then(Value::as_str) == Some("pending") {
                        r.drafts_pending += 1;
                    }
                } else if let Some(conv) = k.strip_prefix("handoff:") {
                    r.handoffs.push((b, conv.to_string(), v));
                } else if !PER_EVENT.iter().any(|p| k.starts_with(p)) {
                    r.positions.push((b, k, v));
                }
            }
            agents.push(r);
        }
        Ok(StateReport { agents })
    }

    /// For people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.agents.is_empty() {
            out.push_str("no agent has state here yet\n");
        }
        for i in &self.agents {
            let waiting: usize = i.events_waiting.values().sum();
            out.push_str(&format!(
                "agent @{}: {} notifications seen, {waiting} events waiting, {} actions ({} unfinished intents), {} generation jobs in flight\n",
                i.handle,
                i.notifications_seen,
                i.actions,
                i.unfinished_intents,
                i.jobs_in_flight.len()
            ));
            for (b, n) in &i.events_waiting {
                out.push_str(&format!("  waiting  {b}: {n}\n"));
            }
            for (b, id, v) in &i.jobs_in_flight {
                out.push_str(&format!("  job      {b} {id} {v}\n"));
            }
            if i.drafts_pending > 0 {
                out.push_str(&format!("  DRAFTS   {} waiting for approval -- see `imagine-agent drafts list`\n", i.drafts_pending));
            }
            for (b, conv, v) in &i.handoffs {
                out.push_str(&format!(
                    "  HANDED OFF {b} {conv} (@{}: {}) -- resume with `imagine-agent conversations resume {conv}`\n",
                    v.get("handle").and_then(Value::as_str).unwrap_or("?"),
                    v.get("text").and_then(Value::as_str).unwrap_or("")
                ));
            }
            for (b, k, v) in &i.positions {
                out.push_str(&format!("  position {b} {k} = {v}\n"));
            }
            for a in &i.recent {
                out.push_str(&format!(
                    "  {} {} {} {} {:?} {}\n",
                    a.at,
                    a.behavior,
                    a.kind,
                    a.key,
                    a.state,
                    a.result.clone().unwrap_or_default()
                ));
            }
        }
        out
    }
}

/// Turns automatic answers back on in conversation `id` (every agent and behavior that handed it off); how many were resumed.
pub fn resume_conversation(store: &Store, id: &str) -> Result<usize, StoreError> {
    let mut n = 0;
    for handle in store.agents() {
        let s = store.agent(&handle)?;
        for (b, k, _) in s.values()? {
            if k == format!("handoff:{id}") {
                s.remove(&b, &k)?;
                n += 1;
            }
        }
    }
    Ok(n)
}
