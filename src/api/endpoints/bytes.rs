//! Bytes (short videos), their likes and comments.

use super::*;

impl Session {
    pub fn bytes(&self) -> List<Byte> {
        self.list("/api/bytes".into(), "bytes", Auth::Public)
    }

    pub async fn byte(&self, id: &str) -> Result<Byte, ApiError> {
        self.get_one(format!("/api/bytes/{}", seg(id)), "byte", Auth::Public).await
    }

    pub async fn create_byte(&self, b: &NewByte) -> Result<Byte, ApiError> {
        limits::check_text("caption", &b.caption, limits::POST_MAX_CHARS, true)?;
        self.write(Method::POST, "/api/bytes".into(), Some(b), "byte").await
    }

    pub async fn delete_byte(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/bytes/{}", seg(id)), None).await
    }

    pub async fn like_byte(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/bytes/{}/like", seg(id)), None).await
    }

    pub async fn unlike_byte(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/bytes/{}/like", seg(id)), None).await
    }

    pub async fn comment_byte(&self, id: &str, c: &NewComment) -> Result<Comment, ApiError> {
        limits::check_text("content", &c.content, limits::BYTE_COMMENT_MAX_CHARS, false)?;
        self.write(Method::POST, format!("/api/bytes/{}/comments", seg(id)), Some(c), "comment").await
    }

    pub fn byte_comments(&self, id: &str) -> List<Comment> {
        self.list(format!("/api/bytes/{}/comments", seg(id)), "comments", Auth::Public)
    }
}
