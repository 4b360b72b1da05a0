//! The approval queue: a behavior with `approval: required` does not speak on
//! its own. Each text it would send (post, reply, comment, quote, DM, order
//! message) becomes a draft in sled, with everything needed to send it; a
//! person approves or rejects it (`imagine-agent drafts`), and the agent's
//! draft task sends the approved ones.
//!
//! Guarantees: a draft is sent through the same intent path, under the same
//! key, as the action it stands for: approving twice, or a SIGKILL between
//! approval and sending, sends it exactly once (after a crash the platform is
//! searched for it first). A rejected or expired (`on_timeout: discard`)
//! draft is never sent. Actions that say nothing (likes, follows...) are not
//! drafted.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::types::{NewComment, NewOrderMessage, NewPost};
use crate::api::ApiError;
use crate::behaviors::context::{BehaviorError, Ctx, Found};
use crate::store::{AgentStore, StoreError};

/// The store namespace of the drafts (shared by the agent's behaviors).
pub const NS: &str = "_drafts";

/// The kinds of action that speak, and so are drafted under `approval: required`.
pub const SPEAKING: &[&str] = &["post", "reply", "comment", "quote", "dm", "order_message"];

/// `approval:` on a behavior: `required`, or the long form.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ApprovalSpec {
    /// `approval: required`.
    Word(Required),
    Full(Approval),
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Required {
    Required,
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    #[serde(default = "crate::behaviors::yes")]
    pub required: bool,
    /// A draft left this long is discarded or sent, as `on_timeout` says.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::diagnostics::HumanDuration>")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    #[default]
    Discard,
    Send,
}

