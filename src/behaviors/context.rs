//! What a running behavior gets: its agent (session, store, who we are),
//! its name, a cancellation token, a wake-up for new events, and the one
//! exactly-once helper every side effect goes through.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, Priority, Session};
use crate::behaviors::content::{render, Content, ContentError, ListPosition, TextFor, DEFAULT_SYSTEM};
use crate::character::Purpose;
use crate::metrics::Metrics;
use crate::store::{ActionRecord, ActionState, AgentStore, Puts, StoreError};

pub use super::events::{decode_event, OnEvent};

const SUMMARY_SYSTEM: &str =
    "Summarize in at most two sentences what an AI agent knows about the other agent in this conversation and what they talked about.";

fn plain_ctx(c: &Ctx) -> Ctx {
    Ctx { approval: None, ..c.clone() }
}

/// The request a prompt template makes, rendered with the raw variables (for retrieval only).
fn user_query(prompt: &str, vars: &Value) -> String {
    render(prompt, vars).unwrap_or_else(|_| prompt.to_string())
}

/// Wraps each value that comes from another agent ([`FROM_OTHERS`]) in the
/// untrusted-data delimiters, before a prompt template reads it.
pub(crate) fn delimit_from_others(vars: &mut serde_json::Map<String, Value>) {
    for k in crate::behaviors::content::FROM_OTHERS {
        if let Some(t) = vars.get(*k).and_then(Value::as_str).map(crate::llm::untrusted) {
            vars.insert(k.to_string(), Value::String(t));
        }
    }
}

/// The store namespace of what the agent remembers across behaviors (its recent model texts).
pub(crate) const MEMORY: &str = "_memory";
/// How many of its recent model texts a new one is compared with.
pub const REMEMBERED_TEXTS: usize = 50;
/// From this Sørensen-Dice similarity on, a text counts as a repeat.
pub const SIMILAR: f64 = 0.9;

