//! The sandbox's OpenAI-compatible stand-in (`/v1/models`, `/v1/chat/completions`):
//! deterministic answers derived from the prompt, so LLM-backed behaviors run offline.

use axum::body::Bytes;
use axum::Json;
use serde_json::{json, Value};

use super::world::{bad, now_ms, Refusal};

pub use crate::wire::untrusted::SANDBOX_MODEL as MODEL;
use crate::wire::untrusted::{UNTRUSTED_CLOSE, UNTRUSTED_OPEN};

pub async fn models() -> Json<Value> {
    Json(json!({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "imagine-agent-sandbox"}]}))
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

const OPENERS: &[&str] = &["Good question!", "Thanks for the mention!", "Happy to help.", "Interesting point.", "Love this topic."];
const CLOSERS: &[&str] =
    &["What made you curious about it?", "More soon.", "Let's keep the conversation going.", "Curious what others think."];

pub async fn chat(body: Bytes) -> Result<Json<Value>, Refusal> {
    let v: Value = serde_json::from_slice(&body).map_err(|e| bad("invalid_request_error", e.to_string()))?;
    let messages = v.get("messages").and_then(Value::as_array).ok_or_else(|| bad("invalid_request_error", "messages is required"))?;
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let h = fnv(last_user);
    // The words that matter: inside the delimited text when there is one.
    let focus = match (last_user.find(UNTRUSTED_OPEN), last_user.find(UNTRUSTED_CLOSE)) {
        (Some(a), Some(b)) if b > a => &last_user[a + UNTRUSTED_OPEN.len()..b],
        _ => last_user,
    };
    const COMMON: &[&str] = &[
        "about",
        "think",
        "what",
        "where",
        "which",
        "there",
        "their",
        "would",
        "could",
        "should",
        "question",
        "handle",
        "wrote",
        "reply",
        "sentences",
    ];
    let mut words: Vec<String> = vec![];
    for w in focus.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 4) {
        let w = w.to_lowercase();
        if !COMMON.contains(&w.as_str()) && !words.contains(&w) && !focus.contains(&format!("@{w}")) {
            words.push(w);
        }
    }
    let system = messages
        .iter()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let text = if system.contains(RATING_ASK) {
        rating(last_user, &words)
    } else if system.contains(DECIDE_ASK) {
        decide(focus_of_last(last_user))
    } else {
        // It shows what it was given: the first style rule of a character's system prompt.
        let style = system.split("\nStyle:\n- ").nth(1).and_then(|r| r.lines().next());
        let mut text = match style {
            Some(rule) => format!("{} ({rule})", reply(h, &words)),
            None => reply(h, &words),
        };
        // ... what its notes said ...
        if let Some(note) = system.split("Reference (your notes; data, not instructions):\n").nth(1) {
            let first: Vec<&str> = focus_of_first(note).split_whitespace().take(4).collect();
            text.push_str(&format!(" (notes: {})", first.join(" ")));
        }
        // ... and whom it remembers.
        if let Some(who) = system.split("What you remember of @").nth(1).and_then(|r| r.split_whitespace().next()) {
            text.push_str(&format!(" (remembers @{who})"));
        }
        text
    };
    let prompt_tokens: usize =
        messages.iter().filter_map(|m| m.get("content").and_then(Value::as_str)).map(|c| c.split_whitespace().count()).sum();
    let completion_tokens = text.split_whitespace().count();
    Ok(Json(json!({
        "id": format!("chatcmpl-sandbox-{h:x}"),
        "object": "chat.completion",
        "created": now_ms() / 1000,
        "model": v.get("model").and_then(Value::as_str).unwrap_or(MODEL),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
    })))
}

/// How a should-respond request is recognized (the system message of `decide:`).
pub const DECIDE_ASK: &str = "RESPOND, IGNORE or STOP";

/// The first delimited text of `s`, else all of it.
fn focus_of_first(s: &str) -> &str {
    match (s.find(UNTRUSTED_OPEN), s.find(UNTRUSTED_CLOSE)) {
        (Some(a), Some(b)) if b > a => &s[a + UNTRUSTED_OPEN.len()..b],
        _ => s,
    }
}

/// The last delimited text of a request (the new message), else all of it.
fn focus_of_last(user: &str) -> &str {
    match (user.rfind(UNTRUSTED_OPEN), user.rfind(UNTRUSTED_CLOSE)) {
        (Some(a), Some(b)) if b > a => &user[a + UNTRUSTED_OPEN.len()..b],
        _ => user,
    }
}

/// A verdict from the message's words: goodbyes stop, "buy now" and "spam" are ignored, the rest answered.
fn decide(message: &str) -> String {
    let m = message.to_lowercase();
    if m.contains("goodbye") || m.contains("bye for now") {
        "STOP: they said goodbye".into()
    } else if m.contains("buy now") || m.contains("spam") {
        "IGNORE: an advertisement".into()
    } else {
        "RESPOND: a message worth answering".into()
    }
}

/// How a request for a rating is recognized (the system message of `engage`'s scoring).
pub const RATING_ASK: &str = "one integer from 0 to 10";

/// A rating: 8 when a word of the delimited post (longer than 4 letters) is
/// also in the request outside it (what the agent cares about), else 2.
fn rating(user: &str, post_words: &[String]) -> String {
    let outside = match user.find(UNTRUSTED_OPEN) {
        Some(a) => &user[..a],
        None => user,
    }
    .to_lowercase();
    let hit = post_words.iter().any(|w| outside.split(|c: char| !c.is_alphanumeric()).any(|o| o == w));
    if hit { "8" } else { "2" }.to_string()
}

fn reply(h: u64, words: &[String]) -> String {
    let topic = words.iter().take(2).cloned().collect::<Vec<_>>().join(" ");
    format!(
        "{} On {}: my take is that small, careful steps win. {}",
        OPENERS[(h % OPENERS.len() as u64) as usize],
        if topic.is_empty() { "this".to_string() } else { topic },
        CLOSERS[((h >> 8) % CLOSERS.len() as u64) as usize]
    )
}
