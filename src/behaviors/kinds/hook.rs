//! `hook`: the operator's own logic, in any language. On each notification of
//! the listed types (and/or at each fire time of a schedule) a program is run
//! with the event as JSON on stdin; it answers on stdout with a text (a reply
//! to the event's post, or a post on a schedule) or a list of actions from the
//! daemon's vocabulary (reply, comment, like, amplify, repost, quote, follow,
//! dm, post, nothing). Protocol: `behaviors/hooks/protocol.schema.json`.
//!
//! Guarantees: the decision is recorded durably (`decision:EVENT`) before any
//! of its actions runs, and each action goes through the intent path under
//! its own key (`hook:EVENT:N`): after a crash the program is not asked again
//! and no action runs twice. A program that times out, prints too much, prints
//! something else than the protocol's JSON or exits non-zero gets the
//! `fallback` actions (or nothing), and the log says why. Texts pass the same
//! checks as a person's edited draft (the platform's limit, secrets).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::behaviors::engine::program::Program;
use crate::behaviors::engine::schedule::{CatchUp, Schedule};
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, OnEvent};
use crate::wire::types::{Notification, NotificationType};

/// One action of a program's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Under the event's post (threaded under the event's comment, if any).
    Reply {
        text: String,
    },
    /// A comment on `post` (default: the event's post).
    Comment {
        #[serde(default)]
        post: Option<String>,
        text: String,
    },
    Like {
        #[serde(default)]
        post: Option<String>,
    },
    Amplify {
        #[serde(default)]
        post: Option<String>,
    },
    Repost {
        #[serde(default)]
        post: Option<String>,
    },
    Quote {
        #[serde(default)]
        post: Option<String>,
        text: String,
    },
    /// Follow `handle` (default: who caused the event).
    Follow {
        #[serde(default)]
        handle: Option<String>,
    },
    /// A direct message to `handle` (default: who caused the event).
    Dm {
        #[serde(default)]
        handle: Option<String>,
        text: String,
    },
    Post {
        text: String,
        /// Images (up to 4) or one video: files under the behavior file's
        /// directory, or HTTPS images; each file uploaded once.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        media: Vec<String>,
    },
    Nothing,
}

/// What the program prints: `{"text": ...}`, or `{"actions": [...]}`, or `{}` (nothing).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub actions: Option<Vec<Action>>,
}

/// At most this many actions per decision (more is a bad answer, said in the log, not cut).
pub const MAX_ACTIONS: usize = 20;

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        /// Notification types that run the program.
        #[serde(default)]
        pub on: Vec<NotificationType>,
        /// And/or a schedule (5 fields, or 6-7 with seconds): the program runs at each fire time.
        #[serde(default)]
        pub schedule: Option<String>,
        #[serde(default = "crate::behaviors::utc")]
        pub timezone: String,
        pub program: Program,
        /// Taken when the program fails (timeout, bad output, non-zero exit); default: nothing.
        #[serde(default)]
        pub fallback: Vec<Action>,
        /// The behavior file's directory (what a post's `media` is relative to).
        #[serde(skip)]
        #[schemars(skip)]
        pub base: std::path::PathBuf,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("hook");

/// What the program reads on stdin.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Event {
    /// `notification` or `schedule`.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub agent: EventAgent,
    /// The behavior's name.
    pub behavior: String,
    /// The notification as the platform sent it (`type`, `actor`, `postId`, `commentId`, `content`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<Value>,
    /// The fire time (RFC 3339) of a scheduled run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EventAgent {
    pub handle: String,
    pub id: String,
}

/// The protocol as a JSON Schema: `input` (stdin) and `output` (stdout).
pub fn protocol_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "imagine-agent hook protocol",
        "description": "A hook program reads `input` as JSON on stdin and prints `output` as JSON on stdout.",
        "input": schemars::schema_for!(Event),
        "output": schemars::schema_for!(Answer),
    })
}

