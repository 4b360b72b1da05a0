//! The sandbox's platform state and the rules that change it.
//!
//! Pure data and functions, no HTTP: handlers in `routes/` lock the world,
//! call these, and render the results with the shared wire types.

mod agents;
mod discovery;
mod follows;
mod generation;
pub mod marketplace;
mod messages;
mod notifications;
mod postings;
mod posts;
mod render;
mod similar;

pub use render::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{TimeZone, Utc};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::wire::types::*;

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
    /// Kept as `kind` in a saved world.
    #[serde(rename = "kind")]
    pub notification_type: NotificationType,
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
    /// A PNG's width and height, read from its header (what the platform would show).
    #[serde(default)]
    pub pixels: Option<(u32, u32)>,
    pub kind: Option<UploadType>,
    pub purpose: Option<String>,
    pub created_ms: i64,
    /// A video's length, when its container says (MP4, QuickTime).
    #[serde(default)]
    pub seconds: Option<f64>,
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
    /// Payment account onboardings started and not completed: agent id -> when started (ms).
    #[serde(default)]
    pub onboarding: BTreeMap<String, i64>,
    pub media: BTreeMap<u64, MediaRec>,
    /// agent id -> provider -> (api key, active, created)
    pub connected: BTreeMap<String, BTreeMap<String, (String, bool, i64)>>,
    pub bytes: BTreeMap<u64, ByteRec>,
    pub reports: BTreeMap<u64, (String, NewReport)>,
    pub xp: BTreeMap<u64, XpRec>,
    pub rng_seed: u64,
    #[serde(skip, default = "default_rng")]
    pub rng: StdRng,
    /// Notification seqs per recipient: a page costs what a page costs, not what the world holds.
    #[serde(skip)]
    pub notifications_of: HashMap<String, std::collections::BTreeSet<u64>>,
    /// The unread ones among them: a count or a mark-all costs what is unread, not every notification.
    #[serde(skip)]
    pub unread_of: HashMap<String, std::collections::BTreeSet<u64>>,
    /// How long an uploaded video takes to process before a post or a byte may use it (ms).
    #[serde(skip)]
    pub video_processing_ms: i64,
    /// Where generated media are served (`http://ADDR` once the server is bound; `GET /media/gen_N.ext`).
    #[serde(skip)]
    pub media_base: String,
    /// Post seqs per author (feeds, analytics).
    #[serde(skip)]
    pub posts_of: HashMap<String, std::collections::BTreeSet<u64>>,
    /// Post seqs per hashtag, lowercased (`/api/hashtags/{tag}`).
    #[serde(skip)]
    pub posts_by_tag: HashMap<String, std::collections::BTreeSet<u64>>,
    /// Comment seqs per (on a byte, post or byte seq).
    #[serde(skip)]
    pub comments_of: HashMap<(bool, u64), std::collections::BTreeSet<u64>>,
    /// Message seqs per conversation.
    #[serde(skip)]
    pub messages_of: HashMap<u64, std::collections::BTreeSet<u64>>,
    /// Conversation seqs per participant.
    #[serde(skip)]
    pub conversations_of: HashMap<String, std::collections::BTreeSet<u64>>,
    /// Generation job seqs per agent.
    #[serde(skip)]
    pub jobs_of: HashMap<String, std::collections::BTreeSet<u64>>,
    /// Generation jobs not yet completed or failed (the ones a tick moves along).
    #[serde(skip)]
    pub active_jobs: std::collections::BTreeSet<u64>,
    /// Orders, reviews and order messages by owner (`marketplace.rs`).
    #[serde(skip)]
    pub market: marketplace::MarketIndex,
    /// Search, trending, popular agents, likes, XP and quotes per agent or post (`discovery.rs`).
    #[serde(skip)]
    pub disc: discovery::Discovery,
}

fn default_rng() -> StdRng {
    StdRng::seed_from_u64(0)
}

/// A rule the request breaks: HTTP status, platform code, message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal(pub u16, pub &'static str, pub String);

impl Refusal {
    pub fn status(&self) -> u16 {
        self.0
    }

    pub fn code(&self) -> &'static str {
        self.1
    }

    pub fn message(&self) -> &str {
        &self.2
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.0, self.1, self.2)
    }
}

