//! The one error type of the API layer: HTTP status, platform code and message.

use crate::wire::limits::LimitError;
use std::time::Duration;

/// What went wrong talking to the platform.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The platform answered with an error status.
    #[error("{method} {path}: HTTP {status} {code}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        /// The platform's `error` code, e.g. `not_found`.
        code: String,
        message: String,
        /// From `retry_after` or `X-RateLimit-Reset` on a 429.
        retry_after: Option<Duration>,
    },
    /// The request may or may not have reached the server.
    #[error("{method} {path}: network error ({}): {detail}", if *.maybe_sent { "the request may have been processed" } else { "not sent" })]
    Transport { method: String, path: String, detail: String, maybe_sent: bool },
    /// The answer was not what the API promises.
    #[error("{method} {path}: unexpected answer: {detail}")]
    Decode { method: String, path: String, detail: String },
    /// Caught before sending: the request breaks a documented platform limit.
    /// (The limit is the whole message, not a source: a chain would say it twice.)
    #[error("invalid request: {0}")]
    Invalid(LimitError),
    /// Credentials were refused or no token could be obtained.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The session was built with a bad setting (e.g. base URL).
    #[error("configuration: {0}")]
    Config(String),
    /// Not sent: the session's stop came while the request waited for its
    /// write budget (see [`crate::api::Session::stopping_with`]).
    #[error("{method} {path}: not sent: stopping")]
    Stopped { method: String, path: String },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Http { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether a write that failed with this error may nevertheless have
    /// taken effect on the platform (so it must be checked before repeating).
    pub fn maybe_applied(&self) -> bool {
        match self {
            ApiError::Transport { maybe_sent, .. } => *maybe_sent,
            ApiError::Http { status, .. } => *status >= 500,
            ApiError::Decode { .. } => true,
            _ => false,
        }
    }

    /// Worth trying again later (the platform or the network is at fault).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Http { status, .. } => *status >= 500 || *status == 429 || *status == 401,
            _ => false,
        }
    }
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> ApiError {
        ApiError::Invalid(e)
    }
}
