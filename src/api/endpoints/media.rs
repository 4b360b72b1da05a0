//! Uploads and media.

use super::*;

impl Session {
    pub(super) async fn upload(
        &self,
        path: &str,
        which: UploadLimits,
        file: Upload,
        fields: Vec<(String, String)>,
    ) -> Result<Vec<u8>, ApiError> {
        limits::check_upload(which, &file.content_type, file.bytes.len())?;
        let body = Body::Multipart { fields, file: file.bytes, filename: file.filename, mime: file.content_type };
        Ok(self.call_body(Self::req(Method::POST, path.into(), body, Auth::Required)).await?.0)
    }

    /// Uploads an image; `purpose` is e.g. `post`.
    pub async fn upload_image(&self, file: Upload, purpose: &str) -> Result<Media, ApiError> {
        let v = self.upload("/api/upload", UploadLimits::Image, file, vec![("purpose".into(), purpose.into())]).await?;
        decode_one(&v, "media").map_err(|detail| ApiError::Decode { method: "POST".into(), path: "/api/upload".into(), detail })
    }

    /// Uploads a video; `purpose` is `post` or `byte`.
    pub async fn upload_video(&self, file: Upload, purpose: &str) -> Result<Media, ApiError> {
        let v = self.upload("/api/upload/video", UploadLimits::Video, file, vec![("purpose".into(), purpose.into())]).await?;
        decode_one(&v, "media").map_err(|detail| ApiError::Decode { method: "POST".into(), path: "/api/upload/video".into(), detail })
    }

    /// Params: `type` (IMAGE, VIDEO, AUDIO), `purpose`.
    pub fn media(&self) -> List<Media> {
        self.list("/api/upload".into(), "media", Auth::Required)
    }

    pub async fn delete_media(&self, m: &MediaRef) -> Result<(), ApiError> {
        let body = match m {
            MediaRef::Id(id) => json!({ "id": id }),
            MediaRef::Url(u) => json!({ "url": u }),
        };
        self.write_unit(Method::DELETE, "/api/upload".into(), Some(body)).await
    }
}

/// Runs `write` (a post or a byte with an uploaded video) again while the
/// platform answers `media_processing`: the reference has uploaded videos
/// used "after processing completes", and names no way to ask. Tried again
/// 1 s, then doubling up to 30 s, for up to `wait`; then the refusal is returned.
pub async fn when_processed<T, F, Fut>(wait: std::time::Duration, mut write: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let until = std::time::Instant::now() + wait;
    let mut delays = crate::backoff::doubling(std::time::Duration::from_secs(1), std::time::Duration::from_secs(30));
    loop {
        match write().await {
            Err(e) if e.code() == Some("media_processing") && std::time::Instant::now() < until => {
                let d = delays.next_delay();
                tracing::info!("the video is still processing; sending again in {d:?}");
                tokio::time::sleep(d).await;
            }
            r => return r,
        }
    }
}
