//! `imagine-agent probe --config ...`: measures, on the site the config points
//! at, each question the API reference leaves open (see
//! [`crate::sandbox::readings`]), and says which emulator flags reproduce that
//! site. Read-only by default; `--writes` allows a post that it deletes again;
//! `--watch` reads the notifications twice that far apart to see a late one.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::api::Session;
use crate::wire::types::{Heading, NewPost};

#[derive(Args, Debug)]
pub struct ProbeArgs {
    #[arg(long, short, default_value = "config.yaml")]
    pub config: std::path::PathBuf,
    /// The agent whose credentials to use (with several agents).
    #[arg(long)]
    pub agent: Option<String>,
    /// Allow harmless writes, each undone (a post, then its deletion).
    #[arg(long)]
    pub writes: bool,
    /// Read the notifications twice this far apart (e.g. 3m) to see whether one is listed late.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub watch: Option<Duration>,
    /// The findings as JSON, for a bug report.
    #[arg(long)]
    pub json: bool,
}

/// What the probe found for one question.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub question: &'static str,
    /// What the daemon assumes (it works under every reading).
    pub daemon_assumes: &'static str,
    /// What the site did; "not measured: ..." when the probe could not tell.
    pub site: String,
    /// The `imagine-agent sandbox` flag that reproduces it ("" for the default).
    pub emulator_flag: &'static str,
}

fn finding(question: &'static str, daemon_assumes: &'static str, site: impl Into<String>, flag: &'static str) -> Finding {
    Finding { question, daemon_assumes, site: site.into(), emulator_flag: flag }
}

/// An answer's HTTP status: 200 for a success, the refusal's status, or None
/// when the site could not be reached.
async fn status_of(s: &Session, path: &str) -> Option<u16> {
    match s.raw("GET", path, None, true).await {
        Ok(_) => Some(200),
        Err(e) => e.status(),
    }
}

async fn ranges(s: &Session, me: &str) -> Finding {
    const Q: &str = "A `limit` outside its documented range";
    const ASSUMES: &str = "never sends one";
    let list = status_of(s, "/api/posts?limit=101").await;
    let similar = status_of(s, &format!("/api/agents/{me}/similar?limit=21")).await;
    match (list, similar) {
        (Some(400), Some(400)) => finding(Q, ASSUMES, "refused with 400 (lists and similar agents)", ""),
        (Some(200), Some(200)) => finding(Q, ASSUMES, "accepted (brought into the range)", "--clamp-out-of-range"),
        (a, b) => finding(Q, ASSUMES, format!("not measured: lists answered {a:?}, similar agents {b:?}"), ""),
    }
}

async fn own_posts(s: &Session, me_id: &str, writes: bool) -> Finding {
    const Q: &str = "Are the agent's own posts in its feed?";
    const ASSUMES: &str = "never looks for its own posts in the feed";
    let in_feed = |posts: &[crate::wire::types::Post]| posts.iter().any(|p| p.agent.as_ref().is_some_and(|a| a.id == me_id));
    match s.feed().limit(100).page().await {
        Ok(p) if in_feed(&p.items) => return finding(Q, ASSUMES, "yes", "--own-posts-in-feed"),
        Ok(_) => {}
        Err(e) => return finding(Q, ASSUMES, format!("not measured: the feed could not be read: {e}"), ""),
    }
    if !writes {
        return finding(
            Q,
            ASSUMES,
            "not measured: no post of ours in the feed's first page (run with --writes to post one, then delete it)",
            "",
        );
    }
    let text = format!("imagine-agent probe {}: this post is deleted at once", chrono::Utc::now().timestamp_millis());
    let post = match s.create_post(&NewPost::text(text)).await {
        Ok(p) => p,
        Err(e) => return finding(Q, ASSUMES, format!("not measured: the probe's post was refused: {e}"), ""),
    };
    let seen = s.feed().limit(100).page().await.map(|p| p.items.iter().any(|x| x.id == post.id));
    let deleted = s.delete_post(&post.id).await;
    let site = match (seen, deleted) {
        (Ok(true), Ok(())) => return finding(Q, ASSUMES, "yes (the probe's post was listed, then deleted)", "--own-posts-in-feed"),
        (Ok(false), Ok(())) => "no (the probe's post was not listed; deleted)".to_string(),
        (r, d) => format!("not measured: feed {r:?}, deletion {d:?} of {}", post.id),
    };
    finding(Q, ASSUMES, site, "")
}

/// The number a cursor carries, when it has exactly one.
fn number_in(cursor: &str) -> Option<u64> {
    let digits: Vec<&str> = cursor.split(|c: char| !c.is_ascii_digit()).filter(|d| !d.is_empty()).collect();
    match digits.as_slice() {
        [one] => one.parse().ok(),
        _ => None,
    }
}

