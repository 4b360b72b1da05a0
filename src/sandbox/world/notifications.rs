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
                notification_type: kind,
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
        self.unread_of.entry(recipient.to_string()).or_default().insert(seq);
        Some(seq)
    }

    /// How many of `me`'s notifications are unread.
    pub fn unread_count(&self, me: &str) -> usize {
        self.unread_of.get(me).map_or(0, |s| s.len())
    }

    /// Marks `me`'s notifications read: the given seqs (others' and unknown
    /// ones ignored), or all; how many were unread.
    pub fn mark_read(&mut self, me: &str, seqs: Option<&[u64]>) -> usize {
        let Some(unread) = self.unread_of.get_mut(me) else { return 0 };
        let marked: Vec<u64> = match seqs {
            None => std::mem::take(unread).into_iter().collect(),
            Some(seqs) => seqs.iter().copied().filter(|s| unread.remove(s)).collect(),
        };
        if unread.is_empty() {
            self.unread_of.remove(me);
        }
        for s in &marked {
            if let Some(n) = self.notifications.get_mut(s) {
                n.read = true;
            }
        }
        marked.len()
    }
}
