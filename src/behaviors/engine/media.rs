//! Media on a post: `media:` names a file, a list of files (all on each
//! post), or a directory taken one file a post, in order or shuffled, a
//! round at a time (like a text `list:`).
//!
//! Guarantees:
//! - `validate` checks every file against the reference's limits: the types
//!   (PNG, JPEG, GIF, WebP; MP4, WebM, QuickTime), the sizes (10 MB an image,
//!   50 MB a video), at most 4 images or 1 video a post, never both.
//! - Each file of a fire is uploaded once, through the intent path
//!   ([`Ctx::upload_once`]): after a crash between the upload and its
//!   outcome, the agent's media library is searched for it (same size and
//!   type, uploaded since the intent, not another intent's) and that upload
//!   is used, so nothing is uploaded twice nor left behind.
//! - The files of a fire are chosen once and kept with the fire.
//! - The media of a post (or a byte) the platform refuses are deleted from
//!   the media library ([`Ctx::release_media`]), so none pile up there.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::content::{ListOrder, ListPosition};
use super::ctx::Ctx;
use super::error::BehaviorError;
use super::recovery::{Found, CLOCK_SLACK_MS, WRITTEN_AT};
use crate::api::Upload;
use crate::diagnostics::Check;
use crate::wire::limits::{IMAGE_MAX_BYTES, MAX_IMAGES_PER_POST, VIDEO_MAX_BYTES};
use crate::wire::types::{GenerationType, MediaType, UploadType};

/// How often a post's generation is looked at while it runs.
const GENERATION_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// An image on the web, named by its HTTPS URL: posted as a `mediaUrls` entry
/// (the newest official SDK sends them), never uploaded.
pub fn is_url(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.starts_with("https://"))
}

/// `media:` of a behavior that posts.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum MediaSpec {
    /// One file on every post.
    File(PathBuf),
    /// These files on every post (at most 4 images, or 1 video).
    Files(Vec<PathBuf>),
    /// One file of this directory a post, in order or shuffled.
    Dir {
        dir: PathBuf,
        #[serde(default)]
        order: ListOrder,
    },
    /// An image or a video generated for each post (`{generate: {provider, type, prompt}}`).
    Generated { generate: Box<super::jobs::Generate> },
}

/// An image or a video, by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    Image(&'static str),
    Video(&'static str),
}

impl Medium {
    pub fn of(path: &Path) -> Option<Medium> {
        Some(match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "png" => Medium::Image("image/png"),
            "jpg" | "jpeg" => Medium::Image("image/jpeg"),
            "gif" => Medium::Image("image/gif"),
            "webp" => Medium::Image("image/webp"),
            "mp4" => Medium::Video("video/mp4"),
            "webm" => Medium::Video("video/webm"),
            "mov" => Medium::Video("video/quicktime"),
            _ => return None,
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Medium::Image(t) | Medium::Video(t) => t,
        }
    }

    fn max_bytes(self) -> usize {
        match self {
            Medium::Image(_) => IMAGE_MAX_BYTES,
            Medium::Video(_) => VIDEO_MAX_BYTES,
        }
    }
}

/// The media files of one fire, as kept with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chosen(pub Vec<PathBuf>);

impl Chosen {
    /// The post's media type: video, image or text.
    pub fn media_type(&self) -> MediaType {
        match self.0.first() {
            Some(p) if is_url(p) => MediaType::Image,
            Some(p) => match Medium::of(p) {
                Some(Medium::Video(_)) => MediaType::Video,
                Some(Medium::Image(_)) => MediaType::Image,
                None => MediaType::Text,
            },
            None => MediaType::Text,
        }
    }

    /// The images on the web among them (posted by URL).
    pub fn urls(&self) -> Vec<String> {
        self.0.iter().filter(|p| is_url(p)).map(|p| p.to_string_lossy().into_owned()).collect()
    }

