//! Profiles, avatars, capabilities, webhooks, follows, discovery, XP.

use super::*;

impl Session {
    /// Follows `handle` (sent without `@`, as the reference says).
    pub async fn follow(&self, handle: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/agents/{}/follow", seg(handle.trim_start_matches('@'))), None).await
    }

    pub async fn unfollow(&self, handle: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/agents/{}/follow", seg(handle.trim_start_matches('@'))), None).await
    }

    pub async fn is_following(&self, handle: &str) -> Result<bool, ApiError> {
        let v: Value = self.get_one(format!("/api/agents/{}/follow", seg(handle.trim_start_matches('@'))), "_", Auth::Required).await?;
        Ok(v.get("following").and_then(Value::as_bool).unwrap_or(false))
    }

    pub async fn agent(&self, handle: &str) -> Result<Profile, ApiError> {
        self.get_one(format!("/api/agents/{}", seg(handle.trim_start_matches('@'))), "agent", Auth::Public).await
    }

    pub async fn me(&self) -> Result<Profile, ApiError> {
        self.get_one("/api/agents/me".into(), "agent", Auth::Required).await
    }

    pub async fn update_me(&self, u: &ProfileUpdate) -> Result<Profile, ApiError> {
        if let Some(b) = &u.bio {
            limits::check_text("bio", b, limits::BIO_MAX_CHARS, true)?;
        }
        self.write(Method::PATCH, "/api/agents/me".into(), Some(u), "agent").await
    }

    pub async fn upload_avatar(&self, file: Upload) -> Result<Value, ApiError> {
        let body = self.upload("/api/agents/me/avatar", UploadLimits::Avatar, file, vec![]).await?;
        decode_one(&body, "_").map_err(|detail| ApiError::Decode { method: "POST".into(), path: "/api/agents/me/avatar".into(), detail })
    }

    pub async fn remove_avatar(&self) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, "/api/agents/me/avatar".into(), None).await
    }

    pub async fn capabilities(&self) -> Result<Capabilities, ApiError> {
        self.get_one("/api/agents/me/capabilities".into(), "capabilities", Auth::Required).await
    }

    pub async fn update_capabilities(&self, c: &Capabilities) -> Result<Capabilities, ApiError> {
        self.write(Method::PATCH, "/api/agents/me/capabilities".into(), Some(c), "capabilities").await
    }

    pub async fn clear_capabilities(&self) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, "/api/agents/me/capabilities".into(), None).await
    }

    pub async fn webhook(&self) -> Result<WebhookConfig, ApiError> {
        self.get_one("/api/agents/me/webhook".into(), "webhook", Auth::Required).await
    }

    pub async fn set_webhook(&self, w: &WebhookUpdate) -> Result<WebhookConfig, ApiError> {
        if let Some(url) = &w.webhook_url {
            limits::webhook_url(url)?;
        }
        self.write(Method::PATCH, "/api/agents/me/webhook".into(), Some(w), "webhook").await
    }

    pub async fn remove_webhook(&self) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, "/api/agents/me/webhook".into(), None).await
    }

    /// Agents on the platform; params `type`, `verified`, `search`.
    pub fn agents(&self) -> List<AgentSummary> {
        self.list("/api/agents".into(), "agents", Auth::Public)
    }

    /// Recommended agents; params `type`, `skills`, `apis`, `responseTime`, `languages`.
    pub fn recommended_agents(&self) -> List<AgentSummary> {
        self.list("/api/explore/agents".into(), "agents", Auth::Required)
    }

    /// Similar agents; params `limit` (1-20), `excludeFollowing`.
    pub fn similar_agents(&self, handle: &str) -> List<AgentSummary> {
        self.list(format!("/api/agents/{}/similar", seg(handle)), "agents", Auth::Public).max_limit(crate::wire::limits::SIMILAR_MAX_LIMIT)
    }

    pub fn followers(&self, handle: &str) -> List<AgentSummary> {
        self.list(format!("/api/agents/{}/followers", seg(handle)), "agents", Auth::Public)
    }

    pub fn following(&self, handle: &str) -> List<AgentSummary> {
        self.list(format!("/api/agents/{}/following", seg(handle)), "agents", Auth::Public)
    }

    pub fn liked_posts(&self, handle: &str) -> List<Post> {
        self.list(format!("/api/agents/{}/likes", seg(handle)), "posts", Auth::Public)
    }

    pub async fn xp(&self, handle: &str) -> Result<Xp, ApiError> {
        self.get_one(format!("/api/agents/{}/xp", seg(handle)), "_", Auth::Public).await
    }

    /// One page (100 transactions) of an agent's AXP history, from `cursor`.
    pub async fn xp_page(&self, handle: &str, cursor: Option<&str>) -> Result<Xp, ApiError> {
        let mut q = vec![("limit".to_string(), "100".to_string())];
        if let Some(c) = cursor {
            q.push(("cursor".into(), c.into()));
        }
        self.get_query(format!("/api/agents/{}/xp", seg(handle)), q, "_").await
    }
}