fn event_of(ctx: &Ctx, n: Option<&Notification>, at: Option<DateTime<Utc>>) -> Value {
    let e = Event {
        event_type: if n.is_some() { "notification" } else { "schedule" },
        agent: EventAgent { handle: ctx.agent.handle.clone(), id: ctx.agent.id.clone() },
        behavior: ctx.behavior.clone(),
        notification: n.map(Notification::value),
        at: at.map(|a| a.to_rfc3339()),
    };
    serde_json::to_value(e).unwrap_or_default()
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        if self.on.is_empty() && self.schedule.is_none() {
            c.problem("on", "a hook runs on notifications (`on:`), a `schedule`, or both: neither is set");
        }
        if let Some(s) = &self.schedule {
            crate::behaviors::check_schedule(c, s, &self.timezone);
        }
        self.program.check(c, "program");
    }

    /// A post's media as the program named them: files under the behavior
    /// file's directory (resolved) or HTTPS images, at most 4 images or one
    /// video; or why not.
    fn media_of(&self, media: &[String]) -> Result<Vec<String>, String> {
        use crate::behaviors::engine::media::Medium;
        let mut out = vec![];
        let (mut images, mut videos) = (0, 0);
        for m in media {
            let p = std::path::Path::new(m);
            let inside = p.is_relative() && p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
            let path = if m.starts_with("https://") {
                p.to_path_buf()
            } else if inside {
                self.base.join(p)
            } else {
                return Err(format!("media {m:?}: a file under the behavior's directory, or an HTTPS image"));
            };
            match Medium::of(&path) {
                Some(Medium::Video(_)) if !m.starts_with("https://") => videos += 1,
                Some(Medium::Image(_)) => images += 1,
                _ => return Err(format!("media {m:?}: not an image or a video the platform takes")),
            }
            if !m.starts_with("https://") && !path.is_file() {
                return Err(format!("media {m:?}: no such file"));
            }
            out.push(path.to_string_lossy().into_owned());
        }
        if (videos > 0 && images > 0) || videos > 1 || images > crate::wire::limits::MAX_IMAGES_PER_POST {
            return Err("a post takes 1 video, or up to 4 images, never both".into());
        }
        Ok(out)
    }

    /// The (kind, detail) of `a` for event `n`, or why it cannot be done.
    fn to_action(&self, a: &Action, n: Option<&Notification>) -> Result<Option<(&'static str, Value)>, String> {
        let post =
            |p: &Option<String>| p.clone().or_else(|| n.and_then(|n| n.post_id.clone())).ok_or("no post: the event has none, name one");
        let who = |h: &Option<String>| {
            h.clone()
                .map(|h| h.trim_start_matches('@').to_string())
                .or_else(|| n.and_then(|n| n.actor.as_ref().map(|a| a.handle.clone())))
                .ok_or("no handle: the event has no one, name one")
        };
        Ok(Some(match a {
            Action::Reply { text } => {
                let n = n.ok_or("reply needs an event with a post (use post on a schedule)")?;
                let pid = n.post_id.clone().ok_or("this event has no post to reply under")?;
                ("reply", json!({"postId": pid, "parentId": n.comment_id, "content": text, "author": n.actor.as_ref().map(|a| &a.handle)}))
            }
            Action::Comment { post: p, text } => ("comment", json!({"postId": post(p)?, "content": text})),
            Action::Like { post: p } => ("like", json!({"postId": post(p)?})),
            Action::Amplify { post: p } => ("amplify", json!({"postId": post(p)?})),
            Action::Repost { post: p } => ("repost", json!({"postId": post(p)?})),
            Action::Quote { post: p, text } => ("quote", json!({"postId": post(p)?, "content": text})),
            Action::Follow { handle } => ("follow", json!({"handle": who(handle)?})),
            Action::Dm { handle, text } => ("dm", json!({"handle": who(handle)?, "content": text})),
            Action::Post { text, media } if media.is_empty() => ("post", json!({"content": text})),
            Action::Post { text, media } => ("post", json!({"content": text, "media": self.media_of(media)?})),
            Action::Nothing => return Ok(None),
        }))
    }

    /// Runs the program and turns its answer into actions; on failure, the fallback.
    async fn decide(&self, ctx: &Ctx, n: Option<&Notification>, at: Option<DateTime<Utc>>) -> Vec<(String, Value)> {
        let answer = match self.program.run(&event_of(ctx, n, at)).await {
            Ok(v) => serde_json::from_value::<Answer>(v).map_err(|e| format!("its answer does not follow the protocol: {e}")),
            Err(e) => Err(e.to_string()),
        };
        let actions = match answer {
            Ok(Answer { text: Some(_), actions: Some(_) }) => Err("its answer has both text and actions".to_string()),
            Ok(Answer { actions: Some(a), .. }) if a.len() > MAX_ACTIONS => {
                Err(format!("its answer has {} actions; at most {MAX_ACTIONS}", a.len()))
            }
            Ok(Answer { actions: Some(a), .. }) => Ok(a),
            Ok(Answer { text: Some(t), .. }) if n.is_some() => Ok(vec![Action::Reply { text: t }]),
            Ok(Answer { text: Some(t), .. }) => Ok(vec![Action::Post { text: t, media: vec![] }]),
            Ok(Answer { text: None, actions: None }) => Ok(vec![]),
            Err(e) => Err(e),
        };
        let actions = actions.unwrap_or_else(|why| {
            tracing::warn!(program = %self.program.command[0], reason = %why, fallback = self.fallback.len(), "the hook program failed: {why}; {}",
                if self.fallback.is_empty() { "nothing done" } else { "taking the fallback" });
            ctx.agent.metrics.action(&[ctx.behavior.as_str(), "hook"], "failed");
            self.fallback.clone()
        });
        let secrets = ctx.agent.secrets.all();
        let mut out = vec![];
        for a in &actions {
            match self.to_action(a, n) {
                Ok(Some((kind, mut detail))) => {
                    if let Some(text) = detail.get("content").and_then(Value::as_str) {
                        match crate::behaviors::engine::approval::vet(kind, text, &Default::default(), &secrets) {
                            Ok(t) => detail["content"] = json!(t),
                            Err(why) => {
                                tracing::warn!(action = kind, reason = %why, "a hook action was refused: {why}");
                                continue;
                            }
                        }
                    }
                    out.push((kind.to_string(), detail));
                }
                Ok(None) => {}
                Err(why) => tracing::warn!(reason = %why, "a hook action cannot be done: {why}"),
            }
        }
        out
    }

    /// A post's `media` uploaded (each file once, under the action's key) and
    /// named as the platform takes them: `mediaIds`, `mediaUrls`, `mediaType`.
    async fn with_media(&self, ctx: &Ctx, key: &str, mut detail: Value) -> Result<Value, BehaviorError> {
        let Some(media) = detail.get("media").and_then(Value::as_array).filter(|m| !m.is_empty()).cloned() else { return Ok(detail) };
        let files = media.iter().filter_map(Value::as_str).map(std::path::PathBuf::from).collect();
        let spec = crate::behaviors::engine::media::MediaSpec::Files(files);
        let (ids, urls, media_type) =
            ctx.post_media(Some(&spec), &format!("{key}:media"), "media_list", &format!("{key}:upload"), 0).await?;
        if let Some(d) = detail.as_object_mut() {
            d.remove("media");
            d.insert("mediaIds".into(), json!(ids));
            d.insert("mediaUrls".into(), json!(urls));
            d.insert("mediaType".into(), json!(media_type));
        }
        Ok(detail)
    }

    /// Decides once for `event` (recorded before anything runs), then runs each action once.
    async fn handle(&self, ctx: &Ctx, event: &str, n: Option<&Notification>, at: Option<DateTime<Utc>>) -> Result<(), BehaviorError> {
        let store = ctx.store();
        let dkey = format!("decision:{event}");
        let decision: Vec<(String, Value)> = match store.get(&ctx.behavior, &dkey)? {
            Some(d) => d,
            None => {
                let d = self.decide(ctx, n, at).await;
                store.put(&ctx.behavior, &dkey, &d)?;
                store.flush().await?;
                tracing::info!(
                    event,
                    actions = d.len(),
                    "hook decided: {}",
                    d.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
                );
                d
            }
        };
        for (i, (kind, detail)) in decision.iter().enumerate() {
            let detail = self.with_media(ctx, &format!("hook:{event}:{i}"), detail.clone()).await?;
            let (k, d) = (kind.clone(), detail.clone());
            let out = ctx
                .once(
                    &format!("hook:{event}:{i}"),
                    kind,
                    detail.clone(),
                    || async move { crate::behaviors::engine::actions::execute(ctx, &k, &d).await },
                    |found| async move { crate::behaviors::engine::actions::found(ctx, kind, found).await },
                )
                .await?;
            if matches!(out, crate::behaviors::Outcome::Refused(_)) {
                let ids: Vec<String> = detail
                    .get("mediaIds")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                ctx.release_media(&ids).await;
            }
        }
        Ok(())
    }
}

