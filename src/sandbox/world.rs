//! The sandbox's platform state and the rules that change it.
//!
//! Pure data and functions, no HTTP: handlers in `routes.rs` lock the world,
//! call these, and render the results with the shared wire types.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{TimeZone, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::types::*;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Ids are `prefix_N` with one global, increasing N: creation order is id order.
pub fn seq_of(id: &str) -> Option<u64> {
    id.rsplit('_').next()?.parse().ok()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentRec {
    pub id: String,
    pub handle: String,
    pub name: String,
    pub bio: Option<String>,
    pub agent_type: Option<AgentType>,
    pub website_url: Option<String>,
    pub avatar_url: Option<String>,
    pub verified: bool,
    pub created_ms: i64,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub capabilities: Capabilities,
    pub followers: BTreeSet<String>,
    pub following: BTreeSet<String>,
    pub axp: u64,
    pub community: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PostRec {
    pub seq: u64,
    pub agent: String,
    pub content: String,
    pub media_type: Option<MediaType>,
    pub media_urls: Vec<String>,
    pub likes: BTreeMap<String, i64>,
    pub reposts: BTreeSet<String>,
    pub amplifies: BTreeSet<String>,
    pub views: u64,
    pub comment_count: u64,
    /// Quotes of this post (counted with reposts, as the platform does).
    pub quotes: u64,
    pub created_ms: i64,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    pub repost_of: Option<u64>,
    pub is_quote: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CommentRec {
    pub seq: u64,
    pub post: u64,
    pub agent: String,
    pub content: String,
    pub parent: Option<u64>,
    pub created_ms: i64,
    /// Comments on bytes live in the same table.
    pub on_byte: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NotifRec {
    pub seq: u64,
    pub recipient: String,
    pub kind: NotificationType,
    pub actor: String,
    pub post: Option<u64>,
    pub comment: Option<u64>,
    pub parent_comment: Option<u64>,
    pub content: Option<String>,
    pub read: bool,
    pub created_ms: i64,
}

impl Default for NotificationType {
    fn default() -> Self {
        NotificationType::Other(String::new())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConvRec {
    pub seq: u64,
    pub participants: Vec<String>,
    /// Per participant: the last message seq they have read.
    pub read_upto: BTreeMap<String, u64>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MsgRec {
    pub seq: u64,
    pub conv: u64,
    pub sender: String,
    pub content: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobRec {
    pub seq: u64,
    pub agent: String,
    pub provider: Option<Provider>,
    pub kind: Option<GenerationType>,
    pub prompt: String,
    pub model: Option<String>,
    pub content: Option<String>,
    pub status: Option<GenerationStatus>,
    pub error: Option<String>,
    pub retry_count: u32,
    pub started_ms: i64,
    pub created_ms: i64,
    pub completed_ms: Option<i64>,
    pub will_fail: bool,
    pub post: Option<u64>,
    pub result_url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceRec {
    pub seq: u64,
    pub agent: String,
    pub data: NewService,
    pub active: bool,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderRec {
    pub seq: u64,
    pub service: u64,
    pub buyer: String,
    pub seller: String,
    pub status: Option<OrderStatus>,
    pub requirements: Option<String>,
    pub deliverables: Option<String>,
    pub payment_method: Option<PaymentMethod>,
    pub amount: u64,
    pub revisions_used: u32,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderMsgRec {
    pub seq: u64,
    pub order: u64,
    pub sender: String,
    pub content: String,
    pub attachments: Vec<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReviewRec {
    pub seq: u64,
    pub order: u64,
    pub service: u64,
    pub reviewer: String,
    pub data: NewReview,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MediaRec {
    pub seq: u64,
    pub agent: String,
    pub url: String,
    pub content_type: String,
    pub size: u64,
    pub kind: Option<UploadType>,
    pub purpose: Option<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ByteRec {
    pub seq: u64,
    pub agent: String,
    pub caption: String,
    pub video_url: String,
    pub likes: BTreeSet<String>,
    pub comment_count: u64,
    pub created_ms: i64,
}

/// A payout: (seller, amount in cents, status, created ms).
pub type PayoutRec = (String, u64, PayoutStatus, i64);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenRec {
    pub agent: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct XpRec {
    pub seq: u64,
    pub agent: String,
    pub amount: i64,
    pub reason: String,
    pub created_ms: i64,
}

/// Everything the sandbox knows. Serializable so `--state DIR` survives restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub seq: u64,
    pub agents: BTreeMap<String, AgentRec>,
    pub handles: HashMap<String, String>,
    pub clients: HashMap<String, String>,
    pub tokens: HashMap<String, TokenRec>,
    pub refresh_tokens: HashMap<String, TokenRec>,
    pub posts: BTreeMap<u64, PostRec>,
    pub comments: BTreeMap<u64, CommentRec>,
    pub notifications: BTreeMap<u64, NotifRec>,
    pub conversations: BTreeMap<u64, ConvRec>,
    pub messages: BTreeMap<u64, MsgRec>,
    pub jobs: BTreeMap<u64, JobRec>,
    pub services: BTreeMap<u64, ServiceRec>,
    pub orders: BTreeMap<u64, OrderRec>,
    pub order_messages: BTreeMap<u64, OrderMsgRec>,
    pub reviews: BTreeMap<u64, ReviewRec>,
    pub payouts: BTreeMap<u64, PayoutRec>,
    pub accounts: BTreeMap<String, PaymentAccount>,
    pub media: BTreeMap<u64, MediaRec>,
    /// agent id -> provider -> (api key, active, created)
    pub connected: BTreeMap<String, BTreeMap<String, (String, bool, i64)>>,
    pub bytes: BTreeMap<u64, ByteRec>,
    pub reports: BTreeMap<u64, (String, NewReport)>,
    pub xp: BTreeMap<u64, XpRec>,
    pub rng_seed: u64,
    #[serde(skip, default = "default_rng")]
    pub rng: StdRng,
}

fn default_rng() -> StdRng {
    StdRng::seed_from_u64(0)
}

/// A rule the request breaks: HTTP status, platform code, message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal(pub u16, pub &'static str, pub String);

pub type Res<T> = Result<T, Refusal>;

pub fn bad(code: &'static str, msg: impl Into<String>) -> Refusal {
    Refusal(400, code, msg.into())
}
pub fn not_found(what: &str) -> Refusal {
    Refusal(404, "not_found", format!("{what} not found"))
}
pub fn forbidden(msg: impl Into<String>) -> Refusal {
    Refusal(403, "forbidden", msg.into())
}

/// Extracts `#tags` and `@handles` the way the platform does (mentions by
/// [`crate::api::limits::mention_starts`], tags by the same rule with `#`).
pub fn extract(content: &str, sigil: char) -> Vec<String> {
    let starts: Vec<usize> = if sigil == '@' {
        crate::api::limits::mention_starts(content)
    } else {
        let mut prev: Option<char> = None;
        let mut v = vec![];
        for (i, c) in content.char_indices() {
            if c == sigil && !prev.is_some_and(|p| p.is_alphanumeric() || p == '_') {
                v.push(i);
            }
            prev = Some(c);
        }
        v
    };
    let mut out: Vec<String> = vec![];
    for i in starts {
        let word: String = content[i + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !word.is_empty() {
            let w = if sigil == '@' { word.to_ascii_lowercase() } else { word };
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

/// What a notification creation produced, for webhook delivery.
pub type Created = Vec<u64>;

impl World {
    pub fn new(seed: u64) -> World {
        World {
            seq: 0,
            agents: BTreeMap::new(),
            handles: HashMap::new(),
            clients: HashMap::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            posts: BTreeMap::new(),
            comments: BTreeMap::new(),
            notifications: BTreeMap::new(),
            conversations: BTreeMap::new(),
            messages: BTreeMap::new(),
            jobs: BTreeMap::new(),
            services: BTreeMap::new(),
            orders: BTreeMap::new(),
            order_messages: BTreeMap::new(),
            reviews: BTreeMap::new(),
            payouts: BTreeMap::new(),
            accounts: BTreeMap::new(),
            media: BTreeMap::new(),
            connected: BTreeMap::new(),
            bytes: BTreeMap::new(),
            reports: BTreeMap::new(),
            xp: BTreeMap::new(),
            rng_seed: seed,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn token(&mut self, prefix: &str) -> String {
        let a: u64 = self.rng.random();
        let b: u64 = self.rng.random();
        format!("{prefix}{a:016x}{b:016x}")
    }

    // ---- agents and auth ----

    pub fn register(&mut self, a: &NewAgent, community: bool) -> Res<(AgentRec, String)> {
        crate::api::limits::check_handle(&a.handle).map_err(|e| bad("invalid_handle", e.to_string()))?;
        if a.name.trim().is_empty() {
            return Err(bad("invalid_name", "name is required"));
        }
        if let Some(b) = &a.bio {
            crate::api::limits::check_text("bio", b, crate::api::limits::BIO_MAX_CHARS, true)
                .map_err(|e| bad("invalid_bio", e.to_string()))?;
        }
        if self.handles.contains_key(&a.handle) {
            return Err(Refusal(409, "handle_taken", format!("handle {} is already taken", a.handle)));
        }
        let seq = self.next_seq();
        let id = format!("agent_{seq}");
        let client_id = format!("ia_client_{seq}");
        let secret = self.token("ias_");
        let rec = AgentRec {
            id: id.clone(),
            handle: a.handle.clone(),
            name: a.name.clone(),
            bio: a.bio.clone(),
            agent_type: a.agent_type.clone(),
            website_url: a.website_url.clone(),
            avatar_url: a.avatar_url.clone(),
            verified: community && seq.is_multiple_of(3),
            created_ms: now_ms(),
            client_id: client_id.clone(),
            client_secret: secret.clone(),
            community,
            ..Default::default()
        };
        self.handles.insert(a.handle.clone(), id.clone());
        self.clients.insert(client_id, id.clone());
        self.agents.insert(id, rec.clone());
        Ok((rec, secret))
    }

    pub fn issue_tokens(&mut self, agent: &str, ttl_ms: i64) -> TokenResponse {
        let access = self.token("iat_");
        let refresh = self.token("iar_");
        let exp = now_ms() + ttl_ms;
        self.tokens.insert(access.clone(), TokenRec { agent: agent.into(), expires_ms: exp });
        self.refresh_tokens.insert(refresh.clone(), TokenRec { agent: agent.into(), expires_ms: now_ms() + 30 * 24 * 3600 * 1000 });
        TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: (ttl_ms / 1000).max(1) as u64,
            refresh_token: Some(refresh),
            scope: Some("read write".into()),
        }
    }

    pub fn agent_by_token(&self, token: &str) -> Option<&str> {
        let t = self.tokens.get(token)?;
        (t.expires_ms > now_ms()).then_some(t.agent.as_str())
    }

    pub fn agent_by_handle(&self, handle: &str) -> Res<&AgentRec> {
        let h = handle.trim_start_matches('@').to_ascii_lowercase();
        self.handles.get(&h).and_then(|id| self.agents.get(id)).ok_or_else(|| not_found("agent"))
    }

    pub fn agent(&self, id: &str) -> Res<&AgentRec> {
        self.agents.get(id).ok_or_else(|| not_found("agent"))
    }

    pub fn summary(&self, id: &str) -> AgentSummary {
        match self.agents.get(id) {
            Some(a) => AgentSummary {
                id: a.id.clone(),
                handle: a.handle.clone(),
                name: a.name.clone(),
                avatar_url: a.avatar_url.clone(),
                verified: a.verified,
                agent_type: a.agent_type.clone(),
            },
            None => AgentSummary { id: id.into(), ..Default::default() },
        }
    }

    pub fn profile(&self, id: &str) -> Res<Profile> {
        let a = self.agent(id)?;
        let posts = self.posts.values().filter(|p| p.agent == id).count() as u64;
        let level = level_of(a.axp);
        Ok(Profile {
            id: a.id.clone(),
            handle: a.handle.clone(),
            name: a.name.clone(),
            bio: a.bio.clone(),
            avatar_url: a.avatar_url.clone(),
            website_url: a.website_url.clone(),
            agent_type: a.agent_type.clone(),
            verified: a.verified,
            follower_count: a.followers.len() as u64,
            following_count: a.following.len() as u64,
            post_count: posts,
            created_at: Some(iso(a.created_ms)),
            stats: json!({"followers": a.followers.len(), "following": a.following.len(), "posts": posts}),
            capabilities: serde_json::to_value(&a.capabilities).unwrap_or_default(),
            gamification: json!({"axp": a.axp, "level": level}),
        })
    }

    pub fn award(&mut self, agent: &str, amount: i64, reason: &str) {
        let seq = self.next_seq();
        if let Some(a) = self.agents.get_mut(agent) {
            a.axp = a.axp.saturating_add_signed(amount);
            self.xp.insert(seq, XpRec { seq, agent: agent.into(), amount, reason: reason.into(), created_ms: now_ms() });
        }
    }

    // ---- notifications ----

    pub fn notify(
        &mut self,
        recipient: &str,
        kind: NotificationType,
        actor: &str,
        post: Option<u64>,
        comment: Option<u64>,
        content: Option<&str>,
    ) -> Option<u64> {
        if recipient == actor || !self.agents.contains_key(recipient) {
            return None;
        }
        let parent_comment = comment.and_then(|c| self.comments.get(&c)).and_then(|c| c.parent);
        let seq = self.next_seq();
        let preview = content.map(|c| c.chars().take(140).collect());
        self.notifications.insert(
            seq,
            NotifRec {
                seq,
                recipient: recipient.into(),
                kind,
                actor: actor.into(),
                post,
                comment,
                parent_comment,
                content: preview,
                read: false,
                created_ms: now_ms(),
            },
        );
        Some(seq)
    }

    /// The notification shape this sandbox serves (see `sandbox/mod.rs`).
    pub fn render_notification(&self, n: &NotifRec) -> Value {
        json!({
            "id": format!("ntf_{}", n.seq),
            "type": n.kind,
            "createdAt": iso(n.created_ms),
            "read": n.read,
            "actor": self.summary(&n.actor),
            "postId": n.post.map(|p| format!("post_{p}")),
            "commentId": n.comment.map(|c| format!("cmt_{c}")),
            "parentCommentId": n.parent_comment.map(|c| format!("cmt_{c}")),
            "content": n.content,
        })
    }

    // ---- posts ----

    pub fn create_post(&mut self, agent: &str, p: &NewPost) -> Res<(u64, Created)> {
        let has_media = !p.media_ids.is_empty();
        crate::api::limits::check_text("content", &p.content, crate::api::limits::POST_MAX_CHARS, has_media)
            .map_err(|e| bad("invalid_content", e.to_string()))?;
        crate::api::limits::check_media_ids(&p.media_ids).map_err(|e| bad("too_many_media", e.to_string()))?;
        let mut urls = vec![];
        let mut kinds = BTreeSet::new();
        for mid in &p.media_ids {
            let m = seq_of(mid)
                .and_then(|s| self.media.get(&s))
                .filter(|m| m.agent == agent)
                .ok_or_else(|| bad("invalid_media", format!("media {mid} not found")))?;
            urls.push(m.url.clone());
            kinds.insert(m.kind.clone().map(|k| k.to_string()).unwrap_or_default());
        }
        if kinds.len() > 1 {
            return Err(bad("mixed_media", "cannot mix images and videos"));
        }
        if kinds.contains("VIDEO") && urls.len() > 1 {
            return Err(bad("too_many_media", "at most 1 video per post"));
        }
        let media_type = if has_media {
            Some(if kinds.contains("VIDEO") { MediaType::Video } else { MediaType::Image })
        } else {
            p.media_type.clone().or(Some(MediaType::Text))
        };
        Ok(self.insert_post(agent, &p.content, media_type, urls, None, false))
    }

    pub fn insert_post(
        &mut self,
        agent: &str,
        content: &str,
        media_type: Option<MediaType>,
        media_urls: Vec<String>,
        repost_of: Option<u64>,
        is_quote: bool,
    ) -> (u64, Created) {
        let seq = self.next_seq();
        let mentions = extract(content, '@');
        let rec = PostRec {
            seq,
            agent: agent.into(),
            content: content.into(),
            media_type,
            media_urls,
            created_ms: now_ms(),
            hashtags: extract(content, '#'),
            mentions: mentions.clone(),
            repost_of,
            is_quote,
            ..Default::default()
        };
        self.posts.insert(seq, rec);
        if let (true, Some(orig)) = (is_quote, repost_of.and_then(|o| self.posts.get_mut(&o))) {
            orig.quotes += 1;
        }
        self.award(agent, 10, "post");
        let mut created = vec![];
        for h in mentions {
            if let Some(target) = self.handles.get(&h).cloned() {
                created.extend(self.notify(&target, NotificationType::Mention, agent, Some(seq), None, Some(content)));
            }
        }
        (seq, created)
    }

    pub fn post(&self, id: &str) -> Res<&PostRec> {
        seq_of(id).filter(|_| id.starts_with("post_")).and_then(|s| self.posts.get(&s)).ok_or_else(|| not_found("post"))
    }

    pub fn render_post(&self, p: &PostRec, viewer: Option<&str>) -> Post {
        Post {
            id: format!("post_{}", p.seq),
            content: p.content.clone(),
            media_type: p.media_type.clone(),
            media_urls: p.media_urls.clone(),
            like_count: p.likes.len() as u64,
            comment_count: p.comment_count,
            repost_count: p.reposts.len() as u64 + p.quotes,
            view_count: p.views,
            amplify_count: p.amplifies.len() as u64,
            created_at: Some(iso(p.created_ms)),
            agent: Some(self.summary(&p.agent)),
            is_liked: viewer.is_some_and(|v| p.likes.contains_key(v)),
            is_reposted: viewer.is_some_and(|v| p.reposts.contains(v)),
            is_quote: p.is_quote,
            hashtags: p.hashtags.clone(),
            mentions: p.mentions.clone(),
            repost_of: p.repost_of.and_then(|s| self.posts.get(&s)).map(|q| Box::new(self.render_post(q, viewer))),
        }
    }

    pub fn delete_post(&mut self, agent: &str, id: &str) -> Res<()> {
        let p = self.post(id)?;
        if p.agent != agent {
            return Err(forbidden("you can only delete your own posts"));
        }
        let (seq, quoted) = (p.seq, p.repost_of.filter(|_| p.is_quote));
        self.posts.remove(&seq);
        if let Some(orig) = quoted.and_then(|o| self.posts.get_mut(&o)) {
            orig.quotes = orig.quotes.saturating_sub(1);
        }
        self.comments.retain(|_, c| c.on_byte || c.post != seq);
        Ok(())
    }

    pub fn add_comment(&mut self, agent: &str, post: u64, c: &NewComment, on_byte: bool) -> Res<(u64, Created)> {
        let max = if on_byte { crate::api::limits::BYTE_COMMENT_MAX_CHARS } else { crate::api::limits::COMMENT_MAX_CHARS };
        crate::api::limits::check_text("content", &c.content, max, false).map_err(|e| bad("invalid_content", e.to_string()))?;
        let parent = match &c.parent_id {
            Some(pid) => {
                let ps = seq_of(pid).filter(|s| self.comments.get(s).is_some_and(|pc| pc.post == post && pc.on_byte == on_byte));
                Some(ps.ok_or_else(|| bad("invalid_parent", format!("parent comment {pid} is not on this post")))?)
            }
            None => None,
        };
        let seq = self.next_seq();
        self.comments
            .insert(seq, CommentRec { seq, post, agent: agent.into(), content: c.content.clone(), parent, created_ms: now_ms(), on_byte });
        self.award(agent, 2, "comment");
        let mut created = vec![];
        if on_byte {
            if let Some(b) = self.bytes.get_mut(&post) {
                b.comment_count += 1;
                let owner = b.agent.clone();
                created.extend(self.notify(&owner, NotificationType::Comment, agent, None, Some(seq), Some(&c.content)));
            }
            return Ok((seq, created));
        }
        let Some(p) = self.posts.get_mut(&post) else {
            return Err(not_found("post"));
        };
        p.comment_count += 1;
        let post_author = p.agent.clone();
        let parent_author = parent.and_then(|ps| self.comments.get(&ps)).map(|pc| pc.agent.clone());
        let mut told: BTreeSet<String> = BTreeSet::new();
        if let Some(pa) = &parent_author {
            if let Some(n) = self.notify(pa, NotificationType::Reply, agent, Some(post), Some(seq), Some(&c.content)) {
                created.push(n);
                told.insert(pa.clone());
            }
        }
        if !told.contains(&post_author) {
            if let Some(n) = self.notify(&post_author, NotificationType::Comment, agent, Some(post), Some(seq), Some(&c.content)) {
                created.push(n);
                told.insert(post_author.clone());
            }
        }
        for h in extract(&c.content, '@') {
            if let Some(target) = self.handles.get(&h).cloned() {
                if !told.contains(&target) {
                    created.extend(self.notify(&target, NotificationType::Mention, agent, Some(post), Some(seq), Some(&c.content)));
                    told.insert(target);
                }
            }
        }
        Ok((seq, created))
    }

    pub fn render_comment(&self, c: &CommentRec) -> Comment {
        Comment {
            id: format!("cmt_{}", c.seq),
            content: c.content.clone(),
            created_at: Some(iso(c.created_ms)),
            agent: Some(self.summary(&c.agent)),
            parent_id: c.parent.map(|p| format!("cmt_{p}")),
            post_id: Some(if c.on_byte { format!("byte_{}", c.post) } else { format!("post_{}", c.post) }),
        }
    }

    /// Deletes a comment and every reply below it; returns how many went.
    pub fn delete_comment(&mut self, agent: &str, post: u64, comment: &str) -> Res<u64> {
        let cs = seq_of(comment)
            .filter(|s| self.comments.get(s).is_some_and(|c| c.post == post && !c.on_byte))
            .ok_or_else(|| not_found("comment"))?;
        if self.comments.get(&cs).is_some_and(|c| c.agent != agent) {
            return Err(forbidden("you can only delete your own comments"));
        }
        let mut doomed = BTreeSet::from([cs]);
        loop {
            let more: Vec<u64> = self
                .comments
                .values()
                .filter(|c| c.parent.is_some_and(|p| doomed.contains(&p)) && !doomed.contains(&c.seq))
                .map(|c| c.seq)
                .collect();
            if more.is_empty() {
                break;
            }
            doomed.extend(more);
        }
        for d in &doomed {
            self.comments.remove(d);
        }
        if let Some(p) = self.posts.get_mut(&post) {
            p.comment_count = p.comment_count.saturating_sub(doomed.len() as u64);
        }
        Ok(doomed.len() as u64)
    }

    // ---- follows ----

    pub fn follow(&mut self, follower: &str, handle: &str) -> Res<Option<u64>> {
        let target = self.agent_by_handle(handle)?.id.clone();
        if target == follower {
            return Err(bad("cannot_follow_self", "you cannot follow yourself"));
        }
        let new = self.agents.get_mut(follower).map(|a| a.following.insert(target.clone())).unwrap_or(false);
        if !new {
            return Ok(None);
        }
        if let Some(t) = self.agents.get_mut(&target) {
            t.followers.insert(follower.into());
        }
        self.award(&target, 5, "new follower");
        Ok(self.notify(&target, NotificationType::Follow, follower, None, None, None))
    }

    pub fn unfollow(&mut self, follower: &str, handle: &str) -> Res<()> {
        let target = self.agent_by_handle(handle)?.id.clone();
        if let Some(a) = self.agents.get_mut(follower) {
            a.following.remove(&target);
        }
        if let Some(t) = self.agents.get_mut(&target) {
            t.followers.remove(follower);
        }
        Ok(())
    }

    // ---- messages ----

    pub fn conversation_between(&mut self, a: &str, b: &str) -> u64 {
        if let Some(c) = self
            .conversations
            .values()
            .find(|c| c.participants.len() == 2 && c.participants.iter().any(|p| p == a) && c.participants.iter().any(|p| p == b))
        {
            return c.seq;
        }
        let seq = self.next_seq();
        self.conversations
            .insert(seq, ConvRec { seq, participants: vec![a.into(), b.into()], read_upto: BTreeMap::new(), created_ms: now_ms() });
        seq
    }

    pub fn send_message(&mut self, conv: u64, sender: &str, content: &str) -> Res<u64> {
        crate::api::limits::check_text("content", content, crate::api::limits::MESSAGE_MAX_CHARS, false)
            .map_err(|e| bad("invalid_content", e.to_string()))?;
        let c = self.conversations.get(&conv).ok_or_else(|| not_found("conversation"))?;
        if !c.participants.iter().any(|p| p == sender) {
            return Err(forbidden("you are not a participant of this conversation"));
        }
        let seq = self.next_seq();
        self.messages.insert(seq, MsgRec { seq, conv, sender: sender.into(), content: content.into(), created_ms: now_ms() });
        if let Some(c) = self.conversations.get_mut(&conv) {
            c.read_upto.insert(sender.into(), seq);
        }
        Ok(seq)
    }

    pub fn unread_in(&self, conv: &ConvRec, agent: &str) -> u64 {
        let upto = conv.read_upto.get(agent).copied().unwrap_or(0);
        self.messages.range(upto + 1..).filter(|(_, m)| m.conv == conv.seq && m.sender != agent).count() as u64
    }

    pub fn render_message(&self, m: &MsgRec, viewer: &str) -> Message {
        let read = self.conversations.get(&m.conv).map(|c| c.read_upto.get(viewer).copied().unwrap_or(0) >= m.seq).unwrap_or(false);
        Message {
            id: format!("msg_{}", m.seq),
            conversation_id: Some(format!("conv_{}", m.conv)),
            content: m.content.clone(),
            sender: Some(self.summary(&m.sender)),
            created_at: Some(iso(m.created_ms)),
            read,
        }
    }

    pub fn render_conversation(&self, c: &ConvRec, viewer: &str) -> Conversation {
        let last = self.messages.values().rev().find(|m| m.conv == c.seq).map(|m| self.render_message(m, viewer));
        Conversation {
            id: format!("conv_{}", c.seq),
            participants: c.participants.iter().map(|p| self.summary(p)).collect(),
            participant: c.participants.iter().find(|p| *p != viewer).map(|p| self.summary(p)),
            last_message: last,
            unread_count: self.unread_in(c, viewer),
            created_at: Some(iso(c.created_ms)),
        }
    }

    // ---- generation ----

    pub fn render_job(&self, j: &JobRec) -> GenerationJob {
        GenerationJob {
            id: format!("job_{}", j.seq),
            post_id: j.post.map(|p| format!("post_{p}")),
            provider: j.provider.clone(),
            generation_type: j.kind.clone(),
            prompt: j.prompt.clone(),
            model: j.model.clone(),
            status: j.status.clone(),
            error_message: j.error.clone(),
            retry_count: j.retry_count,
            result_url: j.result_url.clone(),
            created_at: Some(iso(j.created_ms)),
            completed_at: j.completed_ms.map(iso),
            post_content: j.content.clone(),
        }
    }

    /// Moves generation jobs along: pending → generating → uploading → completed/failed.
    pub fn advance_jobs(&mut self, duration_ms: i64) {
        let now = now_ms();
        let mut completed = vec![];
        for j in self.jobs.values_mut() {
            if j.status.as_ref().is_some_and(GenerationStatus::is_terminal) {
                continue;
            }
            let elapsed = now - j.started_ms;
            if now - j.created_ms > 5 * 60 * 1000 {
                j.status = Some(GenerationStatus::Failed);
                j.error = Some("job timed out after 5 minutes".into());
                continue;
            }
            let d = duration_ms.max(1);
            j.status = Some(if elapsed >= d {
                if j.will_fail {
                    j.error = Some("provider error (simulated by the sandbox)".into());
                    GenerationStatus::Failed
                } else {
                    completed.push(j.seq);
                    GenerationStatus::Completed
                }
            } else if elapsed >= d * 2 / 3 {
                GenerationStatus::Uploading
            } else if elapsed >= d / 3 {
                GenerationStatus::Generating
            } else {
                GenerationStatus::Pending
            });
        }
        for seq in completed {
            let Some(j) = self.jobs.get(&seq).cloned() else {
                continue;
            };
            let ext = match j.kind {
                Some(GenerationType::Video) => "mp4",
                Some(GenerationType::Image) => "png",
                _ => "mp3",
            };
            let url = format!("https://sandbox.imagineanything.invalid/media/gen_{seq}.{ext}");
            let mt = match j.kind {
                Some(GenerationType::Video) => MediaType::Video,
                Some(GenerationType::Image) => MediaType::Image,
                _ => MediaType::Other("AUDIO".into()),
            };
            let (post, _) = self.insert_post(&j.agent, j.content.as_deref().unwrap_or(""), Some(mt), vec![url.clone()], None, false);
            if let Some(jm) = self.jobs.get_mut(&seq) {
                jm.post = Some(post);
                jm.result_url = Some(url);
                jm.completed_ms = Some(now);
            }
        }
    }

    // ---- listing ----

    /// Newest first, starting after `cursor` (an id whose number is the position).
    pub fn page<'a, T: 'a>(
        iter: impl DoubleEndedIterator<Item = (&'a u64, &'a T)>,
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<&'a T>, Option<String>, bool) {
        let before = cursor.and_then(seq_of).unwrap_or(u64::MAX);
        let mut items: Vec<(&u64, &T)> = iter.rev().filter(|(s, _)| **s < before).take(limit + 1).collect();
        let has_more = items.len() > limit;
        items.truncate(limit);
        let next = if has_more { items.last().map(|(s, _)| format!("c_{s}")) } else { None };
        (items.into_iter().map(|(_, t)| t).collect(), next, has_more)
    }
}

pub fn level_of(axp: u64) -> u32 {
    LEVELS.iter().take_while(|t| axp >= **t).count() as u32
}

pub const LEVELS: &[u64] = &[0, 100, 300, 700, 1500, 3000, 6000, 12000];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction() {
        assert_eq!(extract("hi @Bob and @bob, email a@b #x #x_y", '@'), vec!["bob"]);
        assert_eq!(extract("#rust is #fun", '#'), vec!["rust", "fun"]);
    }

    #[test]
    fn pages_are_newest_first_and_complete() {
        let m: BTreeMap<u64, u64> = (1..=25).map(|i| (i, i)).collect();
        let (a, next, more) = World::page(m.iter(), None, 10);
        assert_eq!(a.first().copied(), Some(&25));
        assert!(more);
        let (b, next2, _) = World::page(m.iter(), next.as_deref(), 10);
        assert_eq!(b.first().copied(), Some(&15));
        let (c, next3, more3) = World::page(m.iter(), next2.as_deref(), 10);
        assert_eq!(c.len(), 5);
        assert!(!more3 && next3.is_none());
    }
}
