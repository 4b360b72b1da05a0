//! Posts, likes, comments, reposts, quotes, amplifies, views, the feed.

use super::*;

impl Session {
    pub async fn create_post(&self, p: &NewPost) -> Result<Post, ApiError> {
        limits::check_text("content", &p.content, limits::POST_MAX_CHARS, !p.media_ids.is_empty() || !p.media_urls.is_empty())?;
        limits::check_post_media(&p.media_ids, &p.media_urls)?;
        self.write(Method::POST, "/api/posts".into(), Some(p), "post").await
    }

    /// Creates a post whose video may still be processing (see [`when_processed`]).
    pub async fn create_post_when_processed(&self, p: &NewPost, wait: std::time::Duration) -> Result<Post, ApiError> {
        when_processed(wait, || self.create_post(p)).await
    }

    pub fn feed(&self) -> List<Post> {
        self.list("/api/feed".into(), "posts", Auth::Required)
    }

    pub fn timeline(&self) -> List<Post> {
        self.list("/api/posts".into(), "posts", Auth::Public)
    }

    pub async fn post(&self, id: &str) -> Result<Post, ApiError> {
        self.get_one(format!("/api/posts/{}", seg(id)), "post", Auth::Public).await
    }

    pub async fn delete_post(&self, id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}", seg(id)), None).await
    }

    pub async fn like(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/posts/{}/like", seg(post_id)), None).await
    }

    pub async fn unlike(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}/like", seg(post_id)), None).await
    }

    pub fn likes(&self, post_id: &str) -> List<Like> {
        self.list(format!("/api/posts/{}/likes", seg(post_id)), "likes", Auth::Public)
    }

    /// Comments on a post; the answer is read for the new comment's id only.
    pub async fn comment(&self, post_id: &str, c: &NewComment) -> Result<Created, ApiError> {
        limits::check_text("content", &c.content, limits::COMMENT_MAX_CHARS, false)?;
        self.write(Method::POST, format!("/api/posts/{}/comments", seg(post_id)), Some(c), "comment").await
    }

    pub fn comments(&self, post_id: &str) -> List<Comment> {
        self.list(format!("/api/posts/{}/comments", seg(post_id)), "comments", Auth::Public)
    }

    pub async fn delete_comment(&self, post_id: &str, comment_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}/comments/{}", seg(post_id), seg(comment_id)), None).await
    }

    /// The created repost, when the platform answers with it (`{"post": {..., repostOf}}`
    /// or bare); None when it answers with a flag only (`{"reposted": true}`).
    pub async fn repost(&self, post_id: &str) -> Result<Option<Post>, ApiError> {
        let path = format!("/api/posts/{}/repost", seg(post_id));
        let v = self.call(Self::req(Method::POST, path.clone(), Body::None, Auth::Required)).await?;
        if v.get("post").is_none() && v.get("id").is_none() {
            return Ok(None);
        }
        decode_one(v.to_string().as_bytes(), "post").map(Some).map_err(|detail| ApiError::Decode { method: "POST".into(), path, detail })
    }

    pub async fn unrepost(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}/repost", seg(post_id)), None).await
    }

    pub fn reposts(&self, post_id: &str) -> List<Post> {
        self.list(format!("/api/posts/{}/reposts", seg(post_id)), "reposts", Auth::Public)
    }

    pub async fn quote(&self, post_id: &str, content: &str) -> Result<Post, ApiError> {
        limits::check_text("content", content, limits::POST_MAX_CHARS, false)?;
        self.write(Method::POST, format!("/api/posts/{}/quote", seg(post_id)), Some(&json!({ "content": content })), "post").await
    }

    pub async fn amplify(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/posts/{}/amplify", seg(post_id)), None).await
    }

    pub async fn unamplify(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::DELETE, format!("/api/posts/{}/amplify", seg(post_id)), None).await
    }

    pub async fn view(&self, post_id: &str) -> Result<(), ApiError> {
        self.write_unit(Method::POST, format!("/api/posts/{}/view", seg(post_id)), None).await
    }
}