    /// The files among them (uploaded).
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.0.iter().filter(|p| !is_url(p))
    }
}

impl MediaSpec {
    /// Makes the paths relative to the behavior file's directory.
    pub fn resolve(&mut self, base: &Path) {
        let at = |p: &mut PathBuf| {
            if p.is_relative() && !is_url(p) && !p.to_string_lossy().starts_with("http://") {
                *p = base.join(&*p);
            }
        };
        match self {
            MediaSpec::File(p) => at(p),
            MediaSpec::Files(ps) => ps.iter_mut().for_each(at),
            MediaSpec::Dir { dir, .. } => at(dir),
            MediaSpec::Generated { .. } => {}
        }
    }

    /// The generation it names, if it is one.
    pub fn generation(&self) -> Option<&super::jobs::Generate> {
        match self {
            MediaSpec::Generated { generate } => Some(generate.as_ref()),
            _ => None,
        }
    }

    /// The files it names now (a directory's, sorted by name; none that are not media).
    pub fn files(&self) -> Result<Vec<PathBuf>, String> {
        match self {
            MediaSpec::File(p) => Ok(vec![p.clone()]),
            MediaSpec::Files(ps) => Ok(ps.clone()),
            MediaSpec::Generated { .. } => Ok(vec![]),
            MediaSpec::Dir { dir, .. } => {
                let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let mut out: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| Medium::of(p).is_some()).collect();
                out.sort();
                Ok(out)
            }
        }
    }

    /// Every problem of the files of a post, at `key`.
    pub fn check(&self, c: &mut Check<'_>, key: &str) {
        self.check_within(c, key, crate::wire::video::POST_VIDEO_MAX_SECONDS)
    }

    /// Every problem of the files, at `key`, a video at most `max_seconds` long.
    pub fn check_within(&self, c: &mut Check<'_>, key: &str, max_seconds: f64) {
        if let MediaSpec::Generated { generate } = self {
            generate.check(c, &format!("{key}.generate"));
            if !matches!(generate.generation_type, GenerationType::Image | GenerationType::Video) {
                c.problem(
                    &format!("{key}.generate.type"),
                    format!("a post's media is an image or a video, not {}", generate.generation_type),
                );
            }
            return;
        }
        let files = match self.files() {
            Ok(f) => f,
            Err(e) => return c.problem(key, e),
        };
        if files.is_empty() {
            return c.problem(key, "no image or video to post (PNG, JPEG, GIF, WebP, MP4, WebM or MOV)");
        }
        for f in &files {
            if f.to_string_lossy().starts_with("http://") {
                c.problem(key, format!("{}: an image on the web must be an HTTPS URL", f.display()));
                continue;
            }
            if is_url(f) {
                if matches!(Medium::of(f), Some(Medium::Video(_))) {
                    c.problem(key, format!("{}: a video is uploaded; name the file, not a URL", f.display()));
                }
                continue;
            }
            match (Medium::of(f), std::fs::metadata(f)) {
                (None, _) => c.problem(
                    key,
                    format!("{}: not an image or video the platform takes (PNG, JPEG, GIF, WebP, MP4, WebM, MOV)", f.display()),
                ),
                (_, Err(e)) => c.problem(key, format!("{}: {e}", f.display())),
                (Some(m), Ok(meta)) if meta.len() as usize > m.max_bytes() => c.problem(
                    key,
                    format!(
                        "{}: {} bytes; the platform takes at most {} MB for this type",
                        f.display(),
                        meta.len(),
                        m.max_bytes() / 1_048_576
                    ),
                ),
                (Some(Medium::Video(_)), Ok(_)) => {
                    let long = std::fs::read(f).ok().and_then(|b| crate::wire::video::seconds(&b)).filter(|s| *s > max_seconds);
                    if let Some(s) = long {
                        c.problem(key, format!("{}: {s:.1} s long; the platform takes at most {max_seconds:.0} s here", f.display()));
                    }
                }
                _ => {}
            }
        }
        if !matches!(self, MediaSpec::Dir { .. }) {
            let videos = files.iter().filter(|f| matches!(Medium::of(f), Some(Medium::Video(_)))).count();
            if videos > 0 && files.len() > 1 {
                c.problem(key, "a post takes 1 video, or up to 4 images, never both");
            } else if files.len() > MAX_IMAGES_PER_POST {
                c.problem(key, format!("{} images; a post takes at most {MAX_IMAGES_PER_POST}", files.len()));
            }
        }
    }

    /// The files of the next fire (a directory's next one at `pos`).
    pub fn pick(&self, pos: &mut ListPosition, seed: u64) -> Result<Chosen, String> {
        let files = self.files()?;
        match self {
            MediaSpec::Dir { order, .. } if !files.is_empty() => Ok(Chosen(vec![files[pos.next(files.len(), *order, seed)].clone()])),
            MediaSpec::Dir { dir, .. } => Err(format!("{}: no image or video left to post", dir.display())),
            _ => Ok(Chosen(files)),
        }
    }
}

