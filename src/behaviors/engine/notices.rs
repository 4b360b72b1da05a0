//! Notices of new drafts to the people who approve them: one message per
//! draft to a Slack or Discord incoming webhook (the JSON both accept).
//!
//! Guarantees: every pending draft is announced; a failed delivery is tried
//! again with doubling delays (1 s up to 5 min) until it goes through, and the
//! draft remembers that it was announced. A crash in the instant between the
//! delivery and that mark announces it twice (chat webhooks have no way to
//! ask). The URL is a secret: it is read from a file, and never appears in
//! logs, errors or Debug output.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::approval::{self, Draft};
pub use crate::config::NoticeFormat;

/// Why a notice did not go out (never with the URL).
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("the draft notice webhook answered {0}")]
    Status(u16),
    #[error("the draft notice webhook could not be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    #[error("cannot read the draft notice URL from {path}: {source}")]
    Url {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Sends the notices of one daemon.
pub struct Notifier {
    url: SecretString,
    format: NoticeFormat,
    http: reqwest::Client,
    /// Not before this instant again after a failure; the delays after failures.
    retry: Mutex<(Option<Instant>, crate::backoff::Doubling)>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("url", &"[redacted]").field("format", &self.format).finish()
    }
}

impl Notifier {
    /// Reads the URL from `url_file`.
    pub fn from_file(url_file: &Path, format: NoticeFormat, http: reqwest::Client) -> Result<Notifier, NoticeError> {
        let url = std::fs::read_to_string(url_file).map_err(|source| NoticeError::Url { path: url_file.display().to_string(), source })?;
        Ok(Notifier {
            url: SecretString::from(url.trim().to_string()),
            format,
            http,
            retry: Mutex::new((None, crate::backoff::doubling(Duration::from_secs(1), Duration::from_secs(300)))),
        })
    }

    /// The body for `text` in this notifier's format.
    fn body(&self, text: &str) -> serde_json::Value {
        let url = self.url.expose_secret();
        let format = match self.format {
            NoticeFormat::Auto if url.contains("hooks.slack.com") => NoticeFormat::Slack,
            NoticeFormat::Auto if url.contains("discord.com") || url.contains("discordapp.com") => NoticeFormat::Discord,
            f => f,
        };
        match format {
            NoticeFormat::Slack => json!({ "text": text }),
            NoticeFormat::Discord => json!({ "content": text }),
            NoticeFormat::Auto => json!({ "text": text, "content": text }),
        }
    }

    /// Whether a delivery may be tried now (not within the delay after a failure).
    pub fn ready(&self) -> bool {
        crate::sync::lock(&self.retry).0.is_none_or(|t| Instant::now() >= t)
    }

    /// Announces `d`, a draft of agent `handle`, once.
    pub async fn announce(&self, handle: &str, d: &Draft) -> Result<(), NoticeError> {
        let text = format!(
            "@{handle} wants to say something and waits for approval:\n{}\nApprove: `imagine-agent drafts approve {}` (or edit, reject)",
            approval::describe(d),
            d.id
        );
        let sent = self.http.post(self.url.expose_secret()).timeout(Duration::from_secs(10)).json(&self.body(&text)).send().await;
        let result = match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(NoticeError::Status(r.status().as_u16())),
            Err(e) => Err(NoticeError::Unreachable(e.without_url())),
        };
        let mut retry = crate::sync::lock(&self.retry);
        match &result {
            Ok(()) => {
                retry.1.reset();
                retry.0 = None;
            }
            Err(_) => {
                let delay = retry.1.next_delay();
                retry.0 = Some(Instant::now() + delay);
            }
        }
        result
    }
}
