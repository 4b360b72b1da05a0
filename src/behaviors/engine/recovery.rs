//! What a crash left unknown, looked up on the platform with only what the
//! API reference promises.
//!
//! Guarantees:
//! - An agent's own post is looked for on the public timeline ("all recent
//!   posts from all agents"), walked back to the time its intent was written
//!   less [`CLOCK_SLACK_MS`], never in the feed (the reference's feed holds
//!   "posts from agents you follow", which need not include one's own).
//! - A post already recorded as the result of another intent of this agent
//!   is never taken for this one (two fires with the same text stay two posts).
//! - A walk that cannot reach the intent's time within [`MAX_WALK_PAGES`]
//!   pages (a platform busier than 5,000 posts since the intent) asks the
//!   platform's search for the text; only when neither finds it is it sent.

use std::collections::HashSet;

use serde_json::Value;

use super::ctx::Ctx;
use futures::TryStreamExt;

use crate::api::ApiError;
use crate::store::ActionState;
use crate::wire::types::{Conversation, Post};

/// What a look on the platform for an unfinished side effect found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// It happened; the id of what it created, if it created something.
    Done(Option<String>),
    /// It did not happen: send it.
    Missing,
}

impl Found {
    /// Done (creating nothing) when `happened`.
    pub fn when(happened: bool) -> Found {
        if happened {
            Found::Done(None)
        } else {
            Found::Missing
        }
    }

    /// Done when something was found: its id.
    pub fn created(id: Option<String>) -> Found {
        id.map_or(Found::Missing, |id| Found::Done(Some(id)))
    }
}

/// The key under which [`Ctx::once`] hands a look-up the time the intent was
/// written (this machine's wall clock, ms), beside the intent's detail.
pub const WRITTEN_AT: &str = "_writtenAtMs";

/// How much earlier than our clock says the platform may date what we sent
/// (clocks apart, a request that waited): a walk goes back this much further.
pub const CLOCK_SLACK_MS: i64 = 10 * 60_000;

/// The most timeline pages (of 100) one look walks before it gives up.
pub const MAX_WALK_PAGES: usize = 50;

/// Our posts remembered for prompts (`recent_posts`), newest first.
const POSTED: &str = "posted";
const REMEMBERED_POSTS: usize = 20;

fn created_ms(p: &Post) -> Option<i64> {
    p.created_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis())
}

impl Ctx {
    /// After a crash: is a post (or quote) of ours with `detail`'s `content`
    /// already on the platform? See the module's guarantees.
    pub async fn find_own_post(&self, detail: Value) -> Result<Found, ApiError> {
        let want = detail.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
        let since = detail.get(WRITTEN_AT).and_then(Value::as_i64).map(|t| t - CLOCK_SLACK_MS);
        let taken = self.recorded_posts().map_err(|e| ApiError::Config(format!("reading the agent's records: {e}")))?;
        let me = &self.agent.id;
        let ours = |p: &Post| p.agent.as_ref().is_some_and(|a| &a.id == me) && p.content == want && !taken.contains(&p.id);
        let mut list = self.session().timeline().limit(100);
        for _ in 0..MAX_WALK_PAGES {
            let page = list.page().await?;
            if let Some(p) = page.items.iter().find(|p| ours(p)) {
                return Ok(Found::Done(Some(p.id.clone())));
            }
            let reached = since.is_some_and(|s| page.items.iter().any(|p| created_ms(p).is_some_and(|c| c < s)));
            match page.next_cursor.filter(|c| page.has_more && !c.is_empty() && !page.items.is_empty()) {
                Some(c) if !reached => list = list.cursor(c),
                _ => return Ok(Found::Missing),
            }
        }
        // A timeline too busy to walk back that far (or an intent of an earlier
        // version, with no time): the platform's search for the text itself.
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_WALK_PAGES {
            let found = self.session().search(&want, "posts", Some(100), cursor.as_deref()).await?;
            if let Some(p) = found.posts.iter().find(|p| ours(p)) {
                return Ok(Found::Done(Some(p.id.clone())));
            }
            match found.next_cursor.filter(|c| found.has_more && !c.is_empty() && !found.posts.is_empty()) {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        tracing::warn!(
            "our post was looked for on {MAX_WALK_PAGES} pages of the public timeline and by a search for its text, and not found; sending it"
        );
        Ok(Found::Missing)
    }

    /// After a crash: is our DM with `detail`'s `content` to `detail`'s
    /// `handle` already there? Every conversation with them and every message
    /// of it is read (the reference promises no order for either list).
    pub async fn find_own_dm(&self, detail: Value) -> Result<Found, ApiError> {
        let h = detail.get("handle").and_then(Value::as_str).unwrap_or_default().to_lowercase();
        let want = detail.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
        let convs: Vec<Conversation> = self.session().conversations().limit(100).stream().try_collect().await?;
        for c in convs.iter().filter(|c| c.participants.iter().chain(c.participant.iter()).any(|p| p.handle.eq_ignore_ascii_case(&h))) {
            let mut msgs = std::pin::pin!(self.session().messages(&c.id).limit(100).stream());
            while let Some(m) = msgs.try_next().await? {
                if m.content == want && m.sender.as_ref().is_some_and(|s| s.id == self.agent.id) {
                    return Ok(Found::Done(Some(c.id.clone())));
                }
            }
        }
        Ok(Found::Missing)
    }

    /// The ids of posts this agent's records already account for.
    fn recorded_posts(&self) -> Result<HashSet<String>, crate::store::StoreError> {
        Ok(self
            .store()
            .actions()?
            .into_iter()
            .filter(|(_, _, r)| r.state == ActionState::Done && matches!(r.action.as_str(), "post" | "quote"))
            .filter_map(|(_, _, r)| r.result)
            .collect())
    }

    /// Remembers a post of ours for prompts (`recent_posts`).
    pub(crate) fn remember_post(&self, text: &str) -> Result<(), crate::store::StoreError> {
        let mut posted: std::collections::VecDeque<String> = self.store().get(super::memory::MEMORY, POSTED)?.unwrap_or_default();
        posted.push_front(text.to_string());
        posted.truncate(REMEMBERED_POSTS);
        self.store().put(super::memory::MEMORY, POSTED, &posted)
    }

    /// Our last few posts (so the model does not repeat itself), as the daemon
    /// recorded them: the feed need not list them.
    pub(crate) fn recent_posts(&self) -> Vec<String> {
        let posted: Option<Vec<String>> = self.store().get(super::memory::MEMORY, POSTED).unwrap_or_default();
        posted.unwrap_or_default().into_iter().take(5).collect()
    }
}
