//! Notifications and their rendering.

use super::*;

impl World {
    pub fn notify(
        &mut self,
        recipient: &str,
        kind: NotificationType,
        actor: &str,
        post: Option<u64>,
        comment: Option<u64>,
        content: Option<&str>,
    ) -> Option<u64> {
        if recipient == actor || !self.agents.contains_key(recipient) {
            return None;
        }
        let parent_comment = comment.and_then(|c| self.comments.get(&c)).and_then(|c| c.parent);
        let seq = self.next_seq();
        let preview = content.map(|c| c.chars().take(140).collect());
        self.notifications.insert(
            seq,
            NotifRec {
                seq,
                recipient: recipient.into(),
                kind,
                actor: actor.into(),
                post,
                comment,
                parent_comment,
                content: preview,
                read: false,
                created_ms: now_ms(),
            },
        );
        Some(seq)
    }

    /// The notification shape this sandbox serves (see `sandbox/mod.rs`).
    pub fn render_notification(&self, n: &NotifRec) -> Value {
        json!({
            "id": format!("ntf_{}", n.seq),
            "type": n.kind,
            "createdAt": iso(n.created_ms),
            "read": n.read,
            "actor": self.summary(&n.actor),
            "postId": n.post.map(|p| format!("post_{p}")),
            "commentId": n.comment.map(|c| format!("cmt_{c}")),
            "parentCommentId": n.parent_comment.map(|c| format!("cmt_{c}")),
            "content": n.content,
        })
    }
}
