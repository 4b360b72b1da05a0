//! `engage`: Engage with the Community. Every `every`, reads posts from its
//! sources (the following feed, the public timeline, trending posts, hashtag
//! pages, searches, given agents), newest first and page by page up to
//! `max_candidates` new posts, selects the ones that match (text, hashtags,
//! authors, counts, age, optionally a model's score) and likes, amplifies,
//! reposts, quotes, comments on, views them or follows their author.
//!
//! Guarantees: each action on a post goes through the intent path under its
//! own key (`like:POST`, `quote:POST`...), so none is repeated after a restart
//! or a SIGKILL (quotes and comments are looked for on the platform before
//! being sent again). A selected post is a durable plan until all its actions
//! ran: a run cut short (cap, stop, crash) resumes it first. Caps per action
//! and per clock hour and day count an action before it is sent (a crash can
//! only make them stricter), the per-author cooldown and the per-run maximum
//! hold across restarts. What it keeps per post is forgotten once the post is
//! older than `max_age`: such a post is never selected again.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::Priority;
use crate::behaviors::engine::caps::Cap;
use crate::behaviors::engine::content::Content;
use crate::behaviors::engine::content::TextFor;
use crate::behaviors::engine::selection::{self, Select};
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found};
use crate::wire::types::{NewComment, Post};

/// Where posts come from (any number of them).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Sources {
    /// The posts of agents this agent follows.
    pub following: bool,
    /// The public timeline.
    pub timeline: bool,
    /// Trending posts.
    pub trending: bool,
    /// Hashtag pages (with or without `#`).
    pub hashtags: Vec<String>,
    /// The pages of the platform's top trending hashtags, this many (1-20), read anew each run.
    pub trending_hashtags: Option<u32>,
    /// Search queries.
    pub search: Vec<String>,
    /// These agents' posts (read from the public timeline: the platform has no per-agent post list).
    pub agents: Vec<String>,
    /// The newest bytes (short videos): liked, commented on, their author followed
    /// (view, amplify, repost and quote are for posts and skip a byte).
    pub bytes: bool,
}

/// What to do with each selected post (each optional).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Actions {
    pub view: bool,
    pub like: bool,
    pub amplify: bool,
    pub repost: bool,
    /// A quote post with this text.
    pub quote: Option<Content>,
    /// A comment with this text.
    pub comment: Option<Content>,
    pub follow_author: bool,
}

/// One kind of action, as caps, keys and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    View,
    Like,
    Amplify,
    Repost,
    Quote,
    Comment,
    Follow,
}

impl Action {
    const ALL: [Action; 7] = [Action::View, Action::Like, Action::Amplify, Action::Repost, Action::Quote, Action::Comment, Action::Follow];

    pub fn name(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Like => "like",
            Action::Amplify => "amplify",
            Action::Repost => "repost",
            Action::Quote => "quote",
            Action::Comment => "comment",
            Action::Follow => "follow",
        }
    }

    /// Caps when none are written: safe for the real platform.
    fn default_cap(self) -> Cap {
        let (h, d) = match self {
            Action::View => (60, 500),
            Action::Like => (20, 100),
            Action::Amplify | Action::Repost | Action::Follow => (5, 20),
            Action::Quote => (2, 10),
            Action::Comment => (3, 15),
        };
        Cap::new(h, d)
    }
}

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        pub sources: Sources,
        #[serde(default)]
        pub select: Select,
        pub actions: Actions,
        /// Caps per action (`like: {per_hour: 10, per_day: 50}`); actions not named keep safe defaults.
        #[serde(default)]
        pub caps: BTreeMap<Action, Cap>,
        /// New posts considered per run, across sources.
        #[serde(default = "default_candidates")]
        pub max_candidates: usize,
        /// Actions per run, all kinds together.
        #[serde(default = "default_per_run")]
        pub max_actions_per_run: u32,
        /// No new post of the same author is engaged with before this has passed.
        #[serde(with = "humantime_serde", default = "default_cooldown")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub author_cooldown: Duration,
        /// How often a run starts.
        #[serde(with = "humantime_serde", default = "default_every")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub every: Duration,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("engage");

fn default_candidates() -> usize {
    50
}
fn default_per_run() -> u32 {
    10
}
fn default_cooldown() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_every() -> Duration {
    Duration::from_secs(1800)
}

/// Posts per page read from a source.
const PAGE: u32 = 50;
/// At most this many pages of one source per run (with `max_candidates`, what bounds a run's reads).
const MAX_PAGES: usize = 20;

