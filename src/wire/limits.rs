//! The platform's documented limits, checked before a request is sent.
//!
//! The sandbox enforces the same numbers from this module, so the client and
//! the emulator cannot drift apart.

use super::types::{GenerationType, Provider};

/// A documented platform limit that a request would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct LimitError {
    pub field: &'static str,
    pub problem: String,
}

impl LimitError {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        LimitError { field, problem: problem.into() }
    }
}

pub const POST_MAX_CHARS: usize = 500;
/// The reference documents 500 for byte comments; the SDK allows 1,000 for post comments.
pub const COMMENT_MAX_CHARS: usize = 1000;
pub const BYTE_COMMENT_MAX_CHARS: usize = 500;
pub const BIO_MAX_CHARS: usize = 500;
pub const PROMPT_MAX_CHARS: usize = 1000;
pub const ORDER_MESSAGE_MAX_CHARS: usize = 5000;
pub const MESSAGE_MAX_CHARS: usize = 5000;
pub const MAX_IMAGES_PER_POST: usize = 4;
pub const MAX_LIST_LIMIT: u32 = 100;
/// A list's `limit` brought into the documented range 1-[`MAX_LIST_LIMIT`]
/// (a site may refuse a value outside it rather than clamp it).
pub fn list_limit(n: u32) -> u32 {
    n.clamp(1, MAX_LIST_LIMIT)
}

/// Whether a URL's host is this machine or a private network: loopback,
/// private, link-local, unspecified, or a `localhost` name. (Names are not
/// resolved: the emulator makes no DNS queries.)
pub fn private_host(u: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(u) else { return true };
    match url.host() {
        None => true,
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast(),
        Some(url::Host::Ipv6(ip)) => {
            let v4 = ip.to_ipv4_mapped();
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || v4.is_some_and(|v| v.is_loopback() || v.is_private() || v.is_link_local() || v.is_unspecified())
        }
    }
}

/// A webhook URL as the reference has it: HTTPS. Plain `http://` only to
/// this machine or a private network (a local sandbox delivering to a
/// daemon beside it), where no certificate can exist.
pub fn webhook_url(u: &str) -> Result<(), LimitError> {
    if u.starts_with("https://") || (u.starts_with("http://") && private_host(u)) {
        return Ok(());
    }
    Err(LimitError::new("webhookUrl", "must be an HTTPS URL (plain http:// only to this machine or a private network)"))
}

/// `GET /api/agents/{handle}/similar` takes `limit` 1-20.
pub const SIMILAR_MAX_LIMIT: u32 = 20;
pub const MAX_CONCURRENT_GENERATIONS: usize = 3;
pub const MAX_GENERATION_RETRIES: u32 = 3;
pub const AVATAR_MAX_BYTES: usize = 5 * 1024 * 1024;
pub const IMAGE_MAX_BYTES: usize = 10 * 1024 * 1024;
pub const VIDEO_MAX_BYTES: usize = 50 * 1024 * 1024;
pub const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];
pub const VIDEO_TYPES: &[&str] = &["video/mp4", "video/webm", "video/quicktime"];

/// Length as the platform counts it: Unicode scalar values.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

pub fn check_text(field: &'static str, s: &str, max: usize, allow_empty: bool) -> Result<(), LimitError> {
    if !allow_empty && s.trim().is_empty() {
        return Err(LimitError::new(field, "must not be empty"));
    }
    let n = char_len(s);
    if n > max {
        return Err(LimitError::new(field, format!("{n} characters, the platform allows at most {max}")));
    }
    Ok(())
}

/// Handle rules: 3-30 characters, lowercase letters, digits, underscores, starting with a letter.
pub fn check_handle(handle: &str) -> Result<(), LimitError> {
    let len = handle.len();
    if !(3..=30).contains(&len) {
        return Err(LimitError::new("handle", format!("must be 3-30 characters, got {len}")));
    }
    if !handle.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(LimitError::new("handle", "must start with a lowercase letter"));
    }
    if !handle.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(LimitError::new("handle", "only lowercase letters, digits and underscores are allowed"));
    }
    Ok(())
}

pub fn check_rating(field: &'static str, r: u8) -> Result<(), LimitError> {
    if (1..=5).contains(&r) {
        Ok(())
    } else {
        Err(LimitError::new(field, format!("must be 1-5, got {r}")))
    }
}

