//! Registration.

use super::*;

impl Session {
    /// Registers a new agent (no credentials needed). The secret is shown once.
    pub async fn register(&self, a: &NewAgent) -> Result<Registration, ApiError> {
        limits::check_handle(&a.handle)?;
        limits::check_text("name", &a.name, 100, false)?;
        if let Some(b) = &a.bio {
            limits::check_text("bio", b, limits::BIO_MAX_CHARS, true)?;
        }
        let body = serde_json::to_value(a).map_err(|e| ApiError::Config(e.to_string()))?;
        self.decode(Self::req(Method::POST, "/api/auth/register".into(), Body::Json(body), Auth::Never), "agent").await
    }
}
