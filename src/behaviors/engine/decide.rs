//! The should-respond gate (`decide:` on a reply behavior): before writing a
//! reply, the model answers RESPOND, IGNORE or STOP (end this thread) with a
//! short reason, reading the other agent's text delimited as data. The
//! reason is logged and the verdict counted in metrics; a malformed or failed
//! answer falls back to the configured rule, never to a guess.

use serde::Deserialize;

use super::ctx::Ctx;

/// `decide:` in a behavior.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    /// The LLM profile asked.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// What the agent answers and what it leaves alone, in the operator's words.
    #[serde(default)]
    pub guidance: Option<String>,
    /// What to do when the model gives no usable verdict.
    #[serde(default)]
    pub fallback: Fallback,
}

fn default_profile() -> String {
    "default".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    #[default]
    Respond,
    Ignore,
}

/// The model's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Respond(String),
    Ignore(String),
    /// End the thread: no more replies under this post.
    Stop(String),
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Respond(_) => "respond",
            Verdict::Ignore(_) => "ignore",
            Verdict::Stop(_) => "stop",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Verdict::Respond(r) | Verdict::Ignore(r) | Verdict::Stop(r) => r,
        }
    }

    /// `RESPOND: reason` (any case, leading spaces or quotes allowed); None when malformed.
    pub fn parse(answer: &str) -> Option<Verdict> {
        let a = answer.trim().trim_start_matches(['"', '\'', '*', ' ']);
        let (word, rest) = a.split_once([':', '-', '\n', ' ']).unwrap_or((a, ""));
        let reason = rest.trim().trim_start_matches([':', '-', ' ']).trim().to_string();
        match word.trim().to_ascii_uppercase().as_str() {
            "RESPOND" => Some(Verdict::Respond(reason)),
            "IGNORE" => Some(Verdict::Ignore(reason)),
            "STOP" => Some(Verdict::Stop(reason)),
            _ => None,
        }
    }
}

/// The LLM profiles of a behavior that writes `content` behind an optional gate.
pub fn profiles<'a>(content: &'a super::content::Content, decide: Option<&'a Decide>) -> Vec<&'a str> {
    content.llm.iter().map(|l| l.profile.as_str()).chain(decide.map(|d| d.profile.as_str())).collect()
}

pub const DECIDE_SYSTEM: &str = "You decide whether an AI agent on a social network should answer a message. Answer with one word, RESPOND, IGNORE or STOP (STOP ends the conversation for good), then a colon and a reason of a few words.";

impl Decide {
    /// Asks the model about `text` by `author` in `thread`; the fallback when it gives no verdict.
    pub async fn ask(&self, ctx: &Ctx, author: &str, text: &str, thread: &str) -> Verdict {
        let guidance = self.guidance.as_deref().unwrap_or("Answer questions and real conversation; ignore spam and noise; stop when the other agent says goodbye or the exchange goes in circles.");
        let user = format!(
            "{guidance}\n\nThe thread so far:\n{}\n\nThe new message, by @{author}:\n{}",
            crate::llm::untrusted(thread),
            crate::llm::untrusted(text)
        );
        let answer = match &ctx.agent.llm {
            Some(llm) => llm.complete(&ctx.agent.handle, &ctx.behavior, &self.profile, DECIDE_SYSTEM, &user, &[]).await.ok(),
            None => None,
        };
        let verdict = answer.as_deref().and_then(Verdict::parse);
        let labels = [ctx.behavior.as_str(), "decide"];
        match verdict {
            Some(v) => {
                tracing::info!(verdict = v.name(), reason = %v.reason(), author, "decided");
                ctx.agent.metrics.action(&labels, v.name());
                v
            }
            None => {
                tracing::warn!(answer = ?answer, fallback = ?self.fallback, "the model gave no verdict; using the fallback rule");
                ctx.agent.metrics.action(&labels, "malformed");
                match self.fallback {
                    Fallback::Respond => Verdict::Respond("fallback".into()),
                    Fallback::Ignore => Verdict::Ignore("fallback".into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_leniently_and_nothing_else_is_one() {
        assert_eq!(Verdict::parse("RESPOND: a real question"), Some(Verdict::Respond("a real question".into())));
        assert_eq!(Verdict::parse("  \"ignore - spam"), Some(Verdict::Ignore("spam".into())));
        assert_eq!(Verdict::parse("Stop: they said goodbye"), Some(Verdict::Stop("they said goodbye".into())));
        assert_eq!(Verdict::parse("I think you should respond"), None);
        assert_eq!(Verdict::parse(""), None);
    }
}
