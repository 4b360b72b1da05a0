//! Generation jobs as a step of other work (a marketplace deliverable): a job
//! is started at most once per key (its prompt kept with the intent, so after
//! a crash the platform's history is searched for it before it is started
//! again), never as a fourth concurrent job (the platform's pending list is
//! read first), and its state is looked up in the pending list, then in the
//! whole history (paged, newest first, until found). A failed job is retried
//! up to the platform's limit, each retry once.

use serde::Deserialize;
use serde_json::{json, Value};

use super::content::{Content, TextFor};
use super::ctx::Ctx;
use super::effects::{Outcome, Progress};
use super::error::BehaviorError;
use super::recovery::Found;
use crate::diagnostics::Check;
use crate::store::ActionState;
use crate::wire::limits::{MAX_CONCURRENT_GENERATIONS, MAX_GENERATION_RETRIES, PROMPT_MAX_CHARS};
use crate::wire::types::{GenerateRequest, GenerationJob, GenerationStatus, GenerationType, Provider};

/// A job to run for each piece of work.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    pub provider: Provider,
    #[serde(rename = "type")]
    pub generation_type: GenerationType,
    /// What to generate; the same variables as the text it is part of.
    pub prompt: Content,
    /// The text of the post the platform creates when the job completes.
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub params: Option<Value>,
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// Not finished yet (or no slot for it yet): look again later.
    Waiting,
    /// Completed: the URL of the result.
    Ready(String),
    /// Failed for good (after its retries), or refused: why.
    Failed(String),
}

/// A job not seen on the platform for this long is given up.
const LOST_AFTER_MS: i64 = 15 * 60 * 1000;

/// Problems with a provider and type pair, under `at_provider` and `at_type`.
pub fn check_provider(c: &mut Check<'_>, at_provider: &str, at_type: &str, provider: &Provider, t: &GenerationType) {
    if let Provider::Other(p) = provider {
        c.problem(at_provider, format!("unknown provider {p}; expected one of OPENAI, RUNWARE, FAL_AI, GOOGLE_GEMINI, ELEVENLABS"));
    } else if let GenerationType::Other(x) = t {
        c.problem(at_type, format!("unknown type {x}; expected image, video, voice, sound_effect or music"));
    } else if !provider.supports(t) {
        c.problem(at_type, format!("{provider} does not generate {t}"));
    }
}

/// At a behavior's start: the model and the voice (`params.voice_id`) it
/// names are among the platform's for its provider and type; an error
/// naming the ones there are otherwise (the behavior does not start).
pub async fn check_on_platform(
    ctx: &Ctx,
    provider: &Provider,
    t: &GenerationType,
    model: Option<&str>,
    params: Option<&Value>,
) -> Result<(), BehaviorError> {
    let bad = |what: &str, name: &str, there: Vec<String>| {
        let msg = format!("{what} {name:?} is not one of the platform's for {provider} {t}: {}", there.join(", "));
        Err(BehaviorError::new(super::error::ErrorKind::Content, msg))
    };
    if let Some(m) = model {
        let models = ctx.session().models(provider, t).await?;
        if !models.iter().any(|x| x.id == m) {
            return bad("the model", m, models.into_iter().map(|x| x.id).collect());
        }
    }
    let voice = params.and_then(|p| p.get("voice_id").or_else(|| p.get("voiceId"))).and_then(Value::as_str);
    if let Some(v) = voice {
        let voices = ctx.session().voices(provider).await?;
        if !voices.iter().any(|x| x.voice_id == v) {
            return bad("the voice", v, voices.into_iter().map(|x| format!("{} ({})", x.voice_id, x.name)).collect());
        }
    }
    Ok(())
}

impl Generate {
    /// See [`check_on_platform`].
    pub async fn check_on_platform(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        check_on_platform(ctx, &self.provider, &self.generation_type, self.model.as_deref(), self.params.as_ref()).await
    }

    pub fn check(&self, c: &mut Check<'_>, at: &str) {
        check_provider(c, &format!("{at}.provider"), &format!("{at}.type"), &self.provider, &self.generation_type);
        super::content::check_content(c, &format!("{at}.prompt"), &self.prompt);
    }

