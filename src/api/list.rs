//! Cursor-paginated list calls: one page at a time, or an async stream that
//! follows `nextCursor` to the end.

use std::marker::PhantomData;

use futures::{stream, Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::de::{DeserializeOwned, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

use super::error::ApiError;
use super::session::{Auth, Body, Request, Session};
use crate::wire::types::Page;

/// A list endpoint with its parameters; `.page()` fetches one page, `.stream()` all items.
#[must_use = "a list call does nothing until .page() or .stream()"]
pub struct List<T> {
    session: Session,
    path: String,
    key: &'static str,
    auth: Auth,
    query: Vec<(String, String)>,
    /// The largest `limit` the endpoint takes (the reference's range).
    max: u32,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> List<T> {
    pub(crate) fn new(session: &Session, path: String, key: &'static str, auth: Auth) -> Self {
        List { session: session.clone(), path, key, auth, query: vec![], max: crate::wire::limits::MAX_LIST_LIMIT, _t: PhantomData }
    }

    /// An endpoint whose `limit` goes up to `max` only (e.g. similar agents, 1-20).
    pub(crate) fn max_limit(mut self, max: u32) -> Self {
        self.max = max;
        self
    }

    /// Items per page, brought into the endpoint's documented range (1-100 for
    /// most lists): a site may refuse a value outside it rather than clamp it.
    pub fn limit(self, n: u32) -> Self {
        let n = n.clamp(1, self.max);
        self.param("limit", n.to_string())
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
            let mut de = serde_json::Deserializer::from_slice(body);
            let e = de.deserialize_map(Envelope::<T> { key, items: PhantomData }).map_err(err)?;
            de.end().map_err(err)?;
            let items = match (e.items, e.data.or(e.alt)) {
                (Some(items), _) => items,
                (None, Some(raw)) => serde_json::from_str(raw.get()).map_err(err)?,
                (None, None) => vec![],
            };
            let next = e.next.into_iter().flatten().next().and_then(|v| v.as_str().map(str::to_string));
            let more = e.more.into_iter().flatten().next().and_then(|v| v.as_bool()).unwrap_or(next.is_some());
            (items, next, more)
        }
        Some(_) => match serde_json::from_slice::<Value>(body).map_err(err)? {
            Value::Null => (vec![], None, false),
            other => return Err(format!("expected a list of {key}, got {other}")),
        },
    };
    Ok(Page { items, next_cursor, has_more, date_ms: None })
}

/// A list envelope read in one pass: the items under `key` decoded straight
/// into their type, `data` and `items` (the fallbacks, in that order) kept as
/// JSON text for when `key` is absent, `nextCursor` / `next_cursor` and
/// `hasMore` / `has_more` as values (the first spelling wins when present);
/// any other member skipped. A member given twice counts as its last.
struct Envelope<'k, T> {
    key: &'k str,
    items: PhantomData<fn() -> T>,
}

struct Parts<'de, T> {
    items: Option<Vec<T>>,
    data: Option<&'de RawValue>,
    alt: Option<&'de RawValue>,
    next: [Option<Value>; 2],
    more: [Option<Value>; 2],
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Envelope<'_, T> {
    type Value = Parts<'de, T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a list of {}", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Parts<'de, T>, A::Error> {
        let mut p = Parts { items: None, data: None, alt: None, next: [None, None], more: [None, None] };
        while let Some(k) = m.next_key::<String>()? {
            match k.as_str() {
                k if k == self.key => p.items = Some(m.next_value()?),
                "data" => p.data = Some(m.next_value()?),
                "items" => p.alt = Some(m.next_value()?),
                "nextCursor" => p.next[0] = Some(m.next_value()?),
                "next_cursor" => p.next[1] = Some(m.next_value()?),
                "hasMore" => p.more[0] = Some(m.next_value()?),
                "has_more" => p.more[1] = Some(m.next_value()?),
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(p)
    }
}

/// Unwraps `{key: {...}}` when present, else takes the body itself (a key
/// given twice counts as its last).
///
/// Read in one pass when it can be: the object under `key` is decoded
/// straight into its type as the envelope is read. Whatever that pass cannot
/// take (a malformed body, an item that does not decode, a type that needs
/// its JSON text) is decoded by [`decode_one_in_two`], so the answer and the
/// error are always the two-pass decoder's.
pub fn decode_one<T: DeserializeOwned>(body: &[u8], key: &str) -> Result<T, String> {
    if first_byte(body) == Some(b'{') {
        let mut de = serde_json::Deserializer::from_slice(body);
        if let Ok(found) = de.deserialize_map(One::<T> { key, item: PhantomData }) {
            if de.end().is_ok() {
                if let Some(item) = found {
                    return Ok(item);
                }
                // No object under `key`: the body itself is the item.
                return serde_json::from_slice(body).map_err(|e| format!("decoding {key}: {e}"));
            }
        }
    }
    decode_one_in_two(body, key)
}

/// [`decode_one`] in two passes: the envelope's members as JSON text, then the item.
fn decode_one_in_two<T: DeserializeOwned>(body: &[u8], key: &str) -> Result<T, String> {
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

/// A single-item envelope read in one pass: Some(item) when the last member
/// named `key` is an object, None when there is none or it is not an object.
struct One<'k, T> {
    key: &'k str,
    item: PhantomData<fn() -> T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for One<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an object holding {}", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == self.key {
                found = m.next_value_seed(ObjectOrNot::<T>(PhantomData))?;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// A value decoded as `T` when it is an object, skipped (None) when it is not.
struct ObjectOrNot<T>(PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de>> serde::de::DeserializeSeed<'de> for ObjectOrNot<T> {
    type Value = Option<T>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOrNot<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Option<T>, A::Error> {
        T::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(Some)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Option<T>, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write's answer is read for its id, wrapped or bare, whatever else it holds.
    #[test]
    fn created_reads_the_id_only() {
        let body = br#"{"comment":{"id":"c1","content":"hi","agent":{"handle":"a","id":"x"},"parentId":null}}"#;
        let c: crate::wire::types::Created = decode_one(body, "comment").unwrap();
        assert_eq!(c.id, "c1");
        let full: crate::wire::types::Comment = decode_one(body, "comment").unwrap();
        assert_eq!(full.id, c.id);
        let bare: crate::wire::types::Created = decode_one(br#"{"id":"c2","content":"x"}"#, "comment").unwrap();
        assert_eq!(bare.id, "c2");
    }

    use crate::wire::types::Post;
    use serde_json::json;

    /// How pages were decoded through a serde_json tree before (the reference).
    fn through_a_tree(v: Value, key: &str) -> Result<(Vec<String>, Option<String>, bool), String> {
        let (items, next, more) = match v {
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
        let items: Vec<Post> = serde_json::from_value(items).map_err(|e| e.to_string())?;
        Ok((items.into_iter().map(|p| p.id).collect(), next, more))
    }

    #[test]
    fn a_page_decodes_as_it_did_through_a_tree() {
        let cases = [
            r#"{"posts":[{"id":"1"}],"data":[{"id":"2"}],"items":[{"id":"3"}],"nextCursor":"c","hasMore":false}"#,
            r#"{"data":[{"id":"2"}],"items":[{"id":"3"}]}"#,
            r#"{"items":[{"id":"3"}],"next_cursor":"n"}"#,
            r#"{"posts":[],"nextCursor":null,"next_cursor":"ignored","has_more":true}"#,
            r#"{"posts":[{"id":"1"}],"posts":[{"id":"9"}],"hasMore":"yes","nextCursor":7}"#,
            r#"{"other":{"deep":[1,2,{"x":"y"}]},"posts":[{"id":"1","extra":[{}]}]}"#,
            r#"{}"#,
            r#"[{"id":"4"}]"#,
            "null",
            "  ",
            r#"{"posts":null}"#,
            r#"{"posts":{"id":"1"}}"#,
            r#""a string""#,
        ];
        for body in cases {
            let tree = if body.trim().is_empty() { Value::Null } else { serde_json::from_str(body).unwrap() };
            let want = through_a_tree(tree, "posts");
            let got = decode_page::<Post>(body.as_bytes(), "posts")
                .map(|p| (p.items.into_iter().map(|p| p.id).collect(), p.next_cursor, p.has_more));
            assert_eq!(got.is_ok(), want.is_ok(), "{body}: {got:?} against {want:?}");
            if let (Ok(g), Ok(w)) = (got, want) {
                assert_eq!(g, w, "{body}");
            }
        }
        assert!(decode_page::<Post>(br#"{"posts":[]} trailing"#, "posts").is_err());
    }

    #[test]
    fn a_single_item_decodes_as_it_did_in_two_passes() {
        use crate::wire::types::Notification;
        let cases = [
            r#"{"post":{"id":"1","content":"a"}}"#,
            r#"{"id":"2","content":"bare"}"#,
            r#"{"post":"not an object","id":"3"}"#,
            r#"{"post":[{"id":"x"}],"id":"4"}"#,
            r#"{"post":{"id":"5"},"post":{"id":"6"}}"#,
            r#"{"post":{"id":"7"},"post":"last is text","id":"8"}"#,
            r#"{"post":"first is text","post":{"id":"9"}}"#,
            r#"{"post":{"id":10}}"#,
            r#"{"post":{"id":"11"},"post":{"id":12}}"#,
            r#"{"po\u0073t":{"id":"13"}}"#,
            r#"{"other":{"deep":[1,{"x":null}]},"post":{"id":"14","extra":{"y":[true]}}}"#,
            r#"{"post":{"id":"15"}} trailing"#,
            r#"{"post":{"id":"16"}"#,
            r#"{"post":null,"id":"17"}"#,
            r#"{}"#,
            r#"[{"id":"18"}]"#,
            "null",
            "  ",
            "",
            "7",
        ];
        for body in cases {
            let got = decode_one::<Post>(body.as_bytes(), "post").map(|p| (p.id, p.content));
            let want = decode_one_in_two::<Post>(body.as_bytes(), "post").map(|p| (p.id, p.content));
            assert_eq!(got, want, "{body}");
            let got = decode_one::<Value>(body.as_bytes(), "post");
            assert_eq!(got, decode_one_in_two::<Value>(body.as_bytes(), "post"), "{body}");
        }
        // A type that needs its JSON text takes the two-pass path, text kept as sent.
        let body = br#"{"notification":{"type":"MENTION", "id":"n1"}}"#;
        let n: Notification = decode_one(body, "notification").unwrap();
        assert_eq!((n.id.as_str(), n.raw.get()), ("n1", r#"{"type":"MENTION", "id":"n1"}"#));
    }

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
