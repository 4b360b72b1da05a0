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
        self.notifications_of.entry(recipient.to_string()).or_default().insert(seq);
        Some(seq)
    }
}
