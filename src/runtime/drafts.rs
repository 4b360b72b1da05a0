//! The agent's draft task: sends the drafts a person approved, applies
//! timeouts, announces new drafts (`draft_notices`), keeps the drafts gauges.
//! It is the runtime's own task, not a behavior: it sends each draft in the
//! name of the behavior that drafted it, under that behavior's key, through
//! the same intent path (see [`crate::behaviors::engine::approval`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::task::Task;
use crate::api::ApiError;
use crate::behaviors::engine::actions;
use crate::behaviors::engine::approval::{all, media_of, put, vet, Draft, EditRules, OnTimeout, Status, CHANGED};
use crate::behaviors::engine::effects::Outcome;
use crate::behaviors::{BehaviorError, Ctx};

/// How often the draft task looks while drafts wait (for timeouts), and while none do.
const BUSY: Duration = Duration::from_secs(1);
const QUIET: Duration = Duration::from_secs(60);

/// Sends an approved draft through the intent path under its original key (looked for on the platform after a crash).
async fn send_approved<S, SF>(this: &Ctx, key: &str, kind: &str, detail: Value, send: S) -> Result<Outcome, BehaviorError>
where
    S: FnOnce() -> SF,
    SF: std::future::Future<Output = Result<Option<String>, ApiError>>,
{
    let plain = this.clone().with_approval(None);
    let k = kind.to_string();
    let look = plain.clone();
    plain.once(key, kind, detail, send, |d| async move { actions::found(&look, &k, d).await }).await
}

/// The agent's draft task: sends approved drafts, applies timeouts, announces new
/// drafts (`draft_notices`), keeps the drafts gauges; until cancelled.
pub async fn run(task: Arc<Task>) -> Result<(), BehaviorError> {
    loop {
        // Registered before the look, so a change made during it is not missed.
        let changed = CHANGED.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = task.now().timestamp_millis();
        let (mut pending, mut oldest) = (0u64, now);
        let drafts = all(task.store())?;
        // A bulk approval (`drafts approve --all`) says how far the sending is.
        let approved = drafts.iter().filter(|d| d.status == Status::Approved).count() as u64;
        let mut progress = (approved > 20).then(|| crate::progress::Progress::new("sending approved drafts", Some(approved)));
        for mut d in drafts {
            if d.status == Status::Pending && d.expires_ms.is_some_and(|t| now >= t) {
                d.status = match d.on_timeout {
                    OnTimeout::Discard => Status::Discarded,
                    OnTimeout::Send => Status::Approved,
                };
                tracing::info!(draft = %d.id, behavior = %d.behavior, status = ?d.status, "draft timed out");
                put(task.store(), &d)?;
            }
            if d.status == Status::Pending {
                pending += 1;
                oldest = oldest.min(d.created_ms);
                if let Some(n) = task.agent.notices.as_ref().filter(|n| !d.noticed && n.ready()) {
                    match n.announce(&task.agent.handle, &d).await {
                        Ok(()) => {
                            tracing::info!(draft = %d.id, "announced draft {} to the notice webhook", d.id);
                            d.noticed = true;
                            put(task.store(), &d)?;
                        }
                        Err(e) => tracing::warn!(draft = %d.id, error = %e, "draft notice not delivered; trying again later"),
                    }
                }
            }
            if matches!(d.status, Status::Rejected | Status::Discarded) && !d.media_released && !media_of(&d).is_empty() {
                release_media(&task, &mut d).await?;
            }
            if d.status != Status::Approved {
                continue;
            }
            if d.edited {
                // A person's text: the agent's secrets are checked again here, where they are known.
                let text = d.detail.get("content").and_then(Value::as_str).unwrap_or_default();
                let secrets = task.agent.secrets.all();
                if let Err(why) = vet(&d.action, text, &EditRules::default(), &secrets) {
                    tracing::warn!(draft = %d.id, reason = %why, "edited draft not sent: {why}; it is pending again");
                    d.status = Status::Pending;
                    d.problem = Some(why);
                    put(task.store(), &d)?;
                    continue;
                }
            }
            let this = task.as_behavior(&d.behavior);
            // The drafted record stands for "not sent": replace it by the real intent path.
            if this.progress(&d.key)?.result().as_deref() == Some(&format!("drafted:{}", d.id)) {
                this.store().forget_action(&d.behavior, &d.key)?;
            }
            let (kind, detail) = (d.action.clone(), d.detail.clone());
            let t = this.clone();
            send_approved(&this, &d.key, &d.action, detail.clone(), || async move { actions::execute(&t, &kind, &detail).await }).await?;
            d.status = Status::Sent;
            put(task.store(), &d)?;
            if let Some(p) = progress.as_mut() {
                p.add(1);
            }
        }
        task.agent.metrics.gauge(crate::metrics::DRAFTS_PENDING, &[], pending as f64);
        task.agent.metrics.gauge(crate::metrics::DRAFTS_OLDEST_SECONDS, &[], ((now - oldest).max(0) / 1000) as f64);
        let wait = if pending > 0 || approved > 0 { BUSY } else { QUIET };
        tokio::select! {
            _ = changed => {}
            alive = task.sleep(wait) => if !alive { return Ok(()) },
        }
    }
}

/// Deletes the media a rejected or discarded draft was to post with (a
/// media already gone counts as deleted); a failure is tried again on the
/// next look.
async fn release_media(task: &Task, d: &mut Draft) -> Result<(), BehaviorError> {
    for id in media_of(d) {
        match task.session().delete_media(&crate::api::MediaRef::Id(id.clone())).await {
            Ok(()) => tracing::info!(draft = %d.id, media = %id, "deleted media {id} of a draft that will not be sent"),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                tracing::warn!(draft = %d.id, media = %id, error = %e, "media of a dropped draft not deleted yet; trying again later");
                return Ok(());
            }
        }
    }
    d.media_released = true;
    put(task.store(), d)?;
    Ok(())
}
