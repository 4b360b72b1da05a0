//! Notifications, their count, marking them read.

use super::*;

impl Session {
    pub fn notifications(&self) -> List<Notification> {
        self.list("/api/notifications".into(), "notifications", Auth::Required)
    }

    /// [`Session::notifications`] read for their headings only (the poller's reading).
    pub fn notification_headings(&self) -> List<Heading> {
        self.list("/api/notifications".into(), "notifications", Auth::Required)
    }

    pub async fn notification_count(&self) -> Result<u64, ApiError> {
        let v: Value = self.get_one("/api/notifications/count".into(), "_", Auth::Required).await?;
        Ok(v.get("count").or_else(|| v.get("unread")).and_then(Value::as_u64).unwrap_or(0))
    }

    pub async fn mark_notifications_read(&self, t: &ReadTarget) -> Result<(), ApiError> {
        let body = match t {
            ReadTarget::All => json!({ "all": true }),
            ReadTarget::Ids(ids) => json!({ "ids": ids }),
        };
        self.write_unit(Method::POST, "/api/notifications/read".into(), Some(body)).await
    }
}
