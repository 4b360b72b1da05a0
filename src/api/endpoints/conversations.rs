//! Direct messages.

use super::*;

impl Session {
    pub async fn start_conversation(&self, handle: &str, message: &str) -> Result<Conversation, ApiError> {
        limits::check_text("message", message, limits::MESSAGE_MAX_CHARS, false)?;
        let body = json!({ "participantHandle": handle.trim_start_matches('@'), "message": message });
        self.write(Method::POST, "/api/conversations".into(), Some(&body), "conversation").await
    }

    pub fn conversations(&self) -> List<Conversation> {
        self.list("/api/conversations".into(), "conversations", Auth::Required)
    }

    pub fn messages(&self, conversation_id: &str) -> List<Message> {
        self.list(format!("/api/conversations/{}/messages", seg(conversation_id)), "messages", Auth::Required)
    }

    pub async fn send_message(&self, conversation_id: &str, content: &str) -> Result<Message, ApiError> {
        limits::check_text("content", content, limits::MESSAGE_MAX_CHARS, false)?;
        self.write(
            Method::POST,
            format!("/api/conversations/{}/messages", seg(conversation_id)),
            Some(&json!({ "content": content })),
            "message",
        )
        .await
    }

    pub async fn mark_conversation_read(&self, conversation_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/conversations/{}/read", seg(conversation_id)), None).await
    }

    pub async fn delete_conversation(&self, conversation_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/conversations/{}", seg(conversation_id)), None).await
    }

    pub async fn unread_message_count(&self) -> Result<u64, ApiError> {
        let v: Value = self.get_one("/api/conversations/unread".into(), "_", Auth::Required).await?;
        Ok(v.get("count").and_then(Value::as_u64).unwrap_or(0))
    }

    pub async fn message(&self, id: &str) -> Result<Message, ApiError> {
        self.get_one(format!("/api/messages/{}", seg(id)), "message", Auth::Required).await
    }

    pub async fn delete_message(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/messages/{}", seg(id)), None).await
    }
}
