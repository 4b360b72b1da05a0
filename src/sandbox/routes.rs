//! The sandbox's HTTP routes: every endpoint of the API reference, the
//! `/sandbox/` control API and the `/v1/` OpenAI-compatible stand-in.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::{request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};

use super::world::{
    bad, forbidden, iso, not_found, now_ms, seq_of, JobRec, MediaRec, OrderMsgRec, OrderRec, Refusal, ReviewRec, ServiceRec, World,
};
use super::{lock, App, Faults};
use crate::api::limits;
use crate::api::types::*;

type S = State<Arc<App>>;
type R = Result<Response, Refusal>;
type Q = Query<HashMap<String, String>>;

/// The authenticated agent (401 without a valid, unexpired token).
pub struct Me(pub String);

/// The agent behind the token, when one is sent (public endpoints).
pub struct Viewer(pub Option<String>);

fn token_agent(parts: &Parts, app: &App) -> Option<String> {
    let t = parts.headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
    app.world().agent_by_token(t).map(str::to_string)
}

impl FromRequestParts<Arc<App>> for Me {
    type Rejection = Refusal;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refusal> {
        token_agent(parts, app).map(Me).ok_or_else(|| Refusal(401, "unauthorized", "missing, invalid or expired access token".into()))
    }
}

impl FromRequestParts<Arc<App>> for Viewer {
    type Rejection = Refusal;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refusal> {
        Ok(Viewer(token_agent(parts, app)))
    }
}

fn ok<T: Serialize>(v: T) -> R {
    Ok(Json(v).into_response())
}

fn created<T: Serialize>(v: T) -> R {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

fn no_content() -> R {
    Ok(StatusCode::NO_CONTENT.into_response())
}

use super::validate::{self, parse};

fn limit(q: &HashMap<String, String>) -> Result<usize, Refusal> {
    match q.get("limit") {
        None => Ok(20),
        Some(l) => l
            .parse::<usize>()
            .map(|n| n.clamp(1, limits::MAX_LIST_LIMIT as usize))
            .map_err(|_| bad("invalid_limit", "limit must be a number")),
    }
}

fn cursor(q: &HashMap<String, String>) -> Option<&str> {
    q.get("cursor").map(String::as_str).filter(|c| !c.is_empty())
}

/// A keyset cursor (`c_<n>`, what [`World::page`] hands out); a malformed one is a 400.
fn keyset_cursor(q: &HashMap<String, String>) -> Result<Option<&str>, Refusal> {
    match cursor(q) {
        Some(c) if !c.starts_with("c_") || super::world::seq_of(c).is_none() => Err(bad("invalid_cursor", format!("bad cursor {c:?}"))),
        c => Ok(c),
    }
}

/// An offset cursor (`<prefix><n>`); a malformed one is a 400, never a silent first page.
fn offset_cursor(q: &HashMap<String, String>, prefix: &str) -> Result<usize, Refusal> {
    match cursor(q) {
        None => Ok(0),
        Some(c) => {
            c.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| bad("invalid_cursor", format!("bad cursor {c:?}")))
        }
    }
}

fn next_offset(prefix: &str, start: usize, lim: usize, len: usize) -> Option<String> {
    let end = start.saturating_add(lim);
    (end < len).then(|| format!("{prefix}{end}"))
}

fn list_json(key: &str, items: Vec<Value>, next: Option<String>, more: bool) -> R {
    ok(json!({ key: items, "nextCursor": next, "hasMore": more }))
}

/// Pages any newest-first collection that `filter` selects.
fn paged<T>(
    w: &World,
    map: &std::collections::BTreeMap<u64, T>,
    q: &HashMap<String, String>,
    key: &str,
    filter: impl Fn(&T) -> bool,
    render: impl Fn(&World, &T) -> Value,
) -> R {
    let lim = limit(q)?;
    let filtered: std::collections::BTreeMap<&u64, &T> = map.iter().filter(|(_, v)| filter(v)).collect();
    let (items, next, more) = World::page(filtered.iter().map(|(k, v)| (*k, *v)), keyset_cursor(q)?, lim);
    list_json(key, items.into_iter().map(|t| render(w, t)).collect(), next, more)
}

fn val<T: Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

pub fn router(_app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/token", post(token))
        .route("/api/posts", get(timeline).post(create_post))
        .route("/api/posts/{id}", get(get_post).delete(delete_post))
        .route("/api/posts/{id}/like", post(like).delete(unlike))
        .route("/api/posts/{id}/likes", get(likes))
        .route("/api/posts/{id}/comments", get(comments).post(comment))
        .route("/api/posts/{id}/comments/{cid}", axum::routing::delete(delete_comment))
        .route("/api/posts/{id}/repost", post(repost).delete(unrepost))
        .route("/api/posts/{id}/reposts", get(reposts))
        .route("/api/posts/{id}/quote", post(quote))
        .route("/api/posts/{id}/amplify", post(amplify).delete(unamplify))
        .route("/api/posts/{id}/view", post(view))
        .route("/api/feed", get(feed))
        .route("/api/agents", get(list_agents))
        .route("/api/agents/me", get(me).patch(update_me))
        .route("/api/agents/me/avatar", post(upload_avatar).layer(upload_limit(limits::AVATAR_MAX_BYTES)).delete(remove_avatar))
        .route("/api/agents/me/capabilities", get(capabilities).patch(set_capabilities).delete(clear_capabilities))
        .route("/api/agents/me/webhook", get(webhook).patch(set_webhook).delete(remove_webhook))
        .route("/api/agents/{handle}", get(agent))
        .route("/api/agents/{handle}/follow", get(is_following).post(follow).delete(unfollow))
        .route("/api/agents/{handle}/similar", get(similar))
        .route("/api/agents/{handle}/followers", get(followers))
        .route("/api/agents/{handle}/following", get(following))
        .route("/api/agents/{handle}/likes", get(liked_posts))
        .route("/api/agents/{handle}/xp", get(xp))
        .route("/api/explore", get(explore))
        .route("/api/explore/agents", get(recommended))
        .route("/api/conversations", get(conversations).post(start_conversation))
        .route("/api/conversations/unread", get(unread))
        .route("/api/conversations/{id}", axum::routing::delete(delete_conversation))
        .route("/api/conversations/{id}/messages", get(messages).post(send_message))
        .route("/api/conversations/{id}/read", post(read_conversation))
        .route("/api/messages/{id}", get(message).delete(delete_message))
        .route("/api/search", get(search))
        .route("/api/hashtags/trending", get(trending_hashtags))
        .route("/api/hashtags/{tag}", get(hashtag))
        .route("/api/marketplace/services", get(services).post(create_service))
        .route("/api/marketplace/services/{id}", get(service).patch(update_service).delete(delete_service))
        .route("/api/marketplace/orders", get(orders).post(place_order))
        .route("/api/marketplace/orders/{id}", get(order).patch(update_order))
        .route("/api/marketplace/orders/{id}/messages", get(order_messages).post(send_order_message))
        .route("/api/marketplace/reviews", get(reviews).post(create_review))
        .route("/api/marketplace/payouts", get(payouts).post(request_payout))
        .route("/api/marketplace/connect", get(account).post(setup_account))
        .route("/api/notifications", get(notifications))
        .route("/api/notifications/count", get(notification_count))
        .route("/api/notifications/read", post(mark_read))
        .route("/api/analytics/overview", get(analytics_overview))
        .route("/api/analytics/posts", get(analytics_posts))
        .route("/api/upload", post(upload_image).layer(upload_limit(limits::IMAGE_MAX_BYTES)).get(list_media).delete(delete_media))
        .route("/api/upload/video", post(upload_video).layer(upload_limit(limits::VIDEO_MAX_BYTES)))
        .route("/api/settings/services", get(connected).post(connect))
        .route("/api/settings/services/{provider}", axum::routing::patch(toggle_service).delete(disconnect))
        .route("/api/settings/services/{provider}/test", post(test_service))
        .route("/api/generate", post(generate))
        .route("/api/generate/pending", get(pending_jobs))
        .route("/api/generate/history", get(job_history))
        .route("/api/generate/models", get(models))
        .route("/api/generate/voices", get(voices))
        .route("/api/generate/{id}/retry", post(retry_job))
        .route("/api/bytes", get(bytes).post(create_byte))
        .route("/api/bytes/{id}", get(byte).delete(delete_byte))
        .route("/api/bytes/{id}/like", post(like_byte).delete(unlike_byte))
        .route("/api/bytes/{id}/comments", get(byte_comments).post(comment_byte))
        .route("/api/reports", post(report))
        .route("/sandbox/health", get(|| async { Json(json!({"status": "ok", "sandbox": true})) }))
        .route("/sandbox/stats", get(stats))
        .route("/sandbox/faults", get(get_faults).post(set_faults))
        .route("/sandbox/revoke-tokens", post(revoke_tokens))
        .route("/sandbox/community/burst", post(super::community::burst))
        .route("/v1/models", get(super::llm::models))
        .route("/v1/chat/completions", post(super::llm::chat))
}

// ---- auth ----

async fn register(State(app): S, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let a: NewAgent = validate::decode(v)?;
    validate::name(&a.name)?;
    if let Some(u) = &a.website_url {
        validate::url("websiteUrl", u)?;
    }
    let mut w = app.world();
    let (rec, secret) = w.register(&a, false)?;
    created(json!({
        "id": rec.id, "handle": rec.handle, "name": rec.name,
        "clientId": rec.client_id, "clientSecret": secret,
        "message": "Agent registered successfully. Save your clientSecret — it is only shown once."
    }))
}

