//! What a running behavior gets, and its lifecycle: its agent (session,
//! store, clock, metrics, who it is), its name, a cancellation token, a
//! wake-up for new events, what it keeps in memory while it runs, sleeps
//! that end at a stop, and rounds that ride out transient failures. The
//! side effects are in [`super::effects`], the inbox in [`super::inbox`],
//! writing in [`super::writing`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::error::{transient_delays, BehaviorError};
use crate::api::{Priority, Session};
use crate::metrics::Metrics;
use crate::store::AgentStore;

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
    /// Which behavior takes which notifications (kept by the runtime as behaviors start and stop).
    pub routes: super::routes::Routes,
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
    pub approval: Option<super::approval::Approval>,
    /// The notification being handled, while [`Ctx::for_each_event`] runs a handler:
    /// side effects keyed by it record it, which lets them be pruned once settled
    /// and old (a side effect keyed otherwise, e.g. one welcome DM per agent, is kept).
    pub event: Option<String>,
    /// This event's place among the events of a batch in flight at once (see [`super::inbox`]).
    pub(crate) turn: Option<super::turns::Place>,
    /// What the behavior keeps in memory while it runs (see [`Ctx::memo`]).
    memo: Arc<std::sync::Mutex<Option<Memo>>>,
}

type Memo = Arc<dyn std::any::Any + Send + Sync>;

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

    /// The context of one event of a batch (see [`super::inbox`]).
    pub(crate) fn for_event(&self, id: &str, place: super::turns::Place) -> Ctx {
        Ctx { event: Some(id.to_string()), turn: Some(place), ..self.clone() }
    }

    /// The same context, its speaking actions drafted for approval when `a` requires it.
    pub fn with_approval(self, a: Option<super::approval::Approval>) -> Ctx {
        Ctx { approval: a.filter(|a| a.required), ..self }
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
}
