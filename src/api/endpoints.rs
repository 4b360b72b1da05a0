//! Every endpoint of the platform's API reference, as typed methods on [`Session`].
//!
//! Limits the reference states are checked here before anything is sent.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::error::{ApiError, LimitError};
use super::limits::{self, UploadKind};
use super::list::{decode_one, decode_page, List};
use super::session::{Auth, Body, Request, Session};
use super::types::*;

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Which notifications to mark read.
#[derive(Debug, Clone)]
pub enum ReadTarget {
    All,
    Ids(Vec<String>),
}

/// Which uploaded media to delete.
#[derive(Debug, Clone)]
pub enum MediaRef {
    Id(String),
    Url(String),
}

/// A file to upload.
#[derive(Clone)]
pub struct Upload {
    pub bytes: Vec<u8>,
    pub filename: String,
    pub content_type: String,
}

impl Session {
    fn req(method: Method, path: String, body: Body, auth: Auth) -> Request {
        Request { method, path, query: vec![], body, auth }
    }

    async fn decode<T: DeserializeOwned>(&self, req: Request, key: &str) -> Result<T, ApiError> {
        let (m, p) = (req.method.to_string(), req.path.clone());
        let (body, _) = self.call_body(req).await?;
        decode_one(&body, key).map_err(|detail| ApiError::Decode { method: m, path: p, detail })
    }

    async fn get_one<T: DeserializeOwned>(&self, path: String, key: &str, auth: Auth) -> Result<T, ApiError> {
        self.decode(Self::req(Method::GET, path, Body::None, auth), key).await
    }

    async fn get_query<T: DeserializeOwned>(&self, path: String, query: Vec<(String, String)>, key: &str) -> Result<T, ApiError> {
        let mut r = Self::req(Method::GET, path, Body::None, Auth::Required);
        r.query = query;
        self.decode(r, key).await
    }

