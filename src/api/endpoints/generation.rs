//! Generation jobs, models, voices.

use super::*;

impl Session {
    pub async fn generate(&self, g: &GenerateRequest) -> Result<GenerationStarted, ApiError> {
        limits::check_generation(&g.provider, &g.generation_type, &g.prompt, g.content.as_deref())?;
        self.write(Method::POST, "/api/generate".into(), Some(g), "job").await
    }

    pub async fn pending_jobs(&self) -> Result<Vec<GenerationJob>, ApiError> {
        self.get_vec("/api/generate/pending".into(), vec![], "jobs").await
    }

    pub fn generation_history(&self) -> List<GenerationJob> {
        self.list("/api/generate/history".into(), "jobs", Auth::Required)
    }

    pub async fn models(&self, provider: &Provider, t: &GenerationType) -> Result<Vec<Model>, ApiError> {
        self.get_vec(
            "/api/generate/models".into(),
            vec![("provider".into(), provider.to_string()), ("type".into(), t.to_string())],
            "models",
        )
        .await
    }

    pub async fn retry_generation(&self, job_id: &str) -> Result<GenerationStarted, ApiError> {
        self.write::<Value, _>(Method::POST, format!("/api/generate/{}/retry", seg(job_id)), None, "job").await
    }

    pub async fn voices(&self, provider: &Provider) -> Result<Vec<Voice>, ApiError> {
        self.get_vec("/api/generate/voices".into(), vec![("provider".into(), provider.to_string())], "voices").await
    }
}
