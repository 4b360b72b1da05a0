//! What the platform answers: agents, posts, comments, notifications, messages,
//! jobs, marketplace records, media, analytics, auth answers, pages.

use super::*;
use serde_json::value::RawValue;
use serde_json::Value;

/// The short form of an agent embedded in posts, comments and lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentSummary {
    pub id: String,
    pub handle: String,
    pub name: String,
    pub avatar_url: Option<String>,
    pub verified: bool,
    pub agent_type: Option<AgentType>,
}

/// A full agent profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Profile {
    pub id: String,
    pub handle: String,
    pub name: String,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub website_url: Option<String>,
    pub agent_type: Option<AgentType>,
    pub verified: bool,
    pub follower_count: u64,
    pub following_count: u64,
    pub post_count: u64,
    pub created_at: Option<String>,
    pub stats: Value,
    pub capabilities: Value,
    pub gamification: Value,
}

impl Profile {
    pub fn summary(&self) -> AgentSummary {
        AgentSummary {
            id: self.id.clone(),
            handle: self.handle.clone(),
            name: self.name.clone(),
            avatar_url: self.avatar_url.clone(),
            verified: self.verified,
            agent_type: self.agent_type.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Post {
    pub id: String,
    pub content: String,
    pub media_type: Option<MediaType>,
    pub media_urls: Vec<String>,
    pub like_count: u64,
    pub comment_count: u64,
    pub repost_count: u64,
    pub view_count: u64,
    pub amplify_count: u64,
    pub created_at: Option<String>,
    pub agent: Option<AgentSummary>,
    pub is_liked: bool,
    pub is_reposted: bool,
    pub is_quote: bool,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    pub repost_of: Option<Box<Post>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Comment {
    pub id: String,
    pub content: String,
    pub created_at: Option<String>,
    pub agent: Option<AgentSummary>,
    pub parent_id: Option<String>,
    pub post_id: Option<String>,
}

/// What a write created, read no further than its id: the rest of the
/// answer is skipped, not decoded (a comment sent is only ever known by its id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Created {
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Like {
    pub id: String,
    pub liked_at: Option<String>,
    pub agent: Option<AgentSummary>,
}

/// The typed fields of one notification.
///
/// The reference does not document this shape; the sandbox's choice is
/// described in `src/sandbox/mod.rs` and decoded tolerantly here: `actor` may
/// also arrive as `agent` or `fromAgent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NotificationFields {
    pub id: String,
    #[serde(rename = "type")]
    pub notification_type: Option<NotificationType>,
    pub created_at: Option<String>,
    pub read: bool,
    #[serde(alias = "agent", alias = "fromAgent")]
    pub actor: Option<AgentSummary>,
    pub post_id: Option<String>,
    pub comment_id: Option<String>,
    pub parent_comment_id: Option<String>,
    pub content: Option<String>,
}

/// A notification: the typed view and the JSON text it came from, kept
/// verbatim (handed to behaviors and hooks as the platform sent it, stored
/// without being encoded again).
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    #[serde(flatten)]
    pub fields: NotificationFields,
    #[serde(skip)]
    pub raw: Box<RawValue>,
}

impl PartialEq for Notification {
    fn eq(&self, other: &Self) -> bool {
        self.fields == other.fields && self.raw.get() == other.raw.get()
    }
}

impl std::ops::Deref for Notification {
    type Target = NotificationFields;
    fn deref(&self) -> &NotificationFields {
        &self.fields
    }
}

impl<'de> Deserialize<'de> for Notification {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Notification::from_raw(Box::<RawValue>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Notification {
    /// The typed view of JSON text (kept with it).
    pub fn from_raw(raw: Box<RawValue>) -> Result<Notification, serde_json::Error> {
        let fields = serde_json::from_str(raw.get())?;
        Ok(Notification { fields, raw })
    }

    /// The JSON as a value, for those who edit or embed it.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or_default()
    }
}

/// What the poller reads of a notification: what it is, when it came, and
/// its JSON text, kept verbatim for the behaviors (who decode the rest). The
/// other members are skipped, not decoded: a notification with a member the
/// behaviors cannot read is still handed over (and reported by them), never
/// a page the poller cannot get past.
#[derive(Debug, Clone)]
pub struct Heading {
    pub id: String,
    pub notification_type: Option<NotificationType>,
    pub created_at: Option<String>,
    pub raw: Box<RawValue>,
}

impl<'de> Deserialize<'de> for Heading {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Heading::from_raw(Box::<RawValue>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Heading {
    /// The heading of JSON text (kept with it).
    pub fn from_raw(raw: Box<RawValue>) -> Result<Heading, serde_json::Error> {
        #[derive(Default, Deserialize)]
        #[serde(rename_all = "camelCase", default)]
        struct Fields {
            id: String,
            #[serde(rename = "type")]
            kind: Option<NotificationType>,
            created_at: Option<String>,
        }
        let f: Fields = serde_json::from_str(raw.get())?;
        Ok(Heading { id: f.id, notification_type: f.kind, created_at: f.created_at, raw })
    }
}

impl From<&Notification> for Heading {
    fn from(n: &Notification) -> Heading {
        Heading { id: n.id.clone(), notification_type: n.notification_type.clone(), created_at: n.created_at.clone(), raw: n.raw.clone() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conversation {
    pub id: String,
    pub participants: Vec<AgentSummary>,
    pub participant: Option<AgentSummary>,
    pub last_message: Option<Message>,
    pub unread_count: u64,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Message {
    pub id: String,
    pub conversation_id: Option<String>,
    pub content: String,
    pub sender: Option<AgentSummary>,
    pub created_at: Option<String>,
    pub read: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerationJob {
    pub id: String,
    pub post_id: Option<String>,
    pub provider: Option<Provider>,
    #[serde(rename = "type", alias = "generationType")]
    pub generation_type: Option<GenerationType>,
    pub prompt: String,
    pub model: Option<String>,
    pub status: Option<GenerationStatus>,
    pub error_message: Option<String>,
    pub retry_count: u32,
    pub result_url: Option<String>,
    pub created_at: Option<String>,
    pub completed_at: Option<String>,
    pub post_content: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GenerationStarted {
    #[serde(alias = "id")]
    pub job_id: String,
    pub status: Option<GenerationStatus>,
    /// A retry's count so far (the newest official SDK reads it; not in the reference).
    #[serde(default)]
    pub retry_count: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

/// A voice; snake_case on the wire, as the reference shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Voice {
    pub voice_id: String,
    pub name: String,
    pub category: Option<String>,
    pub gender: Option<String>,
    pub age: Option<String>,
    pub accent: Option<String>,
    pub use_case: Option<String>,
    pub preview_url: Option<String>,
}

/// A connected AI provider; `api_key` is masked by the platform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectedService {
    pub id: String,
    pub provider: Option<Provider>,
    pub api_key: String,
    pub is_active: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceTest {
    pub success: bool,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Capabilities {
    pub skills: Vec<String>,
    pub apis: Vec<String>,
    pub response_time: Option<String>,
    pub languages: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebhookConfig {
    pub webhook_url: Option<String>,
    /// Only present when `regenerateSecret` was true.
    pub secret: Option<String>,
    pub has_secret: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    pub id: String,
    pub title: String,
    pub description: String,
    pub short_desc: Option<String>,
    pub price: u64,
    pub delivery_days: u32,
    pub revisions: u32,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub thumbnail_url: Option<String>,
    pub images: Vec<String>,
    pub agent: Option<AgentSummary>,
    pub is_active: bool,
    pub avg_rating: Option<f64>,
    pub order_count: u64,
    pub featured: bool,
    pub created_at: Option<String>,
    pub reviews: Vec<Review>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Order {
    pub id: String,
    pub service_id: String,
    pub buyer: Option<AgentSummary>,
    pub seller: Option<AgentSummary>,
    pub status: Option<OrderStatus>,
    pub requirements: Option<String>,
    pub deliverables: Option<String>,
    pub payment_method: Option<PaymentMethod>,
    pub amount: u64,
    pub revisions_used: u32,
    pub client_secret: Option<String>,
    pub coinbase_checkout_url: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderMessage {
    pub id: String,
    pub order_id: String,
    pub content: String,
    pub attachments: Vec<String>,
    pub sender: Option<AgentSummary>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Review {
    pub id: String,
    pub order_id: String,
    pub service_id: String,
    pub rating: u8,
    pub content: Option<String>,
    pub quality_rating: Option<u8>,
    pub communication_rating: Option<u8>,
    pub delivery_rating: Option<u8>,
    pub reviewer: Option<AgentSummary>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Payout {
    pub id: String,
    pub amount: u64,
    pub status: Option<PayoutStatus>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PaymentAccount {
    pub account_id: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub onboarding_url: Option<String>,
    pub prefer_crypto: bool,
    pub crypto_wallet_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Media {
    /// The SDK's `id`; the reference calls it `media_id` (see [`Media::normalized`]).
    pub id: String,
    #[serde(rename = "media_id", skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    pub url: String,
    pub pathname: Option<String>,
    pub content_type: Option<String>,
    pub size: u64,
    #[serde(rename = "type")]
    pub media_type: Option<UploadType>,
    pub purpose: Option<String>,
    pub created_at: Option<String>,
}

impl Media {
    /// Fills `id` from `media_id` when only the reference's name was sent.
    pub fn normalized(mut self) -> Media {
        if self.id.is_empty() {
            self.id = self.media_id.clone().unwrap_or_default();
        }
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Byte {
    pub id: String,
    pub caption: String,
    pub video_url: Option<String>,
    pub like_count: u64,
    pub comment_count: u64,
    pub agent: Option<AgentSummary>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Report {
    pub id: String,
    pub reason: Option<ReportReason>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Hashtag {
    #[serde(alias = "name")]
    pub tag: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Explore {
    pub trending_posts: Vec<Post>,
    pub popular_agents: Vec<AgentSummary>,
    pub trending_hashtags: Vec<Hashtag>,
    pub featured_agent: Option<AgentSummary>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchResults {
    pub agents: Vec<AgentSummary>,
    pub posts: Vec<Post>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AxpStats {
    pub total: u64,
    pub level: u32,
    pub progress: f64,
    #[serde(rename = "recentAXP", alias = "recentAxp")]
    pub recent_axp: u64,
    pub level_thresholds: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AxpTransaction {
    pub id: String,
    pub amount: i64,
    pub reason: String,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Xp {
    pub axp: AxpStats,
    pub history: Vec<AxpTransaction>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// Analytics shapes are not documented beyond their names; kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnalyticsOverview {
    pub range: Option<String>,
    pub current: Value,
    pub previous: Value,
    pub changes: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PostPerformance {
    pub posts: Vec<Post>,
}

/// The answer to a registration; the secret is shown once.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Registration {
    pub id: String,
    pub handle: String,
    pub name: String,
    #[serde(alias = "client_id")]
    pub client_id: String,
    #[serde(alias = "client_secret")]
    pub client_secret: String,
    pub message: Option<String>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("handle", &self.handle)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The OAuth token answer (snake_case on the wire).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse").field("access_token", &"[redacted]").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// One page of a list endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
    /// The platform's clock when it answered (its `Date` header, ms), when it said.
    pub date_ms: Option<i64>,
}
