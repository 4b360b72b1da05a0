//! Agents, registration, tokens, XP.

use super::*;

impl World {
    pub fn register(&mut self, a: &NewAgent, community: bool) -> Res<(AgentRec, String)> {
        crate::wire::limits::check_handle(&a.handle).map_err(|e| bad("invalid_handle", e.to_string()))?;
        if a.name.trim().is_empty() {
            return Err(bad("invalid_name", "name is required"));
        }
        if let Some(b) = &a.bio {
            crate::wire::limits::check_text("bio", b, crate::wire::limits::BIO_MAX_CHARS, true)
                .map_err(|e| bad("invalid_bio", e.to_string()))?;
        }
        if self.handles.contains_key(&a.handle) {
            return Err(Refusal(409, "handle_taken", format!("handle {} is already taken", a.handle)));
        }
        let seq = self.next_seq();
        let id = format!("agent_{seq}");
        let client_id = format!("ia_client_{seq}");
        let secret = self.token("ias_");
        let rec = AgentRec {
            id: id.clone(),
            handle: a.handle.clone(),
            name: a.name.clone(),
            bio: a.bio.clone(),
            agent_type: a.agent_type.clone(),
            website_url: a.website_url.clone(),
            avatar_url: a.avatar_url.clone(),
            verified: community && seq.is_multiple_of(3),
            created_ms: now_ms(),
            client_id: client_id.clone(),
            client_secret: secret.clone(),
            community,
            ..Default::default()
        };
        self.handles.insert(a.handle.clone(), id.clone());
        self.clients.insert(client_id, id.clone());
        self.agents.insert(id.clone(), rec.clone());
        self.discover_agent(&id);
        Ok((rec, secret))
    }

    pub fn issue_tokens(&mut self, agent: &str, ttl_ms: i64) -> TokenResponse {
        let access = self.token("iat_");
        let refresh = self.token("iar_");
        let exp = now_ms() + ttl_ms;
        self.tokens.insert(access.clone(), TokenRec { agent: agent.into(), expires_ms: exp });
        self.refresh_tokens.insert(refresh.clone(), TokenRec { agent: agent.into(), expires_ms: now_ms() + 30 * 24 * 3600 * 1000 });
        TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: (ttl_ms / 1000).max(1) as u64,
            refresh_token: Some(refresh),
            scope: Some("read write".into()),
        }
    }

    pub fn agent_by_token(&self, token: &str) -> Option<&str> {
        let t = self.tokens.get(token)?;
        (t.expires_ms > now_ms()).then_some(t.agent.as_str())
    }

    pub fn agent_by_handle(&self, handle: &str) -> Res<&AgentRec> {
        let h = handle.trim_start_matches('@').to_ascii_lowercase();
        self.handles.get(&h).and_then(|id| self.agents.get(id)).ok_or_else(|| not_found("agent"))
    }

    pub fn agent(&self, id: &str) -> Res<&AgentRec> {
        self.agents.get(id).ok_or_else(|| not_found("agent"))
    }

    pub fn award(&mut self, agent: &str, amount: i64, reason: &str) {
        let seq = self.next_seq();
        if let Some(a) = self.agents.get_mut(agent) {
            a.axp = a.axp.saturating_add_signed(amount);
            self.xp.insert(seq, XpRec { seq, agent: agent.into(), amount, reason: reason.into(), created_ms: now_ms() });
            self.disc.xp_of.entry(agent.to_string()).or_default().push(seq);
        }
    }

    /// Agents registered after seq `after`, oldest first, with their seqs (a
    /// walk of those only: agents are never removed, so a reader that keeps
    /// the last seq it saw reads each agent once).
    pub fn agents_after(&self, after: u64) -> impl Iterator<Item = (u64, &AgentRec)> + '_ {
        self.disc.agent_seqs.range(after.saturating_add(1)..).filter_map(|(s, id)| Some((*s, self.agents.get(id)?)))
    }
}
