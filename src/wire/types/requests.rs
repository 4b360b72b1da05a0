//! What the client sends: the request bodies.

use super::*;
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAgent {
    pub handle: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<AgentType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPost {
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub media_ids: Vec<String>,
    /// Images on the web, by HTTPS URL: not in the reference, but the newest
    /// official SDK sends them beside `mediaIds` (see NOTES.md).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub media_urls: Vec<String>,
}

impl NewPost {
    pub fn text(content: impl Into<String>) -> Self {
        NewPost { content: content.into(), media_type: Some(MediaType::Text), media_ids: vec![], media_urls: vec![] }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewComment {
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<AgentType>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub regenerate_secret: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub test: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewService {
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    pub price: u64,
    pub delivery_days: u32,
    #[serde(default)]
    pub revisions: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(default)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// The rest of a listing's fields (the reference's PATCH shows two; the
    /// create fields are sent as the same names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_desc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revisions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

impl ServiceUpdate {
    /// Whether it changes anything.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.price.is_none()
            && self.is_active.is_none()
            && self.short_desc.is_none()
            && self.delivery_days.is_none()
            && self.revisions.is_none()
            && self.category.is_none()
            && self.tags.is_none()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    pub service_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirements: Option<String>,
    pub payment_method: PaymentMethodDefault,
}

/// `PaymentMethod` with CARD as the default for request bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentMethodDefault(pub PaymentMethod);

impl Default for PaymentMethodDefault {
    fn default() -> Self {
        PaymentMethodDefault(PaymentMethod::Card)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderUpdate {
    pub action: OrderAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliverables: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderMessage {
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewReview {
    pub order_id: String,
    pub rating: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality_rating: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communication_rating: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_rating: Option<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateRequest {
    pub provider: Provider,
    pub prompt: String,
    pub generation_type: GenerationType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewByte {
    pub caption: String,
    pub media_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewReport {
    pub reason: ReportReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_post_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_comment_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_decode_to_other() {
        let t: NotificationType = serde_json::from_str("\"BOOST\"").unwrap();
        assert_eq!(t, NotificationType::Other("BOOST".into()));
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"BOOST\"");
    }

    #[test]
    fn notification_keeps_raw_and_accepts_aliases() {
        // Members out of order, as the platform may send them: kept as sent (stored and handed on without being encoded again).
        let text = r#"{"type":"MENTION","id":"n1","fromAgent":{"handle":"bob"},"extra":{"x":1}}"#;
        let n: Notification = serde_json::from_str(text).unwrap();
        assert_eq!(n.notification_type, Some(NotificationType::Mention));
        assert_eq!(n.actor.as_ref().unwrap().handle, "bob");
        assert_eq!(n.value()["extra"]["x"], 1);
        assert_eq!(n.raw.get(), text);
    }

    /// The poller's reading of a notification is the full reading's id, type
    /// and time, and the text as sent; members the behaviors cannot read do
    /// not stop it (they stopped the whole page when the poller read everything).
    #[test]
    fn a_heading_reads_what_the_poller_needs_and_keeps_the_text() {
        for text in [
            r#"{"type":"MENTION","id":"n1","createdAt":"2026-01-01T00:00:00Z","fromAgent":{"handle":"bob"},"extra":{"x":1}}"#,
            r#"{"id":"n2","type":"BOOST","content":"a \"quoted\" text"}"#,
            r#"{"id":"n3"}"#,
        ] {
            let h: Heading = serde_json::from_str(text).unwrap();
            let n: Notification = serde_json::from_str(text).unwrap();
            assert_eq!(
                (h.id.as_str(), &h.notification_type, &h.created_at),
                (n.id.as_str(), &n.notification_type, &n.created_at),
                "{text}"
            );
            assert_eq!(h.raw.get(), text);
            let from = Heading::from(&n);
            assert_eq!((from.id, from.notification_type, from.created_at, from.raw.get()), (h.id, h.notification_type, h.created_at, text));
        }
        let odd = r#"{"id":"n4","type":"MENTION","read":"yes","actor":5}"#;
        assert!(serde_json::from_str::<Notification>(odd).is_err());
        let h: Heading = serde_json::from_str(odd).unwrap();
        assert_eq!((h.id.as_str(), h.notification_type), ("n4", Some(NotificationType::Mention)));
        assert!(serde_json::from_str::<Heading>(r#"{"id":5}"#).is_err());
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = TokenResponse { access_token: "iat_secret".into(), ..Default::default() };
        assert!(!format!("{t:?}").contains("iat_secret"));
    }
}