async fn token(State(app): S, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let ttl = app.cfg.token_ttl.as_millis() as i64;
    let mut w = app.world();
    let agent = match v.get("grant_type").and_then(Value::as_str) {
        Some("client_credentials") => {
            let id = v.get("client_id").and_then(Value::as_str).unwrap_or_default();
            let secret = v.get("client_secret").and_then(Value::as_str).unwrap_or_default();
            match w.clients.get(id).and_then(|a| w.agents.get(a)) {
                Some(a) if a.client_secret == secret => a.id.clone(),
                _ => return Err(Refusal(401, "invalid_client", "unknown client or wrong secret".into())),
            }
        }
        Some("refresh_token") => {
            let rt = v.get("refresh_token").and_then(Value::as_str).unwrap_or_default();
            match w.refresh_tokens.remove(rt) {
                Some(t) if t.expires_ms > now_ms() => t.agent,
                _ => return Err(Refusal(401, "invalid_grant", "refresh token is invalid or expired".into())),
            }
        }
        _ => return Err(bad("unsupported_grant_type", "grant_type must be client_credentials or refresh_token")),
    };
    {
        let mut s = lock(&app.stats);
        s.token_grants += 1;
        if s.token_granted_ms.len() < 10_000 {
            s.token_granted_ms.push(now_ms());
        }
    }
    ok(w.issue_tokens(&agent, ttl))
}

// ---- posts ----

async fn timeline(State(app): S, Viewer(v): Viewer, q: Q) -> R {
    let w = app.world();
    paged(&w, &w.posts, &q, "posts", |_| true, |w, p| val(w.render_post(p, v.as_deref())))
}

async fn create_post(State(app): S, Me(me): Me, body: Bytes) -> R {
    let p: NewPost = parse(&body)?;
    let mut w = app.world();
    let (seq, notes) = w.create_post(&me, &p)?;
    app.deliver(&w, &notes);
    let post = w.render_post(&w.posts[&seq], Some(&me));
    created(json!({ "post": post }))
}

async fn get_post(State(app): S, Viewer(v): Viewer, Path(id): Path<String>) -> R {
    let w = app.world();
    let p = w.post(&id)?;
    ok(json!({ "post": w.render_post(p, v.as_deref()) }))
}

async fn delete_post(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    app.world().delete_post(&me, &id)?;
    no_content()
}

fn post_seq(w: &World, id: &str) -> Result<u64, Refusal> {
    w.post(id).map(|p| p.seq)
}

async fn like(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let p = w.posts.get_mut(&seq).ok_or_else(|| not_found("post"))?;
    let new = p.likes.insert(me.clone(), now_ms()).is_none();
    let (author, count) = (p.agent.clone(), p.likes.len());
    if new {
        w.award(&author, 1, "like received");
        let n = w.notify(&author, NotificationType::Like, &me, Some(seq), None, None);
        app.deliver(&w, &n.into_iter().collect::<Vec<_>>());
    }
    ok(json!({ "liked": true, "likeCount": count }))
}

async fn unlike(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let p = w.posts.get_mut(&seq).ok_or_else(|| not_found("post"))?;
    p.likes.remove(&me);
    ok(json!({ "liked": false, "likeCount": p.likes.len() }))
}

async fn likes(State(app): S, Path(id): Path<String>, q: Q) -> R {
    let w = app.world();
    let p = w.post(&id)?;
    let lim = limit(&q)?;
    let mut all: Vec<(&String, &i64)> = p.likes.iter().collect();
    all.sort_by(|a, b| b.1.cmp(a.1).then(b.0.cmp(a.0)));
    let start = offset_cursor(&q, "l_")?;
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(lim)
        .map(|(a, t)| json!({"id": format!("like_{}_{}", p.seq, a), "likedAt": iso(**t), "agent": w.summary(a)}))
        .collect();
    list_json("likes", page, next_offset("l_", start, lim, all.len()), start.saturating_add(lim) < all.len())
}

async fn comments(State(app): S, Path(id): Path<String>, q: Q) -> R {
    let w = app.world();
    let seq = post_seq(&w, &id)?;
    paged(&w, &w.comments, &q, "comments", |c| c.post == seq && !c.on_byte, |w, c| val(w.render_comment(c)))
}

async fn comment(State(app): S, Me(me): Me, Path(id): Path<String>, body: Bytes) -> R {
    let c: NewComment = parse(&body)?;
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let (cs, notes) = w.add_comment(&me, seq, &c, false)?;
    app.deliver(&w, &notes);
    created(json!({ "comment": w.render_comment(&w.comments[&cs]) }))
}

async fn delete_comment(State(app): S, Me(me): Me, Path((id, cid)): Path<(String, String)>) -> R {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let n = w.delete_comment(&me, seq, &cid)?;
    ok(json!({ "deleted": n }))
}

async fn repost(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let p = w.posts.get_mut(&seq).ok_or_else(|| not_found("post"))?;
    let new = p.reposts.insert(me.clone());
    let author = p.agent.clone();
    if new {
        let n = w.notify(&author, NotificationType::Repost, &me, Some(seq), None, None);
        app.deliver(&w, &n.into_iter().collect::<Vec<_>>());
    }
    // The created repost as a post with `repostOf` (what the official SDK reads), and the flag.
    let original = w.render_post(&w.posts[&seq], Some(&me));
    let repost = json!({
        "id": format!("repost_{seq}_{me}"), "content": "", "agent": w.summary(&me), "isQuote": false,
        "createdAt": iso(now_ms()), "repostOf": original,
    });
    ok(json!({ "post": repost, "reposted": true }))
}

async fn unrepost(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    if let Some(p) = w.posts.get_mut(&seq) {
        p.reposts.remove(&me);
    }
    ok(json!({ "reposted": false }))
}

async fn reposts(State(app): S, Path(id): Path<String>, q: Q) -> R {
    let w = app.world();
    let p = w.post(&id)?;
    let lim = limit(&q)?;
    let mut items: Vec<Value> =
        p.reposts.iter().map(|a| json!({"id": format!("repost_{}_{}", p.seq, a), "agent": w.summary(a), "isQuote": false})).collect();
    items.extend(w.posts.values().filter(|q| q.is_quote && q.repost_of == Some(p.seq)).map(|q| val(w.render_post(q, None))));
    let start = offset_cursor(&q, "r_")?;
    let (next, more) = (next_offset("r_", start, lim, items.len()), start.saturating_add(lim) < items.len());
    let page = items.into_iter().skip(start).take(lim).collect();
    list_json("reposts", page, next, more)
}

async fn quote(State(app): S, Me(me): Me, Path(id): Path<String>, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let content = v.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
    limits::check_text("content", &content, limits::POST_MAX_CHARS, false).map_err(|e| bad("invalid_content", e.to_string()))?;
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let author = w.posts[&seq].agent.clone();
    let (q, mut notes) = w.insert_post(&me, &content, Some(MediaType::Text), vec![], Some(seq), true);
    notes.extend(w.notify(&author, NotificationType::Quote, &me, Some(q), None, Some(&content)));
    app.deliver(&w, &notes);
    created(json!({ "post": w.render_post(&w.posts[&q], Some(&me)) }))
}

async fn amplify(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let p = w.posts.get_mut(&seq).ok_or_else(|| not_found("post"))?;
    if p.agent == me {
        return Err(bad("cannot_amplify_own", "you cannot amplify your own post"));
    }
    let new = p.amplifies.insert(me);
    let author = p.agent.clone();
    if new {
        w.award(&author, 5, "amplified");
    }
    ok(json!({ "amplified": true }))
}

async fn unamplify(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    if let Some(p) = w.posts.get_mut(&seq) {
        p.amplifies.remove(&me);
    }
    ok(json!({ "amplified": false }))
}

async fn view(State(app): S, Me(_me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    if let Some(p) = w.posts.get_mut(&seq) {
        p.views += 1;
    }
    ok(json!({ "success": true }))
}

async fn feed(State(app): S, Me(me): Me, q: Q) -> R {
    let w = app.world();
    let following = w.agent(&me)?.following.clone();
    paged(&w, &w.posts, &q, "posts", |p| following.contains(&p.agent) || p.agent == me, |w, p| val(w.render_post(p, Some(&me))))
}

// ---- agents ----

async fn list_agents(State(app): S, q: Q) -> R {
    let w = app.world();
    let t = q.get("type").map(|t| AgentType::from(t.as_str()));
    let verified = q.get("verified").map(|v| v == "true");
    let search = q.get("search").map(|s| s.to_lowercase());
    let by_seq: std::collections::BTreeMap<u64, String> = w.agents.keys().filter_map(|id| seq_of(id).map(|s| (s, id.clone()))).collect();
    paged(
        &w,
        &by_seq,
        &q,
        "agents",
        |id| {
            let a = &w.agents[id];
            t.as_ref().is_none_or(|t| a.agent_type.as_ref() == Some(t))
                && verified.is_none_or(|v| a.verified == v)
                && search.as_ref().is_none_or(|s| a.handle.contains(s.as_str()) || a.name.to_lowercase().contains(s.as_str()))
        },
        |w, id| val(w.summary(id)),
    )
}

async fn me(State(app): S, Me(me): Me) -> R {
    ok(json!({ "agent": app.world().profile(&me)? }))
}

async fn update_me(State(app): S, Me(me): Me, body: Bytes) -> R {
    let u: ProfileUpdate = parse(&body)?;
    if let Some(b) = &u.bio {
        limits::check_text("bio", b, limits::BIO_MAX_CHARS, true).map_err(|e| bad("invalid_bio", e.to_string()))?;
    }
    if let Some(n) = &u.name {
        validate::name(n)?;
    }
    if let Some(url) = &u.website_url {
        validate::url("websiteUrl", url)?;
    }
    let mut w = app.world();
    let a = w.agents.get_mut(&me).ok_or_else(|| not_found("agent"))?;
    if let Some(n) = u.name {
        a.name = n;
    }
    if u.bio.is_some() {
        a.bio = u.bio;
    }
    if u.website_url.is_some() {
        a.website_url = u.website_url;
    }
    if u.agent_type.is_some() {
        a.agent_type = u.agent_type;
    }
    ok(json!({ "agent": w.profile(&me)? }))
}

/// The body limit of an upload route: the file's limit plus room for the multipart framing.
fn upload_limit(file_max: usize) -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(file_max + 64 * 1024)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> Refusal {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal(413, "payload_too_large", "the upload is larger than this endpoint takes".into())
    } else {
        bad("invalid_multipart", e.body_text())
    }
}

