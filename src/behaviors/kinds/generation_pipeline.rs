//! `generation_pipeline`: on a schedule, starts an AI media generation whose
//! completion the platform turns into a post; polls it, retries failures,
//! and keeps jobs in flight in sled so a restart picks them up again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::behaviors::engine::content::TextFor;
use crate::behaviors::engine::content::{Content, ListPosition};
use crate::behaviors::engine::schedule::Schedule;
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found, Outcome};
use crate::store::now_ms;
use crate::wire::limits::{MAX_CONCURRENT_GENERATIONS, MAX_GENERATION_RETRIES, PROMPT_MAX_CHARS};
use crate::wire::types::{GenerateRequest, GenerationStatus, GenerationType, Provider};

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        pub schedule: String,
        #[serde(default = "crate::behaviors::utc")]
        pub timezone: String,
        pub provider: Provider,
        #[serde(rename = "type")]
        pub generation_type: GenerationType,
        pub prompt: Content,
        /// The text of the post created when the job completes.
        #[serde(default)]
        pub caption: Option<Content>,
        #[serde(default)]
        pub model: Option<String>,
        #[serde(default)]
        pub params: Option<serde_json::Value>,
        #[serde(default = "five_s", with = "humantime_serde")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub poll_every: Duration,
        #[serde(default = "three")]
        #[schemars(range(max = 3))]
        pub max_retries: u32,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("generation_pipeline");

fn five_s() -> Duration {
    Duration::from_secs(5)
}
fn three() -> u32 {
    MAX_GENERATION_RETRIES
}

