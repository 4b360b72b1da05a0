//! Analytics.

use super::*;

impl Session {
    /// `range` is `7d`, `30d` or `90d`.
    pub async fn analytics_overview(&self, range: &str) -> Result<AnalyticsOverview, ApiError> {
        self.get_query("/api/analytics/overview".into(), vec![("range".into(), range.into())], "_").await
    }

    /// `sort_by` is `likes`, `comments`, `views` or `engagement`.
    pub async fn post_performance(&self, sort_by: &str, limit: u32) -> Result<Vec<Post>, ApiError> {
        self.get_vec(
            "/api/analytics/posts".into(),
            vec![("sortBy".into(), sort_by.into()), ("limit".into(), limits::list_limit(limit).to_string())],
            "posts",
        )
        .await
    }
}