/// Reads the `file` part of a multipart upload: (content type, bytes, other fields).
async fn read_upload(mut m: Multipart) -> Result<(String, Vec<u8>, HashMap<String, String>), Refusal> {
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

fn store_media(w: &mut World, agent: &str, ct: &str, size: usize, kind: UploadType, purpose: Option<String>) -> MediaRec {
    let seq = w.next_seq();
    let ext = ct.rsplit('/').next().unwrap_or("bin");
    let rec = MediaRec {
        seq,
        agent: agent.into(),
        url: format!("https://sandbox.imagineanything.invalid/media/m_{seq}.{ext}"),
        content_type: ct.into(),
        size: size as u64,
        kind: Some(kind),
        purpose,
        created_ms: now_ms(),
    };
    w.media.insert(seq, rec.clone());
    rec
}

fn render_media(m: &MediaRec) -> Media {
    Media {
        id: format!("media_{}", m.seq),
        media_id: None,
        url: m.url.clone(),
        pathname: m.url.rsplit_once(".invalid").map(|(_, p)| p.to_string()),
        content_type: Some(m.content_type.clone()),
        size: m.size,
        media_type: m.kind.clone(),
        purpose: m.purpose.clone(),
        created_at: Some(iso(m.created_ms)),
    }
}

async fn upload_avatar(State(app): S, Me(me): Me, m: Multipart) -> R {
    let (ct, data, _) = read_upload(m).await?;
    limits::check_upload(limits::UploadKind::Avatar, &ct, data.len()).map_err(|e| bad("invalid_file", e.to_string()))?;
    let mut w = app.world();
    let rec = store_media(&mut w, &me, &ct, data.len(), UploadType::Image, Some("avatar".into()));
    if let Some(a) = w.agents.get_mut(&me) {
        a.avatar_url = Some(rec.url.clone());
    }
    ok(json!({ "url": rec.url, "agent": w.profile(&me)? }))
}

async fn remove_avatar(State(app): S, Me(me): Me) -> R {
    let mut w = app.world();
    if let Some(a) = w.agents.get_mut(&me) {
        a.avatar_url = None;
    }
    ok(json!({ "success": true }))
}

async fn capabilities(State(app): S, Me(me): Me) -> R {
    ok(json!({ "capabilities": app.world().agent(&me)?.capabilities }))
}

async fn set_capabilities(State(app): S, Me(me): Me, body: Bytes) -> R {
    let patch: Value = parse(&body)?;
    let mut w = app.world();
    let a = w.agents.get_mut(&me).ok_or_else(|| not_found("agent"))?;
    let mut cur = val(&a.capabilities);
    if let (Some(c), Some(p)) = (cur.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            c.insert(k.clone(), v.clone());
        }
    }
    a.capabilities = serde_json::from_value(cur).map_err(|e| bad("invalid_capabilities", e.to_string()))?;
    ok(json!({ "capabilities": a.capabilities }))
}

async fn clear_capabilities(State(app): S, Me(me): Me) -> R {
    if let Some(a) = app.world().agents.get_mut(&me) {
        a.capabilities = Capabilities::default();
    }
    ok(json!({ "success": true }))
}

async fn webhook(State(app): S, Me(me): Me) -> R {
    let w = app.world();
    let a = w.agent(&me)?;
    ok(json!({ "webhookUrl": a.webhook_url, "hasSecret": a.webhook_secret.is_some() }))
}

async fn set_webhook(State(app): S, Me(me): Me, body: Bytes) -> R {
    let u: WebhookUpdate = parse(&body)?;
    let mut w = app.world();
    let secret = u.regenerate_secret.then(|| format!("whsec_{:032x}", w.rng.random::<u128>()));
    let a = w.agents.get_mut(&me).ok_or_else(|| not_found("agent"))?;
    if let Some(url) = &u.webhook_url {
        validate::url("webhookUrl", url)?;
        if !app.cfg.allow_private_webhooks && validate::private_host(url) {
            return Err(bad("invalid_url", "webhookUrl must not point at a loopback or private address"));
        }
        a.webhook_url = Some(url.clone());
    }
    if let Some(s) = &secret {
        a.webhook_secret = Some(s.clone());
    }
    let url = a.webhook_url.clone();
    if u.test {
        if let Some(d) = super::webhooks::test_delivery(&w, &me) {
            let _ = app.webhooks.send(d);
        }
    }
    ok(json!({ "webhookUrl": url, "secret": secret, "hasSecret": w.agents[&me].webhook_secret.is_some() }))
}

async fn remove_webhook(State(app): S, Me(me): Me) -> R {
    if let Some(a) = app.world().agents.get_mut(&me) {
        a.webhook_url = None;
        a.webhook_secret = None;
    }
    ok(json!({ "success": true }))
}

async fn agent(State(app): S, Path(handle): Path<String>) -> R {
    let w = app.world();
    let id = w.agent_by_handle(&handle)?.id.clone();
    ok(json!({ "agent": w.profile(&id)? }))
}

async fn is_following(State(app): S, Me(me): Me, Path(handle): Path<String>) -> R {
    let w = app.world();
    let target = w.agent_by_handle(&handle)?.id.clone();
    ok(json!({ "following": w.agent(&me)?.following.contains(&target) }))
}

async fn follow(State(app): S, Me(me): Me, Path(handle): Path<String>) -> R {
    let mut w = app.world();
    let n = w.follow(&me, &handle)?;
    app.deliver(&w, &n.into_iter().collect::<Vec<_>>());
    ok(json!({ "following": true }))
}

async fn unfollow(State(app): S, Me(me): Me, Path(handle): Path<String>) -> R {
    app.world().unfollow(&me, &handle)?;
    ok(json!({ "following": false }))
}

fn agent_list(w: &World, ids: Vec<String>, q: &HashMap<String, String>) -> R {
    let by_seq: std::collections::BTreeMap<u64, String> = ids.into_iter().filter_map(|id| seq_of(&id).map(|s| (s, id))).collect();
    paged(w, &by_seq, q, "agents", |_| true, |w, id| val(w.summary(id)))
}

async fn similar(State(app): S, Viewer(v): Viewer, Path(handle): Path<String>, q: Q) -> R {
    let w = app.world();
    let a = w.agent_by_handle(&handle)?.clone();
    let lim = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).clamp(1, 20);
    let exclude: std::collections::BTreeSet<String> = match (q.get("excludeFollowing").map(String::as_str), &v) {
        (Some("true"), Some(me)) => w.agent(me)?.following.clone(),
        _ => Default::default(),
    };
    let mut scored: Vec<(usize, &String)> = w
        .agents
        .values()
        .filter(|o| o.id != a.id && !exclude.contains(&o.id))
        .map(|o| {
            let same_type = usize::from(o.agent_type.is_some() && o.agent_type == a.agent_type) * 3;
            let shared = o.followers.intersection(&a.followers).count();
            let skills = o.capabilities.skills.iter().filter(|s| a.capabilities.skills.contains(s)).count();
            (same_type + shared + skills, &o.id)
        })
        .filter(|(s, _)| *s > 0)
        .collect();
    scored.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(y.1)));
    let items: Vec<Value> = scored.into_iter().take(lim).map(|(_, id)| val(w.summary(id))).collect();
    list_json("agents", items, None, false)
}

async fn followers(State(app): S, Path(handle): Path<String>, q: Q) -> R {
    let w = app.world();
    let ids = w.agent_by_handle(&handle)?.followers.iter().cloned().collect();
    agent_list(&w, ids, &q)
}

async fn following(State(app): S, Path(handle): Path<String>, q: Q) -> R {
    let w = app.world();
    let ids = w.agent_by_handle(&handle)?.following.iter().cloned().collect();
    agent_list(&w, ids, &q)
}

async fn liked_posts(State(app): S, Path(handle): Path<String>, q: Q) -> R {
    let w = app.world();
    let id = w.agent_by_handle(&handle)?.id.clone();
    paged(&w, &w.posts, &q, "posts", |p| p.likes.contains_key(&id), |w, p| val(w.render_post(p, None)))
}

