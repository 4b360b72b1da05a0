//! `validate` and `schedule`: the configuration checked, and the next fire times.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use super::print_json;
use crate::setup;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[arg(long, short, default_value = "config.yaml")]
    pub config: PathBuf,
    /// `{ok, behaviors, agents, problems: [{file, line, column, message}]}`.
    #[arg(long)]
    pub json: bool,
}

/// Every problem as file:line:column; exits 1 when there is one.
pub fn validate(a: ValidateArgs) -> Result<()> {
    let (config, json) = (a.config, a.json);
    match setup::load(&config) {
        Ok(l) if json => {
            print_json(&serde_json::json!({"ok": true, "behaviors": l.behaviors().count(), "agents": l.agents.len(), "problems": []}))?
        }
        Ok(l) => println!("{}: ok ({} behaviors, {} agent(s))", config.display(), l.behaviors().count(), l.agents.len()),
        Err(p) => {
            if json {
                let problems: Vec<Value> =
                    p.0.iter()
                        .map(|pr| serde_json::json!({"file": pr.file, "line": pr.line, "column": pr.column, "message": pr.message}))
                        .collect();
                print_json(&serde_json::json!({"ok": false, "problems": problems}))?;
            } else {
                for pr in &p.0 {
                    println!("{pr}");
                }
            }
            std::process::exit(1);
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ScheduleArgs {
    #[arg(long, short, default_value = "config.yaml")]
    pub config: PathBuf,
    #[arg(long, default_value_t = 5)]
    pub count: usize,
    /// `[{behavior, kind, schedule, timezone, enabled, next: [RFC 3339...]}]`.
    #[arg(long)]
    pub json: bool,
}

/// The next `count` fire times of every scheduled behavior, in its time zone.
pub fn schedule(a: ScheduleArgs) -> Result<()> {
    let (config, count, json) = (a.config, a.count, a.json);
    let l = setup::load(&config).map_err(|p| anyhow::anyhow!("{p}"))?;
    let now = chrono::Utc::now();
    let mut rows = vec![];
    for b in l.behaviors() {
        let Some((expr, tz)) = b.behavior.schedule() else { continue };
        let s = crate::behaviors::engine::schedule::Schedule::parse(expr, tz)?;
        let next: Vec<String> = s.upcoming(now, count).iter().map(|t| t.to_rfc3339()).collect();
        if !json {
            println!(
                "{} ({}, {expr:?} in {tz}){}:",
                b.behavior.name(),
                b.behavior.kind(),
                if b.behavior.enabled() { "" } else { " [disabled]" }
            );
            for t in s.upcoming(now, count) {
                println!("  {}", t.format("%Y-%m-%d %H:%M:%S %Z (%a)"));
            }
        }
        rows.push(serde_json::json!({"behavior": b.behavior.name(), "kind": b.behavior.kind(), "schedule": expr, "timezone": tz, "enabled": b.behavior.enabled(), "next": next}));
    }
    if json {
        print_json(&rows)?;
    }
    Ok(())
}
