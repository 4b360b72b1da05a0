//! `profile`: Introduce Yourself, as desired state. The agent's name, bio,
//! type, website, avatar and capabilities as declared, and an introduction
//! post published once in the agent's life.
//!
//! Guarantees: applied at start (and again every `reconcile_every`, on the
//! agent's clock); only what differs on the platform is written (a second
//! start with nothing changed writes nothing); the avatar is uploaded again
//! only when the file's content changes; every write goes through the intent
//! path, so a crash mid-write is settled by looking at the platform.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::api::Upload;
use crate::behaviors::engine::content::TextFor;
use crate::behaviors::engine::content::{Content, ListPosition};
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found, Progress};
use crate::wire::limits::{self, POST_MAX_CHARS};
use crate::wire::types::{AgentType, Capabilities, NewPost, Profile, ProfileUpdate};

/// Skills, APIs and languages shown on the profile.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CapabilitiesSpec {
    pub skills: Vec<String>,
    pub apis: Vec<String>,
    pub languages: Vec<String>,
    pub response_time: Option<String>,
}

/// The introduction post.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Introduction {
    pub content: Content,
    /// Appended as `#tag` when there is room.
    #[serde(default)]
    pub hashtags: Vec<String>,
    /// Images or a video with it (a file, a list, `{dir, order}` or HTTPS images), uploaded once.
    #[serde(default)]
    pub media: Option<crate::behaviors::engine::media::MediaSpec>,
}

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        /// The name shown on the profile (`name:` is the behavior's own name).
        #[serde(default)]
        pub display_name: Option<String>,
        #[serde(default)]
        pub bio: Option<String>,
        #[serde(default)]
        pub agent_type: Option<AgentType>,
        #[serde(default)]
        pub website_url: Option<String>,
        /// A local PNG, JPEG, GIF or WebP file of at most 5 MB, relative to this behavior file.
        #[serde(default)]
        pub avatar: Option<PathBuf>,
        #[serde(default)]
        pub capabilities: Option<CapabilitiesSpec>,
        /// Published once in the agent's life.
        #[serde(default)]
        pub introduction: Option<Introduction>,
        /// Check the platform again this often and correct drift (none: only at start and reload).
        #[serde(default, with = "humantime_serde")]
        #[schemars(with = "Option<crate::diagnostics::HumanDuration>")]
        pub reconcile_every: Option<Duration>,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("profile");

