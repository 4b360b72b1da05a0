//! The one notification poller of an agent: reads new notifications and
//! hands each to the inbox of every behavior that wants it, durably, before
//! it counts as seen. Behaviors never poll.
//!
//! Guarantees: no cap on how many notifications a poll may find. When more
//! arrived than one page shows (a long downtime, a burst between two polls),
//! the poller walks older pages until it meets its durable high-water mark,
//! handing each page over into a lane of the inboxes the behaviors do not see
//! yet, then its seen-marks, then where the walk stands (so a SIGKILL resumes
//! the walk, it does not restart or skip it; a page read again after a crash
//! in the middle of its hand-over gives each notification the walk position
//! it had, and none the entry of another). The walk's
//! end makes the lane visible in one write: the backlog, oldest first.
//! Memory holds one page at most. Notifications arriving meanwhile go to the
//! live lane of the inboxes, which behaviors take in turn with the backlog.

use std::sync::Arc;

use tokio::sync::Notify;

pub use crate::behaviors::engine::routes::{Route, Routes};

use crate::api::ReadTarget;
use crate::store::{AgentStore, Cursor, Handover, Lane, Mark, Scan, ACTION_RETENTION};
use crate::wire::types::{Heading, Notification, NotificationType};

use super::task::Task;
use crate::behaviors::{Agent, BehaviorError};
use crate::progress::Progress;

/// Notifications per page read (the platform's maximum).
pub const PAGE: u32 = 100;
/// Older pages read per step of a catch-up before the newest page is looked at again.
pub const WALK_PAGES: usize = 10;
/// Notifications staged by an older version moved into a lane per hand-over.
const BATCH: usize = 200;
/// Housekeeping (pruning) every this many polls, or once the agent's clock
/// has moved [`PRUNE_AFTER`] since the last, whichever comes first.
const PRUNE_EVERY: u64 = 200;
const PRUNE_AFTER: chrono::Duration = chrono::Duration::hours(1);
/// A complete poll (down to the high-water mark) at least this often; see [`step`].
pub const COMPLETE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// Taken off the platform's `Date` (whole seconds, stamped a moment after the
/// page was listed) before it is trusted as the time of the listing.
const DATE_MARGIN_MS: i64 = 5_000;

/// When a notification was created, and its id.
pub fn mark_of(n: &Heading) -> Mark {
    let at_ms = n.created_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis());
    Mark { at_ms, id: n.id.clone() }
}

/// Already handed over (or certainly older than everything not yet handed over).
fn covered(store: &AgentStore, cur: &Cursor, n: &Heading) -> Result<bool, BehaviorError> {
    Ok(n.id.is_empty() || cur.below(mark_of(n).at_ms) || store.seen(&n.id)?)
}

