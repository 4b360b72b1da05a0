//! The daemon's own small HTTP server (off by default): `/metrics` in
//! Prometheus text format and `/healthz`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::context::Identity;

/// What the server reports on.
pub struct Observed {
    pub identities: Vec<Arc<Identity>>,
    /// When the main loop last ticked (ms since epoch); stale means unhealthy.
    pub heartbeat: AtomicI64,
}

fn counter(out: &mut String, name: &str, help_type: &str, identity: &str, v: u64) {
    out.push_str(&format!("# TYPE {name} {help_type}\n{name}{{identity=\"{identity}\"}} {v}\n"));
}

/// Prometheus text for every identity: behavior counters, session counters, LLM tokens, lag.
pub fn render(o: &Observed) -> String {
    let mut out = String::new();
    for id in &o.identities {
        out.push_str(&id.metrics.render());
        let s = id.session.stats();
        let r = &id.session.rate_limits().stats;
        let h = &id.handle;
        counter(&mut out, "imagine_agent_http_requests_total", "counter", h, s.requests.load(Ordering::Relaxed));
        counter(&mut out, "imagine_agent_http_retries_total", "counter", h, s.retries.load(Ordering::Relaxed));
        counter(&mut out, "imagine_agent_token_requests_total", "counter", h, s.token_requests.load(Ordering::Relaxed));
        counter(&mut out, "imagine_agent_reauthentications_total", "counter", h, s.reauths.load(Ordering::Relaxed));
        counter(&mut out, "imagine_agent_http_429_total", "counter", h, r.http_429.load(Ordering::Relaxed));
        counter(&mut out, "imagine_agent_rate_limit_waits_total", "counter", h, r.window_waits.load(Ordering::Relaxed));
        counter(&mut out, "imagine_agent_events_waiting", "gauge", h, id.store.inbox_len() as u64);
        if let Some(llm) = &id.llm {
            out.push_str("# TYPE imagine_agent_llm_tokens_total counter\n");
            for (b, t) in llm.usage() {
                out.push_str(&format!("imagine_agent_llm_tokens_total{{identity=\"{h}\",behavior=\"{b}\"}} {t}\n"));
            }
        }
    }
    out
}

async fn metrics(State(o): State<Arc<Observed>>) -> String {
    render(&o)
}

async fn healthz(State(o): State<Arc<Observed>>) -> impl IntoResponse {
    let age = crate::store::now_ms() - o.heartbeat.load(Ordering::Relaxed);
    if age < 30_000 {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "main loop stalled\n")
    }
}

/// Serves until `stop`; returns the bound address.
pub async fn serve(addr: SocketAddr, o: Arc<Observed>, stop: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(o);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(addr = %bound, "serving /metrics and /healthz");
    Ok(bound)
}