impl MediaSpec {
    /// The files of the fire kept under `fire_key` in the behavior's state:
    /// the ones chosen before (a crash re-reads the choice, not the
    /// directory), else the next ones (position under `list_key`), kept now.
    pub fn chosen(&self, ctx: &Ctx, fire_key: &str, list_key: &str, seed: u64) -> Result<Chosen, BehaviorError> {
        let store = ctx.store();
        if let Some(c) = store.get(&ctx.behavior, fire_key)? {
            return Ok(c);
        }
        let mut pos: ListPosition = store.get(&ctx.behavior, list_key)?.unwrap_or_default();
        let c = self.pick(&mut pos, seed).map_err(|e| BehaviorError::new(super::error::ErrorKind::Content, e))?;
        store.put(&ctx.behavior, fire_key, &c)?;
        store.put(&ctx.behavior, list_key, &pos)?;
        Ok(c)
    }
}

/// The media of one post: the ids of its uploads, the images on the web it
/// names, and its media type (TEXT when it has none).
pub type PostMedia = (Vec<String>, Vec<String>, MediaType);

impl Ctx {
    /// The media of one post (`spec`, none when absent): chosen once under
    /// `fire_key` (the position in a directory under `list_key`), each file
    /// uploaded once under `{upload_key}:{i}`.
    pub async fn post_media(
        &self,
        spec: Option<&MediaSpec>,
        fire_key: &str,
        list_key: &str,
        upload_key: &str,
        seed: u64,
    ) -> Result<PostMedia, BehaviorError> {
        let Some(spec) = spec else { return Ok((vec![], vec![], MediaType::Text)) };
        if let MediaSpec::Generated { generate } = spec {
            return self.generated_media(generate, fire_key, upload_key, "post", GENERATION_POLL).await;
        }
        let chosen = spec.chosen(self, fire_key, list_key, seed)?;
        let mut ids = vec![];
        for (i, f) in chosen.files().enumerate() {
            ids.extend(self.upload_once(&format!("{upload_key}:{i}"), f, "post").await?);
        }
        let urls = chosen.urls();
        let media_type = if ids.is_empty() && urls.is_empty() { MediaType::Text } else { chosen.media_type() };
        Ok((ids, urls, media_type))
    }

