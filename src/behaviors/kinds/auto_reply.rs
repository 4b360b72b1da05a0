//! `auto_reply`: answers mentions, comments and replies with one comment,
//! threaded under the triggering comment, within guardrails that keep two
//! bots from answering each other forever.
//!
//! The author cooldown and the hourly and daily caps count the behavior's
//! reply records themselves (read once a run, then kept in memory as intents
//! are recorded): a reply is counted exactly when its intent is, crash or
//! not. Replies per thread must outlive the records (pruned after
//! [`ACTION_RETENTION`]): each reply record names its thread's value as its
//! tally, so a thread's count is that value (the replies whose records were
//! pruned, added as they are) plus the records kept, with no write of its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::behaviors::engine::caps::{Cap, Window};
use crate::behaviors::engine::content::TextFor;
use crate::behaviors::engine::content::{Content, ListPosition};
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found, OnEvent, Outcome, Progress, Recorded};
use crate::store::{Puts, ACTION_RETENTION};
use crate::wire::types::{Comment, NewComment, Notification, NotificationType};

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
    /// No second reply to the same author within this time (at most 7 days).
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
        pub decide: Option<crate::behaviors::engine::decide::Decide>,
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
        crate::behaviors::check_content(c, "content", &self.content);
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
        if self.guardrails.author_cooldown > ACTION_RETENTION.to_std().unwrap_or_default() {
            let days = ACTION_RETENTION.num_days();
            c.problem("author_cooldown", format!("at most {days}d: replies are remembered for {days} days"));
        }
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        ctx.for_each_event(self).await
    }

    async fn handle(&self, ctx: &Ctx, n: &Notification) -> Result<(), BehaviorError> {
        let key = ["reply:", n.id.as_str()].concat();
        let pending = match ctx.progress(&key)? {
            Progress::Settled(_) => return Ok(()),
            Progress::Intended(r) => Some(r.detail),
            Progress::New => None,
        };
        let (detail, outcome) = match pending {
            // An intent from before a crash: settle it, whatever the guardrails say now.
            Some(d) => (d.clone(), ctx.once(&key, "reply", d.clone(), sender(ctx, &d), |d| already(ctx, d)).await?),
            None => {
                // What the platform has to say is read before this event's turn, so reads overlap.
                let Some(facts) = self.gather(ctx, n).await? else { return Ok(()) };
                let turn = ctx.turn().await?;
                let recent = self.recent(ctx)?;
                let Some(Decision { detail, puts, author, at }) = self.decide(ctx, n, facts, &recent).await? else { return Ok(()) };
                let recorded = ctx.record(&key, "reply", detail.clone(), &puts)?;
                if recorded == Recorded::Intent {
                    let mut r = crate::sync::lock(&recent);
                    if let Some(t) = puts.tally_of() {
                        *r.kept.entry(t.to_string()).or_default() += 1;
                    }
                    r.note(author, at, self.cooldown_ms());
                }
                drop(turn);
                match recorded {
                    Recorded::Held(_) => return Ok(()),
                    Recorded::Intent => {
                        let outcome = ctx.perform(&key, "reply", &detail, puts.tally_of(), sender(ctx, &detail)).await?;
                        (detail, outcome)
                    }
                }
            }
        };
        if matches!(outcome, Outcome::Sent(_)) {
            if let Some(a) = &n.actor {
                let profile = self.content.llm.as_ref().map(|l| l.profile.as_str());
                ctx.remember_exchange(&a.handle, n.content.as_deref(), &str_of(&detail, "content"), profile).await?;
            }
        }
        Ok(())
    }

    /// Whether a reply needs the post's text (else the post is not read: a
    /// reply to a deleted post is refused by the platform all the same).
    fn needs_post(&self) -> bool {
        let f = &self.filters;
        self.decide.is_some()
            || !f.keywords.is_empty()
            || f.regex.is_some()
            || self.content.uses_any(&["post_text", "text", "thread", "comment_text"])
    }

    /// The checks that need no state of ours, and what the platform has to
    /// say (the post, the thread); None when we do not reply.
    async fn gather(&self, ctx: &Ctx, n: &Notification) -> Result<Option<Facts>, BehaviorError> {
        let Some(kind) = n.notification_type.clone().filter(|k| self.on.contains(k)) else {
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
        // A comment on one of our bytes names no post: the byte is found among ours.
        let (post_id, on_byte) = match (&n.post_id, &n.comment_id) {
            (Some(p), _) => (p.clone(), false),
            (None, Some(c)) if matches!(kind, NotificationType::Comment | NotificationType::Reply) => {
                match byte_of_comment(ctx, c).await? {
                    Some(b) => (b, true),
                    None => {
                        skip(ctx, "no_post", n);
                        return Ok(None);
                    }
                }
            }
            _ => {
                skip(ctx, "no_post", n);
                return Ok(None);
            }
        };
        let who = |a: &Option<crate::wire::types::AgentSummary>| a.as_ref().map(|a| a.handle.clone()).unwrap_or_default();
        let (post_author, post_text) = if self.needs_post() {
            let read = if on_byte {
                ctx.session().byte(&post_id).await.map(|b| (who(&b.agent), b.caption))
            } else {
                ctx.session().post(&post_id).await.map(|p| (who(&p.agent), p.content))
            };
            match read {
                Ok(p) => p,
                Err(e) if e.is_not_found() => {
                    skip(ctx, "post_gone", n);
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            Default::default()
        };
        // The comment that triggered us, its depth in the thread, and the thread so far (root first).
        let (trigger_text, depth, thread_text) = match &n.comment_id {
            Some(cid) => {
                let list = if on_byte { ctx.session().byte_comments(&post_id) } else { ctx.session().comments(&post_id) };
                let comments: Vec<Comment> = match list.limit(100).stream().try_collect().await {
                    Ok(c) => c,
                    Err(e) if e.is_not_found() => {
                        skip(ctx, "post_gone", n);
                        return Ok(None);
                    }
                    Err(e) => return Err(e.into()),
                };
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
                chain.push(format!("@{post_author}: {post_text}"));
                chain.reverse();
                (c.content.clone(), chain.len() as u32 - 1, chain.join("\n"))
            }
            None => (post_text.clone(), 0, format!("@{post_author}: {post_text}")),
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
        if let Some(r) = &f.regex {
            // Validated at load; compiled per event (the spec stays plain data).
            if !regex::Regex::new(r)?.is_match(&trigger_text) {
                skip(ctx, "regex_filter", n);
                return Ok(None);
            }
        }
        Ok(Some(Facts { kind, actor, handle, post_id, on_byte, post_text, trigger_text, thread_text }))
    }

    fn cooldown_ms(&self) -> i64 {
        self.guardrails.author_cooldown.as_millis() as i64
    }

    /// What the reply records say about the recent past (read at the first
    /// event of a run, and again after a pruning folded records into their
    /// tallies, so a thread's pruned replies are never counted twice).
    fn recent(&self, ctx: &Ctx) -> Result<std::sync::Arc<Mutex<Recent>>, BehaviorError> {
        let m = ctx.memo(|| Recent::load(ctx, self.cooldown_ms()).map(Mutex::new))?;
        {
            let mut r = crate::sync::lock(&m);
            if r.rounds != ctx.store().tally_rounds() {
                *r = Recent::load(ctx, self.cooldown_ms())?;
            }
        }
        Ok(m)
    }

    /// The guardrails that depend on what we did before (`recent`, and the
    /// store), and the text (in this event's turn): the reply's detail and the
    /// value that counts it, written with its intent; None when we do not reply.
    async fn decide(&self, ctx: &Ctx, n: &Notification, f: Facts, recent: &Mutex<Recent>) -> Result<Option<Decision>, BehaviorError> {
        let Facts { kind, actor, handle, post_id, on_byte, post_text, trigger_text, thread_text } = f;
        let store = ctx.store();
        let g = &self.guardrails;
        let pruned_key = [THREAD_PRUNED, post_id.as_str()].concat();
        let pruned = count_of(ctx, &pruned_key)?;
        let now = ctx.now().timestamp_millis();
        let (kept, last, admitted, stopped) = {
            let r = crate::sync::lock(recent);
            let kept = r.kept.get(&pruned_key).copied().unwrap_or(0);
            (
                kept,
                r.authors.get(&handle).copied(),
                Cap::new(g.max_per_hour, g.max_per_day).admits(&r.sent, now),
                r.stopped.contains(&post_id),
            )
        };
        if pruned + kept as u64 >= g.max_replies_per_thread as u64 {
            skip(ctx, "thread_limit", n);
            return Ok(None);
        }
        if last.is_some_and(|last| now - last < self.cooldown_ms()) {
            skip(ctx, "author_cooldown", n);
            return Ok(None);
        }
        if !admitted {
            skip(ctx, "rate_guardrail", n);
            return Ok(None);
        }
        if stopped {
            skip(ctx, "thread_stopped", n);
            return Ok(None);
        }
        if let Some(d) = &self.decide {
            match d.ask(ctx, &actor.handle, &trigger_text, &thread_text).await {
                crate::behaviors::engine::decide::Verdict::Respond(_) => {}
                crate::behaviors::engine::decide::Verdict::Ignore(_) => {
                    skip(ctx, "decided_ignore", n);
                    return Ok(None);
                }
                crate::behaviors::engine::decide::Verdict::Stop(reason) => {
                    store.put(&ctx.behavior, &format!("{STOPPED}{post_id}"), &reason)?;
                    crate::sync::lock(recent).stopped.insert(post_id);
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
            "post_text": post_text,
            "comment_text": if n.comment_id.is_some() { trigger_text.clone() } else { String::new() },
            "text": trigger_text,
            "thread": thread_text,
        });
        let mut puts = Puts::default();
        let text = if self.content.list.is_some() {
            let mut pos: ListPosition = store.get(&ctx.behavior, "list")?.unwrap_or_default();
            let text = ctx.write(&self.content, &vars, &mut pos, now as u64, TextFor::reply(self.max_mentions)).await;
            puts.put("list", &pos)?;
            text
        } else {
            ctx.write(&self.content, &vars, &mut ListPosition::default(), now as u64, TextFor::reply(self.max_mentions)).await
        };
        let text = match text {
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
        // Counted from the intent on: a reply later refused still counts (caps are only ever held tighter).
        puts.tally(pruned_key);
        let mut detail = json!({"postId": post_id, "parentId": n.comment_id, "content": text, "author": actor.handle});
        if on_byte {
            detail["onByte"] = json!(true);
        }
        Ok(Some(Decision { detail, puts, author: handle, at: now }))
    }
}

/// A reply decided: what its intent records, the value written with it and
/// its tally, and who and when for the counts kept in memory.
struct Decision {
    detail: Value,
    puts: Puts,
    /// The author's handle, lower case.
    author: String,
    at: i64,
}

/// The key prefix of a thread the model ended (`decide`), per post.
const STOPPED: &str = "stopped:";

/// The key prefix of a thread's replies whose records were pruned (their tally), per post.
const THREAD_PRUNED: &str = "thread_pruned:";

/// The key prefix of earlier versions' replies per thread (every reply, kept or pruned).
const THREAD_BEFORE: &str = "thread:";

/// A count kept as a value of the behavior; one that does not decode counts
/// as full (its thread closed: held tighter, never looser).
fn count_of(ctx: &Ctx, k: &str) -> Result<u64, BehaviorError> {
    match ctx.store().get(&ctx.behavior, k) {
        Ok(n) => Ok(n.unwrap_or(0)),
        Err(crate::store::StoreError::Corrupt { .. }) => Ok(u32::MAX.into()),
        Err(e) => Err(e.into()),
    }
}

/// What the behavior's reply records add up to: when each author was last
/// answered (within the cooldown), and the replies of the last day. A record
/// counts from its intent on, whatever became of it (refused or not); a dry
/// run's or a draft's record has no detail and does not count (a reply sent
/// once its draft is approved, by the draft task, counts from the behavior's
/// next start). Also the records kept per tally (a thread's count adds its
/// pruned replies, the tally's value, read per reply) and the threads
/// the model ended (each a value in the store, written by this behavior only).
#[derive(Debug, Default)]
struct Recent {
    authors: HashMap<String, i64>,
    sent: Window,
    /// Reply records kept, per tally they name (one per thread).
    kept: HashMap<String, u32>,
    /// [`crate::store::AgentStore::tally_rounds`] when the records were read.
    rounds: u64,
    stopped: std::collections::HashSet<String>,
    /// The size of `authors` at which it is next cleared of expired entries.
    sweep_at: usize,
}

impl Recent {
    fn load(ctx: &Ctx, cooldown_ms: i64) -> Result<Recent, BehaviorError> {
        let store = ctx.store();
        let mut recent = Recent { rounds: store.tally_rounds(), ..Recent::default() };
        let mut replies: Vec<(i64, String)> = vec![];
        for (_, r) in store.actions_of(&ctx.behavior, "reply:")? {
            if let Some(t) = &r.tally {
                *recent.kept.entry(t.clone()).or_default() += 1;
            }
            if let Some(a) = r.detail.get("author").and_then(Value::as_str) {
                replies.push((r.at_ms, a.to_lowercase()));
            }
        }
        replies.sort_unstable();
        for (at, author) in replies {
            recent.note(author, at, cooldown_ms);
        }
        // An earlier version's count per thread took in every reply, and its
        // records have no tally: the whole count becomes the pruned part
        // (added before the old value goes: a crash between counts it twice).
        for k in store.keys(&ctx.behavior, THREAD_BEFORE)? {
            let pruned_key = [THREAD_PRUNED, &k[THREAD_BEFORE.len()..]].concat();
            store.put(&ctx.behavior, &pruned_key, &(count_of(ctx, &pruned_key)? + count_of(ctx, &k)?))?;
            store.remove(&ctx.behavior, &k)?;
        }
        recent.stopped = store.keys(&ctx.behavior, STOPPED)?.into_iter().map(|k| k[STOPPED.len()..].to_string()).collect();
        // What earlier versions kept beside the records (the records say the same).
        for k in ["sent_counts", "sent_per_minute", "sent"] {
            store.remove(&ctx.behavior, k)?;
        }
        for k in store.keys(&ctx.behavior, "author:")? {
            store.remove(&ctx.behavior, &k)?;
        }
        Ok(recent)
    }

    /// Counts a reply to `author` (lower case) at `at`, in time order.
    fn note(&mut self, author: String, at: i64, cooldown_ms: i64) {
        self.sent.add(at);
        if cooldown_ms <= 0 {
            return;
        }
        self.authors.insert(author, at);
        if self.authors.len() >= self.sweep_at {
            self.authors.retain(|_, last| at - *last < cooldown_ms);
            self.sweep_at = (2 * self.authors.len()).max(64);
        }
    }
}

/// What a reply is based on: the event's checks passed, the platform read.
struct Facts {
    kind: NotificationType,
    actor: crate::wire::types::AgentSummary,
    /// The actor's handle, lower case.
    handle: String,
    /// The post, or the byte when `on_byte`.
    post_id: String,
    on_byte: bool,
    /// Empty when the reply does not need it (not read).
    post_text: String,
    trigger_text: String,
    thread_text: String,
}

/// Sends the reply a recorded intent describes.
fn sender(ctx: &Ctx, d: &Value) -> impl FnOnce() -> futures::future::BoxFuture<'static, Result<Option<String>, crate::api::ApiError>> {
    let session = ctx.session().clone();
    let post_id = str_of(d, "postId");
    let body = NewComment { content: str_of(d, "content"), parent_id: d.get("parentId").and_then(Value::as_str).map(str::to_string) };
    let on_byte = d.get("onByte").and_then(Value::as_bool).unwrap_or(false);
    move || {
        Box::pin(async move {
            if on_byte {
                session.comment_byte(&post_id, &body).await.map(|c| Some(c.id))
            } else {
                session.comment(&post_id, &body).await.map(|c| Some(c.id))
            }
        })
    }
}

/// The byte of ours that comment `cid` is on: our bytes (from the records of
/// the behaviors that made them, then the newest bytes listed), newest
/// first, each with its comments read. None when it is on none of the
/// [`BYTES_LOOKED_AT`] newest.
async fn byte_of_comment(ctx: &Ctx, cid: &str) -> Result<Option<String>, BehaviorError> {
    let mut ours: Vec<(i64, String)> = ctx
        .store()
        .actions()?
        .into_iter()
        .filter(|(_, _, r)| r.action == "byte" && r.state == crate::store::ActionState::Done)
        .filter_map(|(_, _, r)| r.result.map(|id| (r.at_ms, id)))
        .collect();
    ours.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut ids: Vec<String> = ours.into_iter().map(|x| x.1).collect();
    let listed = ctx.session().bytes().limit(100).page().await?.items;
    ids.extend(listed.into_iter().filter(|b| b.agent.as_ref().is_some_and(|a| a.id == ctx.agent.id)).map(|b| b.id));
    let mut seen = std::collections::HashSet::new();
    for id in ids.into_iter().filter(|id| seen.insert(id.clone())).take(BYTES_LOOKED_AT) {
        let found = crate::behaviors::engine::actions::first(ctx.session().byte_comments(&id).limit(100).stream(), |c| c.id == cid).await;
        match found {
            Ok(Some(_)) => return Ok(Some(id)),
            Ok(None) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// Our newest bytes a comment is looked for on.
const BYTES_LOOKED_AT: usize = 20;

/// Our reply on the platform, when an intent was left unsettled by a crash.
async fn already(ctx: &Ctx, d: Value) -> Result<Found, crate::api::ApiError> {
    let post = str_of(&d, "postId");
    let list = if d.get("onByte").and_then(Value::as_bool).unwrap_or(false) {
        ctx.session().byte_comments(&post)
    } else {
        ctx.session().comments(&post)
    };
    let comments: Vec<Comment> = list.limit(100).stream().try_collect().await?;
    let parent = d.get("parentId").and_then(Value::as_str).map(str::to_string);
    let me = &ctx.agent.id;
    Ok(Found::created(
        comments
            .into_iter()
            .find(|c| c.agent.as_ref().is_some_and(|a| &a.id == me) && c.parent_id == parent && c.content == str_of(&d, "content"))
            .map(|c| c.id),
    ))
}

impl OnEvent for Spec {
    fn on_event<'a>(&'a self, ctx: &'a Ctx, n: &'a Notification) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.handle(ctx, n))
    }

    /// Replies are decided in turn and sent in parallel.
    fn in_flight(&self) -> usize {
        crate::behaviors::engine::inbox::IN_FLIGHT
    }
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl Kind for Spec {
    fn default_priority(&self) -> crate::api::Priority {
        crate::api::Priority::Urgent
    }

    fn notification_types(&self) -> Vec<NotificationType> {
        self.on.clone()
    }

    fn contents(&self) -> Vec<&Content> {
        vec![&self.content]
    }

    fn models(&self) -> Vec<&str> {
        crate::behaviors::engine::decide::profiles(&self.content, self.decide.as_ref())
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}

#[cfg(test)]
mod tests {
    /// Replies are remembered for 7 days (their records): a longer cooldown is refused where it is written.
    #[test]
    fn a_cooldown_longer_than_the_records_is_refused_where_it_is_written() {
        let text = |d: &str| format!("kind: auto_reply\nname: x\ncontent:\n  text: hi\nguardrails:\n  author_cooldown: {d}\n");
        let mut problems = vec![];
        assert_eq!(crate::behaviors::parse_file(std::path::Path::new("b.yaml"), &text("7d"), &mut problems).len(), 1);
        assert!(problems.is_empty(), "{problems:?}");
        let loaded = crate::behaviors::parse_file(std::path::Path::new("b.yaml"), &text("8d"), &mut problems);
        assert!(loaded.is_empty());
        let p = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n");
        assert!(p.contains("b.yaml:6:") && p.contains("at most 7d"), "{p}");
    }
}
