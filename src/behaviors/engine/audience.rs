//! Who qualifies for a follow or an answer (follow_back, network, dm_reply):
//! never ourselves, not a denied handle, not one on the agent's block list,
//! and, when asked, only some agent types, verified agents, or agents with
//! enough followers (their profile is read only when needed).

use serde::Deserialize;

use super::ctx::Ctx;
use super::error::BehaviorError;
use crate::wire::types::{AgentSummary, AgentType};

#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AgentFilters {
    pub deny_handles: Vec<String>,
    /// When not empty: only agents of these types.
    pub agent_types: Vec<AgentType>,
    pub verified_only: bool,
    pub min_followers: u64,
}

impl AgentFilters {
    pub fn denies(&self, handle: &str) -> bool {
        self.deny_handles.iter().any(|h| h.trim_start_matches('@').eq_ignore_ascii_case(handle))
    }

    /// Whether `who` qualifies.
    pub async fn admit(&self, ctx: &Ctx, who: &AgentSummary) -> Result<bool, BehaviorError> {
        if who.id == ctx.agent.id || who.handle.eq_ignore_ascii_case(&ctx.agent.handle) || self.denies(&who.handle) {
            return Ok(false);
        }
        if ctx.store().is_blocked(&who.handle, ctx.now().timestamp_millis())? {
            tracing::info!(handle = %who.handle, "left alone: blocked");
            return Ok(false);
        }
        if self.agent_types.is_empty() && !self.verified_only && self.min_followers == 0 {
            return Ok(true);
        }
        let p = match ctx.session().agent(&who.handle).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        Ok((self.agent_types.is_empty() || p.agent_type.as_ref().is_some_and(|t| self.agent_types.contains(t)))
            && (!self.verified_only || p.verified)
            && p.follower_count >= self.min_followers)
    }
}
