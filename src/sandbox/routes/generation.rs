//! Generation jobs: start, pending, history, retry, models, voices.

use super::*;

pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/generate", post(generate))
        .route("/api/generate/pending", get(pending_jobs))
        .route("/api/generate/history", get(job_history))
        .route("/api/generate/models", get(models))
        .route("/api/generate/voices", get(voices))
        .route("/api/generate/{id}/retry", post(retry_job))
}

async fn generate(State(app): AppState, Me(me): Me, body: Bytes) -> Reply {
    let g: GenerateRequest = parse(&body)?;
    limits::check_generation(&g.provider, &g.generation_type, &g.prompt, g.content.as_deref())
        .map_err(|e| bad("invalid_request", e.to_string()))?;
    let mut w = app.world();
    let active = w.connected.get(&me).and_then(|m| m.get(g.provider.as_str())).is_some_and(|r| r.1);
    if !active {
        return Err(bad("service_not_connected", format!("connect a {} API key first (POST /api/settings/services)", g.provider)));
    }
    let running = w.jobs_of(&me).filter(|j| !j.status.as_ref().is_some_and(GenerationStatus::is_terminal)).count();
    if running >= limits::MAX_CONCURRENT_GENERATIONS {
        return Err(Refusal(409, "too_many_jobs", format!("at most {} concurrent generation jobs", limits::MAX_CONCURRENT_GENERATIONS)));
    }
    let will_fail = app.cfg.generation_fail_rate > 0.0 && w.rng.random::<f64>() < app.cfg.generation_fail_rate;
    let seq = w.next_seq();
    let now = now_ms();
    w.insert_job(JobRec {
        seq,
        agent: me,
        provider: Some(g.provider),
        kind: Some(g.generation_type),
        prompt: g.prompt,
        model: g.model,
        content: g.content,
        status: Some(GenerationStatus::Pending),
        started_ms: now,
        created_ms: now,
        will_fail,
        ..Default::default()
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "jobId": format!("job_{seq}"), "status": "pending" }))).into_response())
}

async fn pending_jobs(State(app): AppState, Me(me): Me) -> Reply {
    let w = app.world();
    let jobs: Vec<GenerationJob> =
        w.jobs_of(&me).rev().filter(|j| j.status != Some(GenerationStatus::Completed)).map(|j| w.render_job(j)).collect();
    ok(json!({ "jobs": jobs }))
}

async fn job_history(State(app): AppState, Me(me): Me, q: Params) -> Reply {
    let w = app.world();
    indexed(&w, w.jobs_of.get(&me), &w.jobs, &q, "jobs", |_| true, |w, j| val(w.render_job(j)))
}

pub(super) async fn models(State(app): AppState, Me(_me): Me, q: Params) -> Reply {
    let _ = app;
    let p = Provider::from(q.get("provider").map(String::as_str).unwrap_or("OPENAI"));
    let t = GenerationType::from(q.get("type").map(String::as_str).unwrap_or("image"));
    if !p.supports(&t) {
        return ok(json!({ "models": [] }));
    }
    let base = format!("{}-{}", p.as_str().to_lowercase(), t);
    ok(json!({ "models": [
        Model { id: format!("{base}-standard"), name: format!("{p} {t} (sandbox standard)"), is_default: true },
        Model { id: format!("{base}-fast"), name: format!("{p} {t} (sandbox fast)"), is_default: false },
    ]}))
}

async fn voices(Me(_me): Me, q: Params) -> Reply {
    if q.get("provider").map(String::as_str).unwrap_or("ELEVENLABS") != "ELEVENLABS" {
        return ok(json!({ "voices": [] }));
    }
    let v = |id: &str, name: &str, gender: &str| Voice {
        voice_id: id.into(),
        name: name.into(),
        category: Some("premade".into()),
        gender: Some(gender.into()),
        age: Some("young".into()),
        accent: Some("american".into()),
        use_case: Some("narration".into()),
        preview_url: None,
    };
    ok(
        json!({ "voices": [v("EXAVITQu4vr4xnSDxMaL", "Sarah", "female"), v("21m00Tcm4TlvDq8ikWAM", "Rachel", "female"), v("TxGEqnHWrfWFTfGW9XjX", "Josh", "male")] }),
    )
}

async fn retry_job(State(app): AppState, Me(me): Me, Path(id): Path<String>) -> Reply {
    let mut w = app.world();
    let seq = seq_of(&id).filter(|_| id.starts_with("job_")).filter(|s| w.jobs.contains_key(s)).ok_or_else(|| not_found("job"))?;
    let fail_rate = app.cfg.generation_fail_rate;
    let will_fail = fail_rate > 0.0 && w.rng.random::<f64>() < fail_rate;
    let j = w.jobs.get_mut(&seq).ok_or_else(|| not_found("job"))?;
    if j.agent != me {
        return Err(forbidden("not your job"));
    }
    if j.status != Some(GenerationStatus::Failed) {
        return Err(bad("not_failed", "only failed jobs can be retried"));
    }
    if j.retry_count >= limits::MAX_GENERATION_RETRIES {
        return Err(bad("retry_limit", "this job was retried 3 times; start a new generation"));
    }
    j.retry_count += 1;
    let retry_count = j.retry_count;
    j.status = Some(GenerationStatus::Pending);
    j.error = None;
    j.started_ms = now_ms();
    j.created_ms = now_ms();
    j.will_fail = will_fail;
    w.active_jobs.insert(seq);
    ok(json!({ "jobId": format!("job_{seq}"), "status": "pending", "retryCount": retry_count }))
}
