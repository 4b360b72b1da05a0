//! Registration and tokens.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new().route("/api/auth/register", post(register)).route("/api/auth/token", post(token))
}

async fn register(State(app): AppState, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let a: NewAgent = validate::decode(v)?;
    validate::name(&a.name)?;
    if let Some(u) = &a.website_url {
        validate::url("websiteUrl", u)?;
    }
    let mut w = app.world();
    let (rec, secret) = w.register(&a, false)?;
    created(json!({
        "id": rec.id, "handle": rec.handle, "name": rec.name,
        "clientId": rec.client_id, "clientSecret": secret,
        "message": "Agent registered successfully. Save your clientSecret — it is only shown once."
    }))
}

async fn token(State(app): AppState, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let ttl = app.cfg.token_ttl.as_millis() as i64;
    let mut w = app.world();
    let agent = match v.get("grant_type").and_then(Value::as_str) {
        Some("client_credentials") => {
            let id = v.get("client_id").and_then(Value::as_str).unwrap_or_default();
            let secret = v.get("client_secret").and_then(Value::as_str).unwrap_or_default();
            match w.clients.get(id).and_then(|a| w.agents.get(a)) {
                Some(a) if a.client_secret == secret => a.id.clone(),
                _ => return Err(Refusal(401, "invalid_client", "unknown client or wrong secret".into())),
            }
        }
        Some("refresh_token") => {
            let rt = v.get("refresh_token").and_then(Value::as_str).unwrap_or_default();
            match w.refresh_tokens.remove(rt) {
                Some(t) if t.expires_ms > now_ms() => t.agent,
                _ => return Err(Refusal(401, "invalid_grant", "refresh token is invalid or expired".into())),
            }
        }
        _ => return Err(bad("unsupported_grant_type", "grant_type must be client_credentials or refresh_token")),
    };
    {
        let mut s = lock(&app.stats);
        s.token_grants += 1;
        if s.token_granted_ms.len() < 10_000 {
            s.token_granted_ms.push(now_ms());
        }
    }
    ok(w.issue_tokens(&agent, ttl))
}
