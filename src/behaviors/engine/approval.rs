//! The approval queue: a behavior with `approval: required` does not speak on
//! its own. Each text it would send (post, reply, comment, quote, DM, order
//! message) becomes a draft in sled, with everything needed to send it; a
//! person approves or rejects it (`imagine-agent drafts`), and the agent's
//! draft task (`runtime::drafts`) sends the approved ones.
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

use crate::store::{AgentStore, StoreError};

/// The store namespace of the drafts (shared by the agent's behaviors).
pub const NS: &str = "_drafts";

/// Wakes the draft tasks of this process when a draft is made, approved,
/// rejected or edited here (control socket, console): an agent without drafts
/// looks at them once a minute instead of every second.
pub static CHANGED: tokio::sync::Notify = tokio::sync::Notify::const_new();

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
    #[serde(default = "required_by_default")]
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
    /// The action it stands for (`post`, `reply`, `dm`...); stored and shown as `kind`.
    #[serde(rename = "kind")]
    pub action: String,
    pub detail: Value,
    pub created_ms: i64,
    pub status: Status,
    /// With a timeout: when it expires, and what happens then.
    pub expires_ms: Option<i64>,
    pub on_timeout: OnTimeout,
    /// Announced to the notice webhook (`draft_notices`).
    #[serde(default)]
    pub noticed: bool,
    /// The text was changed by a person (`drafts edit`): checked again before it is sent.
    #[serde(default)]
    pub edited: bool,
    /// Why an edited text was sent back to pending instead of being sent.
    #[serde(default)]
    pub problem: Option<String>,
    /// Its media, uploaded for it, deleted from the media library once it was
    /// rejected or discarded (so nothing is left behind).
    #[serde(default)]
    pub media_released: bool,
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
    store.put(NS, &format!("draft:{}", d.id), d)?;
    CHANGED.notify_waiters();
    Ok(())
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

/// The platform's limit on the text of a `kind` action.
pub fn max_chars(kind: &str) -> usize {
    use crate::wire::limits::*;
    match kind {
        "post" | "quote" => POST_MAX_CHARS,
        "reply" | "comment" => COMMENT_MAX_CHARS,
        "order_message" => ORDER_MESSAGE_MAX_CHARS,
        _ => MESSAGE_MAX_CHARS,
    }
}

/// What a person's text for a `kind` action must pass before it may be sent: not empty,
/// within the platform's limit (never cut: the person decides what to drop), no banned
/// word, no refused link, no secret. The trimmed text, or why not.
pub fn vet(kind: &str, text: &str, rules: &EditRules, secrets: &[secrecy::SecretString]) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("the text is empty".into());
    }
    let (n, max) = (crate::wire::limits::char_len(t), max_chars(kind));
    if n > max {
        return Err(format!("{n} characters; a {kind} allows at most {max}"));
    }
    if let Some(w) = crate::llm::guard::banned_word(t, &rules.banned_words) {
        return Err(format!("it contains the banned word {w:?}"));
    }
    if let Some(links) = rules.links {
        if let Some(l) = crate::llm::guard::refused_link(t, links, &rules.allow_domains) {
            return Err(format!("link not allowed: {l}"));
        }
    }
    if crate::llm::guard::contains_secret(t, secrets) {
        return Err("it contains a secret".into());
    }
    Ok(t.to_string())
}

/// The behavior's own rules for its texts (from its model settings), applied to edits too.
#[derive(Debug, Clone, Default)]
pub struct EditRules {
    pub banned_words: Vec<String>,
    pub links: Option<crate::llm::guard::Links>,
    pub allow_domains: Vec<String>,
}

impl EditRules {
    /// The union of the rules of `contents` (the strictest link policy wins).
    pub fn of(contents: &[&super::content::Content]) -> EditRules {
        use crate::llm::guard::Links;
        let mut r = EditRules::default();
        for l in contents.iter().filter_map(|c| c.llm.as_ref()) {
            r.banned_words.extend(l.banned_words.iter().cloned());
            r.allow_domains.extend(l.allow_domains.iter().cloned());
            r.links = Some(match (r.links, l.links) {
                (Some(Links::Deny), _) | (_, Links::Deny) => Links::Deny,
                _ => Links::Allow,
            });
        }
        r
    }
}

