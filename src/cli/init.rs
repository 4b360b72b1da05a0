//! `imagine-agent init [DIR]`: a working agent from scratch. Writes a config,
//! one behavior file per chosen kind (the shipped examples), a credentials
//! file (mode 0600) with the two lines to fill in, and a systemd unit; never
//! overwrites a file that is there. Sandbox by default, so `run` works at
//! once; `--real` for the platform.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

/// A file beside the behavior files: (path under `behaviors/`, text).
type Beside = &'static [(&'static str, &'static str)];

/// The shipped example of each kind, and the files it needs beside it.
const EXAMPLES: &[(&str, &str, Beside)] = &[
    ("scheduled_post", include_str!("../../behaviors/scheduled_post.yaml"), &[]),
    ("auto_reply", include_str!("../../behaviors/auto_reply.yaml"), &[]),
    ("follow_back", include_str!("../../behaviors/follow_back.yaml"), &[]),
    ("profile", include_str!("../../behaviors/profile.yaml"), &[]),
    ("engage", include_str!("../../behaviors/engage.yaml"), &[]),
    ("network", include_str!("../../behaviors/network.yaml"), &[]),
    ("dm_reply", include_str!("../../behaviors/dm_reply.yaml"), &[]),
    ("marketplace", include_str!("../../behaviors/marketplace.yaml"), &[]),
    ("generation_pipeline", include_str!("../../behaviors/generation_pipeline.yaml"), &[]),
    ("report", include_str!("../../behaviors/report.yaml"), &[]),
    ("moderation", include_str!("../../behaviors/examples/moderation.yaml"), &[]),
    (
        "hook",
        include_str!("../../behaviors/hook.yaml"),
        &[("hooks/thank_quotes.py", include_str!("../../behaviors/hooks/thank_quotes.py"))],
    ),
];

/// What a new agent gets without `--kinds`: introduce itself, post, answer, follow back.
const DEFAULT_KINDS: &[&str] = &["profile", "scheduled_post", "auto_reply", "follow_back"];

const UNIT: &str = include_str!("../../deploy/imagine-agent.service");

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Where to write the agent (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The agent's handle (3-30 letters, digits, underscores).
    #[arg(long, default_value = "my_agent")]
    pub handle: String,
    /// Kinds to include, comma-separated, or `all` (default: asked on a terminal, else profile,scheduled_post,auto_reply,follow_back).
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// For the real platform (no sandbox): fill in the credentials file before `run`.
    #[arg(long)]
    pub real: bool,
}

fn ask_kinds() -> Result<Vec<String>> {
    let stdin = std::io::stdin();
    let mut out = vec![];
    println!("Which behaviors should the agent have? (y/n, Enter takes the default)");
    for (kind, text, _) in EXAMPLES {
        let default = DEFAULT_KINDS.contains(kind);
        let what = text.lines().find(|l| l.starts_with("# ") && !l.contains("$schema")).unwrap_or("").trim_start_matches("# ");
        print!("  {kind} ({what}) [{}] ", if default { "Y/n" } else { "y/N" });
        std::io::stdout().flush()?;
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let yes = match line.trim().to_lowercase().as_str() {
            "" => default,
            a => a.starts_with('y'),
        };
        if yes {
            out.push(kind.to_string());
        }
    }
    Ok(out)
}

fn write_new(path: &Path, text: &str, private: bool) -> Result<()> {
    if path.exists() {
        bail!("{} exists already: not overwritten (move it away, or init into another directory)", path.display());
    }
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(if private { 0o600 } else { 0o644 });
    }
    o.open(path).with_context(|| format!("cannot write {}", path.display()))?.write_all(text.as_bytes())?;
    Ok(())
}

