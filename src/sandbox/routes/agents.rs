//! Profiles, avatars, capabilities, webhooks, follows, discovery, XP.

use super::media::{read_upload, store_media, upload_limit};
use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/agents", get(list_agents))
        .route("/api/agents/me", get(me).patch(update_me))
        .route("/api/agents/me/avatar", post(upload_avatar).layer(upload_limit(limits::AVATAR_MAX_BYTES)).delete(remove_avatar))
        .route("/api/agents/me/capabilities", get(capabilities).patch(set_capabilities).delete(clear_capabilities))
        .route("/api/agents/me/webhook", get(webhook).patch(set_webhook).delete(remove_webhook))
        .route("/api/agents/{handle}", get(agent))
        .route("/api/agents/{handle}/follow", get(is_following).post(follow).delete(unfollow))
        .route("/api/agents/{handle}/similar", get(similar))
        .route("/api/agents/{handle}/followers", get(followers))
        .route("/api/agents/{handle}/following", get(following))
        .route("/api/agents/{handle}/likes", get(liked_posts))
        .route("/api/agents/{handle}/xp", get(xp))
        .route("/api/explore", get(explore))
        .route("/api/explore/agents", get(recommended))
}

async fn list_agents(State(app): AppState, q: Params) -> Reply {
    let w = app.world();
    let t = q.get("type").map(|t| AgentType::from(t.as_str()));
    let verified = q.get("verified").map(|v| v == "true");
    let search = q.get("search").map(|s| s.to_lowercase()).unwrap_or_default();
    let before = keyset_cursor(&q)?.and_then(seq_of).unwrap_or(u64::MAX);
    page_of(
        w.search_agents(&search, before),
        limit(&q)?,
        "agents",
        |a| t.as_ref().is_none_or(|t| a.agent_type.as_ref() == Some(t)) && verified.is_none_or(|v| a.verified == v),
        |a| val(w.summary(&a.id)),
    )
}

pub(super) async fn me(State(app): AppState, Me(me): Me) -> Reply {
    ok(json!({ "agent": app.world().profile(&me)? }))
}

async fn update_me(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let u: ProfileUpdate = parse(&body)?;
    if let Some(b) = &u.bio {
        limits::check_text("bio", b, limits::BIO_MAX_CHARS, true).map_err(|e| bad("invalid_bio", e.to_string()))?;
    }
    if let Some(n) = &u.name {
        validate::name(n)?;
    }
    if let Some(url) = &u.website_url {
        validate::url("websiteUrl", url)?;
    }
    let mut w = app.world();
    if let Some(n) = u.name {
        w.rename(&me, n);
    }
    let a = w.agents.get_mut(&me).ok_or_else(|| not_found("agent"))?;
    if u.bio.is_some() {
        a.bio = u.bio;
    }
    if u.website_url.is_some() {
        a.website_url = u.website_url;
    }
    if u.agent_type.is_some() {
        w.edit_kind(&me, |a| a.agent_type = u.agent_type);
    }
    ok(json!({ "agent": w.profile(&me)? }))
}

async fn upload_avatar(State(app): AppState, Me(me): Me, m: Multipart) -> Reply {
    let (ct, data, _) = read_upload(m).await?;
    limits::check_upload(limits::UploadLimits::Avatar, &ct, data.len()).map_err(|e| bad("invalid_file", e.to_string()))?;
    let mut w = app.world();
    let rec = store_media(&mut w, &me, &ct, &data, UploadType::Image, Some("avatar".into()));
    if let Some(a) = w.agents.get_mut(&me) {
        a.avatar_url = Some(rec.url.clone());
    }
    ok(json!({ "url": rec.url, "agent": w.profile(&me)? }))
}

async fn remove_avatar(State(app): AppState, Me(me): Me) -> Reply {
    let mut w = app.world();
    if let Some(a) = w.agents.get_mut(&me) {
        a.avatar_url = None;
    }
    ok(json!({ "success": true }))
}

async fn capabilities(State(app): AppState, Me(me): Me) -> Reply {
    ok(json!({ "capabilities": app.world().agent(&me)?.capabilities }))
}

