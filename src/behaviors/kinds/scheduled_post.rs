//! `scheduled_post`: posts on a cron schedule in a time zone.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::behaviors::engine::actions::VIDEO_WAIT;
use crate::behaviors::engine::content::TextFor;
use crate::behaviors::engine::content::{finalize, Content, ListPosition};
use crate::behaviors::engine::media::MediaSpec;
use crate::behaviors::engine::schedule::Schedule;
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Outcome};
use crate::wire::limits::POST_MAX_CHARS;
use crate::wire::types::NewPost;

pub use crate::behaviors::engine::schedule::CatchUp;

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        /// 5 fields (crontab), or 6-7 with seconds (and year).
        pub schedule: String,
        #[serde(default = "crate::behaviors::utc")]
        pub timezone: String,
        /// Up to this much random delay after each fire time.
        #[serde(default, with = "humantime_serde")]
        #[schemars(with = "Option<crate::diagnostics::HumanDuration>")]
        pub jitter: Option<Duration>,
        pub content: Content,
        /// Appended as `#tag` when there is room.
        #[serde(default)]
        pub hashtags: Vec<String>,
        #[serde(default)]
        pub catch_up: CatchUp,
        #[serde(default = "max_mentions")]
        pub max_mentions: usize,
        /// Images or a video on each post: a file, a list of files (all on each
        /// post), or `{dir, order}` (one file of the directory a post), relative
        /// to this behavior file.
        #[serde(default)]
        pub media: Option<MediaSpec>,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("scheduled_post");

fn max_mentions() -> usize {
    5
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        crate::behaviors::check_schedule(c, &self.schedule, &self.timezone);
        crate::behaviors::check_content(c, "content", &self.content);
        if let Some(m) = &self.media {
            m.check(c, "media");
        }
        for t in &self.hashtags {
            if t.trim_start_matches('#').is_empty() || t.contains(char::is_whitespace) {
                c.problem("hashtags", format!("hashtag {t:?} must be one word"));
            }
        }
    }

    fn schedule(&self) -> Result<Schedule, BehaviorError> {
        Ok(Schedule::parse(&self.schedule, &self.timezone)?)
    }

    /// The text for the fire at `at`, advancing list position and counter.
    pub async fn compose(&self, ctx: &Ctx, at: DateTime<Utc>) -> Result<Option<String>, BehaviorError> {
        let store = ctx.store();
        let counter: u64 = store.get(&ctx.behavior, "counter")?.unwrap_or(0) + 1;
        let mut pos: ListPosition = store.get(&ctx.behavior, "list")?.unwrap_or_default();
        let tz = self.schedule()?.tz;
        let local = at.with_timezone(&tz);
        let vars = json!({
            "handle": ctx.agent.handle,
            "date": local.format("%Y-%m-%d").to_string(),
            "time": local.format("%H:%M").to_string(),
            "weekday": local.format("%A").to_string(),
            "counter": counter,
            "behavior": ctx.behavior,
        });
        let seed = crate::store::now_ms() as u64 ^ counter;
        let Some(text) = ctx.write(&self.content, &vars, &mut pos, seed, TextFor::post(self.max_mentions)).await? else {
            return Ok(None);
        };
        store.put(&ctx.behavior, "list", &pos)?;
        store.put(&ctx.behavior, "counter", &counter)?;
        let mut text = text.trim().to_string();
        for t in &self.hashtags {
            let tag = format!(" #{}", t.trim_start_matches('#'));
            if crate::wire::limits::char_len(&text) + crate::wire::limits::char_len(&tag) <= POST_MAX_CHARS {
                text.push_str(&tag);
            }
        }
        Ok(finalize(&text, POST_MAX_CHARS, self.max_mentions))
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        if let Some(g) = self.media.as_ref().and_then(|m| m.generation()) {
            g.check_on_platform(ctx).await?;
        }
        crate::behaviors::engine::schedule::drive(ctx, &self.schedule()?, self.catch_up, self.jitter, |at| Box::pin(self.fire(ctx, at)))
            .await
    }

    async fn fire(&self, ctx: &Ctx, at: DateTime<Utc>) -> Result<(), BehaviorError> {
        let ts = at.timestamp_millis();
        let key = format!("post:{ts}");
        let progress = ctx.progress(&key)?;
        if progress.is_settled() {
            return Ok(());
        }
        let content = if progress.is_new() { self.compose(ctx, at).await? } else { progress.kept_text() };
        let Some(content) = content else {
            tracing::warn!("the content came out empty; nothing posted");
            return Ok(());
        };
        let (media_ids, media_urls, media_type) =
            ctx.post_media(self.media.as_ref(), &format!("media:{ts}"), "media_list", &format!("upload:{ts}"), ts as u64).await?;
        let session = ctx.session().clone();
        let post = NewPost {
            media_type: Some(media_type.clone()),
            media_ids: media_ids.clone(),
            media_urls: media_urls.clone(),
            ..NewPost::text(content.clone())
        };
        let out = ctx
            .once(
                &key,
                "post",
                json!({"content": content, "at": at.to_rfc3339(), "mediaIds": media_ids, "mediaUrls": media_urls, "mediaType": media_type}),
                || async move { session.create_post_when_processed(&post, VIDEO_WAIT).await.map(|p| Some(p.id)) },
                |detail| ctx.find_own_post(detail),
            )
            .await?;
        if matches!(out, Outcome::Refused(_)) {
            ctx.release_media(&media_ids).await;
        }
        ctx.store().remove(&ctx.behavior, &format!("media:{ts}"))?;
        Ok(())
    }
}

impl Kind for Spec {
    fn contents(&self) -> Vec<&Content> {
        std::iter::once(&self.content).chain(self.media.iter().filter_map(|m| m.generation()).map(|g| &g.prompt)).collect()
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Some(m) = &mut self.media {
            m.resolve(base);
        }
    }

    fn schedule(&self) -> Option<(&str, &str)> {
        Some((&self.schedule, &self.timezone))
    }

    fn providers(&self) -> Vec<(&'static str, crate::wire::types::Provider)> {
        self.media.iter().filter_map(|m| m.generation()).map(|g| ("media.generate.provider", g.provider.clone())).collect()
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