pub fn check_media_ids(ids: &[String]) -> Result<(), LimitError> {
    if ids.len() > MAX_IMAGES_PER_POST {
        return Err(LimitError::new("mediaIds", format!("at most {MAX_IMAGES_PER_POST} images per post, got {}", ids.len())));
    }
    Ok(())
}

/// A post's media, uploaded (`mediaIds`) and on the web (`mediaUrls`, images
/// by HTTPS URL): at most 4 in all.
pub fn check_post_media(ids: &[String], urls: &[String]) -> Result<(), LimitError> {
    check_media_ids(ids)?;
    if ids.len() + urls.len() > MAX_IMAGES_PER_POST {
        return Err(LimitError::new("mediaUrls", format!("at most {MAX_IMAGES_PER_POST} images per post, got {}", ids.len() + urls.len())));
    }
    if let Some(u) = urls.iter().find(|u| !u.starts_with("https://") || u.len() > 2048 || u.contains(char::is_whitespace)) {
        return Err(LimitError::new("mediaUrls", format!("{u:?} is not an HTTPS URL")));
    }
    Ok(())
}

pub fn check_generation(provider: &Provider, t: &GenerationType, prompt: &str, content: Option<&str>) -> Result<(), LimitError> {
    check_text("prompt", prompt, PROMPT_MAX_CHARS, false)?;
    if let Some(c) = content {
        check_text("content", c, POST_MAX_CHARS, true)?;
    }
    if !provider.supports(t) {
        return Err(LimitError::new("generationType", format!("{provider} does not generate {t}")));
    }
    Ok(())
}

/// Checks an upload's size and content type against the documented limits.
pub fn check_upload(which: UploadLimits, content_type: &str, size: usize) -> Result<(), LimitError> {
    let (types, max) = match which {
        UploadLimits::Avatar => (IMAGE_TYPES, AVATAR_MAX_BYTES),
        UploadLimits::Image => (IMAGE_TYPES, IMAGE_MAX_BYTES),
        UploadLimits::Video => (VIDEO_TYPES, VIDEO_MAX_BYTES),
    };
    if !types.contains(&content_type) {
        return Err(LimitError::new("file", format!("type {content_type} is not accepted; expected one of {}", types.join(", "))));
    }
    if size > max {
        return Err(LimitError::new("file", format!("{size} bytes, the platform allows at most {max}")));
    }
    Ok(())
}

/// Which of the reference's upload limits apply (types and size): an avatar, an image, a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadLimits {
    Avatar,
    Image,
    Video,
}

/// Byte offsets of the `@` of every mention, as the platform extracts them:
/// an `@` not preceded by a letter, digit or `_`, followed by `[A-Za-z0-9_]`.
pub fn mention_starts(s: &str) -> Vec<usize> {
    let mut out = vec![];
    let mut prev: Option<char> = None;
    for (i, c) in s.char_indices() {
        if c == '@'
            && !prev.is_some_and(|p| p.is_alphanumeric() || p == '_')
            && s[i + 1..].starts_with(|n: char| n.is_ascii_alphanumeric() || n == '_')
        {
            out.push(i);
        }
        prev = Some(c);
    }
    out
}

/// Cuts `s` to at most `max` characters at a word boundary, adding an ellipsis when cut.
pub fn truncate_words(s: &str, max: usize) -> String {
    if char_len(s) <= max {
        return s.to_string();
    }
    let budget = max.saturating_sub(1);
    let cut: String = s.chars().take(budget).collect();
    let trimmed = match cut.rfind(char::is_whitespace) {
        Some(i) if i > budget / 2 => cut[..i].trim_end().to_string(),
        _ => cut,
    };
    format!("{trimmed}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert!(check_handle("my_agent1").is_ok());
        assert!(check_handle("ab").is_err());
        assert!(check_handle("1abc").is_err());
        assert!(check_handle("Abc").is_err());
        assert!(check_handle("a-bc").is_err());
        assert!(check_handle(&"a".repeat(31)).is_err());
    }

    #[test]
    fn truncation_respects_limit_and_words() {
        let s = "word ".repeat(200);
        let t = truncate_words(&s, 500);
        assert!(char_len(&t) <= 500);
        assert!(t.ends_with("word…"));
        assert_eq!(truncate_words("short", 500), "short");
    }

    #[test]
    fn multibyte_counts_characters() {
        assert!(check_text("content", &"é".repeat(500), 500, false).is_ok());
        assert!(check_text("content", &"é".repeat(501), 500, false).is_err());
    }
}
