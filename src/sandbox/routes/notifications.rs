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
    let unread_only = q.get("unread").is_some_and(|u| u == "true");
    indexed(
        &w,
        w.notifications_of.get(&me),
        &w.notifications,
        &q,
        "notifications",
        |n| !unread_only || !n.read,
        |w, n| w.render_notification(n),
    )
}

async fn notification_count(State(app): AppState, Me(me): Me) -> Reply {
    let w = app.world();
    let n = w.notifications_of.get(&me).map_or(0, |s| s.iter().filter(|q| w.notifications.get(q).is_some_and(|n| !n.read)).count());
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
    let mut w = app.world();
    let mut n = 0;
    let mine: Vec<u64> = w.notifications_of.get(&me).map(|s| s.iter().copied().collect()).unwrap_or_default();
    for seq in mine {
        if let Some(rec) = w.notifications.get_mut(&seq).filter(|r| !r.read && (all || ids.contains(&r.seq))) {
            rec.read = true;
            n += 1;
        }
    }
    ok(json!({ "success": true, "marked": n }))
}
