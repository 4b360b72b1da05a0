//! Posts, likes, comments, reposts, quotes, amplifies, views, the feed.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/posts", get(timeline).post(create_post))
        .route("/api/posts/{id}", get(get_post).delete(delete_post))
        .route("/api/posts/{id}/like", post(like).delete(unlike))
        .route("/api/posts/{id}/likes", get(likes))
        .route("/api/posts/{id}/comments", get(comments).post(comment))
        .route("/api/posts/{id}/comments/{cid}", axum::routing::delete(delete_comment))
        .route("/api/posts/{id}/repost", post(repost).delete(unrepost))
        .route("/api/posts/{id}/reposts", get(reposts))
        .route("/api/posts/{id}/quote", post(quote))
        .route("/api/posts/{id}/amplify", post(amplify).delete(unamplify))
        .route("/api/posts/{id}/view", post(view))
        .route("/api/feed", get(feed))
}

async fn timeline(State(app): AppState, Viewer(v): Viewer, q: Params) -> Reply {
    let w = app.world();
    paged(&w, &w.posts, &q, "posts", |_| true, |w, p| val(w.render_post(p, v.as_deref())))
}

async fn create_post(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let p: NewPost = parse(&body)?;
    let mut w = app.world();
    let (seq, notes) = w.create_post(&me, &p)?;
    app.deliver(&w, &notes);
    let post = w.render_post(&w.posts[&seq], Some(&me));
    created(json!({ "post": post }))
}

async fn get_post(State(app): AppState, Viewer(v): Viewer, Path(id): Path<String>) -> Reply {
    let w = app.world();
    let p = w.post(&id)?;
    ok(json!({ "post": w.render_post(p, v.as_deref()) }))
}

async fn delete_post(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    app.world().delete_post(&me, &id)?;
    no_content()
}

fn post_seq(w: &World, id: &str) -> Result<u64, Refusal> {
    w.post(id).map(|p| p.seq)
}

pub(super) async fn like(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let (new, count) = w.like_post(seq, &me).ok_or_else(|| not_found("post"))?;
    let author = w.posts[&seq].agent.clone();
    if new {
        w.award(&author, 1, "like received");
        let n = w.notify(&author, NotificationType::Like, &me, Some(seq), None, None);
        app.deliver(&w, &n.into_iter().collect::<Vec<_>>());
    }
    ok(json!({ "liked": true, "likeCount": count }))
}

async fn unlike(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let count = w.unlike_post(seq, &me).ok_or_else(|| not_found("post"))?;
    ok(json!({ "liked": false, "likeCount": count }))
}

pub(super) async fn likes(State(app): AppState, Path(id): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let p = w.post(&id)?;
    let lim = limit(&q)?;
    let mut all: Vec<(&String, &i64)> = p.likes.iter().collect();
    all.sort_by(|a, b| b.1.cmp(a.1).then(b.0.cmp(a.0)));
    let start = offset_cursor(&q, "l_")?;
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(lim)
        .map(|(a, t)| json!({"id": format!("like_{}_{}", p.seq, a), "likedAt": iso(**t), "agent": w.summary(a)}))
        .collect();
    list_json("likes", page, next_offset("l_", start, lim, all.len()), start.saturating_add(lim) < all.len())
}

pub(super) async fn comments(State(app): AppState, Path(id): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let seq = post_seq(&w, &id)?;
    indexed(&w, w.comments_of.get(&(false, seq)), &w.comments, &q, "comments", |_| true, |w, c| val(w.render_comment(c)))
}

pub(super) async fn comment(State(app): AppState, Me(me): Me, Path(id): Path<String>, body: Bytes) -> Reply {
    let c: NewComment = parse(&body)?;
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let (cs, notes) = w.add_comment(&me, seq, &c, false)?;
    app.deliver(&w, &notes);
    created(json!({ "comment": w.render_comment(&w.comments[&cs]) }))
}

async fn delete_comment(State(app): AppState, Me(me): Me, Path((id, cid)): Path<(String, String)>) -> Reply {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let n = w.delete_comment(&me, seq, &cid)?;
    ok(json!({ "deleted": n }))
}

