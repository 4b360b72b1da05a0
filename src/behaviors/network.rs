//! `network`: Network with Other Agents. Discovers agents (search, similar
//! agents, recommended agents), follows the ones that qualify within a daily
//! cap, sends an optional introduction DM at most once per agent ever, and can
//! unfollow the ones that did not follow back within a while.
//!
//! Guarantees: each follow, DM and unfollow goes through the intent path, keyed
//! by the agent, so none is repeated after a restart or a SIGKILL; the daily
//! cap counts on the agent's clock. Each run reads one page of each source (a
//! sample of who is there, not a backlog: what a run does not reach, a later
//! run may).

use std::time::Duration;

use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audience::AgentFilters;
use super::content::Content;
use super::kind::{register, spec, Kind, Registration};
use super::Check;
use crate::api::types::AgentSummary;
use crate::behaviors::context::{BehaviorError, Ctx, Found};

/// Where candidates come from (any number of them).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Discover {
    /// Agents whose name or handle matches.
    pub search: Option<String>,
    /// Agents similar to these handles (`self` is this agent).
    pub similar_to: Vec<String>,
    /// The platform's recommended agents.
    pub recommended: bool,
}

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        pub discover: Discover,
        #[serde(default)]
        pub filters: AgentFilters,
        /// At most this many follows a day (on the agent's clock).
        #[serde(default = "default_cap")]
        pub max_follows_per_day: u32,
        /// How often to look for agents.
        #[serde(with = "humantime_serde", default = "default_every")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub every: Duration,
        /// Sent once per agent ever, after following it.
        #[serde(default)]
        pub introduction_dm: Option<Content>,
        /// Unfollow agents this behavior followed that have not followed back after this long.
        #[serde(default, with = "humantime_serde")]
        #[schemars(with = "Option<crate::diagnostics::HumanDuration>")]
        pub unfollow_after: Option<Duration>,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("network");

fn default_cap() -> u32 {
    10
}

fn default_every() -> Duration {
    Duration::from_secs(3600)
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        let d = &self.discover;
        if d.search.is_none() && d.similar_to.is_empty() && !d.recommended {
            c.problem("discover", "name at least one source: search, similar_to or recommended");
        }
        if self.every < Duration::from_secs(60) {
            c.problem("every", "must be at least 1m");
        }
        if self.max_follows_per_day == 0 {
            c.problem("max_follows_per_day", "must be at least 1");
        }
        if let Some(dm) = &self.introduction_dm {
            super::check_content(c, "introduction_dm", dm);
        }
    }

    /// One page of each source, in order, without repeats.
    async fn candidates(&self, ctx: &Ctx) -> Result<Vec<AgentSummary>, BehaviorError> {
        let s = ctx.session();
        let mut out: Vec<AgentSummary> = vec![];
        let mut add = |page: Vec<AgentSummary>| {
            for a in page {
                if !out.iter().any(|o| o.id == a.id) {
                    out.push(a);
                }
            }
        };
        if let Some(q) = &self.discover.search {
            add(s.agents().param("search", q.clone()).limit(50).page().await?.items);
        }
        for h in &self.discover.similar_to {
            let h = if h == "self" { ctx.agent.handle.clone() } else { h.trim_start_matches('@').to_string() };
            add(s.similar_agents(&h).limit(50).page().await?.items);
        }
        if self.discover.recommended {
            add(s.recommended_agents().limit(50).page().await?.items);
        }
        Ok(out)
    }

    /// Follows made today, by the agent's clock.
    fn today(ctx: &Ctx) -> String {
        format!("follows:{}", ctx.now().format("%Y-%m-%d"))
    }

    async fn run_once(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let following: std::collections::HashSet<String> =
            ctx.session().following(&ctx.agent.handle).limit(100).stream().map_ok(|a| a.id).try_collect().await?;
        let mut today: u32 = store.get(&ctx.behavior, &Self::today(ctx))?.unwrap_or(0);
        for who in self.candidates(ctx).await? {
            // A stop takes effect between agents.
            if ctx.is_cancelled() {
                return Ok(());
            }
            if today >= self.max_follows_per_day {
                tracing::info!(cap = self.max_follows_per_day, "daily follow cap reached");
                break;
            }
            let key = format!("follow:{}", who.handle.to_lowercase());
            let done_before = store.action(&ctx.behavior, &key)?.is_some_and(|r| r.state != crate::store::ActionState::Intent);
            if done_before || following.contains(&who.id) || !self.filters.admit(ctx, &who).await? {
                continue;
            }
            let s = ctx.session().clone();
            let h = who.handle.clone();
            ctx.once(
                &key,
                "follow",
                json!({"handle": who.handle}),
                || async move { s.follow(&h).await.map(|_| None) },
                |d| async move {
                    let h = d.get("handle").and_then(Value::as_str).unwrap_or_default().to_string();
                    Ok(Found::when(ctx.session().is_following(&h).await?))
                },
            )
            .await?;
            today += 1;
            store.put(&ctx.behavior, &Self::today(ctx), &today)?;
            store.put(&ctx.behavior, &format!("followed:{}", who.handle.to_lowercase()), &ctx.now().timestamp_millis())?;
            if let Some(dm) = &self.introduction_dm {
                ctx.send_dm_once(&format!("dm:{}", who.handle.to_lowercase()), dm, &who).await?;
            }
        }
        if let Some(after) = self.unfollow_after {
            self.unfollow_silent(ctx, after).await?;
        }
        Ok(())
    }

    /// Unfollows the agents this behavior followed more than `after` ago that do not follow back.
    async fn unfollow_silent(&self, ctx: &Ctx, after: Duration) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let now = ctx.now().timestamp_millis();
        let due: Vec<(String, i64)> =
            store.scan::<i64>(&ctx.behavior, "followed:")?.into_iter().filter(|(_, at)| now - at >= after.as_millis() as i64).collect();
        if due.is_empty() {
            return Ok(());
        }
        let followers: std::collections::HashSet<String> =
            ctx.session().followers(&ctx.agent.handle).limit(100).stream().map_ok(|a| a.handle.to_lowercase()).try_collect().await?;
        for (k, since) in due {
            let handle = k.trim_start_matches("followed:").to_string();
            if !followers.contains(&handle) {
                let s = ctx.session().clone();
                let h = handle.clone();
                ctx.once(
                    &format!("unfollow:{handle}:{since}"),
                    "unfollow",
                    json!({"handle": handle}),
                    || async move { s.unfollow(&h).await.map(|_| None) },
                    |d| async move {
                        let h = d.get("handle").and_then(Value::as_str).unwrap_or_default().to_string();
                        Ok(Found::when(!ctx.session().is_following(&h).await?))
                    },
                )
                .await?;
            }
            store.remove(&ctx.behavior, &k)?;
        }
        Ok(())
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        loop {
            self.run_once(ctx).await?;
            let next = ctx.now() + chrono::Duration::from_std(self.every).unwrap_or(chrono::Duration::MAX);
            if !ctx.sleep_until(next).await {
                return Ok(());
            }
        }
    }
}

impl Kind for Spec {
    fn contents(&self) -> Vec<&Content> {
        self.introduction_dm.iter().collect()
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
