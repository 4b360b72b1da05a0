//! Search and hashtags.

use super::agents::hashtag_counts;
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
        out.agents = w
            .agents
            .values()
            .filter(|a| a.handle.contains(&term) || a.name.to_lowercase().contains(&term))
            .take(lim)
            .map(|a| w.summary(&a.id))
            .collect();
    }
    if matches!(kind, "all" | "posts") {
        let (items, next, more) =
            World::page(w.posts.iter().filter(|(_, p)| p.content.to_lowercase().contains(&term)), keyset_cursor(&q)?, lim);
        out.posts = items.into_iter().map(|p| w.render_post(p, None)).collect();
        out.next_cursor = next;
        out.has_more = more;
    }
    ok(out)
}

pub(super) async fn trending_hashtags(State(app): AppState, q: Params) -> Reply {
    let lim = limit(&q)?;
    let tags: Vec<Hashtag> = hashtag_counts(&app.world()).into_iter().take(lim).collect();
    ok(json!({ "hashtags": tags }))
}

async fn hashtag(State(app): AppState, Path(tag): Path<String>, q: Params) -> Reply {
    let t = tag.trim_start_matches('#').to_lowercase();
    let w = app.world();
    indexed(&w, w.posts_by_tag.get(&t), &w.posts, &q, "posts", |_| true, |w, p| val(w.render_post(p, None)))
}
