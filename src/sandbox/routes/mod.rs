//! The sandbox's HTTP routes: every endpoint of the API reference, the
//! `/sandbox/` control API and the `/v1/` OpenAI-compatible stand-in; one
//! file per resource, each with its own router, merged here. Shared here:
//! the `Me`/`Viewer` extractors, pagination and the answer helpers.

mod agents;
mod analytics;
mod auth;
mod bytes;
mod control;
mod conversations;
mod generation;
mod marketplace;
mod media;
mod notifications;
mod posts;
mod reports;
mod search;
mod services;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::{request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};

use super::world::{
    bad, forbidden, iso, not_found, now_ms, render_byte, render_connected, render_media, render_order, render_review, render_service,
    seq_of, JobRec, MediaRec, NotifRec, OrderMsgRec, Refusal, ReviewRec, ServiceRec, World,
};
use super::{lock, App, Faults};
use crate::wire::limits;
use crate::wire::types::*;

/// The emulator's shared state, as a handler receives it.
type AppState = State<Arc<App>>;
/// A handler's answer: a response, or a refusal in the platform's error shape.
type Reply = Result<Response, Refusal>;
/// The query string, with the reading the emulator follows for values out of range.
pub struct Params {
    query: HashMap<String, String>,
    clamp: bool,
}

impl std::ops::Deref for Params {
    type Target = HashMap<String, String>;
    fn deref(&self) -> &HashMap<String, String> {
        &self.query
    }
}

impl FromRequestParts<Arc<App>> for Params {
    type Rejection = Refusal;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refusal> {
        let Query(query) =
            Query::<HashMap<String, String>>::from_request_parts(parts, app).await.map_err(|e| bad("invalid_query", e.body_text()))?;
        Ok(Params { query, clamp: app.cfg.readings.clamp_out_of_range })
    }
}

/// The authenticated agent (401 without a valid, unexpired token).
pub struct Me(pub String);

/// The agent behind the token, when one is sent (public endpoints).
pub struct Viewer(pub Option<String>);

fn token_agent(parts: &Parts, app: &App) -> Option<String> {
    let t = parts.headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
    app.world().agent_by_token(t).map(str::to_string)
}

impl FromRequestParts<Arc<App>> for Me {
    type Rejection = Refusal;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refusal> {
        token_agent(parts, app).map(Me).ok_or_else(|| Refusal(401, "unauthorized", "missing, invalid or expired access token".into()))
    }
}

impl FromRequestParts<Arc<App>> for Viewer {
    type Rejection = Refusal;
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Refusal> {
        Ok(Viewer(token_agent(parts, app)))
    }
}

fn ok<T: Serialize>(v: T) -> Reply {
    Ok(Json(v).into_response())
}

fn created<T: Serialize>(v: T) -> Reply {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

fn no_content() -> Reply {
    Ok(StatusCode::NO_CONTENT.into_response())
}

use super::validate::{self, parse};

/// `limit`: 20 when absent, at most [`limits::MAX_LIST_LIMIT`].
fn limit(q: &Params) -> Result<usize, Refusal> {
    ranged(q, "limit", 20, 1, limits::MAX_LIST_LIMIT as usize)
}

/// A whole-number query value in `lo..=hi` (`default` when absent): one
/// outside is refused with 400 naming the range, or brought into it under
/// `--clamp-out-of-range` (see [`crate::sandbox::readings`]).
fn ranged(q: &Params, name: &str, default: usize, lo: usize, hi: usize) -> Result<usize, Refusal> {
    let Some(v) = q.get(name) else { return Ok(default) };
    let code = if name == "limit" { "invalid_limit" } else { "invalid_query" };
    let n: i64 = v.parse().map_err(|_| bad(code, format!("{name} must be a whole number, got {v:?}")))?;
    if q.clamp {
        return Ok(n.clamp(lo as i64, hi as i64) as usize);
    }
    if n < lo as i64 || n > hi as i64 {
        return Err(bad(code, format!("{name} must be between {lo} and {hi}, got {n}")));
    }
    Ok(n as usize)
}

fn cursor(q: &HashMap<String, String>) -> Option<&str> {
    q.get("cursor").map(String::as_str).filter(|c| !c.is_empty())
}

/// A keyset cursor (`c_<n>`, what [`first_page`] hands out); a malformed one is a 400.
fn keyset_cursor(q: &HashMap<String, String>) -> Result<Option<&str>, Refusal> {
    match cursor(q) {
        Some(c) if !c.starts_with("c_") || super::world::seq_of(c).is_none() => Err(bad("invalid_cursor", format!("bad cursor {c:?}"))),
        c => Ok(c),
    }
}

/// An offset cursor (`<prefix><n>`); a malformed one is a 400, never a silent first page.
fn offset_cursor(q: &HashMap<String, String>, prefix: &str) -> Result<usize, Refusal> {
    match cursor(q) {
        None => Ok(0),
        Some(c) => {
            c.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| bad("invalid_cursor", format!("bad cursor {c:?}")))
        }
    }
}

