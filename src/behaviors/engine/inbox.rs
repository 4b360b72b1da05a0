//! How a behavior takes the events of its inbox: in batches, oldest first,
//! several in flight at once when the behavior allows it, their decisions
//! still taken one at a time in the order the events arrived.
//!
//! Guarantees: an event leaves the inbox only once handled (or dropped as
//! undecodable); a stop lets the events in flight finish and leaves the rest
//! in the inbox, durably (an event whose side effect still waits for the
//! write budget at the stop is not finished: its intent stays, and goes out
//! after the next start, checked on the platform first); after a failure no further event of the batch
//! starts (a transient one backs off and the same events come again, their
//! intents checked on the platform first; any other goes to the supervisor).
//! With [`OnEvent::in_flight`] above one, a handler that reads and writes
//! state its next events depend on (caps, cooldowns, list positions) does so
//! inside [`Ctx::turn`]: turns are given in inbox order, one at a time, so
//! the batch decides exactly as it would one event after another, while the
//! network reads before a turn and the sends after it overlap, and the
//! intents written in turn share one flush.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;

use super::ctx::Ctx;
use super::error::{BehaviorError, ErrorKind};
use super::routes::{routes_for, Route};
use super::turns::{Place, Turn, Turns};
use crate::store::InboxItem;
use crate::wire::types::Notification;

/// Events read from the inbox at a time by a behavior that handles one at a time.
const BATCH: usize = 16;
/// Events read at a time by a behavior with several in flight: a batch per
/// this many events (the turns of a batch are given in its order).
const CONCURRENT_BATCH: usize = 64;

/// Events in flight at once for a behavior that allows several (its requests
/// still wait for the agent's rate budget like any other).
pub const IN_FLIGHT: usize = 32;

/// Hands every event still waiting in the inbox of `behavior`, a screening
/// behavior that no longer runs, to the behaviors that take it now; how many.
pub async fn release(agent: &super::ctx::Agent, behavior: &str) -> Result<usize, BehaviorError> {
    let table: Vec<Route> = agent.routes.read().map(|t| t.clone()).unwrap_or_default();
    let mut n = 0;
    loop {
        let items = agent.store.inbox(behavior, BATCH)?;
        if items.is_empty() {
            break;
        }
        for item in &items {
            let kind = decode_event(item).and_then(|e| e.notification_type.clone());
            let to: Vec<String> = routes_for(&table, kind.as_ref()).iter().map(|r| r.behavior.clone()).collect();
            agent.store.pass_on(item, &to)?;
            n += 1;
        }
    }
    agent.store.flush().await?;
    for r in &table {
        r.wake.notify_one();
    }
    Ok(n)
}

/// A behavior that reacts to notifications.
pub trait OnEvent: Sync {
    fn on_event<'a>(&'a self, ctx: &'a Ctx, n: &'a Notification) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>>;

    /// How many events may be handled at once (1: one after another). Above
    /// one, the handler takes [`Ctx::turn`] around its decision.
    fn in_flight(&self) -> usize {
        1
    }
}

impl Ctx {
    /// Waits until every earlier event of the batch is past its turn; an
    /// event handled alone has its turn at once. One turn per event: a
    /// second call, after the first turn was dropped, does not wait.
    /// `Err(Stopped)` when the behavior is stopped first (the event stays in
    /// the inbox).
    pub async fn turn(&self) -> Result<Turn, BehaviorError> {
        let Some(place) = self.turn.clone() else { return Ok(Turn(None)) };
        let mut head = place.turns.head.subscribe();
        tokio::select! {
            biased;
            r = head.wait_for(|h| *h >= place.index) => {
                r.map_err(|_| BehaviorError::stopped())?;
            }
            _ = self.cancel.cancelled() => return Err(BehaviorError::stopped()),
        }
        Ok(Turn(Some(place)))
    }

