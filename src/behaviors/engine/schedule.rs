//! Cron schedules in an IANA time zone.
//!
//! The 5-field crontab form means what crontab means: day-of-week 0 or 7 is
//! Sunday, 1 is Monday. The `cron` crate numbers weekdays 1 = Sunday and
//! wants a seconds field, so a 5-field expression is translated (weekday
//! numbers become names). The 6- and 7-field forms (with seconds, and year)
//! are passed to the `cron` crate as they are (Quartz numbering, 1 = Sunday).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use rand::Rng;
use serde::Deserialize;

use super::ctx::Ctx;
use super::error::BehaviorError;

/// What to do about fire times missed while the daemon was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    #[default]
    Skip,
    RunOnce,
}

/// Calls `fire` at each fire time of `schedule` (plus up to `jitter` later, on the
/// agent's clock) until cancelled. Each fire time is fired at most once across
/// restarts and finished after a crash: it is kept as `pending_fire` while it
/// runs and as `last_fire` once done; a fire missed while the daemon was down
/// is run once or skipped, as `catch_up` says.
pub async fn drive<'a, F>(
    ctx: &'a Ctx,
    schedule: &Schedule,
    catch_up: CatchUp,
    jitter: Option<Duration>,
    mut fire: F,
) -> Result<(), BehaviorError>
where
    F: FnMut(DateTime<Utc>) -> BoxFuture<'a, Result<(), BehaviorError>>,
{
    let store = ctx.store();
    // False when stopped before the fire was done (it stays pending).
    let mut once = async |at: DateTime<Utc>| -> Result<bool, BehaviorError> {
        store.put(&ctx.behavior, "pending_fire", &at.timestamp_millis())?;
        // A transient failure costs a pause and the fire again, not a restart.
        if !ctx.round(|| fire(at)).await? {
            return Ok(false);
        }
        store.put(&ctx.behavior, "last_fire", &at.timestamp_millis())?;
        store.remove(&ctx.behavior, "pending_fire")?;
        store.flush().await?;
        Ok(true)
    };
    let now = ctx.now();
    // A fire that was started but not finished is finished first (exactly once).
    if let Some(at) = store.get::<i64>(&ctx.behavior, "pending_fire")?.and_then(DateTime::from_timestamp_millis) {
        if !once(at).await? {
            return Ok(());
        }
    }
    let last: Option<i64> = store.get(&ctx.behavior, "last_fire")?;
    let mut after = match last.and_then(DateTime::from_timestamp_millis) {
        Some(l) => {
            match (schedule.next_after(l).filter(|n| *n <= now), catch_up) {
                (Some(m), CatchUp::RunOnce) => {
                    tracing::info!(missed = %m, "catching up one missed run");
                    if !once(m).await? {
                        return Ok(());
                    }
                }
                (Some(m), CatchUp::Skip) => tracing::info!(first_missed = %m, "skipping runs missed while stopped"),
                _ => {}
            }
            now.max(l)
        }
        None => now,
    };
    loop {
        let Some(next) = schedule.next_after(after) else {
            tracing::info!("the schedule has no further fire times");
            ctx.cancel.cancelled().await;
            return Ok(());
        };
        let jitter = jitter.map(|j| Duration::from_millis(rand::rng().random_range(0..=j.as_millis() as u64))).unwrap_or_default();
        tracing::debug!(%next, jitter_ms = jitter.as_millis() as u64, "next fire");
        // Jitter is a wall-clock offset after the fire time (on the agent's clock).
        if !ctx.sleep_until(next + chrono::Duration::from_std(jitter).unwrap_or_default()).await {
            return Ok(());
        }
        if !once(next).await? {
            return Ok(());
        }
        after = next;
    }
}

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: cron::Schedule,
    pub tz: Tz,
    pub expr: String,
}

const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn day_number(s: &str) -> Result<u32, String> {
    if let Some(i) = DAYS.iter().position(|d| d.eq_ignore_ascii_case(s)) {
        return Ok(i as u32);
    }
    match s.parse::<u32>() {
        Ok(n) if n <= 7 => Ok(n % 7),
        _ => Err(format!("day of week {s:?} is not 0-7 or SUN-SAT")),
    }
}

/// Crontab day-of-week field → the set of days (0 = Sunday) → `cron` crate names.
fn translate_dow(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok("*".into());
    }
    let mut days = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step in {part:?}"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("step 0 in {part:?}"));
        }
        let (lo, hi) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (day_number(a)?, b.parse::<u32>().ok().filter(|n| *n == 7).map(|_| 7).unwrap_or(day_number(b)?));
            (a, b)
        } else {
            let d = day_number(range)?;
            (d, if part.contains('/') { 6 } else { d })
        };
        if lo > hi {
            return Err(format!("range {range:?} runs backwards"));
        }
        let mut d = lo;
        while d <= hi {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    if days.iter().all(|d| *d) {
        return Ok("*".into());
    }
    Ok(days.iter().enumerate().filter(|(_, on)| **on).map(|(i, _)| DAYS[i]).collect::<Vec<_>>().join(","))
}

