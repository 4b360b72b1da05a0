//! Action lines for people reading the log (journalctl, a terminal): a verb,
//! who, what, and the text sent, e.g. `replied to @cleo on post_7: "Thanks…"`.
//! The structured fields (key, kind, result) stay on the same event.

use serde_json::Value;

/// At most this many characters of a text are quoted.
const QUOTE_CHARS: usize = 80;

/// "just now", "42 s ago", "3 min ago", "5 h ago", "2 days ago" (or "in ..." for the future).
pub fn ago(at_ms: i64, now_ms: i64) -> String {
    let d = now_ms - at_ms;
    let s = d.unsigned_abs() / 1000;
    let amount = match s {
        0..=4 => return "just now".into(),
        5..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    };
    if d >= 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// The first `max` characters of `text` on one line, with "…" when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= max {
        one
    } else {
        format!("{}…", one.chars().take(max.saturating_sub(1)).collect::<String>())
    }
}

fn quoted(detail: &Value, k: &str) -> String {
    let t = detail.get(k).and_then(Value::as_str).unwrap_or_default().replace('\n', " ");
    let cut: String = t.chars().take(QUOTE_CHARS).collect();
    let more = if t.chars().count() > QUOTE_CHARS { "…" } else { "" };
    format!("\"{cut}{more}\"")
}

fn field<'a>(detail: &'a Value, k: &str) -> &'a str {
    detail.get(k).and_then(Value::as_str).unwrap_or("?")
}

/// The line for a side effect of `kind` that was sent, with what it sent and what the platform answered.
pub fn done(kind: &str, detail: &Value, result: Option<&str>) -> String {
    let id = result.unwrap_or("?");
    match kind {
        "reply" => match detail.get("author").and_then(Value::as_str) {
            Some(a) => format!("replied to @{a} on {}: {}", field(detail, "postId"), quoted(detail, "content")),
            None => format!("replied on {}: {}", field(detail, "postId"), quoted(detail, "content")),
        },
        "post" => format!("posted {id}: {}", quoted(detail, "content")),
        "follow" => format!("followed @{}", field(detail, "handle")),
        "unfollow" => format!("unfollowed @{}", field(detail, "handle")),
        "dm" => format!("sent DM to @{}: {}", field(detail, "handle"), quoted(detail, "content")),
        "generate" => format!("started generation {id}: {}", quoted(detail, "prompt")),
        "retry_generation" => format!("retried generation {}", field(detail, "job")),
        "profile" => {
            let fields: Vec<&str> = detail.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
            format!("updated the profile: {}", fields.join(", "))
        }
        "capabilities" => "updated the capabilities".to_string(),
        "avatar" => format!("uploaded the avatar {}", field(detail, "file")),
        "like" => format!("liked {}", field(detail, "postId")),
        "amplify" => format!("amplified {}", field(detail, "postId")),
        "repost" => format!("reposted {}", field(detail, "postId")),
        "quote" => format!("quoted {}: {}", field(detail, "postId"), quoted(detail, "content")),
        "comment" => format!("commented on {}: {}", field(detail, "postId"), quoted(detail, "content")),
        "view" => format!("viewed {}", field(detail, "postId")),
        "start" => format!("started work on order {}", field(detail, "order")),
        "deliver" => format!("delivered order {}: {}", field(detail, "order"), quoted(detail, "content")),
        "order_message" => format!("sent a message on order {}: {}", field(detail, "order"), quoted(detail, "content")),
        "service" => format!("listed the service {}", quoted(detail, "title")),
        "retire_service" => format!("took the service {} ({}) off the marketplace", field(detail, "service"), field(detail, "key")),
        "payout" => format!("requested payout {}", field(detail, "payout")),
        "report" => format!("reported @{} for {} (rule {})", field(detail, "handle"), field(detail, "reason"), field(detail, "rule")),
        "upload" => {
            let size = detail.get("size").or_else(|| detail.get("bytes")).and_then(Value::as_u64).unwrap_or(0);
            match detail.get("file").and_then(Value::as_str) {
                Some(f) => format!("uploaded {f} as {id} ({size} bytes)"),
                None => format!("uploaded the report chart {id} ({size} bytes)"),
            }
        }
        "byte" => format!("published byte {id}: {}", quoted(detail, "caption")),
        other => format!("{other} done"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_read_as_sentences() {
        assert_eq!(
            done("reply", &json!({"author": "cleo", "postId": "post_7", "content": "Thanks @cleo!"}), Some("cmt_9")),
            "replied to @cleo on post_7: \"Thanks @cleo!\""
        );
        assert_eq!(done("follow", &json!({"handle": "dmitri"}), None), "followed @dmitri");
        assert_eq!(done("post", &json!({"content": "x".repeat(100)}), Some("post_42")), format!("posted post_42: \"{}…\"", "x".repeat(80)));
        assert_eq!(done("dm", &json!({"handle": "ada", "content": "Welcome"}), None), "sent DM to @ada: \"Welcome\"");
    }
}
