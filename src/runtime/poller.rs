//! The one notification poller of an agent: reads new notifications and
//! hands each to the inbox of every behavior that wants it, durably, before
//! it counts as seen. Behaviors never poll.
//!
//! Guarantees: no cap on how many notifications a poll may find. When more
//! arrived than one page shows (a long downtime, a burst between two polls),
//! the poller walks older pages until it meets its durable high-water mark,
//! staging each page in sled together with where the walk stands (so a
//! SIGKILL resumes the walk, it does not restart or skip it), then hands the
//! backlog over oldest first in bounded batches. Memory holds one page or one
//! batch at most. Notifications arriving meanwhile go to the live lane of the
//! inboxes, which behaviors take in turn with the backlog.

use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::api::types::{Notification, NotificationType};
use crate::api::ReadTarget;
use crate::store::{AgentStore, Cursor, Handover, Lane, Mark, Scan};

use crate::behaviors::context::{Agent, BehaviorError, Ctx};
use crate::progress::Progress;

/// Who gets which notification types.
#[derive(Clone)]
pub struct Route {
    pub behavior: String,
    pub kinds: Vec<NotificationType>,
    pub wake: Arc<Notify>,
}

pub type Routes = Arc<RwLock<Vec<Route>>>;

/// Notifications per page read (the platform's maximum).
pub const PAGE: u32 = 100;
/// Older pages read per step of a catch-up before the newest page is looked at again.
pub const WALK_PAGES: usize = 10;
/// Staged notifications handed over per transaction.
const BATCH: usize = 200;
/// Settled side effects answering a notification are forgotten after this long.
pub const ACTION_RETENTION: chrono::Duration = chrono::Duration::days(7);
/// Housekeeping (pruning) every this many polls.
const PRUNE_EVERY: u64 = 200;

/// When a notification was created, and its id.
pub fn mark_of(n: &Notification) -> Mark {
    let at_ms = n.created_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis());
    Mark { at_ms, id: n.id.clone() }
}

/// Already handed over (or certainly older than everything not yet handed over).
fn covered(store: &AgentStore, cur: &Cursor, n: &Notification) -> Result<bool, BehaviorError> {
    Ok(n.id.is_empty() || cur.below(mark_of(n).at_ms) || store.seen(&n.id)?)
}

