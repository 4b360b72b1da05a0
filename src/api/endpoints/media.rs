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
