//! `moderation`: screens what other agents send ours (mentions, comments,
//! replies, quotes and, with `dms: true`, direct messages) against rules:
//! one author repeating a text, links from agents we do not follow, more than
//! N mentions a minute from one author, keywords or a regex, or a model's
//! verdict (the text delimited as data). A rule that matches reports to the
//! platform (a reason from the reference's list) and/or puts the author on
//! the agent's block list, which every behavior respects.
//!
//! Guarantees: a screening behavior sees each notification of its types
//! before any other behavior does; one whose author it blocks never reaches
//! them (see [`crate::behaviors::engine::routes::Route`]). A target (agent,
//! post or comment) is reported at most once, through the intent path; after
//! a crash between the intent and the platform's answer the report is not
//! sent again (the reference lists no way to see one's reports), so a report
//! is never repeated, at the price of one that may be lost. Reports stay
//! within `max_reports_per_day` (any 24 hours). What an author sent is
//! counted once per notification or message, crash or not, and kept a day
//! (at most 64 entries an author; an author silent for a day is forgotten).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;

use crate::api::Priority;
use crate::behaviors::engine::caps::{Cap, MINUTE_MS};
use crate::behaviors::kind::{register, spec, Kind, Registration};
use crate::behaviors::Check;
use crate::behaviors::{BehaviorError, Ctx, Found, OnEvent};
use crate::store::blocks::Block;
use crate::wire::types::{AgentSummary, NewReport, Notification, NotificationType, ReportReason};

/// What a rule reports: the author (default), or what they wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    #[default]
    Agent,
    Content,
}

/// A model's verdict on a text.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Judge {
    /// The LLM profile asked.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// The rule in the operator's words, e.g. "Is this an advertisement?" (the model answers YES or NO).
    pub question: String,
}

fn default_profile() -> String {
    "default".into()
}

/// One rule: one condition, and what to do when it matches.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Names the rule in logs, metrics and the block list.
    pub name: String,
    /// Matches when one author sent the same text this many times within `within`.
    #[serde(default)]
    pub repeats: Option<u32>,
    /// Matches a link (http://, https://, www.) from an agent we do not follow.
    #[serde(default)]
    pub links_from_strangers: bool,
    /// Matches when one author mentioned us more than this many times within a minute.
    #[serde(default)]
    pub mentions_per_minute: Option<u32>,
    /// Matches a text containing one of these (case-insensitive).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Matches a text the regex finds something in.
    #[serde(default)]
    pub regex: Option<String>,
    /// Matches when the model answers YES.
    #[serde(default)]
    pub model: Option<Judge>,
    /// How far back `repeats` looks (at most a day).
    #[serde(with = "humantime_serde", default = "default_within")]
    #[schemars(with = "crate::diagnostics::HumanDuration")]
    pub within: Duration,
    /// Report to the platform with this reason.
    #[serde(default)]
    pub report: Option<ReportReason>,
    #[serde(default)]
    pub report_target: Target,
    /// Put the author on the agent's block list.
    #[serde(default)]
    pub block: bool,
    /// How long a block lasts (for good when absent).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::diagnostics::HumanDuration>")]
    pub block_for: Option<Duration>,
}

fn default_within() -> Duration {
    Duration::from_secs(3600)
}

spec! {
    #[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        /// The notification types screened.
        #[serde(default = "default_on")]
        pub on: Vec<NotificationType>,
        /// Also screen direct messages (read every `every`).
        #[serde(default)]
        pub dms: bool,
        #[serde(with = "humantime_serde", default = "default_every")]
        #[schemars(with = "crate::diagnostics::HumanDuration")]
        pub every: Duration,
        /// Checked in order; the first that matches acts.
        pub rules: Vec<Rule>,
        /// Reports in any 24 hours, at most.
        #[serde(default = "default_reports")]
        pub max_reports_per_day: u32,
        /// Blocked from the start (`imagine-agent block` adds and removes by hand).
        #[serde(default)]
        pub block_handles: Vec<String>,
    }
}

