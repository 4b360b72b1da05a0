//! `imagine-agent doctor --config ...`: checks what makes agents fail in
//! production, and says how to fix each. Exit status 1 when something is
//! wrong; `--json` for tools. Reads, and the platform's own test of each
//! connected provider's key (one authenticated read per agent, one model list
//! per LLM profile, one test per connected provider).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::api::{Session, SessionConfig};
use crate::config::providers::ProviderKey;
use crate::setup;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// How to fix it, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn good(check: &str, detail: impl Into<String>) -> Finding {
    Finding { check: check.into(), ok: true, detail: detail.into(), fix: None }
}

fn bad(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { check: check.into(), ok: false, detail: detail.into(), fix: Some(fix.into()) }
}

/// The state directory: present, ours, not readable by others; sled not held by a process that is not a daemon answering.
async fn state_dir(dir: &Path, out: &mut Vec<Finding>) {
    if !dir.exists() {
        out.push(good("state directory", format!("{} does not exist yet (created at the first run)", dir.display())));
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(dir) {
            Ok(m) => {
                let mode = m.mode() & 0o777;
                // SAFETY: geteuid has no preconditions and touches no memory.
                let me = unsafe { libc::geteuid() };
                if m.uid() != me {
                    out.push(bad(
                        "state directory",
                        format!("{} belongs to uid {}, this process runs as uid {me}", dir.display(), m.uid()),
                        format!("chown -R {me} {} (or run as its owner)", dir.display()),
                    ));
                } else if mode & 0o077 != 0 {
                    out.push(bad(
                        "state directory",
                        format!("{} has mode {mode:o}: other users can read the agent's state", dir.display()),
                        format!("chmod 700 {}", dir.display()),
                    ));
                } else {
                    out.push(good("state directory", format!("{} (mode {mode:o}, ours)", dir.display())));
                }
            }
            Err(e) => out.push(bad("state directory", format!("{}: {e}", dir.display()), "check the path and its permissions")),
        }
    }
    let sled = dir.join("sled");
    if !sled.exists() {
        return;
    }
    let daemon = crate::runtime::control::ask(dir, 0).await.is_some();
    match sled::Config::new().path(&sled).open() {
        Ok(_) => out.push(good("state lock", "no other process holds the state")),
        Err(_) if daemon => out.push(good("state lock", "held by the running daemon (it answers on its control socket)")),
        Err(e) => out.push(bad(
            "state lock",
            format!("{} is locked by another process that is not an answering daemon: {e}", sled.display()),
            format!("find it with `fuser -v {}/db` and stop it; two daemons must not share a state directory", sled.display()),
        )),
    }
}

/// One agent's credentials, the platform's clock, and what is left of the rate budget.
async fn agent(l: &setup::Loaded, spec: &setup::AgentSpec, out: &mut Vec<Finding>) {
    let label = spec.handle.clone().unwrap_or_else(|| "agent".into());
    let check = format!("credentials @{label}");
    let (id, secret) = match spec.credentials.read() {
        Ok(c) => c,
        Err(e) => {
            out.push(bad(&check, e.to_string(), "set them (see `imagine-agent init --real`, or `imagine-agent register`)"));
            return;
        }
    };
    let session = match Session::new(SessionConfig::new(&l.config.base_url).credentials(id, secret)) {
        Ok(s) => s,
        Err(e) => {
            out.push(bad(&check, e.to_string(), "check base_url"));
            return;
        }
    };
    let accepted = session.me().await;
    let signed_in = accepted.is_ok();
    match accepted {
        Ok(me) if spec.handle.as_deref().is_some_and(|h| !h.eq_ignore_ascii_case(&me.handle)) => out.push(bad(
            &check,
            format!("they belong to @{}, not @{label}", me.handle),
            "use this agent's own credentials, or change its handle in the config",
        )),
        Ok(me) => out.push(good(&check, format!("accepted: they belong to @{}", me.handle))),
        Err(e) if e.is_transient() => out.push(bad(
            &check,
            format!("the platform could not be reached: {e}"),
            format!("check the network and base_url ({})", l.config.base_url),
        )),
        Err(e) => {
            out.push(bad(&check, format!("refused: {e}"), "the secret is wrong or was rotated: put the current one in the credentials"))
        }
    }
    if signed_in {
        account(l, spec, &session, &label, out).await;
    }
    let left: Vec<String> = session.rate_limits().server_remaining().iter().filter_map(|(c, n)| n.map(|n| format!("{c} {n}"))).collect();
    if !left.is_empty() {
        let spent = session.rate_limits().server_remaining().iter().any(|(_, n)| *n == Some(0));
        let f = format!("left in the platform's window: {}", left.join(", "));
        out.push(if spent {
            bad(&format!("rate budget @{label}"), f, "a budget is spent: lower rate_limits or wait for the window")
        } else {
            good(&format!("rate budget @{label}"), f)
        });
    }
}

