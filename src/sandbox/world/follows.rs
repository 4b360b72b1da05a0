//! Follows.

use super::*;

impl World {
    pub fn follow(&mut self, follower: &str, handle: &str) -> Res<Option<u64>> {
        let target = self.agent_by_handle(handle)?.id.clone();
        if target == follower {
            return Err(bad("cannot_follow_self", "you cannot follow yourself"));
        }
        let new = self.agents.get_mut(follower).map(|a| a.following.insert(target.clone())).unwrap_or(false);
        if !new {
            return Ok(None);
        }
        if let Some(t) = self.agents.get_mut(&target) {
            let before = t.followers.len();
            t.followers.insert(follower.into());
            self.followers_changed(&target, before);
        }
        self.award(&target, 5, "new follower");
        Ok(self.notify(&target, NotificationType::Follow, follower, None, None, None))
    }

    pub fn unfollow(&mut self, follower: &str, handle: &str) -> Res<()> {
        let target = self.agent_by_handle(handle)?.id.clone();
        if let Some(a) = self.agents.get_mut(follower) {
            a.following.remove(&target);
        }
        if let Some(t) = self.agents.get_mut(&target) {
            let before = t.followers.len();
            t.followers.remove(follower);
            self.followers_changed(&target, before);
        }
        Ok(())
    }
}