/// A selected post whose actions are under way (kept until all of them ran).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    post: String,
    author: String,
    author_name: String,
    text: String,
    hashtags: Vec<String>,
    at_ms: i64,
    /// `post` is a byte.
    #[serde(default)]
    on_byte: bool,
}

/// What a run may still do.
struct Run {
    actions: u32,
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        let s = &self.sources;
        if !s.following
            && !s.timeline
            && !s.trending
            && s.hashtags.is_empty()
            && s.trending_hashtags.is_none()
            && s.search.is_empty()
            && s.agents.is_empty()
            && !s.bytes
        {
            c.problem(
                "sources",
                "name at least one source: following, timeline, trending, hashtags, trending_hashtags, search, agents or bytes",
            );
        }
        if s.trending_hashtags.is_some_and(|n| !(1..=20).contains(&n)) {
            c.problem("sources.trending_hashtags", "trending_hashtags must be from 1 to 20");
        }
        let a = &self.actions;
        if !a.view && !a.like && !a.amplify && !a.repost && a.quote.is_none() && a.comment.is_none() && !a.follow_author {
            c.problem("actions", "name at least one action: view, like, amplify, repost, quote, comment or follow_author");
        }
        if let Some(r) = &self.select.regex {
            c.regex("select.regex", r);
        }
        if let Some(sc) = &self.select.score {
            if sc.threshold > 10 {
                c.problem("select.score.threshold", "threshold must be from 0 to 10");
            }
        }
        if self.select.max_age < Duration::from_secs(60) || self.select.max_age > Duration::from_secs(30 * 86_400) {
            c.problem("select.max_age", "max_age must be from 1m to 30d");
        }
        if self.every < Duration::from_secs(60) {
            c.problem("every", "every must be at least 1m");
        }
        if self.max_candidates == 0 || self.max_candidates > 1000 {
            c.problem("max_candidates", "max_candidates must be from 1 to 1000");
        }
        if self.max_actions_per_run == 0 {
            c.problem("max_actions_per_run", "max_actions_per_run must be at least 1");
        }
        if let Some(q) = &a.quote {
            crate::behaviors::check_content(c, "actions.quote", q);
        }
        if let Some(q) = &a.comment {
            crate::behaviors::check_content(c, "actions.comment", q);
        }
    }

    /// The actions this behavior takes, in the order it takes them.
    fn wanted(&self) -> Vec<Action> {
        let a = &self.actions;
        Action::ALL
            .into_iter()
            .filter(|x| match x {
                Action::View => a.view,
                Action::Like => a.like,
                Action::Amplify => a.amplify,
                Action::Repost => a.repost,
                Action::Quote => a.quote.is_some(),
                Action::Comment => a.comment.is_some(),
                Action::Follow => a.follow_author,
            })
            .collect()
    }

    fn cap(&self, a: Action) -> Cap {
        self.caps.get(&a).copied().unwrap_or_else(|| a.default_cap())
    }

    /// Whether any wanted action is still within its caps.
    fn any_left(&self, ctx: &Ctx) -> Result<bool, BehaviorError> {
        for a in self.wanted() {
            if self.cap(a).left(ctx, a.name())? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// New posts from every source, newest first within each, at most `max_candidates`.
    /// The posts selected, and which of them are bytes.
    async fn candidates(&self, ctx: &Ctx) -> Result<(Vec<Post>, HashSet<String>), BehaviorError> {
        let store = ctx.store();
        let regex = self.select.regex.as_deref().map(regex::Regex::new).transpose()?;
        let mut seen: HashSet<String> = HashSet::new();
        let mut out: Vec<Post> = vec![];
        let mut consider = |p: Post, out: &mut Vec<Post>| -> Result<(), BehaviorError> {
            let p = match p.repost_of {
                Some(original) if p.content.is_empty() => *original,
                _ => p,
            };
            if out.len() < self.max_candidates
                && seen.insert(p.id.clone())
                && store.get::<i64>(&ctx.behavior, &format!("engaged:{}", p.id))?.is_none()
                && store.get::<Plan>(&ctx.behavior, &format!("plan:{}", p.id))?.is_none()
                && self.select.admits(ctx, &p, regex.as_ref())
            {
                out.push(p);
            }
            Ok(())
        };
        let s = ctx.session();
        let src = &self.sources;
        let mut lists: Vec<(String, crate::api::List<Post>, Option<HashSet<String>>)> = vec![];
        if src.following {
            lists.push(("following".into(), s.feed(), None));
        }
        if src.timeline {
            lists.push(("timeline".into(), s.timeline(), None));
        }
        let mut tags: Vec<String> = src.hashtags.iter().map(|t| t.trim_start_matches('#').to_string()).collect();
        if let Some(n) = src.trending_hashtags {
            for h in s.trending_hashtags(n).await?.into_iter().take(n as usize) {
                let t = h.tag.trim_start_matches('#').to_string();
                if !tags.iter().any(|k| k.eq_ignore_ascii_case(&t)) {
                    tags.push(t);
                }
            }
        }
        for t in &tags {
            lists.push((format!("#{t}"), s.hashtag_posts(t), None));
        }
        if !src.agents.is_empty() {
            let who = src.agents.iter().map(|h| h.trim_start_matches('@').to_lowercase()).collect();
            lists.push(("agents".into(), s.timeline(), Some(who)));
        }
        if src.trending {
            for p in s.explore("posts", PAGE).await?.trending_posts {
                consider(p, &mut out)?;
            }
        }
        let mut bytes = HashSet::new();
        if src.bytes {
            // A byte is considered as a post: its caption is the text the selection reads.
            let page = s.bytes().limit(PAGE).page().await?;
            for b in page.items {
                let p = Post { id: b.id, content: b.caption, agent: b.agent, created_at: b.created_at, ..Post::default() };
                if !self.select.too_old(ctx, &p) {
                    bytes.insert(p.id.clone());
                    consider(p, &mut out)?;
                }
            }
        }
        for q in &src.search {
            let mut cursor: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let r = s.search(q, "posts", Some(PAGE), cursor.as_deref()).await?;
                // Search results may come by relevance, not time: an old one says nothing of the next.
                self.walk(ctx, r.posts, &mut out, &mut consider)?;
                cursor = r.next_cursor;
                if !r.has_more || cursor.is_none() || out.len() >= self.max_candidates || ctx.is_cancelled() {
                    break;
                }
            }
        }
        for (name, list, authors) in lists {
            let mut list = list.limit(PAGE);
            for _ in 0..MAX_PAGES {
                let page = list.page().await?;
                let items = page
                    .items
                    .into_iter()
                    .filter(|p| authors.as_ref().is_none_or(|a| p.agent.as_ref().is_some_and(|x| a.contains(&x.handle.to_lowercase()))));
                let old = self.walk(ctx, items.collect(), &mut out, &mut consider)?;
                match page.next_cursor {
                    Some(c) if page.has_more && !old && out.len() < self.max_candidates && !ctx.is_cancelled() => list = list.cursor(c),
                    _ => break,
                }
            }
            tracing::debug!(source = %name, candidates = out.len(), "source read");
        }
        bytes.retain(|id| out.iter().any(|p| &p.id == id));
        Ok((out, bytes))
    }

    /// Considers a page; true when it reached posts older than `max_age` (the rest of the source is older still).
    fn walk(
        &self,
        ctx: &Ctx,
        page: Vec<Post>,
        out: &mut Vec<Post>,
        consider: &mut impl FnMut(Post, &mut Vec<Post>) -> Result<(), BehaviorError>,
    ) -> Result<bool, BehaviorError> {
        let mut old = false;
        for p in page {
            old |= self.select.too_old(ctx, &p);
            consider(p, out)?;
        }
        Ok(old)
    }

    /// Runs the plan's actions that are not done yet; false when the run must stop (its maximum, or a stop).
    async fn carry_out(&self, ctx: &Ctx, plan: &Plan, run: &mut Run) -> Result<bool, BehaviorError> {
        for a in self.wanted() {
            if ctx.is_cancelled() {
                return Ok(false);
            }
            let key = match a {
                Action::Follow => format!("follow:{}", plan.author.to_lowercase()),
                _ => format!("{}:{}", a.name(), plan.post),
            };
            if ctx.progress(&key)?.is_settled() {
                continue;
            }
            if plan.on_byte && !matches!(a, Action::Like | Action::Comment | Action::Follow) {
                continue;
            }
            if run.actions >= self.max_actions_per_run {
                return Ok(false);
            }
            if !self.cap(a).take(ctx, a.name())? {
                tracing::debug!(action = a.name(), post = %plan.post, "cap reached; not this time");
                ctx.agent.metrics.action(&[ctx.behavior.as_str(), a.name()], "capped");
                continue;
            }
            run.actions += 1;
            self.act(ctx, a, &key, plan).await?;
        }
        Ok(true)
    }

    async fn act(&self, ctx: &Ctx, a: Action, key: &str, plan: &Plan) -> Result<(), BehaviorError> {
        let s = ctx.session().clone();
        let id = plan.post.clone();
        let mut detail = json!({"postId": plan.post, "author": plan.author});
        if plan.on_byte {
            detail["onByte"] = json!(true);
        }
        let vars = json!({
            "handle": ctx.agent.handle, "author": plan.author, "author_name": plan.author_name,
            "post_text": plan.text, "hashtags": plan.hashtags,
        });
        match a {
            Action::View => {
                ctx.once(key, "view", detail, || async move { s.view(&id).await.map(|_| None) }, |_| async { Ok(Found::Missing) }).await?;
            }
            // The reference shows no byte's likes: a byte's like is sent again after a crash (liking twice changes nothing).
            Action::Like if plan.on_byte => {
                ctx.once(key, "like", detail, || async move { s.like_byte(&id).await.map(|_| None) }, |_| async { Ok(Found::Missing) })
                    .await?;
            }
            Action::Like => {
                let s2 = s.clone();
                ctx.once(
                    key,
                    "like",
                    detail,
                    || async move { s.like(&id).await.map(|_| None) },
                    |_| async move { Ok(Found::when(s2.post(&plan.post).await?.is_liked)) },
                )
                .await?;
            }
            // The platform has no "did I amplify this" read; amplifying again changes nothing there.
            Action::Amplify => {
                ctx.once(key, "amplify", detail, || async move { s.amplify(&id).await.map(|_| None) }, |_| async { Ok(Found::Missing) })
                    .await?;
            }
            Action::Repost => {
                let s2 = s.clone();
                ctx.once(
                    key,
                    "repost",
                    detail,
                    || async move { s.repost(&id).await.map(|r| r.map(|p| p.id)) },
                    |_| async move { Ok(Found::when(s2.post(&plan.post).await?.is_reposted)) },
                )
                .await?;
            }
            Action::Quote => {
                let Some(c) = &self.actions.quote else { return Ok(()) };
                let Some(text) = ctx.compose(key, c, &vars, "quote_list", TextFor::post(3)).await? else { return Ok(()) };
                let t = text.clone();
                let detail = json!({"postId": plan.post, "author": plan.author, "content": text});
                ctx.once(key, "quote", detail, || async move { s.quote(&id, &t).await.map(|p| Some(p.id)) }, |d| ctx.find_own_post(d))
                    .await?;
            }
            Action::Comment => {
                let Some(c) = &self.actions.comment else { return Ok(()) };
                let Some(text) = ctx.compose(key, c, &vars, "comment_list", TextFor::reply(3)).await? else { return Ok(()) };
                let t = text.clone();
                let mut detail = json!({"postId": plan.post, "author": plan.author, "content": text});
                let c = NewComment { content: t, parent_id: None };
                if plan.on_byte {
                    detail["onByte"] = json!(true);
                    let found = |d| crate::behaviors::engine::actions::found(ctx, "comment", d);
                    ctx.once(key, "comment", detail, || async move { s.comment_byte(&id, &c).await.map(|c| Some(c.id)) }, found).await?;
                } else {
                    ctx.once(
                        key,
                        "comment",
                        detail,
                        || async move { s.comment(&id, &c).await.map(|c| Some(c.id)) },
                        |d| own_comment(ctx, d),
                    )
                    .await?;
                }
            }
            Action::Follow => {
                ctx.follow_once(key, &plan.author).await?;
            }
        }
        Ok(())
    }

    async fn run_once(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let mut run = Run { actions: 0 };
        // Plans a previous run did not finish go first.
        for (k, plan) in store.scan::<Plan>(&ctx.behavior, "plan:")? {
            if !self.carry_out(ctx, &plan, &mut run).await? {
                return Ok(());
            }
            store.put(&ctx.behavior, &format!("engaged:{}", plan.post), &plan.at_ms)?;
            store.remove(&ctx.behavior, &k)?;
        }
        if !self.any_left(ctx)? {
            tracing::info!("every action is at its cap; waiting for the next run");
            return Ok(());
        }
        let now = ctx.now().timestamp_millis();
        let cooldown = self.author_cooldown.as_millis() as i64;
        let (candidates, bytes) = self.candidates(ctx).await?;
        for p in candidates {
            if ctx.is_cancelled() || run.actions >= self.max_actions_per_run || !self.any_left(ctx)? {
                break;
            }
            let Some(author) = &p.agent else { continue };
            if store.is_blocked(&author.handle, now)? {
                continue;
            }
            let author_key = format!("author:{}", author.handle.to_lowercase());
            if store.get::<i64>(&ctx.behavior, &author_key)?.is_some_and(|t| now - t < cooldown) {
                continue;
            }
            let plan = Plan {
                post: p.id.clone(),
                author: author.handle.clone(),
                author_name: author.name.clone(),
                text: p.content.clone(),
                hashtags: p.hashtags.clone(),
                at_ms: selection::age(ctx, &p).map_or(now, |a| now - a.as_millis() as i64),
                on_byte: bytes.contains(&p.id),
            };
            if let Some(sc) = &self.select.score {
                match sc.rate(ctx, &plan.post, &plan.author, &plan.text).await? {
                    Some(n) if n >= sc.threshold => {}
                    Some(_) => {
                        // Rated below the threshold: never considered again.
                        store.put(&ctx.behavior, &format!("engaged:{}", plan.post), &plan.at_ms)?;
                        continue;
                    }
                    None => continue,
                }
            }
            store.put(&ctx.behavior, &format!("plan:{}", plan.post), &plan)?;
            store.put(&ctx.behavior, &author_key, &now)?;
            if !self.carry_out(ctx, &plan, &mut run).await? {
                break;
            }
            store.put(&ctx.behavior, &format!("engaged:{}", plan.post), &plan.at_ms)?;
            store.remove(&ctx.behavior, &format!("plan:{}", plan.post))?;
        }
        self.forget_old(ctx)
    }

    /// Forgets what is kept about posts older than `max_age` (never candidates again) and old counters.
    fn forget_old(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let horizon = ctx.now().timestamp_millis() - 2 * self.select.max_age.as_millis() as i64;
        for (k, at) in store.scan::<i64>(&ctx.behavior, "engaged:")? {
            if at < horizon {
                let post = k.trim_start_matches("engaged:");
                for a in Action::ALL.into_iter().filter(|a| *a != Action::Follow) {
                    store.forget_action(&ctx.behavior, &format!("{}:{post}", a.name()))?;
                }
                store.remove(&ctx.behavior, &format!("score:{post}"))?;
                store.remove(&ctx.behavior, &k)?;
            }
        }
        let cooldown = self.author_cooldown.as_millis() as i64;
        for (k, at) in store.scan::<i64>(&ctx.behavior, "author:")? {
            if ctx.now().timestamp_millis() - at >= cooldown {
                store.remove(&ctx.behavior, &k)?;
            }
        }
        Cap::forget_old(ctx)
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        loop {
            if !ctx.round(|| self.run_once(ctx)).await? {
                return Ok(());
            }
            let next = ctx.now() + chrono::Duration::from_std(self.every).unwrap_or(chrono::Duration::MAX);
            if !ctx.sleep_until(next).await {
                return Ok(());
            }
        }
    }
}