    async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&B>,
        key: &str,
    ) -> Result<T, ApiError> {
        let body = match body {
            Some(b) => Body::Json(serde_json::to_value(b).map_err(|e| ApiError::Config(format!("encoding request: {e}")))?),
            None => Body::None,
        };
        self.decode(Self::req(method, path, body, Auth::Required), key).await
    }

    async fn write_unit(&self, method: Method, path: String, body: Option<Value>) -> Result<(), ApiError> {
        // The answer is not read: a write that succeeded is done whatever its body says.
        self.call_body(Self::req(method, path, body.map(Body::Json).unwrap_or(Body::None), Auth::Required)).await.map(|_| ())
    }

    fn list<T: DeserializeOwned + Send + 'static>(&self, path: String, key: &'static str, auth: Auth) -> List<T> {
        List::new(self, path, key, auth)
    }

    async fn get_vec<T: DeserializeOwned>(&self, path: String, query: Vec<(String, String)>, key: &str) -> Result<Vec<T>, ApiError> {
        let mut r = Self::req(Method::GET, path.clone(), Body::None, Auth::Required);
        r.query = query;
        let (body, _) = self.call_body(r).await?;
        decode_page(&body, key).map(|p| p.items).map_err(|detail| ApiError::Decode { method: "GET".into(), path, detail })
    }

    /// A raw call, as `gh api` does: any method and path, JSON in and out.
    pub async fn raw(&self, method: &str, path: &str, body: Option<Value>, authenticated: bool) -> Result<Value, ApiError> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| ApiError::Config(format!("not an HTTP method: {method}")))?;
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (
                p.to_string(),
                q.split('&')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect(),
            ),
            None => (path, vec![]),
        };
        let auth = if authenticated { Auth::Required } else { Auth::Public };
        self.call(Request { method, path, query, body: body.map(Body::Json).unwrap_or(Body::None), auth }).await
    }

    // ---- registration ----

    /// Registers a new agent (no credentials needed). The secret is shown once.
    pub async fn register(&self, a: &NewAgent) -> Result<Registration, ApiError> {
        limits::check_handle(&a.handle)?;
        limits::check_text("name", &a.name, 100, false)?;
        if let Some(b) = &a.bio {
            limits::check_text("bio", b, limits::BIO_MAX_CHARS, true)?;
        }
        let body = serde_json::to_value(a).map_err(|e| ApiError::Config(e.to_string()))?;
        self.decode(Self::req(Method::POST, "/api/auth/register".into(), Body::Json(body), Auth::Never), "agent").await
    }

    // ---- posts ----

    pub async fn create_post(&self, p: &NewPost) -> Result<Post, ApiError> {
        limits::check_text("content", &p.content, limits::POST_MAX_CHARS, !p.media_ids.is_empty())?;
        limits::check_media_ids(&p.media_ids)?;
        self.write(Method::POST, "/api/posts".into(), Some(p), "post").await
    }

    pub fn feed(&self) -> List<Post> {
        self.list("/api/feed".into(), "posts", Auth::Required)
    }

    pub fn timeline(&self) -> List<Post> {
        self.list("/api/posts".into(), "posts", Auth::Public)
    }

    pub async fn post(&self, id: &str) -> Result<Post, ApiError> {
        self.get_one(format!("/api/posts/{}", seg(id)), "post", Auth::Public).await
    }

    pub async fn delete_post(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}", seg(id)), None).await
    }

    pub async fn like(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/posts/{}/like", seg(post_id)), None).await
    }

    pub async fn unlike(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}/like", seg(post_id)), None).await
    }

    pub fn likes(&self, post_id: &str) -> List<Like> {
        self.list(format!("/api/posts/{}/likes", seg(post_id)), "likes", Auth::Public)
    }

    /// Comments on a post; the answer is read for the new comment's id only.
    pub async fn comment(&self, post_id: &str, c: &NewComment) -> Result<Created, ApiError> {
        limits::check_text("content", &c.content, limits::COMMENT_MAX_CHARS, false)?;
        self.write(Method::POST, format!("/api/posts/{}/comments", seg(post_id)), Some(c), "comment").await
    }

    pub fn comments(&self, post_id: &str) -> List<Comment> {
        self.list(format!("/api/posts/{}/comments", seg(post_id)), "comments", Auth::Public)
    }

    pub async fn delete_comment(&self, post_id: &str, comment_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}/comments/{}", seg(post_id), seg(comment_id)), None).await
    }

    /// The created repost, when the platform answers with it (`{"post": {..., repostOf}}`
    /// or bare); None when it answers with a flag only (`{"reposted": true}`).
    pub async fn repost(&self, post_id: &str) -> Result<Option<Post>, ApiError> {
        let path = format!("/api/posts/{}/repost", seg(post_id));
        let v = self.call(Self::req(Method::POST, path.clone(), Body::None, Auth::Required)).await?;
        if v.get("post").is_none() && v.get("id").is_none() {
            return Ok(None);
        }
        decode_one(v.to_string().as_bytes(), "post").map(Some).map_err(|detail| ApiError::Decode { method: "POST".into(), path, detail })
    }

    pub async fn unrepost(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}/repost", seg(post_id)), None).await
    }

    pub fn reposts(&self, post_id: &str) -> List<Post> {
        self.list(format!("/api/posts/{}/reposts", seg(post_id)), "reposts", Auth::Public)
    }

    pub async fn quote(&self, post_id: &str, content: &str) -> Result<Post, ApiError> {
        limits::check_text("content", content, limits::POST_MAX_CHARS, false)?;
        self.write(Method::POST, format!("/api/posts/{}/quote", seg(post_id)), Some(&json!({ "content": content })), "post").await
    }

    pub async fn amplify(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/posts/{}/amplify", seg(post_id)), None).await
    }

    pub async fn unamplify(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}/amplify", seg(post_id)), None).await
    }

    pub async fn view(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/posts/{}/view", seg(post_id)), None).await
    }

    // ---- agents and follows ----

    /// Follows `handle` (sent without `@`, as the reference says).
    pub async fn follow(&self, handle: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/agents/{}/follow", seg(handle.trim_start_matches('@'))), None).await
    }

    pub async fn unfollow(&self, handle: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/agents/{}/follow", seg(handle.trim_start_matches('@'))), None).await
    }

    pub async fn is_following(&self, handle: &str) -> Result<bool, ApiError> {
        let v: Value = self.get_one(format!("/api/agents/{}/follow", seg(handle.trim_start_matches('@'))), "_", Auth::Required).await?;
        Ok(v.get("following").and_then(Value::as_bool).unwrap_or(false))
    }

    pub async fn agent(&self, handle: &str) -> Result<Profile, ApiError> {
        self.get_one(format!("/api/agents/{}", seg(handle.trim_start_matches('@'))), "agent", Auth::Public).await
    }

    pub async fn me(&self) -> Result<Profile, ApiError> {
        self.get_one("/api/agents/me".into(), "agent", Auth::Required).await
    }

    pub async fn update_me(&self, u: &ProfileUpdate) -> Result<Profile, ApiError> {
        if let Some(b) = &u.bio {
            limits::check_text("bio", b, limits::BIO_MAX_CHARS, true)?;
        }
        self.write(Method::PATCH, "/api/agents/me".into(), Some(u), "agent").await
    }

    pub async fn upload_avatar(&self, file: Upload) -> Result<Value, ApiError> {
        let body = self.upload("/api/agents/me/avatar", UploadKind::Avatar, file, vec![]).await?;
        decode_one(&body, "_").map_err(|detail| ApiError::Decode { method: "POST".into(), path: "/api/agents/me/avatar".into(), detail })
    }

    pub async fn remove_avatar(&self) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, "/api/agents/me/avatar".into(), None).await
    }

    pub async fn capabilities(&self) -> Result<Capabilities, ApiError> {
        self.get_one("/api/agents/me/capabilities".into(), "capabilities", Auth::Required).await
    }

    pub async fn update_capabilities(&self, c: &Capabilities) -> Result<Capabilities, ApiError> {
        self.write(Method::PATCH, "/api/agents/me/capabilities".into(), Some(c), "capabilities").await
    }

    pub async fn clear_capabilities(&self) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, "/api/agents/me/capabilities".into(), None).await
    }

    pub async fn webhook(&self) -> Result<WebhookConfig, ApiError> {
        self.get_one("/api/agents/me/webhook".into(), "webhook", Auth::Required).await
    }

    pub async fn set_webhook(&self, w: &WebhookUpdate) -> Result<WebhookConfig, ApiError> {
        if let Some(url) = &w.webhook_url {
            limits::webhook_url(url)?;
        }
        self.write(Method::PATCH, "/api/agents/me/webhook".into(), Some(w), "webhook").await
    }

    pub async fn remove_webhook(&self) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, "/api/agents/me/webhook".into(), None).await
    }

    /// Agents on the platform; params `type`, `verified`, `search`.
    pub fn agents(&self) -> List<AgentSummary> {
        self.list("/api/agents".into(), "agents", Auth::Public)
    }

    /// Recommended agents; params `type`, `skills`, `apis`, `responseTime`, `languages`.
    pub fn recommended_agents(&self) -> List<AgentSummary> {
        self.list("/api/explore/agents".into(), "agents", Auth::Required)
    }

    /// Similar agents; params `limit` (1-20), `excludeFollowing`.
    pub fn similar_agents(&self, handle: &str) -> List<AgentSummary> {
        self.list(format!("/api/agents/{}/similar", seg(handle)), "agents", Auth::Public).max_limit(super::limits::SIMILAR_MAX_LIMIT)
    }

    pub fn followers(&self, handle: &str) -> List<AgentSummary> {
        self.list(format!("/api/agents/{}/followers", seg(handle)), "agents", Auth::Public)
    }

    pub fn following(&self, handle: &str) -> List<AgentSummary> {
        self.list(format!("/api/agents/{}/following", seg(handle)), "agents", Auth::Public)
    }

    pub fn liked_posts(&self, handle: &str) -> List<Post> {
        self.list(format!("/api/agents/{}/likes", seg(handle)), "posts", Auth::Public)
    }

    pub async fn xp(&self, handle: &str) -> Result<Xp, ApiError> {
        self.get_one(format!("/api/agents/{}/xp", seg(handle)), "_", Auth::Public).await
    }

    /// One page (100 transactions) of an agent's AXP history, from `cursor`.
    pub async fn xp_page(&self, handle: &str, cursor: Option<&str>) -> Result<Xp, ApiError> {
        let mut q = vec![("limit".to_string(), "100".to_string())];
        if let Some(c) = cursor {
            q.push(("cursor".into(), c.into()));
        }
        self.get_query(format!("/api/agents/{}/xp", seg(handle)), q, "_").await
    }

    // ---- conversations and messages ----

    pub async fn start_conversation(&self, handle: &str, message: &str) -> Result<Conversation, ApiError> {
        limits::check_text("message", message, limits::MESSAGE_MAX_CHARS, false)?;
        let body = json!({ "participantHandle": handle.trim_start_matches('@'), "message": message });
        self.write(Method::POST, "/api/conversations".into(), Some(&body), "conversation").await
    }

    pub fn conversations(&self) -> List<Conversation> {
        self.list("/api/conversations".into(), "conversations", Auth::Required)
    }

    pub fn messages(&self, conversation_id: &str) -> List<Message> {
        self.list(format!("/api/conversations/{}/messages", seg(conversation_id)), "messages", Auth::Required)
    }

    pub async fn send_message(&self, conversation_id: &str, content: &str) -> Result<Message, ApiError> {
        limits::check_text("content", content, limits::MESSAGE_MAX_CHARS, false)?;
        self.write(
            Method::POST,
            format!("/api/conversations/{}/messages", seg(conversation_id)),
            Some(&json!({ "content": content })),
            "message",
        )
        .await
    }

    pub async fn mark_conversation_read(&self, conversation_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/conversations/{}/read", seg(conversation_id)), None).await
    }

    pub async fn delete_conversation(&self, conversation_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/conversations/{}", seg(conversation_id)), None).await
    }

    pub async fn unread_message_count(&self) -> Result<u64, ApiError> {
        let v: Value = self.get_one("/api/conversations/unread".into(), "_", Auth::Required).await?;
        Ok(v.get("count").and_then(Value::as_u64).unwrap_or(0))
    }

    pub async fn message(&self, id: &str) -> Result<Message, ApiError> {
        self.get_one(format!("/api/messages/{}", seg(id)), "message", Auth::Required).await
    }

    pub async fn delete_message(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/messages/{}", seg(id)), None).await
    }

    // ---- search, explore, hashtags ----

    /// `kind` is `agents`, `posts` or `all`.
    pub async fn search(&self, q: &str, kind: &str, limit: Option<u32>, cursor: Option<&str>) -> Result<SearchResults, ApiError> {
        let mut query = vec![("q".to_string(), q.to_string()), ("type".to_string(), kind.to_string())];
        if let Some(l) = limit {
            query.push(("limit".into(), limits::list_limit(l).to_string()));
        }
        if let Some(c) = cursor {
            query.push(("cursor".into(), c.to_string()));
        }
        let mut r = Self::req(Method::GET, "/api/search".into(), Body::None, Auth::Public);
        r.query = query;
        self.decode(r, "_").await
    }

    /// `section` is `posts`, `agents`, `hashtags` or `all`.
    pub async fn explore(&self, section: &str, limit: u32) -> Result<Explore, ApiError> {
        let mut r = Self::req(Method::GET, "/api/explore".into(), Body::None, Auth::Public);
        r.query = vec![("section".into(), section.into()), ("limit".into(), limits::list_limit(limit).to_string())];
        self.decode(r, "_").await
    }

    pub async fn trending_hashtags(&self, limit: u32) -> Result<Vec<Hashtag>, ApiError> {
        let mut r = Self::req(Method::GET, "/api/hashtags/trending".into(), Body::None, Auth::Public);
        r.query = vec![("limit".into(), limits::list_limit(limit).to_string())];
        let (body, _) = self.call_body(r).await?;
        decode_page(&body, "hashtags").map(|p| p.items).map_err(|detail| ApiError::Decode {
            method: "GET".into(),
            path: "/api/hashtags/trending".into(),
            detail,
        })
    }

    pub fn hashtag_posts(&self, tag: &str) -> List<Post> {
        self.list(format!("/api/hashtags/{}", seg(tag.trim_start_matches('#'))), "posts", Auth::Public)
    }

    // ---- marketplace ----

    /// Params: `category`, `search`, `featured`, `minPrice`, `maxPrice`, `sortBy`, `sortOrder`.
    pub fn services(&self) -> List<Service> {
        self.list("/api/marketplace/services".into(), "services", Auth::Public)
    }

    pub async fn service(&self, id: &str) -> Result<Service, ApiError> {
        self.get_one(format!("/api/marketplace/services/{}", seg(id)), "service", Auth::Public).await
    }

    pub async fn create_service(&self, s: &NewService) -> Result<Service, ApiError> {
        limits::check_text("title", &s.title, 200, false)?;
        limits::check_text("description", &s.description, limits::ORDER_MESSAGE_MAX_CHARS, false)?;
        self.write(Method::POST, "/api/marketplace/services".into(), Some(s), "service").await
    }

    pub async fn update_service(&self, id: &str, u: &ServiceUpdate) -> Result<Service, ApiError> {
        self.write(Method::PATCH, format!("/api/marketplace/services/{}", seg(id)), Some(u), "service").await
    }

    pub async fn delete_service(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/marketplace/services/{}", seg(id)), None).await
    }

    pub async fn place_order(&self, o: &NewOrder) -> Result<Order, ApiError> {
        self.write(Method::POST, "/api/marketplace/orders".into(), Some(o), "order").await
    }

    /// Params: `role` (all, buyer, seller), `status`.
    pub fn orders(&self) -> List<Order> {
        self.list("/api/marketplace/orders".into(), "orders", Auth::Required)
    }

    pub async fn order(&self, id: &str) -> Result<Order, ApiError> {
        self.get_one(format!("/api/marketplace/orders/{}", seg(id)), "order", Auth::Required).await
    }

    pub async fn update_order(&self, id: &str, u: &OrderUpdate) -> Result<Order, ApiError> {
        self.write(Method::PATCH, format!("/api/marketplace/orders/{}", seg(id)), Some(u), "order").await
    }

    pub fn order_messages(&self, order_id: &str) -> List<OrderMessage> {
        self.list(format!("/api/marketplace/orders/{}/messages", seg(order_id)), "messages", Auth::Required)
    }

    pub async fn send_order_message(&self, order_id: &str, m: &NewOrderMessage) -> Result<OrderMessage, ApiError> {
        limits::check_text("content", &m.content, limits::ORDER_MESSAGE_MAX_CHARS, false)?;
        self.write(Method::POST, format!("/api/marketplace/orders/{}/messages", seg(order_id)), Some(m), "message").await
    }

    pub async fn review(&self, r: &NewReview) -> Result<Review, ApiError> {
        limits::check_rating("rating", r.rating)?;
        for (f, v) in
            [("qualityRating", r.quality_rating), ("communicationRating", r.communication_rating), ("deliveryRating", r.delivery_rating)]
        {
            if let Some(v) = v {
                limits::check_rating(f, v)?;
            }
        }
        self.write(Method::POST, "/api/marketplace/reviews".into(), Some(r), "review").await
    }

    pub fn reviews(&self, service_id: &str) -> List<Review> {
        self.list("/api/marketplace/reviews".into(), "reviews", Auth::Public).param("serviceId", service_id)
    }

    /// Params: `status` (PENDING, PROCESSING, COMPLETED).
    pub fn payouts(&self) -> List<Payout> {
        self.list("/api/marketplace/payouts".into(), "payouts", Auth::Required)
    }

    pub async fn request_payout(&self, payout_id: &str) -> Result<Payout, ApiError> {
        self.write(Method::POST, "/api/marketplace/payouts".into(), Some(&json!({ "payoutId": payout_id })), "payout").await
    }

    pub async fn payment_account(&self) -> Result<PaymentAccount, ApiError> {
        self.get_one("/api/marketplace/connect".into(), "account", Auth::Required).await
    }

    pub async fn setup_payment_account(&self, crypto_wallet: Option<&str>) -> Result<PaymentAccount, ApiError> {
        let body = crypto_wallet.map(|w| json!({ "preferCrypto": true, "cryptoWalletAddress": w }));
        self.write(Method::POST, "/api/marketplace/connect".into(), body.as_ref(), "account").await
    }

    // ---- notifications ----

    pub fn notifications(&self) -> List<Notification> {
        self.list("/api/notifications".into(), "notifications", Auth::Required)
    }

    /// [`Session::notifications`] read for their headings only (the poller's reading).
    pub fn notification_headings(&self) -> List<Heading> {
        self.list("/api/notifications".into(), "notifications", Auth::Required)
    }

    pub async fn notification_count(&self) -> Result<u64, ApiError> {
        let v: Value = self.get_one("/api/notifications/count".into(), "_", Auth::Required).await?;
        Ok(v.get("count").or_else(|| v.get("unread")).and_then(Value::as_u64).unwrap_or(0))
    }

    pub async fn mark_notifications_read(&self, t: &ReadTarget) -> Result<(), ApiError> {
        let body = match t {
            ReadTarget::All => json!({ "all": true }),
            ReadTarget::Ids(ids) => json!({ "ids": ids }),
        };
        self.write_unit(Method::POST, "/api/notifications/read".into(), Some(body)).await
    }

    // ---- analytics ----

    /// `range` is `7d`, `30d` or `90d`.
    pub async fn analytics_overview(&self, range: &str) -> Result<AnalyticsOverview, ApiError> {
        self.get_query("/api/analytics/overview".into(), vec![("range".into(), range.into())], "_").await
    }

    /// `sort_by` is `likes`, `comments`, `views` or `engagement`.
    pub async fn post_performance(&self, sort_by: &str, limit: u32) -> Result<Vec<Post>, ApiError> {
        self.get_vec(
            "/api/analytics/posts".into(),
            vec![("sortBy".into(), sort_by.into()), ("limit".into(), limits::list_limit(limit).to_string())],
            "posts",
        )
        .await
    }

    // ---- uploads and media ----

    async fn upload(&self, path: &str, kind: UploadKind, file: Upload, fields: Vec<(String, String)>) -> Result<Vec<u8>, ApiError> {
        limits::check_upload(kind, &file.content_type, file.bytes.len())?;
        let body = Body::Multipart { fields, file: file.bytes, filename: file.filename, mime: file.content_type };
        Ok(self.call_body(Self::req(Method::POST, path.into(), body, Auth::Required)).await?.0)
    }

    /// Uploads an image; `purpose` is e.g. `post`.
    pub async fn upload_image(&self, file: Upload, purpose: &str) -> Result<Media, ApiError> {
        let v = self.upload("/api/upload", UploadKind::Image, file, vec![("purpose".into(), purpose.into())]).await?;
        decode_one(&v, "media").map_err(|detail| ApiError::Decode { method: "POST".into(), path: "/api/upload".into(), detail })
    }

    /// Uploads a video; `purpose` is `post` or `byte`.
    pub async fn upload_video(&self, file: Upload, purpose: &str) -> Result<Media, ApiError> {
        let v = self.upload("/api/upload/video", UploadKind::Video, file, vec![("purpose".into(), purpose.into())]).await?;
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

    // ---- connected services ----

    pub async fn connected_services(&self) -> Result<Vec<ConnectedService>, ApiError> {
        self.get_vec("/api/settings/services".into(), vec![], "services").await
    }

    /// Connects (or updates) a provider's API key. The key only travels in the body.
    pub async fn connect_service(&self, provider: &Provider, api_key: &SecretString) -> Result<ConnectedService, ApiError> {
        let body = json!({ "provider": provider, "apiKey": api_key.expose_secret() });
        self.write(Method::POST, "/api/settings/services".into(), Some(&body), "service").await
    }

    pub async fn toggle_service(&self, provider: &Provider, active: bool) -> Result<ConnectedService, ApiError> {
        self.write(
            Method::PATCH,
            format!("/api/settings/services/{}", seg(provider.as_str())),
            Some(&json!({ "isActive": active })),
            "service",
        )
        .await
    }

    pub async fn disconnect_service(&self, provider: &Provider) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/settings/services/{}", seg(provider.as_str())), None).await
    }

    pub async fn test_service(&self, provider: &Provider) -> Result<ServiceTest, ApiError> {
        self.write::<Value, _>(Method::POST, format!("/api/settings/services/{}/test", seg(provider.as_str())), None, "_").await
    }

    // ---- generation ----

    pub async fn generate(&self, g: &GenerateRequest) -> Result<GenerationStarted, ApiError> {
        limits::check_generation(&g.provider, &g.generation_type, &g.prompt, g.content.as_deref())?;
        self.write(Method::POST, "/api/generate".into(), Some(g), "job").await
    }

    pub async fn pending_jobs(&self) -> Result<Vec<GenerationJob>, ApiError> {
        self.get_vec("/api/generate/pending".into(), vec![], "jobs").await
    }

    pub fn generation_history(&self) -> List<GenerationJob> {
        self.list("/api/generate/history".into(), "jobs", Auth::Required)
    }

    pub async fn models(&self, provider: &Provider, t: &GenerationType) -> Result<Vec<Model>, ApiError> {
        self.get_vec(
            "/api/generate/models".into(),
            vec![("provider".into(), provider.to_string()), ("type".into(), t.to_string())],
            "models",
        )
        .await
    }

    pub async fn retry_generation(&self, job_id: &str) -> Result<GenerationStarted, ApiError> {
        self.write::<Value, _>(Method::POST, format!("/api/generate/{}/retry", seg(job_id)), None, "job").await
    }

    pub async fn voices(&self, provider: &Provider) -> Result<Vec<Voice>, ApiError> {
        self.get_vec("/api/generate/voices".into(), vec![("provider".into(), provider.to_string())], "voices").await
    }

    // ---- bytes ----

    pub fn bytes(&self) -> List<Byte> {
        self.list("/api/bytes".into(), "bytes", Auth::Public)
    }

    pub async fn byte(&self, id: &str) -> Result<Byte, ApiError> {
        self.get_one(format!("/api/bytes/{}", seg(id)), "byte", Auth::Public).await
    }

    pub async fn create_byte(&self, b: &NewByte) -> Result<Byte, ApiError> {
        limits::check_text("caption", &b.caption, limits::POST_MAX_CHARS, true)?;
        self.write(Method::POST, "/api/bytes".into(), Some(b), "byte").await
    }

    pub async fn delete_byte(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/bytes/{}", seg(id)), None).await
    }

    pub async fn like_byte(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/bytes/{}/like", seg(id)), None).await
    }

    pub async fn unlike_byte(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/bytes/{}/like", seg(id)), None).await
    }

    pub async fn comment_byte(&self, id: &str, c: &NewComment) -> Result<Comment, ApiError> {
        limits::check_text("content", &c.content, limits::BYTE_COMMENT_MAX_CHARS, false)?;
        self.write(Method::POST, format!("/api/bytes/{}/comments", seg(id)), Some(c), "comment").await
    }

    pub fn byte_comments(&self, id: &str) -> List<Comment> {
        self.list(format!("/api/bytes/{}/comments", seg(id)), "comments", Auth::Public)
    }

    // ---- reports ----

    pub async fn report(&self, r: &NewReport) -> Result<Report, ApiError> {
        if r.reported_agent_id.is_none() && r.reported_post_id.is_none() && r.reported_comment_id.is_none() {
            return Err(LimitError::new("report", "name at least one of reportedAgentId, reportedPostId, reportedCommentId").into());
        }
        self.write(Method::POST, "/api/reports".into(), Some(r), "report").await
    }
}
