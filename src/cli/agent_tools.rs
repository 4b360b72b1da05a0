//! Tools on one configured agent: `conversations resume`, `block`, `character show`, `profile diff`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use super::agent_session;
use crate::runtime;
use crate::setup;

#[derive(Subcommand, Debug)]
pub enum ConversationsAction {
    /// Turn automatic answers back on in conversation ID (`state` lists the handed-off ones).
    Resume {
        id: String,
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
    },
}

pub async fn conversations(action: ConversationsAction) -> Result<()> {
    let ConversationsAction::Resume { id, config } = action;
    let state_dir = setup::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?.state_dir();
    let n = match runtime::control::resume(&state_dir, &id).await {
        Some(answer) => answer.map_err(|e| anyhow::anyhow!("the running daemon answered: {e}"))?,
        None => crate::store::state_view::resume_conversation(&crate::store::Store::open(&state_dir.join("sled"))?, &id)?,
    };
    if n == 0 {
        bail!("conversation {id} is not handed off (see `imagine-agent state`)");
    }
    println!("answers in {id} are on again");
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum BlockAction {
    /// Everyone blocked, by whom and why.
    List {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        /// With several agents under `agents:`: only this one.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Block HANDLE: no behavior answers, likes, follows or messages it.
    Add {
        handle: String,
        /// Why, for `state` and `block list`.
        #[arg(long, default_value = "blocked by hand")]
        why: String,
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        #[arg(long)]
        agent: Option<String>,
    },
    /// Lift the block on HANDLE.
    Remove {
        handle: String,
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        #[arg(long)]
        agent: Option<String>,
    },
}

pub async fn block(action: BlockAction) -> Result<()> {
    let (verb, handle, why, config, agent) = match action {
        BlockAction::List { config, agent } => ("list", None, String::new(), config, agent),
        BlockAction::Add { handle, why, config, agent } => ("add", Some(handle), why, config, agent),
        BlockAction::Remove { handle, config, agent } => ("remove", Some(handle), String::new(), config, agent),
    };
    if let Some(h) = &handle {
        crate::wire::limits::check_handle(h.trim_start_matches('@')).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let handle = handle.map(|h| h.trim_start_matches('@').to_lowercase());
    let state_dir = setup::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?.state_dir();
    let line = format!("{} {verb} {} {why}", agent.as_deref().unwrap_or("*"), handle.as_deref().unwrap_or(""));
    let rows = match runtime::control::ask_block(&state_dir, &line).await {
        Some(answer) => answer.map_err(|e| anyhow::anyhow!("the running daemon answered: {e}"))?,
        None => {
            let store = crate::store::Store::open(&state_dir.join("sled"))?;
            let rows = crate::store::state_view::block_command(&store, agent.as_deref(), verb, handle.as_deref(), &why)?;
            store.flush().await?;
            rows
        }
    };
    if rows.is_empty() {
        match verb {
            "list" => println!("nobody is blocked"),
            "remove" => bail!("@{} is not blocked", handle.unwrap_or_default()),
            _ => bail!("no agent has state here yet: start the daemon once first"),
        }
    }
    for r in rows {
        let s = |k: &str| r.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
        match verb {
            "list" => {
                let b = r.get("block").cloned().unwrap_or_default();
                let by = b.get("by").and_then(serde_json::Value::as_str).unwrap_or("?");
                let why = b.get("why").and_then(serde_json::Value::as_str).unwrap_or("");
                println!("@{}: @{} blocked by {by} ({why})", s("agent"), s("handle"));
            }
            _ => println!("@{}: @{} {}", s("agent"), s("handle"), s("done")),
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum CharacterAction {
    /// The rendered system prompt, as the model sees it.
    Show {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        /// What the text is for: its style rules and examples.
        #[arg(long = "for", value_enum, default_value_t = crate::character::Purpose::Post)]
        purpose: crate::character::Purpose,
        /// With several agents under `agents:`: which one.
        #[arg(long)]
        agent: Option<String>,
    },
}

pub fn character(action: CharacterAction) -> Result<()> {
    let CharacterAction::Show { config, purpose, agent } = action;
    let l = setup::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?;
    let spec = match agent.as_deref() {
        Some(h) => l.agents.iter().find(|a| a.handle.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(h))),
        None if l.agents.len() == 1 => l.agents.first(),
        None => bail!("several agents are configured; say which with --agent HANDLE"),
    }
    .with_context(|| format!("no agent {} in {}", agent.unwrap_or_default(), config.display()))?;
    let c = spec.character.as_ref().with_context(|| format!("no `character:` for this agent in {}", config.display()))?;
    let ignored = c.ignored_fields();
    if !ignored.is_empty() {
        eprintln!("ignored (not used by imagine-agent): {}", ignored.join(", "));
    }
    println!("{}", c.render(purpose, spec.handle.as_deref().unwrap_or("your_handle"), 0));
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum ProfileAction {
    /// What would change on the platform (like `terraform plan`); reads only.
    Diff {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        /// With several agents under `agents:`: only this one.
        #[arg(long)]
        agent: Option<String>,
    },
}

pub async fn profile(action: ProfileAction) -> Result<()> {
    let ProfileAction::Diff { config, agent } = action;
    profile_diff(&config, agent.as_deref()).await
}

/// `profile diff`: per agent and `profile` behavior, the changes applying it would make now.
async fn profile_diff(path: &std::path::Path, only: Option<&str>) -> Result<()> {
    let l = setup::load(path).map_err(|p| anyhow::anyhow!("{p}"))?;
    if l.config.sandbox {
        bail!(
            "{} runs the embedded sandbox (sandbox: true), which exists only while `run` runs; \
             to diff against an emulator, start `imagine-agent sandbox` and set base_url to it with sandbox: false",
            path.display()
        );
    }
    let mut total = 0;
    for spec in l.agents.iter().filter(|a| only.is_none_or(|h| a.handle.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(h)))) {
        let (session, _) = agent_session(&l, spec.handle.as_deref(), path)?;
        for b in spec.behaviors.iter().filter(|b| b.behavior.enabled()) {
            let Some(changes) = b.behavior.plan(&session).await else { continue };
            let changes = changes?;
            let who = spec.handle.as_deref().map(|h| format!("@{h}")).unwrap_or_else(|| "the agent".into());
            println!("{who}: {} \"{}\" ({}:{})", b.behavior.kind(), b.behavior.name(), b.file.display(), b.line);
            if changes.is_empty() {
                println!("  no changes");
            }
            for c in &changes {
                println!("  {c}");
            }
            total += changes.len();
        }
    }
    println!("{total} change(s)");
    Ok(())
}
