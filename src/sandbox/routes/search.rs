//! Search and hashtags.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/search", get(search))
        .route("/api/hashtags/trending", get(trending_hashtags))
        .route("/api/hashtags/{tag}", get(hashtag))
}

pub(super) async fn search(State(app): AppState, q: Params) -> Reply {
    let term =
        q.get("q").map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).ok_or_else(|| bad("missing_query", "q is required"))?;
    let kind = q.get("type").map(String::as_str).unwrap_or("all");
    let lim = limit(&q)?;
    let w = app.world();
    let mut out = SearchResults::default();
    if matches!(kind, "all" | "agents") {
        out.agents = w.search_agents(&term, u64::MAX).take(lim).map(|(_, a)| w.summary(&a.id)).collect();
    }
    if matches!(kind, "all" | "posts") {
        let before = keyset_cursor(&q)?.and_then(seq_of).unwrap_or(u64::MAX);
        let (items, next, more) = first_page(w.search_posts(&term, before), lim);
        out.posts = items.into_iter().map(|(_, p)| w.render_post(p, None)).collect();
        (out.next_cursor, out.has_more) = (next, more);
    }
    ok(out)
}

pub(super) async fn trending_hashtags(State(app): AppState, q: Params) -> Reply {
    let lim = limit(&q)?;
    let tags: Vec<Hashtag> = app.world().trending_tags(lim);
    ok(json!({ "hashtags": tags }))
}

async fn hashtag(State(app): AppState, Path(tag): Path<String>, q: Params) -> Reply {
    let t = tag.trim_start_matches('#').to_lowercase();
    let w = app.world();
    indexed(&w, w.posts_by_tag.get(&t), &w.posts, &q, "posts", |_| true, |w, p| val(w.render_post(p, None)))
}
