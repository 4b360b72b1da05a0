//! Conversations and messages.

use super::*;

impl World {
    pub fn conversation_between(&mut self, a: &str, b: &str) -> u64 {
        if let Some(c) = self
            .conversations
            .values()
            .find(|c| c.participants.len() == 2 && c.participants.iter().any(|p| p == a) && c.participants.iter().any(|p| p == b))
        {
            return c.seq;
        }
        let seq = self.next_seq();
        self.conversations
            .insert(seq, ConvRec { seq, participants: vec![a.into(), b.into()], read_upto: BTreeMap::new(), created_ms: now_ms() });
        seq
    }

    pub fn send_message(&mut self, conv: u64, sender: &str, content: &str) -> Res<u64> {
        crate::api::limits::check_text("content", content, crate::api::limits::MESSAGE_MAX_CHARS, false)
            .map_err(|e| bad("invalid_content", e.to_string()))?;
        let c = self.conversations.get(&conv).ok_or_else(|| not_found("conversation"))?;
        if !c.participants.iter().any(|p| p == sender) {
            return Err(forbidden("you are not a participant of this conversation"));
        }
        let seq = self.next_seq();
        self.messages.insert(seq, MsgRec { seq, conv, sender: sender.into(), content: content.into(), created_ms: now_ms() });
        if let Some(c) = self.conversations.get_mut(&conv) {
            c.read_upto.insert(sender.into(), seq);
        }
        Ok(seq)
    }

    pub fn unread_in(&self, conv: &ConvRec, agent: &str) -> u64 {
        let upto = conv.read_upto.get(agent).copied().unwrap_or(0);
        self.messages.range(upto + 1..).filter(|(_, m)| m.conv == conv.seq && m.sender != agent).count() as u64
    }
}
