//! `imagine-agent drafts`: the approval queue for people. Every command talks
//! to the running daemon over its control socket, or to sled when none runs;
//! `edit` opens `$VISUAL`/`$EDITOR` (or takes `--text`) and checks the new text
//! with the behavior's own rules before it is kept.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::behaviors::engine::approval::{self, Draft, EditRules};
use crate::runtime;
use crate::setup;

#[derive(Args, Debug, Clone)]
pub struct Common {
    #[arg(long, short, default_value = "config.yaml")]
    pub config: PathBuf,
    /// The same data as JSON (rows of `{agent, draft, line}` or `{agent, id, done}`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum DraftsAction {
    /// Every draft: pending, approved, sent, rejected, discarded.
    List(Common),
    /// One draft in full.
    Show {
        id: String,
        #[command(flatten)]
        c: Common,
    },
    /// Send these drafts (through the intent path: once, also after a crash).
    Approve {
        ids: Vec<String>,
        /// Every pending draft.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        c: Common,
    },
    /// Never send these drafts.
    Reject {
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        c: Common,
    },
    /// Change a pending draft's text in $VISUAL/$EDITOR (or with --text); it stays pending.
    Edit {
        id: String,
        /// The new text, instead of an editor.
        #[arg(long)]
        text: Option<String>,
        #[command(flatten)]
        c: Common,
    },
}

/// Asks the daemon (or sled) for `drafts LINE`.
async fn ask(state_dir: &Path, line: &str) -> Result<Value> {
    let v = match runtime::control::ask_drafts(state_dir, line).await {
        Some(answer) => answer.map_err(|e| anyhow::anyhow!("the running daemon answered: {e}"))?,
        None => {
            let store = crate::store::Store::open(&state_dir.join("sled"))?;
            serde_json::from_str(&runtime::control::drafts_command(&store, line))?
        }
    };
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        bail!("{e}");
    }
    Ok(v)
}

pub async fn run(action: DraftsAction) -> Result<()> {
    match action {
        DraftsAction::List(c) => {
            let v = ask(&state_dir(&c.config)?, "list").await?;
            if c.json {
                return super::print_json(&v);
            }
            print_list(&v);
        }
        DraftsAction::Show { id, c } => {
            let v = ask(&state_dir(&c.config)?, &format!("show {id}")).await?;
            let Some(row) = v.as_array().and_then(|a| a.first()) else { bail!("no draft {id} (see `imagine-agent drafts list`)") };
            if c.json {
                return super::print_json(row);
            }
            let d: Draft = serde_json::from_value(row["draft"].clone())?;
            print_one(row["agent"].as_str().unwrap_or("?"), &d);
        }
        DraftsAction::Approve { ids, all, c } | DraftsAction::Reject { ids, all, c } if ids.is_empty() && !all => {
            let _ = c;
            bail!("name the drafts (see `imagine-agent drafts list`), or --all");
        }
        DraftsAction::Approve { ids, all, c } => decide(&c, "approve", &ids, all).await?,
        DraftsAction::Reject { ids, all, c } => decide(&c, "reject", &ids, all).await?,
        DraftsAction::Edit { id, text, c } => edit(&c, &id, text).await?,
    }
    Ok(())
}

fn state_dir(config: &Path) -> Result<PathBuf> {
    Ok(setup::load(config).map_err(|p| anyhow::anyhow!("{p}"))?.state_dir())
}

async fn decide(c: &Common, verb: &str, ids: &[String], all: bool) -> Result<()> {
    let line = if all { format!("{verb} --all") } else { format!("{verb} {}", ids.join(" ")) };
    let v = ask(&state_dir(&c.config)?, &line).await?;
    if c.json {
        return super::print_json(&v);
    }
    let rows = v.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("nothing changed (only pending drafts can be approved or rejected)");
    }
    let done = if verb == "approve" { "approved" } else { "rejected" };
    for r in rows {
        println!("{done} {} (@{})", r["id"].as_str().unwrap_or("?"), r["agent"].as_str().unwrap_or("?"));
    }
    if verb == "approve" && all {
        println!("the daemon sends approved drafts within a second while it runs");
    }
    Ok(())
}

