//! One authenticated session per agent, shared by all its tasks.
//!
//! A `Session` is an `Arc` inside: cloning is cheap. It owns the HTTP client,
//! the cached token (refreshed before expiry, single-flight behind an async
//! mutex), the rate budgets, and the one request path every endpoint uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::error::ApiError;
use super::ratelimit::{retry_after, Budgets, Class, Priority, RateLimits};
use crate::wire::types::TokenResponse;

/// Client credentials of one agent.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("client_id", &self.client_id).field("client_secret", &"[redacted]").finish()
    }
}

/// How a session talks to the platform.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub base_url: String,
    pub credentials: Option<Credentials>,
    pub budgets: Budgets,
    pub timeout: Duration,
    /// Retries of idempotent requests after network errors and 5xx.
    pub max_retries: usize,
    /// Retries after 429 (each waits for the reset first).
    pub max_429_retries: usize,
    /// A connection pool shared with other sessions (many agents, one daemon); else a new one.
    pub http: Option<reqwest::Client>,
}

impl SessionConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        SessionConfig {
            base_url: base_url.into(),
            credentials: None,
            budgets: Budgets::default(),
            timeout: Duration::from_secs(30),
            max_retries: 4,
            max_429_retries: 5,
            http: None,
        }
    }

    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    pub fn credentials(mut self, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials = Some(Credentials { client_id: client_id.into(), client_secret: SecretString::from(secret.into()) });
        self
    }

    pub fn budgets(mut self, b: Budgets) -> Self {
        self.budgets = b;
        self
    }
}

/// Counters for tests and metrics.
#[derive(Debug, Default)]
pub struct SessionStats {
    pub requests: AtomicU64,
    pub token_requests: AtomicU64,
    pub retries: AtomicU64,
    pub reauths: AtomicU64,
}

struct CachedToken {
    /// `Bearer <access token>`, marked sensitive (shown as `Sensitive` by
    /// Debug): made once per token, not per request.
    header: HeaderValue,
    refresh: Option<SecretString>,
    refresh_at: Instant,
    generation: u64,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    /// `base`, parsed once: each request's URL is this with its path set
    /// (not a whole URL parsed again per request).
    base_url: reqwest::Url,
    cfg: SessionConfig,
    token: Mutex<Option<CachedToken>>,
    generation: AtomicU64,
    limits: RateLimits,
    stats: SessionStats,
}

/// The shared, authenticated handle on the platform for one agent. Each
/// clone may carry its own [`Priority`] (see [`Session::with_priority`]).
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
    priority: Priority,
    /// When cancelled, a write still waiting for its budget is not sent.
    stop: Option<tokio_util::sync::CancellationToken>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("base", &self.inner.base)
            .field("client_id", &self.inner.cfg.credentials.as_ref().map(|c| c.client_id.as_str()))
            .finish_non_exhaustive()
    }
}

/// A request body: JSON, or a multipart upload rebuilt for each attempt.
#[derive(Clone)]
pub(crate) enum Body {
    None,
    Json(Value),
    Multipart { fields: Vec<(String, String)>, file: Vec<u8>, filename: String, mime: String },
}

/// Whether a request carries the bearer token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// Sign-in and registration themselves.
    Never,
    /// Works without a token, but carries ours when the session has credentials, so
    /// the platform counts it against this agent's budget, not the shared address's
    /// (many agents behind one daemon would otherwise share one budget).
    Public,
    Required,
}

pub(crate) struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub auth: Auth,
}

struct Raw {
    status: StatusCode,
    body: Vec<u8>,
    /// The platform's clock when it answered (its `Date` header), parsed only
    /// for the callers that want it ([`Session::call_body`]).
    date: Option<reqwest::header::HeaderValue>,
}

pub const USER_AGENT: &str = concat!("imagine-agent/", env!("CARGO_PKG_VERSION"), " (+https://github.com/imagine-agent)");

/// The HTTP client sessions use; build one and pass it to every session to share its pool.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ApiError::Config(format!("HTTP client: {e}")))
}