/// What an agent signed in with needs on the platform: its providers, and
/// (with a marketplace behavior) a payment account that can pay out.
async fn account(l: &setup::Loaded, spec: &setup::AgentSpec, session: &Session, label: &str, out: &mut Vec<Finding>) {
    providers(&l.config.providers, session, label, out).await;
    if !spec.behaviors.iter().any(|b| b.behavior.kind() == "marketplace") {
        return;
    }
    let check = format!("payments @{label}");
    match session.payment_account().await {
        Ok(a) if a.payouts_enabled => out.push(good(&check, "the payment account is onboarded: payouts enabled")),
        Ok(a) => out.push(bad(
            &check,
            format!(
                "payouts not enabled: the payment account's onboarding is not complete{}",
                a.onboarding_url.map(|u| format!(" ({u})")).unwrap_or_default()
            ),
            "complete the onboarding at its link (`imagine-agent api POST /api/marketplace/connect` gives it); payouts wait until then",
        )),
        Err(e) => out.push(bad(&check, format!("the payment account could not be read: {e}"), "check the network")),
    }
}

/// Each declared provider's key can be read, and each provider connected on
/// the platform passes the platform's own test of its key.
async fn providers(declared: &BTreeMap<String, ProviderKey>, session: &Session, label: &str, out: &mut Vec<Finding>) {
    for (name, k) in declared {
        if let Err(e) = k.read() {
            out.push(bad(&format!("provider {name} @{label}"), e.to_string(), "set the variable or write the key file (see `providers:`)"));
        }
    }
    let connected = match session.connected_services().await {
        Ok(c) => c,
        Err(e) => {
            return out.push(bad(
                &format!("providers @{label}"),
                format!("the connected providers could not be read: {e}"),
                "check the network",
            ))
        }
    };
    for name in declared.keys().filter(|n| !connected.iter().any(|c| c.provider.as_ref().is_some_and(|p| p.as_str() == n.as_str()))) {
        out.push(good(&format!("provider {name} @{label}"), "declared; connected at the daemon's next start"));
    }
    for (p, active) in connected.iter().filter_map(|c| c.provider.clone().map(|p| (p, c.is_active))) {
        let check = format!("provider {p} @{label}");
        match session.test_service(&p).await {
            Ok(t) if t.success && active => out.push(good(&check, format!("connected; the platform's test passed ({})", t.message))),
            Ok(t) => out.push(bad(
                &check,
                format!("connected{}; the platform's test failed: {}", if active { "" } else { " but switched off" }, t.message),
                "declare a valid key under `providers:` and restart (it is connected, or switched on, at start)",
            )),
            Err(e) => out.push(bad(&check, format!("the platform's test could not run: {e}"), "check the network")),
        }
    }
}

/// The platform's clock against ours (its `Date` header).
async fn clock(base: &str, out: &mut Vec<Finding>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    let Ok(r) = http.get(format!("{}/api/explore", base.trim_end_matches('/'))).send().await else {
        out.push(bad("clock", "the platform could not be reached to compare clocks", format!("check the network and base_url ({base})")));
        return;
    };
    let Some(date) = r.headers().get("date").and_then(|d| d.to_str().ok()).and_then(|d| httpdate::parse_http_date(d).ok()) else {
        out.push(good("clock", "the platform sent no Date header to compare with"));
        return;
    };
    let theirs = chrono::DateTime::<chrono::Utc>::from(date);
    let skew = (chrono::Utc::now() - theirs).num_seconds();
    if skew.abs() > 60 {
        out.push(bad(
            "clock",
            format!("this machine's clock is {skew} s off the platform's"),
            "enable time sync (timedatectl set-ntp true); tokens and webhook signatures depend on it",
        ));
    } else {
        out.push(good("clock", format!("{skew} s off the platform's (fine)")));
    }
}

