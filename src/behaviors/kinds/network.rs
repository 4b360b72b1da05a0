//! `network`: Network with Other Agents. Discovers agents (search, similar
//! agents, recommended agents), follows the ones that qualify within a daily
//! cap, sends an optional introduction DM at most once per agent ever, and can
//! unfollow the ones that did not follow back within a while.
//!
//! Guarantees: each follow, DM and unfollow goes through the intent path, keyed
//! by the agent, so none is repeated after a restart or a SIGKILL; the daily
//! cap counts on the agent's clock. Agents who reacted to this agent's posts
//! (`reactions:`) are kept durably until handled, first in line; each run also
//! reads one page of each discovery source (a sample of who is there, not a
//! backlog: what a run does not reach, a later run may).

use std::time::Duration;

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::behaviors::engine::audience::AgentFilters;
use crate::behaviors::engine::caps::Cap;
use crate::behaviors::engine::content::Content;
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{decode_event, BehaviorError, Ctx, Found, Outcome};
use crate::wire::types::{AgentSummary, NotificationType};

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
    /// Agents who reacted to this agent's posts in these ways (`LIKE`, `REPOST`,
    /// `QUOTE`, `COMMENT`...): their notifications are kept as candidates until
    /// handled (a day's cap leaves the rest for the next days, for up to 14 days).
    pub reactions: Vec<NotificationType>,
    /// Agents by what they can do: the platform's discovery filtered by
    /// capabilities (each list matches an agent having any of its values).
    pub capabilities: Option<WantedCapabilities>,
}

/// `discover.capabilities`: the filters of the platform's agent discovery.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WantedCapabilities {
    /// Skills such as `image-generation`, `code-review`.
    pub skills: Vec<String>,
    /// APIs such as `openai`, `github`.
    pub apis: Vec<String>,
    /// Languages such as `en`, `es`.
    pub languages: Vec<String>,
    /// The response time an agent declares (e.g. `fast`).
    pub response_time: Option<String>,
}

impl WantedCapabilities {
    fn is_empty(&self) -> bool {
        self.skills.is_empty() && self.apis.is_empty() && self.languages.is_empty() && self.response_time.is_none()
    }

    /// The query parameters, comma-separated as the reference says.
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![];
        for (k, v) in [("skills", &self.skills), ("apis", &self.apis), ("languages", &self.languages)] {
            if !v.is_empty() {
                out.push((k, v.join(",")));
            }
        }
        if let Some(t) = &self.response_time {
            out.push(("responseTime", t.clone()));
        }
        out
    }
}

/// An agent who reacted, waiting for a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    agent: AgentSummary,
    at_ms: i64,
}

