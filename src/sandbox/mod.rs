//! A local emulator of ImagineAnything.com: `imagine-agent sandbox`.
//!
//! It serves the platform's API with the platform's rules (auth, ownership,
//! limits, pagination, counters, notifications, generation jobs, marketplace,
//! rate limits) plus a control API under `/sandbox/` for fault injection and
//! statistics, a simulated community, and an OpenAI-compatible stand-in under
//! `/v1/`. It shares only the wire types with the client.
//!
//! # The notification shape (the one documented choice)
//! ```json
//! {"id": "ntf_12", "type": "MENTION", "createdAt": "2026-11-28T10:00:00.000Z",
//!  "read": false, "actor": {"id": "agent_3", "handle": "bob", ...},
//!  "postId": "post_7", "commentId": "cmt_9", "parentCommentId": null,
//!  "content": "first 140 characters of the post or comment"}
//! ```
//! FOLLOW carries no post; LIKE, REPOST, QUOTE carry `postId`; COMMENT, REPLY
//! and a MENTION inside a comment carry `postId` and `commentId`.
//!
//! # Webhook deliveries
//! `POST <webhookUrl>` with body `{"id", "event": "notification", "createdAt",
//! "data": <notification>}` (or `"event": "test"`) and headers
//! `X-ImagineAnything-Delivery: <id>`, `X-ImagineAnything-Timestamp: <unix s>`,
//! `X-ImagineAnything-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//! Non-2xx answers are retried up to 3 times (1 s, 2 s, 4 s).

pub mod community;
pub mod llm;
pub mod query;
pub mod readings;
pub mod routes;
pub mod validate;
pub mod webhooks;
pub mod world;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::wire::rates::{Budgets, Class};
use world::{Refusal, World};

/// How a sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub addr: SocketAddr,
    pub token_ttl: Duration,
    /// `None` turns rate limiting off.
    pub rate_limits: Option<Budgets>,
    /// The length of a rate-limit window (one minute on the platform; shorter in tests).
    pub rate_window: Duration,
    pub faults: Faults,
    pub community: usize,
    pub seed: u64,
    pub community_interval: Duration,
    pub generation_duration: Duration,
    pub generation_fail_rate: f64,
    /// How long after placing an order its buyer completes the checkout (PENDING_PAYMENT -> PAID).
    pub checkout: Duration,
    /// How long after `POST /api/marketplace/connect` the onboarding at its link is completed.
    pub onboarding: Duration,
    /// How long an uploaded video processes before a post or a byte may use it.
    pub video_processing: Duration,
    pub state_dir: Option<PathBuf>,
    /// Deliver webhooks to loopback and private addresses (a daemon on this
    /// machine); off by default, so no agent can aim deliveries at local services.
    pub allow_private_webhooks: bool,
    /// Which reading of the reference it follows where the reference is silent (strict by default).
    pub readings: readings::Readings,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 7878)),
            token_ttl: Duration::from_secs(3600),
            rate_limits: Some(Budgets::default()),
            rate_window: Duration::from_secs(60),
            faults: Faults::default(),
            community: 0,
            seed: 42,
            community_interval: Duration::from_secs(2),
            generation_duration: Duration::from_secs(3),
            generation_fail_rate: 0.0,
            checkout: Duration::from_secs(1),
            onboarding: Duration::from_secs(2),
            video_processing: Duration::from_secs(2),
            state_dir: None,
            allow_private_webhooks: false,
            readings: readings::Readings::strict(),
        }
    }
}

/// Injected faults; changeable at run time through `POST /sandbox/faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Faults {
    /// Share of API requests answered with 503 before they are handled.
    pub error_rate: f64,
    /// Share of API requests answered with 429 before they are handled.
    pub rate429: f64,
    /// Added to every API request.
    pub latency_ms: u64,
    /// Share of API requests whose connection is cut after they were handled.
    pub drop_rate: f64,
    /// "METHOD /route" -> ms: such a request is handled at once and its answer
    /// held back this long when it succeeded (or until the route is taken out of the map): the
    /// window between the platform's doing a write and the client's hearing of it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hold_after_ms: BTreeMap<String, u64>,
    /// Notification seqs listed with a member no client can read (the actor a
    /// number): a page holding one must not stop a client.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub garbled_notifications: std::collections::BTreeSet<u64>,
    /// "METHOD /route" -> status: such a request is refused with this status
    /// (the platform's error shape, code `refused`) before it is handled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refuse: BTreeMap<String, u16>,
}

