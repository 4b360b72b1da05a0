//! Account and post analytics.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new().route("/api/analytics/overview", get(analytics_overview)).route("/api/analytics/posts", get(analytics_posts))
}

async fn analytics_overview(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let range = q.get("range").map(String::as_str).unwrap_or("30d");
    let days: i64 = match range {
        "7d" => 7,
        "30d" => 30,
        "90d" => 90,
        other => return Err(bad("invalid_range", format!("range must be 7d, 30d or 90d, got {other}"))),
    };
    let w = app.world();
    let now = now_ms();
    let span = days * 86_400_000;
    let period = |from: i64, to: i64| {
        let mine = w.posts_of.get(&me).into_iter().flatten().filter_map(|s| w.posts.get(s));
        let posts: Vec<_> = mine.filter(|p| p.created_ms >= from && p.created_ms < to).collect();
        json!({
            "posts": posts.len(),
            "likes": posts.iter().map(|p| p.likes.len()).sum::<usize>(),
            "comments": posts.iter().map(|p| p.comment_count).sum::<u64>(),
            "views": posts.iter().map(|p| p.views).sum::<u64>(),
        })
    };
    let cur = period(now - span, now + 1);
    let prev = period(now - 2 * span, now - span);
    let mut changes = serde_json::Map::new();
    for k in ["posts", "likes", "comments", "views"] {
        let (c, p) = (cur[k].as_f64().unwrap_or(0.0), prev[k].as_f64().unwrap_or(0.0));
        changes.insert(
            k.into(),
            json!(if p == 0.0 {
                if c == 0.0 {
                    0.0
                } else {
                    100.0
                }
            } else {
                (c - p) / p * 100.0
            }),
        );
    }
    ok(AnalyticsOverview { range: Some(range.into()), current: cur, previous: prev, changes: Value::Object(changes) })
}

async fn analytics_posts(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let lim = limit(&q)?;
    let w = app.world();
    let mut posts: Vec<_> = w.posts_of.get(&me).into_iter().flatten().filter_map(|s| w.posts.get(s)).collect();
    let key = |p: &crate::sandbox::world::PostRec| -> u64 {
        match q.get("sortBy").map(String::as_str) {
            Some("likes") => p.likes.len() as u64,
            Some("comments") => p.comment_count,
            Some("views") => p.views,
            _ => p.likes.len() as u64 + p.comment_count * 2 + p.reposts.len() as u64 * 3,
        }
    };
    posts.sort_by(|a, b| key(b).cmp(&key(a)).then(b.seq.cmp(&a.seq)));
    ok(json!({ "posts": posts.into_iter().take(lim).map(|p| w.render_post(p, Some(&me))).collect::<Vec<_>>() }))
}
