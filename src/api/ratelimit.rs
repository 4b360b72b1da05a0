//! Client-side rate budgets: spend the platform's per-minute allowance before
//! the server has to say no.
//!
//! Each class (reads, writes, auth) has a GCRA limiter (governor) at the
//! configured rate, plus a view of the server's own window taken from
//! `X-RateLimit-Remaining`/`-Reset`: when the server says the window is spent,
//! every task of the agent waits for the reset instead of collecting 429s.
//!
//! Requests carry a [`Priority`]: when several tasks of an agent wait for the
//! same budget, the most urgent one takes the next slot (replies before
//! follow-backs before posts before engagement); among equals, first come
//! first served. A less urgent request never takes a slot while a more urgent
//! one waits for it. `low` work (engagement, networking) also spends at most
//! three quarters of each budget, so that the rest refills the burst a wave
//! of replies starts with.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use crate::wire::rates::{Budgets, Class};

/// Who goes first when an agent's budget is short; the default follows the
/// behavior's kind (replies and DMs urgent, follow-backs high, posts and
/// generations normal, engagement and networking low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Urgent,
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    pub fn name(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

#[derive(Debug, Default)]
struct ServerWindow {
    remaining: Option<u32>,
    reset_at: Option<Instant>,
}

struct ClassBudget {
    gcra: Option<DefaultDirectRateLimiter>,
    /// What `low` requests pass first: three quarters of the rate, no burst.
    background: Option<DefaultDirectRateLimiter>,
    server: Mutex<ServerWindow>,
    /// Requests waiting for a slot, most urgent (then oldest) first.
    queue: Mutex<Queue>,
    /// Wakes the waiters when the queue changes.
    turn: Notify,
}

#[derive(Default)]
struct Queue {
    waiting: BTreeSet<(Priority, u64)>,
    next: u64,
}

/// A place in a budget's queue; leaving it (also by cancellation) lets the next one go.
struct Ticket<'a> {
    budget: &'a ClassBudget,
    key: (Priority, u64),
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        lock(&self.budget.queue).waiting.remove(&self.key);
        self.budget.turn.notify_waiters();
    }
}

impl ClassBudget {
    /// Waits for the GCRA slot in priority order.
    async fn take_slot(&self, gcra: &DefaultDirectRateLimiter, p: Priority) {
        let key = {
            let mut q = lock(&self.queue);
            q.next += 1;
            let key = (p, q.next);
            q.waiting.insert(key);
            key
        };
        let _ticket = Ticket { budget: self, key };
        // A newcomer may outrank the one at the head: let it look again.
        self.turn.notify_waiters();
        loop {
            let changed = self.turn.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let first = lock(&self.queue).waiting.first() == Some(&key);
            if !first {
                changed.await;
                continue;
            }
            match gcra.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(gcra.clock().now());
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = changed => {}
                    }
                }
            }
        }
    }
}

impl ClassBudget {
    fn new(per_minute: u32) -> Self {
        // A small burst keeps start-up polite: never the whole minute's allowance at once.
        let gcra = NonZeroU32::new(per_minute).map(|n| limiter(n, (per_minute / 10).max(1)));
        let background = NonZeroU32::new(per_minute).map(|n| limiter(NonZeroU32::new(n.get() * 3 / 4).unwrap_or(NonZeroU32::MIN), 1));
        ClassBudget {
            gcra,
            background,
            server: Mutex::new(ServerWindow::default()),
            queue: Mutex::new(Queue::default()),
            turn: Notify::new(),
        }
    }
}

/// A GCRA limiter of `n` a minute with a burst of `burst`.
fn limiter(n: NonZeroU32, burst: u32) -> DefaultDirectRateLimiter {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs(60) / n.get();
    let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_minute(n)).allow_burst(burst);
    // One clock for all limiters: making one reads the CPU's features, 7% of starting 10,000 agents.
    static CLOCK: std::sync::OnceLock<governor::clock::DefaultClock> = std::sync::OnceLock::new();
    RateLimiter::direct_with_clock(quota, CLOCK.get_or_init(Default::default).clone())
}