async fn xp(State(app): S, Path(handle): Path<String>, q: Q) -> R {
    let w = app.world();
    let a = w.agent_by_handle(&handle)?;
    let level = super::world::level_of(a.axp);
    let lo = super::world::LEVELS.get(level.saturating_sub(1) as usize).copied().unwrap_or(0);
    let hi = super::world::LEVELS.get(level as usize).copied().unwrap_or(lo.max(1));
    let progress = if hi > lo { (a.axp - lo) as f64 / (hi - lo) as f64 } else { 1.0 };
    let day_ago = now_ms() - 86_400_000;
    let recent: i64 = w.xp.values().filter(|x| x.agent == a.id && x.created_ms > day_ago).map(|x| x.amount).sum();
    let lim = limit(&q)?;
    let id = a.id.clone();
    let mine: std::collections::BTreeMap<&u64, _> = w.xp.iter().filter(|(_, x)| x.agent == id).collect();
    let (items, next, more) = World::page(mine.iter().map(|(k, v)| (*k, *v)), keyset_cursor(&q)?, lim);
    let history: Vec<Value> = items
        .into_iter()
        .map(|x| json!({"id": format!("axp_{}", x.seq), "amount": x.amount, "reason": x.reason, "createdAt": iso(x.created_ms)}))
        .collect();
    ok(json!({
        "axp": {"total": a.axp, "level": level, "progress": progress, "recentAXP": recent.max(0), "levelThresholds": super::world::LEVELS},
        "history": history, "nextCursor": next, "hasMore": more
    }))
}

fn trending_score(p: &super::world::PostRec) -> usize {
    p.likes.len() + 2 * p.comment_count as usize + 3 * p.reposts.len() + 2 * p.amplifies.len()
}

fn hashtag_counts(w: &World) -> Vec<Hashtag> {
    let day_ago = now_ms() - 86_400_000;
    let mut counts: HashMap<String, u64> = HashMap::new();
    for p in w.posts.values().filter(|p| p.created_ms > day_ago) {
        for t in &p.hashtags {
            *counts.entry(t.to_lowercase()).or_default() += 1;
        }
    }
    let mut v: Vec<Hashtag> = counts.into_iter().map(|(tag, count)| Hashtag { tag, count }).collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.tag.cmp(&b.tag)));
    v
}

async fn explore(State(app): S, q: Q) -> R {
    let w = app.world();
    let lim = limit(&q)?;
    let section = q.get("section").map(String::as_str).unwrap_or("all");
    let mut out = Explore::default();
    if matches!(section, "all" | "posts") {
        let day_ago = now_ms() - 86_400_000;
        let mut posts: Vec<&super::world::PostRec> = w.posts.values().filter(|p| p.created_ms > day_ago).collect();
        posts.sort_by(|a, b| trending_score(b).cmp(&trending_score(a)).then(b.seq.cmp(&a.seq)));
        out.trending_posts = posts.into_iter().take(lim).map(|p| w.render_post(p, None)).collect();
    }
    if matches!(section, "all" | "agents") {
        let mut agents: Vec<_> = w.agents.values().collect();
        agents.sort_by(|a, b| b.followers.len().cmp(&a.followers.len()).then(a.handle.cmp(&b.handle)));
        out.featured_agent = agents.first().map(|a| w.summary(&a.id));
        out.popular_agents = agents.into_iter().take(lim).map(|a| w.summary(&a.id)).collect();
    }
    if matches!(section, "all" | "hashtags") {
        out.trending_hashtags = hashtag_counts(&w).into_iter().take(lim).collect();
    }
    ok(out)
}

async fn recommended(State(app): S, Me(me): Me, q: Q) -> R {
    let w = app.world();
    let mine = w.agent(&me)?;
    let t = q.get("type").map(String::as_str).unwrap_or("all");
    let mut ids: Vec<&super::world::AgentRec> = w.agents.values().filter(|a| a.id != me && !mine.following.contains(&a.id)).collect();
    if let Some(skills) = q.get("skills") {
        let want: Vec<&str> = skills.split(',').collect();
        ids.retain(|a| a.capabilities.skills.iter().any(|s| want.contains(&s.as_str())));
    }
    if t == "humans" {
        ids.clear();
    }
    ids.sort_by(|a, b| b.followers.len().cmp(&a.followers.len()).then(a.id.cmp(&b.id)));
    let ids = ids.into_iter().map(|a| a.id.clone()).collect();
    agent_list(&w, ids, &q)
}

// ---- conversations ----

fn conv(w: &World, id: &str, me: &str) -> Result<u64, Refusal> {
    let seq = seq_of(id)
        .filter(|_| id.starts_with("conv_"))
        .filter(|s| w.conversations.contains_key(s))
        .ok_or_else(|| not_found("conversation"))?;
    if !w.conversations[&seq].participants.iter().any(|p| p == me) {
        return Err(forbidden("you are not a participant of this conversation"));
    }
    Ok(seq)
}

async fn conversations(State(app): S, Me(me): Me, q: Q) -> R {
    let w = app.world();
    paged(&w, &w.conversations, &q, "conversations", |c| c.participants.contains(&me), |w, c| val(w.render_conversation(c, &me)))
}

async fn start_conversation(State(app): S, Me(me): Me, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let handle = v.get("participantHandle").and_then(Value::as_str).ok_or_else(|| bad("invalid_body", "participantHandle is required"))?;
    let mut w = app.world();
    let other = w.agent_by_handle(handle)?.id.clone();
    if other == me {
        return Err(bad("invalid_participant", "you cannot message yourself"));
    }
    let c = w.conversation_between(&me, &other);
    if let Some(m) = v.get("message").and_then(Value::as_str) {
        w.send_message(c, &me, m)?;
    }
    created(json!({ "conversation": w.render_conversation(&w.conversations[&c], &me) }))
}

async fn unread(State(app): S, Me(me): Me) -> R {
    let w = app.world();
    let n: u64 = w.conversations.values().filter(|c| c.participants.contains(&me)).map(|c| w.unread_in(c, &me)).sum();
    ok(json!({ "count": n }))
}

async fn delete_conversation(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let c = conv(&w, &id, &me)?;
    w.conversations.remove(&c);
    w.messages.retain(|_, m| m.conv != c);
    no_content()
}

async fn messages(State(app): S, Me(me): Me, Path(id): Path<String>, q: Q) -> R {
    let w = app.world();
    let c = conv(&w, &id, &me)?;
    paged(&w, &w.messages, &q, "messages", |m| m.conv == c, |w, m| val(w.render_message(m, &me)))
}

async fn send_message(State(app): S, Me(me): Me, Path(id): Path<String>, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let content = v.get("content").and_then(Value::as_str).unwrap_or_default();
    let mut w = app.world();
    let c = conv(&w, &id, &me)?;
    let m = w.send_message(c, &me, content)?;
    created(json!({ "message": w.render_message(&w.messages[&m], &me) }))
}

async fn read_conversation(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let c = conv(&w, &id, &me)?;
    let last = w.messages.values().filter(|m| m.conv == c).map(|m| m.seq).max().unwrap_or(0);
    if let Some(cv) = w.conversations.get_mut(&c) {
        cv.read_upto.insert(me, last);
    }
    ok(json!({ "success": true }))
}

fn msg(w: &World, id: &str, me: &str) -> Result<u64, Refusal> {
    let seq = seq_of(id).filter(|_| id.starts_with("msg_")).filter(|s| w.messages.contains_key(s)).ok_or_else(|| not_found("message"))?;
    conv(w, &format!("conv_{}", w.messages[&seq].conv), me)?;
    Ok(seq)
}

async fn message(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let w = app.world();
    let m = msg(&w, &id, &me)?;
    ok(json!({ "message": w.render_message(&w.messages[&m], &me) }))
}

async fn delete_message(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let m = msg(&w, &id, &me)?;
    if w.messages[&m].sender != me {
        return Err(forbidden("you can only delete messages you sent"));
    }
    w.messages.remove(&m);
    no_content()
}

// ---- search, hashtags ----

async fn search(State(app): S, q: Q) -> R {
    let term =
        q.get("q").map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).ok_or_else(|| bad("missing_query", "q is required"))?;
    let kind = q.get("type").map(String::as_str).unwrap_or("all");
    let lim = limit(&q)?;
    let w = app.world();
    let mut out = SearchResults::default();
    if matches!(kind, "all" | "agents") {
        out.agents = w
            .agents
            .values()
            .filter(|a| a.handle.contains(&term) || a.name.to_lowercase().contains(&term))
            .take(lim)
            .map(|a| w.summary(&a.id))
            .collect();
    }
    if matches!(kind, "all" | "posts") {
        let (items, next, more) =
            World::page(w.posts.iter().filter(|(_, p)| p.content.to_lowercase().contains(&term)), keyset_cursor(&q)?, lim);
        out.posts = items.into_iter().map(|p| w.render_post(p, None)).collect();
        out.next_cursor = next;
        out.has_more = more;
    }
    ok(out)
}

async fn trending_hashtags(State(app): S, q: Q) -> R {
    let lim = limit(&q)?;
    let tags: Vec<Hashtag> = hashtag_counts(&app.world()).into_iter().take(lim).collect();
    ok(json!({ "hashtags": tags }))
}

async fn hashtag(State(app): S, Path(tag): Path<String>, q: Q) -> R {
    let t = tag.trim_start_matches('#').to_lowercase();
    let w = app.world();
    paged(&w, &w.posts, &q, "posts", |p| p.hashtags.iter().any(|h| h.to_lowercase() == t), |w, p| val(w.render_post(p, None)))
}

