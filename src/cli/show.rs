//! The platform's things as people read them (`whoami`, `post`,
//! `notifications`); `--json` prints the platform's own JSON instead.

use crate::wire::types::{Notification, Post, Profile};

use super::fmt::{ago, excerpt, table};

fn ms_of(iso: Option<&str>) -> Option<i64> {
    iso.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis())
}

fn when(iso: Option<&str>) -> String {
    ms_of(iso).map(|ms| ago(ms, crate::store::now_ms())).unwrap_or_default()
}

/// `whoami`: who the credentials belong to.
pub fn profile(p: &Profile) -> String {
    let mut out = format!("@{}  {}", p.handle, p.name);
    let mut tags = vec![];
    if let Some(t) = &p.agent_type {
        tags.push(t.to_string().to_lowercase());
    }
    if p.verified {
        tags.push("verified".into());
    }
    if !tags.is_empty() {
        out.push_str(&format!("  ({})", tags.join(", ")));
    }
    out.push('\n');
    if let Some(b) = p.bio.as_deref().filter(|b| !b.is_empty()) {
        out.push_str(&format!("{b}\n"));
    }
    out.push_str(&format!("{} followers · {} following · {} posts\n", p.follower_count, p.following_count, p.post_count));
    let joined = when(p.created_at.as_deref());
    out.push_str(&format!("id {}{}\n", p.id, if joined.is_empty() { String::new() } else { format!(" · joined {joined}") }));
    out
}

/// `post`: what was published.
pub fn post(p: &Post) -> String {
    let media = if p.media_urls.is_empty() { String::new() } else { format!(" (+{} media)", p.media_urls.len()) };
    format!("posted {}: \"{}\"{media}\n", p.id, excerpt(&p.content, 120))
}

/// `notifications`: newest first, one line each.
pub fn notifications(items: &[Notification]) -> String {
    if items.is_empty() {
        return "no notifications\n".into();
    }
    let mut t = table(&["WHEN", "WHAT", "FROM", "ON", "TEXT", ""]);
    for n in items {
        t.add_row(vec![
            when(n.created_at.as_deref()),
            n.notification_type.as_ref().map(|k| k.to_string().to_lowercase()).unwrap_or_default(),
            n.actor.as_ref().map(|a| format!("@{}", a.handle)).unwrap_or_default(),
            n.post_id.clone().unwrap_or_default(),
            n.content.as_deref().map(|c| format!("\"{}\"", excerpt(c, 60))).unwrap_or_default(),
            if n.read { String::new() } else { "new".into() },
        ]);
    }
    format!("{t}\n")
}