/// Counters a session exposes for metrics and tests.
#[derive(Debug, Default)]
pub struct RateStats {
    /// Times a task waited for the server's window to reset.
    pub window_waits: AtomicU64,
    /// 429 answers received.
    pub http_429: AtomicU64,
}

/// The budgets of one agent, shared by all its tasks.
pub struct RateLimits {
    read: ClassBudget,
    write: ClassBudget,
    auth: ClassBudget,
    pub stats: RateStats,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    /// What the server said is left of each window (read, write, auth) in its last answer, if it said.
    pub fn server_remaining(&self) -> [(&'static str, Option<u32>); 3] {
        let left = |b: &ClassBudget| crate::sync::lock(&b.server).remaining;
        [("read", left(&self.read)), ("write", left(&self.write)), ("auth", left(&self.auth))]
    }

    pub fn new(b: Budgets) -> Self {
        RateLimits {
            read: ClassBudget::new(b.reads_per_minute),
            write: ClassBudget::new(b.writes_per_minute),
            auth: ClassBudget::new(b.auth_per_minute),
            stats: RateStats::default(),
        }
    }

    fn budget(&self, c: Class) -> &ClassBudget {
        match c {
            Class::Read => &self.read,
            Class::Write => &self.write,
            Class::Auth => &self.auth,
        }
    }

    /// Waits until a request of class `c` may be sent (after every more urgent
    /// one waiting for the same budget), and books it.
    pub async fn acquire(&self, c: Class, p: Priority) {
        let b = self.budget(c);
        if let (Some(bg), Priority::Low) = (&b.background, p) {
            bg.until_ready().await;
        }
        if let Some(g) = &b.gcra {
            b.take_slot(g, p).await;
        }
        loop {
            let wait = {
                let mut w = lock(&b.server);
                let now = Instant::now();
                match (w.remaining, w.reset_at) {
                    (Some(0), Some(reset)) if reset > now => Some(reset - now),
                    (Some(0), _) => {
                        *w = ServerWindow::default();
                        None
                    }
                    (Some(n), _) => {
                        w.remaining = Some(n - 1);
                        None
                    }
                    (None, _) => None,
                }
            };
            match wait {
                Some(d) => {
                    self.stats.window_waits.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(class = c.name(), wait_ms = d.as_millis() as u64, "rate budget spent, waiting for the window to reset");
                    tokio::time::sleep(d).await;
                }
                None => return,
            }
        }
    }

    /// Takes the server's view of the window from a response's headers.
    pub fn observe(&self, c: Class, headers: &HeaderMap) {
        let remaining = header_u64(headers, "x-ratelimit-remaining");
        let reset = header_f64(headers, "x-ratelimit-reset").map(reset_instant);
        if remaining.is_none() && reset.is_none() {
            return;
        }
        let mut w = lock(&self.budget(c).server);
        if let Some(r) = remaining {
            let r = u32::try_from(r).unwrap_or(u32::MAX);
            // Answers to concurrent requests arrive out of order: keep the lower count within a window.
            w.remaining = Some(match (w.remaining, reset, w.reset_at) {
                (Some(cur), Some(new_reset), Some(old_reset)) if new_reset <= old_reset + Duration::from_millis(500) => cur.min(r),
                _ => r,
            });
        }
        if reset.is_some() {
            w.reset_at = reset;
        }
    }

    /// A 429: nothing of class `c` goes out until `after` has passed.
    pub fn on_429(&self, c: Class, after: Duration) {
        self.stats.http_429.fetch_add(1, Ordering::Relaxed);
        let mut w = lock(&self.budget(c).server);
        w.remaining = Some(0);
        w.reset_at = Some(Instant::now() + after);
    }
}

use crate::sync::lock;

fn header_f64(h: &HeaderMap, name: &str) -> Option<f64> {
    h.get(name)?.to_str().ok()?.trim().parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| f.max(0.0))
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    header_f64(h, name).map(|f| f.ceil() as u64)
}