// ---- marketplace ----

fn render_service(w: &World, s: &ServiceRec, with_reviews: bool) -> Service {
    let reviews: Vec<&ReviewRec> = w.reviews.values().filter(|r| r.service == s.seq).collect();
    let avg = (!reviews.is_empty()).then(|| reviews.iter().map(|r| r.data.rating as f64).sum::<f64>() / reviews.len() as f64);
    Service {
        id: format!("svc_{}", s.seq),
        title: s.data.title.clone(),
        description: s.data.description.clone(),
        short_desc: s.data.short_desc.clone(),
        price: s.data.price,
        delivery_days: s.data.delivery_days,
        revisions: s.data.revisions,
        category: s.data.category.clone(),
        tags: s.data.tags.clone(),
        thumbnail_url: s.data.thumbnail_url.clone(),
        images: s.data.images.clone(),
        agent: Some(w.summary(&s.agent)),
        is_active: s.active,
        avg_rating: avg,
        order_count: w.orders.values().filter(|o| o.service == s.seq).count() as u64,
        featured: false,
        created_at: Some(iso(s.created_ms)),
        reviews: if with_reviews { reviews.into_iter().map(|r| render_review(w, r)).collect() } else { vec![] },
    }
}

fn render_review(w: &World, r: &ReviewRec) -> Review {
    Review {
        id: format!("rev_{}", r.seq),
        order_id: format!("ord_{}", r.order),
        service_id: format!("svc_{}", r.service),
        rating: r.data.rating,
        content: r.data.content.clone(),
        quality_rating: r.data.quality_rating,
        communication_rating: r.data.communication_rating,
        delivery_rating: r.data.delivery_rating,
        reviewer: Some(w.summary(&r.reviewer)),
        created_at: Some(iso(r.created_ms)),
    }
}

fn service_seq(w: &World, id: &str) -> Result<u64, Refusal> {
    seq_of(id).filter(|_| id.starts_with("svc_")).filter(|s| w.services.contains_key(s)).ok_or_else(|| not_found("service"))
}

async fn services(State(app): S, q: Q) -> R {
    let w = app.world();
    let lim = limit(&q)?;
    let search = q.get("search").map(|s| s.to_lowercase());
    let min = q.get("minPrice").and_then(|p| p.parse::<u64>().ok());
    let max = q.get("maxPrice").and_then(|p| p.parse::<u64>().ok());
    let mut list: Vec<Service> = w
        .services
        .values()
        .filter(|s| s.active)
        .filter(|s| q.get("category").is_none_or(|c| s.data.category.as_deref() == Some(c.as_str())))
        .filter(|s| {
            search
                .as_ref()
                .is_none_or(|t| s.data.title.to_lowercase().contains(t.as_str()) || s.data.description.to_lowercase().contains(t.as_str()))
        })
        .filter(|s| min.is_none_or(|m| s.data.price >= m) && max.is_none_or(|m| s.data.price <= m))
        .map(|s| render_service(&w, s, false))
        .collect();
    let desc = q.get("sortOrder").map(String::as_str) != Some("asc");
    match q.get("sortBy").map(String::as_str) {
        Some("price") => list.sort_by_key(|s| s.price),
        Some("avgRating") => list.sort_by(|a, b| a.avg_rating.unwrap_or(0.0).total_cmp(&b.avg_rating.unwrap_or(0.0))),
        Some("orderCount") => list.sort_by_key(|s| s.order_count),
        _ => list.sort_by_key(|s| seq_of(&s.id)),
    }
    if desc {
        list.reverse();
    }
    let start = offset_cursor(&q, "s_")?;
    let (next, more) = (next_offset("s_", start, lim, list.len()), start.saturating_add(lim) < list.len());
    let page = list.into_iter().skip(start).take(lim).map(val).collect();
    list_json("services", page, next, more)
}

async fn service(State(app): S, Path(id): Path<String>) -> R {
    let w = app.world();
    let s = service_seq(&w, &id)?;
    ok(json!({ "service": render_service(&w, &w.services[&s], true) }))
}

async fn create_service(State(app): S, Me(me): Me, body: Bytes) -> R {
    let s: NewService = parse(&body)?;
    validate::service(Some(&s.title), Some(&s.description))?;
    if s.delivery_days == 0 {
        return Err(bad("invalid_delivery_days", "deliveryDays must be at least 1"));
    }
    let mut w = app.world();
    let seq = w.next_seq();
    w.services.insert(seq, ServiceRec { seq, agent: me, data: s, active: true, created_ms: now_ms() });
    created(json!({ "service": render_service(&w, &w.services[&seq], false) }))
}

async fn update_service(State(app): S, Me(me): Me, Path(id): Path<String>, body: Bytes) -> R {
    let u: ServiceUpdate = parse(&body)?;
    validate::service(u.title.as_deref(), u.description.as_deref())?;
    let mut w = app.world();
    let seq = service_seq(&w, &id)?;
    let s = w.services.get_mut(&seq).ok_or_else(|| not_found("service"))?;
    if s.agent != me {
        return Err(forbidden("you can only update your own services"));
    }
    if let Some(t) = u.title {
        s.data.title = t;
    }
    if let Some(d) = u.description {
        s.data.description = d;
    }
    if let Some(p) = u.price {
        s.data.price = p;
    }
    if let Some(a) = u.is_active {
        s.active = a;
    }
    ok(json!({ "service": render_service(&w, &w.services[&seq], false) }))
}

async fn delete_service(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = service_seq(&w, &id)?;
    if w.services[&seq].agent != me {
        return Err(forbidden("you can only delete your own services"));
    }
    let active_orders = w
        .orders
        .values()
        .any(|o| o.service == seq && !matches!(o.status, Some(OrderStatus::Completed | OrderStatus::Cancelled | OrderStatus::Refunded)));
    if active_orders {
        if let Some(s) = w.services.get_mut(&seq) {
            s.active = false;
        }
        return ok(json!({ "deactivated": true }));
    }
    w.services.remove(&seq);
    no_content()
}

fn render_order(w: &World, o: &OrderRec) -> Order {
    Order {
        id: format!("ord_{}", o.seq),
        service_id: format!("svc_{}", o.service),
        buyer: Some(w.summary(&o.buyer)),
        seller: Some(w.summary(&o.seller)),
        status: o.status.clone(),
        requirements: o.requirements.clone(),
        deliverables: o.deliverables.clone(),
        payment_method: o.payment_method.clone(),
        amount: o.amount,
        revisions_used: o.revisions_used,
        client_secret: None,
        coinbase_checkout_url: None,
        created_at: Some(iso(o.created_ms)),
    }
}

fn order_seq(w: &World, id: &str, me: &str) -> Result<u64, Refusal> {
    let seq = seq_of(id).filter(|_| id.starts_with("ord_")).filter(|s| w.orders.contains_key(s)).ok_or_else(|| not_found("order"))?;
    let o = &w.orders[&seq];
    if o.buyer != me && o.seller != me {
        return Err(forbidden("only the buyer and the seller can see this order"));
    }
    Ok(seq)
}

async fn place_order(State(app): S, Me(me): Me, body: Bytes) -> R {
    let o: NewOrder = parse(&body)?;
    let mut w = app.world();
    let s = service_seq(&w, &o.service_id)?;
    let svc = &w.services[&s];
    if !svc.active {
        return Err(bad("service_inactive", "this service is not available"));
    }
    if svc.agent == me {
        return Err(bad("own_service", "you cannot order your own service"));
    }
    let (seller, amount) = (svc.agent.clone(), svc.data.price);
    let seq = w.next_seq();
    let method = o.payment_method.0.clone();
    w.orders.insert(
        seq,
        OrderRec {
            seq,
            service: s,
            buyer: me,
            seller,
            status: Some(OrderStatus::Paid),
            requirements: o.requirements,
            deliverables: None,
            payment_method: Some(method.clone()),
            amount,
            revisions_used: 0,
            created_ms: now_ms(),
        },
    );
    let mut order = render_order(&w, &w.orders[&seq]);
    // Clearly fake payment data: the sandbox never talks to a payment provider.
    match method {
        PaymentMethod::Coinbase | PaymentMethod::CryptoUsdc | PaymentMethod::CryptoUsdp => {
            order.coinbase_checkout_url = Some(format!("https://sandbox.imagineanything.invalid/fake-checkout/ord_{seq}"))
        }
        _ => order.client_secret = Some(format!("pi_sandbox_{seq}_secret_FAKE")),
    }
    created(json!({ "order": order, "payment": {"simulated": true} }))
}

async fn orders(State(app): S, Me(me): Me, q: Q) -> R {
    let w = app.world();
    let role = q.get("role").map(String::as_str).unwrap_or("all");
    let status = q.get("status").map(|s| OrderStatus::from(s.as_str()));
    paged(
        &w,
        &w.orders,
        &q,
        "orders",
        |o| {
            (match role {
                "buyer" => o.buyer == me,
                "seller" => o.seller == me,
                _ => o.buyer == me || o.seller == me,
            }) && status.as_ref().is_none_or(|s| o.status.as_ref() == Some(s))
        },
        |w, o| val(render_order(w, o)),
    )
}

async fn order(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let w = app.world();
    let seq = order_seq(&w, &id, &me)?;
    ok(json!({ "order": render_order(&w, &w.orders[&seq]) }))
}

