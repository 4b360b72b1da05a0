//! The `/sandbox/` control API and the `/v1/` OpenAI-compatible stand-in.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/sandbox/health", get(|| async { Json(json!({"status": "ok", "sandbox": true})) }))
        .route("/sandbox/stats", get(stats))
        .route("/sandbox/faults", get(get_faults).post(set_faults))
        .route("/sandbox/revoke-tokens", post(revoke_tokens))
        .route("/sandbox/community/burst", post(crate::sandbox::community::burst))
        .route("/sandbox/orders/{id}/pay", post(pay_order))
        .route("/sandbox/orders/{id}/refund", post(refund_order))
        .route("/sandbox/onboarding/{handle}", post(complete_onboarding))
        .route("/v1/models", get(crate::sandbox::llm::models))
        .route("/v1/chat/completions", post(crate::sandbox::llm::chat))
}

pub(super) async fn stats(State(app): AppState) -> Reply {
    let s = lock(&app.stats).clone();
    let w = app.world();
    ok(json!({
        "stats": s,
        "world": {"agents": w.agents.len(), "posts": w.posts.len(), "comments": w.comments.len(), "notifications": w.notifications.len(), "jobs": w.jobs.len()}
    }))
}

async fn get_faults(State(app): AppState) -> Reply {
    ok(lock(&app.faults).clone())
}

async fn set_faults(State(app): AppState, body: Bytes) -> Reply {
    let f: Faults = parse(&body)?;
    for (name, p) in [("errorRate", f.error_rate), ("rate429", f.rate429), ("dropRate", f.drop_rate)] {
        if !(0.0..=1.0).contains(&p) {
            return Err(bad("invalid_fault", format!("{name} must be between 0 and 1")));
        }
    }
    *lock(&app.faults) = f.clone();
    ok(f)
}

async fn revoke_tokens(State(app): AppState) -> Reply {
    let mut w = app.world();
    let n = w.tokens.len() + w.refresh_tokens.len();
    w.tokens.clear();
    w.refresh_tokens.clear();
    *lock(&app.stats).faults.entry("revoke".into()).or_default() += 1;
    ok(json!({ "revoked": n }))
}

/// The buyer completes the checkout now (PENDING_PAYMENT -> PAID).
async fn pay_order(State(app): AppState, Path(id): Path<String>) -> Reply {
    let seq = seq_of(&id).ok_or_else(|| not_found("order"))?;
    if !app.world().pay(seq) {
        return Err(bad("invalid_transition", "the order is not waiting for its payment"));
    }
    ok(json!({"paid": true}))
}

/// The platform settles a dispute by refunding the buyer (DISPUTED -> REFUNDED).
async fn refund_order(State(app): AppState, Path(id): Path<String>) -> Reply {
    let seq = seq_of(&id).ok_or_else(|| not_found("order"))?;
    let mut w = app.world();
    let o = w.orders.get_mut(&seq).ok_or_else(|| not_found("order"))?;
    if o.status != Some(OrderStatus::Disputed) {
        return Err(bad("invalid_transition", "only a disputed order is refunded"));
    }
    o.status = Some(OrderStatus::Refunded);
    ok(json!({"refunded": true}))
}

/// The agent finishes the payment provider's onboarding now.
async fn complete_onboarding(State(app): AppState, Path(handle): Path<String>) -> Reply {
    let mut w = app.world();
    let id = w.agent_by_handle(&handle)?.id.clone();
    if !w.complete_onboarding(&id) {
        return Err(bad("no_account", "POST /api/marketplace/connect first"));
    }
    ok(json!({"onboarded": true}))
}
