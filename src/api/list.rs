//! Cursor-paginated list calls: one page at a time, or an async stream that
//! follows `nextCursor` to the end.

use std::marker::PhantomData;

use futures::{stream, Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

use super::error::ApiError;
use super::session::{Auth, Body, Request, Session};
use super::types::Page;

/// A list endpoint with its parameters; `.page()` fetches one page, `.stream()` all items.
#[must_use = "a list call does nothing until .page() or .stream()"]
pub struct List<T> {
    session: Session,
    path: String,
    key: &'static str,
    auth: Auth,
    query: Vec<(String, String)>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> List<T> {
    pub(crate) fn new(session: &Session, path: String, key: &'static str, auth: Auth) -> Self {
        List { session: session.clone(), path, key, auth, query: vec![], _t: PhantomData }
    }

    /// Items per page (the platform allows at most 100).
    pub fn limit(self, n: u32) -> Self {
        self.param("limit", n.min(super::limits::MAX_LIST_LIMIT).to_string())
    }

    pub fn cursor(self, c: impl Into<String>) -> Self {
        self.param("cursor", c)
    }

    /// Any other query parameter the endpoint takes.
    pub fn param(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.retain(|(key, _)| key != k);
        self.query.push((k.to_string(), v.into()));
        self
    }

    pub async fn page(&self) -> Result<Page<T>, ApiError> {
        let req = Request { method: Method::GET, path: self.path.clone(), query: self.query.clone(), body: Body::None, auth: self.auth };
        let (body, date_ms) = self.session.call_body(req).await?;
        let mut page =
            decode_page(&body, self.key).map_err(|detail| ApiError::Decode { method: "GET".into(), path: self.path.clone(), detail })?;
        page.date_ms = date_ms;
        Ok(page)
    }

    /// Every item, page after page, following `nextCursor` until `hasMore` is false.
    pub fn stream(self) -> impl Stream<Item = Result<T, ApiError>> + Send {
        stream::try_unfold((self, false), |(list, done)| async move {
            if done {
                return Ok::<_, ApiError>(None);
            }
            let page = list.page().await?;
            let next = page.next_cursor.clone().filter(|c| page.has_more && !c.is_empty() && !page.items.is_empty());
            let list = match next {
                Some(c) => (list.cursor(c), false),
                None => (list, true),
            };
            Ok(Some((page.items, list)))
        })
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

/// Whether an answer's body is empty (JSON `null` by the platform's convention).
pub fn is_empty(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// The top-level members of a JSON object, each left as JSON text: the
/// envelope is read without building a tree, and the item decoded straight
/// into its type.
type Members<'a> = HashMap<String, &'a RawValue>;

/// Decodes a list envelope (`{key: [...], nextCursor, hasMore}`), or a bare array.
pub fn decode_page<T: DeserializeOwned>(body: &[u8], key: &str) -> Result<Page<T>, String> {
    let err = |e: serde_json::Error| format!("decoding {key}: {e}");
    let (items, next_cursor, has_more) = match first_byte(body) {
        None => (vec![], None, false),
        Some(b'[') => (serde_json::from_slice(body).map_err(err)?, None, false),
        Some(b'{') => {
            let m: Members = serde_json::from_slice(body).map_err(err)?;
            let items = match m.get(key).or_else(|| m.get("data")).or_else(|| m.get("items")) {
                Some(raw) => serde_json::from_str(raw.get()).map_err(err)?,
                None => vec![],
            };
            let next = m.get("nextCursor").or_else(|| m.get("next_cursor")).and_then(|r| serde_json::from_str::<String>(r.get()).ok());
            let more = m.get("hasMore").or_else(|| m.get("has_more")).and_then(|r| serde_json::from_str::<bool>(r.get()).ok());
            let more = more.unwrap_or(next.is_some());
            (items, next, more)
        }
        Some(_) => match serde_json::from_slice::<Value>(body).map_err(err)? {
            Value::Null => (vec![], None, false),
            other => return Err(format!("expected a list of {key}, got {other}")),
        },
    };
    Ok(Page { items, next_cursor, has_more, date_ms: None })
}

/// Unwraps `{key: {...}}` when present, else takes the body itself.
pub fn decode_one<T: DeserializeOwned>(body: &[u8], key: &str) -> Result<T, String> {
    let err = |e: serde_json::Error| format!("decoding {key}: {e}");
    match first_byte(body) {
        None => serde_json::from_str("null").map_err(err),
        Some(b'{') => {
            let m: Members = serde_json::from_slice(body).map_err(err)?;
            match m.get(key).filter(|r| r.get().starts_with('{')) {
                Some(inner) => serde_json::from_str(inner.get()).map_err(err),
                None => serde_json::from_slice(body).map_err(err),
            }
        }
        Some(_) => serde_json::from_slice(body).map_err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Post;
    use serde_json::json;

    #[test]
    fn envelopes() {
        let b = |v: Value| v.to_string().into_bytes();
        let p: Page<Post> = decode_page(&b(json!({"posts":[{"id":"1","new":true}],"nextCursor":"1","hasMore":true})), "posts").unwrap();
        assert_eq!(p.items[0].id, "1");
        assert!(p.has_more);
        let p: Page<Post> = decode_page(&b(json!([{"id":"2"}])), "posts").unwrap();
        assert_eq!(p.items.len(), 1);
        let one: Post = decode_one(&b(json!({"post":{"id":"3"}})), "post").unwrap();
        assert_eq!(one.id, "3");
        let bare: Post = decode_one(&b(json!({"id":"4","content":"x"})), "post").unwrap();
        assert_eq!(bare.id, "4");
    }
}
