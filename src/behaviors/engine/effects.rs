//! The intent path: every side effect of a behavior goes through [`Ctx::once`]
//! (or its two halves, [`Ctx::record`] and [`Ctx::perform`]).
//!
//! Guarantees: the intent (what will be sent) is durable before the send,
//! the outcome after; an intent found unfinished at a start is looked for on
//! the platform ([`super::recovery`]) before it is sent again; a refusal for
//! good is recorded and never retried; under `approval: required` a speaking
//! action becomes a draft ([`super::approval`]) instead; a dry run only logs.
//! [`Ctx::progress`] is the one way a behavior asks where a key stands.

use std::future::Future;

use serde_json::Value;

use super::approval::{self, Approval, Draft, Status};
use super::ctx::Ctx;
use super::error::BehaviorError;
use super::recovery::Found;
use crate::api::ApiError;
use crate::store::{ActionRecord, ActionState, Puts};

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

/// Where the side effect under a key stands (see [`Ctx::progress`]).
#[derive(Debug, Clone)]
pub enum Progress {
    /// Nothing recorded: not decided yet.
    New,
    /// Its intent is recorded and its outcome is not: a run died between the
    /// two, or it is being sent now. The record holds what will be sent.
    Intended(ActionRecord),
    /// Done, refused for good, drafted or skipped: never sent again.
    Settled(ActionRecord),
}

impl Progress {
    /// Done, refused, drafted or skipped: nothing more to do under this key.
    pub fn is_settled(&self) -> bool {
        matches!(self, Progress::Settled(_))
    }

    /// Nothing recorded yet.
    pub fn is_new(&self) -> bool {
        matches!(self, Progress::New)
    }

    /// The record, intended or settled.
    pub fn record(&self) -> Option<&ActionRecord> {
        match self {
            Progress::New => None,
            Progress::Intended(r) | Progress::Settled(r) => Some(r),
        }
    }

    /// What a settled record's side effect created (the platform's id), if anything.
    pub fn result(&self) -> Option<String> {
        self.record().and_then(|r| r.result.clone())
    }

    /// The text kept with its record: what is about to be sent, or was.
    pub fn kept_text(&self) -> Option<String> {
        self.record().and_then(|r| r.detail.get("content")).and_then(Value::as_str).map(str::to_string)
    }
}

impl Ctx {
    /// Where the side effect under `key` stands for this behavior.
    pub fn progress(&self, key: &str) -> Result<Progress, BehaviorError> {
        Ok(match self.store().action(&self.behavior, key)? {
            None => Progress::New,
            Some(r) if r.state == ActionState::Intent => Progress::Intended(r),
            Some(r) => Progress::Settled(r),
        })
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
                    store.settle(&self.behavior, key, self.outcome_record(key, kind, ActionState::Done, found))?;
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

    /// The record of a side effect's outcome (detail and event kept from its intent by `settle`).
    fn outcome_record(&self, key: &str, kind: &str, state: ActionState, result: Option<String>) -> ActionRecord {
        ActionRecord {
            state,
            action: kind.to_string(),
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
        if let Some(a) = self.approval.as_ref().filter(|_| approval::SPEAKING.contains(&kind)) {
            return Ok(Recorded::Held(self.draft(key, kind, detail, a)?));
        }
        self.record_intent(key, kind, detail, puts)
    }

    fn record_intent(&self, key: &str, kind: &str, detail: Value, puts: &Puts) -> Result<Recorded, BehaviorError> {
        let store = self.store();
        if self.agent.dry_run {
            tracing::info!(key, kind, detail = %detail, "dry run: would {kind}");
            store.settle(&self.behavior, key, self.outcome_record(key, kind, ActionState::Skipped, Some("dry-run".into())))?;
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
                store.settle_whole(&self.behavior, key, settled(ActionState::Done, result.clone()))?;
                if let ("post" | "quote", Some(text)) = (kind, detail.get("content").and_then(Value::as_str)) {
                    self.remember_post(text)?;
                }
                self.agent.metrics.action(&labels, "done");
                Ok(Outcome::Sent(result))
            }
            // Not sent: the intent stays, sent (after a check on the platform) at the next start.
            Err(ApiError::Stopped { .. }) => {
                tracing::info!(key, kind, "stopping: not sent yet (waiting for the write budget); it goes out after the next start");
                Err(BehaviorError::stopped())
            }
            Err(e) if !e.maybe_applied() && !e.is_transient() => {
                tracing::warn!(key, kind, error = %e, "the platform refused; recording and moving on");
                store.settle_whole(&self.behavior, key, settled(ActionState::Skipped, Some(e.to_string())))?;
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
    fn draft(&self, key: &str, kind: &str, detail: Value, a: &Approval) -> Result<Outcome, BehaviorError> {
        let now = self.now().timestamp_millis();
        let id = approval::id_of(&self.behavior, key);
        let d = Draft {
            id: id.clone(),
            behavior: self.behavior.clone(),
            key: key.to_string(),
            action: kind.to_string(),
            detail,
            created_ms: now,
            status: Status::Pending,
            expires_ms: a.timeout.map(|t| now + t.as_millis() as i64),
            on_timeout: a.on_timeout,
            noticed: false,
            edited: false,
            problem: None,
            media_released: false,
        };
        approval::put(self.store(), &d)?;
        let rec = ActionRecord {
            state: ActionState::Skipped,
            action: kind.to_string(),
            detail: Value::Null,
            result: Some(format!("drafted:{id}")),
            at_ms: now,
            event: None,
            tally: None,
            written_ms: None,
        };
        self.store().settle(&self.behavior, key, rec)?;
        tracing::info!(draft = %id, key, kind, "{}", format!("drafted for approval: {}", approval::describe(&d)));
        self.agent.metrics.action(&[self.behavior.as_str(), kind], "drafted");
        Ok(Outcome::Drafted(id))
    }
}