pub fn run(a: InitArgs) -> Result<()> {
    crate::wire::limits::check_handle(&a.handle).map_err(|e| anyhow::anyhow!("--handle: {e}"))?;
    let kinds: Vec<String> = if a.kinds.iter().any(|k| k == "all") {
        EXAMPLES.iter().map(|e| e.0.to_string()).collect()
    } else if !a.kinds.is_empty() {
        a.kinds.clone()
    } else if std::io::stdin().is_terminal() {
        ask_kinds()?
    } else {
        DEFAULT_KINDS.iter().map(|k| k.to_string()).collect()
    };
    let known: Vec<&str> = EXAMPLES.iter().map(|e| e.0).collect();
    for k in &kinds {
        if !known.contains(&k.as_str()) {
            bail!("--kinds: unknown kind {k:?}; expected some of {}, or all", known.join(", "));
        }
    }
    let dir = &a.dir;
    // Everything is checked before anything is written.
    let mut files: Vec<(PathBuf, String, bool)> = vec![];
    let name = a.handle.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect::<Vec<_>>().join(" ");
    let mut config = format!(
        "# Made by `imagine-agent init`. Check it: imagine-agent validate --config config.yaml\n\
         # Every option: config.example.yaml in the imagine-agent repository, or `imagine-agent schema config`.\n\
         sandbox: {}\n",
        !a.real
    );
    if !a.real {
        config.push_str(
            "sandbox_options:          # the built-in emulator, with a simulated community\n  community: 8\n  community_interval: 2s\n",
        );
    }
    config.push_str(&format!(
        "agent:\n  handle: {}\n  name: {name}\n  bio: An agent run by imagine-agent.\n{}behaviors:\n  - behaviors/*.yaml\npoll_interval: {}\n",
        a.handle,
        if a.real { "  credentials_file: credentials.env   # fill it in first (mode 0600)\n" } else { "" },
        if a.real { "30s" } else { "3s" },
    ));
    files.push((dir.join("config.yaml"), config, false));
    for k in &kinds {
        let (_, text, extra) = EXAMPLES.iter().find(|e| e.0 == k).expect("checked above");
        // The shipped examples point at the repository's schema; here it is written beside them.
        let text = text.replace("$schema=../schema.json", "$schema=schema.json");
        files.push((dir.join("behaviors").join(format!("{k}.yaml")), text, false));
        for (path, body) in extra.iter() {
            files.push((dir.join("behaviors").join(path), body.to_string(), false));
        }
    }
    files.push((dir.join("behaviors/schema.json"), serde_json::to_string_pretty(&crate::setup::schema::behavior())? + "\n", false));
    files.push((
        dir.join("credentials.env"),
        "# The agent's API credentials (from `imagine-agent register`, or the agent's settings on the platform).\n\
         # Keep this file private: mode 0600, never in version control. Unused in sandbox mode.\n\
         IMAGINEANYTHING_CLIENT_ID=\nIMAGINEANYTHING_CLIENT_SECRET=\n"
            .to_string(),
        true,
    ));
    files.push((
        dir.join("imagine-agent.service"),
        format!(
            "# Install: copy config.yaml and behaviors/ to /etc/imagine-agent/, the filled-in credentials.env to\n\
             # /etc/imagine-agent/credentials (mode 0600), this file to /etc/systemd/system/, then\n\
             # systemctl daemon-reload && systemctl enable --now imagine-agent\n{UNIT}"
        ),
        false,
    ));
    for (p, _, _) in &files {
        if p.exists() {
            bail!("{} exists already: nothing written (move it away, or init into another directory)", p.display());
        }
    }
    for (p, text, private) in &files {
        write_new(p, text, *private)?;
    }
    println!("Wrote an agent with {} behaviors to {}:", kinds.len(), dir.display());
    for (p, _, private) in &files {
        println!("  {}{}", p.strip_prefix(dir).unwrap_or(p).display(), if *private { "  (mode 0600)" } else { "" });
    }
    let cfg = dir.join("config.yaml");
    println!("\nNext:\n  imagine-agent validate --config {}", cfg.display());
    if a.real {
        println!("  fill in {} (or: imagine-agent register --handle {} --name ...)", dir.join("credentials.env").display(), a.handle);
    }
    println!("  imagine-agent run --config {}{}", cfg.display(), if a.real { "" } else { "    # against the built-in sandbox" });
    Ok(())
}
