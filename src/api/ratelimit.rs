//! Client-side rate budgets: spend the platform's per-minute allowance before
//! the server has to say no.
//!
//! Each class (reads, writes, auth) has a GCRA limiter (governor) at the
//! configured rate, plus a view of the server's own window taken from
//! `X-RateLimit-Remaining`/`-Reset`: when the server says the window is spent,
//! every task of the agent waits for the reset instead of collecting 429s.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

/// Which budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Read,
    Write,
    Auth,
}

impl Class {
    pub fn of(method: &str, path: &str) -> Class {
        if path.starts_with("/api/auth/") {
            Class::Auth
        } else if method == "GET" || method == "HEAD" {
            Class::Read
        } else {
            Class::Write
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Auth => "auth",
        }
    }
}

/// Requests per minute for each class; the platform's documented numbers by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    pub reads_per_minute: u32,
    pub writes_per_minute: u32,
    pub auth_per_minute: u32,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets { reads_per_minute: 100, writes_per_minute: 30, auth_per_minute: 10 }
    }
}

impl Budgets {
    /// No client-side limit (benchmarks against a sandbox without limits).
    pub fn unlimited() -> Self {
        Budgets { reads_per_minute: 0, writes_per_minute: 0, auth_per_minute: 0 }
    }
}

#[derive(Debug, Default)]
struct ServerWindow {
    remaining: Option<u32>,
    reset_at: Option<Instant>,
}

struct ClassBudget {
    gcra: Option<DefaultDirectRateLimiter>,
    server: Mutex<ServerWindow>,
}

impl ClassBudget {
    fn new(per_minute: u32) -> Self {
        let gcra = NonZeroU32::new(per_minute).map(|n| {
            // A small burst keeps start-up polite: never the whole minute's allowance at once.
            let burst = NonZeroU32::new((per_minute / 10).max(1)).unwrap_or(NonZeroU32::MIN);
            let period = Duration::from_secs(60) / n.get();
            let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_minute(n)).allow_burst(burst);
            RateLimiter::direct(quota)
        });
        ClassBudget { gcra, server: Mutex::new(ServerWindow::default()) }
    }
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

    /// Waits until a request of class `c` may be sent, and books it.
    pub async fn acquire(&self, c: Class) {
        let b = self.budget(c);
        if let Some(g) = &b.gcra {
            g.until_ready().await;
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