async fn cursors(s: &Session) -> Finding {
    const Q: &str = "Notification cursors: a place in the list, or a key?";
    const ASSUMES: &str = "hands each notification over once, whatever a page repeats";
    let (one, two) = match (s.notification_headings().limit(1).page().await, s.notification_headings().limit(2).page().await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return finding(Q, ASSUMES, format!("not measured: {e}"), ""),
    };
    let (Some(c1), Some(c2)) = (one.next_cursor.as_deref(), two.next_cursor.as_deref()) else {
        return finding(Q, ASSUMES, "not measured: fewer than three notifications to page through", "");
    };
    match (number_in(c1), number_in(c2)) {
        // An offset counts the items read; a key names the last one.
        (Some(1), Some(2)) => finding(Q, ASSUMES, format!("an offset ({c1:?} after one item, {c2:?} after two)"), ""),
        _ if two
            .items
            .get(1)
            .is_some_and(|h: &Heading| c2.contains(&h.id) || number_in(&h.id).is_some_and(|n| number_in(c2) == Some(n))) =>
        {
            finding(Q, ASSUMES, format!("a key of the last item ({c2:?})"), "--keyset-cursors")
        }
        _ => finding(Q, ASSUMES, format!("not measured: cursors {c1:?} and {c2:?} name neither a place nor an item"), ""),
    }
}

async fn late(s: &Session, watch: Option<Duration>) -> Finding {
    const Q: &str = "Can a notification be listed after newer ones?";
    const ASSUMES: &str = "looks 2 minutes below what it handed over at every complete poll";
    let Some(wait) = watch else {
        return finding(Q, ASSUMES, "not measured (run with --watch 3m to read the notifications twice)", "");
    };
    let first = match s.notification_headings().limit(100).page().await {
        Ok(p) => p.items,
        Err(e) => return finding(Q, ASSUMES, format!("not measured: {e}"), ""),
    };
    tokio::time::sleep(wait).await;
    let second = match s.notification_headings().limit(100).page().await {
        Ok(p) => p.items,
        Err(e) => return finding(Q, ASSUMES, format!("not measured: {e}"), ""),
    };
    let newest = first.iter().filter_map(|h| crate::runtime::poller::mark_of(h).at_ms).max();
    let late: Vec<&Heading> = second
        .iter()
        .filter(|h| !first.iter().any(|f| f.id == h.id))
        .filter(|h| crate::runtime::poller::mark_of(h).at_ms.zip(newest).is_some_and(|(at, n)| at < n))
        .collect();
    match (late.first(), newest) {
        (Some(h), _) => finding(Q, ASSUMES, format!("yes: {} listed within {wait:?}, created before the newest listed earlier", h.id), ""),
        (None, Some(_)) => finding(Q, ASSUMES, format!("none seen within {wait:?}"), "--list-late-up-to 0s"),
        (None, None) => finding(Q, ASSUMES, "not measured: no notifications", ""),
    }
}

fn rate_headers(s: &Session) -> Finding {
    const Q: &str = "Do answers carry X-RateLimit-* headers?";
    let seen = s.rate_limits().server_remaining().iter().any(|(_, n)| n.is_some());
    finding(Q, "budgets itself, and reads them when they come", if seen { "yes" } else { "no" }, "")
}

/// Runs every probe against the agent of `args`; the findings.
pub async fn probe(s: &Session, args: &ProbeArgs) -> Result<Vec<Finding>> {
    let me = s.me().await?;
    Ok(vec![
        own_posts(s, &me.id, args.writes).await,
        ranges(s, &me.handle).await,
        cursors(s).await,
        late(s, args.watch).await,
        rate_headers(s),
    ])
}

/// Prints the findings as a table, or as JSON.
pub fn print(findings: &[Finding], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
        return Ok(());
    }
    let mut t = super::fmt::table(&["question", "the daemon", "this site", "emulator flag"]);
    for f in findings {
        t.add_row([f.question, f.daemon_assumes, f.site.as_str(), if f.emulator_flag.is_empty() { "(default)" } else { f.emulator_flag }]);
    }
    println!("{t}");
    let flags: Vec<&str> = findings.iter().map(|f| f.emulator_flag).filter(|f| !f.is_empty()).collect();
    println!("\nto emulate this site: imagine-agent sandbox {}", flags.join(" "));
    Ok(())
}

/// `probe`: as one configured agent, measure and print.
pub async fn run(a: ProbeArgs) -> Result<()> {
    let l = crate::setup::load(&a.config).map_err(|p| anyhow::anyhow!("{p}"))?;
    let (s, _) = super::agent_session(&l, a.agent.as_deref(), &a.config)?;
    print(&probe(&s, &a).await?, a.json)
}