async fn edit(c: &Common, id: &str, text: Option<String>) -> Result<()> {
    let loaded = setup::load(&c.config).map_err(|p| anyhow::anyhow!("{p}"))?;
    let dir = loaded.state_dir();
    let v = ask(&dir, &format!("show {id}")).await?;
    let Some(row) = v.as_array().and_then(|a| a.first()) else { bail!("no draft {id} (see `imagine-agent drafts list`)") };
    let d: Draft = serde_json::from_value(row["draft"].clone())?;
    let old = d.detail.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
    let new = match text {
        Some(t) => t,
        None => in_editor(&old)?,
    };
    if new.trim() == old.trim() {
        println!("no change to {id}");
        return Ok(());
    }
    // The behavior's own rules (banned words, links), as for the text it wrote itself.
    let contents: Vec<&crate::behaviors::engine::content::Content> =
        loaded.behaviors().filter(|b| b.behavior.name() == d.behavior).flat_map(|b| b.behavior.contents()).collect();
    let text = approval::vet(&d.action, &new, &EditRules::of(&contents), &[]).map_err(|why| anyhow::anyhow!("not kept: {why}"))?;
    let v = ask(&dir, &format!("edit {id} {}", serde_json::to_string(&text)?)).await?;
    if c.json {
        return super::print_json(&v);
    }
    println!("edited {id}: \"{}\"", super::fmt::excerpt(&text, 80));
    println!("approve it with `imagine-agent drafts approve {id}`");
    Ok(())
}

/// Opens `text` in the person's editor (`$VISUAL`, `$EDITOR`, else `vi`) and returns what they saved.
fn in_editor(text: &str) -> Result<String> {
    let set = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let editor = set("VISUAL").or_else(|| set("EDITOR")).unwrap_or_else(|| "vi".into());
    let dir = std::env::temp_dir().join(format!("imagine-agent-draft-{}", std::process::id()));
    crate::private::private_dir(&dir)?;
    let path = dir.join("draft.txt");
    crate::private::write_private(&path, text.as_bytes())?;
    // As git does: the editor may carry arguments, so the shell splits it; the file is "$1".
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("cannot start the editor {editor:?}"))?;
    let out = std::fs::read_to_string(&path);
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        bail!("the editor {editor:?} exited with {status}; nothing changed");
    }
    Ok(out?)
}

fn print_list(v: &Value) {
    let rows = v.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("no drafts");
        return;
    }
    let now = crate::store::now_ms();
    let mut t = super::fmt::table(&["ID", "STATUS", "AGENT", "BEHAVIOR", "ACTION", "TO", "CREATED", "TEXT"]);
    for r in &rows {
        let Ok(d) = serde_json::from_value::<Draft>(r["draft"].clone()) else { continue };
        let mut status = format!("{:?}", d.status).to_lowercase();
        if d.edited {
            status.push_str(" (edited)");
        }
        let text = d.detail.get("content").and_then(Value::as_str).unwrap_or_default();
        let media = approval::media_of(&d).len();
        let with = if media > 0 { format!(" +{media} media") } else { String::new() };
        t.add_row(vec![
            d.id.clone(),
            status,
            format!("@{}", r["agent"].as_str().unwrap_or("?")),
            d.behavior.clone(),
            d.action.clone(),
            approval::target(&d),
            super::fmt::ago(d.created_ms, now),
            format!("\"{}\"{with}", super::fmt::excerpt(text, 60)),
        ]);
    }
    println!("{t}");
    let pending = rows.iter().filter(|r| r["draft"]["status"] == "pending").count();
    if pending > 0 {
        println!("\n{pending} waiting: `imagine-agent drafts show ID`, `approve ID...`, `edit ID`, `reject ID...` (or --all)");
    }
}

fn print_one(agent: &str, d: &Draft) {
    let now = crate::store::now_ms();
    println!("draft    {}", d.id);
    println!("status   {}{}", format!("{:?}", d.status).to_lowercase(), if d.edited { " (edited by a person)" } else { "" });
    println!("agent    @{agent}");
    println!("behavior {} ({}, key {})", d.behavior, d.action, d.key);
    if !approval::target(d).is_empty() {
        println!("to       {}", approval::target(d));
    }
    println!("created  {}", super::fmt::ago(d.created_ms, now));
    if let Some(t) = d.expires_ms {
        let what = if d.on_timeout == approval::OnTimeout::Send { "sent" } else { "discarded" };
        println!("expires  {} (then {what})", super::fmt::ago(t, now));
    }
    if let Some(p) = &d.problem {
        println!("problem  {p}");
    }
    let media = approval::media_of(d);
    if !media.is_empty() {
        println!("media    {}", media.join(", "));
    }
    println!("\n{}", d.detail.get("content").and_then(Value::as_str).unwrap_or_default());
}
