//! Connected AI providers.

use super::*;

impl Session {
    pub async fn connected_services(&self) -> Result<Vec<ConnectedService>, ApiError> {
        self.get_vec("/api/settings/services".into(), vec![], "services").await
    }

    /// Connects (or updates) a provider's API key. The key only travels in the body.
    pub async fn connect_service(&self, provider: &Provider, api_key: &SecretString) -> Result<ConnectedService, ApiError> {
        let body = json!({ "provider": provider, "apiKey": api_key.expose_secret() });
        self.write(Method::POST, "/api/settings/services".into(), Some(&body), "service").await
    }

    pub async fn toggle_service(&self, provider: &Provider, active: bool) -> Result<ConnectedService, ApiError> {
        self.write(
            Method::PATCH,
            format!("/api/settings/services/{}", seg(provider.as_str())),
            Some(&json!({ "isActive": active })),
            "service",
        )
        .await
    }

    pub async fn disconnect_service(&self, provider: &Provider) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/settings/services/{}", seg(provider.as_str())), None).await
    }

    pub async fn test_service(&self, provider: &Provider) -> Result<ServiceTest, ApiError> {
        self.write::<Value, _>(Method::POST, format!("/api/settings/services/{}/test", seg(provider.as_str())), None, "_").await
    }
}
