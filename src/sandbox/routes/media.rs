//! Uploads (images, videos) and the media library.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/upload", post(upload_image).layer(upload_limit(limits::IMAGE_MAX_BYTES)).get(list_media).delete(delete_media))
        .route("/api/upload/video", post(upload_video).layer(upload_limit(limits::VIDEO_MAX_BYTES)))
        .route("/media/{name}", get(generated))
}

/// Bytes of a generated medium per result (what the CDN would serve).
const GENERATED_BYTES: usize = 64 * 1024;

/// A completed generation's result, as its `resultUrl` names it (the same bytes for the same job).
async fn generated(State(app): AppState, Path(name): Path<String>) -> Result<axum::response::Response, Refusal> {
    let (stem, ext) = name.rsplit_once('.').ok_or_else(|| not_found("media"))?;
    let seq = stem.strip_prefix("gen_").and_then(|n| n.parse::<u64>().ok()).ok_or_else(|| not_found("media"))?;
    let done = app.world().jobs.get(&seq).is_some_and(|j| j.completed_ms.is_some());
    if !done {
        return Err(not_found("media"));
    }
    let ct = match ext {
        "mp4" => "video/mp4",
        "png" => "image/png",
        _ => "audio/mpeg",
    };
    let body: Vec<u8> = (0..GENERATED_BYTES).map(|i| (seq as usize + i) as u8).collect();
    Ok(([(axum::http::header::CONTENT_TYPE, ct)], body).into_response())
}

async fn upload_image(State(app): AppState, Me(me): Me, m: Multipart) -> Reply {
    let (ct, data, fields) = read_upload(m).await?;
    limits::check_upload(limits::UploadLimits::Image, &ct, data.len()).map_err(|e| bad("invalid_file", e.to_string()))?;
    let rec = store_media(&mut app.world(), &me, &ct, &data, UploadType::Image, fields.get("purpose").cloned());
    let r = render_media(&rec);
    created(
        json!({ "id": r.id, "media_id": r.id, "url": r.url, "pathname": r.pathname, "contentType": r.content_type, "size": r.size, "type": r.media_type }),
    )
}

async fn upload_video(State(app): AppState, Me(me): Me, m: Multipart) -> Reply {
    let (ct, data, fields) = read_upload(m).await?;
    limits::check_upload(limits::UploadLimits::Video, &ct, data.len()).map_err(|e| bad("invalid_file", e.to_string()))?;
    // "Max 180 seconds" (a byte's 60 are checked when the byte is made).
    if let Some(s) = crate::wire::video::seconds(&data).filter(|s| *s > crate::wire::video::POST_VIDEO_MAX_SECONDS) {
        return Err(bad("video_too_long", format!("the video lasts {s:.1} s; at most 180 s")));
    }
    let rec = store_media(&mut app.world(), &me, &ct, &data, UploadType::Video, fields.get("purpose").cloned());
    let r = render_media(&rec);
    created(
        json!({ "id": r.id, "media_id": r.id, "url": r.url, "pathname": r.pathname, "contentType": r.content_type, "size": r.size, "type": r.media_type, "status": "processing" }),
    )
}

async fn list_media(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let w = app.world();
    let t = q.get("type").map(|t| UploadType::from(t.as_str()));
    let purpose = q.get("purpose");
    paged(
        &w,
        &w.media,
        &q,
        "media",
        |m| m.agent == me && t.as_ref().is_none_or(|t| m.kind.as_ref() == Some(t)) && purpose.is_none_or(|p| m.purpose.as_ref() == Some(p)),
        |_, m| val(render_media(m)),
    )
}

async fn delete_media(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let mut w = app.world();
    let seq = if let Some(id) = v.get("id").and_then(Value::as_str) {
        seq_of(id).filter(|s| w.media.contains_key(s))
    } else if let Some(url) = v.get("url").and_then(Value::as_str) {
        w.media.values().find(|m| m.url == url).map(|m| m.seq)
    } else {
        return Err(bad("invalid_body", "send {\"id\": ...} or {\"url\": ...}"));
    };
    let seq = seq.ok_or_else(|| not_found("media"))?;
    if w.media[&seq].agent != me {
        return Err(forbidden("you can only delete your own media"));
    }
    w.media.remove(&seq);
    ok(json!({ "success": true }))
}

/// The body limit of an upload route: the file's limit plus room for the multipart framing.
pub(super) fn upload_limit(file_max: usize) -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(file_max + 64 * 1024)
}

pub(super) fn multipart_error(e: axum::extract::multipart::MultipartError) -> Refusal {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal(413, "payload_too_large", "the upload is larger than this endpoint takes".into())
    } else {
        bad("invalid_multipart", e.body_text())
    }
}

/// Reads the `file` part of a multipart upload: (content type, bytes, other fields).
pub(super) async fn read_upload(mut m: Multipart) -> Result<(String, Vec<u8>, HashMap<String, String>), Refusal> {
    let mut file = None;
    let mut fields = HashMap::new();
    while let Some(field) = m.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let ct = field.content_type().unwrap_or("application/octet-stream").to_string();
            let data = field.bytes().await.map_err(multipart_error)?;
            file = Some((ct, data.to_vec()));
        } else {
            fields.insert(name, field.text().await.unwrap_or_default());
        }
    }
    let (ct, data) = file.ok_or_else(|| bad("missing_file", "multipart field `file` is required"))?;
    Ok((ct, data, fields))
}

/// A PNG's size in pixels, from its header.
fn png_pixels(data: &[u8]) -> Option<(u32, u32)> {
    if data.len() < 24 || &data[..8] != b"\x89PNG\r\n\x1a\n" || &data[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    Some((be(16), be(20)))
}

pub(super) fn store_media(w: &mut World, agent: &str, ct: &str, data: &[u8], kind: UploadType, purpose: Option<String>) -> MediaRec {
    let seq = w.next_seq();
    let ext = ct.rsplit('/').next().unwrap_or("bin");
    let seconds = (kind == UploadType::Video).then(|| crate::wire::video::seconds(data)).flatten();
    let rec = MediaRec {
        seq,
        agent: agent.into(),
        url: format!("https://sandbox.imagineanything.invalid/media/m_{seq}.{ext}"),
        content_type: ct.into(),
        size: data.len() as u64,
        pixels: png_pixels(data),
        kind: Some(kind),
        purpose,
        created_ms: now_ms(),
        seconds,
    };
    w.media.insert(seq, rec.clone());
    rec
}