/// Replaces the text of pending draft `id` (checked by `vet` with the platform's limits);
/// the draft stays pending. The draft, or why not.
pub fn edit(store: &AgentStore, id: &str, text: &str) -> Result<Result<Draft, String>, StoreError> {
    let Some(mut d) = get(store, id)? else { return Ok(Err(format!("no draft {id}"))) };
    if d.status != Status::Pending {
        return Ok(Err(format!("draft {id} is {:?}: only pending drafts can be edited", d.status).to_lowercase()));
    }
    let text = match vet(&d.action, text, &EditRules::default(), &[]) {
        Ok(t) => t,
        Err(why) => return Ok(Err(why)),
    };
    d.detail["content"] = json!(text);
    d.edited = true;
    d.problem = None;
    put(store, &d)?;
    Ok(Ok(d))
}

/// To whom or on what a draft would speak: `@handle`, else the post, order or conversation.
pub fn target(d: &Draft) -> String {
    ["handle", "author"]
        .iter()
        .find_map(|k| d.detail.get(*k).and_then(Value::as_str).map(|h| format!("@{h}")))
        .or_else(|| ["postId", "order", "conversation"].iter().find_map(|k| d.detail.get(*k).and_then(Value::as_str).map(str::to_string)))
        .unwrap_or_default()
}

/// What a draft looks like to a person.
pub fn describe(d: &Draft) -> String {
    let text = d.detail.get("content").and_then(Value::as_str).unwrap_or_default().replace('\n', " ");
    let cut: String = text.chars().take(80).collect();
    let to = target(d);
    let age = (crate::store::now_ms() - d.created_ms) / 60_000;
    let media = d.detail.get("mediaIds").and_then(Value::as_array).map_or(0, Vec::len);
    let with = if media > 0 { format!(" (with {media} media: {})", media_of(d).join(", ")) } else { String::new() };
    format!("{}  {:?}  {} {} {} ({} min ago): \"{}\"{with}", d.id, d.status, d.behavior, d.action, to, age, cut)
}

/// The media ids a draft would post with.
pub fn media_of(d: &Draft) -> Vec<String> {
    d.detail
        .get("mediaIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The drafts as JSON lines for the CLI and the control socket.
pub fn listing(store: &AgentStore) -> Result<Value, StoreError> {
    Ok(json!(all(store)?))
}

fn required_by_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code's name changed (`Draft::action`), the stored and shown form did not (`kind`).
    #[test]
    fn drafts_of_the_earlier_layout_read_the_same() {
        let draft = r#"{"id":"d1","behavior":"b","key":"reply:n1","kind":"reply","detail":{"content":"hi"},"created_ms":1,"status":"pending","expires_ms":null,"on_timeout":"discard","noticed":false}"#;
        let d: Draft = serde_json::from_str(draft).unwrap();
        assert_eq!(d.action, "reply");
        assert_eq!(serde_json::to_value(&d).unwrap()["kind"], "reply");
    }
    use crate::llm::guard::Links;

    #[test]
    fn edited_text_passes_the_platform_limit_and_the_behaviors_rules() {
        let none = EditRules::default();
        assert_eq!(vet("reply", "  fine  ", &none, &[]), Ok("fine".into()));
        assert_eq!(vet("post", &"x".repeat(501), &none, &[]), Err("501 characters; a post allows at most 500".into()));
        assert!(vet("reply", &"x".repeat(1000), &none, &[]).is_ok());
        assert_eq!(vet("dm", "   ", &none, &[]), Err("the text is empty".into()));
        let rules = EditRules { banned_words: vec!["crypto".into()], links: Some(Links::Deny), allow_domains: vec!["example.org".into()] };
        assert!(vet("post", "buy C.R.Y.P.T.O now", &rules, &[]).unwrap_err().contains("banned word"));
        assert!(vet("post", "see https://evil.example", &rules, &[]).unwrap_err().contains("link not allowed"));
        assert!(vet("post", "see https://example.org/x", &rules, &[]).is_ok());
        let secret = secrecy::SecretString::from("sk-very-secret-1".to_string());
        assert_eq!(vet("dm", "my key is sk-very-secret-1", &none, &[secret]), Err("it contains a secret".into()));
    }
}