/// Counters served by `GET /sandbox/stats`.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub requests: u64,
    /// "METHOD /route" -> status -> count, once answered
    pub by_route: BTreeMap<String, BTreeMap<u16, u64>>,
    /// "METHOD /route" -> requests received, answered or not (a client may be gone before its answer)
    pub received: BTreeMap<String, u64>,
    pub rate_limited: u64,
    pub faults: BTreeMap<String, u64>,
    pub token_grants: u64,
    /// When each token was granted (ms), in order.
    pub token_granted_ms: Vec<i64>,
    /// Requests that came with a token past its expiry.
    pub expired_token_uses: u64,
    pub webhook_deliveries: u64,
    pub webhook_failures: u64,
}

/// Shared state of a running sandbox.
pub struct App {
    pub world: Mutex<World>,
    pub cfg: SandboxConfig,
    pub faults: Mutex<Faults>,
    windows: Mutex<HashMap<(String, Class), (i64, u32)>>,
    pub stats: Mutex<Stats>,
    rng: Mutex<StdRng>,
    pub webhooks: tokio::sync::mpsc::UnboundedSender<webhooks::Delivery>,
}

/// The crate's lock helper (tests and the emulator's modules reach it here).
pub use crate::sync::lock;

impl App {
    /// Rate-limit windows held (bounded: see [`MAX_WINDOWS`]).
    pub fn rate_windows(&self) -> usize {
        lock(&self.windows).len()
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Sends webhooks for notifications just created.
    pub fn deliver(&self, w: &World, created: &[u64]) {
        for seq in created {
            if let Some(d) = webhooks::for_notification(w, *seq) {
                let _ = self.webhooks.send(d);
            }
        }
    }

    fn roll(&self, p: f64) -> bool {
        p > 0.0 && lock(&self.rng).random::<f64>() < p
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(json!({"error": self.1, "message": self.2}))).into_response()
    }
}

/// A running sandbox.
pub struct SandboxHandle {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl SandboxHandle {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The credentials of the agent `new.handle`, registering it first when it
    /// does not exist yet: directly in the world, past the per-address
    /// registration limit (a daemon's embedded sandbox registers all its agents at start).
    pub fn register_agent(&self, new: &crate::wire::types::NewAgent) -> Result<(String, String), Refusal> {
        let mut w = self.app.world();
        if let Ok(a) = w.agent_by_handle(&new.handle) {
            return Ok((a.client_id.clone(), a.client_secret.clone()));
        }
        let (rec, secret) = w.register(new, false)?;
        Ok((rec.client_id, secret))
    }

    /// A snapshot of the request statistics.
    pub fn stats(&self) -> Stats {
        lock(&self.app.stats).clone()
    }

    /// Stops serving, saves state when `--state` was given.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
        save_state(&self.app);
    }
}

fn state_file(dir: &std::path::Path) -> PathBuf {
    dir.join("sandbox-world.json")
}

fn save_state(app: &App) {
    if let Some(dir) = &app.cfg.state_dir {
        let json = match serde_json::to_vec(&*app.world()) {
            Ok(j) => j,
            Err(e) => return tracing::error!(error = %e, "sandbox state not saved"),
        };
        // It holds every emulated agent's secret and tokens: private, like the daemon's state.
        let tmp = dir.join("sandbox-world.json.tmp");
        if let Err(e) = crate::private::private_dir(dir)
            .and_then(|_| crate::private::write_private(&tmp, &json))
            .and_then(|_| std::fs::rename(&tmp, state_file(dir)))
        {
            tracing::error!(error = %e, dir = %dir.display(), "sandbox state not saved");
        }
    }
}

/// The largest JSON body any endpoint takes (uploads have their own limits).
pub const BODY_MAX_BYTES: usize = 256 * 1024;

/// Starts a sandbox on `cfg.addr` (port 0 picks a free port).
pub async fn start(cfg: SandboxConfig) -> std::io::Result<SandboxHandle> {
    let mut world = World::new(cfg.seed);
    if let Some(dir) = &cfg.state_dir {
        if let Ok(bytes) = std::fs::read(state_file(dir)) {
            let mut w: World =
                serde_json::from_slice(&bytes).map_err(|e| std::io::Error::other(format!("{}: {e}", state_file(dir).display())))?;
            w.rng = StdRng::seed_from_u64(w.rng_seed ^ w.seq);
            w.reindex();
            world = w;
        }
    }
    world.video_processing_ms = cfg.video_processing.as_millis() as i64;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = Arc::new(App {
        world: Mutex::new(world),
        faults: Mutex::new(cfg.faults.clone()),
        windows: Mutex::new(HashMap::new()),
        stats: Mutex::new(Stats::default()),
        rng: Mutex::new(StdRng::seed_from_u64(cfg.seed.wrapping_add(7))),
        webhooks: tx,
        cfg,
    });
    let listener = TcpListener::bind(app.cfg.addr).await?;
    let addr = listener.local_addr()?;
    app.world().media_base = format!("http://{addr}");
    let shutdown = CancellationToken::new();

    community::seed(&app);
    tokio::spawn(webhooks::worker(app.clone(), rx, shutdown.clone()));
    tokio::spawn(community::run(app.clone(), shutdown.clone()));
    tokio::spawn(ticker(app.clone(), shutdown.clone()));

    let router = routes::router(app.clone())
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), gate))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_MAX_BYTES))
        .with_state(app.clone());
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let svc = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, svc).with_graceful_shutdown(async move { stop.cancelled().await }).await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    tracing::info!(%addr, "sandbox serving the ImagineAnything API");
    Ok(SandboxHandle { addr, app, shutdown, task })
}

