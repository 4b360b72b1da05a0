//! `dm_reply`: answers direct messages. The platform's notifications carry no
//! messages, so this behavior reads the conversations itself: every `every`
//! it asks for the unread count (one read) and, when there is something
//! unread or a full look is due (`rescan_every`, in case someone read a
//! message elsewhere), walks the conversations and their new messages.
//!
//! Guarantees: each incoming message is answered at most once, across
//! restarts and SIGKILL: one reply covers the messages that arrived together
//! (keyed by the newest one, through the intent path, looked for in the
//! conversation after a crash), and a conversation's position moves past a
//! message only once it is answered or deliberately left (filters, hand-off,
//! loop bound). Never answers its own messages. Bot-to-bot loops are bounded:
//! after `max_consecutive` replies that each came back faster than
//! `human_pause`, it stops answering that conversation until the other side
//! pauses. A hand-off keyword stops answers in that conversation until
//! `imagine-agent conversations resume ID`; `imagine-agent state` lists them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::Priority;
use crate::behaviors::engine::audience::AgentFilters;
use crate::behaviors::engine::caps::Cap;
use crate::behaviors::engine::content::{Content, ListPosition, TextFor};
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found, Outcome};
use crate::wire::types::{AgentSummary, Conversation, Message};

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        pub content: Content,
        /// Who is answered (deny list, agent types, verified, followers).
        #[serde(default)]
        pub filters: AgentFilters,
        /// When not empty: only these handles are answered.
        #[serde(default)]
        pub allow_handles: Vec<String>,
        /// When not empty: only messages containing one of these (case-insensitive).
        #[serde(default)]
        pub keywords: Vec<String>,
        /// A message containing one of these hands the conversation to a person: no more answers in it.
        #[serde(default)]
        pub handoff_keywords: Vec<String>,
        /// No second answer in one conversation within this time (later messages wait for it).
        #[serde(with = "humantime_serde", default = "default_cooldown")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub cooldown: Duration,
        #[serde(default = "default_per_day")]
        pub max_per_day: u32,
        /// Answers in a row, each answered back faster than `human_pause`, before it stops (bounds bot loops).
        #[serde(default = "default_consecutive")]
        pub max_consecutive: u32,
        #[serde(with = "humantime_serde", default = "default_pause")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub human_pause: Duration,
        /// Ask the model first whether to answer (see `auto_reply`).
        #[serde(default)]
        pub decide: Option<crate::behaviors::engine::decide::Decide>,
        /// How often to ask for the unread count.
        #[serde(with = "humantime_serde", default = "default_every")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub every: Duration,
        /// How often to look at every conversation even with nothing unread.
        #[serde(with = "humantime_serde", default = "default_rescan")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub rescan_every: Duration,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("dm_reply");

fn default_cooldown() -> Duration {
    Duration::ZERO
}
fn default_per_day() -> u32 {
    100
}
fn default_consecutive() -> u32 {
    5
}
fn default_pause() -> Duration {
    Duration::from_secs(60)
}
fn default_every() -> Duration {
    Duration::from_secs(10)
}
fn default_rescan() -> Duration {
    Duration::from_secs(600)
}

/// Where a conversation stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    /// The newest message handled (answered or deliberately left).
    last: Option<String>,
    /// When we last answered, and how many answers in a row came back faster than `human_pause`.
    answered_ms: i64,
    streak: u32,
}

/// A conversation handed to a person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handoff {
    pub handle: String,
    pub at: String,
    pub text: String,
}

