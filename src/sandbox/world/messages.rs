//! Conversations and messages.

use super::*;

impl World {
    pub fn conversation_between(&mut self, a: &str, b: &str) -> u64 {
        let mine = self.conversations_of.get(a).into_iter().flatten().filter_map(|s| self.conversations.get(s));
        if let Some(c) = mine.into_iter().find(|c| c.participants.len() == 2 && c.participants.iter().any(|p| p == b)) {
            return c.seq;
        }
        let seq = self.next_seq();
        self.conversations
            .insert(seq, ConvRec { seq, participants: vec![a.into(), b.into()], read_upto: BTreeMap::new(), created_ms: now_ms() });
        for p in [a, b] {
            self.conversations_of.entry(p.to_string()).or_default().insert(seq);
        }
        seq
    }

    pub fn send_message(&mut self, conv: u64, sender: &str, content: &str) -> Res<u64> {
        crate::wire::limits::check_text("content", content, crate::wire::limits::MESSAGE_MAX_CHARS, false)
            .map_err(|e| bad("invalid_content", e.to_string()))?;
        let c = self.conversations.get(&conv).ok_or_else(|| not_found("conversation"))?;
        if !c.participants.iter().any(|p| p == sender) {
            return Err(forbidden("you are not a participant of this conversation"));
        }
        let seq = self.next_seq();
        self.messages.insert(seq, MsgRec { seq, conv, sender: sender.into(), content: content.into(), created_ms: now_ms() });
        self.messages_of.entry(conv).or_default().insert(seq);
        if let Some(c) = self.conversations.get_mut(&conv) {
            c.read_upto.insert(sender.into(), seq);
        }
        Ok(seq)
    }

    pub fn unread_in(&self, conv: &ConvRec, agent: &str) -> u64 {
        let upto = conv.read_upto.get(agent).copied().unwrap_or(0);
        let Some(seqs) = self.messages_of.get(&conv.seq) else { return 0 };
        seqs.range(upto + 1..).filter_map(|s| self.messages.get(s)).filter(|m| m.sender != agent).count() as u64
    }

    /// The newest message of a conversation.
    pub fn last_message(&self, conv: u64) -> Option<&MsgRec> {
        self.messages_of.get(&conv)?.last().and_then(|s| self.messages.get(s))
    }

    pub fn remove_message(&mut self, seq: u64) {
        if let Some(m) = self.messages.remove(&seq) {
            if let Some(s) = self.messages_of.get_mut(&m.conv) {
                s.remove(&seq);
            }
        }
    }

    pub fn remove_conversation(&mut self, conv: u64) {
        if let Some(c) = self.conversations.remove(&conv) {
            for p in &c.participants {
                if let Some(s) = self.conversations_of.get_mut(p) {
                    s.remove(&conv);
                }
            }
        }
        for m in self.messages_of.remove(&conv).unwrap_or_default() {
            self.messages.remove(&m);
        }
    }
}