    /// Waits for events in this behavior's inbox (oldest first); None when cancelled.
    pub async fn next_events(&self, max: usize) -> Result<Option<Vec<InboxItem>>, BehaviorError> {
        loop {
            let items = self.store().inbox(&self.behavior, max)?;
            if !items.is_empty() {
                return Ok(Some(items));
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(None),
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.agent.poll_interval) => {}
            }
        }
    }

    /// Runs `handler` on each event of this behavior's inbox, oldest first,
    /// until cancelled (see the module's guarantees).
    pub async fn for_each_event(&self, handler: &impl OnEvent) -> Result<(), BehaviorError> {
        let in_flight = handler.in_flight().max(1);
        let batch = if in_flight > 1 { CONCURRENT_BATCH } else { BATCH };
        let mut delays = super::error::transient_delays();
        while let Some(items) = self.next_events(batch).await? {
            if self.is_cancelled() {
                return Ok(());
            }
            let turns = Turns::new(items.len());
            let halt = AtomicBool::new(false);
            let mut runs: Vec<futures::future::BoxFuture<'_, Result<(), (String, BehaviorError)>>> = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let place = Place { turns: turns.clone(), index };
                runs.push(Box::pin(self.run_one(handler, item, place, &halt)));
            }
            let mut results = futures::stream::iter(runs).buffered(in_flight);
            let (mut transient, mut failure) = (None, None);
            while let Some(r) = results.next().await {
                match r {
                    Ok(()) => {}
                    Err((id, e)) => {
                        halt.store(true, Ordering::Relaxed);
                        if e.is_transient() {
                            transient.get_or_insert((id, e));
                        } else {
                            failure.get_or_insert(e);
                        }
                    }
                }
            }
            drop(results);
            if let Some(e) = failure {
                return Err(e);
            }
            match transient {
                Some((id, e)) => {
                    let delay = delays.next_delay();
                    tracing::warn!(notification = %id, error = %e, "transient failure; trying this event again in {:?}", delay);
                    if !self.sleep(delay).await {
                        return Ok(());
                    }
                }
                None => delays.reset(),
            }
        }
        Ok(())
    }

    /// One event of a batch: handled and acknowledged, or left in the inbox
    /// (after a failure of an earlier one, or a stop).
    async fn run_one(
        &self,
        handler: &impl OnEvent,
        item: &InboxItem,
        place: Place,
        halt: &AtomicBool,
    ) -> Result<(), (String, BehaviorError)> {
        // Some(event) handled (None: dropped); None: left in the inbox.
        let index = place.index;
        let turns = place.turns.clone();
        let handled = async {
            // A stop takes effect between events: the rest stay in the inbox, durably.
            if halt.load(Ordering::Relaxed) || self.is_cancelled() {
                return Ok(None);
            }
            let Some(n) = decode_event(item) else { return Ok(Some(None)) };
            if self.blocks(&n).map_err(|e| (n.id.clone(), e))? {
                tracing::info!(notification = %n.id, author = %n.actor.as_ref().map_or("", |a| a.handle.as_str()), "left alone: its author is blocked");
                self.agent.metrics.action(&[self.behavior.as_str(), "event"], "blocked");
                return Ok(Some(None));
            }
            let this = self.for_event(&n.id, place);
            match handler.on_event(&this, &n).await {
                Ok(()) => Ok(Some(Some(n))),
                Err(e) if e.kind() == ErrorKind::Stopped => Ok(None),
                Err(e) => Err((n.id.clone(), e)),
            }
        }
        .await;
        turns.release(index);
        match handled? {
            None => {}
            Some(Some(n)) if self.screens() => self.pass_on(item, &n).await.map_err(|e| (n.id.clone(), e))?,
            Some(_) => self.ack(item).await.map_err(|e| (String::new(), e))?,
        }
        Ok(())
    }

    /// Whether the author of `n` is on the agent's block list.
    fn blocks(&self, n: &Notification) -> Result<bool, BehaviorError> {
        match &n.actor {
            Some(a) => Ok(self.store().is_blocked(&a.handle, self.now().timestamp_millis())?),
            None => Ok(false),
        }
    }

    /// Whether this behavior screens events for the others.
    fn screens(&self) -> bool {
        self.agent.routes.read().is_ok_and(|t| t.iter().any(|r| r.behavior == self.behavior && r.screens))
    }

    /// A screened event goes on to the behaviors that take its type (it is
    /// dropped instead when its author was blocked meanwhile).
    async fn pass_on(&self, item: &InboxItem, n: &Notification) -> Result<(), BehaviorError> {
        if self.blocks(n)? {
            return self.ack(item).await;
        }
        let to: Vec<Route> = self
            .agent
            .routes
            .read()
            .map(|t| {
                t.iter().filter(|r| !r.screens && n.notification_type.as_ref().is_some_and(|k| r.types.contains(k))).cloned().collect()
            })
            .unwrap_or_default();
        self.store().pass_on(item, &to.iter().map(|r| r.behavior.clone()).collect::<Vec<_>>())?;
        self.agent.metrics.notification_handled(&self.behavior);
        for r in to {
            r.wake.notify_one();
        }
        Ok(())
    }

    /// Marks an event handled.
    pub async fn ack(&self, item: &InboxItem) -> Result<(), BehaviorError> {
        self.store().ack(item).await?;
        self.agent.metrics.notification_handled(&self.behavior);
        Ok(())
    }
}

/// Decodes an inbox event; a malformed one is logged and dropped, never a crash.
pub fn decode_event(item: &InboxItem) -> Option<Notification> {
    match Notification::from_raw(item.event.clone()) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "dropping an event that is not a notification");
            None
        }
    }
}