impl ApprovalSpec {
    pub fn approval(&self) -> Approval {
        match self {
            ApprovalSpec::Word(_) => Approval { required: true, timeout: None, on_timeout: OnTimeout::Discard },
            ApprovalSpec::Full(a) => a.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Sent,
    Rejected,
    Discarded,
}

/// One drafted action: what it is, for whom, and what approving it sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Draft {
    pub id: String,
    pub behavior: String,
    /// The action's key in the behavior's intent log.
    pub key: String,
    pub kind: String,
    pub detail: Value,
    pub created_ms: i64,
    pub status: Status,
    /// With a timeout: when it expires, and what happens then.
    pub expires_ms: Option<i64>,
    pub on_timeout: OnTimeout,
}

/// The id of the draft of `key` in `behavior` (the same across retries).
pub fn id_of(behavior: &str, key: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{behavior}\u{0}{key}").as_bytes());
    format!("d{}", &hex::encode(h)[..10])
}

pub fn all(store: &AgentStore) -> Result<Vec<Draft>, StoreError> {
    let mut d: Vec<Draft> = store.scan::<Draft>(NS, "draft:")?.into_iter().map(|(_, d)| d).collect();
    d.sort_by_key(|d| d.created_ms);
    Ok(d)
}

pub fn get(store: &AgentStore, id: &str) -> Result<Option<Draft>, StoreError> {
    store.get(NS, &format!("draft:{id}"))
}

pub fn put(store: &AgentStore, d: &Draft) -> Result<(), StoreError> {
    store.put(NS, &format!("draft:{}", d.id), d)
}

/// Approves or rejects draft `id` (only a pending one); whether it was changed.
pub fn decide(store: &AgentStore, id: &str, approve: bool) -> Result<bool, StoreError> {
    match get(store, id)? {
        Some(mut d) if d.status == Status::Pending => {
            d.status = if approve { Status::Approved } else { Status::Rejected };
            put(store, &d)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Sends an action of the daemon's vocabulary described by `detail`.
pub async fn execute(ctx: &Ctx, kind: &str, d: &Value) -> Result<Option<String>, ApiError> {
    let s = ctx.session();
    let str_of = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    match kind {
        "post" => s.create_post(&NewPost::text(str_of("content"))).await.map(|p| Some(p.id)),
        "reply" | "comment" => {
            let c = NewComment { content: str_of("content"), parent_id: d.get("parentId").and_then(Value::as_str).map(str::to_string) };
            s.comment(&str_of("postId"), &c).await.map(|c| Some(c.id))
        }
        "quote" => s.quote(&str_of("postId"), &str_of("content")).await.map(|p| Some(p.id)),
        "dm" if d.get("conversation").is_some() => s.send_message(&str_of("conversation"), &str_of("content")).await.map(|m| Some(m.id)),
        "dm" => s.start_conversation(&str_of("handle"), &str_of("content")).await.map(|c| Some(c.id)),
        "order_message" => s
            .send_order_message(&str_of("order"), &NewOrderMessage { content: str_of("content"), attachments: vec![] })
            .await
            .map(|m| Some(m.id)),
        other => Err(ApiError::Config(format!("a draft of kind {other:?} cannot be sent"))),
    }
}

/// After a crash: is the action described by `detail` already on the platform?
pub async fn found(ctx: &Ctx, kind: &str, d: Value) -> Result<Found, ApiError> {
    let str_of = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let me = ctx.agent.id.clone();
    let want = str_of("content");
    match kind {
        "post" | "quote" => ctx.find_own_post(d).await,
        "reply" | "comment" => {
            let page = ctx.session().comments(&str_of("postId")).limit(100).page().await?;
            Ok(Found::created(
                page.items.into_iter().find(|c| c.content == want && c.agent.as_ref().is_some_and(|a| a.id == me)).map(|c| c.id),
            ))
        }
        "dm" if d.get("conversation").is_some() => {
            let page = ctx.session().messages(&str_of("conversation")).limit(50).page().await?;
            Ok(Found::created(
                page.items.into_iter().find(|m| m.content == want && m.sender.as_ref().is_some_and(|s| s.id == me)).map(|m| m.id),
            ))
        }
        "dm" => ctx.find_own_dm(d).await,
        "order_message" => {
            let page = ctx.session().order_messages(&str_of("order")).limit(100).page().await?;
            Ok(Found::created(
                page.items.into_iter().find(|m| m.content == want && m.sender.as_ref().is_some_and(|s| s.id == me)).map(|m| m.id),
            ))
        }
        _ => Ok(Found::Missing),
    }
}

/// The agent's draft task: sends approved drafts, applies timeouts; until cancelled.
pub async fn run(ctx: Ctx) -> Result<(), BehaviorError> {
    loop {
        let now = ctx.now().timestamp_millis();
        for mut d in all(ctx.store())? {
            if d.status == Status::Pending && d.expires_ms.is_some_and(|t| now >= t) {
                d.status = match d.on_timeout {
                    OnTimeout::Discard => Status::Discarded,
                    OnTimeout::Send => Status::Approved,
                };
                tracing::info!(draft = %d.id, behavior = %d.behavior, status = ?d.status, "draft timed out");
                put(ctx.store(), &d)?;
            }
            if d.status != Status::Approved {
                continue;
            }
            let this = ctx.as_behavior(&d.behavior);
            // The drafted record stands for "not sent": replace it by the real intent path.
            if this.store().action(&d.behavior, &d.key)?.is_some_and(|r| r.result.as_deref() == Some(&format!("drafted:{}", d.id))) {
                this.store().forget_action(&d.behavior, &d.key)?;
            }
            let (kind, detail) = (d.kind.clone(), d.detail.clone());
            let t = this.clone();
            this.send_approved(&d.key, &d.kind, detail.clone(), || async move { execute(&t, &kind, &detail).await }).await?;
            d.status = Status::Sent;
            put(ctx.store(), &d)?;
        }
        if !ctx.sleep(Duration::from_secs(1)).await {
            return Ok(());
        }
    }
}

/// What a draft looks like to a person.
pub fn describe(d: &Draft) -> String {
    let text = d.detail.get("content").and_then(Value::as_str).unwrap_or_default().replace('\n', " ");
    let cut: String = text.chars().take(80).collect();
    let to = ["handle", "author", "postId", "order"].iter().find_map(|k| d.detail.get(*k).and_then(Value::as_str)).unwrap_or("");
    let age = (crate::store::now_ms() - d.created_ms) / 60_000;
    format!("{}  {:?}  {} {} {} ({} min ago): \"{}\"", d.id, d.status, d.behavior, d.kind, to, age, cut)
}

/// The drafts as JSON lines for the CLI and the control socket.
pub fn listing(store: &AgentStore) -> Result<Value, StoreError> {
    Ok(json!(all(store)?))
}
