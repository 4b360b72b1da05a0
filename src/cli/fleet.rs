//! Many daemons: `fleet plan` (which shard runs which agent, and what moves
//! when the count changes) and `state export | import | forget` (one agent's
//! complete state moved between daemons, with both stopped).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::config::shard;
use crate::setup;
use crate::store::transfer::Export;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum FleetAction {
    /// Which shard runs which agent with `--count N`; with `--from M`, only what moves from M shards to N.
    Plan {
        #[arg(long, short, default_value = "config.yaml")]
        config: PathBuf,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        from: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum StateAction {
    /// Print one agent's complete state as JSON (stop the daemon first: sled allows one process).
    Export {
        #[arg(long)]
        agent: String,
    },
    /// Take in an agent's state exported elsewhere (this daemon stopped); refuses to mix unless --replace.
    Import {
        file: PathBuf,
        #[arg(long)]
        replace: bool,
    },
    /// Drop one agent's state here (after it moved and runs elsewhere).
    Forget {
        #[arg(long)]
        agent: String,
    },
}

pub fn plan(path: &Path, count: u32, from: Option<u32>, json: bool) -> Result<()> {
    if count == 0 || from == Some(0) {
        bail!("a fleet has at least one shard");
    }
    let l = setup::load(path).map_err(|p| anyhow::anyhow!("{p}"))?;
    let handles: Vec<String> = l.agents.iter().filter_map(|a| a.handle.clone()).collect();
    let rows: Vec<(String, Option<u32>, u32)> =
        handles.iter().map(|h| (h.clone(), from.map(|f| shard::owner(h, f)), shard::owner(h, count))).collect();
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(h, f, t)| serde_json::json!({"agent": h, "from": f, "shard": t, "moves": f.is_some_and(|f| f != *t)}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match from {
        None => {
            let mut t = super::fmt::table(&["AGENT", "SHARD"]);
            for (h, _, s) in &rows {
                t.add_row(vec![format!("@{h}"), s.to_string()]);
            }
            println!("{t}");
            for i in 0..count {
                println!("shard {i}: {} agents", rows.iter().filter(|r| r.2 == i).count());
            }
        }
        Some(f) => {
            let moving: Vec<_> = rows.iter().filter(|(_, a, b)| *a != Some(*b)).collect();
            let mut t = super::fmt::table(&["AGENT", "FROM", "TO"]);
            for (h, a, b) in &moving {
                t.add_row(vec![format!("@{h}"), a.map(|a| a.to_string()).unwrap_or_default(), b.to_string()]);
            }
            if !moving.is_empty() {
                println!("{t}");
            }
            println!("from {f} to {count} shards: {} of {} agents move", moving.len(), rows.len());
        }
    }
    Ok(())
}

fn open(state_dir: &Path) -> Result<Store> {
    Store::open(&state_dir.join("sled")).with_context(|| "the daemon of this state directory must be stopped (sled allows one process)")
}

pub fn state(state_dir: &Path, action: StateAction) -> Result<()> {
    match action {
        StateAction::Export { agent } => {
            let store = open(state_dir)?;
            let Some(e) = store.export_agent(&agent)? else { bail!("no state of @{agent} in {}", state_dir.display()) };
            println!("{}", serde_json::to_string(&e)?);
            eprintln!("exported @{agent}: {} records in {} trees", e.records(), e.trees.len());
        }
        StateAction::Import { file, replace } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let e: Export = serde_json::from_str(&text).with_context(|| format!("{} is not a state export", file.display()))?;
            crate::private::private_dir(state_dir)?;
            let n = open(state_dir)?.import_agent(&e, replace)?;
            println!("imported @{}: {n} records", e.agent);
        }
        StateAction::Forget { agent } => {
            let store = open(state_dir)?;
            if !store.agents().contains(&agent) {
                bail!("no state of @{agent} in {}", state_dir.display());
            }
            let n = store.forget_agent(&agent)?;
            println!("forgot @{agent} ({n} records)");
        }
    }
    Ok(())
}
