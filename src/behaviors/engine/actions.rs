//! The daemon's vocabulary of actions as data (`{kind, detail}`): how each is
//! sent, and how, after a crash between intent and outcome, the platform is
//! asked whether it already happened. Used by the approval queue (a draft is
//! an action waiting) and by `hook` (a program's decision is a list of them).

use serde_json::Value;

use super::ctx::Ctx;
use super::recovery::Found;
use crate::api::ApiError;
use crate::wire::types::{NewComment, NewOrderMessage, NewPost};

/// How long a post waits for its video to finish processing.
pub const VIDEO_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Sends an action of the daemon's vocabulary described by `detail` (a
/// post's `mediaIds` and `mediaType` with it).
pub async fn execute(ctx: &Ctx, kind: &str, d: &Value) -> Result<Option<String>, ApiError> {
    let s = ctx.session();
    let str_of = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    match kind {
        "post" => {
            let media_ids: Vec<String> = d
                .get("mediaIds")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let media_urls: Vec<String> = d
                .get("mediaUrls")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let media_type = d
                .get("mediaType")
                .and_then(|t| serde_json::from_value(t.clone()).ok())
                .filter(|_| !media_ids.is_empty() || !media_urls.is_empty());
            let post = NewPost {
                media_type: media_type.or(Some(crate::wire::types::MediaType::Text)),
                media_ids,
                media_urls,
                ..NewPost::text(str_of("content"))
            };
            s.create_post_when_processed(&post, VIDEO_WAIT).await.map(|p| Some(p.id))
        }
        "reply" | "comment" => {
            let c = NewComment { content: str_of("content"), parent_id: d.get("parentId").and_then(Value::as_str).map(str::to_string) };
            if on_byte(d) {
                s.comment_byte(&str_of("postId"), &c).await.map(|c| Some(c.id))
            } else {
                s.comment(&str_of("postId"), &c).await.map(|c| Some(c.id))
            }
        }
        "like" if on_byte(d) => s.like_byte(&str_of("postId")).await.map(|_| None),
        "quote" => s.quote(&str_of("postId"), &str_of("content")).await.map(|p| Some(p.id)),
        "dm" if d.get("conversation").is_some() => s.send_message(&str_of("conversation"), &str_of("content")).await.map(|m| Some(m.id)),
        "dm" => s.start_conversation(&str_of("handle"), &str_of("content")).await.map(|c| Some(c.id)),
        "order_message" => s
            .send_order_message(&str_of("order"), &NewOrderMessage { content: str_of("content"), attachments: vec![] })
            .await
            .map(|m| Some(m.id)),
        "like" => s.like(&str_of("postId")).await.map(|_| None),
        "amplify" => s.amplify(&str_of("postId")).await.map(|_| None),
        "repost" => s.repost(&str_of("postId")).await.map(|r| r.map(|p| p.id)),
        "follow" => {
            let h = str_of("handle");
            if !s.is_following(&h).await? {
                s.follow(&h).await?;
            }
            Ok(None)
        }
        other => Err(ApiError::Config(format!("an action of kind {other:?} cannot be sent"))),
    }
}

/// After a crash: is the action described by `detail` already on the platform?
pub async fn found(ctx: &Ctx, kind: &str, d: Value) -> Result<Found, ApiError> {
    let str_of = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let me = ctx.agent.id.clone();
    let want = str_of("content");
    match kind {
        "post" | "quote" => ctx.find_own_post(d).await,
        // Every item of the list is read: the reference promises no order, and a
        // busy post or conversation holds more than a page.
        "reply" | "comment" => {
            let mine = |c: &crate::wire::types::Comment| c.content == want && c.agent.as_ref().is_some_and(|a| a.id == me);
            let list = if on_byte(&d) { ctx.session().byte_comments(&str_of("postId")) } else { ctx.session().comments(&str_of("postId")) };
            Ok(Found::created(first(list.limit(100).stream(), mine).await?.map(|c| c.id)))
        }
        // The reference shows no byte's likes: a like of a byte is sent again (liking twice changes nothing).
        "like" if on_byte(&d) => Ok(Found::Missing),
        "dm" if d.get("conversation").is_some() => {
            let mine = |m: &crate::wire::types::Message| m.content == want && m.sender.as_ref().is_some_and(|s| s.id == me);
            Ok(Found::created(first(ctx.session().messages(&str_of("conversation")).limit(100).stream(), mine).await?.map(|m| m.id)))
        }
        "dm" => ctx.find_own_dm(d).await,
        "order_message" => {
            let mine = |m: &crate::wire::types::OrderMessage| m.content == want && m.sender.as_ref().is_some_and(|s| s.id == me);
            Ok(Found::created(first(ctx.session().order_messages(&str_of("order")).limit(100).stream(), mine).await?.map(|m| m.id)))
        }
        "like" => Ok(Found::when(ctx.session().post(&str_of("postId")).await?.is_liked)),
        "repost" => Ok(Found::when(ctx.session().post(&str_of("postId")).await?.is_reposted)),
        "follow" => Ok(Found::when(ctx.session().is_following(&str_of("handle")).await?)),
        // The platform cannot say whether we amplified or viewed: sent again after a crash in that instant.
        _ => Ok(Found::Missing),
    }
}

/// Whether the action is on a byte (`onByte` in its detail; `postId` then names the byte).
fn on_byte(d: &Value) -> bool {
    d.get("onByte").and_then(Value::as_bool).unwrap_or(false)
}

/// The first item of a list (read page after page) that `pick` chooses.
pub async fn first<T>(items: impl futures::Stream<Item = Result<T, ApiError>>, pick: impl Fn(&T) -> bool) -> Result<Option<T>, ApiError> {
    use futures::TryStreamExt;
    let mut items = std::pin::pin!(items);
    while let Some(t) = items.try_next().await? {
        if pick(&t) {
            return Ok(Some(t));
        }
    }
    Ok(None)
}
