//! `auto_reply`: answers mentions, comments and replies with one comment,
//! threaded under the triggering comment, within guardrails that keep two
//! bots from answering each other forever.

use std::collections::HashMap;
use std::time::Duration;

use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::content::TextFor;
use super::content::{Content, ListPosition};
use super::kind::{register, spec, Kind, Registration};
use super::Check;
use crate::api::types::{Comment, NewComment, Notification, NotificationType};
use crate::behaviors::context::{BehaviorError, Ctx, Found, OnEvent};
use crate::store::ActionState;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Filters {
    /// Reply only when the text contains one of these (case-insensitive).
    pub keywords: Vec<String>,
    /// Reply only when the text matches.
    pub regex: Option<String>,
    /// When not empty: reply only to these handles.
    pub allow_handles: Vec<String>,
    pub deny_handles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Guardrails {
    /// No second reply to the same author within this time.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub author_cooldown: Duration,
    pub max_per_hour: u32,
    pub max_per_day: u32,
    /// Do not reply deeper than this in a comment thread (1 = top-level comments only).
    pub max_thread_depth: u32,
    /// At most this many of our replies under one post.
    pub max_replies_per_thread: u32,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            author_cooldown: Duration::from_secs(600),
            max_per_hour: 20,
            max_per_day: 100,
            max_thread_depth: 3,
            max_replies_per_thread: 3,
        }
    }
}

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        #[serde(default = "default_on")]
        pub on: Vec<NotificationType>,
        #[serde(default)]
        pub filters: Filters,
        pub content: Content,
        #[serde(default)]
        pub guardrails: Guardrails,
        #[serde(default = "one")]
        pub max_mentions: usize,
        /// Ask the model first whether to respond, ignore, or stop the thread.
        #[serde(default)]
        pub decide: Option<super::decide::Decide>,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("auto_reply");

fn default_on() -> Vec<NotificationType> {
    vec![NotificationType::Mention, NotificationType::Comment, NotificationType::Reply]
}

fn one() -> usize {
    1
}