/// Moves generation jobs along and saves state periodically.
async fn ticker(app: Arc<App>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        {
            let mut w = app.world();
            w.advance_jobs(app.cfg.generation_duration.as_millis() as i64);
            w.complete_checkouts(app.cfg.checkout.as_millis() as i64);
            w.complete_onboardings(app.cfg.onboarding.as_millis() as i64);
        }
        n += 1;
        if n.is_multiple_of(25) {
            save_state(&app);
        }
    }
}

fn bearer(req: &Request) -> Option<&str> {
    req.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")
}

/// Faults, rate limits, rate-limit headers and statistics, around every routed request.
async fn gate(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| req.uri().path().to_string());
    let label = format!("{} {}", req.method(), route);
    let platform = route.starts_with("/api/");
    *lock(&app.stats).received.entry(label.clone()).or_default() += 1;
    let class = Class::of(req.method().as_str(), &route);

    let mut resp = if !platform {
        next.run(req).await
    } else {
        let faults = lock(&app.faults).clone();
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
        }
        if let Some(status) = faults.refuse.get(&label).copied() {
            *lock(&app.stats).faults.entry("refused".into()).or_default() += 1;
            Refusal(status, "refused", "the platform refuses this request (injected)".into()).into_response()
        } else if app.roll(faults.error_rate) {
            *lock(&app.stats).faults.entry("5xx".into()).or_default() += 1;
            Refusal(503, "service_unavailable", "injected fault".into()).into_response()
        } else if app.roll(faults.rate429) {
            let mut s = lock(&app.stats);
            *s.faults.entry("429".into()).or_default() += 1;
            s.rate_limited += 1;
            drop(s);
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"error": "rate_limited", "message": "injected fault", "retry_after": 1})),
            )
                .into_response();
            // The same headers as any other answer: a client reads them on a 429 first of all.
            let limit = limit_of(&app.cfg.rate_limits.unwrap_or_default(), class);
            set_limit_headers(&mut r, Some(limit), 0, world::now_ms() as u64 / 1000 + 1);
            r
        } else {
            let key = {
                let w = app.world();
                let token = bearer(&req);
                if token.and_then(|t| w.tokens.get(t)).is_some_and(|t| t.expires_ms <= world::now_ms()) {
                    lock(&app.stats).expired_token_uses += 1;
                }
                token.and_then(|t| w.agent_by_token(t)).map(str::to_string)
            };
            let keyed = match (key, class) {
                (Some(k), _) => Ok((req, k)),
                (None, Class::Auth) => auth_key(&app, req, peer, &route).await,
                (None, _) => Ok((req, format!("ip:{}", peer.ip()))),
            };
            let admitted = keyed.map(|(req, key)| (req, admit(&app, &key, class)));
            match admitted {
                Err(refusal) => refusal.into_response(),
                Ok((_, Err(reset_s))) => {
                    lock(&app.stats).rate_limited += 1;
                    let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"error": "rate_limited", "message": format!("too many {} requests; try again after the reset", class.name()), "retry_after": reset_s.saturating_sub(world::now_ms() as u64 / 1000)}))).into_response();
                    set_limit_headers(&mut r, app.cfg.rate_limits.map(|b| limit_of(&b, class)), 0, reset_s);
                    r
                }
                Ok((req, Ok(Some((limit, remaining, reset))))) => {
                    let mut r = next.run(req).await;
                    set_limit_headers(&mut r, Some(limit), remaining, reset);
                    r
                }
                Ok((req, Ok(None))) => next.run(req).await,
            }
        }
    };
    if platform {
        resp = platform_error_shape(resp).await;
        // Only a write that was done has an answer worth holding back.
        if resp.status().is_success() {
            hold(&app, &label).await;
        }
    }
    if platform && resp.status() != StatusCode::TOO_MANY_REQUESTS && resp.status() != StatusCode::SERVICE_UNAVAILABLE {
        let drop_rate = lock(&app.faults).drop_rate;
        if app.roll(drop_rate) {
            *lock(&app.stats).faults.entry("drop".into()).or_default() += 1;
            let (parts, _) = resp.into_parts();
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected drop"))
            });
            resp = Response::from_parts(parts, Body::from_stream(broken));
            resp.headers_mut().remove("content-length");
        }
    }
    let mut s = lock(&app.stats);
    s.requests += 1;
    *s.by_route.entry(label).or_default().entry(resp.status().as_u16()).or_default() += 1;
    resp
}

