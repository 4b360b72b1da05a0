//! Push mode: a webhook receiver for the platform's signed deliveries.
//!
//! Verifies `X-ImagineAnything-Signature` (HMAC-SHA256 of `"<timestamp>.<body>"`,
//! compared in constant time), rejects unsigned, tampered, stale and replayed
//! deliveries, and hands notifications to the same durable pipeline as the
//! poller, which keeps running as the safety net. Seen-marks dedupe the two.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::Mac;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use super::poller::{hand_over, Routes};
use crate::behaviors::Agent;
use crate::wire::types::Notification;

pub use crate::wire::signature::{DELIVERY, SIGNATURE, TIMESTAMP};

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Unsigned,
    BadSignature,
    Stale,
    Replayed,
    Malformed,
}

/// Checks a delivery's signature and age; constant-time comparison.
pub fn verify(secret: &SecretString, headers: &HeaderMap, body: &[u8], max_age: Duration, now_s: i64) -> Result<(), Rejection> {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let (Some(sig), Some(ts)) = (get(SIGNATURE), get(TIMESTAMP)) else { return Err(Rejection::Unsigned) };
    let sig = sig.strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()).ok_or(Rejection::BadSignature)?;
    let mac = crate::wire::signature::mac(secret.expose_secret().as_bytes(), ts, body);
    mac.verify_slice(&sig).map_err(|_| Rejection::BadSignature)?;
    let ts: i64 = ts.trim().parse().map_err(|_| Rejection::Malformed)?;
    if (now_s - ts).unsigned_abs() > max_age.as_secs() {
        return Err(Rejection::Stale);
    }
    Ok(())
}

/// The receiver of one agent.
struct Receiver {
    agent: Arc<Agent>,
    routes: Routes,
    secret: SecretString,
    /// Signature of an accepted delivery -> when (seconds); older than max_age is rejected as stale anyway.
    accepted: Mutex<HashMap<String, i64>>,
}

/// Every agent's receiver behind one listener: `<path>/<handle>` for each
/// agent, and `<path>` itself for the one agent of a single-agent config.
pub struct Receivers {
    max_age: Duration,
    single: bool,
    by_handle: RwLock<HashMap<String, Arc<Receiver>>>,
}

impl Receivers {
    /// Starts accepting deliveries for a running agent.
    pub fn add(&self, agent: Arc<Agent>, routes: Routes, secret: SecretString) {
        let key = agent.handle.to_lowercase();
        let r = Arc::new(Receiver { agent, routes, secret, accepted: Mutex::new(HashMap::new()) });
        crate::sync::write(&self.by_handle).insert(key, r);
    }

    pub fn remove(&self, handle: &str) {
        crate::sync::write(&self.by_handle).remove(&handle.to_lowercase());
    }

    fn get(&self, handle: Option<&str>) -> Option<Arc<Receiver>> {
        let map = crate::sync::read(&self.by_handle);
        match handle {
            Some(h) => map.get(&h.to_lowercase()).cloned(),
            None if self.single => map.values().next().cloned(),
            None => None,
        }
    }
}

async fn receive_single(State(rs): State<Arc<Receivers>>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    receive(&rs, None, headers, body).await
}

async fn receive_for(
    State(rs): State<Arc<Receivers>>,
    Path(handle): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    receive(&rs, Some(&handle), headers, body).await
}