/// A job this behavior started and has not seen finish.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InFlight {
    retries: u32,
    started_ms: i64,
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        crate::behaviors::check_schedule(c, &self.schedule, &self.timezone);
        crate::behaviors::check_content(c, "prompt", &self.prompt);
        if let Some(cap) = &self.caption {
            crate::behaviors::check_content(c, "caption", cap);
        }
        crate::behaviors::engine::jobs::check_provider(c, "provider", "type", &self.provider, &self.generation_type);
        if self.max_retries > MAX_GENERATION_RETRIES {
            c.problem("max_retries", format!("the platform allows at most {MAX_GENERATION_RETRIES} retries"));
        }
        if self.poll_every < Duration::from_secs(1) {
            c.problem("poll_every", "must be at least 1s");
        }
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let schedule = Schedule::parse(&self.schedule, &self.timezone)?;
        crate::behaviors::engine::jobs::check_on_platform(
            ctx,
            &self.provider,
            &self.generation_type,
            self.model.as_deref(),
            self.params.as_ref(),
        )
        .await?;
        if let Some(pending) = ctx.store().get::<i64>(&ctx.behavior, "pending_fire")? {
            if let Some(at) = DateTime::from_timestamp_millis(pending) {
                if !ctx.round(|| self.fire(ctx, at)).await? {
                    return Ok(());
                }
            }
        }
        // A transient failure of a fire or a poll costs a pause and the same
        // work again (intents checked first), not a restart of the behavior.
        let mut after = ctx.now();
        loop {
            let Some(next) = schedule.next_after(after) else {
                while ctx.sleep(self.poll_every).await {
                    if !ctx.round(|| self.poll(ctx)).await? {
                        return Ok(());
                    }
                }
                return Ok(());
            };
            while ctx.now() < next {
                if !ctx.round(|| self.poll(ctx)).await? {
                    return Ok(());
                }
                let left = (next - ctx.now()).to_std().unwrap_or_default();
                if !ctx.sleep(left.min(self.poll_every)).await {
                    return Ok(());
                }
            }
            if !ctx.round(|| self.fire(ctx, next)).await? {
                return Ok(());
            }
            after = next;
        }
    }

    fn in_flight(&self, ctx: &Ctx) -> Result<Vec<(String, InFlight)>, BehaviorError> {
        Ok(ctx
            .store()
            .scan::<InFlight>(&ctx.behavior, "job:")?
            .into_iter()
            .map(|(k, v)| (k.trim_start_matches("job:").to_string(), v))
            .collect())
    }

    async fn fire(&self, ctx: &Ctx, at: DateTime<Utc>) -> Result<(), BehaviorError> {
        let store = ctx.store();
        store.put(&ctx.behavior, "pending_fire", &at.timestamp_millis())?;
        let key = format!("gen:{}", at.timestamp_millis());
        // Never more than the platform's concurrent jobs: wait for a slot.
        while ctx.progress(&key)?.is_new() && self.in_flight(ctx)?.len() >= MAX_CONCURRENT_GENERATIONS {
            tracing::info!("{MAX_CONCURRENT_GENERATIONS} jobs in flight; waiting for one to finish");
            if !ctx.sleep(self.poll_every).await {
                return Ok(());
            }
            self.poll(ctx).await?;
        }
        let (prompt, caption) = match ctx.progress(&key)?.record().cloned() {
            Some(r) => (
                r.detail.get("prompt").and_then(Value::as_str).unwrap_or_default().to_string(),
                r.detail.get("content").and_then(Value::as_str).map(str::to_string),
            ),
            None => match self.compose(ctx, at).await? {
                Some(x) => x,
                None => {
                    tracing::warn!("no prompt could be written for this run; skipping it");
                    store.remove(&ctx.behavior, "pending_fire")?;
                    return Ok(());
                }
            },
        };
        let req = GenerateRequest {
            provider: self.provider.clone(),
            prompt: prompt.clone(),
            generation_type: self.generation_type.clone(),
            content: caption.clone(),
            model: self.model.clone(),
            params: self.params.clone(),
        };
        let session = ctx.session().clone();
        let outcome = ctx
            .once(
                &key,
                "generate",
                json!({"prompt": prompt, "content": caption, "at": at.to_rfc3339()}),
                || async move { session.generate(&req).await.map(|s| Some(s.job_id)) },
                |d| async move {
                    let want = d.get("prompt").and_then(Value::as_str).unwrap_or_default().to_string();
                    // Every page: the reference promises no order for the history.
                    let history = ctx.session().generation_history().limit(50).stream();
                    Ok(Found::created(crate::behaviors::engine::actions::first(history, |j| j.prompt == want).await?.map(|j| j.id)))
                },
            )
            .await?;
        let job = match outcome {
            Outcome::Sent(id) => id,
            Outcome::AlreadyDone => ctx.progress(&key)?.result(),
            Outcome::DryRun | Outcome::Refused(_) | Outcome::Drafted(_) => None,
        };
        if let Some(job) = job.filter(|j| !j.is_empty()) {
            if store.get::<bool>(&ctx.behavior, &format!("finished:{job}"))?.is_none() {
                tracing::info!(job = %job, "generation started");
                store.put(&ctx.behavior, &format!("job:{job}"), &InFlight { retries: 0, started_ms: now_ms() })?;
                ctx.agent.metrics.generation(&ctx.behavior, "started");
            }
        }
        store.remove(&ctx.behavior, "pending_fire")?;
        store.flush().await?;
        Ok(())
    }

    async fn compose(&self, ctx: &Ctx, at: DateTime<Utc>) -> Result<Option<(String, Option<String>)>, BehaviorError> {
        let store = ctx.store();
        let counter: u64 = store.get(&ctx.behavior, "counter")?.unwrap_or(0) + 1;
        store.put(&ctx.behavior, "counter", &counter)?;
        let tz: chrono_tz::Tz = self.timezone.parse().unwrap_or(chrono_tz::UTC);
        let local = at.with_timezone(&tz);
        let vars = json!({
            "handle": ctx.agent.handle, "counter": counter,
            "date": local.format("%Y-%m-%d").to_string(), "weekday": local.format("%A").to_string(), "time": local.format("%H:%M").to_string(),
        });
        let mut pos: ListPosition = store.get(&ctx.behavior, "prompt_list")?.unwrap_or_default();
        let prompt = ctx.write(&self.prompt, &vars, &mut pos, counter, TextFor { max_chars: PROMPT_MAX_CHARS, ..TextFor::post(0) }).await?;
        store.put(&ctx.behavior, "prompt_list", &pos)?;
        let Some(prompt) = prompt else { return Ok(None) };
        let caption = match &self.caption {
            Some(c) => {
                let mut pos: ListPosition = store.get(&ctx.behavior, "caption_list")?.unwrap_or_default();
                let t = ctx.write(c, &vars, &mut pos, counter, TextFor::post(3)).await?;
                store.put(&ctx.behavior, "caption_list", &pos)?;
                t
            }
            None => None,
        };
        Ok(Some((prompt, caption)))
    }

    /// Checks jobs in flight: completed ones are done, failed ones retried up to the limit.
    async fn poll(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let jobs = self.in_flight(ctx)?;
        if jobs.is_empty() {
            return Ok(());
        }
        let store = ctx.store();
        let pending = ctx.session().pending_jobs().await?;
        let mut history = None;
        for (id, mut st) in jobs {
            let status = match pending.iter().find(|j| j.id == id) {
                Some(j) => j.status.clone(),
                None => {
                    if history.is_none() {
                        history = Some(ctx.session().generation_history().limit(100).page().await?.items);
                    }
                    history.as_ref().and_then(|h| h.iter().find(|j| j.id == id)).and_then(|j| j.status.clone())
                }
            };
            match status {
                Some(GenerationStatus::Completed) => {
                    tracing::info!(job = %id, "generation completed; the platform posted it");
                    self.finish(ctx, &id, "completed").await?;
                }
                Some(GenerationStatus::Failed) if st.retries < self.max_retries => {
                    st.retries += 1;
                    let session = ctx.session().clone();
                    let jid = id.clone();
                    let out = ctx
                        .once(
                            &format!("retry:{id}:{}", st.retries),
                            "retry_generation",
                            json!({"job": id, "retry": st.retries}),
                            || async move { session.retry_generation(&jid).await.map(|_| None) },
                            |_| async { Ok(Found::Missing) },
                        )
                        .await?;
                    if let Outcome::Refused(e) = out {
                        tracing::warn!(job = %id, error = %e, "retry refused; giving up on this job");
                        self.finish(ctx, &id, "failed").await?;
                    } else {
                        tracing::info!(job = %id, retry = st.retries, "generation failed; retrying");
                        store.put(&ctx.behavior, &format!("job:{id}"), &st)?;
                    }
                }
                Some(GenerationStatus::Failed) => {
                    tracing::warn!(job = %id, "generation failed after {} retries", st.retries);
                    self.finish(ctx, &id, "failed").await?;
                }
                Some(_) => {}
                None if now_ms() - st.started_ms > 15 * 60 * 1000 => {
                    tracing::warn!(job = %id, "job no longer visible on the platform; forgetting it");
                    self.finish(ctx, &id, "lost").await?;
                }
                None => {}
            }
        }
        Ok(())
    }

    async fn finish(&self, ctx: &Ctx, id: &str, how: &str) -> Result<(), BehaviorError> {
        let store = ctx.store();
        store.remove(&ctx.behavior, &format!("job:{id}"))?;
        store.put(&ctx.behavior, &format!("finished:{id}"), &true)?;
        store.flush().await?;
        ctx.agent.metrics.generation(&ctx.behavior, how);
        Ok(())
    }
}

impl Kind for Spec {
    fn contents(&self) -> Vec<&Content> {
        std::iter::once(&self.prompt).chain(self.caption.iter()).collect()
    }

    fn schedule(&self) -> Option<(&str, &str)> {
        Some((&self.schedule, &self.timezone))
    }

    fn providers(&self) -> Vec<(&'static str, Provider)> {
        vec![("provider", self.provider.clone())]
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