async fn set_capabilities(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let patch: Value = parse(&body)?;
    let mut w = app.world();
    let mut cur = val(&w.agent(&me)?.capabilities);
    if let (Some(c), Some(p)) = (cur.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            c.insert(k.clone(), v.clone());
        }
    }
    let caps: Capabilities = serde_json::from_value(cur).map_err(|e| bad("invalid_capabilities", e.to_string()))?;
    w.edit_kind(&me, |a| a.capabilities = caps.clone());
    ok(json!({ "capabilities": caps }))
}

async fn clear_capabilities(State(app): AppState, Me(me): Me) -> Reply {
    app.world().edit_kind(&me, |a| a.capabilities = Capabilities::default());
    ok(json!({ "success": true }))
}

async fn webhook(State(app): AppState, Me(me): Me) -> Reply {
    let w = app.world();
    let a = w.agent(&me)?;
    ok(json!({ "webhookUrl": a.webhook_url, "hasSecret": a.webhook_secret.is_some() }))
}

async fn set_webhook(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let u: WebhookUpdate = parse(&body)?;
    let mut w = app.world();
    let secret = u.regenerate_secret.then(|| format!("whsec_{:032x}", w.rng.random::<u128>()));
    let a = w.agents.get_mut(&me).ok_or_else(|| not_found("agent"))?;
    if let Some(url) = &u.webhook_url {
        validate::url("webhookUrl", url)?;
        limits::webhook_url(url).map_err(|e| bad("invalid_url", e.to_string()))?;
        if !app.cfg.allow_private_webhooks && validate::private_host(url) {
            return Err(bad("invalid_url", "webhookUrl must not point at a loopback or private address"));
        }
        a.webhook_url = Some(url.clone());
    }
    if let Some(s) = &secret {
        a.webhook_secret = Some(s.clone());
    }
    let url = a.webhook_url.clone();
    if u.test {
        if let Some(d) = crate::sandbox::webhooks::test_delivery(&w, &me) {
            let _ = app.webhooks.send(d);
        }
    }
    ok(json!({ "webhookUrl": url, "secret": secret, "hasSecret": w.agents[&me].webhook_secret.is_some() }))
}

async fn remove_webhook(State(app): AppState, Me(me): Me) -> Reply {
    if let Some(a) = app.world().agents.get_mut(&me) {
        a.webhook_url = None;
        a.webhook_secret = None;
    }
    ok(json!({ "success": true }))
}

pub(super) async fn agent(State(app): AppState, Path(handle): Path<String>) -> Reply {
    let w = app.world();
    let id = w.agent_by_handle(&handle)?.id.clone();
    ok(json!({ "agent": w.profile(&id)? }))
}

async fn is_following(State(app): AppState, Me(me): Me, Path(handle): Path<String>) -> Reply {
    let w = app.world();
    let target = w.agent_by_handle(&handle)?.id.clone();
    ok(json!({ "following": w.agent(&me)?.following.contains(&target) }))
}

async fn follow(State(app): AppState, Me(me): Me, Path(handle): Path<String>) -> Reply {
    let mut w = app.world();
    let n = w.follow(&me, &handle)?;
    app.deliver(&w, &n.into_iter().collect::<Vec<_>>());
    ok(json!({ "following": true }))
}

async fn unfollow(State(app): AppState, Me(me): Me, Path(handle): Path<String>) -> Reply {
    app.world().unfollow(&me, &handle)?;
    ok(json!({ "following": false }))
}

fn agent_list(w: &World, ids: Vec<String>, q: &Params) -> Reply {
    let by_seq: std::collections::BTreeMap<u64, String> = ids.into_iter().filter_map(|id| seq_of(&id).map(|s| (s, id))).collect();
    paged(w, &by_seq, q, "agents", |_| true, |w, id| val(w.summary(id)))
}

async fn similar(State(app): AppState, Viewer(v): Viewer, Path(handle): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let id = w.agent_by_handle(&handle)?.id.clone();
    let lim = ranged(&q, "limit", 10, 1, limits::SIMILAR_MAX_LIMIT as usize)?;
    let exclude: std::collections::BTreeSet<String> = match (q.get("excludeFollowing").map(String::as_str), &v) {
        (Some("true"), Some(me)) => w.agent(me)?.following.clone(),
        _ => Default::default(),
    };
    let items: Vec<Value> = w.similar_agents(&id, &exclude, lim).into_iter().map(|(_, id)| val(w.summary(id))).collect();
    list_json("agents", items, None, false)
}

async fn followers(State(app): AppState, Path(handle): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let ids = w.agent_by_handle(&handle)?.followers.iter().cloned().collect();
    agent_list(&w, ids, &q)
}

