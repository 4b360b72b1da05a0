//! Caps per action per clock hour and per day, on the agent's clock, kept in
//! the behavior's state. An action is counted before it is sent, so a crash
//! between the two can only make a cap stricter, never let one more through.

use serde::Deserialize;

use crate::behaviors::context::{BehaviorError, Ctx};

/// At most this many of one action per clock hour and per day (on the agent's clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Cap {
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
}

impl Cap {
    pub const fn new(per_hour: u32, per_day: u32) -> Cap {
        Cap { per_hour: Some(per_hour), per_day: Some(per_day) }
    }

    /// The hour and day counters of `action` now.
    fn counters(ctx: &Ctx, action: &str) -> [String; 2] {
        let now = ctx.now();
        [format!("count:{action}:{}", now.format("%Y-%m-%dT%H")), format!("count:{action}:{}", now.format("%Y-%m-%d"))]
    }

    fn used(ctx: &Ctx, action: &str) -> Result<([String; 2], u32, u32), BehaviorError> {
        let keys = Self::counters(ctx, action);
        let store = ctx.store();
        let h = store.get(&ctx.behavior, &keys[0])?.unwrap_or(0);
        let d = store.get(&ctx.behavior, &keys[1])?.unwrap_or(0);
        Ok((keys, h, d))
    }

    /// Whether one more `action` fits now.
    pub fn left(&self, ctx: &Ctx, action: &str) -> Result<bool, BehaviorError> {
        let (_, h, d) = Self::used(ctx, action)?;
        Ok(self.per_hour.is_none_or(|c| h < c) && self.per_day.is_none_or(|c| d < c))
    }

    /// Counts one `action` when it fits; false (and nothing counted) when it does not.
    pub fn take(&self, ctx: &Ctx, action: &str) -> Result<bool, BehaviorError> {
        let ([hour, day], h, d) = Self::used(ctx, action)?;
        if self.per_hour.is_some_and(|c| h >= c) || self.per_day.is_some_and(|c| d >= c) {
            return Ok(false);
        }
        ctx.store().put(&ctx.behavior, &hour, &(h + 1))?;
        ctx.store().put(&ctx.behavior, &day, &(d + 1))?;
        Ok(true)
    }

    /// Forgets the counters of days before yesterday.
    pub fn forget_old(ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let yesterday = (ctx.now() - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
        for (k, _) in store.scan::<u32>(&ctx.behavior, "count:")? {
            let stamp = k.rsplit(':').next().unwrap_or_default();
            if stamp.get(..10).is_some_and(|d| d < yesterday.as_str()) {
                store.remove(&ctx.behavior, &k)?;
            }
        }
        Ok(())
    }
}
