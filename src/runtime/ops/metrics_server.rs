//! The daemon's own small HTTP server (off by default): `/metrics` in
//! Prometheus text format (every agent, `imagine_agent_up` 0 for one that
//! could not start) and `/healthz`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::behaviors::Agent;
use crate::metrics::Exposition;

/// What the server reports on: the agents running now and the ones that could not start.
pub struct Observed {
    agents: RwLock<BTreeMap<String, Arc<Agent>>>,
    /// Agent label -> why it is not running.
    failed: RwLock<BTreeMap<String, String>>,
    /// When the main loop last ticked (ms since epoch); stale means unhealthy.
    pub heartbeat: AtomicI64,
}

impl Default for Observed {
    fn default() -> Self {
        Observed { agents: RwLock::default(), failed: RwLock::default(), heartbeat: AtomicI64::new(crate::store::now_ms()) }
    }
}

/// Agents are keyed by their label (the configured handle, or `agent` when
/// the single form names none), so a failure and a later success of the same
/// agent land on one entry.
impl Observed {
    pub fn running(&self, label: &str, id: Arc<Agent>) {
        crate::sync::write(&self.failed).remove(label);
        crate::sync::write(&self.agents).insert(label.to_string(), id);
    }

    pub fn failing(&self, label: &str, why: &str) {
        crate::sync::write(&self.failed).insert(label.to_string(), why.to_string());
    }

    /// The agent stopped (reload removed it, or shutdown).
    pub fn gone(&self, label: &str) {
        crate::sync::write(&self.agents).remove(label);
        crate::sync::write(&self.failed).remove(label);
    }

    /// The agents that could not start, and why.
    pub fn failed(&self) -> Vec<(String, String)> {
        crate::sync::read(&self.failed).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn agents(&self) -> Vec<Arc<Agent>> {
        crate::sync::read(&self.agents).values().cloned().collect()
    }
}

/// Prometheus text for every agent: behavior counters, session counters, LLM tokens, lag, up;
/// and the daemon's: state flushes, the runtime's worker threads (`threads`).
pub fn render(o: &Observed) -> String {
    let mut out = Exposition::default();
    for id in o.agents() {
        id.metrics.export(&mut out);
        let s = id.session.stats();
        let r = &id.session.rate_limits().stats;
        let h = [("agent", id.handle.as_str())];
        out.sample("imagine_agent_up", "gauge", &h, 1);
        out.sample("imagine_agent_http_requests_total", "counter", &h, s.requests.load(Ordering::Relaxed));
        out.sample("imagine_agent_http_retries_total", "counter", &h, s.retries.load(Ordering::Relaxed));
        out.sample("imagine_agent_token_requests_total", "counter", &h, s.token_requests.load(Ordering::Relaxed));
        out.sample("imagine_agent_reauthentications_total", "counter", &h, s.reauths.load(Ordering::Relaxed));
        out.sample("imagine_agent_http_429_total", "counter", &h, r.http_429.load(Ordering::Relaxed));
        out.sample("imagine_agent_rate_limit_waits_total", "counter", &h, r.window_waits.load(Ordering::Relaxed));
        out.sample("imagine_agent_events_waiting", "gauge", &h, id.store.inbox_len() as u64);
        if let Some(llm) = &id.llm {
            for (b, t) in llm.usage(&id.handle) {
                out.sample("imagine_agent_llm_tokens_total", "counter", &[("agent", id.handle.as_str()), ("behavior", b.as_str())], t);
            }
        }
    }
    if let Some(a) = o.agents().first() {
        out.sample("imagine_agent_state_flushes_total", "counter", &[], a.store.flushes());
    }
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        out.sample("imagine_agent_runtime_workers", "gauge", &[], rt.metrics().num_workers() as u64);
    }
    for label in crate::sync::read(&o.failed).keys() {
        out.sample("imagine_agent_up", "gauge", &[("agent", label.as_str())], 0);
    }
    out.finish()
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