async fn receive(rs: &Receivers, handle: Option<&str>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let Some(r) = rs.get(handle) else {
        // Unknown, or not running yet: the platform retries, and the poller catches up anyway.
        return (StatusCode::SERVICE_UNAVAILABLE, "no such agent running\n");
    };
    let now = crate::store::now_ms() / 1000;
    let labels = [r.agent.handle.as_str(), "webhook"];
    if let Err(why) = verify(&r.secret, &headers, &body, rs.max_age, now) {
        tracing::warn!(agent = %r.agent.handle, ?why, "webhook delivery rejected");
        r.agent.metrics.action(&labels, "rejected");
        return (StatusCode::UNAUTHORIZED, "rejected\n");
    }
    // Replays are recognized by what the signature covers (timestamp and body),
    // not by the unsigned delivery header, which a replayer can change.
    let id = headers.get(SIGNATURE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    {
        let mut seen = crate::sync::lock(&r.accepted);
        seen.retain(|_, t| now - *t <= 2 * rs.max_age.as_secs() as i64);
        if !id.is_empty() && seen.insert(id.clone(), now).is_some() {
            r.agent.metrics.action(&labels, "replayed");
            return (StatusCode::CONFLICT, "replayed delivery\n");
        }
    }
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return (StatusCode::BAD_REQUEST, "body is not JSON\n"),
    };
    if v.get("event").and_then(|e| e.as_str()) != Some("notification") {
        return (StatusCode::OK, "ok\n");
    }
    let Ok(n) = serde_json::from_value::<Notification>(v.get("data").cloned().unwrap_or_default()) else {
        return (StatusCode::BAD_REQUEST, "data is not a notification\n");
    };
    match hand_over(&r.agent, &r.routes, &[n]).await {
        Ok(_) => {
            r.agent.metrics.action(&labels, "accepted");
            (StatusCode::OK, "ok\n")
        }
        Err(e) => {
            tracing::error!(agent = %r.agent.handle, error = %e, "webhook delivery not recorded; the platform will retry");
            (StatusCode::SERVICE_UNAVAILABLE, "not recorded\n")
        }
    }
}

/// Serves the receivers until `stop`; agents are added as they start.
pub async fn serve(
    addr: SocketAddr,
    path: &str,
    max_age: Duration,
    single: bool,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: CancellationToken,
) -> std::io::Result<(Arc<Receivers>, SocketAddr)> {
    let rs = Arc::new(Receivers { max_age, single, by_handle: RwLock::new(HashMap::new()) });
    let base = path.trim_end_matches('/');
    let app = Router::new()
        .route(path, post(receive_single))
        .route(&format!("{base}/{{handle}}"), post(receive_for))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(rs.clone());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    match tls {
        Some(acceptor) => spawn(super::tls::TlsListener::new(listener, acceptor, stop.clone())?, app, stop),
        None => spawn(listener, app, stop),
    }
    tracing::info!(addr = %bound, path, scheme, "push mode: receiving signed webhook deliveries");
    Ok((rs, bound))
}

fn spawn<L>(listener: L, app: Router, stop: CancellationToken)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await {
            tracing::error!(error = %e, "webhook receiver stopped");
        }
    });
}

/// A delivery carries one notification; anything bigger is not one.
const MAX_BODY: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(sig: &str, ts: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(SIGNATURE, HeaderValue::from_str(sig).unwrap());
        h.insert(TIMESTAMP, HeaderValue::from(ts));
        h
    }

    #[test]
    fn signatures_are_checked() {
        let secret = SecretString::from("whsec_test".to_string());
        let body = br#"{"event":"notification"}"#;
        let now = 1_800_000_000;
        let good = crate::wire::signature::sign("whsec_test", now as u64, std::str::from_utf8(body).unwrap());
        let age = Duration::from_secs(300);
        assert_eq!(verify(&secret, &headers(&good, now), body, age, now), Ok(()));
        assert_eq!(verify(&secret, &HeaderMap::new(), body, age, now), Err(Rejection::Unsigned));
        assert_eq!(verify(&secret, &headers(&good, now), br#"{"event":"other"}"#, age, now), Err(Rejection::BadSignature));
        assert_eq!(verify(&secret, &headers("sha256=00", now), body, age, now), Err(Rejection::BadSignature));
        let old = crate::wire::signature::sign("whsec_test", (now - 600) as u64, std::str::from_utf8(body).unwrap());
        assert_eq!(verify(&secret, &headers(&old, now - 600), body, age, now), Err(Rejection::Stale));
    }
}
