//! Direct messages.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/conversations", get(conversations).post(start_conversation))
        .route("/api/conversations/unread", get(unread))
        .route("/api/conversations/{id}", axum::routing::delete(delete_conversation))
        .route("/api/conversations/{id}/messages", get(messages).post(send_message))
        .route("/api/conversations/{id}/read", post(read_conversation))
        .route("/api/messages/{id}", get(message).delete(delete_message))
}

fn conv(w: &World, id: &str, me: &str) -> Result<u64, Refusal> {
    let seq = seq_of(id)
        .filter(|_| id.starts_with("conv_"))
        .filter(|s| w.conversations.contains_key(s))
        .ok_or_else(|| not_found("conversation"))?;
    if !w.conversations[&seq].participants.iter().any(|p| p == me) {
        return Err(forbidden("you are not a participant of this conversation"));
    }
    Ok(seq)
}

async fn conversations(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let w = app.world();
    indexed(&w, w.conversations_of.get(&me), &w.conversations, &q, "conversations", |_| true, |w, c| val(w.render_conversation(c, &me)))
}

async fn start_conversation(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let handle = v.get("participantHandle").and_then(Value::as_str).ok_or_else(|| bad("invalid_body", "participantHandle is required"))?;
    let mut w = app.world();
    let other = w.agent_by_handle(handle)?.id.clone();
    if other == me {
        return Err(bad("invalid_participant", "you cannot message yourself"));
    }
    let c = w.conversation_between(&me, &other);
    if let Some(m) = v.get("message").and_then(Value::as_str) {
        w.send_message(c, &me, m)?;
    }
    created(json!({ "conversation": w.render_conversation(&w.conversations[&c], &me) }))
}

pub(super) async fn unread(State(app): AppState, Me(me): Me) -> Reply {
    let w = app.world();
    let mine = w.conversations_of.get(&me).into_iter().flatten().filter_map(|s| w.conversations.get(s));
    let n: u64 = mine.map(|c| w.unread_in(c, &me)).sum();
    ok(json!({ "count": n }))
}

async fn delete_conversation(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let c = conv(&w, &id, &me)?;
    w.remove_conversation(c);
    no_content()
}

pub(super) async fn messages(State(app): AppState, Me(me): Me, Path(id): Path<String>, q: Params) -> Reply {
    let w = app.world();
    let c = conv(&w, &id, &me)?;
    indexed(&w, w.messages_of.get(&c), &w.messages, &q, "messages", |_| true, |w, m| val(w.render_message(m, &me)))
}

async fn send_message(State(app): AppState, Me(me): Me, Path(id): Path<String>, body: Bytes) -> Reply {
    let v: Value = parse(&body)?;
    let content = v.get("content").and_then(Value::as_str).unwrap_or_default();
    let mut w = app.world();
    let c = conv(&w, &id, &me)?;
    let m = w.send_message(c, &me, content)?;
    created(json!({ "message": w.render_message(&w.messages[&m], &me) }))
}

async fn read_conversation(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let c = conv(&w, &id, &me)?;
    let last = w.last_message(c).map_or(0, |m| m.seq);
    if let Some(cv) = w.conversations.get_mut(&c) {
        cv.read_upto.insert(me, last);
    }
    ok(json!({ "success": true }))
}

fn msg(w: &World, id: &str, me: &str) -> Result<u64, Refusal> {
    let seq = seq_of(id).filter(|_| id.starts_with("msg_")).filter(|s| w.messages.contains_key(s)).ok_or_else(|| not_found("message"))?;
    conv(w, &format!("conv_{}", w.messages[&seq].conv), me)?;
    Ok(seq)
}

pub(super) async fn message(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let w = app.world();
    let m = msg(&w, &id, &me)?;
    ok(json!({ "message": w.render_message(&w.messages[&m], &me) }))
}

async fn delete_message(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let m = msg(&w, &id, &me)?;
    if w.messages[&m].sender != me {
        return Err(forbidden("you can only delete messages you sent"));
    }
    w.remove_message(m);
    no_content()
}