/// The order state machine: who may do what from which status.
pub fn transition(o: &OrderRec, me: &str, action: &OrderAction, revisions_allowed: u32) -> Result<OrderStatus, Refusal> {
    use OrderStatus as St;
    let buyer = o.buyer == me;
    let seller = o.seller == me;
    let status = o.status.clone().unwrap_or(St::Paid);
    let (allowed_from, who_ok, to): (&[St], bool, St) = match action {
        OrderAction::Start => (&[St::Paid, St::Revision], seller, St::InProgress),
        OrderAction::Deliver => (&[St::InProgress], seller, St::Delivered),
        OrderAction::Accept => (&[St::Delivered], buyer, St::Completed),
        OrderAction::RequestRevision => (&[St::Delivered], buyer, St::Revision),
        OrderAction::Dispute => (&[St::Paid, St::InProgress, St::Delivered, St::Revision], buyer || seller, St::Disputed),
        OrderAction::Cancel => (if seller { &[St::Paid, St::InProgress] } else { &[St::Paid] }, buyer || seller, St::Cancelled),
        OrderAction::Other(a) => return Err(bad("invalid_action", format!("unknown action {a}"))),
    };
    if !who_ok {
        return Err(forbidden(format!("you may not {action} this order")));
    }
    if !allowed_from.contains(&status) {
        return Err(bad("invalid_transition", format!("cannot {action} an order that is {status}")));
    }
    if matches!(action, OrderAction::RequestRevision) && o.revisions_used >= revisions_allowed {
        return Err(bad("no_revisions_left", format!("all {revisions_allowed} revisions were used")));
    }
    Ok(to)
}

async fn update_order(State(app): S, Me(me): Me, Path(id): Path<String>, body: Bytes) -> R {
    let u: OrderUpdate = parse(&body)?;
    let mut w = app.world();
    let seq = order_seq(&w, &id, &me)?;
    let o = w.orders[&seq].clone();
    let allowed = w.services.get(&o.service).map(|s| s.data.revisions).unwrap_or(0);
    let to = transition(&o, &me, &u.action, allowed)?;
    if matches!(u.action, OrderAction::Deliver) && u.deliverables.as_deref().is_none_or(|d| d.trim().is_empty()) {
        return Err(bad("missing_deliverables", "deliver needs deliverables"));
    }
    let completed = to == OrderStatus::Completed;
    let om = w.orders.get_mut(&seq).ok_or_else(|| not_found("order"))?;
    if matches!(u.action, OrderAction::RequestRevision) {
        om.revisions_used += 1;
    }
    if u.deliverables.is_some() {
        om.deliverables = u.deliverables;
    }
    om.status = Some(to);
    if completed {
        let p = w.next_seq();
        w.payouts.insert(p, (o.seller.clone(), o.amount * 90 / 100, PayoutStatus::Pending, now_ms()));
        w.award(&o.seller, 20, "order completed");
    }
    ok(json!({ "order": render_order(&w, &w.orders[&seq]) }))
}

async fn order_messages(State(app): S, Me(me): Me, Path(id): Path<String>, q: Q) -> R {
    let w = app.world();
    let seq = order_seq(&w, &id, &me)?;
    paged(
        &w,
        &w.order_messages,
        &q,
        "messages",
        |m| m.order == seq,
        |w, m| {
            val(OrderMessage {
                id: format!("omsg_{}", m.seq),
                order_id: format!("ord_{}", m.order),
                content: m.content.clone(),
                attachments: m.attachments.clone(),
                sender: Some(w.summary(&m.sender)),
                created_at: Some(iso(m.created_ms)),
            })
        },
    )
}

async fn send_order_message(State(app): S, Me(me): Me, Path(id): Path<String>, body: Bytes) -> R {
    let m: NewOrderMessage = parse(&body)?;
    limits::check_text("content", &m.content, limits::ORDER_MESSAGE_MAX_CHARS, false).map_err(|e| bad("invalid_content", e.to_string()))?;
    validate::attachments(&m.attachments)?;
    let mut w = app.world();
    let order = order_seq(&w, &id, &me)?;
    let seq = w.next_seq();
    let rec = OrderMsgRec { seq, order, sender: me, content: m.content, attachments: m.attachments, created_ms: now_ms() };
    w.order_messages.insert(seq, rec.clone());
    created(
        json!({ "message": OrderMessage { id: format!("omsg_{seq}"), order_id: format!("ord_{order}"), content: rec.content, attachments: rec.attachments, sender: Some(w.summary(&rec.sender)), created_at: Some(iso(rec.created_ms)) } }),
    )
}

async fn reviews(State(app): S, q: Q) -> R {
    let w = app.world();
    let svc = q.get("serviceId").map(|s| service_seq(&w, s)).transpose()?;
    paged(&w, &w.reviews, &q, "reviews", |r| svc.is_none_or(|s| r.service == s), |w, r| val(render_review(w, r)))
}

async fn create_review(State(app): S, Me(me): Me, body: Bytes) -> R {
    let r: NewReview = parse(&body)?;
    validate::text("content", r.content.as_deref().unwrap_or_default(), limits::ORDER_MESSAGE_MAX_CHARS)?;
    for (f, v) in [
        ("rating", Some(r.rating)),
        ("qualityRating", r.quality_rating),
        ("communicationRating", r.communication_rating),
        ("deliveryRating", r.delivery_rating),
    ] {
        if let Some(v) = v {
            limits::check_rating(f, v).map_err(|e| bad("invalid_rating", e.to_string()))?;
        }
    }
    let mut w = app.world();
    let order = order_seq(&w, &r.order_id, &me)?;
    let o = w.orders[&order].clone();
    if o.buyer != me {
        return Err(forbidden("only the buyer can review an order"));
    }
    if o.status != Some(OrderStatus::Completed) {
        return Err(bad("order_not_completed", "only completed orders can be reviewed"));
    }
    if w.reviews.values().any(|x| x.order == order) {
        return Err(Refusal(409, "already_reviewed", "this order already has a review".into()));
    }
    let seq = w.next_seq();
    w.reviews.insert(seq, ReviewRec { seq, order, service: o.service, reviewer: me, data: r, created_ms: now_ms() });
    created(json!({ "review": render_review(&w, &w.reviews[&seq]) }))
}

async fn payouts(State(app): S, Me(me): Me, q: Q) -> R {
    let w = app.world();
    let status = q.get("status").map(|s| PayoutStatus::from(s.as_str()));
    let lim = limit(&q)?;
    let mine: std::collections::BTreeMap<u64, (u64, &super::world::PayoutRec)> =
        w.payouts.iter().filter(|(_, p)| p.0 == me && status.as_ref().is_none_or(|s| &p.2 == s)).map(|(k, p)| (*k, (*k, p))).collect();
    let (items, next, more) = World::page(mine.iter(), keyset_cursor(&q)?, lim);
    let total: u64 = w.payouts.values().filter(|p| p.0 == me).map(|p| p.1).sum();
    let pending: u64 = w.payouts.values().filter(|p| p.0 == me && p.2 == PayoutStatus::Pending).map(|p| p.1).sum();
    let list: Vec<Value> = items
        .into_iter()
        .map(|(s, p)| val(Payout { id: format!("pay_{s}"), amount: p.1, status: Some(p.2.clone()), created_at: Some(iso(p.3)) }))
        .collect();
    ok(
        json!({ "payouts": list, "summary": {"total": total, "pending": pending, "currency": "usd", "simulated": true}, "nextCursor": next, "hasMore": more }),
    )
}

async fn request_payout(State(app): S, Me(me): Me, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let id = v.get("payoutId").and_then(Value::as_str).unwrap_or_default();
    let mut w = app.world();
    if !w.accounts.get(&me).is_some_and(|a| a.payouts_enabled) {
        return Err(bad("onboarding_incomplete", "set up the payment account first (POST /api/marketplace/connect)"));
    }
    let seq = seq_of(id).filter(|s| w.payouts.get(s).is_some_and(|p| p.0 == me)).ok_or_else(|| not_found("payout"))?;
    let p = w.payouts.get_mut(&seq).ok_or_else(|| not_found("payout"))?;
    if p.2 != PayoutStatus::Pending {
        return Err(bad("invalid_status", "only pending payouts can be requested"));
    }
    p.2 = PayoutStatus::Processing;
    ok(json!({ "payout": Payout { id: format!("pay_{seq}"), amount: p.1, status: Some(p.2.clone()), created_at: Some(iso(p.3)) } }))
}

async fn account(State(app): S, Me(me): Me) -> R {
    let w = app.world();
    ok(json!({ "account": w.accounts.get(&me).cloned().unwrap_or_default(), "simulated": true }))
}

async fn setup_account(State(app): S, Me(me): Me, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let mut w = app.world();
    let seq = w.next_seq();
    let acct =
        w.accounts.entry(me).or_insert_with(|| PaymentAccount { account_id: Some(format!("acct_sandbox_{seq}")), ..Default::default() });
    acct.charges_enabled = true;
    acct.payouts_enabled = true;
    acct.onboarding_url =
        Some(format!("https://sandbox.imagineanything.invalid/fake-onboarding/{}", acct.account_id.clone().unwrap_or_default()));
    acct.prefer_crypto = v.get("preferCrypto").and_then(Value::as_bool).unwrap_or(false);
    acct.crypto_wallet_address = v.get("cryptoWalletAddress").and_then(Value::as_str).map(str::to_string);
    ok(json!({ "account": acct, "onboardingUrl": acct.onboarding_url, "simulated": true }))
}

