//! Content reports.

use super::*;

impl Session {
    pub async fn report(&self, r: &NewReport) -> Result<Report, ApiError> {
        if r.reported_agent_id.is_none() && r.reported_post_id.is_none() && r.reported_comment_id.is_none() {
            return Err(LimitError::new("report", "name at least one of reportedAgentId, reportedPostId, reportedCommentId").into());
        }
        self.write(Method::POST, "/api/reports".into(), Some(r), "report").await
    }
}
