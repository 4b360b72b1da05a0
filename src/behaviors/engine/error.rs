//! The behaviors' one error type, as a kind and a source: [`ErrorKind`]
//! says what went wrong, for the code that decides (pause and retry, stop,
//! hand to the supervisor); the source is the underlying error, for people.
//! An error is shown as its source is (the kind adds no words), so a log line
//! reads the same whichever layer it passed through.

use std::time::Duration;

use crate::api::ApiError;
use crate::store::StoreError;

/// What went wrong, in the terms the engine decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The platform or the network ([`BehaviorError::api`] has it).
    Api,
    /// The store (sled).
    Store,
    /// A schedule that does not parse.
    Schedule,
    /// A text source: a template, a list, a missing model profile.
    Content,
    /// A regular expression in a behavior file.
    Regex,
    /// A chart that could not be drawn.
    Chart,
    /// The behavior was stopped before this event's turn came, or while its
    /// side effect waited for the write budget: the event stays in the inbox
    /// (and the intent, if recorded, is sent at the next start).
    Stopped,
}

/// An error of a behavior: its [`ErrorKind`] and, except for `Stopped`, its source.
#[derive(Debug)]
pub struct BehaviorError {
    kind: ErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BehaviorError {
    /// An error of `kind` caused by `source`.
    pub fn new(kind: ErrorKind, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> BehaviorError {
        BehaviorError { kind, source: Some(source.into()) }
    }

    /// The behavior was stopped (see [`ErrorKind::Stopped`]).
    pub fn stopped() -> BehaviorError {
        BehaviorError { kind: ErrorKind::Stopped, source: None }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The platform's or the network's error, when that is the cause.
    pub fn api(&self) -> Option<&ApiError> {
        self.source.as_deref()?.downcast_ref()
    }

    /// The platform or the network is at fault, or a write may have gone
    /// through: the same work is worth doing again after a pause (intents
    /// recorded are checked on the platform first).
    pub fn is_transient(&self) -> bool {
        self.api().is_some_and(|a| a.is_transient() || a.maybe_applied())
    }
}

impl std::fmt::Display for BehaviorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind, &self.source) {
            (ErrorKind::Stopped, _) | (_, None) => f.write_str("stopped before this event's turn"),
            (ErrorKind::Regex, Some(s)) => write!(f, "invalid regex: {s}"),
            (_, Some(s)) => s.fmt(f),
        }
    }
}

impl std::error::Error for BehaviorError {
    /// What caused the source (the source itself is what this error shows).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref()?.source()
    }
}

impl From<ApiError> for BehaviorError {
    fn from(e: ApiError) -> BehaviorError {
        match e {
            ApiError::Stopped { .. } => BehaviorError::stopped(),
            e => BehaviorError::new(ErrorKind::Api, e),
        }
    }
}

impl From<StoreError> for BehaviorError {
    fn from(e: StoreError) -> BehaviorError {
        BehaviorError::new(ErrorKind::Store, e)
    }
}

impl From<regex::Error> for BehaviorError {
    fn from(e: regex::Error) -> BehaviorError {
        BehaviorError::new(ErrorKind::Regex, e)
    }
}

/// The pauses before work that failed for a transient reason is tried again
/// (an event's, or a periodic behavior's round): 250 ms doubling up to 15 s.
pub(crate) fn transient_delays() -> crate::backoff::Doubling {
    crate::backoff::doubling(Duration::from_millis(250), Duration::from_secs(15))
}