// ---- notifications ----

async fn notifications(State(app): S, Me(me): Me, q: Q) -> R {
    let w = app.world();
    let unread_only = q.get("unread").is_some_and(|u| u == "true");
    paged(&w, &w.notifications, &q, "notifications", |n| n.recipient == me && (!unread_only || !n.read), |w, n| w.render_notification(n))
}

async fn notification_count(State(app): S, Me(me): Me) -> R {
    let n = app.world().notifications.values().filter(|n| n.recipient == me && !n.read).count();
    ok(json!({ "count": n }))
}

async fn mark_read(State(app): S, Me(me): Me, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let all = v.get("all").and_then(Value::as_bool).unwrap_or(false);
    let ids: Vec<u64> =
        v.get("ids").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).filter_map(seq_of).collect()).unwrap_or_default();
    if !all && ids.is_empty() {
        return Err(bad("invalid_body", "send {\"all\": true} or {\"ids\": [...]}"));
    }
    let mut w = app.world();
    let mut n = 0;
    for rec in w.notifications.values_mut().filter(|r| r.recipient == me && !r.read) {
        if all || ids.contains(&rec.seq) {
            rec.read = true;
            n += 1;
        }
    }
    ok(json!({ "success": true, "marked": n }))
}

// ---- analytics ----

async fn analytics_overview(State(app): S, Me(me): Me, q: Q) -> R {
    let range = q.get("range").map(String::as_str).unwrap_or("30d");
    let days: i64 = match range {
        "7d" => 7,
        "30d" => 30,
        "90d" => 90,
        other => return Err(bad("invalid_range", format!("range must be 7d, 30d or 90d, got {other}"))),
    };
    let w = app.world();
    let now = now_ms();
    let span = days * 86_400_000;
    let period = |from: i64, to: i64| {
        let posts: Vec<_> = w.posts.values().filter(|p| p.agent == me && p.created_ms >= from && p.created_ms < to).collect();
        json!({
            "posts": posts.len(),
            "likes": posts.iter().map(|p| p.likes.len()).sum::<usize>(),
            "comments": posts.iter().map(|p| p.comment_count).sum::<u64>(),
            "views": posts.iter().map(|p| p.views).sum::<u64>(),
        })
    };
    let cur = period(now - span, now + 1);
    let prev = period(now - 2 * span, now - span);
    let mut changes = serde_json::Map::new();
    for k in ["posts", "likes", "comments", "views"] {
        let (c, p) = (cur[k].as_f64().unwrap_or(0.0), prev[k].as_f64().unwrap_or(0.0));
        changes.insert(
            k.into(),
            json!(if p == 0.0 {
                if c == 0.0 {
                    0.0
                } else {
                    100.0
                }
            } else {
                (c - p) / p * 100.0
            }),
        );
    }
    ok(AnalyticsOverview { range: Some(range.into()), current: cur, previous: prev, changes: Value::Object(changes) })
}

async fn analytics_posts(State(app): S, Me(me): Me, q: Q) -> R {
    let lim = limit(&q)?;
    let w = app.world();
    let mut posts: Vec<_> = w.posts.values().filter(|p| p.agent == me).collect();
    let key = |p: &super::world::PostRec| -> u64 {
        match q.get("sortBy").map(String::as_str) {
            Some("likes") => p.likes.len() as u64,
            Some("comments") => p.comment_count,
            Some("views") => p.views,
            _ => p.likes.len() as u64 + p.comment_count * 2 + p.reposts.len() as u64 * 3,
        }
    };
    posts.sort_by(|a, b| key(b).cmp(&key(a)).then(b.seq.cmp(&a.seq)));
    ok(json!({ "posts": posts.into_iter().take(lim).map(|p| w.render_post(p, Some(&me))).collect::<Vec<_>>() }))
}

// ---- uploads ----

async fn upload_image(State(app): S, Me(me): Me, m: Multipart) -> R {
    let (ct, data, fields) = read_upload(m).await?;
    limits::check_upload(limits::UploadKind::Image, &ct, data.len()).map_err(|e| bad("invalid_file", e.to_string()))?;
    let rec = store_media(&mut app.world(), &me, &ct, data.len(), UploadType::Image, fields.get("purpose").cloned());
    let r = render_media(&rec);
    created(
        json!({ "id": r.id, "media_id": r.id, "url": r.url, "pathname": r.pathname, "contentType": r.content_type, "size": r.size, "type": r.media_type }),
    )
}

async fn upload_video(State(app): S, Me(me): Me, m: Multipart) -> R {
    let (ct, data, fields) = read_upload(m).await?;
    limits::check_upload(limits::UploadKind::Video, &ct, data.len()).map_err(|e| bad("invalid_file", e.to_string()))?;
    let rec = store_media(&mut app.world(), &me, &ct, data.len(), UploadType::Video, fields.get("purpose").cloned());
    let r = render_media(&rec);
    created(
        json!({ "id": r.id, "media_id": r.id, "url": r.url, "pathname": r.pathname, "contentType": r.content_type, "size": r.size, "type": r.media_type, "status": "processing" }),
    )
}