/// Why a behavior stopped (the supervisor logs it and restarts the behavior).
#[derive(Debug, thiserror::Error)]
pub enum BehaviorError {
    #[error(transparent)]
    Api(ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Schedule(#[from] crate::behaviors::schedule::ScheduleError),
    #[error(transparent)]
    Content(#[from] crate::behaviors::content::ContentError),
    #[error("invalid regex: {0}")]
    Regex(#[from] regex::Error),
    #[error(transparent)]
    Chart(#[from] crate::behaviors::chart::ChartError),
    /// The behavior was stopped before this event's turn came, or while its
    /// side effect waited for the write budget: the event stays in the inbox
    /// (and the intent, if recorded, is sent at the next start).
    #[error("stopped before this event's turn")]
    Stopped,
}

/// The pauses before work that failed for a transient reason is tried again
/// (an event's, or a periodic behavior's round): 250 ms doubling up to 15 s.
pub(crate) fn transient_delays() -> crate::backoff::Doubling {
    crate::backoff::doubling(Duration::from_millis(250), Duration::from_secs(15))
}

impl BehaviorError {
    /// The platform or the network is at fault, or a write may have gone
    /// through: the same work is worth doing again after a pause (intents
    /// recorded are checked on the platform first).
    pub fn is_transient(&self) -> bool {
        matches!(self, BehaviorError::Api(a) if a.is_transient() || a.maybe_applied())
    }
}

impl From<ApiError> for BehaviorError {
    fn from(e: ApiError) -> BehaviorError {
        match e {
            ApiError::Stopped { .. } => BehaviorError::Stopped,
            e => BehaviorError::Api(e),
        }
    }
}

/// One signed-in agent as its behaviors see it: its session, store, clock, metrics.
pub struct Agent {
    /// The handle, also the agent's key in the store and in logs.
    pub handle: String,
    pub id: String,
    pub session: Session,
    pub store: AgentStore,
    pub dry_run: bool,
    pub poll_interval: Duration,
    pub metrics: Arc<Metrics>,
    /// Language-model profiles, when configured.
    pub llm: Option<Arc<crate::llm::Llm>>,
    /// The agent's name and bio, for prompts.
    pub persona: Value,
    /// Serializes hand-overs from the poller and the webhook receiver.
    pub handover: tokio::sync::Mutex<()>,
    /// The wall clock schedules follow.
    pub clock: crate::clock::Clock,
    /// Who the agent is to its model, when configured.
    pub character: Option<Arc<crate::character::Character>>,
    /// Where new drafts are announced (`draft_notices`), when configured.
    pub notices: Option<Arc<super::notices::Notifier>>,
    /// Every secret the daemon holds (the guardrails keep them out of published text).
    pub secrets: Arc<crate::llm::guard::Secrets>,
}

/// A running behavior's handle on the world.
#[derive(Clone)]
pub struct Ctx {
    pub agent: Arc<Agent>,
    /// The agent's session, at this behavior's priority.
    session: Session,
    pub behavior: String,
    pub cancel: CancellationToken,
    pub wake: Arc<Notify>,
    /// `approval: required`: speaking actions become drafts instead of being sent.
    pub approval: Option<super::drafts::Approval>,
    /// The notification being handled, while [`Ctx::for_each_event`] runs a handler:
    /// side effects keyed by it record it, which lets them be pruned once settled
    /// and old (a side effect keyed otherwise, e.g. one welcome DM per agent, is kept).
    pub event: Option<String>,
    /// This event's place among the events of a batch in flight at once (see [`super::events`]).
    pub(crate) turn: Option<super::events::Place>,
    /// What the behavior keeps in memory while it runs (see [`Ctx::memo`]).
    memo: Arc<std::sync::Mutex<Option<Memo>>>,
}

type Memo = Arc<dyn std::any::Any + Send + Sync>;

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

/// What [`Ctx::record`] did with a decided side effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Its intent is written: [`Ctx::perform`] sends it once it is durable.
    Intent,
    /// Nothing to send now: kept as a draft, or logged in a dry run.
    Held(Outcome),
}

/// What `once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent now; the platform's id of what was created, if any.
    Sent(Option<String>),
    /// Found already done (recorded, or found on the platform after a crash).
    AlreadyDone,
    /// Dry run: logged, not sent.
    DryRun,
    /// The platform refused it for good (e.g. the post was deleted); recorded, not retried.
    Refused(String),
    /// Kept as a draft for a person to approve (`approval: required`): the draft's id.
    Drafted(String),
}

impl Ctx {
    /// A behavior's context; its requests wait their turn at `priority`.
    pub fn new(agent: Arc<Agent>, behavior: &str, priority: Priority, cancel: CancellationToken, wake: Arc<Notify>) -> Ctx {
        let session = agent.session.with_priority(priority).stopping_with(cancel.clone());
        Ctx {
            agent,
            session,
            behavior: behavior.to_string(),
            cancel,
            wake,
            event: None,
            approval: None,
            turn: None,
            memo: Default::default(),
        }
    }

    /// What the behavior keeps in memory while it runs (say, what its records
    /// in the store add up to, read once): made by `init` at first use, then
    /// shared by every event and restart of the behavior; made anew when the
    /// behavior is started again (a reload). The caller keeps it equal to
    /// what the store holds.
    pub fn memo<T: std::any::Any + Send + Sync>(&self, init: impl FnOnce() -> Result<T, BehaviorError>) -> Result<Arc<T>, BehaviorError> {
        let mut slot = crate::sync::lock(&self.memo);
        if let Some(m) = slot.as_ref().and_then(|m| m.clone().downcast::<T>().ok()) {
            return Ok(m);
        }
        let m = Arc::new(init()?);
        *slot = Some(m.clone());
        Ok(m)
    }

    /// The context of one event of a batch (see [`super::events`]).
    pub(crate) fn for_event(&self, id: &str, place: super::events::Place) -> Ctx {
        Ctx { event: Some(id.to_string()), turn: Some(place), ..self.clone() }
    }

    /// The same context acting for behavior `name` (the draft task sends in the drafting behavior's name).
    pub fn as_behavior(&self, name: &str) -> Ctx {
        Ctx { behavior: name.to_string(), memo: Default::default(), ..self.clone() }
    }

    /// The same context, its speaking actions drafted for approval when `a` requires it.
    pub fn with_approval(self, a: Option<super::drafts::Approval>) -> Ctx {
        Ctx { approval: a.filter(|a| a.required), ..self }
    }

    /// Sends an approved draft through the intent path under its original key (looked for on the platform after a crash).
    pub async fn send_approved<S, SF>(&self, key: &str, kind: &str, detail: Value, send: S) -> Result<Outcome, BehaviorError>
    where
        S: FnOnce() -> SF,
        SF: Future<Output = Result<Option<String>, ApiError>>,
    {
        let plain = Ctx { approval: None, ..self.clone() };
        let k = kind.to_string();
        plain.once(key, kind, detail, send, |d| async move { super::actions::found(&plain_ctx(self), &k, d).await }).await
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn store(&self) -> &AgentStore {
        &self.agent.store
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The time by the agent's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.agent.clock.now()
    }

    /// Waits until the clock reads `t`; false when cancelled first.
    pub async fn sleep_until(&self, t: DateTime<Utc>) -> bool {
        self.agent.clock.sleep_until(t, &self.cancel).await
    }

    /// One round of a periodic behavior, run again while it fails for a
    /// transient reason ([`BehaviorError::is_transient`]), 250 ms after the
    /// first failure, doubling up to 15 s: a 503 on one of its requests costs
    /// a pause, not a restart of the behavior (whose back-off grows to a
    /// minute). False when stopped meanwhile; any other failure is returned.
    pub async fn round<Fut>(&self, mut run: impl FnMut() -> Fut) -> Result<bool, BehaviorError>
    where
        Fut: Future<Output = Result<(), BehaviorError>>,
    {
        let mut delays = transient_delays();
        loop {
            match run().await {
                Ok(()) => {
                    self.agent.metrics.behavior_run(&self.behavior);
                    return Ok(true);
                }
                Err(e) if e.is_transient() => {
                    let d = delays.next_delay();
                    tracing::warn!(error = %e, "transient failure; this round again in {d:?}");
                    if !self.sleep(d).await {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps for `d`; false when cancelled first.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// Performs a side effect at most once, crash-safe.
    ///
    /// The intent (with `detail`: what will be sent) is made durable before
    /// `send` runs, the outcome after. When a previous run died between the
    /// two, `already` looks on the platform for the effect before it is repeated.
    pub async fn once<S, SF, A, AF>(&self, key: &str, kind: &str, detail: Value, send: S, already: A) -> Result<Outcome, BehaviorError>
    where
        S: FnOnce() -> SF,
        SF: Future<Output = Result<Option<String>, ApiError>>,
        A: FnOnce(Value) -> AF,
        AF: Future<Output = Result<Found, ApiError>>,
    {
        let store = self.store();
        let mut puts = Puts::default();
        let recorded = match store.action(&self.behavior, key)? {
            Some(r) if r.state != ActionState::Intent => return Ok(Outcome::AlreadyDone),
            Some(r) => {
                if let Some(t) = r.tally {
                    puts.tally(t);
                }
                let mut look = r.detail.clone();
                if let (Some(o), Some(at)) = (look.as_object_mut(), r.written_ms) {
                    o.insert(super::recovery::WRITTEN_AT.into(), at.into());
                }
                if let Found::Done(found) = already(look).await? {
                    tracing::info!(key, kind, "found on the platform after a restart; not repeating");
                    store.finish(&self.behavior, key, self.outcome_record(key, kind, ActionState::Done, found))?;
                    self.agent.metrics.action(&[self.behavior.as_str(), kind], "recovered");
                    return Ok(Outcome::AlreadyDone);
                }
                tracing::info!(key, kind, "an unfinished intent was not found on the platform; sending it now");
                self.record_intent(key, kind, detail.clone(), &puts)?
            }
            None => self.record(key, kind, detail.clone(), &puts)?,
        };
        match recorded {
            Recorded::Held(o) => Ok(o),
            Recorded::Intent => self.perform(key, kind, &detail, puts.tally_of(), send).await,
        }
    }

    /// The record of a side effect's outcome (detail and event kept from its intent by `finish`).
    fn outcome_record(&self, key: &str, kind: &str, state: ActionState, result: Option<String>) -> ActionRecord {
        ActionRecord {
            state,
            kind: kind.to_string(),
            detail: Value::Null,
            result,
            at_ms: self.now().timestamp_millis(),
            event: self.event.clone().filter(|e| key.contains(e.as_str())),
            tally: None,
            written_ms: None,
        }
    }

    /// The first half of [`Ctx::once`] for a side effect decided now (no record
    /// under `key` yet): writes its intent, then `puts` (values that count it,
    /// e.g. against caps; see [`AgentStore::intend_with`]), not yet flushed; under
    /// `approval: required` a speaking action becomes a draft instead, and a
    /// dry run only logs it (neither writes `puts`).
    pub fn record(&self, key: &str, kind: &str, detail: Value, puts: &Puts) -> Result<Recorded, BehaviorError> {
        if let Some(a) = self.approval.as_ref().filter(|_| super::drafts::SPEAKING.contains(&kind)) {
            return Ok(Recorded::Held(self.draft(key, kind, detail, a)?));
        }
        self.record_intent(key, kind, detail, puts)
    }

    fn record_intent(&self, key: &str, kind: &str, detail: Value, puts: &Puts) -> Result<Recorded, BehaviorError> {
        let store = self.store();
        if self.agent.dry_run {
            tracing::info!(key, kind, detail = %detail, "dry run: would {kind}");
            store.finish(&self.behavior, key, self.outcome_record(key, kind, ActionState::Skipped, Some("dry-run".into())))?;
            self.agent.metrics.action(&[self.behavior.as_str(), kind], "dry_run");
            return Ok(Recorded::Held(Outcome::DryRun));
        }
        let rec =
            ActionRecord { detail, written_ms: Some(crate::store::now_ms()), ..self.outcome_record(key, kind, ActionState::Intent, None) };
        store.intend_with(&self.behavior, key, rec, puts)?;
        Ok(Recorded::Intent)
    }

    /// The second half of [`Ctx::once`]: waits until the intent recorded under
    /// `key` is durable (one flush shared with every intent written meanwhile),
    /// sends, and records the outcome (`detail` and `tally` as recorded, the
    /// detail also for the log line).
    pub async fn perform<S, SF>(
        &self,
        key: &str,
        kind: &str,
        detail: &Value,
        tally: Option<&str>,
        send: S,
    ) -> Result<Outcome, BehaviorError>
    where
        S: FnOnce() -> SF,
        SF: Future<Output = Result<Option<String>, ApiError>>,
    {
        let store = self.store();
        let labels = [self.behavior.as_str(), kind];
        let settled = |state, result| ActionRecord {
            detail: detail.clone(),
            tally: tally.map(str::to_string),
            ..self.outcome_record(key, kind, state, result)
        };
        store.flush().await?;
        match send().await {
            Ok(result) => {
                tracing::info!(
                    key,
                    kind,
                    result = result.as_deref().unwrap_or(""),
                    "{}",
                    super::say::done(kind, detail, result.as_deref())
                );
                store.settle(&self.behavior, key, settled(ActionState::Done, result.clone()))?;
                if let ("post" | "quote", Some(text)) = (kind, detail.get("content").and_then(Value::as_str)) {
                    self.remember_post(text)?;
                }
                self.agent.metrics.action(&labels, "done");
                Ok(Outcome::Sent(result))
            }
            // Not sent: the intent stays, sent (after a check on the platform) at the next start.
            Err(ApiError::Stopped { .. }) => {
                tracing::info!(key, kind, "stopping: not sent yet (waiting for the write budget); it goes out after the next start");
                Err(BehaviorError::Stopped)
            }
            Err(e) if !e.maybe_applied() && !e.is_transient() => {
                tracing::warn!(key, kind, error = %e, "the platform refused; recording and moving on");
                store.settle(&self.behavior, key, settled(ActionState::Skipped, Some(e.to_string())))?;
                self.agent.metrics.action(&labels, "refused");
                Ok(Outcome::Refused(e.to_string()))
            }
            Err(e) => {
                self.agent.metrics.action(&labels, "error");
                Err(e.into())
            }
        }
    }

    /// Keeps the action as a draft for a person to approve; recorded so the behavior moves on.
    fn draft(&self, key: &str, kind: &str, detail: Value, a: &super::drafts::Approval) -> Result<Outcome, BehaviorError> {
        use super::drafts::{self, Draft, Status};
        let now = self.now().timestamp_millis();
        let id = drafts::id_of(&self.behavior, key);
        let d = Draft {
            id: id.clone(),
            behavior: self.behavior.clone(),
            key: key.to_string(),
            kind: kind.to_string(),
            detail,
            created_ms: now,
            status: Status::Pending,
            expires_ms: a.timeout.map(|t| now + t.as_millis() as i64),
            on_timeout: a.on_timeout,
            noticed: false,
            edited: false,
            problem: None,
        };
        drafts::put(self.store(), &d)?;
        let rec = ActionRecord {
            state: ActionState::Skipped,
            kind: kind.to_string(),
            detail: Value::Null,
            result: Some(format!("drafted:{id}")),
            at_ms: now,
            event: None,
            tally: None,
            written_ms: None,
        };
        self.store().finish(&self.behavior, key, rec)?;
        tracing::info!(draft = %id, key, kind, "{}", format!("drafted for approval: {}", drafts::describe(&d)));
        self.agent.metrics.action(&[self.behavior.as_str(), kind], "drafted");
        Ok(Outcome::Drafted(id))
    }

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
        let finalize = |t: String| crate::behaviors::content::finalize(&t, shape.max_chars, shape.max_mentions);
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
        match store.action(&self.behavior, key)? {
            Some(r) if r.state != ActionState::Intent => Ok(None),
            Some(r) => Ok(r.detail.get("content").and_then(Value::as_str).map(str::to_string)),
            None => {
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
    pub async fn send_dm_once(&self, key: &str, content: &Content, who: &crate::api::types::AgentSummary) -> Result<(), BehaviorError> {
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
