//! The running behaviors of one agent, each a supervised task with its own
//! cancel token; `apply` rebuilds only what changed (as vector does on reload).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::poller::{Route, Routes};
use super::supervisor;
use crate::behaviors::LoadedBehavior;
use crate::behaviors::{Agent, Ctx};

/// The pseudo-behavior under which the screening behaviors that ran are remembered.
const SCREENERS: &str = "_screeners";

pub struct BehaviorTasks {
    agent: Arc<Agent>,
    root: CancellationToken,
    routes: Routes,
    running: BTreeMap<String, (LoadedBehavior, CancellationToken, JoinHandle<()>)>,
}

impl BehaviorTasks {
    pub fn new(agent: Arc<Agent>, root: CancellationToken, routes: Routes) -> BehaviorTasks {
        BehaviorTasks { agent, root, routes, running: BTreeMap::new() }
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    fn spawn(&mut self, lb: LoadedBehavior) {
        let name = lb.behavior.name().to_string();
        let cancel = self.root.child_token();
        let wake = Arc::new(Notify::new());
        let priority = lb.behavior.priority();
        let ctx = Ctx::new(self.agent.clone(), &name, priority, cancel.clone(), wake.clone()).with_approval(lb.behavior.approval());
        let types = lb.behavior.notification_types();
        if lb.behavior.screens() {
            if let Err(e) = self.agent.store.put(SCREENERS, &name, &true) {
                tracing::warn!(behavior = %name, error = %e, "could not remember a screening behavior");
            }
        }
        if !types.is_empty() {
            if let Ok(mut r) = self.routes.write() {
                r.push(Route { behavior: name.clone(), types, wake: wake.clone(), screens: lb.behavior.screens() });
            }
            wake.notify_one();
        }
        // A root span (not under the agent's): it names the agent itself, once per line.
        let span = tracing::error_span!(parent: None, "behavior", agent = %self.agent.handle, behavior = %name, kind = lb.behavior.kind());
        let b = Arc::new(lb.behavior.clone());
        let metrics = self.agent.metrics.clone();
        let n2 = name.clone();
        let task = tokio::spawn(supervisor::supervise(
            name.clone(),
            cancel.clone(),
            span,
            move || metrics.restart(&n2),
            move || {
                let (b, ctx) = (b.clone(), ctx.clone());
                async move { b.run(&ctx).await }
            },
        ));
        tracing::info!(behavior = %name, kind = lb.behavior.kind(), priority = priority.name(), "behavior started");
        self.agent.metrics.behavior_started(&name);
        self.running.insert(name, (lb, cancel, task));
    }

    async fn stop(&mut self, name: &str, grace: Duration) {
        if let Some((_, cancel, task)) = self.running.remove(name) {
            cancel.cancel();
            if let Ok(mut r) = self.routes.write() {
                r.retain(|x| x.behavior != name);
            }
            if !supervisor::join_within(vec![task], grace).await {
                tracing::warn!(behavior = %name, "did not stop within {:?}; aborted", grace);
            }
            tracing::info!(behavior = %name, "behavior stopped");
        }
    }

    /// Starts, stops or restarts only the behaviors that changed.
    pub async fn apply(&mut self, wanted: Vec<LoadedBehavior>, grace: Duration) {
        let wanted: BTreeMap<String, LoadedBehavior> =
            wanted.into_iter().filter(|b| b.behavior.enabled()).map(|b| (b.behavior.name().to_string(), b)).collect();
        let names: Vec<String> = self.running.keys().cloned().collect();
        // Screening behaviors are remembered in the store, so one removed while the daemon was down is known too.
        let screeners: Vec<String> = self.agent.store.keys(SCREENERS, "").unwrap_or_default();
        for name in names {
            let keep = wanted.get(&name).is_some_and(|w| self.running.get(&name).is_some_and(|(r, _, _)| r.behavior == w.behavior));
            if !keep {
                self.stop(&name, grace).await;
            }
        }
        for (name, lb) in wanted {
            if !self.running.contains_key(&name) {
                self.spawn(lb);
            }
        }
        // What a screening behavior no longer running had not screened goes to the others.
        for name in screeners {
            if !self.running.get(&name).is_some_and(|(lb, _, _)| lb.behavior.screens()) {
                match crate::behaviors::engine::inbox::release(&self.agent, &name).await {
                    Ok(n) if self.agent.store.remove(SCREENERS, &name).is_err() => {
                        tracing::warn!(behavior = %name, events = n, "passed on the events it had not screened, but could not forget it")
                    }
                    Ok(0) => {}
                    Ok(n) => tracing::info!(behavior = %name, events = n, "passed on the events it had not screened"),
                    Err(e) => tracing::warn!(behavior = %name, error = %e, "could not pass on the events it had not screened"),
                }
            }
        }
    }

    /// The tasks of every behavior, for shutdown (their tokens are children of the root).
    pub fn take_tasks(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.running).into_values().map(|(_, _, t)| t).collect()
    }
}
