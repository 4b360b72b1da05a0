//! `byte`: a short video (a Byte) on a cron schedule: a video file, one
//! file of a directory a fire (in order or shuffled), or a video generated
//! for the fire (fetched from the platform once the job completes),
//! uploaded with purpose `byte`, published once its processing completes,
//! with a caption from any text source.
//!
//! Guarantees: each fire's video is chosen (or generated) once and uploaded
//! once (see `engine::media`, `engine::jobs`); the byte is created once through the intent path, and
//! after a crash between its creation and the answer it is looked for among
//! the platform's bytes (every page: the reference promises no order) before
//! it is created again. The video is checked at `validate`: a video type, at
//! most 50 MB (the video upload's limit, stricter than the bytes' 100 MB),
//! at most 60 s (read from an MP4 or QuickTime container).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::behaviors::engine::actions::VIDEO_WAIT;
use crate::behaviors::engine::content::{finalize, Content, ListPosition, TextFor};
use crate::behaviors::engine::jobs::Generate;
use crate::behaviors::engine::media::{MediaSpec, Medium};
use crate::behaviors::engine::recovery::{CLOCK_SLACK_MS, MAX_WALK_PAGES, WRITTEN_AT};
use crate::behaviors::engine::schedule::{CatchUp, Schedule};
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found};
use crate::wire::limits::POST_MAX_CHARS;
use crate::wire::types::{GenerationType, NewByte};

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        /// 5 fields (crontab), or 6-7 with seconds (and year).
        pub schedule: String,
        #[serde(default = "crate::behaviors::utc")]
        pub timezone: String,
        /// The video: a file (the same each time), or `{dir, order}`, one file of the
        /// directory a fire; relative to this behavior file. Or `generate:`.
        #[serde(default)]
        pub video: Option<MediaSpec>,
        /// A video generated for each fire (type `video`): waited for, fetched from
        /// the platform and uploaded as the byte's video.
        #[serde(default)]
        pub generate: Option<Generate>,
        /// How often a generation is looked at while it runs.
        #[serde(default = "five_s", with = "humantime_serde")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub poll_every: std::time::Duration,
        /// The caption (at most 500 characters).
        pub caption: Content,
        #[serde(default)]
        pub catch_up: CatchUp,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("byte");

fn five_s() -> std::time::Duration {
    std::time::Duration::from_secs(5)
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        crate::behaviors::check_schedule(c, &self.schedule, &self.timezone);
        crate::behaviors::check_content(c, "caption", &self.caption);
        if let Some(g) = &self.generate {
            g.check(c, "generate");
            if g.generation_type != GenerationType::Video {
                c.problem("generate.type", format!("a byte is a video: generate type video, not {}", g.generation_type));
            }
        }
        let Some(video) = &self.video else {
            if self.generate.is_none() {
                c.problem("kind", "name the byte's video: `video:` (a file or a directory) or `generate:`");
            }
            return;
        };
        if self.generate.is_some() {
            c.problem("generate", "a byte has one video: `video:` or `generate:`, not both");
        }
        video.check_within(c, "video", crate::wire::video::BYTE_MAX_SECONDS);
        match video {
            MediaSpec::Files(_) => {
                c.problem("video", "a byte is one video: name a file, or {dir, order} for one file of a directory a byte")
            }
            MediaSpec::File(f) if crate::behaviors::engine::media::is_url(f) => {
                c.problem("video", format!("{}: a byte's video is uploaded; name the file, not a URL", f.display()))
            }
            MediaSpec::File(f) if !matches!(Medium::of(f), Some(Medium::Video(_))) => {
                c.problem("video", format!("{}: a byte is a video (MP4, WebM or MOV)", f.display()))
            }
            MediaSpec::Generated { .. } => c.problem("video", "a generated video goes under `generate:`, beside `caption:`"),
            MediaSpec::Dir { dir, .. } => {
                let images =
                    video.files().unwrap_or_default().into_iter().filter(|f| matches!(Medium::of(f), Some(Medium::Image(_)))).count();
                if images > 0 {
                    c.problem("video", format!("{}: {images} image(s) among the videos; a byte is a video", dir.display()));
                }
            }
            _ => {}
        }
    }

    fn schedule(&self) -> Result<Schedule, BehaviorError> {
        Ok(Schedule::parse(&self.schedule, &self.timezone)?)
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        if let Some(g) = &self.generate {
            g.check_on_platform(ctx).await?;
        }
        crate::behaviors::engine::schedule::drive(ctx, &self.schedule()?, self.catch_up, None, |at| Box::pin(self.fire(ctx, at))).await
    }

    async fn fire(&self, ctx: &Ctx, at: DateTime<Utc>) -> Result<(), BehaviorError> {
        let ts = at.timestamp_millis();
        let key = format!("byte:{ts}");
        let progress = ctx.progress(&key)?;
        if progress.is_settled() {
            return Ok(());
        }
        let caption = match progress.record() {
            Some(r) => r.detail.get("caption").and_then(Value::as_str).map(str::to_string),
            None => self.caption_for(ctx, at).await?,
        };
        let Some(caption) = caption else {
            tracing::warn!("the caption came out empty; no byte this time");
            return Ok(());
        };
        let vkey = format!("video:{ts}");
        let media_id = match (&self.video, &self.generate) {
            (Some(video), _) => {
                let chosen = video.chosen(ctx, &vkey, "video_list", ts as u64)?;
                let Some(file) = chosen.0.first() else { return Ok(()) };
                ctx.upload_once(&format!("upload:{ts}"), file, "byte").await?
            }
            (None, Some(g)) => {
                let (ids, _, _) = ctx.generated_media(g, &vkey, &format!("upload:{ts}"), "byte", self.poll_every).await?;
                ids.into_iter().next()
            }
            (None, None) => None,
        };
        let Some(media_id) = media_id else { return Ok(()) };
        let s = ctx.session().clone();
        let b = NewByte { caption: caption.clone(), media_id: media_id.clone() };
        let out = ctx
            .once(
                &key,
                "byte",
                json!({"caption": caption, "mediaId": media_id, "at": at.to_rfc3339()}),
                || async move { crate::api::when_processed(VIDEO_WAIT, || s.create_byte(&b)).await.map(|b| Some(b.id)) },
                |d| find_own_byte(ctx, d),
            )
            .await?;
        if matches!(out, crate::behaviors::Outcome::Refused(_)) {
            ctx.release_media(std::slice::from_ref(&media_id)).await;
        }
        ctx.store().remove(&ctx.behavior, &vkey)?;
        Ok(())
    }

    async fn caption_for(&self, ctx: &Ctx, at: DateTime<Utc>) -> Result<Option<String>, BehaviorError> {
        let tz = self.schedule()?.tz;
        let local = at.with_timezone(&tz);
        let vars = json!({
            "handle": ctx.agent.handle,
            "date": local.format("%Y-%m-%d").to_string(),
            "time": local.format("%H:%M").to_string(),
            "weekday": local.format("%A").to_string(),
            "behavior": ctx.behavior,
            "fired_at": at.to_rfc3339(),
        });
        let mut pos: ListPosition = ctx.store().get(&ctx.behavior, "caption_list")?.unwrap_or_default();
        let text = ctx.write(&self.caption, &vars, &mut pos, at.timestamp_millis() as u64, TextFor::post(5)).await?;
        ctx.store().put(&ctx.behavior, "caption_list", &pos)?;
        Ok(text.and_then(|t| finalize(&t, POST_MAX_CHARS, 5)))
    }
}

