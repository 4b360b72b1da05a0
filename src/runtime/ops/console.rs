//! The web console (`console_addr`): one server-rendered page, readable on a
//! phone, with per agent whether it runs, its behaviors and their last
//! actions in words, recent actions, events waiting, unfinished intents,
//! generation jobs, and the drafts waiting for approval with buttons to
//! approve, reject or edit them (the same calls as `imagine-agent drafts`).
//!
//! Guarantees: on a loopback address it needs no login; anywhere else the
//! daemon refuses to start without `console_token_file`, and every request
//! must carry the token (`Authorization: Bearer`, or the cookie set by
//! opening `/?token=...` once). Every form carries a per-process CSRF token,
//! so another web page cannot make the browser approve a draft. No
//! JavaScript, no build step: HTML from a minijinja template.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::metrics_server::Observed;
use crate::behaviors::engine::approval::{self, Status};
use crate::store::state_view::StateView;
use crate::store::Store;

const PAGE: &str = include_str!("console.html");

struct Console {
    store: Store,
    observed: Arc<Observed>,
    token: Option<String>,
    csrf: String,
}

#[derive(Serialize)]
struct DraftView {
    id: String,
    behavior: String,
    kind: String,
    to: String,
    text: String,
    short: String,
    ago: String,
    status: String,
    edited: bool,
    problem: Option<String>,
    /// The media ids it would post with.
    media: Vec<String>,
}

#[derive(Serialize)]
struct BehaviorView {
    name: String,
    waiting: usize,
    last: Option<String>,
    last_ago: String,
}

#[derive(Serialize)]
struct Line {
    ago: String,
    line: String,
}

#[derive(Serialize)]
struct AgentView {
    handle: String,
    up: bool,
    why: Option<String>,
    events_waiting: usize,
    unfinished: usize,
    jobs: Vec<String>,
    pending: Vec<DraftView>,
    done_drafts: Vec<DraftView>,
    behaviors: Vec<BehaviorView>,
    recent: Vec<Line>,
}

use crate::behaviors::engine::say::ago;

fn draft_view(d: &approval::Draft, now: i64) -> DraftView {
    let text = d.detail.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
    let to = approval::target(d);
    DraftView {
        id: d.id.clone(),
        behavior: d.behavior.clone(),
        kind: d.action.clone(),
        to,
        short: crate::behaviors::engine::say::excerpt(&text, 80),
        text,
        ago: ago(d.created_ms, now),
        status: format!("{:?}", d.status).to_lowercase(),
        edited: d.edited,
        problem: d.problem.clone(),
        media: approval::media_of(d),
    }
}

impl Console {
    fn page(&self, msg: Option<&str>, bad: bool) -> Result<String, String> {
        let now = crate::store::now_ms();
        let report = StateView::build(&self.store, 200).map_err(|e| e.to_string())?;
        let running: Vec<String> = self.observed.agents().iter().map(|a| a.handle.clone()).collect();
        let failed: BTreeMap<String, String> = self.observed.failed().into_iter().collect();
        let mut agents = vec![];
        for r in &report.agents {
            let s = self.store.agent(&r.handle).map_err(|e| e.to_string())?;
            let all = approval::all(&s).map_err(|e| e.to_string())?;
            let mut behaviors: BTreeMap<String, BehaviorView> = BTreeMap::new();
            for (b, n) in &r.events_waiting {
                behaviors
                    .entry(b.clone())
                    .or_insert(BehaviorView { name: b.clone(), waiting: 0, last: None, last_ago: String::new() })
                    .waiting = *n;
            }
            let said =
                |a: &crate::store::state_view::RecentAction| crate::behaviors::engine::say::done(&a.action, &a.detail, a.result.as_deref());
            let done: Vec<_> = r.recent.iter().filter(|a| a.state == crate::store::ActionState::Done).collect();
            for a in &done {
                let v = behaviors.entry(a.behavior.clone()).or_insert(BehaviorView {
                    name: a.behavior.clone(),
                    waiting: 0,
                    last: None,
                    last_ago: String::new(),
                });
                if v.last.is_none() {
                    v.last = Some(said(a));
                    v.last_ago = ago(a.at_ms, now);
                }
            }
            agents.push(AgentView {
                handle: r.handle.clone(),
                up: running.contains(&r.handle),
                why: failed.get(&r.handle).cloned(),
                events_waiting: r.events_waiting.values().sum(),
                unfinished: r.unfinished_intents,
                jobs: r.jobs_in_flight.iter().map(|(b, id, _)| format!("{b}: {id}")).collect(),
                pending: all.iter().filter(|d| d.status == Status::Pending).map(|d| draft_view(d, now)).collect(),
                done_drafts: all.iter().rev().filter(|d| d.status != Status::Pending).take(10).map(|d| draft_view(d, now)).collect(),
                behaviors: behaviors.into_values().collect(),
                recent: done.iter().take(20).map(|a| Line { ago: ago(a.at_ms, now), line: said(a) }).collect(),
            });
        }
        for (label, why) in failed.iter().filter(|(l, _)| !report.agents.iter().any(|a| &&a.handle == l)) {
            agents.push(AgentView {
                handle: label.clone(),
                up: false,
                why: Some(why.clone()),
                events_waiting: 0,
                unfinished: 0,
                jobs: vec![],
                pending: vec![],
                done_drafts: vec![],
                behaviors: vec![],
                recent: vec![],
            });
        }
        let mut env = minijinja::Environment::new();
        env.add_template("page", PAGE).map_err(|e| e.to_string())?;
        let when = chrono::Local::now().format("%H:%M:%S").to_string();
        env.get_template("page")
            .and_then(|t| t.render(minijinja::context! { agents, msg, bad, csrf => self.csrf, now => when }))
            .map_err(|e| e.to_string())
    }