    /// Starts the job under `key` (once), or looks at the one started under it.
    pub async fn produce(&self, ctx: &Ctx, key: &str, vars: &Value) -> Result<Job, BehaviorError> {
        let progress = ctx.progress(key)?;
        let id = match &progress {
            Progress::Settled(r) if r.state == ActionState::Done => r.result.clone(),
            Progress::Settled(r) => return Ok(Job::Failed(r.result.clone().unwrap_or_else(|| "the platform refused the job".into()))),
            _ => {
                if progress.is_new() {
                    let running = ctx.session().pending_jobs().await?.iter().filter(|j| !is_over(j)).count();
                    if running >= MAX_CONCURRENT_GENERATIONS {
                        tracing::info!(key, "{MAX_CONCURRENT_GENERATIONS} generation jobs in flight; this one waits for a slot");
                        return Ok(Job::Waiting);
                    }
                }
                // The prompt of one order's work: never judged a repeat of other orders'.
                let shape = TextFor { max_chars: PROMPT_MAX_CHARS, repeat_check: false, ..TextFor::post(0) };
                let Some(prompt) = ctx.compose(key, &self.prompt, vars, "generation_prompt_list", shape).await? else {
                    return Ok(Job::Failed("no prompt could be written".into()));
                };
                let req = GenerateRequest {
                    provider: self.provider.clone(),
                    prompt: prompt.clone(),
                    generation_type: self.generation_type.clone(),
                    content: self.caption.clone(),
                    model: self.model.clone(),
                    params: self.params.clone(),
                };
                let session = ctx.session().clone();
                let out = ctx
                    .once(
                        key,
                        "generate",
                        json!({"content": prompt, "prompt": prompt}),
                        || async move { session.generate(&req).await.map(|s| Some(s.job_id)) },
                        |d| async move {
                            let want = d.get("prompt").and_then(Value::as_str).unwrap_or_default().to_string();
                            Ok(Found::created(find(ctx, |j| j.prompt == want).await?.map(|j| j.id)))
                        },
                    )
                    .await?;
                match out {
                    Outcome::Sent(id) => id,
                    Outcome::AlreadyDone => ctx.progress(key)?.result(),
                    Outcome::Refused(why) => return Ok(Job::Failed(why)),
                    Outcome::DryRun | Outcome::Drafted(_) => return Ok(Job::Failed("dry run: no job started".into())),
                }
            }
        };
        let Some(id) = id.filter(|i| !i.is_empty()) else {
            return Ok(Job::Failed("the platform gave no job id".into()));
        };
        let Some(job) = find(ctx, |j| j.id == id).await? else {
            let since = progress.record().map(|r| r.at_ms).unwrap_or_else(|| ctx.now().timestamp_millis());
            if ctx.now().timestamp_millis() - since > LOST_AFTER_MS {
                return Ok(Job::Failed(format!("job {id} is no longer visible on the platform")));
            }
            return Ok(Job::Waiting);
        };
        match job.status {
            Some(GenerationStatus::Completed) => Ok(match job.result_url {
                Some(url) => {
                    tracing::info!(job = %id, url = %url, "generation completed");
                    Job::Ready(url)
                }
                None => Job::Failed(format!("job {id} completed without a result URL")),
            }),
            Some(GenerationStatus::Failed) if job.retry_count < MAX_GENERATION_RETRIES => {
                let n = job.retry_count + 1;
                let (session, jid) = (ctx.session().clone(), id.clone());
                let out = ctx
                    .once(
                        &format!("{key}:retry:{n}"),
                        "retry_generation",
                        json!({"job": id, "retry": n}),
                        || async move { session.retry_generation(&jid).await.map(|_| None) },
                        |_| async { Ok(Found::Missing) },
                    )
                    .await?;
                if let Outcome::Refused(why) = out {
                    return Ok(Job::Failed(format!("job {id} failed and its retry was refused: {why}")));
                }
                tracing::info!(job = %id, retry = n, "generation failed; retrying");
                Ok(Job::Waiting)
            }
            Some(GenerationStatus::Failed) => {
                Ok(Job::Failed(format!("job {id} failed after {} retries: {}", job.retry_count, job.error_message.unwrap_or_default())))
            }
            _ => Ok(Job::Waiting),
        }
    }
}

fn is_over(j: &GenerationJob) -> bool {
    j.status.as_ref().is_some_and(GenerationStatus::is_terminal)
}

/// The first job matching `want`: in the pending list, else in the whole history.
pub async fn find(ctx: &Ctx, want: impl Fn(&GenerationJob) -> bool) -> Result<Option<GenerationJob>, crate::api::ApiError> {
    if let Some(j) = ctx.session().pending_jobs().await?.into_iter().find(&want) {
        return Ok(Some(j));
    }
    let mut list = ctx.session().generation_history().limit(100);
    loop {
        let page = list.page().await?;
        if let Some(j) = page.items.into_iter().find(&want) {
            return Ok(Some(j));
        }
        match page.next_cursor {
            Some(c) if page.has_more => list = list.cursor(c),
            _ => return Ok(None),
        }
    }
}
