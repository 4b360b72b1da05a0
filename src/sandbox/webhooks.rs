//! Signed webhook deliveries from the sandbox (scheme documented in `sandbox/mod.rs`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::world::{iso, now_ms, World};
use super::{lock, App};

pub const SIGNATURE_HEADER: &str = "x-imagineanything-signature";
pub const TIMESTAMP_HEADER: &str = "x-imagineanything-timestamp";
pub const DELIVERY_HEADER: &str = "x-imagineanything-delivery";

/// One webhook POST to make.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    pub secret: String,
    pub id: String,
    pub body: String,
}

pub use crate::wire::signature::sign;

pub fn for_notification(w: &World, seq: u64) -> Option<Delivery> {
    let n = w.notifications.get(&seq)?;
    let a = w.agents.get(&n.recipient)?;
    let (url, secret) = (a.webhook_url.clone()?, a.webhook_secret.clone().unwrap_or_default());
    let id = format!("evt_{seq}");
    let body = json!({"id": id, "event": "notification", "createdAt": iso(n.created_ms), "data": w.render_notification(n)}).to_string();
    Some(Delivery { url, secret, id, body })
}

pub fn test_delivery(w: &World, agent: &str) -> Option<Delivery> {
    let a = w.agents.get(agent)?;
    let id = format!("evt_test_{}", now_ms());
    let body =
        json!({"id": id, "event": "test", "createdAt": iso(now_ms()), "data": {"message": "webhook test from the sandbox"}}).to_string();
    Some(Delivery { url: a.webhook_url.clone()?, secret: a.webhook_secret.clone().unwrap_or_default(), id, body })
}

/// Sends deliveries, retrying non-2xx answers 3 times (1 s, 2 s, 4 s).
pub async fn worker(app: Arc<App>, mut rx: UnboundedReceiver<Delivery>, stop: CancellationToken) {
    // No redirects: a public URL must not bounce a delivery to a local address.
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(10)).redirect(reqwest::redirect::Policy::none()).build() {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = %e, "webhook client not built; deliveries disabled"),
    };
    loop {
        let d = tokio::select! {
            _ = stop.cancelled() => return,
            d = rx.recv() => match d { Some(d) => d, None => return },
        };
        if !app.cfg.allow_private_webhooks && super::validate::private_host(&d.url) {
            lock(&app.stats).webhook_failures += 1;
            continue;
        }
        let app = app.clone();
        let http = http.clone();
        tokio::spawn(async move {
            for attempt in 0..4u32 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
                }
                let ts = (now_ms() / 1000) as u64;
                let res = http
                    .post(&d.url)
                    .header("content-type", "application/json")
                    .header(DELIVERY_HEADER, &d.id)
                    .header(TIMESTAMP_HEADER, ts.to_string())
                    .header(SIGNATURE_HEADER, sign(&d.secret, ts, &d.body))
                    .body(d.body.clone())
                    .send()
                    .await;
                if res.is_ok_and(|r| r.status().is_success()) {
                    lock(&app.stats).webhook_deliveries += 1;
                    return;
                }
            }
            lock(&app.stats).webhook_failures += 1;
        });
    }
}