    /// Whether the request may see the console.
    fn allowed(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').find_map(|kv| kv.trim().strip_prefix("ia_console=")));
        [bearer, cookie].into_iter().flatten().any(|t| same(t, token))
    }
}

/// Equal strings, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type App = State<Arc<Console>>;

#[derive(Deserialize)]
struct PageQuery {
    msg: Option<String>,
    bad: Option<bool>,
    token: Option<String>,
}

async fn index(State(c): App, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    if let (Some(t), Some(want)) = (&q.token, &c.token) {
        if same(t, want) {
            // Kept as a cookie, and out of the address bar.
            let cookie = format!("ia_console={t}; HttpOnly; SameSite=Strict; Path=/");
            return ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response();
        }
    }
    if !c.allowed(&headers) {
        return (StatusCode::UNAUTHORIZED, "open the console with ?token=... (console_token_file)\n").into_response();
    }
    match c.page(q.msg.as_deref(), q.bad.unwrap_or(false)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("the console could not be drawn: {e}\n")).into_response(),
    }
}

#[derive(Deserialize)]
struct DraftForm {
    csrf: String,
    #[serde(default)]
    text: Option<String>,
}

fn back(msg: &str, bad: bool) -> Response {
    let q: String = url::form_urlencoded::byte_serialize(msg.as_bytes()).collect();
    Redirect::to(&format!("/?msg={q}{}", if bad { "&bad=true" } else { "" })).into_response()
}

async fn act(
    State(c): App,
    headers: HeaderMap,
    Path((agent, id, verb)): Path<(String, String, String)>,
    Form(f): Form<DraftForm>,
) -> Response {
    if !c.allowed(&headers) {
        return (StatusCode::UNAUTHORIZED, "not allowed\n").into_response();
    }
    if !same(&f.csrf, &c.csrf) {
        return (StatusCode::FORBIDDEN, "this form is stale or not from the console: reload the page\n").into_response();
    }
    let store = match c.store.agent(&agent) {
        Ok(s) if c.store.agents().contains(&agent) => s,
        _ => return back(&format!("no agent @{agent}"), true),
    };
    let result = match verb.as_str() {
        "approve" | "reject" => approval::decide(&store, &id, verb == "approve").map(|changed| {
            if changed {
                Ok(format!("{} {id}", if verb == "approve" { "approved" } else { "rejected" }))
            } else {
                Err(format!("{id} was not waiting (already decided?)"))
            }
        }),
        "edit" => approval::edit(&store, &id, f.text.as_deref().unwrap_or_default())
            .map(|r| r.map(|_| format!("edited {id}; approve it to send"))),
        _ => return (StatusCode::NOT_FOUND, "unknown action\n").into_response(),
    };
    match result {
        Ok(Ok(msg)) => {
            tracing::info!(draft = %id, agent = %agent, "console: {msg}");
            back(&msg, false)
        }
        Ok(Err(why)) => back(&why, true),
        Err(e) => back(&e.to_string(), true),
    }
}

/// Serves the console until `stop`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    observed: Arc<Observed>,
    token: Option<String>,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let csrf = hex::encode(rand::random::<[u8; 16]>());
    let state = Arc::new(Console { store, observed, token, csrf });
    let app = Router::new().route("/", get(index)).route("/drafts/{agent}/{id}/{verb}", post(act)).with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await {
            tracing::error!(error = %e, "console stopped");
        }
    });
    tracing::info!(addr = %bound, "serving the console on http://{bound}/");
    Ok(bound)
}