/// Turns a user's expression into the `cron` crate's form.
pub fn normalize(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.len() {
        5 => Ok(format!("0 {} {} {} {} {}", fields[0], fields[1], fields[2], fields[3], translate_dow(fields[4])?)),
        6 | 7 => Ok(fields.join(" ")),
        n => Err(format!("expected 5 fields (minute hour day month weekday) or 6-7 with seconds, got {n}")),
    }
}

/// Why a schedule cannot be used; which key it points at is its variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone {0:?} (expected an IANA name such as Europe/Paris)")]
    TimeZone(String),
    #[error("{0}")]
    Cron(String),
}

impl ScheduleError {
    /// The behavior key the problem is about.
    pub fn key(&self) -> &'static str {
        match self {
            ScheduleError::TimeZone(_) => "timezone",
            ScheduleError::Cron(_) => "schedule",
        }
    }
}

impl Schedule {
    pub fn parse(expr: &str, tz: &str) -> Result<Schedule, ScheduleError> {
        let tz: Tz = tz.parse().map_err(|_| ScheduleError::TimeZone(tz.to_string()))?;
        let norm = normalize(expr).map_err(ScheduleError::Cron)?;
        let cron = cron::Schedule::from_str(&norm).map_err(|e| ScheduleError::Cron(format!("invalid cron expression {expr:?}: {e}")))?;
        Ok(Schedule { cron, tz, expr: expr.to_string() })
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.after(&t.with_timezone(&self.tz)).next().map(|d| d.with_timezone(&Utc))
    }

    /// The next `n` fire times after `t`, in the schedule's zone.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Tz>> {
        self.cron.after(&t.with_timezone(&self.tz)).take(n).collect()
    }
}

/// Checks a cron expression and its time zone, each at its own key.
pub fn check_schedule(c: &mut crate::diagnostics::Check<'_>, expr: &str, tz: &str) {
    if let Err(e) = Schedule::parse(expr, tz) {
        c.problem(e.key(), e.to_string());
    }
}

impl From<ScheduleError> for super::error::BehaviorError {
    fn from(e: ScheduleError) -> Self {
        super::error::BehaviorError::new(super::error::ErrorKind::Schedule, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    #[test]
    fn five_field_weekdays_mean_what_crontab_means() {
        let s = Schedule::parse("0 9 * * 1", "UTC").unwrap();
        // 2026-11-28 is a Saturday.
        let start = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let next = s.next_after(start).unwrap();
        assert_eq!(next.weekday(), Weekday::Mon);
        assert_eq!((next.hour(), next.minute()), (9, 0));
        for (expr, day) in
            [("0 9 * * 0", Weekday::Sun), ("0 9 * * 7", Weekday::Sun), ("0 9 * * 6", Weekday::Sat), ("0 9 * * 5", Weekday::Fri)]
        {
            let n = Schedule::parse(expr, "UTC").unwrap().next_after(start).unwrap();
            assert_eq!(n.weekday(), day, "{expr}");
        }
        let weekdays = Schedule::parse("30 8 * * 1-5", "UTC").unwrap();
        let days: Vec<Weekday> = weekdays.upcoming(start, 5).iter().map(|d| d.weekday()).collect();
        assert_eq!(days, vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri]);
        let wrap = Schedule::parse("0 0 * * 5-7", "UTC").unwrap();
        let days: Vec<Weekday> = wrap.upcoming(start, 3).iter().map(|d| d.weekday()).collect();
        assert_eq!(days, vec![Weekday::Sun, Weekday::Fri, Weekday::Sat]);
    }

    #[test]
    fn time_zone_is_applied() {
        let s = Schedule::parse("0 9 * * *", "America/New_York").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap();
        let next = s.next_after(start).unwrap();
        assert_eq!(next.hour(), 14, "09:00 EST is 14:00 UTC");
    }

    #[test]
    fn six_field_form_with_seconds() {
        let s = Schedule::parse("*/10 * * * * *", "UTC").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 1).unwrap();
        assert_eq!(s.next_after(start).unwrap().second(), 10);
    }

    #[test]
    fn errors_are_clear() {
        assert!(Schedule::parse("0 9 * *", "UTC").unwrap_err().to_string().contains("expected 5 fields"));
        assert!(Schedule::parse("0 9 * * 8", "UTC").unwrap_err().to_string().contains("day of week"));
        assert!(Schedule::parse("0 9 * * *", "Mars/Olympus").unwrap_err().to_string().contains("time zone"));
        assert!(Schedule::parse("61 9 * * *", "UTC").is_err());
    }
}