/// Whether a page reaches back to what was handed over before: it holds a
/// notification below the high-water mark (or, without timestamps, one seen).
fn reaches_mark(store: &AgentStore, cur: &Cursor, items: &[Notification]) -> Result<bool, BehaviorError> {
    for n in items {
        let at = mark_of(n).at_ms;
        if cur.below(at) || (at.is_none() && !n.id.is_empty() && store.seen(&n.id)?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Hands notifications to the live lane of the inboxes of every behavior that
/// wants them, with their seen-marks, in one transaction; skips ones already
/// seen. Used by the poller and the webhook receiver.
pub async fn hand_over(agent: &Agent, routes: &Routes, notifications: &[Notification]) -> Result<usize, BehaviorError> {
    let events: Vec<(Mark, &serde_json::Value, Option<NotificationType>)> =
        notifications.iter().map(|n| (mark_of(n), &n.raw, n.kind.clone())).collect();
    deliver(agent, routes, &events, Lane::Live, &[], None).await
}

/// The one hand-over path: (mark, raw JSON, type) in order; `unstage` and
/// `cursor` are saved in the same transaction.
async fn deliver(
    agent: &Agent,
    routes: &Routes,
    events: &[(Mark, &serde_json::Value, Option<NotificationType>)],
    lane: Lane,
    unstage: &[Vec<u8>],
    cursor: Option<&Cursor>,
) -> Result<usize, BehaviorError> {
    let _one_at_a_time = agent.handover.lock().await;
    let table = routes.read().map(|r| r.clone()).unwrap_or_default();
    let mut woken: Vec<Arc<Notify>> = vec![];
    let mut batch: Vec<Handover> = vec![];
    for (mark, raw, kind) in events {
        if mark.id.is_empty() || agent.store.seen(&mark.id)? || batch.iter().any(|h| h.id == mark.id) {
            continue;
        }
        let to: Vec<&Route> = table.iter().filter(|r| kind.as_ref().is_some_and(|k| r.kinds.contains(k))).collect();
        for r in &to {
            if !woken.iter().any(|w| Arc::ptr_eq(w, &r.wake)) {
                woken.push(r.wake.clone());
            }
        }
        batch.push(Handover { id: &mark.id, at_ms: mark.at_ms, event: raw, behaviors: to.iter().map(|r| r.behavior.clone()).collect() });
    }
    if batch.is_empty() && unstage.is_empty() && cursor.is_none() {
        return Ok(0);
    }
    agent.store.hand_over(&batch, lane, unstage, cursor)?;
    agent.store.flush().await?;
    if !batch.is_empty() {
        agent.metrics.notifications_polled(batch.len() as u64);
        tracing::debug!(count = batch.len(), ?lane, "new notifications handed to behaviors");
    }
    for w in woken {
        w.notify_one();
    }
    Ok(batch.len())
}

/// One poll: the newest page, then (during a catch-up) up to [`WALK_PAGES`]
/// older ones, then the hand-over of a finished walk. True when a catch-up is
/// still walking (poll again at once).
async fn step(
    ctx: &Ctx,
    routes: &Routes,
    mark_read: bool,
    progress: &mut Option<Progress>,
    pruned: &mut i64,
) -> Result<bool, BehaviorError> {
    let store = ctx.store();
    let mut cur = store.cursor()?;
    let head = ctx.session().notifications().limit(PAGE).page().await?;
    let mut handed: Vec<String> = vec![];
    match cur.scan.clone() {
        None => {
            let mut fresh = vec![];
            for n in &head.items {
                if !covered(store, &cur, n)? {
                    fresh.push(n);
                }
            }
            let complete = !head.has_more || head.next_cursor.is_none() || reaches_mark(store, &cur, &head.items)?;
            if complete {
                if fresh.is_empty() {
                    return Ok(false);
                }
                for n in &fresh {
                    cur.raise(&mark_of(n));
                }
                let events: Vec<_> = fresh.iter().rev().map(|n| (mark_of(n), &n.raw, n.kind.clone())).collect();
                deliver(&ctx.agent, routes, &events, Lane::Live, &[], Some(&cur)).await?;
                handed.extend(fresh.iter().map(|n| n.id.clone()));
                prune_seen_now_and_then(store, &cur, pruned)?;
            } else {
                let top = head.items.first().map(mark_of).unwrap_or(Mark { at_ms: None, id: String::new() });
                tracing::info!(
                    "catching up: more than {} notifications arrived since the last poll; reading older pages down to the last one handled",
                    head.items.len()
                );
                *progress = Some(Progress::new("catching up: older notifications read", None));
                cur.scan = Some(Scan { top, next: head.next_cursor.clone(), staged: fresh.len() as u64, pages: 1 });
                store.stage(&cur, &fresh.iter().map(|n| &n.raw).collect::<Vec<_>>(), 0)?;
            }
        }
        Some(scan) => {
            // New since the catch-up started (above its top): handed over now, not after the backlog.
            if let Some(pos) = head.items.iter().position(|n| n.id == scan.top.id || cur.below(mark_of(n).at_ms)) {
                let mut live = vec![];
                for n in &head.items[..pos] {
                    if !covered(store, &cur, n)? {
                        live.push(n);
                    }
                }
                let events: Vec<_> = live.iter().rev().map(|n| (mark_of(n), &n.raw, n.kind.clone())).collect();
                if deliver(&ctx.agent, routes, &events, Lane::Live, &[], None).await? > 0 {
                    handed.extend(live.iter().map(|n| n.id.clone()));
                }
            }
        }
    }
    if mark_read && !handed.is_empty() {
        mark_platform_read(ctx, handed).await;
    }
    if cur.scan.is_some() {
        // A walk resumed after a restart reports from where it stands.
        let p = progress.get_or_insert_with(|| Progress::new("catching up: older notifications read", None));
        walk(ctx, &mut cur, p).await?;
    }
    if cur.scan.as_ref().is_some_and(|s| s.next.is_none()) {
        drain(ctx, routes, &mut cur, mark_read).await?;
        *progress = None;
    }
    Ok(cur.scan.is_some())
}

/// Reads up to [`WALK_PAGES`] older pages of a catch-up, staging each with the cursor.
async fn walk(ctx: &Ctx, cur: &mut Cursor, progress: &mut Progress) -> Result<(), BehaviorError> {
    let store = ctx.store();
    for _ in 0..WALK_PAGES {
        let Some(next) = cur.scan.as_ref().and_then(|s| s.next.clone()) else {
            return Ok(());
        };
        let page = ctx.session().notifications().limit(PAGE).cursor(next).page().await?;
        let mut fresh = vec![];
        for n in &page.items {
            if !covered(store, cur, n)? {
                fresh.push(&n.raw);
            }
        }
        let done = page.items.is_empty() || !page.has_more || page.next_cursor.is_none() || reaches_mark(store, cur, &page.items)?;
        let Some(scan) = cur.scan.as_mut() else { return Ok(()) };
        let first = scan.staged;
        scan.staged += fresh.len() as u64;
        scan.pages += 1;
        scan.next = if done { None } else { page.next_cursor.clone() };
        store.stage(cur, &fresh, first)?;
        progress.add(page.items.len() as u64);
    }
    Ok(())
}

/// Hands a finished walk's backlog over, oldest first, a batch per transaction.
async fn drain(ctx: &Ctx, routes: &Routes, cur: &mut Cursor, mark_read: bool) -> Result<(), BehaviorError> {
    let store = ctx.store();
    let Some(scan) = cur.scan.clone() else { return Ok(()) };
    let mut total = 0usize;
    let mut progress = Progress::new("catching up: handed to the behaviors", Some(scan.staged));
    loop {
        let staged = store.staged(BATCH)?;
        if staged.is_empty() {
            break;
        }
        let notes: Vec<Notification> = staged.iter().filter_map(|s| Notification::from_raw(s.event.clone()).ok()).collect();
        for n in &notes {
            cur.raise(&mark_of(n));
        }
        let keys: Vec<Vec<u8>> = staged.iter().map(|s| s.key.clone()).collect();
        let events: Vec<_> = notes.iter().map(|n| (mark_of(n), &n.raw, n.kind.clone())).collect();
        total += deliver(&ctx.agent, routes, &events, Lane::Backlog, &keys, Some(cur)).await?;
        progress.add(staged.len() as u64);
        if mark_read && !notes.is_empty() {
            mark_platform_read(ctx, notes.iter().map(|n| n.id.clone()).collect()).await;
        }
    }
    cur.raise(&scan.top);
    cur.scan = None;
    store.save_cursor(cur)?;
    store.flush().await?;
    tracing::info!(handed = total, pages = scan.pages, "caught up: the backlog is handed to the behaviors, oldest first");
    prune(ctx, cur)?;
    Ok(())
}

async fn mark_platform_read(ctx: &Ctx, ids: Vec<String>) {
    if ctx.agent.dry_run {
        return;
    }
    if let Err(e) = ctx.session().mark_notifications_read(&ReadTarget::Ids(ids)).await {
        tracing::warn!(error = %e, "could not mark notifications read");
    }
}

/// Forgets seen-marks the cursor now decides for, and settled old side effects.
fn prune(ctx: &Ctx, cur: &Cursor) -> Result<(), BehaviorError> {
    prune_seen(ctx.store(), cur)?;
    ctx.store().prune_actions((ctx.now() - ACTION_RETENTION).timestamp_millis())?;
    Ok(())
}

/// Seen-marks are kept only inside the skew window below the high-water mark
/// (a small set: what arrived in those minutes).
fn prune_seen(store: &AgentStore, cur: &Cursor) -> Result<(), BehaviorError> {
    if let Some(at) = cur.hwm.as_ref().and_then(|h| h.at_ms) {
        store.prune_seen(at - 2 * crate::store::cursor::SKEW_MS)?;
    }
    Ok(())
}

/// [`prune_seen`] once the window's edge has moved a minute since the last
/// time (it walks every seen-mark: after each poll, a burst would walk them
/// once per page). Marks stay at most a minute longer than the window.
fn prune_seen_now_and_then(store: &AgentStore, cur: &Cursor, pruned: &mut i64) -> Result<(), BehaviorError> {
    if let Some(at) = cur.hwm.as_ref().and_then(|h| h.at_ms) {
        if at.saturating_sub(*pruned) >= 60_000 {
            prune_seen(store, cur)?;
            *pruned = at;
        }
    }
    Ok(())
}

/// Polls until cancelled; `first_delay` spreads the first polls of many agents.
pub async fn run(ctx: Ctx, routes: Routes, mark_read: bool, first_delay: std::time::Duration) -> Result<(), BehaviorError> {
    if !first_delay.is_zero() && !ctx.sleep(first_delay).await {
        return Ok(());
    }
    prune(&ctx, &ctx.store().cursor()?)?;
    let mut polls = 0u64;
    let mut progress = None;
    let mut pruned = i64::MIN;
    loop {
        let catching_up = step(&ctx, &routes, mark_read, &mut progress, &mut pruned).await?;
        polls += 1;
        if polls.is_multiple_of(PRUNE_EVERY) {
            prune(&ctx, &ctx.store().cursor()?)?;
        }
        if catching_up {
            if ctx.is_cancelled() {
                return Ok(());
            }
            continue;
        }
        if !ctx.sleep(ctx.agent.poll_interval).await {
            return Ok(());
        }
    }
}
