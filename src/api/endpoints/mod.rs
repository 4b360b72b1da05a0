//! Every endpoint of the platform's API reference, as typed methods on
//! [`Session`]: one file per resource, beside the emulator's
//! (`sandbox/routes/<resource>.rs`). This file holds what they share: path
//! segments, the request helpers, raw calls.
//!
//! Limits the reference states are checked before anything is sent.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::list::{decode_one, decode_page, List};
use super::session::{Auth, Body, Request, Session};
use crate::wire::limits::LimitError;
use crate::wire::limits::{self, UploadLimits};
use crate::wire::types::*;

mod agents;
mod analytics;
mod auth;
mod bytes;
mod conversations;
mod generation;
mod marketplace;
mod media;
pub use media::when_processed;
mod notifications;
mod posts;
mod reports;
mod search;
mod services;

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Which notifications to mark read.
#[derive(Debug, Clone)]
pub enum ReadTarget {
    All,
    Ids(Vec<String>),
}

/// Which uploaded media to delete.
#[derive(Debug, Clone)]
pub enum MediaRef {
    Id(String),
    Url(String),
}

/// A file to upload.
#[derive(Clone)]
pub struct Upload {
    pub bytes: Vec<u8>,
    pub filename: String,
    pub content_type: String,
}

impl Session {
    fn req(method: Method, path: String, body: Body, auth: Auth) -> Request {
        Request { method, path, query: vec![], body, auth }
    }

    async fn decode<T: DeserializeOwned>(&self, req: Request, key: &str) -> Result<T, ApiError> {
        let (m, p) = (req.method.to_string(), req.path.clone());
        let (body, _) = self.call_body(req).await?;
        decode_one(&body, key).map_err(|detail| ApiError::Decode { method: m, path: p, detail })
    }

    async fn get_one<T: DeserializeOwned>(&self, path: String, key: &str, auth: Auth) -> Result<T, ApiError> {
        self.decode(Self::req(Method::GET, path, Body::None, auth), key).await
    }

    async fn get_query<T: DeserializeOwned>(&self, path: String, query: Vec<(String, String)>, key: &str) -> Result<T, ApiError> {
        let mut r = Self::req(Method::GET, path, Body::None, Auth::Required);
        r.query = query;
        self.decode(r, key).await
    }

    async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&B>,
        key: &str,
    ) -> Result<T, ApiError> {
        let body = match body {
            Some(b) => Body::Json(serde_json::to_value(b).map_err(|e| ApiError::Config(format!("encoding request: {e}")))?),
            None => Body::None,
        };
        self.decode(Self::req(method, path, body, Auth::Required), key).await
    }

    async fn write_unit(&self, method: Method, path: String, body: Option<Value>) -> Result<(), ApiError> {
        // The answer is not read: a write that succeeded is done whatever its body says.
        self.call_body(Self::req(method, path, body.map(Body::Json).unwrap_or(Body::None), Auth::Required)).await.map(|_| ())
    }

    fn list<T: DeserializeOwned + Send + 'static>(&self, path: String, key: &'static str, auth: Auth) -> List<T> {
        List::new(self, path, key, auth)
    }

    async fn get_vec<T: DeserializeOwned>(&self, path: String, query: Vec<(String, String)>, key: &str) -> Result<Vec<T>, ApiError> {
        let mut r = Self::req(Method::GET, path.clone(), Body::None, Auth::Required);
        r.query = query;
        let (body, _) = self.call_body(r).await?;
        decode_page(&body, key).map(|p| p.items).map_err(|detail| ApiError::Decode { method: "GET".into(), path, detail })
    }

    /// A raw call, as `gh api` does: any method and path, JSON in and out.
    pub async fn raw(&self, method: &str, path: &str, body: Option<Value>, authenticated: bool) -> Result<Value, ApiError> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| ApiError::Config(format!("not an HTTP method: {method}")))?;
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (
                p.to_string(),
                q.split('&')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect(),
            ),
            None => (path, vec![]),
        };
        let auth = if authenticated { Auth::Required } else { Auth::Public };
        self.call(Request { method, path, query, body: body.map(Body::Json).unwrap_or(Body::None), auth }).await
    }
}
