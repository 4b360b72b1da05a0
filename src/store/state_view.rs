//! What `imagine-agent state` shows: per agent, the notifications seen, the
//! events waiting, generation jobs in flight, schedule and list positions, and
//! the recent side effects. Built from a [`Store`], whether the CLI opened it
//! or the running daemon answered on its control socket.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ActionState, Store, StoreError};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateView {
    pub agents: Vec<AgentView>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentView {
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
    /// Agents on the block list (a `moderation` behavior's, or set by hand).
    #[serde(default)]
    pub blocked: Vec<super::blocks::Block>,
    /// Drafts waiting for a person (`approval: required`).
    #[serde(default)]
    pub drafts_pending: usize,
    /// A catch-up under way: notifications read so far and pages, before they are handed over.
    #[serde(default)]
    pub catching_up: Option<CatchUp>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CatchUp {
    /// Missed notifications found so far (handed over into the walk's lane, not yet shown to the behaviors).
    pub staged: u64,
    pub pages: u64,
    /// Whether every older page is read (the hand-over to the behaviors is under way).
    pub read_all: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecentAction {
    pub at: String,
    pub behavior: String,
    pub key: String,
    #[serde(rename = "kind")]
    pub action: String,
    pub state: ActionState,
    pub result: Option<String>,
    /// What was sent (target, text): the intent's detail, kept with the outcome.
    #[serde(default)]
    pub detail: Value,
    /// When, in ms since the epoch.
    #[serde(default)]
    pub at_ms: i64,
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
    "decision:",
    "review:",
    "day:",
    "sent:",
];

/// Pseudo-behaviors whose values are shown on their own, not as positions.
const OWN_SECTION: &[&str] = &[super::blocks::BLOCKS, "_screeners"];

impl StateView {
    pub fn build(store: &Store, recent: usize) -> Result<StateView, StoreError> {
        let mut agents = vec![];
        for handle in store.agents() {
            let s = store.agent(&handle)?;
            let mut actions = s.actions()?;
            actions.sort_by_key(|a| std::cmp::Reverse(a.2.at_ms));
            let mut r = AgentView {
                notifications_seen: s.seen_len()?,
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
                        action: a.action,
                        state: a.state,
                        result: a.result,
                        detail: a.detail,
                        at_ms: a.at_ms,
                    })
                    .collect(),
                catching_up: s.cursor()?.scan.map(|sc| CatchUp { staged: sc.handed, pages: sc.pages, read_all: sc.next.is_none() }),
                handle,
                ..AgentView::default()
            };
            let now = super::now_ms();
            r.blocked = s
                .scan::<super::blocks::Block>(super::blocks::BLOCKS, "")?
                .into_iter()
                .map(|x| x.1)
                .filter(|b| b.until_ms.is_none_or(|u| u > now))
                .collect();
            for (b, k, v) in s.values()? {
                if OWN_SECTION.contains(&b.as_str()) {
                    continue;
                }
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
        Ok(StateView { agents })
    }
}

/// `block list|add HANDLE [WHY]|remove HANDLE` on every agent of `store`
/// (or only `agent`): the rows touched (agent, handle, what was done).
pub fn block_command(store: &Store, agent: Option<&str>, verb: &str, handle: Option<&str>, why: &str) -> Result<Vec<Value>, StoreError> {
    let now = super::now_ms();
    let mut out = vec![];
    for h in store.agents().into_iter().filter(|h| agent.is_none_or(|a| a.trim_start_matches('@').eq_ignore_ascii_case(h))) {
        let s = store.agent(&h)?;
        match (verb, handle) {
            ("add", Some(who)) => {
                let b =
                    super::blocks::Block { handle: who.into(), id: None, by: "hand".into(), why: why.into(), at_ms: now, until_ms: None };
                let fresh = s.block(b)?;
                out.push(serde_json::json!({"agent": h, "handle": who, "done": if fresh { "blocked" } else { "already blocked" }}));
            }
            ("remove", Some(who)) => {
                if s.unblock(who)? {
                    out.push(serde_json::json!({"agent": h, "handle": who, "done": "unblocked"}));
                }
            }
            _ => {
                for b in s.blocks(now)? {
                    out.push(serde_json::json!({"agent": h, "handle": b.handle, "done": "listed", "block": b}));
                }
            }
        }
    }
    Ok(out)
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