/// Whether a page reaches back to what was handed over before: it holds a
/// notification below the high-water mark (or, without timestamps, one seen).
fn reaches_mark(store: &AgentStore, cur: &Cursor, items: &[Heading]) -> Result<bool, BehaviorError> {
    for n in items {
        let at = mark_of(n).at_ms;
        if cur.below(at) || (at.is_none() && !n.id.is_empty() && store.seen(&n.id)?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Hands notifications to the live lane of the inboxes of every behavior that
/// wants them, then writes their seen-marks; skips ones already seen. Used
/// by the poller and the webhook receiver.
pub async fn hand_over(agent: &Agent, routes: &Routes, notifications: &[Notification]) -> Result<usize, BehaviorError> {
    let headings: Vec<Heading> = notifications.iter().map(Heading::from).collect();
    let events: Vec<Event> = headings.iter().map(|n| Event::of(n, 0)).collect();
    deliver(agent, routes, &events, Lane::Live, &[], None).await
}

/// A notification to hand over, and its walk position (for [`Lane::Walk`]).
struct Event<'a> {
    mark: Mark,
    raw: &'a serde_json::value::RawValue,
    kind: Option<NotificationType>,
    position: u64,
}

impl<'a> Event<'a> {
    fn of(n: &'a Heading, position: u64) -> Event<'a> {
        Event { mark: mark_of(n), raw: &n.raw, kind: n.notification_type.clone(), position }
    }
}

/// The one hand-over path: events in order, then `unstage` and `cursor`
/// (the order of [`AgentStore::hand_over`]). Behaviors are woken for the live
/// lane only (a walk's lane is woken when the walk is done).
async fn deliver(
    agent: &Agent,
    routes: &Routes,
    events: &[Event<'_>],
    lane: Lane,
    unstage: &[Vec<u8>],
    cursor: Option<&Cursor>,
) -> Result<usize, BehaviorError> {
    let _one_at_a_time = agent.handover.lock().await;
    let table = routes.read().map(|r| r.clone()).unwrap_or_default();
    let mut woken: Vec<Arc<Notify>> = vec![];
    let mut batch: Vec<Handover> = vec![];
    for e in events {
        let mark = &e.mark;
        if mark.id.is_empty() || agent.store.seen(&mark.id)? || batch.iter().any(|h| h.id == mark.id) {
            continue;
        }
        let to = crate::behaviors::engine::routes::routes_for(&table, e.kind.as_ref());
        for r in &to {
            if !woken.iter().any(|w| Arc::ptr_eq(w, &r.wake)) {
                woken.push(r.wake.clone());
            }
        }
        batch.push(Handover {
            id: &mark.id,
            at_ms: mark.at_ms,
            event: e.raw,
            behaviors: to.iter().map(|r| r.behavior.clone()).collect(),
            position: e.position,
        });
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
    if lane == Lane::Live {
        for w in woken {
            w.notify_one();
        }
    }
    Ok(batch.len())
}

/// What a poller keeps in memory between polls.
#[derive(Default)]
struct Polling {
    /// The catch-up's progress report, while one walks.
    progress: Option<Progress>,
    /// The high-water mark seen-marks were last pruned at.
    pruned: Option<i64>,
    /// When the last complete poll (one that read down to the mark) ended.
    complete_at: Option<std::time::Instant>,
}

/// The platform's clock when it listed `page`, less [`DATE_MARGIN_MS`], as a
/// mark: everything listed after that moment was created after it less
/// [`crate::store::cursor::SKEW_MS`], so a complete poll may raise the mark to it.
fn listed_at(page: &crate::wire::types::Page<Heading>, top: &Mark) -> Option<Mark> {
    page.date_ms.map(|d| Mark { at_ms: Some(d - DATE_MARGIN_MS), id: top.id.clone() })
}

/// One poll: the newest page, then (during a catch-up) up to [`WALK_PAGES`]
/// older ones, then the hand-over of a finished walk. True when a catch-up is
/// still walking (poll again at once).
///
/// A poll is complete when it reads down to the high-water mark: the newest
/// page reaches it, or a catch-up walks down to it. A poll whose newest page
/// holds notifications already handed over, and does not reach the mark
/// (more than a page arrived within the skew window), hands over what is new
/// on that page and stops there: one read, not the whole window again. What
/// the platform lists late below it is read by the next complete poll, at
/// most [`COMPLETE_EVERY`] later; the mark stays where the last complete poll
/// put it until then, so nothing is counted as handed over unread.
async fn step(task: &Task, routes: &Routes, mark_read: bool, polling: &mut Polling) -> Result<bool, BehaviorError> {
    let store = task.store();
    let mut cur = store.cursor()?;
    let head = task.session().notification_headings().limit(PAGE).page().await?;
    let mut handed: Vec<String> = vec![];
    match cur.scan.clone() {
        None => {
            // Not handed over yet, at their places on the page (the walk's positions, if one starts).
            let mut fresh = new_on_page(store, &cur, &head.items, 0)?;
            let known = head.items.iter().filter(|n| !n.id.is_empty()).count() > fresh.len();
            let top = head.items.first().map(mark_of).unwrap_or(Mark { at_ms: None, id: String::new() });
            let reaches = !head.has_more || head.next_cursor.is_none() || reaches_mark(store, &cur, &head.items)?;
            let due = polling.complete_at.is_none_or(|t| t.elapsed() >= COMPLETE_EVERY);
            if reaches || (known && !due) {
                if reaches {
                    polling.complete_at = Some(std::time::Instant::now());
                }
                if fresh.is_empty() {
                    return Ok(false);
                }
                let cursor = if reaches {
                    for e in &fresh {
                        cur.raise(&e.mark);
                    }
                    if let Some(at) = listed_at(&head, &top) {
                        cur.raise(&at);
                    }
                    Some(&cur)
                } else {
                    None
                };
                fresh.reverse();
                deliver(&task.agent, routes, &fresh, Lane::Live, &[], cursor).await?;
                handed.extend(fresh.iter().map(|e| e.mark.id.clone()));
                if reaches {
                    prune_seen_now_and_then(store, &cur, &mut polling.pruned)?;
                }
            } else {
                if !known {
                    tracing::info!(
                        "catching up: more than {} notifications arrived since the last poll; reading older pages down to the last one handled",
                        head.items.len()
                    );
                }
                polling.progress = Some(Progress::new("catching up: older notifications read", None));
                let lane = store.new_lane()?;
                let listed = listed_at(&head, &top).and_then(|m| m.at_ms);
                cur.scan = Some(Scan {
                    top,
                    next: head.next_cursor.clone(),
                    positions: head.items.len() as u64,
                    handed: fresh.len() as u64,
                    pages: 1,
                    lane: Some(lane),
                    listed_ms: listed,
                });
                deliver(&task.agent, routes, &fresh, Lane::Walk { scan: lane }, &[], Some(&cur)).await?;
                handed.extend(fresh.iter().map(|e| e.mark.id.clone()));
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
                let events: Vec<Event> = live.iter().rev().map(|n| Event::of(n, 0)).collect();
                if deliver(&task.agent, routes, &events, Lane::Live, &[], None).await? > 0 {
                    handed.extend(live.iter().map(|n| n.id.clone()));
                }
            }
        }
    }
    if mark_read && !handed.is_empty() {
        mark_platform_read(task, handed).await;
    }
    if cur.scan.as_ref().is_some_and(|s| s.lane.is_none()) || (cur.scan.is_some() && !store.staged(1)?.is_empty()) {
        adopt_staged(task, routes, &mut cur).await?;
    }
    if cur.scan.is_some() {
        // A walk resumed after a restart reports from where it stands.
        let p = polling.progress.get_or_insert_with(|| Progress::new("catching up: older notifications read", None));
        walk(task, routes, &mut cur, p, mark_read).await?;
    }
    if cur.scan.as_ref().is_some_and(|s| s.next.is_none()) {
        reveal(task, routes, &mut cur).await?;
        polling.progress = None;
        polling.complete_at = Some(std::time::Instant::now());
    }
    Ok(cur.scan.is_some())
}

/// Reads up to [`WALK_PAGES`] older pages of a catch-up, handing each over
/// into the walk's lane with the cursor.
async fn walk(task: &Task, routes: &Routes, cur: &mut Cursor, progress: &mut Progress, mark_read: bool) -> Result<(), BehaviorError> {
    let store = task.store();
    for _ in 0..WALK_PAGES {
        let Some((next, lane)) = cur.scan.as_ref().and_then(|s| Some((s.next.clone()?, s.lane?))) else {
            return Ok(());
        };
        let page = task.session().notification_headings().limit(PAGE).cursor(next).page().await?;
        let done = page.items.is_empty() || !page.has_more || page.next_cursor.is_none() || reaches_mark(store, cur, &page.items)?;
        let first = cur.scan.as_ref().map_or(0, |s| s.positions);
        let events = new_on_page(store, cur, &page.items, first)?;
        let Some(scan) = cur.scan.as_mut() else { return Ok(()) };
        scan.positions += page.items.len() as u64;
        scan.handed += events.len() as u64;
        scan.pages += 1;
        scan.next = if done { None } else { page.next_cursor.clone() };
        deliver(&task.agent, routes, &events, Lane::Walk { scan: lane }, &[], Some(cur)).await?;
        progress.add(page.items.len() as u64);
        if mark_read && !events.is_empty() {
            mark_platform_read(task, events.iter().map(|e| e.mark.id.clone()).collect()).await;
        }
    }
    Ok(())
}

/// The notifications of a page not handed over yet, oldest last, each at
/// walk position `first` plus its place on the page: a catch-up page read
/// again after a crash in the middle of its hand-over gives each the
/// position it had (its inbox key carries its id, so two never share one
/// whatever the platform lists the second time).
fn new_on_page<'a>(store: &AgentStore, cur: &Cursor, items: &'a [Heading], first: u64) -> Result<Vec<Event<'a>>, BehaviorError> {
    let mut events = vec![];
    for (at, n) in items.iter().enumerate() {
        if !covered(store, cur, n)? {
            events.push(Event::of(n, first + at as u64));
        }
    }
    Ok(events)
}

/// A walk begun by a version that staged its pages in the cursor's tree:
/// they move into a lane of their own (a batch per hand-over, each
/// leaving the staging area as it lands), then the walk goes on as any other.
/// A move a crash interrupted goes on into the lane it had begun.
async fn adopt_staged(task: &Task, routes: &Routes, cur: &mut Cursor) -> Result<(), BehaviorError> {
    let store = task.store();
    let Some(scan) = cur.scan.as_mut() else { return Ok(()) };
    let lane = match scan.lane {
        Some(lane) => lane,
        None => {
            let lane = store.new_lane()?;
            scan.lane = Some(lane);
            store.save_cursor(cur)?;
            lane
        }
    };
    loop {
        let staged = store.staged(BATCH)?;
        if staged.is_empty() {
            break;
        }
        let notes: Vec<(Heading, u64)> =
            staged.iter().filter_map(|s| Heading::from_raw(s.event.clone()).ok().map(|n| (n, s.position))).collect();
        let keys: Vec<Vec<u8>> = staged.iter().map(|s| s.key.clone()).collect();
        let events: Vec<Event> = notes.iter().map(|(n, at)| Event::of(n, *at)).collect();
        deliver(&task.agent, routes, &events, Lane::Walk { scan: lane }, &keys, Some(cur)).await?;
    }
    tracing::info!("a catch-up begun by an older version goes on from where it stood");
    Ok(())
}

/// The walk has met the mark: its lane becomes visible to the behaviors (one
/// write, the cursor's); the mark rises to the newest notification it covered,
/// or to the platform's clock when its first page was listed, if later.
async fn reveal(task: &Task, routes: &Routes, cur: &mut Cursor) -> Result<(), BehaviorError> {
    let store = task.store();
    let Some(scan) = cur.scan.take() else { return Ok(()) };
    cur.raise(&scan.top);
    if let Some(at) = scan.listed_ms {
        cur.raise(&Mark { at_ms: Some(at), id: scan.top.id.clone() });
    }
    store.save_cursor(cur)?;
    store.flush().await?;
    let wakes: Vec<Arc<Notify>> = routes.read().map(|r| r.iter().map(|r| r.wake.clone()).collect()).unwrap_or_default();
    for w in wakes {
        w.notify_one();
    }
    if scan.handed > 0 {
        tracing::info!(handed = scan.handed, pages = scan.pages, "caught up: the backlog is handed to the behaviors, oldest first");
    } else {
        tracing::debug!(pages = scan.pages, "read down to the mark: nothing listed late");
    }
    prune(task, cur)?;
    Ok(())
}

async fn mark_platform_read(task: &Task, ids: Vec<String>) {
    if task.agent.dry_run {
        return;
    }
    if let Err(e) = task.session().mark_notifications_read(&ReadTarget::Ids(ids)).await {
        tracing::warn!(error = %e, "could not mark notifications read");
    }
}

/// Forgets seen-marks the cursor now decides for, and settled old side effects.
fn prune(task: &Task, cur: &Cursor) -> Result<(), BehaviorError> {
    prune_seen(task.store(), cur)?;
    let n = task.store().prune_actions((task.now() - ACTION_RETENTION).timestamp_millis())?;
    if n > 0 {
        task.agent.metrics.records_pruned(n as u64);
    }
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
fn prune_seen_now_and_then(store: &AgentStore, cur: &Cursor, pruned: &mut Option<i64>) -> Result<(), BehaviorError> {
    if let Some(at) = cur.hwm.as_ref().and_then(|h| h.at_ms) {
        if pruned.is_none_or(|p| at.saturating_sub(p) >= 60_000) {
            prune_seen(store, cur)?;
            *pruned = Some(at);
        }
    }
    Ok(())
}

/// Polls until cancelled; `first_delay` spreads the first polls of many agents.
pub async fn run(task: Arc<Task>, routes: Routes, mark_read: bool, first_delay: std::time::Duration) -> Result<(), BehaviorError> {
    if !first_delay.is_zero() && !task.sleep(first_delay).await {
        return Ok(());
    }
    prune(&task, &task.store().cursor()?)?;
    let mut pruned_at = task.now();
    let mut polls = 0u64;
    let mut polling = Polling::default();
    task.agent.metrics.poller_started();
    loop {
        let catching_up = step(&task, &routes, mark_read, &mut polling).await?;
        task.agent.metrics.polled();
        polls += 1;
        if polls.is_multiple_of(PRUNE_EVERY) || task.now() - pruned_at >= PRUNE_AFTER {
            prune(&task, &task.store().cursor()?)?;
            pruned_at = task.now();
        }
        if catching_up {
            if task.is_cancelled() {
                return Ok(());
            }
            continue;
        }
        if !task.sleep(task.agent.poll_interval).await {
            return Ok(());
        }
    }
}
