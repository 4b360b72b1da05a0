//! Writing: a behavior's text from its source (fixed, template, list, or a
//! model writing as the agent's character, with what it remembers of the
//! other agent), checked and finalized; the memory of exchanges; and the
//! two writes most kinds share, a follow and a DM, each once.
//!
//! Guarantees: values from other agents reach a model delimited as data; a
//! model text is checked in its final form (guardrails, secrets) and one too
//! close to a recent one is asked for again once, then dropped; a text kept
//! with an unfinished intent is the one sent after a crash.

use serde_json::Value;

use super::content::{delimit_from_others, render, Content, ContentError, ListPosition, TextFor, DEFAULT_SYSTEM};
use super::ctx::Ctx;
use super::effects::{Outcome, Progress};
use super::error::BehaviorError;
use super::memory::MEMORY;
use super::recovery::Found;
use crate::character::Purpose;

const SUMMARY_SYSTEM: &str =
    "Summarize in at most two sentences what an AI agent knows about the other agent in this conversation and what they talked about.";

/// How many of its recent model texts a new one is compared with.
pub const REMEMBERED_TEXTS: usize = 50;
/// From this Sørensen-Dice similarity on, a text counts as a repeat.
pub const SIMILAR: f64 = 0.9;

/// The request a prompt template makes, rendered with the raw variables (for retrieval only).
fn user_query(prompt: &str, vars: &Value) -> String {
    render(prompt, vars).unwrap_or_else(|_| prompt.to_string())
}

