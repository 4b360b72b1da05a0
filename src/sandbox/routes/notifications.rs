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
    let r = &app.cfg.readings;
    // Unread only: walked in their own index, never through the ones read.
    let seqs = if q.get("unread").is_some_and(|u| u == "true") { w.unread_of.get(&me) } else { w.notifications_of.get(&me) };
    // Listed once its lateness has passed (see `readings`): below newer ones by then.
    let now = now_ms();
    let listed = |n: &NotifRec| n.created_ms + r.lateness_ms(n.seq) <= now;
    // A garbled one (`Faults::garbled_notifications`): its actor is a number, as a future version
    // of the platform might send; its id, type and time stay readable.
    let garbled = lock(&app.faults).garbled_notifications.clone();
    let render = |w: &World, n: &NotifRec| {
        let mut v = w.render_notification(n);
        if garbled.contains(&n.seq) {
            v["actor"] = json!(42);
        }
        v
    };
    if r.keyset_cursors {
        return indexed(&w, seqs, &w.notifications, &q, "notifications", listed, render);
    }
    // Offset cursors: the place in the list as it is when the next page is asked for.
    let (start, lim) = (offset_cursor(&q, "o_")?, limit(&q)?);
    let page: Vec<&NotifRec> = seqs
        .into_iter()
        .flat_map(|s| s.iter().rev())
        .filter_map(|s| w.notifications.get(s))
        .filter(|n| listed(n))
        .skip(start)
        .take(lim + 1)
        .collect();
    let more = page.len() > lim;
    let items = page.into_iter().take(lim).map(|n| render(&w, n)).collect();
    list_json("notifications", items, more.then(|| format!("o_{}", start + lim)), more)
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