/// The registration of this kind.
pub const KIND: Registration = register::<Spec>("moderation");

fn default_on() -> Vec<NotificationType> {
    vec![NotificationType::Mention, NotificationType::Comment, NotificationType::Reply, NotificationType::Quote]
}

fn default_every() -> Duration {
    Duration::from_secs(60)
}

fn default_reports() -> u32 {
    10
}

/// What an author sent recently, as kept per author (bounded).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sent {
    id: String,
    at_ms: i64,
    /// A digest of the text, normalized.
    text: String,
    mention: bool,
}

/// Entries kept per author.
const KEPT: usize = 64;

/// Messages of one conversation read per look, at most.
const DM_LOOK_BACK: usize = 200;

/// Something another agent sent ours.
struct Incoming {
    id: String,
    author: AgentSummary,
    text: String,
    at_ms: i64,
    mention: bool,
    post_id: Option<String>,
    comment_id: Option<String>,
}

fn digest(text: &str) -> String {
    let norm: String = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let d = sha2::Sha256::digest(norm.as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn has_link(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("http://") || t.contains("https://") || t.contains("www.")
}

fn ms_of(t: Option<&str>) -> Option<i64> {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis())
}

pub const JUDGE_SYSTEM: &str = "You check one message sent to an AI agent on a social network against a rule. Answer YES (it breaks the rule) or NO, then a colon and a reason of a few words.";

impl Rule {
    fn conditions(&self) -> usize {
        [
            self.repeats.is_some(),
            self.links_from_strangers,
            self.mentions_per_minute.is_some(),
            !self.keywords.is_empty() || self.regex.is_some(),
            self.model.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
    }

    /// Why it matches `inc`, given what its author sent (`history`, `inc` among it); None when it does not.
    async fn matches(&self, ctx: &Ctx, inc: &Incoming, history: &[Sent]) -> Result<Option<String>, BehaviorError> {
        if let Some(n) = self.repeats {
            let d = digest(&inc.text);
            let since = inc.at_ms - self.within.as_millis() as i64;
            let same = history.iter().filter(|s| s.text == d && s.at_ms > since).count();
            return Ok((same >= n as usize).then(|| format!("the same text {same} times")));
        }
        if let Some(n) = self.mentions_per_minute {
            let m = history.iter().filter(|s| s.mention && s.at_ms > inc.at_ms - MINUTE_MS).count();
            return Ok((m > n as usize).then(|| format!("{m} mentions within a minute")));
        }
        if self.links_from_strangers {
            if !has_link(&inc.text) {
                return Ok(None);
            }
            let follows = ctx.session().is_following(&inc.author.handle).await?;
            return Ok((!follows).then(|| "a link from an agent we do not follow".into()));
        }
        if !self.keywords.is_empty() || self.regex.is_some() {
            let lower = inc.text.to_lowercase();
            if let Some(k) = self.keywords.iter().find(|k| lower.contains(&k.to_lowercase())) {
                return Ok(Some(format!("the keyword {k:?}")));
            }
            let re = self.regex.as_deref().and_then(|r| regex::Regex::new(r).ok());
            return Ok(re.filter(|re| re.is_match(&inc.text)).map(|re| format!("the pattern {:?}", re.as_str())));
        }
        if let Some(j) = &self.model {
            let Some(llm) = &ctx.agent.llm else { return Ok(None) };
            let user = format!("The rule: {}\n\nThe message, by @{}:\n{}", j.question, inc.author.handle, crate::llm::untrusted(&inc.text));
            let answer = llm.complete(&ctx.agent.handle, &ctx.behavior, &j.profile, JUDGE_SYSTEM, &user, &[]).await.ok();
            let word = answer.as_deref().unwrap_or_default().trim().trim_start_matches(['"', '\'', '*', ' ']).to_ascii_uppercase();
            if word.starts_with("YES") {
                return Ok(Some(format!("the model: {}", answer.unwrap_or_default().trim())));
            }
            if !word.starts_with("NO") {
                tracing::warn!(answer = ?answer, rule = %self.name, "the model gave no verdict; the rule does not match");
            }
        }
        Ok(None)
    }
}

impl Spec {
    fn check(&self, c: &mut Check<'_>) {
        c.name(&self.name);
        for k in &self.on {
            if !matches!(k, NotificationType::Mention | NotificationType::Comment | NotificationType::Reply | NotificationType::Quote) {
                c.problem("on", format!("moderation screens MENTION, COMMENT, REPLY or QUOTE, not {k}"));
            }
        }
        if self.on.is_empty() && !self.dms {
            c.problem("on", "nothing to screen: name notification types, or set `dms: true`");
        }
        if self.rules.is_empty() {
            c.problem("rules", "expected at least one rule");
        }
        if self.every < Duration::from_secs(10) {
            c.problem("every", "must be at least 10s (it lists the conversations)");
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.rules {
            if !names.insert(r.name.as_str()) {
                c.problem("rules", format!("rule {:?} is named twice", r.name));
            }
            if r.conditions() != 1 {
                c.problem(
                    "rules",
                    format!(
                        "rule {:?}: give exactly one of repeats, links_from_strangers, mentions_per_minute, keywords/regex, model",
                        r.name
                    ),
                );
            }
            if r.report.is_none() && !r.block {
                c.problem("rules", format!("rule {:?} does nothing: give `report: REASON` and/or `block: true`", r.name));
            }
            if let Some(ReportReason::Other(x)) = &r.report {
                c.problem("rules", format!("rule {:?}: unknown report reason {x:?} (SPAM, HARASSMENT, MISINFORMATION, IMPERSONATION, HATE_SPEECH, VIOLENCE, ADULT_CONTENT, COPYRIGHT, OTHER)", r.name));
            }
            if let Some(re) = &r.regex {
                c.regex("regex", re);
            }
            if r.repeats == Some(0) || r.within > Duration::from_secs(86_400) || r.within.is_zero() {
                c.problem("rules", format!("rule {:?}: repeats at least 1, within at most 1d", r.name));
            }
            if r.block_for.is_some() && !r.block {
                c.problem("rules", format!("rule {:?}: block_for without block: true", r.name));
            }
        }
    }

    async fn work(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        for h in &self.block_handles {
            let now = ctx.now().timestamp_millis();
            if !ctx.store().is_blocked(h, now)? {
                let why = "listed in the behavior file".to_string();
                ctx.store().block(Block { handle: h.clone(), id: None, by: ctx.behavior.clone(), why, at_ms: now, until_ms: None })?;
                tracing::info!(handle = %h, "blocked (listed in the behavior file)");
            }
        }
        let events = ctx.for_each_event(self);
        let dms = async {
            if !self.dms {
                return Ok(());
            }
            loop {
                if !ctx.round(|| self.screen_dms(ctx)).await? || !ctx.sleep(self.every).await {
                    return Ok(());
                }
            }
        };
        // What authors sent is kept a day: an author silent for longer is forgotten.
        let forget = async {
            loop {
                ctx.round(|| async { self.forget_quiet_authors(ctx) }).await?;
                if !ctx.sleep(Duration::from_secs(3600)).await {
                    return Ok(());
                }
            }
        };
        tokio::try_join!(events, dms, forget).map(|_| ())
    }

    /// Removes the history of authors whose newest entry is over a day old.
    fn forget_quiet_authors(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        let oldest = ctx.now().timestamp_millis() - 86_400_000;
        for (k, history) in ctx.store().scan::<Vec<Sent>>(&ctx.behavior, "sent:")? {
            if history.iter().all(|s| s.at_ms <= oldest) {
                ctx.store().remove(&ctx.behavior, &k)?;
            }
        }
        Ok(())
    }

    async fn handle(&self, ctx: &Ctx, n: &Notification) -> Result<(), BehaviorError> {
        let Some(kind) = n.notification_type.clone().filter(|k| self.on.contains(k)) else { return Ok(()) };
        let Some(author) = n.actor.clone().filter(|a| a.id != ctx.agent.id && !a.handle.eq_ignore_ascii_case(&ctx.agent.handle)) else {
            return Ok(());
        };
        let inc = Incoming {
            id: n.id.clone(),
            author,
            text: n.content.clone().unwrap_or_default(),
            at_ms: ms_of(n.created_at.as_deref()).unwrap_or_else(|| ctx.now().timestamp_millis()),
            mention: kind == NotificationType::Mention,
            post_id: n.post_id.clone(),
            comment_id: n.comment_id.clone(),
        };
        self.screen(ctx, &inc).await
    }

    /// Screens the direct messages that arrived since the last look, oldest first.
    async fn screen_dms(&self, ctx: &Ctx) -> Result<(), BehaviorError> {
        // Messages from before the first look are not screened (no report for an old conversation).
        let since: i64 = match ctx.store().get(&ctx.behavior, "dm_since")? {
            Some(t) => t,
            None => {
                let now = ctx.now().timestamp_millis();
                ctx.store().put(&ctx.behavior, "dm_since", &now)?;
                now
            }
        };
        let convs: Vec<crate::wire::types::Conversation> = ctx.session().conversations().limit(50).stream().try_collect().await?;
        for c in convs {
            let Some(last) = c.last_message.as_ref() else { continue };
            let pos_key = format!("dm:{}", c.id);
            let pos: i64 = ctx.store().get(&ctx.behavior, &pos_key)?.unwrap_or(since);
            let last_ms = ms_of(last.created_at.as_deref()).unwrap_or(0);
            if last_ms <= pos {
                continue;
            }
            // The reference promises no order of a conversation's messages: the
            // newest pages are read whole (a message at the position's own
            // millisecond again: what its author sent is counted once by id).
            let mut fresh: Vec<crate::wire::types::Message> = vec![];
            let mut list = ctx.session().messages(&c.id).limit(50).stream().take(DM_LOOK_BACK);
            while let Some(m) = list.try_next().await? {
                if ms_of(m.created_at.as_deref()).unwrap_or(0) >= pos {
                    fresh.push(m);
                }
            }
            fresh.sort_by_key(|m| ms_of(m.created_at.as_deref()).unwrap_or(0));
            for m in fresh {
                let at_ms = ms_of(m.created_at.as_deref()).unwrap_or(0);
                if let Some(author) = m.sender.clone().filter(|a| a.id != ctx.agent.id) {
                    let inc = Incoming {
                        id: m.id.clone(),
                        author,
                        text: m.content.clone(),
                        at_ms,
                        mention: false,
                        post_id: None,
                        comment_id: None,
                    };
                    self.screen(ctx, &inc).await?;
                }
                ctx.store().put(&ctx.behavior, &pos_key, &at_ms)?;
            }
        }
        Ok(())
    }

    /// Counts `inc` in its author's history (once), then acts on the first rule that matches.
    async fn screen(&self, ctx: &Ctx, inc: &Incoming) -> Result<(), BehaviorError> {
        let store = ctx.store();
        if store.is_blocked(&inc.author.handle, ctx.now().timestamp_millis())? {
            return Ok(());
        }
        let hkey = format!("sent:{}", inc.author.handle.to_lowercase());
        let mut history: Vec<Sent> = store.get(&ctx.behavior, &hkey)?.unwrap_or_default();
        if !history.iter().any(|s| s.id == inc.id) {
            history.push(Sent { id: inc.id.clone(), at_ms: inc.at_ms, text: digest(&inc.text), mention: inc.mention });
            let oldest = inc.at_ms - 86_400_000;
            history.retain(|s| s.at_ms > oldest);
            let extra = history.len().saturating_sub(KEPT);
            history.drain(..extra);
            store.put(&ctx.behavior, &hkey, &history)?;
        }
        for rule in &self.rules {
            if let Some(why) = rule.matches(ctx, inc, &history).await? {
                tracing::info!(rule = %rule.name, author = %inc.author.handle, item = %inc.id, why = %why, "flagged");
                ctx.agent.metrics.action(&[ctx.behavior.as_str(), "flag"], &rule.name);
                if let Some(reason) = &rule.report {
                    self.report(ctx, rule, reason, inc, &why).await?;
                }
                if rule.block {
                    let now = ctx.now().timestamp_millis();
                    let until_ms = rule.block_for.map(|d| now + d.as_millis() as i64);
                    let why = format!("rule {}: {why}", rule.name);
                    let b = Block {
                        handle: inc.author.handle.clone(),
                        id: Some(inc.author.id.clone()),
                        by: ctx.behavior.clone(),
                        why,
                        at_ms: now,
                        until_ms,
                    };
                    if store.block(b)? {
                        tracing::info!(handle = %inc.author.handle, rule = %rule.name, "blocked");
                        ctx.agent.metrics.action(&[ctx.behavior.as_str(), "block"], "blocked");
                    }
                }
                break;
            }
        }
        Ok(())
    }

    /// Reports `inc` (its author or its text), once per target, within the daily cap.
    async fn report(&self, ctx: &Ctx, rule: &Rule, reason: &ReportReason, inc: &Incoming, why: &str) -> Result<(), BehaviorError> {
        let mut r = NewReport {
            reason: reason.clone(),
            description: Some(crate::behaviors::engine::say::excerpt(&format!("Flagged by rule {}: {why}.", rule.name), 500)),
            reported_agent_id: None,
            reported_post_id: None,
            reported_comment_id: None,
        };
        let target = match (rule.report_target, &inc.comment_id, &inc.post_id) {
            (Target::Content, Some(c), _) => {
                r.reported_comment_id = Some(c.clone());
                c.clone()
            }
            (Target::Content, None, Some(p)) => {
                r.reported_post_id = Some(p.clone());
                p.clone()
            }
            _ => {
                r.reported_agent_id = Some(inc.author.id.clone());
                inc.author.id.clone()
            }
        };
        let key = format!("report:{target}");
        if !ctx.progress(&key)?.is_new() {
            return Ok(());
        }
        let cap = Cap { per_hour: None, per_day: Some(self.max_reports_per_day) };
        if !cap.take(ctx, "report")? {
            tracing::warn!(cap = self.max_reports_per_day, target = %target, "report cap reached; not reporting");
            ctx.agent.metrics.action(&[ctx.behavior.as_str(), "report"], "capped");
            return Ok(());
        }
        let detail = json!({"reason": reason.as_str(), "target": target, "handle": inc.author.handle, "rule": rule.name});
        let session = ctx.session().clone();
        ctx.once(
            &key,
            "report",
            detail,
            || async move { session.report(&r).await.map(|x| Some(x.id)) },
            |_| async {
                tracing::warn!(target = %target, "a report whose answer was lost is not sent again (the reference lists no way to check it)");
                Ok(Found::Done(None))
            },
        )
        .await?;
        Ok(())
    }
}

impl OnEvent for Spec {
    fn on_event<'a>(&'a self, ctx: &'a Ctx, n: &'a Notification) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.handle(ctx, n))
    }
}

impl Kind for Spec {
    fn notification_types(&self) -> Vec<NotificationType> {
        self.on.clone()
    }

    fn screens(&self) -> bool {
        true
    }

    /// Replies wait for it: it goes with them.
    fn default_priority(&self) -> Priority {
        Priority::Urgent
    }

    fn models(&self) -> Vec<&str> {
        self.rules.iter().filter_map(|r| r.model.as_ref().map(|m| m.profile.as_str())).collect()
    }

    fn validate(&self, c: &mut Check<'_>) {
        self.check(c)
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> futures::future::BoxFuture<'a, Result<(), BehaviorError>> {
        Box::pin(self.work(ctx))
    }
}