/// How long a reacting agent waits for a run with room under the cap.
const PENDING_FOR_MS: i64 = 14 * 86_400_000;

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
        if d.search.is_none() && d.similar_to.is_empty() && !d.recommended && d.reactions.is_empty() && d.capabilities.is_none() {
            c.problem("discover", "name at least one source: search, similar_to, recommended, capabilities or reactions");
        }
        if d.capabilities.as_ref().is_some_and(WantedCapabilities::is_empty) {
            c.problem("discover.capabilities", "name at least one of skills, apis, languages or response_time");
        }
        if let Some(w) = &d.capabilities {
            for (k, v) in [("skills", &w.skills), ("apis", &w.apis), ("languages", &w.languages)] {
                if v.iter().any(|x| x.trim().is_empty() || x.contains(',')) {
                    c.problem(&format!("discover.capabilities.{k}"), format!("{k}: each value is one non-empty name, without commas"));
                }
            }
        }
        if d.reactions.contains(&NotificationType::Follow) {
            c.problem("discover.reactions", "FOLLOW is follow_back's: name LIKE, REPOST, QUOTE, COMMENT, MENTION or REPLY");
        }
        if self.every < Duration::from_secs(60) {
            c.problem("every", "every must be at least 1m");
        }
        if self.max_follows_per_day == 0 {
            c.problem("max_follows_per_day", "max_follows_per_day must be at least 1");
        }
        if let Some(dm) = &self.introduction_dm {
            crate::behaviors::check_content(c, "introduction_dm", dm);
        }
    }

    /// Moves the reactions waiting in the inbox to the pending candidates
    /// (each kept before its event is acknowledged), and forgets old ones.
    async fn take_reactions(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        loop {
            let items = store.inbox(&ctx.behavior, 200)?;
            if items.is_empty() {
                break;
            }
            for item in items {
                if let Some(n) = decode_event(&item) {
                    // In the order they reacted (the notification's time; else now).
                    let at_ms = n
                        .created_at
                        .as_deref()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map_or_else(|| ctx.now().timestamp_millis(), |t| t.timestamp_millis());
                    if let Some(actor) = n.fields.actor {
                        let key = format!("pending:{}", actor.handle.to_lowercase());
                        if store.get::<Pending>(&ctx.behavior, &key)?.is_none() {
                            store.put(&ctx.behavior, &key, &Pending { agent: actor, at_ms })?;
                        }
                    }
                }
                ctx.ack(&item).await?;
            }
        }
        let horizon = ctx.now().timestamp_millis() - PENDING_FOR_MS;
        for (k, p) in store.scan::<Pending>(&ctx.behavior, "pending:")? {
            if p.at_ms < horizon {
                store.remove(&ctx.behavior, &k)?;
            }
        }
        Ok(())
    }

    /// Agents who reacted (oldest first), then one page of each source, in order, without repeats.
    async fn candidates(&self, ctx: &Ctx, discover: bool) -> Result<Vec<AgentSummary>, BehaviorError> {
        let s = ctx.session();
        let mut pending = ctx.store().scan::<Pending>(&ctx.behavior, "pending:")?;
        pending.sort_by_key(|(_, p)| p.at_ms);
        let mut out: Vec<AgentSummary> = pending.into_iter().map(|(_, p)| p.agent).collect();
        if !discover {
            return Ok(out);
        }
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
        if let Some(w) = &self.discover.capabilities {
            let mut list = s.recommended_agents().limit(50);
            for (k, v) in w.params() {
                list = list.param(k, v);
            }
            add(list.page().await?.items);
        }
        Ok(out)
    }

    /// The daily follow cap (the caps' window of `follow`).
    fn cap(&self) -> Cap {
        Cap { per_hour: None, per_day: Some(self.max_follows_per_day) }
    }

    /// An earlier version counted follows per calendar day (`follows:<date>`):
    /// today's count becomes the caps' day counter (read into the window at its
    /// first use), the others go.
    fn forget_day_counters(ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let today = ctx.now().format("%Y-%m-%d").to_string();
        for (k, n) in store.scan::<u32>(&ctx.behavior, "follows:")? {
            if k == format!("follows:{today}") {
                store.put(&ctx.behavior, &format!("count:follow:{today}"), &n)?;
            }
            store.remove(&ctx.behavior, &k)?;
        }
        Cap::forget_old(ctx)
    }

    /// Follows `who` and sends the introduction as one unit that is owed
    /// durably before anything is sent: a run cut short by a crash between the
    /// two is completed by the next run. False when the platform refused the follow.
    async fn befriend(&self, ctx: &Ctx, who: &AgentSummary) -> Result<bool, BehaviorError> {
        let store = ctx.store();
        let h = who.handle.to_lowercase();
        let owed = format!("owed:{h}");
        store.put(&ctx.behavior, &owed, who)?;
        let outcome = ctx.follow_once(&format!("follow:{h}"), &who.handle).await?;
        if matches!(outcome, Outcome::Refused(_)) {
            store.remove(&ctx.behavior, &format!("followed:{h}"))?;
            store.remove(&ctx.behavior, &owed)?;
            return Ok(false);
        }
        if let Some(dm) = &self.introduction_dm {
            ctx.send_dm_once(&format!("dm:{h}"), dm, who).await?;
        }
        store.remove(&ctx.behavior, &owed)?;
        Ok(true)
    }

    /// One run: what a cut-short run owes, the agents who reacted, and (when
    /// `discover`) the discovery sources and the unfollows.
    async fn run_once(&self, ctx: &Ctx, discover: bool) -> Result<(), BehaviorError> {
        let store = ctx.store();
        for (_, who) in store.scan::<AgentSummary>(&ctx.behavior, "owed:")? {
            self.befriend(ctx, &who).await?;
        }
        self.take_reactions(ctx).await?;
        let candidates = self.candidates(ctx, discover).await?;
        if candidates.is_empty() {
            return Ok(());
        }
        let following: std::collections::HashSet<String> =
            ctx.session().following(&ctx.agent.handle).limit(100).stream().map_ok(|a| a.id).try_collect().await?;
        Self::forget_day_counters(ctx)?;
        let cap = self.cap();
        for who in candidates {
            // A stop takes effect between agents.
            if ctx.is_cancelled() {
                return Ok(());
            }
            if !cap.left(ctx, "follow")? {
                tracing::info!(cap = self.max_follows_per_day, "daily follow cap reached");
                break;
            }
            let h = who.handle.to_lowercase();
            let pending = format!("pending:{h}");
            let done_before = !ctx.progress(&format!("follow:{h}"))?.is_new();
            if done_before || following.contains(&who.id) || !self.filters.admit(ctx, &who).await? {
                store.remove(&ctx.behavior, &pending)?;
                continue;
            }
            // Counted and remembered before the follow is sent: a crash can only make the cap stricter.
            cap.take(ctx, "follow")?;
            store.put(&ctx.behavior, &format!("followed:{h}"), &ctx.now().timestamp_millis())?;
            self.befriend(ctx, &who).await?;
            store.remove(&ctx.behavior, &pending)?;
        }
        if let (Some(after), true) = (self.unfollow_after, discover) {
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

    /// A full run every `every`; in between, reactions are taken as they arrive.
    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        loop {
            if !ctx.round(|| self.run_once(ctx, true)).await? {
                return Ok(());
            }
            let next = ctx.now() + chrono::Duration::from_std(self.every).unwrap_or(chrono::Duration::MAX);
            loop {
                tokio::select! {
                    running = ctx.sleep_until(next) => {
                        if !running {
                            return Ok(());
                        }
                        break;
                    }
                    _ = ctx.wake.notified(), if !self.discover.reactions.is_empty() => {
                        if !ctx.round(|| self.run_once(ctx, false)).await? {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

impl Kind for Spec {
    fn notification_types(&self) -> Vec<NotificationType> {
        self.discover.reactions.clone()
    }

    fn default_priority(&self) -> crate::api::Priority {
        crate::api::Priority::Low
    }

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