impl Ctx {
    /// Produces a behavior's final text from its source: fixed, template, list,
    /// or the language model (falling back to the configured template, or to
    /// nothing, when the model fails, is out of budget or answers unusably).
    /// The text is finalized here (trimmed, at most `max_chars`, at most
    /// `max_mentions` @mentions) and model text is checked in that final form.
    /// The model writes as the agent's character when it has one (unless the
    /// behavior gives its own `system:`), and a model text too close to one
    /// the agent wrote lately is asked for again once, then dropped.
    pub async fn write(
        &self,
        content: &Content,
        vars: &Value,
        pos: &mut ListPosition,
        seed: u64,
        shape: TextFor,
    ) -> Result<Option<String>, ContentError> {
        let finalize = |t: String| super::content::finalize(&t, shape.max_chars, shape.max_mentions);
        let Some(l) = &content.llm else {
            return content.produce(vars, pos, seed).map(finalize);
        };
        let Some(llm) = &self.agent.llm else { return Err(ContentError::NoLlmProfiles) };
        let mut v = vars.clone();
        if let Some(obj) = v.as_object_mut() {
            delimit_from_others(obj);
            obj.insert("persona".into(), self.agent.persona.clone());
            if l.prompt.contains("recent_posts") {
                obj.insert("recent_posts".into(), Value::from(self.recent_posts()));
            }
        }
        let mut system = match (&l.system, &self.agent.character) {
            (None, Some(c)) => c.render(shape.purpose, &self.agent.handle, seed),
            (s, _) => render(s.as_deref().unwrap_or(DEFAULT_SYSTEM), &v)?,
        };
        // What the agent's notes say about it (the message answered, else the request).
        if let Some(c) = &self.agent.character {
            let query =
                vars.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()).map_or(user_query(&l.prompt, vars), str::to_string);
            let reference = c.reference(&query);
            if !reference.is_empty() {
                system = format!("{system}\n\n{reference}");
            }
        }
        // In a conversation: what the agent remembers of the other one.
        if let (Purpose::Reply | Purpose::Dm, Some(author)) = (shape.purpose, vars.get("author").and_then(Value::as_str)) {
            if let Some(a) = super::memory::recall(self.store(), author)? {
                system = format!("{system}\n\n{}", a.prompt(author, &self.agent.handle));
            }
        }
        let mut user = render(&l.prompt, &v)?;
        let mut why = String::new();
        for attempt in 0..2 {
            let answer = llm.complete(&self.agent.handle, &self.behavior, &l.profile, &system, &user, &l.banned_words).await;
            why = match answer.map(finalize) {
                Ok(Some(text)) => match llm.final_check(&text, &l.banned_words, l.links, &l.allow_domains) {
                    Some(why) => why,
                    None if !shape.repeat_check => return Ok(Some(text)),
                    None => match self.echo_of(&text)? {
                        None => {
                            self.remember_text(&text)?;
                            return Ok(Some(text));
                        }
                        Some(earlier) => {
                            tracing::info!(attempt, earlier = %earlier, "the model repeated an earlier text; asking once more");
                            user = format!("{user}\n\nDo not repeat yourself: say something new, unlike what you wrote before:\n{earlier}");
                            "too close to a text written before".to_string()
                        }
                    },
                },
                Ok(None) => "empty once finalized".to_string(),
                Err(e) => e.to_string(),
            };
            if why != "too close to a text written before" || attempt == 1 {
                break;
            }
        }
        if why == "too close to a text written before" {
            tracing::warn!("the model repeated itself twice; nothing is sent this time");
            self.agent.metrics.action(&[self.behavior.as_str(), "llm"], "repeated");
            return Ok(None);
        }
        tracing::warn!(reason = %why, "LLM text unusable; using the fallback");
        self.agent.metrics.action(&[self.behavior.as_str(), "llm"], "fallback");
        match &l.fallback {
            Some(f) => render(f, vars).map(finalize),
            None => Ok(None),
        }
    }

    /// An earlier model text of this agent that `text` is too close to (Sørensen-Dice on
    /// normalized text, at least [`SIMILAR`]), among the last [`REMEMBERED_TEXTS`].
    fn echo_of(&self, text: &str) -> Result<Option<String>, ContentError> {
        let recent: Vec<String> = self.store().get(MEMORY, "texts")?.unwrap_or_default();
        let t = crate::llm::guard::normalize(text);
        Ok(recent.into_iter().find(|r| strsim::sorensen_dice(&crate::llm::guard::normalize(r), &t) >= SIMILAR))
    }

    fn remember_text(&self, text: &str) -> Result<(), ContentError> {
        let mut recent: std::collections::VecDeque<String> = self.store().get(MEMORY, "texts")?.unwrap_or_default();
        recent.push_front(text.to_string());
        recent.truncate(REMEMBERED_TEXTS);
        Ok(self.store().put(MEMORY, "texts", &recent)?)
    }

    /// Remembers an exchange with `handle` (their words, if any, then ours) and,
    /// every few exchanges, has the model of `profile` summarize what is known of them.
    /// Only a model reads what is remembered: without `llm:` profiles nothing is kept.
    pub async fn remember_exchange(
        &self,
        handle: &str,
        theirs: Option<&str>,
        ours: &str,
        profile: Option<&str>,
    ) -> Result<(), BehaviorError> {
        if self.agent.llm.is_none() {
            return Ok(());
        }
        let due = super::memory::remember(self.store(), handle, &self.agent.handle, theirs, ours, self.now().timestamp_millis())?;
        let (Some(llm), Some(profile), true) = (&self.agent.llm, profile, due) else { return Ok(()) };
        let Some(a) = super::memory::recall(self.store(), handle)? else { return Ok(()) };
        let user = format!("The conversation so far:\n{}", crate::llm::untrusted(&a.transcript()));
        match llm.complete(&self.agent.handle, &self.behavior, profile, SUMMARY_SYSTEM, &user, &[]).await {
            Ok(summary) => super::memory::summarized(self.store(), handle, &summary)?,
            Err(e) => tracing::warn!(error = %e, other = handle, "no summary this time; the exchanges are kept"),
        }
        Ok(())
    }

    /// Follows `handle` once under `key`; no write when already following
    /// (another behavior, or a person, may have followed first).
    pub async fn follow_once(&self, key: &str, handle: &str) -> Result<Outcome, BehaviorError> {
        let s = self.session().clone();
        let h = handle.to_string();
        self.once(
            key,
            "follow",
            serde_json::json!({"handle": handle}),
            || async move {
                if !s.is_following(&h).await? {
                    s.follow(&h).await?;
                }
                Ok(None)
            },
            |d| async move {
                let h = d.get("handle").and_then(Value::as_str).unwrap_or_default().to_string();
                Ok(Found::when(self.session().is_following(&h).await?))
            },
        )
        .await
    }

    /// The text of the side effect under `key`: the one kept with its
    /// unfinished intent (so that the look on the platform after a crash
    /// searches for what was sent), else a new one from `content`, its list
    /// position kept under `list_key`. None when the effect is already done, or
    /// when there is nothing to say (the model failed and there is no fallback).
    pub async fn compose(
        &self,
        key: &str,
        content: &Content,
        vars: &Value,
        list_key: &str,
        shape: TextFor,
    ) -> Result<Option<String>, BehaviorError> {
        let store = self.store();
        match self.progress(key)? {
            Progress::Settled(_) => Ok(None),
            p @ Progress::Intended(_) => Ok(p.kept_text()),
            Progress::New => {
                let mut pos: ListPosition = store.get(&self.behavior, list_key)?.unwrap_or_default();
                let seed = self.now().timestamp_millis() as u64;
                let text = self.write(content, vars, &mut pos, seed, shape).await?;
                store.put(&self.behavior, list_key, &pos)?;
                Ok(text)
            }
        }
    }

    /// Sends `who` a DM written from `content` once under `key` (welcome, introduction):
    /// the text is kept with the intent, and after a crash the conversations are
    /// searched for it before it is sent again.
    pub async fn send_dm_once(&self, key: &str, content: &Content, who: &crate::wire::types::AgentSummary) -> Result<(), BehaviorError> {
        let vars = serde_json::json!({"handle": self.agent.handle, "author": who.handle, "author_name": who.name});
        let Some(text) = self.compose(key, content, &vars, "dm_list", TextFor::dm()).await? else {
            return Ok(());
        };
        let session = self.session().clone();
        let (h, t) = (who.handle.clone(), text.clone());
        self.once(
            key,
            "dm",
            serde_json::json!({"handle": who.handle, "content": text}),
            || async move { session.start_conversation(&h, &t).await.map(|c| Some(c.id)) },
            |d| self.find_own_dm(d),
        )
        .await?;
        self.remember_exchange(&who.handle, None, &text, content.llm.as_ref().map(|l| l.profile.as_str())).await
    }
}