/// Holds the answer to `label` back as `hold_after_ms` says (released early
/// when the route leaves the map, so a test can let it go).
async fn hold(app: &App, label: &str) {
    let start = std::time::Instant::now();
    if lock(&app.faults).hold_after_ms.contains_key(label) {
        *lock(&app.stats).faults.entry("held".into()).or_default() += 1;
    }
    loop {
        let ms = lock(&app.faults).hold_after_ms.get(label).copied();
        if ms.is_none_or(|ms| start.elapsed() >= Duration::from_millis(ms)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Rejections produced by the framework (a body over its limit, a malformed
/// query) come as plain text: answer them in the platform's JSON error shape.
async fn platform_error_shape(resp: Response) -> Response {
    let s = resp.status();
    let json = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    if !(s.is_client_error() || s.is_server_error()) || json {
        return resp;
    }
    let code = match s.as_u16() {
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        405 => "method_not_allowed",
        404 => "not_found",
        422 | 400 => "invalid_request",
        _ => "error",
    };
    let text = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_string();
    Refusal(s.as_u16(), code, if message.is_empty() { s.to_string() } else { message }).into_response()
}

/// The largest auth body (a token request or a registration).
const AUTH_BODY_MAX_BYTES: usize = 64 * 1024;

/// Auth requests are limited per agent (known `client_id` or refresh token);
/// registrations, and anything naming no known client, per address: so no
/// field of the body can open a budget (or a rate-limit window) of its own.
async fn auth_key(app: &App, req: Request, peer: SocketAddr, route: &str) -> Result<(Request, String), Refusal> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, AUTH_BODY_MAX_BYTES)
        .await
        .map_err(|_| Refusal(413, "payload_too_large", format!("auth bodies are at most {AUTH_BODY_MAX_BYTES} bytes")))?;
    let by_address = format!("ip:{}", peer.ip());
    let key = if route == "/api/auth/register" {
        by_address
    } else {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let w = app.world();
        let by_client = v.get("client_id").and_then(|c| c.as_str()).and_then(|c| w.clients.get(c)).cloned();
        let by_refresh =
            || v.get("refresh_token").and_then(|c| c.as_str()).and_then(|rt| w.refresh_tokens.get(rt)).map(|t| t.agent.clone());
        by_client.or_else(by_refresh).unwrap_or(by_address)
    };
    Ok((Request::from_parts(parts, Body::from(bytes)), key))
}

fn limit_of(b: &Budgets, c: Class) -> u32 {
    match c {
        Class::Read => b.reads_per_minute,
        Class::Write => b.writes_per_minute,
        Class::Auth => b.auth_per_minute,
    }
}

/// Rate-limit windows kept before expired ones are dropped (keys are agents
/// and addresses, never a value a request body chooses).
const MAX_WINDOWS: usize = 4096;

/// Fixed one-minute windows per agent and class. Ok(limit, remaining, reset) or Err(reset).
fn admit(app: &App, key: &str, class: Class) -> Result<Option<(u32, u32, u64)>, u64> {
    let Some(b) = app.cfg.rate_limits else {
        return Ok(None);
    };
    let limit = limit_of(&b, class);
    if limit == 0 {
        return Ok(None);
    }
    let now = world::now_ms();
    let window = app.cfg.rate_window.as_millis().max(1) as i64;
    let mut windows = lock(&app.windows);
    if windows.len() >= MAX_WINDOWS {
        windows.retain(|_, w| now - w.0 < window);
    }
    let w = windows.entry((key.to_string(), class)).or_insert((now, 0));
    if now - w.0 >= window {
        *w = (now, 0);
    }
    let reset = ((w.0 + window) as u64).div_ceil(1000);
    if w.1 >= limit {
        return Err(reset);
    }
    w.1 += 1;
    Ok(Some((limit, limit - w.1, reset)))
}

fn set_limit_headers(r: &mut Response, limit: Option<u32>, remaining: u32, reset: u64) {
    let h = r.headers_mut();
    if let Some(l) = limit {
        h.insert("x-ratelimit-limit", HeaderValue::from(l));
    }
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
}
