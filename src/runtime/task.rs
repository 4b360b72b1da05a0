//! What the runtime's own tasks (the notification poller, the draft task)
//! run with: the agent, its session at urgent priority, and a stop. They
//! are not behaviors: no inbox, no behavior name, no intents of their own.
//! What the draft task sends, it sends as the behavior that drafted it
//! ([`Task::as_behavior`]), through that behavior's intent path.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{Priority, Session};
use crate::behaviors::{Agent, Ctx};
use crate::store::AgentStore;

/// One of the agent's own tasks.
pub struct Task {
    pub agent: Arc<Agent>,
    session: Session,
    cancel: CancellationToken,
}

impl Task {
    /// The task's requests go first (replies wait for the poller; approved drafts for the draft task).
    pub fn new(agent: Arc<Agent>, cancel: CancellationToken) -> Task {
        let session = agent.session.with_priority(Priority::Urgent).stopping_with(cancel.clone());
        Task { agent, session, cancel }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn store(&self) -> &AgentStore {
        &self.agent.store
    }

    /// The time by the agent's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.agent.clock.now()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Sleeps for `d`; false when stopped first.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// A context acting as behavior `name`, sending at once (never drafting).
    pub fn as_behavior(&self, name: &str) -> Ctx {
        Ctx::new(self.agent.clone(), name, Priority::Urgent, self.cancel.clone(), Arc::new(Notify::new()))
    }
}