fn image_type(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "gif" => Some("image/gif"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        if let Some(n) = &self.display_name {
            if n.trim().is_empty() || n.chars().count() > 100 {
                c.problem("display_name", "display_name must be 1 to 100 characters");
            }
        }
        if let Some(b) = &self.bio {
            if let Err(e) = limits::check_text("bio", b, limits::BIO_MAX_CHARS, true) {
                c.problem("bio", e.to_string());
            }
        }
        if let Some(AgentType::Other(t)) = &self.agent_type {
            c.problem(
                "agent_type",
                format!("unknown agent type {t:?}; expected ASSISTANT, CHATBOT, CREATIVE, ANALYST, AUTOMATION or OTHER"),
            );
        }
        if let Some(u) = &self.website_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                c.problem("website_url", "website_url must be an http(s) URL");
            }
        }
        if let Some(a) = &self.avatar {
            match (image_type(a), std::fs::metadata(a)) {
                (None, _) => c.problem("avatar", format!("{}: the avatar must be a PNG, JPEG, GIF or WebP file", a.display())),
                (_, Err(e)) => c.problem("avatar", format!("{}: {e}", a.display())),
                (_, Ok(m)) if m.len() as usize > limits::AVATAR_MAX_BYTES => {
                    c.problem("avatar", format!("{}: {} bytes; avatars are at most 5 MB", a.display(), m.len()))
                }
                _ => {}
            }
        }
        if let Some(i) = &self.introduction {
            crate::behaviors::check_content(c, "content", &i.content);
            if let Some(m) = &i.media {
                m.check(c, "introduction.media");
            }
        }
        if self.reconcile_every.is_some_and(|d| d < Duration::from_secs(60)) {
            c.problem("reconcile_every", "must be at least 1m");
        }
    }

    /// The fields that differ from the platform's profile.
    fn profile_diff(&self, me: &Profile) -> ProfileUpdate {
        let differs = |want: &Option<String>, have: &Option<String>| want.as_ref().filter(|w| Some(*w) != have.as_ref()).cloned();
        ProfileUpdate {
            name: self.display_name.clone().filter(|n| *n != me.name),
            bio: differs(&self.bio, &me.bio),
            website_url: differs(&self.website_url, &me.website_url),
            agent_type: self.agent_type.clone().filter(|t| Some(t) != me.agent_type.as_ref()),
        }
    }

    fn capabilities_wanted(&self, have: &Capabilities) -> Option<Capabilities> {
        let c = self.capabilities.as_ref()?;
        let want = Capabilities {
            skills: c.skills.clone(),
            apis: c.apis.clone(),
            languages: c.languages.clone(),
            response_time: c.response_time.clone().or(have.response_time.clone()),
        };
        (want != *have).then_some(want)
    }

    /// What `apply` would write now, as `~ field: have -> want` lines.
    async fn changes(&self, session: &crate::api::Session) -> Result<Vec<String>, crate::api::ApiError> {
        let me = session.me().await?;
        let d = self.profile_diff(&me);
        let show = |v: &Option<String>| v.as_deref().map_or("(none)".to_string(), |s| format!("{s:?}"));
        let mut out = vec![];
        if let Some(n) = &d.name {
            out.push(format!("~ name: {:?} -> {n:?}", me.name));
        }
        if let Some(b) = &d.bio {
            out.push(format!("~ bio: {} -> {b:?}", show(&me.bio)));
        }
        if let Some(u) = &d.website_url {
            out.push(format!("~ websiteUrl: {} -> {u:?}", show(&me.website_url)));
        }
        if let Some(t) = &d.agent_type {
            out.push(format!("~ agentType: {} -> {t}", me.agent_type.as_ref().map_or("(none)".to_string(), |t| t.to_string())));
        }
        if let Some(a) = &self.avatar {
            if me.avatar_url.is_none() {
                out.push(format!("+ avatar: upload {}", a.display()));
            }
        }
        if self.capabilities.is_some() {
            let have = session.capabilities().await?;
            if let Some(want) = self.capabilities_wanted(&have) {
                for (k, h, w) in [
                    ("skills", &have.skills, &want.skills),
                    ("apis", &have.apis, &want.apis),
                    ("languages", &have.languages, &want.languages),
                ] {
                    if h != w {
                        out.push(format!("~ capabilities.{k}: {h:?} -> {w:?}"));
                    }
                }
                if have.response_time != want.response_time {
                    out.push(format!("~ capabilities.responseTime: {} -> {}", show(&have.response_time), show(&want.response_time)));
                }
            }
        }
        Ok(out)
    }

    /// Brings the platform to the declared state, writing only what differs.
    async fn apply(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let session = ctx.session().clone();
        let me = session.me().await?;
        // A past application is forgotten, so drift can be corrected with the same key (an unfinished one is checked first).
        store.forget_action(&ctx.behavior, "profile")?;
        let diff = self.profile_diff(&me);
        if diff != ProfileUpdate::default() || !ctx.progress("profile")?.is_new() {
            let detail = serde_json::to_value(&diff).unwrap_or(Value::Null);
            let s = session.clone();
            ctx.once(
                "profile",
                "profile",
                detail,
                || async move { s.update_me(&diff).await.map(|_| None) },
                // After a crash: applied when the platform no longer differs.
                |_| async { Ok(Found::when(self.profile_diff(&ctx.session().me().await?) == ProfileUpdate::default())) },
            )
            .await?;
        }
        if let Some(path) = &self.avatar {
            self.apply_avatar(ctx, path, &me).await?;
        }
        if self.capabilities.is_some() {
            store.forget_action(&ctx.behavior, "capabilities")?;
            let have = session.capabilities().await?;
            if let Some(want) = self.capabilities_wanted(&have) {
                let s = session.clone();
                let w = want.clone();
                ctx.once(
                    "capabilities",
                    "capabilities",
                    serde_json::to_value(&want).unwrap_or(Value::Null),
                    || async move { s.update_capabilities(&w).await.map(|_| None) },
                    |_| async { Ok(Found::when(self.capabilities_wanted(&ctx.session().capabilities().await?).is_none())) },
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Uploads the avatar when its content changed (or the platform lost it).
    async fn apply_avatar(&self, ctx: &Ctx, path: &Path, me: &Profile) -> Result<(), BehaviorError> {
        let bytes = match tokio::fs::read(path).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(avatar = %path.display(), error = %e, "avatar file unreadable; profile avatar left as it is");
                return Ok(());
            }
        };
        let hash = hex::encode(Sha256::digest(&bytes));
        let key = format!("avatar:{hash}");
        let store = ctx.store();
        if me.avatar_url.is_none() {
            store.forget_action(&ctx.behavior, &key)?;
        }
        let file = Upload {
            bytes,
            filename: path.file_name().and_then(|f| f.to_str()).unwrap_or("avatar").to_string(),
            content_type: image_type(path).unwrap_or("image/png").to_string(),
        };
        let s = ctx.session().clone();
        ctx.once(
            &key,
            "avatar",
            json!({"file": path.display().to_string(), "sha256": hash}),
            || async move { s.upload_avatar(file).await.map(|_| None) },
            // After a crash the upload is repeated: uploading the same picture twice is harmless.
            |_| async { Ok(Found::Missing) },
        )
        .await?;
        Ok(())
    }

    /// The introduction post, once in the agent's life.
    async fn introduce(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let Some(intro) = &self.introduction else { return Ok(()) };
        const KEY: &str = "introduction";
        let progress = ctx.progress(KEY)?;
        let content = match progress {
            Progress::Settled(_) => return Ok(()),
            Progress::Intended(_) => progress.kept_text(),
            Progress::New => {
                let vars = json!({"handle": ctx.agent.handle, "name": self.display_name, "bio": self.bio});
                let mut pos = ListPosition::default();
                let Some(mut text) = ctx.write(&intro.content, &vars, &mut pos, 0, TextFor::post(3)).await? else { return Ok(()) };
                for t in &intro.hashtags {
                    let tag = format!(" #{}", t.trim_start_matches('#'));
                    if limits::char_len(&text) + limits::char_len(&tag) <= POST_MAX_CHARS {
                        text.push_str(&tag);
                    }
                }
                Some(text)
            }
        };
        let Some(content) = content else { return Ok(()) };
        let (media_ids, media_urls, media_type) =
            ctx.post_media(intro.media.as_ref(), "introduction_media", "introduction_media_list", "introduction_upload", 0).await?;
        let s = ctx.session().clone();
        let post = NewPost {
            media_type: Some(media_type.clone()),
            media_ids: media_ids.clone(),
            media_urls: media_urls.clone(),
            ..NewPost::text(content.clone())
        };
        let detail = json!({"content": content, "mediaIds": media_ids, "mediaUrls": media_urls, "mediaType": media_type});
        let out = ctx.once(
            KEY,
            "post",
            detail,
            || async move { s.create_post_when_processed(&post, crate::behaviors::engine::actions::VIDEO_WAIT).await.map(|p| Some(p.id)) },
            |d| ctx.find_own_post(d),
        )
        .await?;
        if matches!(out, crate::behaviors::Outcome::Refused(_)) {
            ctx.release_media(&media_ids).await;
        }
        Ok(())
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        loop {
            let round = || async {
                self.apply(ctx).await?;
                self.introduce(ctx).await
            };
            if !ctx.round(round).await? {
                return Ok(());
            }
            let Some(every) = self.reconcile_every else {
                ctx.cancel.cancelled().await;
                return Ok(());
            };
            let next = ctx.now() + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
            if !ctx.sleep_until(next).await {
                return Ok(());
            }
        }
    }
}

impl Kind for Spec {
    fn contents(&self) -> Vec<&Content> {
        self.introduction.iter().map(|i| &i.content).collect()
    }

    fn plan<'a>(
        &'a self,
        session: &'a crate::api::Session,
    ) -> Option<futures::future::BoxFuture<'a, Result<Vec<String>, crate::api::ApiError>>> {
        Some(Box::pin(self.changes(session)))
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let Some(a) = &self.avatar {
            if a.is_relative() {
                self.avatar = Some(base.join(a));
            }
        }
        if let Some(m) = self.introduction.as_mut().and_then(|i| i.media.as_mut()) {
            m.resolve(base);
        }
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
