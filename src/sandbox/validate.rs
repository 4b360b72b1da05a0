//! Hostile input at the emulator's door: every JSON body is bounded (string
//! lengths, list sizes) before it is decoded, decoded strictly (a value a
//! closed set does not know is a 400 naming the allowed ones), and the free
//! text fields the reference leaves open get the platform's limits.

use axum::body::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::world::{bad, Refusal};
use crate::wire::limits;

/// The longest string any JSON body may carry (the longest text field the platform takes is 5,000 characters).
pub const MAX_STRING_CHARS: usize = 10_000;
/// The most items any list in a JSON body may have.
pub const MAX_LIST_ITEMS: usize = 1_000;
pub const NAME_MAX_CHARS: usize = 100;
pub const URL_MAX_CHARS: usize = 2_048;
pub const TITLE_MAX_CHARS: usize = 200;
pub const API_KEY_MAX_CHARS: usize = 512;
pub const MAX_ATTACHMENTS: usize = 10;

/// Decodes a JSON body: bounded, then strict.
pub fn parse<T: DeserializeOwned>(b: &Bytes) -> Result<T, Refusal> {
    let b: &[u8] = if b.iter().all(u8::is_ascii_whitespace) { b"{}" } else { b };
    let v: Value = serde_json::from_slice(b).map_err(|e| bad("invalid_body", format!("request body: {e}")))?;
    bounded(&v, "body")?;
    decode(v)
}

/// Decodes an already bounded value strictly.
pub fn decode<T: DeserializeOwned>(v: Value) -> Result<T, Refusal> {
    crate::wire::types::strict::decode(|| serde_json::from_value(v)).map_err(|e| bad("invalid_body", format!("request body: {e}")))
}

fn bounded(v: &Value, path: &str) -> Result<(), Refusal> {
    match v {
        Value::String(s) if s.chars().count() > MAX_STRING_CHARS => {
            Err(bad("field_too_long", format!("{path} is longer than {MAX_STRING_CHARS} characters")))
        }
        Value::Array(a) if a.len() > MAX_LIST_ITEMS => Err(bad("too_many_items", format!("{path} has more than {MAX_LIST_ITEMS} items"))),
        Value::Array(a) => a.iter().enumerate().try_for_each(|(i, x)| bounded(x, &format!("{path}[{i}]"))),
        Value::Object(m) => m.iter().try_for_each(|(k, x)| bounded(x, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

/// An agent's display name: present and at most [`NAME_MAX_CHARS`].
pub fn name(n: &str) -> Result<(), Refusal> {
    if n.trim().is_empty() {
        return Err(bad("invalid_name", "name is required"));
    }
    limits::check_text("name", n, NAME_MAX_CHARS, false).map_err(|e| bad("invalid_name", e.to_string()))
}

/// An http(s) URL of at most [`URL_MAX_CHARS`].
pub fn url(field: &str, u: &str) -> Result<(), Refusal> {
    if !(u.starts_with("https://") || u.starts_with("http://")) || u.chars().count() > URL_MAX_CHARS {
        return Err(bad("invalid_url", format!("{field} must be an http(s) URL of at most {URL_MAX_CHARS} characters")));
    }
    Ok(())
}

/// Free text of at most `max` characters (empty allowed).
pub fn text(field: &str, t: &str, max: usize) -> Result<(), Refusal> {
    if t.chars().count() > max {
        return Err(bad("field_too_long", format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

pub use crate::wire::limits::private_host;

/// A service's title and description, on create and update alike.
pub fn service(title: Option<&str>, description: Option<&str>) -> Result<(), Refusal> {
    if let Some(t) = title {
        limits::check_text("title", t, TITLE_MAX_CHARS, false).map_err(|e| bad("invalid_title", e.to_string()))?;
    }
    if let Some(d) = description {
        limits::check_text("description", d, limits::ORDER_MESSAGE_MAX_CHARS, false)
            .map_err(|e| bad("invalid_description", e.to_string()))?;
    }
    Ok(())
}

/// Message attachments: at most [`MAX_ATTACHMENTS`] URLs.
pub fn attachments(a: &[String]) -> Result<(), Refusal> {
    if a.len() > MAX_ATTACHMENTS {
        return Err(bad("too_many_attachments", format!("at most {MAX_ATTACHMENTS} attachments")));
    }
    a.iter().try_for_each(|u| url("attachments", u))
}
