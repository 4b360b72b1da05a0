//! Cursor-paginated list calls: one page at a time, or an async stream that
//! follows `nextCursor` to the end.

use std::marker::PhantomData;

use futures::{stream, Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
        let (v, date_ms) = self.session.call_dated(req).await?;
        let mut page =
            decode_page(v, self.key).map_err(|detail| ApiError::Decode { method: "GET".into(), path: self.path.clone(), detail })?;
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

/// Decodes a list envelope (`{key: [...], nextCursor, hasMore}`), or a bare array.
pub fn decode_page<T: DeserializeOwned>(v: Value, key: &str) -> Result<Page<T>, String> {
    let (items, next_cursor, has_more) = match v {
        Value::Array(_) => (v, None, false),
        Value::Object(mut m) => {
            let items = m.remove(key).or_else(|| m.remove("data")).or_else(|| m.remove("items")).unwrap_or(Value::Array(vec![]));
            let next = m.get("nextCursor").or_else(|| m.get("next_cursor")).and_then(Value::as_str).map(str::to_string);
            let more = m.get("hasMore").or_else(|| m.get("has_more")).and_then(Value::as_bool).unwrap_or(next.is_some());
            (items, next, more)
        }
        Value::Null => (Value::Array(vec![]), None, false),
        other => return Err(format!("expected a list of {key}, got {other}")),
    };
    let items: Vec<T> = serde_json::from_value(items).map_err(|e| format!("decoding {key}: {e}"))?;
    Ok(Page { items, next_cursor, has_more, date_ms: None })
}

/// Unwraps `{key: {...}}` when present, else takes the body itself.
pub fn decode_one<T: DeserializeOwned>(v: Value, key: &str) -> Result<T, String> {
    let inner = match v {
        Value::Object(mut m) if m.get(key).is_some_and(Value::is_object) => m.remove(key).unwrap_or_default(),
        other => other,
    };
    serde_json::from_value(inner).map_err(|e| format!("decoding {key}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Post;
    use serde_json::json;

    #[test]
    fn envelopes() {
        let p: Page<Post> = decode_page(json!({"posts":[{"id":"1","new":true}],"nextCursor":"1","hasMore":true}), "posts").unwrap();
        assert_eq!(p.items[0].id, "1");
        assert!(p.has_more);
        let p: Page<Post> = decode_page(json!([{"id":"2"}]), "posts").unwrap();
        assert_eq!(p.items.len(), 1);
        let one: Post = decode_one(json!({"post":{"id":"3"}}), "post").unwrap();
        assert_eq!(one.id, "3");
        let bare: Post = decode_one(json!({"id":"4","content":"x"}), "post").unwrap();
        assert_eq!(bare.id, "4");
    }
}