async fn list_media(State(app): S, Me(me): Me, q: Q) -> R {
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

async fn delete_media(State(app): S, Me(me): Me, body: Bytes) -> R {
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

// ---- connected services ----

fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

fn render_connected(me: &str, provider: &str, rec: &(String, bool, i64)) -> ConnectedService {
    ConnectedService {
        id: format!("csvc_{me}_{provider}"),
        provider: Some(Provider::from(provider)),
        api_key: mask(&rec.0),
        is_active: rec.1,
        created_at: Some(iso(rec.2)),
        updated_at: Some(iso(rec.2)),
    }
}

fn known_provider(p: &str) -> Result<Provider, Refusal> {
    match Provider::from(p) {
        Provider::Other(o) => Err(bad("invalid_provider", format!("unknown provider {o}"))),
        ok => Ok(ok),
    }
}

async fn connected(State(app): S, Me(me): Me) -> R {
    let w = app.world();
    let list: Vec<ConnectedService> =
        w.connected.get(&me).map(|m| m.iter().map(|(p, r)| render_connected(&me, p, r)).collect()).unwrap_or_default();
    ok(json!({ "services": list }))
}

async fn connect(State(app): S, Me(me): Me, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let p = known_provider(v.get("provider").and_then(Value::as_str).unwrap_or_default())?;
    let key = v
        .get("apiKey")
        .and_then(Value::as_str)
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| bad("invalid_body", "apiKey is required"))?;
    validate::text("apiKey", key, validate::API_KEY_MAX_CHARS)?;
    let mut w = app.world();
    let rec = (key.to_string(), true, now_ms());
    w.connected.entry(me.clone()).or_default().insert(p.to_string(), rec.clone());
    created(json!({ "service": render_connected(&me, p.as_str(), &rec) }))
}

async fn toggle_service(State(app): S, Me(me): Me, Path(provider): Path<String>, body: Bytes) -> R {
    let v: Value = parse(&body)?;
    let active = v.get("isActive").and_then(Value::as_bool).ok_or_else(|| bad("invalid_body", "isActive is required"))?;
    let mut w = app.world();
    let rec = w.connected.get_mut(&me).and_then(|m| m.get_mut(&provider)).ok_or_else(|| not_found("connected service"))?;
    rec.1 = active;
    let rec = rec.clone();
    ok(json!({ "service": render_connected(&me, &provider, &rec) }))
}

async fn disconnect(State(app): S, Me(me): Me, Path(provider): Path<String>) -> R {
    let mut w = app.world();
    w.connected.get_mut(&me).and_then(|m| m.remove(&provider)).ok_or_else(|| not_found("connected service"))?;
    ok(json!({ "success": true }))
}

async fn test_service(State(app): S, Me(me): Me, Path(provider): Path<String>) -> R {
    let w = app.world();
    let rec = w.connected.get(&me).and_then(|m| m.get(&provider)).ok_or_else(|| not_found("connected service"))?;
    let valid = rec.1 && !rec.0.contains("invalid");
    ok(ServiceTest {
        success: valid,
        message: if valid { "API key is valid".into() } else { "invalid or inactive API key (sandbox check)".into() },
    })
}

// ---- generation ----

async fn generate(State(app): S, Me(me): Me, body: Bytes) -> R {
    let g: GenerateRequest = parse(&body)?;
    limits::check_generation(&g.provider, &g.generation_type, &g.prompt, g.content.as_deref())
        .map_err(|e| bad("invalid_request", e.to_string()))?;
    let mut w = app.world();
    let active = w.connected.get(&me).and_then(|m| m.get(g.provider.as_str())).is_some_and(|r| r.1);
    if !active {
        return Err(bad("service_not_connected", format!("connect a {} API key first (POST /api/settings/services)", g.provider)));
    }
    let running = w.jobs.values().filter(|j| j.agent == me && !j.status.as_ref().is_some_and(GenerationStatus::is_terminal)).count();
    if running >= limits::MAX_CONCURRENT_GENERATIONS {
        return Err(Refusal(409, "too_many_jobs", format!("at most {} concurrent generation jobs", limits::MAX_CONCURRENT_GENERATIONS)));
    }
    let will_fail = app.cfg.generation_fail_rate > 0.0 && w.rng.random::<f64>() < app.cfg.generation_fail_rate;
    let seq = w.next_seq();
    let now = now_ms();
    w.jobs.insert(
        seq,
        JobRec {
            seq,
            agent: me,
            provider: Some(g.provider),
            kind: Some(g.generation_type),
            prompt: g.prompt,
            model: g.model,
            content: g.content,
            status: Some(GenerationStatus::Pending),
            started_ms: now,
            created_ms: now,
            will_fail,
            ..Default::default()
        },
    );
    Ok((StatusCode::ACCEPTED, Json(json!({ "jobId": format!("job_{seq}"), "status": "pending" }))).into_response())
}

async fn pending_jobs(State(app): S, Me(me): Me) -> R {
    let w = app.world();
    let jobs: Vec<GenerationJob> =
        w.jobs.values().rev().filter(|j| j.agent == me && j.status != Some(GenerationStatus::Completed)).map(|j| w.render_job(j)).collect();
    ok(json!({ "jobs": jobs }))
}

async fn job_history(State(app): S, Me(me): Me, q: Q) -> R {
    let w = app.world();
    paged(&w, &w.jobs, &q, "jobs", |j| j.agent == me, |w, j| val(w.render_job(j)))
}

async fn models(State(app): S, Me(_me): Me, q: Q) -> R {
    let _ = app;
    let p = Provider::from(q.get("provider").map(String::as_str).unwrap_or("OPENAI"));
    let t = GenerationType::from(q.get("type").map(String::as_str).unwrap_or("image"));
    if !p.supports(&t) {
        return ok(json!({ "models": [] }));
    }
    let base = format!("{}-{}", p.as_str().to_lowercase(), t);
    ok(json!({ "models": [
        Model { id: format!("{base}-standard"), name: format!("{p} {t} (sandbox standard)"), is_default: true },
        Model { id: format!("{base}-fast"), name: format!("{p} {t} (sandbox fast)"), is_default: false },
    ]}))
}

async fn voices(Me(_me): Me, q: Q) -> R {
    if q.get("provider").map(String::as_str).unwrap_or("ELEVENLABS") != "ELEVENLABS" {
        return ok(json!({ "voices": [] }));
    }
    let v = |id: &str, name: &str, gender: &str| Voice {
        voice_id: id.into(),
        name: name.into(),
        category: Some("premade".into()),
        gender: Some(gender.into()),
        age: Some("young".into()),
        accent: Some("american".into()),
        use_case: Some("narration".into()),
        preview_url: None,
    };
    ok(
        json!({ "voices": [v("EXAVITQu4vr4xnSDxMaL", "Sarah", "female"), v("21m00Tcm4TlvDq8ikWAM", "Rachel", "female"), v("TxGEqnHWrfWFTfGW9XjX", "Josh", "male")] }),
    )
}

async fn retry_job(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let seq = seq_of(&id).filter(|_| id.starts_with("job_")).filter(|s| w.jobs.contains_key(s)).ok_or_else(|| not_found("job"))?;
    let fail_rate = app.cfg.generation_fail_rate;
    let will_fail = fail_rate > 0.0 && w.rng.random::<f64>() < fail_rate;
    let j = w.jobs.get_mut(&seq).ok_or_else(|| not_found("job"))?;
    if j.agent != me {
        return Err(forbidden("not your job"));
    }
    if j.status != Some(GenerationStatus::Failed) {
        return Err(bad("not_failed", "only failed jobs can be retried"));
    }
    if j.retry_count >= limits::MAX_GENERATION_RETRIES {
        return Err(bad("retry_limit", "this job was retried 3 times; start a new generation"));
    }
    j.retry_count += 1;
    j.status = Some(GenerationStatus::Pending);
    j.error = None;
    j.started_ms = now_ms();
    j.created_ms = now_ms();
    j.will_fail = will_fail;
    ok(json!({ "jobId": format!("job_{seq}"), "status": "pending" }))
}

// ---- bytes ----

fn byte_seq(w: &World, id: &str) -> Result<u64, Refusal> {
    seq_of(id).filter(|_| id.starts_with("byte_")).filter(|s| w.bytes.contains_key(s)).ok_or_else(|| not_found("byte"))
}

fn render_byte(w: &World, b: &super::world::ByteRec) -> Byte {
    Byte {
        id: format!("byte_{}", b.seq),
        caption: b.caption.clone(),
        video_url: Some(b.video_url.clone()),
        like_count: b.likes.len() as u64,
        comment_count: b.comment_count,
        agent: Some(w.summary(&b.agent)),
        created_at: Some(iso(b.created_ms)),
    }
}

async fn bytes(State(app): S, q: Q) -> R {
    let w = app.world();
    paged(&w, &w.bytes, &q, "bytes", |_| true, |w, b| val(render_byte(w, b)))
}

async fn byte(State(app): S, Path(id): Path<String>) -> R {
    let w = app.world();
    let s = byte_seq(&w, &id)?;
    ok(json!({ "byte": render_byte(&w, &w.bytes[&s]) }))
}

async fn create_byte(State(app): S, Me(me): Me, body: Bytes) -> R {
    let b: NewByte = parse(&body)?;
    limits::check_text("caption", &b.caption, limits::POST_MAX_CHARS, true).map_err(|e| bad("invalid_caption", e.to_string()))?;
    let mut w = app.world();
    let m = seq_of(&b.media_id)
        .and_then(|s| w.media.get(&s))
        .filter(|m| m.agent == me && m.kind == Some(UploadType::Video))
        .ok_or_else(|| bad("invalid_media", "mediaId must be a video you uploaded"))?;
    let url = m.url.clone();
    let seq = w.next_seq();
    w.bytes.insert(
        seq,
        super::world::ByteRec {
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

async fn delete_byte(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let s = byte_seq(&w, &id)?;
    if w.bytes[&s].agent != me {
        return Err(forbidden("you can only delete your own bytes"));
    }
    w.bytes.remove(&s);
    w.comments.retain(|_, c| !(c.on_byte && c.post == s));
    no_content()
}

async fn like_byte(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let s = byte_seq(&w, &id)?;
    let b = w.bytes.get_mut(&s).ok_or_else(|| not_found("byte"))?;
    b.likes.insert(me);
    ok(json!({ "liked": true, "likeCount": b.likes.len() }))
}

async fn unlike_byte(State(app): S, Me(me): Me, Path(id): Path<String>) -> R {
    let mut w = app.world();
    let s = byte_seq(&w, &id)?;
    let b = w.bytes.get_mut(&s).ok_or_else(|| not_found("byte"))?;
    b.likes.remove(&me);
    ok(json!({ "liked": false, "likeCount": b.likes.len() }))
}

async fn byte_comments(State(app): S, Path(id): Path<String>, q: Q) -> R {
    let w = app.world();
    let s = byte_seq(&w, &id)?;
    paged(&w, &w.comments, &q, "comments", |c| c.on_byte && c.post == s, |w, c| val(w.render_comment(c)))
}

async fn comment_byte(State(app): S, Me(me): Me, Path(id): Path<String>, body: Bytes) -> R {
    let c: NewComment = parse(&body)?;
    let mut w = app.world();
    let s = byte_seq(&w, &id)?;
    let (cs, notes) = w.add_comment(&me, s, &c, true)?;
    app.deliver(&w, &notes);
    created(json!({ "comment": w.render_comment(&w.comments[&cs]) }))
}

async fn report(State(app): S, Me(me): Me, body: Bytes) -> R {
    let r: NewReport = parse(&body)?;
    validate::text("description", r.description.as_deref().unwrap_or_default(), limits::ORDER_MESSAGE_MAX_CHARS)?;
    if r.reported_agent_id.is_none() && r.reported_post_id.is_none() && r.reported_comment_id.is_none() {
        return Err(bad("invalid_report", "name at least one of reportedAgentId, reportedPostId, reportedCommentId"));
    }
    if let ReportReason::Other(x) = &r.reason {
        if x != "OTHER" {
            return Err(bad("invalid_reason", format!("unknown reason {x}")));
        }
    }
    let mut w = app.world();
    let seq = w.next_seq();
    let reason = r.reason.clone();
    w.reports.insert(seq, (me, r));
    created(json!({ "report": Report { id: format!("rpt_{seq}"), reason: Some(reason), status: Some("PENDING".into()) } }))
}

// ---- control API ----

async fn stats(State(app): S) -> R {
    let s = lock(&app.stats).clone();
    let w = app.world();
    ok(json!({
        "stats": s,
        "world": {"agents": w.agents.len(), "posts": w.posts.len(), "comments": w.comments.len(), "notifications": w.notifications.len(), "jobs": w.jobs.len()}
    }))
}

async fn get_faults(State(app): S) -> R {
    ok(lock(&app.faults).clone())
}

async fn set_faults(State(app): S, body: Bytes) -> R {
    let f: Faults = parse(&body)?;
    for (name, p) in [("errorRate", f.error_rate), ("rate429", f.rate429), ("dropRate", f.drop_rate)] {
        if !(0.0..=1.0).contains(&p) {
            return Err(bad("invalid_fault", format!("{name} must be between 0 and 1")));
        }
    }
    *lock(&app.faults) = f.clone();
    ok(f)
}

async fn revoke_tokens(State(app): S) -> R {
    let mut w = app.world();
    let n = w.tokens.len() + w.refresh_tokens.len();
    w.tokens.clear();
    w.refresh_tokens.clear();
    *lock(&app.stats).faults.entry("revoke".into()).or_default() += 1;
    ok(json!({ "revoked": n }))
}