/// Why an event got no reply.
fn skip(ctx: &Ctx, reason: &'static str, n: &Notification) {
    tracing::info!(notification = %n.id, reason, "not replying");
    ctx.agent.metrics.action(&[ctx.behavior.as_str(), "reply"], reason);
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        super::check_content(c, "content", &self.content);
        for k in &self.on {
            if !matches!(k, NotificationType::Mention | NotificationType::Comment | NotificationType::Reply | NotificationType::Quote) {
                c.problem("on", format!("auto_reply reacts to MENTION, COMMENT, REPLY or QUOTE, not {k}"));
            }
        }
        if self.on.is_empty() {
            c.problem("on", "expected at least one of MENTION, COMMENT, REPLY, QUOTE");
        }
        if let Some(r) = &self.filters.regex {
            c.regex("regex", r);
        }
        if self.guardrails.max_thread_depth == 0 {
            c.problem("max_thread_depth", "must be at least 1");
        }
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        ctx.for_each_event(self).await
    }

    async fn handle(&self, ctx: &Ctx, n: &Notification) -> Result<(), BehaviorError> {
        // Validated at load; compiled per event (events are rare, and the spec stays plain data).
        let regex = self.filters.regex.as_deref().map(regex::Regex::new).transpose()?;
        let regex = regex.as_ref();
        let key = format!("reply:{}", n.id);
        let store = ctx.store();
        let pending = match store.action(&ctx.behavior, &key)? {
            Some(r) if r.state != ActionState::Intent => return Ok(()),
            Some(r) => Some(r.detail),
            None => None,
        };
        let (post_id, parent_id, content) = match pending {
            // An intent from before a crash: settle it, whatever the guardrails say now.
            Some(d) => (str_of(&d, "postId"), d.get("parentId").and_then(Value::as_str).map(str::to_string), str_of(&d, "content")),
            None => match self.decide(ctx, n, regex).await? {
                Some(x) => x,
                None => return Ok(()),
            },
        };
        let session = ctx.session().clone();
        let body = NewComment { content: content.clone(), parent_id: parent_id.clone() };
        let pid = post_id.clone();
        let me = ctx.agent.id.clone();
        let outcome = ctx
            .once(
                &key,
                "reply",
                json!({"postId": post_id, "parentId": parent_id, "content": content, "author": n.actor.as_ref().map(|a| a.handle.as_str())}),
                || async move { session.comment(&pid, &body).await.map(|c| Some(c.id)) },
                |d| async move {
                    let comments: Vec<Comment> = ctx.session().comments(&str_of(&d, "postId")).limit(100).stream().try_collect().await?;
                    let parent = d.get("parentId").and_then(Value::as_str).map(str::to_string);
                    Ok(Found::created(
                        comments
                            .into_iter()
                            .find(|c| {
                                c.agent.as_ref().is_some_and(|a| a.id == me) && c.parent_id == parent && c.content == str_of(&d, "content")
                            })
                            .map(|c| c.id),
                    ))
                },
            )
            .await?;
        if matches!(outcome, crate::behaviors::context::Outcome::Sent(_)) {
            self.count(ctx, &post_id, n)?;
            if let Some(a) = &n.actor {
                let profile = self.content.llm.as_ref().map(|l| l.profile.as_str());
                ctx.remember_exchange(&a.handle, n.content.as_deref(), &content, profile).await?;
            }
        }
        Ok(())
    }

    /// Filters and guardrails; Some((post, parent, text)) when we reply.
    async fn decide(
        &self,
        ctx: &Ctx,
        n: &Notification,
        regex: Option<&regex::Regex>,
    ) -> Result<Option<(String, Option<String>, String)>, BehaviorError> {
        let Some(kind) = n.kind.clone().filter(|k| self.on.contains(k)) else {
            return Ok(None);
        };
        let Some(actor) = n.actor.clone() else {
            skip(ctx, "no_actor", n);
            return Ok(None);
        };
        if actor.id == ctx.agent.id || actor.handle.eq_ignore_ascii_case(&ctx.agent.handle) {
            skip(ctx, "self", n);
            return Ok(None);
        }
        let handle = actor.handle.to_lowercase();
        let f = &self.filters;
        if f.deny_handles.iter().any(|h| h.trim_start_matches('@').eq_ignore_ascii_case(&handle))
            || (!f.allow_handles.is_empty() && !f.allow_handles.iter().any(|h| h.trim_start_matches('@').eq_ignore_ascii_case(&handle)))
        {
            skip(ctx, "handle_filter", n);
            return Ok(None);
        }
        let Some(post_id) = n.post_id.clone() else {
            skip(ctx, "no_post", n);
            return Ok(None);
        };
        let post = match ctx.session().post(&post_id).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => {
                skip(ctx, "post_gone", n);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        // The comment that triggered us, and its depth in the thread.
        let who = |a: &Option<crate::api::types::AgentSummary>| a.as_ref().map(|a| a.handle.clone()).unwrap_or_default();
        // The comment that triggered us, its depth in the thread, and the thread so far (root first).
        let (trigger_text, depth, thread_text) = match &n.comment_id {
            Some(cid) => {
                let comments: Vec<Comment> = ctx.session().comments(&post_id).limit(100).stream().try_collect().await?;
                let by_id: HashMap<&str, &Comment> = comments.iter().map(|c| (c.id.as_str(), c)).collect();
                let Some(c) = by_id.get(cid.as_str()) else {
                    skip(ctx, "comment_gone", n);
                    return Ok(None);
                };
                let mut chain = vec![format!("@{}: {}", who(&c.agent), c.content)];
                let mut cur = c.parent_id.as_deref();
                while let Some(p) = cur.and_then(|p| by_id.get(p)) {
                    chain.push(format!("@{}: {}", who(&p.agent), p.content));
                    cur = p.parent_id.as_deref();
                    if chain.len() > 1000 {
                        break;
                    }
                }
                chain.push(format!("@{}: {}", who(&post.agent), post.content));
                chain.reverse();
                (c.content.clone(), chain.len() as u32 - 1, chain.join("\n"))
            }
            None => (post.content.clone(), 0, format!("@{}: {}", who(&post.agent), post.content)),
        };
        if depth + 1 > self.guardrails.max_thread_depth {
            skip(ctx, "thread_depth", n);
            return Ok(None);
        }
        let lower = trigger_text.to_lowercase();
        if !f.keywords.is_empty() && !f.keywords.iter().any(|k| lower.contains(&k.to_lowercase())) {
            skip(ctx, "keyword_filter", n);
            return Ok(None);
        }
        if regex.is_some_and(|r| !r.is_match(&trigger_text)) {
            skip(ctx, "regex_filter", n);
            return Ok(None);
        }
        let store = ctx.store();
        let g = &self.guardrails;
        let thread: u32 = store.get(&ctx.behavior, &format!("thread:{post_id}"))?.unwrap_or(0);
        if thread >= g.max_replies_per_thread {
            skip(ctx, "thread_limit", n);
            return Ok(None);
        }
        let now = ctx.now().timestamp_millis();
        if let Some(last) = store.get::<i64>(&ctx.behavior, &format!("author:{handle}"))? {
            if now - last < g.author_cooldown.as_millis() as i64 {
                skip(ctx, "author_cooldown", n);
                return Ok(None);
            }
        }
        let sent = Sent::load(ctx)?;
        let (hour, day) = (sent.within(now, 3_600_000), sent.within(now, 86_400_000));
        if hour >= g.max_per_hour || day >= g.max_per_day {
            skip(ctx, "rate_guardrail", n);
            return Ok(None);
        }
        if store.get::<String>(&ctx.behavior, &format!("stopped:{post_id}"))?.is_some() {
            skip(ctx, "thread_stopped", n);
            return Ok(None);
        }
        if let Some(d) = &self.decide {
            match d.ask(ctx, &actor.handle, &trigger_text, &thread_text).await {
                super::decide::Verdict::Respond(_) => {}
                super::decide::Verdict::Ignore(_) => {
                    skip(ctx, "decided_ignore", n);
                    return Ok(None);
                }
                super::decide::Verdict::Stop(reason) => {
                    store.put(&ctx.behavior, &format!("stopped:{post_id}"), &reason)?;
                    skip(ctx, "decided_stop", n);
                    return Ok(None);
                }
            }
        }
        let vars = json!({
            "handle": ctx.agent.handle,
            "author": actor.handle,
            "author_name": actor.name,
            "kind": kind.to_string(),
            "post_text": post.content,
            "comment_text": if n.comment_id.is_some() { trigger_text.clone() } else { String::new() },
            "text": trigger_text,
            "thread": thread_text,
        });
        let mut pos: ListPosition = store.get(&ctx.behavior, "list")?.unwrap_or_default();
        let text = match ctx.write(&self.content, &vars, &mut pos, now as u64, TextFor::reply(self.max_mentions)).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                skip(ctx, "no_text", n);
                return Ok(None);
            }
            Err(e) => {
                tracing::error!(notification = %n.id, error = %e, "reply text could not be produced");
                skip(ctx, "template_error", n);
                return Ok(None);
            }
        };
        store.put(&ctx.behavior, "list", &pos)?;
        Ok(Some((post_id, n.comment_id.clone(), text)))
    }

    fn count(&self, ctx: &Ctx, post_id: &str, n: &Notification) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let now = ctx.now().timestamp_millis();
        let tk = format!("thread:{post_id}");
        store.put(&ctx.behavior, &tk, &(store.get::<u32>(&ctx.behavior, &tk)?.unwrap_or(0) + 1))?;
        if let Some(a) = &n.actor {
            store.put(&ctx.behavior, &format!("author:{}", a.handle.to_lowercase()), &now)?;
        }
        let mut sent = Sent::load(ctx)?;
        sent.add(now);
        store.put(&ctx.behavior, SENT_KEY, &sent.0)?;
        store.remove(&ctx.behavior, "sent")?;
        Ok(())
    }
}