/// `X-RateLimit-Reset` is read as Unix seconds when it looks like a timestamp,
/// else as seconds from now; a fraction is kept.
pub fn reset_instant(v: f64) -> Instant {
    let now = Instant::now();
    let delta = if v > 1_000_000_000.0 { v - SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64() } else { v };
    now + Duration::from_secs_f64(delta.clamp(0.0, 3600.0))
}

/// How long to wait after a 429: `retry_after` in the body, else the reset header, else a minute.
pub fn retry_after(headers: &HeaderMap, body: &serde_json::Value) -> Duration {
    if let Some(s) = body.get("retry_after").and_then(|v| v.as_f64()) {
        return Duration::from_secs_f64(s.clamp(0.0, 3600.0));
    }
    if let Some(v) = header_u64(headers, "retry-after") {
        return Duration::from_secs(v.min(3600));
    }
    if let Some(v) = header_f64(headers, "x-ratelimit-reset") {
        return reset_instant(v).saturating_duration_since(Instant::now());
    }
    Duration::from_secs(60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// With the budget spent, an urgent request that arrives after several less
    /// urgent ones still takes the next slot; the rest go by priority, then in arrival order.
    #[tokio::test]
    async fn the_most_urgent_waiter_takes_the_next_slot() {
        let limits = Arc::new(RateLimits::new(Budgets { reads_per_minute: 0, writes_per_minute: 600, auth_per_minute: 0 }));
        // Spend the burst (60) so that every further write waits for a slot.
        for _ in 0..60 {
            limits.acquire(Class::Write, Priority::Normal).await;
        }
        let order = Arc::new(Mutex::new(vec![]));
        let mut tasks = vec![];
        for (i, p) in [(0, Priority::Normal), (1, Priority::Normal), (2, Priority::High), (3, Priority::Urgent)] {
            let (l, o) = (limits.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                l.acquire(Class::Write, p).await;
                lock(&o).push(i);
            }));
            // Each is in the queue before the next arrives.
            while lock(&limits.write.queue).waiting.len() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*lock(&order), vec![3, 2, 0, 1]);
    }

    /// A waiter that gives up (its task is cancelled) leaves the queue.
    #[tokio::test]
    async fn a_cancelled_waiter_does_not_block_the_queue() {
        let limits = Arc::new(RateLimits::new(Budgets { reads_per_minute: 0, writes_per_minute: 600, auth_per_minute: 0 }));
        for _ in 0..60 {
            limits.acquire(Class::Write, Priority::Normal).await;
        }
        let l = limits.clone();
        let urgent = tokio::spawn(async move { l.acquire(Class::Write, Priority::Urgent).await });
        while lock(&limits.write.queue).waiting.is_empty() {
            tokio::task::yield_now().await;
        }
        urgent.abort();
        let _ = urgent.await;
        assert!(lock(&limits.write.queue).waiting.is_empty());
        tokio::time::timeout(Duration::from_secs(5), limits.acquire(Class::Write, Priority::Normal))
            .await
            .expect("the next one gets its slot");
    }
}

#[cfg(test)]
mod background {
    use super::*;

    /// `low` requests alone get three quarters of the rate and no burst.
    #[tokio::test]
    async fn low_work_leaves_a_quarter_of_the_budget() {
        let limits = RateLimits::new(Budgets { reads_per_minute: 0, writes_per_minute: 1200, auth_per_minute: 0 });
        let start = Instant::now();
        for _ in 0..30 {
            limits.acquire(Class::Write, Priority::Low).await;
        }
        // 900 a minute, one every 66.7 ms: 29 waits after the first.
        assert!(start.elapsed() >= Duration::from_millis(29 * 66), "{:?}", start.elapsed());
        // The shared budget still holds most of its burst of 120 for urgent work.
        let shared = limits.write.gcra.as_ref().unwrap();
        assert!(matches!(shared.check_n(NonZeroU32::new(90).unwrap()), Ok(Ok(()))), "90 slots left at once");
    }
}