fn next_offset(prefix: &str, start: usize, lim: usize, len: usize) -> Option<String> {
    let end = start.saturating_add(lim);
    (end < len).then(|| format!("{prefix}{end}"))
}

fn list_json(key: &str, items: Vec<Value>, next: Option<String>, more: bool) -> Reply {
    ok(json!({ key: items, "nextCursor": next, "hasMore": more }))
}

/// Pages any newest-first collection that `filter` selects.
fn paged<T>(
    w: &World,
    map: &std::collections::BTreeMap<u64, T>,
    q: &Params,
    key: &str,
    filter: impl Fn(&T) -> bool,
    render: impl Fn(&World, &T) -> Value,
) -> Reply {
    let before = keyset_cursor(q)?.and_then(super::world::seq_of).unwrap_or(u64::MAX);
    // Newest first from the cursor, only as far as one page (plus one to know whether there is more).
    page_of(map.range(..before).rev(), limit(q)?, key, filter, |t| render(w, t))
}

/// One page of `seqs` (newest first, below the cursor) looked up in `map`: an index walks only its own entries.
fn indexed<T>(
    w: &World,
    seqs: Option<&std::collections::BTreeSet<u64>>,
    map: &std::collections::BTreeMap<u64, T>,
    q: &Params,
    key: &str,
    filter: impl Fn(&T) -> bool,
    render: impl Fn(&World, &T) -> Value,
) -> Reply {
    let before = keyset_cursor(q)?.and_then(super::world::seq_of).unwrap_or(u64::MAX);
    let empty = std::collections::BTreeSet::new();
    let items = seqs.unwrap_or(&empty).range(..before).rev().filter_map(|s| map.get_key_value(s));
    page_of(items, limit(q)?, key, filter, |t| render(w, t))
}

fn page_of<'a, T: 'a>(
    items: impl Iterator<Item = (&'a u64, &'a T)>,
    lim: usize,
    key: &str,
    filter: impl Fn(&T) -> bool,
    render: impl Fn(&T) -> Value,
) -> Reply {
    let (page, next, more) = first_page(items.filter(|(_, v)| filter(v)), lim);
    list_json(key, page.into_iter().map(|(_, t)| render(t)).collect(), next, more)
}

/// The first `lim` of `items` (already newest first, below the cursor), the
/// cursor after them, and whether there are more (one more is read to know).
fn first_page<'a, T: 'a>(items: impl Iterator<Item = (&'a u64, &'a T)>, lim: usize) -> (Vec<(&'a u64, &'a T)>, Option<String>, bool) {
    let mut page: Vec<(&u64, &T)> = items.take(lim + 1).collect();
    let more = page.len() > lim;
    page.truncate(lim);
    let next = if more { page.last().map(|(s, _)| format!("c_{s}")) } else { None };
    (page, next, more)
}

fn val<T: Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Every resource's routes, merged.
pub fn router(_app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .merge(auth::router())
        .merge(posts::router())
        .merge(agents::router())
        .merge(conversations::router())
        .merge(search::router())
        .merge(marketplace::router())
        .merge(notifications::router())
        .merge(analytics::router())
        .merge(media::router())
        .merge(services::router())
        .merge(generation::router())
        .merge(bytes::router())
        .merge(reports::router())
        .merge(control::router())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages newest first, each from the cursor the one before handed out, until the last says there is no more.
    #[test]
    fn pages_are_newest_first_and_complete() {
        let m: std::collections::BTreeMap<u64, u64> = (1..=25).map(|i| (i, i)).collect();
        let page = |cursor: Option<&str>| {
            let before = cursor.and_then(super::super::world::seq_of).unwrap_or(u64::MAX);
            let (items, next, more) = first_page(m.range(..before).rev(), 10);
            (items.into_iter().map(|(_, v)| *v).collect::<Vec<u64>>(), next, more)
        };
        let (a, next, more) = page(None);
        assert_eq!((a.first(), a.len(), more), (Some(&25), 10, true));
        let (b, next2, _) = page(next.as_deref());
        assert_eq!(b.first(), Some(&15));
        let (c, next3, more3) = page(next2.as_deref());
        assert_eq!(c, vec![5, 4, 3, 2, 1]);
        assert!(!more3 && next3.is_none());
    }
}
