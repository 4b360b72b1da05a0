//! Which posts a behavior takes up (engage): words, a regex, hashtags,
//! authors, counts, age, never its own posts, and optionally a language
//! model's rating (0-10), with the post's text delimited as data. A rating is
//! kept, so a post is rated once.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use super::ctx::Ctx;
use super::error::BehaviorError;
use crate::wire::types::Post;

/// Which posts qualify. Every condition set must hold.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Select {
    /// At least one of these words (case-insensitive).
    pub keywords: Vec<String>,
    /// The text matches this regular expression.
    pub regex: Option<String>,
    /// At least one of these hashtags.
    pub hashtags: Vec<String>,
    /// When not empty: only posts by these agents.
    pub authors: Vec<String>,
    /// Never posts by these agents.
    pub deny_authors: Vec<String>,
    pub min_likes: u64,
    pub min_amplifies: u64,
    /// Older posts are not considered.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub max_age: Duration,
    /// A language model rates each post that passed the rest (0-10); kept when at least `threshold`.
    pub score: Option<Score>,
}

impl Default for Select {
    fn default() -> Self {
        Select {
            keywords: vec![],
            regex: None,
            hashtags: vec![],
            authors: vec![],
            deny_authors: vec![],
            min_likes: 0,
            min_amplifies: 0,
            max_age: Duration::from_secs(2 * 86_400),
            score: None,
        }
    }
}

/// A model's rating of a post: `prompt` says what the agent cares about; the post arrives delimited as data.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Score {
    #[serde(default = "default_profile")]
    pub profile: String,
    pub prompt: String,
    pub threshold: u8,
}

fn default_profile() -> String {
    "default".into()
}

pub const SCORE_SYSTEM: &str = "You rate posts for an AI agent on a social network. Reply with one integer from 0 to 10 and nothing else: 10 when the post is exactly what the agent cares about, 0 when it is unrelated.";

/// How old a post is by the agent's clock; None when its time is missing or unreadable.
pub fn age(ctx: &Ctx, p: &Post) -> Option<Duration> {
    let t = chrono::DateTime::parse_from_rfc3339(p.created_at.as_deref()?).ok()?;
    Some(ctx.now().signed_duration_since(t).to_std().unwrap_or_default())
}

impl Select {
    /// Whether `p` is older than `max_age`.
    pub fn too_old(&self, ctx: &Ctx, p: &Post) -> bool {
        age(ctx, p).is_some_and(|a| a > self.max_age)
    }

    /// Whether `p` passes every condition but the model's rating.
    pub fn admits(&self, ctx: &Ctx, p: &Post, regex: Option<&regex::Regex>) -> bool {
        let Some(author) = &p.agent else { return false };
        if author.id == ctx.agent.id || author.handle.eq_ignore_ascii_case(&ctx.agent.handle) {
            return false;
        }
        let is = |list: &[String]| list.iter().any(|h| h.trim_start_matches('@').eq_ignore_ascii_case(&author.handle));
        if is(&self.deny_authors) || (!self.authors.is_empty() && !is(&self.authors)) {
            return false;
        }
        let text = p.content.to_lowercase();
        let tags: HashSet<String> = p.hashtags.iter().map(|t| t.trim_start_matches('#').to_lowercase()).collect();
        age(ctx, p).is_some_and(|a| a <= self.max_age)
            && p.like_count >= self.min_likes
            && p.amplify_count >= self.min_amplifies
            && (self.keywords.is_empty() || self.keywords.iter().any(|k| text.contains(&k.to_lowercase())))
            && (self.hashtags.is_empty() || self.hashtags.iter().any(|h| tags.contains(&h.trim_start_matches('#').to_lowercase())))
            && regex.is_none_or(|r| r.is_match(&p.content))
    }
}

impl Score {
    /// The model's rating of post `id` by `author` (kept under `score:ID`); None when the model gave none.
    pub async fn rate(&self, ctx: &Ctx, id: &str, author: &str, text: &str) -> Result<Option<u8>, BehaviorError> {
        let key = format!("score:{id}");
        if let Some(s) = ctx.store().get::<u8>(&ctx.behavior, &key)? {
            return Ok(Some(s));
        }
        let Some(llm) = &ctx.agent.llm else { return Err(super::content::ContentError::NoLlmProfiles.into()) };
        let user = format!("What the agent cares about: {}\n\nThe post by @{author}:\n{}", self.prompt, crate::llm::untrusted(text));
        let answer = llm.complete(&ctx.agent.handle, &ctx.behavior, &self.profile, SCORE_SYSTEM, &user, &[]).await;
        let parsed = answer.as_deref().ok().and_then(|a| {
            a.split(|c: char| !c.is_ascii_digit()).find(|t| !t.is_empty()).and_then(|t| t.parse::<u8>().ok()).filter(|n| *n <= 10)
        });
        match parsed {
            Some(n) => {
                ctx.store().put(&ctx.behavior, &key, &n)?;
                Ok(Some(n))
            }
            None => {
                let answer = answer.map_err(|e| e.to_string());
                tracing::warn!(post = id, answer = ?answer, "the model gave no rating; the post is left for a later run");
                Ok(None)
            }
        }
    }
}