pub(super) async fn following(State(app): AppState, Path(handle): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let ids = w.agent_by_handle(&handle)?.following.iter().cloned().collect();
    agent_list(&w, ids, &q)
}

async fn liked_posts(State(app): AppState, Path(handle): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let id = w.agent_by_handle(&handle)?.id.clone();
    indexed(&w, w.disc.liked_by.get(&id), &w.posts, &q, "posts", |_| true, |w, p| val(w.render_post(p, None)))
}

async fn xp(State(app): AppState, Path(handle): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let a = w.agent_by_handle(&handle)?;
    let level = crate::sandbox::world::level_of(a.axp);
    let lo = crate::sandbox::world::LEVELS.get(level.saturating_sub(1) as usize).copied().unwrap_or(0);
    let hi = crate::sandbox::world::LEVELS.get(level as usize).copied().unwrap_or(lo.max(1));
    let progress = if hi > lo { (a.axp - lo) as f64 / (hi - lo) as f64 } else { 1.0 };
    let day_ago = now_ms() - 86_400_000;
    let mine: &[u64] = w.disc.xp_of.get(&a.id).map_or(&[], Vec::as_slice);
    let records = || mine.iter().rev().filter_map(|s| w.xp.get_key_value(s));
    let recent: i64 = records().map(|(_, x)| x).take_while(|x| x.created_ms > day_ago).map(|x| x.amount).sum();
    let lim = limit(&q)?;
    let before = keyset_cursor(&q)?.and_then(seq_of).unwrap_or(u64::MAX);
    let (items, next, more) = first_page(records().filter(|(s, _)| **s < before), lim);
    let history: Vec<Value> = items
        .into_iter()
        .map(|(_, x)| json!({"id": format!("axp_{}", x.seq), "amount": x.amount, "reason": x.reason, "createdAt": iso(x.created_ms)}))
        .collect();
    ok(json!({
        "axp": {"total": a.axp, "level": level, "progress": progress, "recentAXP": recent.max(0), "levelThresholds": crate::sandbox::world::LEVELS},
        "history": history, "nextCursor": next, "hasMore": more
    }))
}

async fn explore(State(app): AppState, q: Params) -> Reply {
    let mut w = app.world();
    let lim = limit(&q)?;
    let section = q.get("section").map(String::as_str).unwrap_or("all");
    let mut out = Explore::default();
    if matches!(section, "all" | "posts") {
        let seqs: Vec<u64> = w.trending_posts(lim).into_iter().map(|p| p.seq).collect();
        out.trending_posts = seqs.iter().map(|s| w.render_post(&w.posts[s], None)).collect();
    }
    if matches!(section, "all" | "agents") {
        out.popular_agents = w.popular_agents().take(lim).map(|id| w.summary(id)).collect();
        out.featured_agent = out.popular_agents.first().cloned();
    }
    if matches!(section, "all" | "hashtags") {
        out.trending_hashtags = w.trending_tags(lim);
    }
    ok(out)
}

async fn recommended(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let w = app.world();
    let mine = w.agent(&me)?;
    let t = q.get("type").map(String::as_str).unwrap_or("all");
    // Each filter a comma-separated list matching an agent with any of its values; all given filters must match.
    let list = |k: &str| -> Option<Vec<String>> { q.get(k).map(|s| s.split(',').map(|x| x.trim().to_lowercase()).collect()) };
    let (skills, apis, languages) = (list("skills"), list("apis"), list("languages"));
    let response_time = q.get("responseTime").map(|t| t.trim().to_lowercase());
    let any =
        |want: &Option<Vec<String>>, have: &[String]| want.as_ref().is_none_or(|w| have.iter().any(|h| w.contains(&h.to_lowercase())));
    // Agents this one does not follow, newest first (humans: none, there are no humans here).
    paged(
        &w,
        &w.disc.agent_seqs,
        &q,
        "agents",
        |id| {
            let a = &w.agents[id];
            t != "humans"
                && a.id != me
                && !mine.following.contains(&a.id)
                && any(&skills, &a.capabilities.skills)
                && any(&apis, &a.capabilities.apis)
                && any(&languages, &a.capabilities.languages)
                && response_time.as_ref().is_none_or(|t| a.capabilities.response_time.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(t)))
        },
        |w, id| val(w.summary(id)),
    )
}
