//! Caps: at most so many of an action in any hour and in any day, on the
//! agent's clock. The one cap mechanism of every behavior: a [`Cap`] (the
//! YAML's `per_hour` / `per_day`, `max_per_hour`...) checked against a
//! [`Window`] of the actions taken.
//!
//! Guarantees:
//! - The windows slide: any 60 minutes and any 24 hours, not clock hours
//!   and days (a clock-hour cap lets twice the cap through around the hour).
//! - A window never undercounts: actions are kept per minute in the last
//!   hour and per hour before that, and a bucket counts until its latest
//!   action has left the window, so rounding only holds a cap longer (at
//!   most a minute for the hour, an hour for the day), never loosens it. At
//!   most about 145 buckets, whatever the volume.
//! - An action is counted before it is sent: a crash between the two can
//!   only make a cap stricter, never let one more through. [`Cap::take`]
//!   keeps the window in the behavior's state; `auto_reply` rebuilds its
//!   window from its reply records (counted with the intent, in one write).

use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::error::BehaviorError;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// At most this many of one action in any hour and in any day (on the agent's clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Cap {
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
}

/// Actions taken in the last hour (per minute) and the last day (per hour).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    minutes: Vec<Bucket>,
    hours: Vec<Bucket>,
}

/// Actions in one minute or hour: its index, how many, the latest one's time (ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Bucket(i64, u32, i64);

impl Window {
    /// Actions within `window_ms` before `now` (a bucket counts while its latest action does).
    pub fn within(&self, now: i64, window_ms: i64) -> u32 {
        self.minutes.iter().chain(&self.hours).filter(|b| now - b.2 < window_ms).map(|b| b.1).sum()
    }

    /// Counts one action at `at`; actions are added in time order.
    pub fn add(&mut self, at: i64) {
        let mut recent = Vec::with_capacity(self.minutes.len() + 1);
        for b in self.minutes.drain(..) {
            if at - b.2 < HOUR_MS {
                recent.push(b);
            } else {
                let h = (b.0 * MINUTE_MS).div_euclid(HOUR_MS);
                match self.hours.last_mut() {
                    Some(last) if last.0 == h => {
                        last.1 += b.1;
                        last.2 = last.2.max(b.2);
                    }
                    _ => self.hours.push(Bucket(h, b.1, b.2)),
                }
            }
        }
        self.hours.retain(|b| at - b.2 < DAY_MS);
        let minute = at.div_euclid(MINUTE_MS);
        match recent.last_mut() {
            Some(b) if b.0 == minute => {
                b.1 += 1;
                b.2 = b.2.max(at);
            }
            _ => recent.push(Bucket(minute, 1, at)),
        }
        self.minutes = recent;
    }

    fn len(&self) -> usize {
        self.minutes.len() + self.hours.len()
    }
}

impl Cap {
    pub const fn new(per_hour: u32, per_day: u32) -> Cap {
        Cap { per_hour: Some(per_hour), per_day: Some(per_day) }
    }

    /// Whether one more action fits in `w` at `now`.
    pub fn admits(&self, w: &Window, now: i64) -> bool {
        self.per_hour.is_none_or(|c| w.within(now, HOUR_MS) < c) && self.per_day.is_none_or(|c| w.within(now, DAY_MS) < c)
    }

    fn key(action: &str) -> String {
        format!("cap:{action}")
    }

    /// The window of `action` kept in the behavior's state. The first time,
    /// an earlier version's clock-hour and clock-day counters are taken in
    /// as if their actions were all taken now (stricter, never looser).
    fn window(ctx: &Ctx, action: &str) -> Result<Window, BehaviorError> {
        let store = ctx.store();
        if let Some(w) = store.get(&ctx.behavior, &Self::key(action))? {
            return Ok(w);
        }
        let now = ctx.now();
        let legacy = |fmt: &str| store.get::<u32>(&ctx.behavior, &format!("count:{action}:{}", now.format(fmt)));
        let (hour, day) = (legacy("%Y-%m-%dT%H")?.unwrap_or(0), legacy("%Y-%m-%d")?.unwrap_or(0));
        let mut w = Window::default();
        let ms = now.timestamp_millis();
        if day > 0 {
            // The day's actions but the hour's an hour ago (the day window holds them), the hour's now.
            w.hours.push(Bucket((ms - HOUR_MS).div_euclid(HOUR_MS), day.saturating_sub(hour), ms - HOUR_MS));
            w.hours.retain(|b| b.1 > 0);
        }
        if hour > 0 {
            w.minutes.push(Bucket(ms.div_euclid(MINUTE_MS), hour, ms));
        }
        Ok(w)
    }

