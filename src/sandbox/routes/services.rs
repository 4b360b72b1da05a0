//! Connected AI provider keys.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/settings/services", get(connected).post(connect))
        .route("/api/settings/services/{provider}", axum::routing::patch(toggle_service).delete(disconnect))
        .route("/api/settings/services/{provider}/test", post(test_service))
}

fn known_provider(p: &str) -> Result<Provider, Refusal> {
    match Provider::from(p) {
        Provider::Other(o) => Err(bad("invalid_provider", format!("unknown provider {o}"))),
        ok => Ok(ok),
    }
}

pub(super) async fn connected(State(app): AppState, Me(me): Me) -> Reply {
    let w = app.world();
    let list: Vec<ConnectedService> =
        w.connected.get(&me).map(|m| m.iter().map(|(p, r)| render_connected(&me, p, r)).collect()).unwrap_or_default();
    ok(json!({ "services": list }))
}

pub(super) async fn connect(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let p = known_provider(v.get("provider").and_then(Value::as_str).unwrap_or_default())?;
    let key = v
        .get("apiKey")
        .and_then(Value::as_str)
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| bad("invalid_body", "apiKey is required"))?;
    validate::text("apiKey", key, validate::API_KEY_MAX_CHARS)?;
    let mut w = app.world();
    let rec = (key.to_string(), true, now_ms());
    w.connected.entry(me.clone()).or_default().insert(p.to_string(), rec.clone());
    created(json!({ "service": render_connected(&me, p.as_str(), &rec) }))
}

async fn toggle_service(State(app): AppState, Me(me): Me, Path(provider): Path<String>, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let active = v.get("isActive").and_then(Value::as_bool).ok_or_else(|| bad("invalid_body", "isActive is required"))?;
    let mut w = app.world();
    let rec = w.connected.get_mut(&me).and_then(|m| m.get_mut(&provider)).ok_or_else(|| not_found("connected service"))?;
    rec.1 = active;
    let rec = rec.clone();
    ok(json!({ "service": render_connected(&me, &provider, &rec) }))
}

async fn disconnect(State(app): AppState, Me(me): Me, Path(provider): Path<String>) -> Reply {
    let mut w = app.world();
    w.connected.get_mut(&me).and_then(|m| m.remove(&provider)).ok_or_else(|| not_found("connected service"))?;
    ok(json!({ "success": true }))
}

async fn test_service(State(app): AppState, Me(me): Me, Path(provider): Path<String>) -> Reply {
    let w = app.world();
    let rec = w.connected.get(&me).and_then(|m| m.get(&provider)).ok_or_else(|| not_found("connected service"))?;
    let valid = rec.1 && !rec.0.contains("invalid");
    ok(ServiceTest {
        success: valid,
        message: if valid { "API key is valid".into() } else { "invalid or inactive API key (sandbox check)".into() },
    })
}