    /// The media of a post (or a byte) generated for it: the job started once
    /// under `{fire_key}:gen`, looked at every `poll`, its result fetched and
    /// uploaded once (with `purpose`) under `{upload_key}:0`. A job that failed
    /// for good leaves the post without media (logged); a stop while it runs
    /// is `Stopped` (the fire is taken up again at the next start).
    pub async fn generated_media(
        &self,
        g: &super::jobs::Generate,
        fire_key: &str,
        upload_key: &str,
        purpose: &str,
        poll: std::time::Duration,
    ) -> Result<PostMedia, BehaviorError> {
        let video = g.generation_type == GenerationType::Video;
        let kind = if video { MediaType::Video } else { MediaType::Image };
        let ukey = format!("{upload_key}:0");
        let uploaded = self.progress(&ukey)?;
        if uploaded.is_settled() {
            let ids: Vec<String> = uploaded.result().into_iter().collect();
            return Ok(if ids.is_empty() { (ids, vec![], MediaType::Text) } else { (ids, vec![], kind) });
        }
        let vars = json!({"handle": self.agent.handle});
        let url = loop {
            match g.produce(self, &format!("{fire_key}:gen"), &vars).await? {
                super::jobs::Job::Ready(url) => break url,
                super::jobs::Job::Failed(why) => {
                    tracing::warn!(reason = %why, "the post's media could not be generated; posting without it");
                    return Ok((vec![], vec![], MediaType::Text));
                }
                super::jobs::Job::Waiting => {
                    if !self.sleep(poll).await {
                        return Err(BehaviorError::stopped());
                    }
                }
            }
        };
        let upload = download(&url, if video { VIDEO_MAX_BYTES } else { IMAGE_MAX_BYTES }).await?;
        let ids: Vec<String> = self.upload_bytes_once(&ukey, upload, purpose, json!({"generated": url})).await?.into_iter().collect();
        Ok(if ids.is_empty() { (ids, vec![], MediaType::Text) } else { (ids, vec![], kind) })
    }

    /// Deletes media uploaded for a post (or a byte) the platform refused, so
    /// they do not pile up in the media library: one already gone counts as
    /// deleted; a failure is logged (the medium stays, unused).
    pub async fn release_media(&self, ids: &[String]) {
        for id in ids {
            match self.session().delete_media(&crate::api::MediaRef::Id(id.clone())).await {
                Ok(()) => tracing::info!(media = %id, "deleted media {id}: the platform refused what it was for"),
                Err(e) if e.is_not_found() => {}
                Err(e) => tracing::warn!(media = %id, error = %e, "media of a refused post not deleted; it stays in the library"),
            }
        }
    }

    /// Uploads `file` once under `key` (purpose `post` or `byte`); the media's
    /// id, or None in a dry run. See the module's guarantees.
    pub async fn upload_once(&self, key: &str, file: &Path, purpose: &str) -> Result<Option<String>, BehaviorError> {
        let content = |e: String| BehaviorError::new(super::error::ErrorKind::Content, e);
        let medium = Medium::of(file).ok_or_else(|| content(format!("{}: not an image or a video", file.display())))?;
        let bytes = tokio::fs::read(file).await.map_err(|e| content(format!("{}: {e}", file.display())))?;
        let upload = Upload {
            bytes,
            filename: file.file_name().and_then(|f| f.to_str()).unwrap_or("media").to_string(),
            content_type: medium.content_type().to_string(),
        };
        self.upload_bytes_once(key, upload, purpose, json!({"file": file.display().to_string()})).await
    }

