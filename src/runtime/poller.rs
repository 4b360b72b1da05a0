//! The one notification poller of an identity: reads new notifications and
//! hands each to the inbox of every behavior that wants it, durably, before
//! it counts as seen. Behaviors never poll.

use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::Notify;

use crate::api::types::{Notification, NotificationType};
use crate::api::ReadTarget;

use super::context::{BehaviorError, Ctx, Identity};

/// Who gets which notification types.
#[derive(Clone)]
pub struct Route {
    pub behavior: String,
    pub kinds: Vec<NotificationType>,
    pub wake: Arc<Notify>,
}

pub type Routes = Arc<RwLock<Vec<Route>>>;

/// Pages read at most per poll when catching up after downtime.
const MAX_PAGES: usize = 20;
/// Seen-marks are forgotten after this long.
const SEEN_TTL_MS: i64 = 14 * 24 * 3600 * 1000;

/// Reads notifications newer than the last seen ones, oldest first.
async fn fetch_new(ctx: &Ctx) -> Result<Vec<Notification>, BehaviorError> {
    let mut fresh = vec![];
    let mut list = ctx.session().notifications().limit(50);
    for _ in 0..MAX_PAGES {
        let page = list.page().await?;
        let total = page.items.len();
        let mut reached_seen = false;
        for n in page.items {
            if n.id.is_empty() || ctx.store().seen(&n.id)? {
                reached_seen = true;
                continue;
            }
            fresh.push(n);
        }
        match page.next_cursor {
            Some(c) if page.has_more && !reached_seen && total > 0 => list = list.cursor(c),
            _ => break,
        }
    }
    fresh.reverse();
    Ok(fresh)
}

/// Hands notifications to the inbox of every behavior that wants them, with
/// their seen-marks, in one transaction; skips ones already seen. Shared by the
/// poller and the webhook receiver (serialized, so the two never race).
pub async fn hand_over(identity: &Identity, routes: &Routes, notifications: &[Notification]) -> Result<usize, BehaviorError> {
    let _one_at_a_time = identity.handover.lock().await;
    let mut fresh = vec![];
    for n in notifications {
        if !n.id.is_empty() && !identity.store.seen(&n.id)? && !fresh.iter().any(|f: &&Notification| f.id == n.id) {
            fresh.push(n);
        }
    }
    if fresh.is_empty() {
        return Ok(0);
    }
    let table = routes.read().map(|r| r.clone()).unwrap_or_default();
    let mut woken: Vec<Arc<Notify>> = vec![];
    let batch: Vec<(String, Value, Vec<String>)> = fresh
        .iter()
        .map(|n| {
            let to: Vec<&Route> = table.iter().filter(|r| n.kind.as_ref().is_some_and(|k| r.kinds.contains(k))).collect();
            for r in &to {
                if !woken.iter().any(|w| Arc::ptr_eq(w, &r.wake)) {
                    woken.push(r.wake.clone());
                }
            }
            (n.id.clone(), n.raw.clone(), to.iter().map(|r| r.behavior.clone()).collect())
        })
        .collect();
    identity.store.deliver(&batch)?;
    identity.store.flush().await?;
    identity.metrics.notifications_polled(fresh.len() as u64);
    tracing::debug!(count = fresh.len(), "new notifications handed to behaviors");
    for w in woken {
        w.notify_one();
    }
    Ok(fresh.len())
}

/// Polls until cancelled; `first_delay` spreads the first polls of many identities.
pub async fn run(ctx: Ctx, routes: Routes, mark_read: bool, first_delay: std::time::Duration) -> Result<(), BehaviorError> {
    if !first_delay.is_zero() && !ctx.sleep(first_delay).await {
        return Ok(());
    }
    let mut polls = 0u64;
    loop {
        let fresh = fetch_new(&ctx).await?;
        let handed = hand_over(&ctx.identity, &routes, &fresh).await?;
        if handed > 0 && mark_read && !ctx.identity.dry_run {
            let ids = fresh.iter().map(|n| n.id.clone()).collect();
            if let Err(e) = ctx.session().mark_notifications_read(&ReadTarget::Ids(ids)).await {
                tracing::warn!(error = %e, "could not mark notifications read");
            }
        }
        polls += 1;
        if polls.is_multiple_of(500) {
            ctx.store().prune_seen(SEEN_TTL_MS)?;
        }
        if !ctx.sleep(ctx.identity.poll_interval).await {
            return Ok(());
        }
    }
}
