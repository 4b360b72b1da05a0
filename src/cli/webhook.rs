//! `webhook set` and `webhook remove`: push mode's URL on the platform, its secret stored 0600.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::agent_session;
use crate::runtime;
use crate::setup;

#[derive(Args, Debug)]
pub struct WebhookArgs {
    #[command(subcommand)]
    pub action: WebhookAction,
    #[arg(long, short, default_value = "config.yaml")]
    pub config: PathBuf,
    /// With several agents under `agents:`: which one (its URL is `<listen><path>/<handle>`).
    #[arg(long)]
    pub agent: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum WebhookAction {
    /// Set the URL (the platform sends a test delivery) and store a new secret.
    Set { url: String },
    /// Remove the webhook from the platform.
    Remove,
}

pub async fn run(a: WebhookArgs) -> Result<()> {
    let l = setup::load(&a.config).map_err(|p| anyhow::anyhow!("{p}"))?;
    let (s, spec) = agent_session(&l, a.agent.as_deref(), &a.config)?;
    let per_agent = (!l.config.agents.is_empty()).then(|| spec.handle.clone()).flatten();
    match a.action {
        WebhookAction::Set { url } => {
            let w = s
                .set_webhook(&crate::wire::types::WebhookUpdate { webhook_url: Some(url.clone()), regenerate_secret: true, test: true })
                .await?;
            let secret = w.secret.context("the platform returned no secret")?;
            let path = runtime::webhook_secret_path(&l.state_dir(), per_agent.as_deref());
            crate::private::private_dir(&l.state_dir())?;
            crate::private::write_private(&path, secret.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
            println!("webhook set to {url}; secret stored in {} (mode 0600)", path.display());
        }
        WebhookAction::Remove => {
            s.remove_webhook().await?;
            println!("webhook removed");
        }
    }
    Ok(())
}