impl Session {
    pub fn new(cfg: SessionConfig) -> Result<Session, ApiError> {
        let base = cfg.base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ApiError::Config(format!("base URL must start with http:// or https://, got {base:?}")));
        }
        let base_url = reqwest::Url::parse(&base).map_err(|e| ApiError::Config(format!("base URL {base:?}: {e}")))?;
        let http = match &cfg.http {
            Some(c) => c.clone(),
            None => http_client(cfg.timeout)?,
        };
        Ok(Session {
            inner: Arc::new(Inner {
                http,
                base,
                base_url,
                limits: RateLimits::new(cfg.budgets),
                cfg,
                token: Mutex::new(None),
                generation: AtomicU64::new(0),
                stats: SessionStats::default(),
            }),
            priority: Priority::Normal,
            stop: None,
        })
    }

    /// The same session, whose requests wait their turn at priority `p`.
    pub fn with_priority(&self, p: Priority) -> Session {
        Session { inner: self.inner.clone(), priority: p, stop: self.stop.clone() }
    }

    /// The same session, whose writes still waiting for their budget when
    /// `stop` is cancelled are not sent ([`ApiError::Stopped`]): a stop under
    /// a tight write budget does not wait out the budget. A write the budget
    /// lets through at once is sent; one already sent is finished.
    pub fn stopping_with(&self, stop: tokio_util::sync::CancellationToken) -> Session {
        Session { inner: self.inner.clone(), priority: self.priority, stop: Some(stop) }
    }

    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// A session without credentials, for public endpoints and registration.
    pub fn anonymous(base_url: &str) -> Result<Session, ApiError> {
        Session::new(SessionConfig::new(base_url))
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    pub fn client_id(&self) -> Option<&str> {
        self.inner.cfg.credentials.as_ref().map(|c| c.client_id.as_str())
    }

    pub fn stats(&self) -> &SessionStats {
        &self.inner.stats
    }

    pub fn rate_limits(&self) -> &RateLimits {
        &self.inner.limits
    }

    /// Obtains a valid access token now (used to check credentials at start-up).
    pub async fn authenticate(&self) -> Result<(), ApiError> {
        self.token().await.map(|_| ())
    }

    /// The cached token, or a new one; one token request however many tasks ask at once.
    async fn token(&self) -> Result<(HeaderValue, u64), ApiError> {
        let mut guard = self.inner.token.lock().await;
        if let Some(t) = guard.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok((t.header.clone(), t.generation));
            }
        }
        let refresh = guard.as_ref().and_then(|t| t.refresh.clone());
        let fresh = match refresh {
            Some(rt) => match self.grant(json!({"grant_type": "refresh_token", "refresh_token": rt.expose_secret()})).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!(error = %e, "token refresh failed; requesting a new token with the client credentials");
                    self.client_credentials_grant().await?
                }
            },
            None => self.client_credentials_grant().await?,
        };
        let out = (fresh.header.clone(), fresh.generation);
        *guard = Some(fresh);
        Ok(out)
    }

    async fn client_credentials_grant(&self) -> Result<CachedToken, ApiError> {
        let c = self.inner.cfg.credentials.as_ref().ok_or_else(|| ApiError::Auth("this session has no client credentials".into()))?;
        self.grant(json!({
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret.expose_secret(),
        }))
        .await
    }

    async fn grant(&self, body: Value) -> Result<CachedToken, ApiError> {
        self.inner.stats.token_requests.fetch_add(1, Ordering::Relaxed);
        let req =
            Request { method: Method::POST, path: "/api/auth/token".into(), query: vec![], body: Body::Json(body), auth: Auth::Never };
        let raw = self.execute(&req, None).await?;
        if !raw.status.is_success() {
            let e = error_from(&req, raw.status, &raw.body, None);
            // A platform hiccup stays a (transient) HTTP error; a refusal of the credentials is Auth.
            return Err(if raw.status.is_server_error() || raw.status.as_u16() == 429 { e } else { ApiError::Auth(e.to_string()) });
        }
        let t: TokenResponse =
            serde_json::from_slice(&raw.body).map_err(|e| ApiError::Auth(format!("token answer not understood: {e}")))?;
        if t.access_token.is_empty() {
            return Err(ApiError::Auth("token answer has no access_token".into()));
        }
        let lifetime = Duration::from_secs(if t.expires_in == 0 { 3600 } else { t.expires_in });
        // Refresh 5 minutes early, as the SDK does; proportionally earlier for short-lived tokens.
        let margin = Duration::from_secs(300).min(lifetime / 5);
        let access = SecretString::from(t.access_token);
        let mut header = HeaderValue::try_from(["Bearer ", access.expose_secret()].concat())
            .map_err(|_| ApiError::Auth("the access token has characters a header cannot carry".into()))?;
        header.set_sensitive(true);
        Ok(CachedToken {
            header,
            refresh: t.refresh_token.map(SecretString::from),
            refresh_at: Instant::now() + lifetime - margin,
            generation: self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1,
        })
    }

    /// A 401 with token `generation`: make the next caller authenticate again (once, not per task).
    async fn invalidate(&self, generation: u64) {
        let mut guard = self.inner.token.lock().await;
        if let Some(t) = guard.as_mut() {
            if t.generation == generation {
                t.refresh_at = Instant::now();
            }
        }
    }

    /// Sends a request and decodes the JSON answer (`Null` for an empty body).
    pub(crate) async fn call(&self, req: Request) -> Result<Value, ApiError> {
        let (method, path) = (req.method.to_string(), req.path.clone());
        let (body, _) = self.answer(req).await?;
        if super::list::is_empty(&body) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::Decode { method, path, detail: format!("invalid JSON: {e}") })
    }

    /// Sends a request; the answer's body as it came (JSON text, decoded by
    /// the caller straight into its type), with the platform's clock when it
    /// answered (its `Date` header, ms).
    pub(crate) async fn call_body(&self, req: Request) -> Result<(Vec<u8>, Option<i64>), ApiError> {
        let (v, date) = self.answer(req).await?;
        let date_ms = date
            .as_ref()
            .and_then(|d| d.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64);
        Ok((v, date_ms))
    }

    /// The answer's body and its `Date` header: auth, 401 retry, error shape.
    async fn answer(&self, req: Request) -> Result<(Vec<u8>, Option<reqwest::header::HeaderValue>), ApiError> {
        let mut reauthed = false;
        loop {
            let token = match req.auth {
                Auth::Required => Some(self.token().await?),
                Auth::Public if self.inner.cfg.credentials.is_some() => Some(self.token().await?),
                Auth::Public | Auth::Never => None,
            };
            let raw = self.execute(&req, token.as_ref().map(|t| &t.0)).await?;
            if raw.status == StatusCode::UNAUTHORIZED {
                if let (Some((_, generation)), false) = (token, reauthed) {
                    reauthed = true;
                    self.inner.stats.reauths.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(path = %req.path, "401: authenticating again and retrying once");
                    self.invalidate(generation).await;
                    continue;
                }
            }
            if !raw.status.is_success() {
                return Err(error_from(&req, raw.status, &raw.body, None));
            }
            return Ok((raw.body, raw.date));
        }
    }

    /// One logical request: rate budget, retries for network errors and 5xx
    /// (idempotent requests only; a POST only when it provably never left),
    /// and waiting out 429s.
    async fn execute(&self, req: &Request, token: Option<&HeaderValue>) -> Result<Raw, ApiError> {
        let class = Class::of(req.method.as_str(), &req.path);
        let idempotent = matches!(req.method, Method::GET | Method::HEAD | Method::DELETE | Method::PUT);
        let mut backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.inner.cfg.max_retries)
            .build();
        let mut rate_limited = 0usize;
        loop {
            let budget = self.inner.limits.acquire(class, self.priority);
            match (&self.stop, class) {
                (Some(stop), Class::Write) => tokio::select! {
                    biased;
                    _ = budget => {}
                    _ = stop.cancelled() => return Err(ApiError::Stopped { method: req.method.to_string(), path: req.path.clone() }),
                },
                _ => budget.await,
            }
            self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self.build(req, token).send().await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let maybe_sent = !e.is_connect();
                    if idempotent || !maybe_sent {
                        if let Some(d) = backoff.next() {
                            self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(path = %req.path, error = %e.without_url(), "network error, retrying");
                            tokio::time::sleep(d).await;
                            continue;
                        }
                    }
                    return Err(ApiError::Transport {
                        method: req.method.to_string(),
                        path: req.path.clone(),
                        detail: e.without_url().to_string(),
                        maybe_sent,
                    });
                }
            };
            let status = resp.status();
            self.inner.limits.observe(class, resp.headers());
            let date = resp.headers().get(reqwest::header::DATE).cloned();
            // Kept past the body only when it says how long to wait.
            let headers: HeaderMap = if status == StatusCode::TOO_MANY_REQUESTS { resp.headers().clone() } else { HeaderMap::new() };
            let body = match resp.bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) => {
                    if idempotent {
                        if let Some(d) = backoff.next() {
                            self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(d).await;
                            continue;
                        }
                    }
                    return Err(ApiError::Transport {
                        method: req.method.to_string(),
                        path: req.path.clone(),
                        detail: format!("reading the answer: {}", e.without_url()),
                        maybe_sent: true,
                    });
                }
            };
            if status == StatusCode::TOO_MANY_REQUESTS {
                let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let wait = retry_after(&headers, &parsed);
                self.inner.limits.on_429(class, wait);
                tracing::warn!(path = %req.path, class = class.name(), wait_ms = wait.as_millis() as u64, "429 from the platform; waiting for the reset");
                if rate_limited < self.inner.cfg.max_429_retries {
                    rate_limited += 1;
                    continue;
                }
                return Err(error_from(req, status, &body, Some(wait)));
            }
            if status.is_server_error() && idempotent {
                if let Some(d) = backoff.next() {
                    self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(path = %req.path, status = status.as_u16(), "server error, retrying");
                    tokio::time::sleep(d).await;
                    continue;
                }
            }
            return Ok(Raw { status, body, date });
        }
    }

    fn build(&self, req: &Request, token: Option<&HeaderValue>) -> reqwest::RequestBuilder {
        let mut url = self.inner.base_url.clone();
        url.set_path(&[url.path().trim_end_matches('/'), req.path.as_str()].concat());
        let mut rb = self.inner.http.request(req.method.clone(), url);
        if !req.query.is_empty() {
            rb = rb.query(&req.query);
        }
        if let Some(t) = token {
            rb = rb.header(reqwest::header::AUTHORIZATION, t.clone());
        }
        match &req.body {
            Body::None => rb,
            Body::Json(v) => rb.json(v),
            Body::Multipart { fields, file, filename, mime } => {
                let mut form = reqwest::multipart::Form::new();
                for (k, v) in fields {
                    form = form.text(k.clone(), v.clone());
                }
                let part = reqwest::multipart::Part::bytes(file.clone()).file_name(filename.clone());
                let part = match part.mime_str(mime) {
                    Ok(p) => p,
                    Err(_) => reqwest::multipart::Part::bytes(file.clone()).file_name(filename.clone()),
                };
                rb.multipart(form.part("file", part))
            }
        }
    }
}

fn error_from(req: &Request, status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> ApiError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v.get("error").and_then(Value::as_str).unwrap_or_else(|| status.canonical_reason().unwrap_or("error")).to_string();
    let message = v
        .get("message")
        .or_else(|| v.get("error_description"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    ApiError::Http { method: req.method.to_string(), path: req.path.clone(), status: status.as_u16(), code, message, retry_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls_keep_the_base_path_and_the_path_as_encoded() {
        let s = Session::anonymous("http://127.0.0.1:9/v1/").unwrap();
        let req = Request {
            method: Method::GET,
            path: "/api/posts/a%2Fb%20c/comments".into(),
            query: vec![("cursor".into(), "c 1&x".into())],
            body: Body::None,
            auth: Auth::Public,
        };
        let url = s.build(&req, None).build().unwrap().url().to_string();
        assert_eq!(url, "http://127.0.0.1:9/v1/api/posts/a%2Fb%20c/comments?cursor=c+1%26x");
        let bare = Session::anonymous("https://example.com").unwrap();
        let url = bare.build(&Request { query: vec![], ..req }, None).build().unwrap().url().to_string();
        assert_eq!(url, "https://example.com/api/posts/a%2Fb%20c/comments");
    }
}
