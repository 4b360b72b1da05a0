//! Notifications, their count, marking them read.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/notifications", get(notifications))
        .route("/api/notifications/count", get(notification_count))
        .route("/api/notifications/read", post(mark_read))
}

pub(super) async fn notifications(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let w = app.world();
    // Unread only: walked in their own index, never through the ones read.
    let seqs = if q.get("unread").is_some_and(|u| u == "true") { w.unread_of.get(&me) } else { w.notifications_of.get(&me) };
    indexed(&w, seqs, &w.notifications, &q, "notifications", |_| true, |w, n| w.render_notification(n))
}

async fn notification_count(State(app): AppState, Me(me): Me) -> Reply {
    let n = app.world().unread_count(&me);
    ok(json!({ "count": n }))
}

async fn mark_read(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let all = v.get("all").and_then(Value::as_bool).unwrap_or(false);
    let ids: Vec<u64> =
        v.get("ids").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).filter_map(seq_of).collect()).unwrap_or_default();
    if !all && ids.is_empty() {
        return Err(bad("invalid_body", "send {\"all\": true} or {\"ids\": [...]}"));
    }
    let n = app.world().mark_read(&me, if all { None } else { Some(&ids) });
    ok(json!({ "success": true, "marked": n }))
}