    /// Whether one more `action` fits now.
    pub fn left(&self, ctx: &Ctx, action: &str) -> Result<bool, BehaviorError> {
        Ok(self.admits(&Self::window(ctx, action)?, ctx.now().timestamp_millis()))
    }

    /// Counts one `action` when it fits; false (and nothing counted) when it does not.
    pub fn take(&self, ctx: &Ctx, action: &str) -> Result<bool, BehaviorError> {
        let mut w = Self::window(ctx, action)?;
        let now = ctx.now().timestamp_millis();
        if !self.admits(&w, now) {
            return Ok(false);
        }
        w.add(now);
        debug_assert!(w.len() <= 150);
        ctx.store().put(&ctx.behavior, &Self::key(action), &w)?;
        Ok(true)
    }

    /// Forgets an earlier version's clock-hour and clock-day counters once
    /// their day is over (today's are read into a window at first use).
    pub fn forget_old(ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let today = ctx.now().format("%Y-%m-%d").to_string();
        for (k, _) in store.scan::<u32>(&ctx.behavior, "count:")? {
            let stamp = k.rsplit(':').next().unwrap_or_default();
            if stamp.get(..10).is_some_and(|d| d < today.as_str()) {
                store.remove(&ctx.behavior, &k)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One action a minute for 26 hours: bounded buckets, counts exact up to
    /// the rounding and never fewer than were taken in the window.
    #[test]
    fn windows_stay_bounded_and_never_undercount() {
        let mut w = Window::default();
        let t0 = 1_700_000_000_000i64;
        let mut taken = vec![];
        for i in 0..26 * 60 {
            let now = t0 + i * MINUTE_MS + 7_000;
            w.add(now);
            taken.push(now);
            let exact = |span: i64| taken.iter().filter(|t| now - **t < span).count() as u32;
            let (hour, day) = (w.within(now, HOUR_MS), w.within(now, DAY_MS));
            assert!(hour >= exact(HOUR_MS) && hour <= exact(HOUR_MS) + 1, "hour {hour} vs {}", exact(HOUR_MS));
            assert!(day >= exact(DAY_MS) && day <= exact(DAY_MS) + 60, "day {day} vs {}", exact(DAY_MS));
            assert!(w.len() <= 146, "{} buckets", w.len());
        }
    }

    /// Actions taken at one instant leave the window exactly an hour (a day) later.
    #[test]
    fn a_cap_reopens_when_its_actions_leave_the_window() {
        let cap = Cap::new(3, 5);
        let mut w = Window::default();
        let t0 = 1_700_000_000_000i64;
        for _ in 0..3 {
            assert!(cap.admits(&w, t0));
            w.add(t0);
        }
        assert!(!cap.admits(&w, t0 + HOUR_MS - 1), "three an hour");
        assert!(cap.admits(&w, t0 + HOUR_MS), "the hour is over");
        w.add(t0 + HOUR_MS);
        w.add(t0 + HOUR_MS);
        assert!(!cap.admits(&w, t0 + 2 * HOUR_MS), "five a day");
        assert!(!cap.admits(&w, t0 + DAY_MS - 1), "five a day, all day");
        assert!(cap.admits(&w, t0 + DAY_MS + HOUR_MS), "a day after the last of them");
        let mut sliding = Window::default();
        sliding.add(t0 + HOUR_MS - 1_000);
        sliding.add(t0 + HOUR_MS - 1_000);
        sliding.add(t0 + HOUR_MS - 1_000);
        assert!(!cap.admits(&sliding, t0 + HOUR_MS + 1_000), "not a clock hour: three in the last 60 minutes");
    }
}
