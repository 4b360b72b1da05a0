//! `imagine-agent state` for people: per agent, in words, what it did last
//! (who, what, when), what waits (events, drafts, conversations handed to a
//! person, orders left for a person), schedules and lists in their own terms,
//! and each unfinished intent explained. `--json` prints the report as it is
//! (`StateView`: stable field names).

use serde_json::Value;

use super::fmt::{ago, excerpt};
use crate::behaviors::engine::say;
use crate::store::state_view::{AgentView, StateView};
use crate::store::ActionState;

/// A value that is a time in ms since the epoch (2001..2286), in words.
fn as_time(v: &Value, now: i64) -> Option<String> {
    let ms = v.as_i64().filter(|ms| (1_000_000_000_000..10_000_000_000_000).contains(ms))?;
    let local = chrono::DateTime::from_timestamp_millis(ms)?.with_timezone(&chrono::Local);
    Some(format!("{} ({})", local.format("%Y-%m-%d %H:%M"), ago(ms, now)))
}

/// One position (schedule, list, counter, service...) in the user's words.
fn position(behavior: &str, key: &str, v: &Value, now: i64) -> String {
    let list = |v: &Value| {
        let next = v.get("next").and_then(Value::as_u64).unwrap_or(0);
        let of = v.get("order").and_then(Value::as_array).map(|o| o.len()).filter(|n| *n > 0);
        let round = v.get("round").and_then(Value::as_u64).unwrap_or(0) + 1;
        match of {
            Some(n) => format!("{next} of {n} used this round (round {round})"),
            None => format!("{next} used this round (round {round})"),
        }
    };
    let count = |v: &Value| v.as_array().map(|a| a.len()).or_else(|| v.as_object().map(|o| o.len())).unwrap_or(0);
    match (behavior, key) {
        ("_memory", "met") => return format!("memory: {} agents remembered", count(v)),
        ("_memory", "known") => return format!("memory: {v} agents remembered"),
        ("_memory", "texts") => return format!("memory: the last {} texts kept, so none is repeated", count(v)),
        (_, "sent") => return format!("{behavior}: {} recent sends counted against its caps", count(v)),
        (_, k) if k.starts_with("cap:") => {
            use crate::behaviors::engine::caps::{Window, DAY_MS, HOUR_MS};
            if let Ok(w) = serde_json::from_value::<Window>(v.clone()) {
                let (hour, day) = (w.within(now, HOUR_MS), w.within(now, DAY_MS));
                return format!("{behavior}: {} {hour} in the last hour, {day} in the last day (against its caps)", &k[4..]);
            }
        }
        _ => {}
    }
    match key {
        "last_fire" => format!("{behavior}: last ran {}", as_time(v, now).unwrap_or_else(|| v.to_string())),
        "pending_fire" => format!("{behavior}: the run of {} is being finished", as_time(v, now).unwrap_or_else(|| v.to_string())),
        "counter" => format!("{behavior}: {} runs so far", v),
        "list" if v.get("next").is_some() => format!("{behavior}: its list: {}", list(v)),
        k if k.ends_with("list") && v.get("next").is_some() => format!("{behavior}: {} list: {}", k.trim_end_matches("_list"), list(v)),
        k if k.starts_with("service:") => format!("{behavior}: service {:?} listed as {}", &k[8..], v.as_str().unwrap_or(&v.to_string())),
        k => match as_time(v, now) {
            Some(t) => format!("{behavior}: {k} {t}"),
            None => format!("{behavior}: {k} = {}", excerpt(&v.to_string(), 100)),
        },
    }
}