fn ms_of(m: &Message) -> i64 {
    m.created_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map_or(0, |t| t.timestamp_millis())
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        crate::behaviors::check_content(c, "content", &self.content);
        if self.every < Duration::from_secs(1) {
            c.problem("every", "every must be at least 1s");
        }
        if self.max_consecutive == 0 {
            c.problem("max_consecutive", "max_consecutive must be at least 1");
        }
    }

    /// Conversations that may hold something new: unread ones, or (on a full look) any whose last message is not ours and not handled.
    async fn conversations(&self, ctx: &Ctx, full: bool) -> Result<Vec<Conversation>, BehaviorError> {
        let mut out = vec![];
        let mut list = ctx.session().conversations().limit(50);
        let unread_total = if full { u64::MAX } else { ctx.session().unread_message_count().await? };
        if unread_total == 0 {
            return Ok(out);
        }
        let mut unread_found = 0;
        loop {
            let page = list.page().await?;
            for c in page.items {
                let pos: Position = ctx.store().get(&ctx.behavior, &format!("conv:{}", c.id))?.unwrap_or_default();
                let newest_is_new = c.last_message.as_ref().is_some_and(|m| Some(&m.id) != pos.last.as_ref() && !self.mine(ctx, m));
                unread_found += c.unread_count;
                if c.unread_count > 0 || newest_is_new {
                    out.push(c);
                }
            }
            match page.next_cursor {
                // With only unread ones wanted, stop once all of them were found.
                Some(cur) if page.has_more && (full || unread_found < unread_total) => list = list.cursor(cur),
                _ => return Ok(out),
            }
        }
    }

    fn mine(&self, ctx: &Ctx, m: &Message) -> bool {
        m.sender.as_ref().is_some_and(|s| s.id == ctx.agent.id || s.handle.eq_ignore_ascii_case(&ctx.agent.handle))
    }

    /// The messages after the conversation's position, oldest first (pages walked back to it), and the newest few for context.
    async fn new_messages(&self, ctx: &Ctx, conv: &str, pos: &Position) -> Result<(Vec<Message>, Vec<Message>), BehaviorError> {
        let mut list = ctx.session().messages(conv).limit(50);
        let mut newer: Vec<Message> = vec![];
        'walk: loop {
            let page = list.page().await?;
            for m in page.items {
                if Some(&m.id) == pos.last.as_ref() {
                    break 'walk;
                }
                newer.push(m);
            }
            match page.next_cursor {
                Some(c) if page.has_more => list = list.cursor(c),
                _ => break,
            }
        }
        let context: Vec<Message> = newer.iter().take(10).rev().cloned().collect();
        newer.reverse();
        Ok((newer, context))
    }

    async fn handle(&self, ctx: &Ctx, c: &Conversation) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let pos_key = format!("conv:{}", c.id);
        let mut pos: Position = store.get(&ctx.behavior, &pos_key)?.unwrap_or_default();
        let (newer, context) = self.new_messages(ctx, &c.id, &pos).await?;
        // Messages already answered (a crash before the position moved): everything up to the newest of them is done.
        // (A store error stops here rather than being read as "not answered".)
        let mut answered = None;
        for (i, m) in newer.iter().enumerate() {
            if ctx.progress(&format!("dm:{}", m.id))?.is_settled() {
                answered = Some(i);
            }
        }
        let pending: Vec<&Message> = newer.iter().skip(answered.map_or(0, |i| i + 1)).collect();
        let incoming: Vec<&Message> = pending.iter().copied().filter(|m| !self.mine(ctx, m)).collect();
        let Some(last) = incoming.last() else {
            // Nothing from the other side since: the position moves to the newest message.
            if let Some(newest) = newer.last() {
                pos.last = Some(newest.id.clone());
                store.put(&ctx.behavior, &pos_key, &pos)?;
            }
            return Ok(());
        };
        let other: AgentSummary = last.sender.clone().unwrap_or_default();
        let leave = |why: &str, pos: &mut Position| -> Result<(), BehaviorError> {
            tracing::info!(conversation = %c.id, from = %other.handle, reason = why, "not answering");
            ctx.agent.metrics.action(&[ctx.behavior.as_str(), "dm"], why);
            pos.last = Some(last.id.clone());
            store.put(&ctx.behavior, &pos_key, pos)?;
            Ok(())
        };
        let handoff_key = format!("handoff:{}", c.id);
        if store.get::<Handoff>(&ctx.behavior, &handoff_key)?.is_some() {
            return leave("handed_off", &mut pos);
        }
        let texts: String = incoming.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n");
        let lower = texts.to_lowercase();
        if let Some(k) = self.handoff_keywords.iter().find(|k| lower.contains(&k.to_lowercase())) {
            tracing::warn!(conversation = %c.id, from = %other.handle, keyword = %k, "handed to the operator; resume with `imagine-agent conversations resume {}`", c.id);
            let h = Handoff { handle: other.handle.clone(), at: ctx.now().to_rfc3339(), text: texts.chars().take(300).collect() };
            store.put(&ctx.behavior, &handoff_key, &h)?;
            return leave("handed_off", &mut pos);
        }
        let allowed = self.allow_handles.is_empty()
            || self.allow_handles.iter().any(|h| h.trim_start_matches('@').eq_ignore_ascii_case(&other.handle));
        if !allowed || !self.filters.admit(ctx, &other).await? {
            return leave("filtered", &mut pos);
        }
        if !self.keywords.is_empty() && !self.keywords.iter().any(|k| lower.contains(&k.to_lowercase())) {
            return leave("keyword_filter", &mut pos);
        }
        // A reply that came back faster than a person would: one more in the streak.
        let fast = pos.answered_ms > 0 && ms_of(last) - pos.answered_ms < self.human_pause.as_millis() as i64;
        if !fast {
            pos.streak = 0;
        }
        if pos.streak >= self.max_consecutive {
            return leave("loop_bound", &mut pos);
        }
        let now = ctx.now().timestamp_millis();
        if pos.answered_ms > 0 && now - pos.answered_ms < self.cooldown.as_millis() as i64 {
            return Ok(()); // answered later, once the cooldown has passed
        }
        let key = format!("dm:{}", last.id);
        let cap = Cap { per_hour: None, per_day: Some(self.max_per_day) };
        let progress = ctx.progress(&key)?;
        if progress.is_new() {
            if !cap.left(ctx, "dm_reply")? {
                return Ok(()); // the day's cap: answered tomorrow
            }
            let thread: String = context
                .iter()
                .map(|m| format!("@{}: {}", m.sender.as_ref().map_or("?", |s| s.handle.as_str()), m.content))
                .collect::<Vec<_>>()
                .join("\n");
            if let Some(d) = &self.decide {
                match d.ask(ctx, &other.handle, &texts, &thread).await {
                    crate::behaviors::engine::decide::Verdict::Respond(_) => {}
                    crate::behaviors::engine::decide::Verdict::Ignore(_) => return leave("decided_ignore", &mut pos),
                    crate::behaviors::engine::decide::Verdict::Stop(reason) => {
                        let h = Handoff { handle: other.handle.clone(), at: ctx.now().to_rfc3339(), text: format!("stopped: {reason}") };
                        store.put(&ctx.behavior, &handoff_key, &h)?;
                        return leave("decided_stop", &mut pos);
                    }
                }
            }
            cap.take(ctx, "dm_reply")?;
            let vars =
                json!({"handle": ctx.agent.handle, "author": other.handle, "author_name": other.name, "text": texts, "thread": thread});
            let mut lp: ListPosition = store.get(&ctx.behavior, "list")?.unwrap_or_default();
            let written = match ctx.write(&self.content, &vars, &mut lp, now as u64, TextFor::dm()).await {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(conversation = %c.id, error = %e, "the answer could not be written");
                    None
                }
            };
            store.put(&ctx.behavior, "list", &lp)?;
            let Some(text) = written else { return leave("no_text", &mut pos) };
            self.send(ctx, &key, &c.id, last, &other, &text).await?;
            ctx.remember_exchange(&other.handle, Some(&texts), &text, self.content.llm.as_ref().map(|l| l.profile.as_str())).await?;
        } else {
            // An intent from before a crash: settle it.
            let text = progress.kept_text().unwrap_or_default();
            self.send(ctx, &key, &c.id, last, &other, &text).await?;
        }
        pos.last = Some(last.id.clone());
        pos.answered_ms = ctx.now().timestamp_millis();
        pos.streak += 1;
        store.put(&ctx.behavior, &pos_key, &pos)?;
        if let Err(e) = ctx.session().mark_conversation_read(&c.id).await {
            tracing::debug!(conversation = %c.id, error = %e, "could not mark the conversation read");
        }
        Ok(())
    }

    async fn send(
        &self,
        ctx: &Ctx,
        key: &str,
        conv: &str,
        last: &Message,
        other: &AgentSummary,
        text: &str,
    ) -> Result<Outcome, BehaviorError> {
        let s = ctx.session().clone();
        let (cid, t) = (conv.to_string(), text.to_string());
        let after = last.id.clone();
        ctx.once(
            key,
            "dm",
            json!({"handle": other.handle, "conversation": conv, "after": last.id, "content": text}),
            || async move { s.send_message(&cid, &t).await.map(|m| Some(m.id)) },
            |d| async move {
                // After a crash: is our message with this text in the conversation, after the one answered?
                let want = d.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
                let conv = d.get("conversation").and_then(Value::as_str).unwrap_or_default().to_string();
                let page = ctx.session().messages(&conv).limit(50).page().await?;
                let found =
                    page.items.iter().take_while(|m| m.id != after).find(|m| self.mine(ctx, m) && m.content == want).map(|m| m.id.clone());
                Ok(Found::created(found))
            },
        )
        .await
    }

    async fn run_once(&self, ctx: &Ctx, full: bool) -> Result<(), BehaviorError> {
        for c in self.conversations(ctx, full).await? {
            if ctx.is_cancelled() {
                return Ok(());
            }
            self.handle(ctx, &c).await?;
        }
        Ok(())
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let mut next_full = ctx.now();
        loop {
            let full = ctx.now() >= next_full;
            if full {
                next_full = ctx.now() + chrono::Duration::from_std(self.rescan_every).unwrap_or(chrono::Duration::MAX);
            }
            if !ctx.round(|| self.run_once(ctx, full)).await? || !ctx.sleep(self.every).await {
                return Ok(());
            }
        }
    }
}

impl Kind for Spec {
    fn default_priority(&self) -> Priority {
        Priority::Urgent
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
