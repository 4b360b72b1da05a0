//! The last check of model-written text, on the final form about to be
//! published (after trimming, truncation and surplus `@` removal), so no
//! transformation can walk around it.
//!
//! Banned words are compared on a normalized form: compatibility-folded
//! (NFKC: fullwidth and styled letters), without invisible format characters
//! (zero-width spaces and joiners), with look-alike letters mapped to one
//! skeleton (UTS #39, so Cyrillic `а` matches Latin `a`), case-folded, and with
//! only letters and digits kept (`p.a.s.s` and `pass word` match `password`).
//! Links (with a scheme, `www.`, or a bare domain) are refused unless allowed.

use linkify::{LinkFinder, LinkKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Whether model-written text may carry links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Links {
    /// No link at all, except to `allow_domains` (the default).
    #[default]
    Deny,
    /// Any link.
    Allow,
}

/// The comparison form of a text: NFKC, no format characters, skeleton, lower case, letters and digits only.
pub fn normalize(text: &str) -> String {
    let visible: String = text.nfkc().filter(|c| !is_invisible(*c)).collect();
    let folded: String = visible.to_lowercase();
    let skeleton: String = unicode_security::skeleton(&folded).collect();
    skeleton.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect()
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Every secret the daemon holds (model and provider keys, each agent's
/// client secret, webhook secrets), one registry the guardrails read:
/// published text never shows one, whichever path wrote it (model, hook
/// program, a person's edit).
#[derive(Default)]
pub struct Secrets(std::sync::RwLock<Vec<secrecy::SecretString>>);

impl Secrets {
    pub fn new(initial: Vec<secrecy::SecretString>) -> Secrets {
        let s = Secrets::default();
        for x in initial {
            s.add(x);
        }
        s
    }

    /// One more string outputs must never contain (kept once).
    pub fn add(&self, secret: secrecy::SecretString) {
        use secrecy::ExposeSecret;
        let mut all = crate::sync::write(&self.0);
        if !secret.expose_secret().is_empty() && !all.iter().any(|s| s.expose_secret() == secret.expose_secret()) {
            all.push(secret);
        }
    }

    pub fn all(&self) -> Vec<secrecy::SecretString> {
        crate::sync::read(&self.0).clone()
    }

    /// `f` of every secret held, without copying them.
    pub fn with<R>(&self, f: impl FnOnce(&[secrecy::SecretString]) -> R) -> R {
        f(&crate::sync::read(&self.0))
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} held, not shown)", crate::sync::read(&self.0).len())
    }
}

/// Whether `text` shows one of `secrets`, compared as the banned words are
/// (normalized: invisible characters dropped, look-alikes and case folded,
/// only letters and digits kept), besides the plain text. Secrets shorter
/// than 6 characters (normalized) are not looked for.
pub fn contains_secret(text: &str, secrets: &[secrecy::SecretString]) -> bool {
    use secrecy::ExposeSecret;
    let mut t: Option<String> = None;
    secrets.iter().any(|s| {
        let raw = s.expose_secret();
        if raw.len() >= 6 && text.contains(raw) {
            return true;
        }
        let n = normalize(raw);
        n.chars().count() >= 6 && t.get_or_insert_with(|| normalize(text)).contains(&n)
    })
}

/// The banned word `text` contains (compared normalized), if any.
pub fn banned_word<'a>(text: &str, banned: &'a [String]) -> Option<&'a str> {
    let t = normalize(text);
    banned
        .iter()
        .find(|b| {
            let b = normalize(b);
            !b.is_empty() && t.contains(&b)
        })
        .map(String::as_str)
}

/// The first link in `text` that the policy refuses, if any.
pub fn refused_link(text: &str, links: Links, allow_domains: &[String]) -> Option<String> {
    if links == Links::Allow {
        return None;
    }
    let folded: String = text.nfkc().filter(|c| !is_invisible(*c)).collect();
    let mut finder = LinkFinder::new();
    finder.url_must_have_scheme(false).kinds(&[LinkKind::Url]);
    finder.links(&folded).map(|l| l.as_str().to_string()).find(|l| !allowed(l, allow_domains))
}

fn allowed(link: &str, allow_domains: &[String]) -> bool {
    let rest = link.split_once("://").map(|(_, r)| r).unwrap_or(link);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host = host.split(':').next().unwrap_or_default().trim_end_matches('.').to_lowercase();
    allow_domains.iter().any(|d| {
        let d = d.trim().trim_start_matches("*.").trim_end_matches('.').to_lowercase();
        !d.is_empty() && (host == d || host.ends_with(&format!(".{d}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banned(t: &str) -> bool {
        banned_word(t, &["api key".to_string(), "password".to_string()]).is_some()
    }

    #[test]
    fn banned_words_match_through_disguises() {
        assert!(banned("the API key info"));
        assert!(banned("ｐａｓｓｗｏｒｄ"), "fullwidth");
        assert!(banned("pаsswоrd"), "Cyrillic а and о");
        assert!(banned("pass\u{200B}word"), "zero-width space");
        assert!(banned("p.a.s.s.w.o.r.d"), "separators");
        assert!(banned("𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝"), "mathematical bold");
        assert!(!banned("a perfectly fine answer"));
    }

    #[test]
    fn links_are_refused_unless_allowed() {
        let allow = vec!["docs.rs".to_string()];
        assert_eq!(refused_link("see https://evil.example/phish now", Links::Deny, &allow).as_deref(), Some("https://evil.example/phish"));
        assert!(refused_link("go to www.evil.example", Links::Deny, &allow).is_some());
        assert!(refused_link("visit evil.example/phish", Links::Deny, &allow).is_some());
        assert!(refused_link("ｈｔｔｐｓ：／／evil．example", Links::Deny, &allow).is_some(), "fullwidth");
        assert!(refused_link("read https://docs.rs/tokio", Links::Deny, &allow).is_none());
        assert!(refused_link("read https://x.docs.rs/tokio", Links::Deny, &allow).is_none());
        assert!(refused_link("https://docs.rs.evil.example/", Links::Deny, &allow).is_some());
        assert!(refused_link("https://evil.example", Links::Allow, &[]).is_none());
        assert!(refused_link("no links here, e.g. none.", Links::Deny, &[]).is_none());
    }
}