fn agent(out: &mut String, a: &AgentView, now: i64) {
    let waiting: usize = a.events_waiting.values().sum();
    out.push_str(&format!("@{}\n", a.handle));
    out.push_str(&format!("  notifications  {} seen, {waiting} events waiting", a.notifications_seen));
    let by: Vec<String> = a.events_waiting.iter().filter(|(_, n)| **n > 0).map(|(b, n)| format!("{b} {n}")).collect();
    if !by.is_empty() {
        out.push_str(&format!(" ({})", by.join(", ")));
    }
    out.push('\n');
    out.push_str(&format!("  actions        {} recorded, {} unfinished\n", a.actions, a.unfinished_intents));
    if let Some(c) = &a.catching_up {
        let phase = if c.read_all { "all read, being handed to the behaviors" } else { "still reading older pages" };
        out.push_str(&format!("  CATCHING UP    {} missed notifications read from {} pages, {phase}\n", c.staged, c.pages));
    }
    if a.drafts_pending > 0 {
        out.push_str(&format!("  DRAFTS   {} waiting for approval -- see `imagine-agent drafts list`\n", a.drafts_pending));
    }
    for (b, conv, v) in &a.handoffs {
        out.push_str(&format!(
            "  HANDED OFF conversation {conv} in {b} (@{}: \"{}\") -- answers resume with `imagine-agent conversations resume {conv}`\n",
            v.get("handle").and_then(Value::as_str).unwrap_or("?"),
            excerpt(v.get("text").and_then(Value::as_str).unwrap_or(""), 60)
        ));
    }
    for b in &a.blocked {
        let until = b.until_ms.and_then(|u| as_time(&Value::from(u), now)).map(|t| format!(" until {t}")).unwrap_or_default();
        out.push_str(&format!(
            "  BLOCKED @{} by {} ({}){until} -- lift with `imagine-agent block remove {}`\n",
            b.handle,
            b.by,
            excerpt(&b.why, 80),
            b.handle
        ));
    }
    for (b, k, v) in a.positions.iter().filter(|(_, k, _)| k.starts_with("stuck:")) {
        out.push_str(&format!(
            "  STUCK order {} in {b}, left for a person: {}\n",
            k.trim_start_matches("stuck:"),
            v.as_str().unwrap_or(&v.to_string())
        ));
    }
    for (b, id, v) in &a.jobs_in_flight {
        let since = v.get("started_ms").and_then(|s| as_time(s, now)).map(|t| format!(", started {t}")).unwrap_or_default();
        out.push_str(&format!("  generating     {b}: job {id}{since}\n"));
    }
    let positions: Vec<String> =
        a.positions.iter().filter(|(_, k, _)| !k.starts_with("stuck:")).map(|(b, k, v)| position(b, k, v, now)).collect();
    if !positions.is_empty() {
        out.push_str("  where things stand\n");
        for p in positions {
            out.push_str(&format!("    {p}\n"));
        }
    }
    let unfinished: Vec<_> = a.recent.iter().filter(|r| r.state == ActionState::Intent).collect();
    if !unfinished.is_empty() {
        out.push_str("  unfinished (recorded before sending; at the next start each is looked for on the platform, and sent only if it is not there)\n");
        for r in unfinished {
            out.push_str(&format!(
                "    {}  {}: {}\n",
                ago(r.at_ms, now),
                r.behavior,
                say::done(&r.action, &r.detail, None).replace(" ?:", ":")
            ));
        }
    }
    if !a.recent.is_empty() {
        out.push_str("  recent\n");
        for r in a.recent.iter().filter(|r| r.state != ActionState::Intent) {
            let what = match r.state {
                ActionState::Done => say::done(&r.action, &r.detail, r.result.as_deref()),
                _ => match r.result.as_deref() {
                    Some(d) if d.starts_with("drafted:") => format!("drafted a {} for approval ({})", r.action, &d[8..]),
                    Some(why) => format!("did not {} ({})", r.action, excerpt(why, 80)),
                    None => format!("did not {}", r.action),
                },
            };
            out.push_str(&format!("    {:>12}  {:<16} {}\n", ago(r.at_ms, now), r.behavior, what));
        }
    }
}

/// The report as text for people.
pub fn text(report: &StateView) -> String {
    let now = crate::store::now_ms();
    let mut out = String::new();
    if report.agents.is_empty() {
        out.push_str("no agent has state here yet\n");
    }
    for (i, a) in report.agents.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        agent(&mut out, a, now);
    }
    out
}

#[derive(clap::Args, Debug)]
pub struct StateArgs {
    #[command(subcommand)]
    pub action: Option<super::fleet::StateAction>,
    /// The state directory; default: the one of --config.
    #[arg(long, global = true)]
    pub state_dir: Option<std::path::PathBuf>,
    #[arg(long, short, default_value = "config.yaml", global = true)]
    pub config: std::path::PathBuf,
    #[arg(long, default_value_t = 20)]
    pub recent: usize,
    #[arg(long)]
    pub json: bool,
}

/// `state`: asks the running daemon (its control socket) or, when none runs, reads sled.
pub async fn run(a: StateArgs) -> anyhow::Result<()> {
    let state_dir = match a.state_dir {
        Some(d) => d,
        None => crate::setup::load(&a.config).map_err(|p| anyhow::anyhow!("{p}"))?.state_dir(),
    };
    if let Some(action) = a.action {
        return super::fleet::state(&state_dir, action);
    }
    let report = match crate::runtime::control::ask(&state_dir, a.recent).await {
        Some(answer) => answer.map_err(|e| anyhow::anyhow!("the running daemon answered: {e}"))?,
        None => {
            let store = crate::store::Store::open(&state_dir.join("sled"))?;
            crate::store::state_view::StateView::build(&store, a.recent)?
        }
    };
    if a.json {
        super::print_json(&report)
    } else {
        print!("{}", text(&report));
        Ok(())
    }
}
