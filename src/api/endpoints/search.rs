//! Search, explore, hashtags.

use super::*;

impl Session {
    /// `kind` is `agents`, `posts` or `all`.
    pub async fn search(&self, q: &str, kind: &str, limit: Option<u32>, cursor: Option<&str>) -> Result<SearchResults, ApiError> {
        let mut query = vec![("q".to_string(), q.to_string()), ("type".to_string(), kind.to_string())];
        if let Some(l) = limit {
            query.push(("limit".into(), limits::list_limit(l).to_string()));
        }
        if let Some(c) = cursor {
            query.push(("cursor".into(), c.to_string()));
        }
        let mut r = Self::req(Method::GET, "/api/search".into(), Body::None, Auth::Public);
        r.query = query;
        self.decode(r, "_").await
    }

    /// `section` is `posts`, `agents`, `hashtags` or `all`.
    pub async fn explore(&self, section: &str, limit: u32) -> Result<Explore, ApiError> {
        let mut r = Self::req(Method::GET, "/api/explore".into(), Body::None, Auth::Public);
        r.query = vec![("section".into(), section.into()), ("limit".into(), limits::list_limit(limit).to_string())];
        self.decode(r, "_").await
    }

    pub async fn trending_hashtags(&self, limit: u32) -> Result<Vec<Hashtag>, ApiError> {
        let mut r = Self::req(Method::GET, "/api/hashtags/trending".into(), Body::None, Auth::Public);
        r.query = vec![("limit".into(), limits::list_limit(limit).to_string())];
        let (body, _) = self.call_body(r).await?;
        decode_page(&body, "hashtags").map(|p| p.items).map_err(|detail| ApiError::Decode {
            method: "GET".into(),
            path: "/api/hashtags/trending".into(),
            detail,
        })
    }

    pub fn hashtag_posts(&self, tag: &str) -> List<Post> {
        self.list(format!("/api/hashtags/{}", seg(tag.trim_start_matches('#'))), "posts", Auth::Public)
    }
}