/// Each LLM profile: reachable, and its model among the ones the server lists.
async fn llm(name: &str, p: &crate::llm::ProfileConfig, out: &mut Vec<Finding>) {
    let check = format!("llm profile {name}");
    let http = reqwest::Client::builder().timeout(p.timeout.min(Duration::from_secs(15))).build().unwrap_or_default();
    let mut req = http.get(format!("{}/models", p.base_url.trim_end_matches('/')));
    match p.api_key() {
        Ok(Some(k)) => req = req.bearer_auth(secrecy::ExposeSecret::expose_secret(&k)),
        Ok(None) => {}
        Err(e) => {
            out.push(bad(&check, e, "export the variable, or write the key file, named in the profile"));
            return;
        }
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            let ids: Vec<&str> = v["data"].as_array().map(|a| a.iter().filter_map(|m| m["id"].as_str()).collect()).unwrap_or_default();
            if ids.is_empty() || ids.contains(&p.model.as_str()) {
                out.push(good(&check, format!("{} answers; model {} listed", p.base_url, p.model)));
            } else {
                out.push(bad(
                    &check,
                    format!("model {} is not among {}", p.model, ids.join(", ")),
                    "fix `model:` (or pull it: ollama pull ...)",
                ));
            }
        }
        Ok(r) => out.push(bad(&check, format!("{} answered {}", p.base_url, r.status()), "check the key and base_url")),
        Err(e) => out.push(bad(
            &check,
            format!("{} cannot be reached: {}", p.base_url, e.without_url()),
            "start the model server, or fix base_url",
        )),
    }
}

/// Push mode: the secret each agent needs is there.
fn webhook(l: &setup::Loaded, out: &mut Vec<Finding>) {
    let Some(w) = &l.config.webhook else { return };
    for spec in &l.agents {
        let per_agent = (!l.config.agents.is_empty()).then(|| spec.handle.clone()).flatten();
        let path: PathBuf =
            w.secret_file.clone().unwrap_or_else(|| crate::runtime::webhook_secret_path(&l.state_dir(), per_agent.as_deref()));
        let env = per_agent.is_none() && std::env::var_os("IMAGINEANYTHING_WEBHOOK_SECRET").is_some();
        let label = spec.handle.clone().unwrap_or_else(|| "agent".into());
        if env || path.exists() {
            out.push(good(&format!("webhook @{label}"), format!("secret present; receiving on {}{}", w.listen, w.path)));
        } else {
            out.push(bad(
                &format!("webhook @{label}"),
                format!("no webhook secret at {}", path.display()),
                format!(
                    "imagine-agent webhook set https://YOUR-HOST{}{}",
                    w.path,
                    per_agent.map(|h| format!(" --agent {h}")).unwrap_or_default()
                ),
            ));
        }
    }
}

/// A spinner on a terminal (the checks talk to the network and can take seconds); nothing otherwise.
fn spinner() -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let s = indicatif::ProgressBar::new_spinner();
    s.enable_steady_tick(Duration::from_millis(100));
    s
}

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    #[arg(long, short, default_value = "config.yaml")]
    pub config: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(path: &Path, json: bool) -> Result<bool> {
    let mut out = vec![];
    let spin = spinner();
    spin.set_message("reading the config");
    let loaded = match setup::load(path) {
        Ok(l) => {
            out.push(good(
                "config",
                format!("{} is valid ({} behaviors, {} agents)", path.display(), l.behaviors().count(), l.agents.len()),
            ));
            Some(l)
        }
        Err(p) => {
            out.push(bad("config", p.to_string(), format!("fix the lines above; `imagine-agent validate --config {}`", path.display())));
            None
        }
    };
    if let Some(l) = &loaded {
        spin.set_message("looking at the state directory");
        state_dir(&l.state_dir(), &mut out).await;
        if l.config.sandbox {
            out.push(good("platform", "sandbox: true: the built-in emulator, no credentials needed"));
        } else {
            spin.set_message("asking the platform for the time");
            clock(&l.config.base_url, &mut out).await;
            for spec in &l.agents {
                spin.set_message(format!("checking the credentials of @{}", spec.handle.as_deref().unwrap_or("agent")));
                agent(l, spec, &mut out).await;
            }
            webhook(l, &mut out);
        }
        for (name, p) in &l.config.llm {
            spin.set_message(format!("asking model profile {name} for its models"));
            llm(name, p, &mut out).await;
        }
    }
    spin.finish_and_clear();
    let healthy = out.iter().all(|f| f.ok);
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for f in &out {
            println!("{} {:<22} {}", if f.ok { "ok  " } else { "FAIL" }, f.check, f.detail);
            if let Some(fix) = &f.fix {
                println!("     {:<22} fix: {fix}", "");
            }
        }
        let problems = out.iter().filter(|f| !f.ok).count();
        println!("\n{}", if healthy { "everything checked is fine".to_string() } else { format!("{problems} problem(s)") });
    }
    Ok(healthy)
}