impl std::error::Error for Refusal {}

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
/// [`crate::wire::limits::mention_starts`], tags by the same rule with `#`).
pub fn extract(content: &str, sigil: char) -> Vec<String> {
    let starts: Vec<usize> = if sigil == '@' {
        crate::wire::limits::mention_starts(content)
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
    /// Rebuilds the indexes that are not saved (after loading a saved world).
    pub fn reindex(&mut self) {
        self.notifications_of.clear();
        self.unread_of.clear();
        for n in self.notifications.values() {
            self.notifications_of.entry(n.recipient.clone()).or_default().insert(n.seq);
            if !n.read {
                self.unread_of.entry(n.recipient.clone()).or_default().insert(n.seq);
            }
        }
        self.comments_of.clear();
        for c in self.comments.values() {
            self.comments_of.entry((c.on_byte, c.post)).or_default().insert(c.seq);
        }
        self.messages_of.clear();
        for m in self.messages.values() {
            self.messages_of.entry(m.conv).or_default().insert(m.seq);
        }
        self.conversations_of.clear();
        for c in self.conversations.values() {
            for p in &c.participants {
                self.conversations_of.entry(p.clone()).or_default().insert(c.seq);
            }
        }
        self.posts_of.clear();
        self.posts_by_tag.clear();
        for p in self.posts.values() {
            self.posts_of.entry(p.agent.clone()).or_default().insert(p.seq);
            for t in &p.hashtags {
                self.posts_by_tag.entry(t.to_lowercase()).or_default().insert(p.seq);
            }
        }
        self.jobs_of.clear();
        self.active_jobs.clear();
        for j in self.jobs.values() {
            self.jobs_of.entry(j.agent.clone()).or_default().insert(j.seq);
            if !j.status.as_ref().is_some_and(GenerationStatus::is_terminal) {
                self.active_jobs.insert(j.seq);
            }
        }
        self.reindex_market();
        self.rediscover();
    }

    pub fn new(seed: u64) -> World {
        World {
            notifications_of: HashMap::new(),
            unread_of: HashMap::new(),
            posts_of: HashMap::new(),
            posts_by_tag: HashMap::new(),
            comments_of: HashMap::new(),
            messages_of: HashMap::new(),
            conversations_of: HashMap::new(),
            jobs_of: HashMap::new(),
            active_jobs: Default::default(),
            market: Default::default(),
            disc: Default::default(),
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
            onboarding: BTreeMap::new(),
            video_processing_ms: 0,
            media_base: String::new(),
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

    pub(super) fn token(&mut self, prefix: &str) -> String {
        let a: u64 = self.rng.random();
        let b: u64 = self.rng.random();
        format!("{prefix}{a:016x}{b:016x}")
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

    /// The indexes kept up to date by each change equal the ones rebuilt from
    /// scratch (a change that forgets one would serve a stale page).
    #[test]
    fn indexes_kept_by_changes_equal_indexes_rebuilt() {
        fn snapshot(w: &World) -> String {
            fn nonempty<K: Ord + std::fmt::Debug + Clone>(m: &HashMap<K, std::collections::BTreeSet<u64>>) -> BTreeMap<K, Vec<u64>> {
                m.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.iter().copied().collect())).collect()
            }
            format!(
                "{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
                (nonempty(&w.notifications_of), nonempty(&w.unread_of)),
                nonempty(&w.posts_of),
                nonempty(&w.posts_by_tag),
                nonempty(&w.comments_of),
                (nonempty(&w.messages_of), nonempty(&w.jobs_of), &w.active_jobs),
                (w.posts.len(), w.comments.len(), w.messages.len(), nonempty(&w.conversations_of)),
                (
                    nonempty(&w.market.orders_of),
                    nonempty(&w.market.reviews_of),
                    nonempty(&w.market.messages_of),
                    w.market.order_count.iter().collect::<BTreeMap<_, _>>(),
                    w.market.review_of_order.iter().collect::<BTreeMap<_, _>>(),
                    w.market.ratings.iter().collect::<BTreeMap<_, _>>(),
                    nonempty(&w.market.payouts_of)
                )
            )
        }
        let mut w = World::new(1);
        let id = |w: &mut World, h: &str| {
            let a = NewAgent { handle: h.into(), name: h.into(), ..Default::default() };
            w.register(&a, false).unwrap().0.id
        };
        let (a, b) = (id(&mut w, "ada"), id(&mut w, "bob"));
        let c = |t: &str, parent: Option<String>| NewComment { content: t.into(), parent_id: parent };
        let (p1, _) = w.insert_post(&a, "hello @bob #Rust #x", None, vec![], None, false);
        let (p2, _) = w.insert_post(&b, "second #rust", None, vec![], None, false);
        let (c1, _) = w.add_comment(&b, p1, &c("first", None), false).unwrap();
        let (c2, _) = w.add_comment(&a, p1, &c("reply", Some(format!("cmt_{c1}"))), false).unwrap();
        w.add_comment(&b, p1, &c("reply to reply", Some(format!("cmt_{c2}"))), false).unwrap();
        w.add_comment(&a, p2, &c("on two", None), false).unwrap();
        w.delete_comment(&a, p1, &format!("cmt_{c2}")).unwrap();
        w.delete_post(&a, &format!("post_{p1}")).unwrap();
        let conv = w.conversation_between(&a, &b);
        let m1 = w.send_message(conv, &a, "hi").unwrap();
        w.send_message(conv, &b, "hello").unwrap();
        w.remove_message(m1);
        let bobs: Vec<u64> = w.notifications_of[&b].iter().copied().collect();
        assert!(bobs.len() >= 2, "bob was notified: {bobs:?}");
        assert_eq!(w.mark_read(&b, Some(&[bobs[0], u64::MAX])), 1, "one of bob's, one that is no notification");
        assert_eq!(w.mark_read(&a, Some(&[bobs[1]])), 0, "not ada's to mark");
        assert_eq!(w.unread_of[&b].len(), bobs.len() - 1);
        assert_eq!(w.mark_read(&a, None), w.notifications_of[&a].len(), "all of ada's");
        let conv2 = w.conversation_between(&a, "someone");
        w.send_message(conv2, &a, "gone soon").unwrap();
        w.remove_conversation(conv2);
        let svc = w.next_seq();
        w.services.insert(svc, ServiceRec { seq: svc, agent: b.clone(), data: Default::default(), active: true, created_ms: 0 });
        let o1 = w.place_order(svc, &a, None, PaymentMethod::Card);
        w.place_order(svc, &a, None, PaymentMethod::Card);
        w.orders.get_mut(&o1).unwrap().status = Some(OrderStatus::Delivered);
        w.update_order(o1, &a, &OrderAction::Accept, None).unwrap();
        assert_eq!(w.payouts_of(&b).count(), 1, "the seller's payout");
        let job = w.next_seq();
        w.insert_job(JobRec { seq: job, agent: a.clone(), ..Default::default() });
        assert_eq!(w.jobs_of(&a).count(), 1);
        let running = w.next_seq();
        w.insert_job(JobRec { seq: running, agent: a.clone(), created_ms: now_ms(), started_ms: now_ms(), ..Default::default() });
        w.advance_jobs(60_000);
        assert_eq!(w.active_jobs.iter().copied().collect::<Vec<_>>(), vec![running], "the timed-out job left the tick");
        assert!(w.add_review(o1, &a, 5, "good".into()).is_some());
        assert!(w.add_review(o1, &a, 5, "twice".into()).is_none(), "one review per order");
        let m = w.next_seq();
        w.insert_order_message(OrderMsgRec { seq: m, order: o1, sender: b.clone(), content: "please review".into(), ..Default::default() });
        assert_eq!(w.orders_of(&b).count(), 2);
        let kept = snapshot(&w);
        w.reindex();
        assert_eq!(kept, snapshot(&w));
        assert_eq!(w.comments_of.get(&(false, p2)).map(|s| s.len()), Some(1));
        assert_eq!(w.messages_of.get(&conv).map(|s| s.len()), Some(1));
        assert_eq!(w.conversation_between(&b, &a), conv, "found again from either side");
        assert_eq!(w.conversations_of.get(&a).map(|s| s.len()), Some(1), "the removed conversation is gone");
        assert_eq!(w.posts_by_tag.get("rust").map(|s| s.len()), Some(1));
    }
}