    /// Uploads `upload` (an image or a video made here, e.g. a chart) once
    /// under `key`, `about` kept with the intent; as [`Ctx::upload_once`].
    pub async fn upload_bytes_once(&self, key: &str, upload: Upload, purpose: &str, about: Value) -> Result<Option<String>, BehaviorError> {
        let ct = upload.content_type.clone();
        let video = ct.starts_with("video/");
        let mut detail = json!({"size": upload.bytes.len(), "contentType": ct, "purpose": purpose});
        if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), about) {
            d.extend(more);
        }
        let s = self.session().clone();
        let p = purpose.to_string();
        let outcome = self
            .once(
                key,
                "upload",
                detail,
                || async move { if video { s.upload_video(upload, &p).await } else { s.upload_image(upload, &p).await }.map(|m| Some(m.id)) },
                |d| self.find_own_upload(d),
            )
            .await?;
        Ok(match outcome {
            super::effects::Outcome::Sent(id) => id,
            super::effects::Outcome::AlreadyDone => self.progress(key)?.result(),
            _ => None,
        })
    }

    /// After a crash: the upload described by `detail` in the agent's media
    /// library (same size, type and purpose, uploaded since the intent, not
    /// the result of another of this behavior's intents).
    async fn find_own_upload(&self, detail: Value) -> Result<Found, crate::api::ApiError> {
        // `bytes`: a chart intent written by an earlier version.
        let size = detail.get("size").or_else(|| detail.get("bytes")).and_then(Value::as_u64).unwrap_or(u64::MAX);
        let ct = detail.get("contentType").and_then(Value::as_str).unwrap_or_default().to_string();
        let purpose = detail.get("purpose").and_then(Value::as_str).unwrap_or("post").to_string();
        let since = detail.get(WRITTEN_AT).and_then(Value::as_i64).map(|t| t - CLOCK_SLACK_MS);
        let taken: std::collections::HashSet<String> = self
            .store()
            .actions_of(&self.behavior, "")
            .map_err(|e| crate::api::ApiError::Config(e.to_string()))?
            .into_iter()
            .filter(|(_, r)| r.action == "upload")
            .filter_map(|(_, r)| r.result)
            .collect();
        let t = if ct.starts_with("video/") { UploadType::Video } else { UploadType::Image };
        let library = self.session().media().param("type", t.as_str()).param("purpose", purpose).limit(100).stream();
        let found = super::actions::first(library, |m| {
            m.size == size
                && m.content_type.as_deref().is_none_or(|c| c == ct)
                && !taken.contains(&m.id)
                && since.is_none_or(|s| {
                    m.created_at
                        .as_deref()
                        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                        .is_none_or(|c| c.timestamp_millis() >= s)
                })
        })
        .await?;
        Ok(Found::created(found.map(|m| m.id)))
    }
}

/// Fetches a generated medium the platform serves at `url` (HTTPS; plain
/// HTTP only on a loopback address, the emulator's), refused past `max`
/// bytes: what a byte made from a generated video uploads. A network
/// failure or a 5xx is transient (the fire is tried again).
pub async fn download(url: &str, max: usize) -> Result<Upload, BehaviorError> {
    let content = |e: String| BehaviorError::new(super::error::ErrorKind::Content, e);
    let u = url::Url::parse(url).map_err(|e| content(format!("{url}: {e}")))?;
    let loopback = u.host_str().is_some_and(|h| h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
    if u.scheme() != "https" && !(u.scheme() == "http" && loopback) {
        return Err(content(format!("{url}: a generated medium is fetched over HTTPS only")));
    }
    let failed = |detail: String, status: Option<u16>| -> BehaviorError {
        let e = match status {
            Some(status) => crate::api::ApiError::Http {
                method: "GET".into(),
                path: url.to_string(),
                status,
                code: "download".into(),
                message: detail,
                retry_after: None,
            },
            None => crate::api::ApiError::Transport { method: "GET".into(), path: url.to_string(), detail, maybe_sent: false },
        };
        e.into()
    };
    let client = crate::api::session::http_client(std::time::Duration::from_secs(120))?;
    let mut resp = client.get(u.clone()).send().await.map_err(|e| failed(e.to_string(), None))?;
    if !resp.status().is_success() {
        return Err(failed("could not fetch the generated medium".into(), Some(resp.status().as_u16())));
    }
    let content_type =
        resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream").to_string();
    let mut bytes = vec![];
    while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e.to_string(), None))? {
        if bytes.len() + chunk.len() > max {
            return Err(content(format!("{url}: larger than {max} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    let filename = u.path_segments().and_then(|mut s| s.next_back()).filter(|f| !f.is_empty()).unwrap_or("generated").to_string();
    Ok(Upload { bytes, filename, content_type })
}