/// After a crash: is our comment with `detail`'s `content` on `detail`'s post already there?
async fn own_comment(ctx: &Ctx, detail: Value) -> Result<Found, crate::api::ApiError> {
    let post = detail.get("postId").and_then(Value::as_str).unwrap_or_default();
    let want = detail.get("content").and_then(Value::as_str).unwrap_or_default();
    let mut cursor: Option<String> = None;
    loop {
        let mut l = ctx.session().comments(post).limit(100);
        if let Some(c) = &cursor {
            l = l.cursor(c.clone());
        }
        let page = l.page().await?;
        if let Some(c) = page.items.iter().find(|c| c.content == want && c.agent.as_ref().is_some_and(|a| a.id == ctx.agent.id)) {
            return Ok(Found::Done(Some(c.id.clone())));
        }
        match page.next_cursor {
            Some(c) if page.has_more => cursor = Some(c),
            _ => return Ok(Found::Missing),
        }
    }
}

impl Kind for Spec {
    fn default_priority(&self) -> Priority {
        Priority::Low
    }

    fn contents(&self) -> Vec<&Content> {
        self.actions.quote.iter().chain(self.actions.comment.iter()).collect()
    }

    fn models(&self) -> Vec<&str> {
        let mut m: Vec<&str> = self.contents().into_iter().filter_map(|c| c.llm.as_ref().map(|l| l.profile.as_str())).collect();
        m.extend(self.select.score.iter().map(|s| s.profile.as_str()));
        m
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