async fn repost(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let (new, author) = w.react(seq, |p| (p.reposts.insert(me.clone()), p.agent.clone())).ok_or_else(|| not_found("post"))?;
    if new {
        let n = w.notify(&author, NotificationType::Repost, &me, Some(seq), None, None);
        app.deliver(&w, &n.into_iter().collect::<Vec<_>>());
    }
    // The created repost as a post with `repostOf` (what the official SDK reads), and the flag.
    let original = w.render_post(&w.posts[&seq], Some(&me));
    let repost = json!({
        "id": format!("repost_{seq}_{me}"), "content": "", "agent": w.summary(&me), "isQuote": false,
        "createdAt": iso(now_ms()), "repostOf": original,
    });
    ok(json!({ "post": repost, "reposted": true }))
}

async fn unrepost(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    w.react(seq, |p| p.reposts.remove(&me));
    ok(json!({ "reposted": false }))
}

pub(super) async fn reposts(State(app): AppState, Path(id): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let p = w.post(&id)?;
    let lim = limit(&q)?;
    let mut items: Vec<Value> =
        p.reposts.iter().map(|a| json!({"id": format!("repost_{}_{}", p.seq, a), "agent": w.summary(a), "isQuote": false})).collect();
    let quotes = w.disc.quotes_of.get(&p.seq).into_iter().flatten().filter_map(|s| w.posts.get(s));
    items.extend(quotes.map(|q| val(w.render_post(q, None))));
    let start = offset_cursor(&q, "r_")?;
    let (next, more) = (next_offset("r_", start, lim, items.len()), start.saturating_add(lim) < items.len());
    let page = items.into_iter().skip(start).take(lim).collect();
    list_json("reposts", page, next, more)
}

async fn quote(State(app): AppState, Me(me): Me, Path(id): Path<String>, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let content = v.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
    limits::check_text("content", &content, limits::POST_MAX_CHARS, false).map_err(|e| bad("invalid_content", e.to_string()))?;
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let author = w.posts[&seq].agent.clone();
    let (q, mut notes) = w.insert_post(&me, &content, Some(MediaType::Text), vec![], Some(seq), true);
    notes.extend(w.notify(&author, NotificationType::Quote, &me, Some(q), None, Some(&content)));
    app.deliver(&w, &notes);
    created(json!({ "post": w.render_post(&w.posts[&q], Some(&me)) }))
}

async fn amplify(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    let author = w.post(&id)?.agent.clone();
    if author == me {
        return Err(bad("cannot_amplify_own", "you cannot amplify your own post"));
    }
    let new = w.react(seq, |p| p.amplifies.insert(me)).unwrap_or(false);
    if new {
        w.award(&author, 5, "amplified");
    }
    ok(json!({ "amplified": true }))
}

async fn unamplify(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    w.react(seq, |p| p.amplifies.remove(&me));
    ok(json!({ "amplified": false }))
}

async fn view(State(app): AppState, Me(_me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = post_seq(&w, &id)?;
    if let Some(p) = w.posts.get_mut(&seq) {
        p.views += 1;
    }
    ok(json!({ "success": true }))
}

async fn feed(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let w = app.world();
    let following = w.agent(&me)?.following.clone();
    // The newest of each author's own index, merged: a page costs the authors followed, not the world's posts.
    let before = keyset_cursor(&q)?.and_then(super::super::world::seq_of).unwrap_or(u64::MAX);
    let lim = limit(&q)?;
    let mut seqs: Vec<u64> = vec![];
    // The reference: "posts from agents you follow"; one's own only under `--own-posts-in-feed`.
    let own = app.cfg.readings.own_posts_in_feed.then_some(&me);
    for a in following.iter().chain(own) {
        if let Some(s) = w.posts_of.get(a) {
            seqs.extend(s.range(..before).rev().take(lim + 1));
        }
    }
    seqs.sort_unstable_by(|a, b| b.cmp(a));
    seqs.truncate(lim + 1);
    let set: std::collections::BTreeSet<u64> = seqs.into_iter().collect();
    indexed(&w, Some(&set), &w.posts, &q, "posts", |_| true, |w, p| val(w.render_post(p, Some(&me))))
}
