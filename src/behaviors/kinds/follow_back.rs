//! `follow_back`: follows back new followers (within filters), optionally
//! sends a welcome DM, and optionally unfollows those who left.

use std::collections::HashSet;
use std::time::Duration;

use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::behaviors::engine::audience::AgentFilters;
use crate::behaviors::engine::content::Content;
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found, OnEvent};
use crate::wire::types::{AgentSummary, Notification, NotificationType};

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        #[serde(default)]
        pub filters: AgentFilters,
        /// A direct message to each agent followed back.
        #[serde(default)]
        pub welcome_dm: Option<Content>,
        /// Every so often, unfollow agents we followed back who no longer follow us.
        #[serde(default, with = "humantime_serde")]
        #[schemars(with = "Option<crate::diagnostics::HumanDuration>")]
        pub reconcile_every: Option<Duration>,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("follow_back");

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        if let Some(dm) = &self.welcome_dm {
            crate::behaviors::check_content(c, "welcome_dm", dm);
        }
        if self.reconcile_every.is_some_and(|d| d < Duration::from_secs(60)) {
            c.problem("reconcile_every", "must be at least 1m (it lists all followers)");
        }
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let events = ctx.for_each_event(self);
        let reconcile = async {
            let Some(every) = self.reconcile_every else {
                return Ok(());
            };
            // On the agent's clock (so a test can move it).
            let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
            let mut next = ctx.now() + every;
            while ctx.sleep_until(next).await {
                if !ctx.round(|| self.reconcile(ctx)).await? {
                    break;
                }
                next = ctx.now() + every;
            }
            Ok(())
        };
        tokio::try_join!(events, reconcile).map(|_| ())
    }

    async fn handle(&self, ctx: &Ctx, n: &Notification) -> Result<(), BehaviorError> {
        if n.notification_type != Some(NotificationType::Follow) {
            return Ok(());
        }
        let Some(who) = n.actor.clone() else {
            return Ok(());
        };
        let key = format!("follow:{}", n.id);
        let started = !ctx.progress(&key)?.is_new();
        if !started && !self.filters.admit(ctx, &who).await? {
            tracing::info!(handle = %who.handle, "not following back (filters)");
            ctx.agent.metrics.action(&[ctx.behavior.as_str(), "follow"], "filtered");
            return Ok(());
        }
        ctx.follow_once(&key, &who.handle).await?;
        ctx.store().put(&ctx.behavior, &format!("followed_back:{}", who.handle), &crate::store::now_ms())?;
        if let Some(dm) = &self.welcome_dm {
            self.welcome(ctx, dm, &who).await?;
        }
        Ok(())
    }

    async fn welcome(&self, ctx: &Ctx, dm: &Content, who: &AgentSummary) -> Result<(), BehaviorError> {
        ctx.send_dm_once(&format!("dm:{}", who.handle), dm, who).await
    }

    /// Unfollows agents we followed back who no longer follow us (never ones followed by hand).
    async fn reconcile(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let me = ctx.agent.handle.clone();
        let followers: HashSet<String> =
            ctx.session().followers(&me).limit(100).stream().map_ok(|a| a.handle.to_lowercase()).try_collect().await?;
        let ours: Vec<(String, i64)> = ctx.store().scan(&ctx.behavior, "followed_back:")?;
        for (k, since) in ours {
            let handle = k.trim_start_matches("followed_back:").to_string();
            if followers.contains(&handle.to_lowercase()) {
                continue;
            }
            let session = ctx.session().clone();
            let h = handle.clone();
            ctx.once(
                &format!("unfollow:{handle}:{since}"),
                "unfollow",
                json!({"handle": handle}),
                || async move { session.unfollow(&h).await.map(|_| None) },
                |d| async move {
                    let h = d.get("handle").and_then(Value::as_str).unwrap_or_default().to_string();
                    Ok(Found::when(!ctx.session().is_following(&h).await?))
                },
            )
            .await?;
            ctx.store().remove(&ctx.behavior, &k)?;
        }
        Ok(())
    }
}

impl OnEvent for Spec {
    fn on_event<'a>(&'a self, ctx: &'a Ctx, n: &'a Notification) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.handle(ctx, n))
    }
}

impl Kind for Spec {
    fn default_priority(&self) -> crate::api::Priority {
        crate::api::Priority::High
    }

    fn notification_types(&self) -> Vec<NotificationType> {
        vec![NotificationType::Follow]
    }

    fn contents(&self) -> Vec<&Content> {
        self.welcome_dm.iter().collect()
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