const SENT_KEY: &str = "sent_per_minute";
const MINUTE_MS: i64 = 60_000;

/// Replies sent in the last day, counted per minute: at most 1,440 entries
/// whatever the volume, so checking the caps costs the same at any rate. A
/// minute's replies count until the end of that minute has left the window
/// (a cap is never loosened by the rounding, only held a few seconds longer).
struct Sent(Vec<(i64, u32)>);

impl Sent {
    fn load(ctx: &Ctx) -> Result<Sent, BehaviorError> {
        let store = ctx.store();
        if let Some(v) = store.get(&ctx.behavior, SENT_KEY)? {
            return Ok(Sent(v));
        }
        // State of an earlier version: one timestamp per reply.
        let mut s = Sent(vec![]);
        for t in store.get::<Vec<i64>>(&ctx.behavior, "sent")?.unwrap_or_default() {
            s.add(t);
        }
        Ok(s)
    }

    /// Replies within `window_ms` before `now`.
    fn within(&self, now: i64, window_ms: i64) -> u32 {
        self.0.iter().filter(|(m, _)| now - (m * MINUTE_MS + MINUTE_MS - 1) < window_ms).map(|(_, n)| n).sum()
    }

    fn add(&mut self, now: i64) {
        let minute = now.div_euclid(MINUTE_MS);
        self.0.retain(|(m, _)| now - (m * MINUTE_MS + MINUTE_MS - 1) < 86_400_000);
        match self.0.last_mut() {
            Some((m, n)) if *m == minute => *n += 1,
            _ => self.0.push((minute, 1)),
        }
    }
}

impl OnEvent for Spec {
    fn on_event<'a>(&'a self, ctx: &'a Ctx, n: &'a Notification) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.handle(ctx, n))
    }
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl Kind for Spec {
    fn default_priority(&self) -> crate::api::Priority {
        crate::api::Priority::Urgent
    }

    fn interests(&self) -> Vec<NotificationType> {
        self.on.clone()
    }

    fn contents(&self) -> Vec<&Content> {
        vec![&self.content]
    }

    fn models(&self) -> Vec<&str> {
        super::decide::profiles(&self.content, self.decide.as_ref())
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