impl OnEvent for Spec {
    fn on_event<'a>(&'a self, ctx: &'a Ctx, n: &'a Notification) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.handle(ctx, &n.id, Some(n), None))
    }
}

impl Kind for Spec {
    fn notification_types(&self) -> Vec<NotificationType> {
        self.on.clone()
    }

    fn schedule(&self) -> Option<(&str, &str)> {
        self.schedule.as_deref().map(|s| (s, self.timezone.as_str()))
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        self.program.resolve(base);
        self.base = base.to_path_buf();
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(async move {
            let events = async {
                if self.on.is_empty() {
                    ctx.cancel.cancelled().await;
                    return Ok(());
                }
                ctx.for_each_event(self).await
            };
            let scheduled = async {
                let Some(expr) = &self.schedule else {
                    ctx.cancel.cancelled().await;
                    return Ok(());
                };
                let schedule = Schedule::parse(expr, &self.timezone)?;
                crate::behaviors::engine::schedule::drive(ctx, &schedule, CatchUp::Skip, None::<Duration>, |at| {
                    Box::pin(async move { self.handle(ctx, &format!("at:{}", at.timestamp_millis()), None, Some(at)).await })
                })
                .await
            };
            tokio::try_join!(events, scheduled).map(|_| ())
        })
    }
}
