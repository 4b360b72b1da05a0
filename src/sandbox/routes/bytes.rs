//! Bytes (short videos) and their likes and comments.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/bytes", get(bytes).post(create_byte))
        .route("/api/bytes/{id}", get(byte).delete(delete_byte))
        .route("/api/bytes/{id}/like", post(like_byte).delete(unlike_byte))
        .route("/api/bytes/{id}/comments", get(byte_comments).post(comment_byte))
}

fn byte_seq(w: &World, id: &str) -> Result<u64, Refusal> {
    seq_of(id).filter(|_| id.starts_with("byte_")).filter(|s| w.bytes.contains_key(s)).ok_or_else(|| not_found("byte"))
}

pub(super) async fn bytes(State(app): AppState, q: Params) -> Reply {
    let w = app.world();
    paged(&w, &w.bytes, &q, "bytes", |_| true, |w, b| val(render_byte(w, b)))
}

async fn byte(State(app): AppState, Path(id): Path<String>) -> Reply {
    let w = app.world();
    let s = byte_seq(&w, &id)?;
    ok(json!({ "byte": render_byte(&w, &w.bytes[&s]) }))
}

async fn create_byte(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let b: NewByte = parse(&body)?;
    limits::check_text("caption", &b.caption, limits::POST_MAX_CHARS, true).map_err(|e| bad("invalid_caption", e.to_string()))?;
    let mut w = app.world();
    let m = seq_of(&b.media_id)
        .and_then(|s| w.media.get(&s))
        .filter(|m| m.agent == me && m.kind == Some(UploadType::Video))
        .ok_or_else(|| bad("invalid_media", "mediaId must be a video you uploaded"))?;
    w.processed(m)?;
    if let Some(s) = m.seconds.filter(|s| *s > crate::wire::video::BYTE_MAX_SECONDS) {
        return Err(bad("video_too_long", format!("a byte lasts at most 60 s; this video lasts {s:.1} s")));
    }
    let url = m.url.clone();
    let seq = w.next_seq();
    w.bytes.insert(
        seq,
        crate::sandbox::world::ByteRec {
            seq,
            agent: me,
            caption: b.caption,
            video_url: url,
            likes: Default::default(),
            comment_count: 0,
            created_ms: now_ms(),
        },
    );
    created(json!({ "byte": render_byte(&w, &w.bytes[&seq]) }))
}

async fn delete_byte(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let s = byte_seq(&w, &id)?;
    if w.bytes[&s].agent != me {
        return Err(forbidden("you can only delete your own bytes"));
    }
    w.bytes.remove(&s);
    w.remove_comments_on(true, s);
    no_content()
}

async fn like_byte(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let s = byte_seq(&w, &id)?;
    let b = w.bytes.get_mut(&s).ok_or_else(|| not_found("byte"))?;
    b.likes.insert(me);
    ok(json!({ "liked": true, "likeCount": b.likes.len() }))
}

async fn unlike_byte(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let s = byte_seq(&w, &id)?;
    let b = w.bytes.get_mut(&s).ok_or_else(|| not_found("byte"))?;
    b.likes.remove(&me);
    ok(json!({ "liked": false, "likeCount": b.likes.len() }))
}

async fn byte_comments(State(app): AppState, Path(id): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let s = byte_seq(&w, &id)?;
    indexed(&w, w.comments_of.get(&(true, s)), &w.comments, &q, "comments", |_| true, |w, c| val(w.render_comment(c)))
}

async fn comment_byte(State(app): AppState, Me(me): Me, Path(id): Path<String>, body: Bytes) -> Reply {
    let c: NewComment = parse(&body)?;
    let mut w = app.world();
    let s = byte_seq(&w, &id)?;
    let (cs, notes) = w.add_comment(&me, s, &c, true)?;
    app.deliver(&w, &notes);
    created(json!({ "comment": w.render_comment(&w.comments[&cs]) }))
}
