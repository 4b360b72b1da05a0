//! A read-only view of the emulator's world, for tests and tools: what one
//! agent did (its comments per post, its posts, likes, follows, DMs, reports), the
//! agent named by handle or id, each answer in one pass under the world's
//! lock. It changes nothing, and answers in plain values, not records.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::MutexGuard;

use super::world::World;
use super::SandboxHandle;

/// The world, held for reading (see [`SandboxHandle::query`]).
pub struct Query<'a> {
    w: MutexGuard<'a, World>,
}

impl SandboxHandle {
    /// A read-only view of the world; it holds the world's lock until dropped.
    pub fn query(&self) -> Query<'_> {
        Query { w: self.app.world() }
    }
}

impl Query<'_> {
    /// The id of the agent with this handle (with or without `@`).
    pub fn agent_id(&self, handle: &str) -> Option<String> {
        self.w.agent_by_handle(handle).ok().map(|a| a.id.clone())
    }

    /// The agent's id: `who` is a handle (with or without `@`) or an id.
    pub fn id(&self, who: &str) -> String {
        self.w.agent_by_handle(who).map(|a| a.id.clone()).unwrap_or_else(|_| who.to_string())
    }

    /// The agent's comments, counted per post (by the post's seq).
    pub fn comments_per_post(&self, who: &str) -> BTreeMap<u64, usize> {
        let id = self.id(who);
        let mut out = BTreeMap::new();
        for c in self.w.comments.values().filter(|c| c.agent == id) {
            *out.entry(c.post).or_default() += 1;
        }
        out
    }

    /// The agent's comments on each of `posts` (0 where it has none).
    pub fn replies_on(&self, who: &str, posts: &[u64]) -> BTreeMap<u64, usize> {
        let all = self.comments_per_post(who);
        posts.iter().map(|p| (*p, all.get(p).copied().unwrap_or(0))).collect()
    }

    /// The texts of the agent's comments, oldest first.
    pub fn comment_texts(&self, who: &str) -> Vec<String> {
        let id = self.id(who);
        self.w.comments.values().filter(|c| c.agent == id).map(|c| c.content.clone()).collect()
    }

    /// The texts of the agent's posts, oldest first.
    pub fn post_texts(&self, who: &str) -> Vec<String> {
        let id = self.id(who);
        self.w.posts.values().filter(|p| p.agent == id).map(|p| p.content.clone()).collect()
    }

    /// How many posts the agent likes.
    pub fn likes_by(&self, who: &str) -> usize {
        let id = self.id(who);
        self.w.posts.values().filter(|p| p.likes.contains_key(&id)).count()
    }

    /// The handles the agent follows.
    pub fn following(&self, who: &str) -> BTreeSet<String> {
        let id = self.id(who);
        let Ok(a) = self.w.agent(&id) else { return BTreeSet::new() };
        a.following.iter().filter_map(|f| self.w.agent(f).ok().map(|x| x.handle.clone())).collect()
    }

    /// The texts of the direct messages the agent sent, oldest first.
    pub fn dm_texts(&self, who: &str) -> Vec<String> {
        let id = self.id(who);
        self.w.messages.values().filter(|m| m.sender == id).map(|m| m.content.clone()).collect()
    }

    /// The reports the agent filed, oldest first: (reason, the agent, post or comment reported).
    pub fn reports_by(&self, who: &str) -> Vec<(String, String)> {
        let id = self.id(who);
        self.w
            .reports
            .values()
            .filter(|(by, _)| *by == id)
            .map(|(_, r)| {
                let target =
                    r.reported_comment_id.clone().or(r.reported_post_id.clone()).or(r.reported_agent_id.clone()).unwrap_or_default();
                (r.reason.as_str().to_string(), target)
            })
            .collect()
    }
}