/// After a crash: our byte with this caption and video among the platform's
/// bytes, made since the intent, and no other fire's.
async fn find_own_byte(ctx: &Ctx, d: Value) -> Result<Found, crate::api::ApiError> {
    let caption = d.get("caption").and_then(Value::as_str).unwrap_or_default().to_string();
    let since = d.get(WRITTEN_AT).and_then(Value::as_i64).map(|t| t - CLOCK_SLACK_MS);
    let taken: std::collections::HashSet<String> = ctx
        .store()
        .actions_of(&ctx.behavior, "byte:")
        .map_err(|e| crate::api::ApiError::Config(e.to_string()))?
        .into_iter()
        .filter_map(|(_, r)| r.result)
        .collect();
    let me = ctx.agent.id.clone();
    let mut list = ctx.session().bytes().limit(100);
    for _ in 0..MAX_WALK_PAGES {
        let page = list.page().await?;
        let found = page.items.iter().find(|b| {
            b.agent.as_ref().is_some_and(|a| a.id == me)
                && b.caption == caption
                && !taken.contains(&b.id)
                && since.is_none_or(|s| {
                    b.created_at.as_deref().and_then(|c| DateTime::parse_from_rfc3339(c).ok()).is_none_or(|c| c.timestamp_millis() >= s)
                })
        });
        if let Some(b) = found {
            return Ok(Found::Done(Some(b.id.clone())));
        }
        match page.next_cursor.filter(|c| page.has_more && !c.is_empty() && !page.items.is_empty()) {
            Some(c) => list = list.cursor(c),
            None => return Ok(Found::Missing),
        }
    }
    tracing::warn!("our byte was looked for on {MAX_WALK_PAGES} pages of bytes and not found; creating it");
    Ok(Found::Missing)
}

impl Kind for Spec {
    fn contents(&self) -> Vec<&Content> {
        std::iter::once(&self.caption).chain(self.generate.iter().map(|g| &g.prompt)).collect()
    }

    fn schedule(&self) -> Option<(&str, &str)> {
        Some((&self.schedule, &self.timezone))
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Some(v) = &mut self.video {
            v.resolve(base);
        }
    }

    fn providers(&self) -> Vec<(&'static str, crate::wire::types::Provider)> {
        self.generate.iter().map(|g| ("generate.provider", g.provider.clone())).collect()
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
