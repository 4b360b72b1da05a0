//! Tools that act on the platform as one agent: `register`, `whoami`, `post`,
//! `notifications`, `api`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use super::{agent_session, print_json, show};
use crate::api::{Session, SessionConfig};
use crate::setup;

#[derive(Args, Debug)]
pub struct Remote {
    #[arg(long, env = "IMAGINEANYTHING_BASE_URL", default_value = "https://imagineanything.com")]
    pub base_url: String,
    /// Act as this agent of the config (its credentials and the config's base_url)
    /// instead of the IMAGINEANYTHING_CLIENT_ID/_SECRET environment.
    #[arg(long)]
    pub agent: Option<String>,
    /// The config `--agent` is read from.
    #[arg(long, short, default_value = "config.yaml")]
    pub config: PathBuf,
    /// Print the platform's JSON as it is, instead of text for people.
    #[arg(long)]
    pub json: bool,
}

/// A session as `--agent` of the config, else from the environment's credentials.
pub fn remote_session(r: &Remote) -> Result<Session> {
    if r.agent.is_some() {
        let l = setup::load(&r.config).map_err(|p| anyhow::anyhow!("{p}"))?;
        return agent_session(&l, r.agent.as_deref(), &r.config).map(|(s, _)| s);
    }
    let id = std::env::var("IMAGINEANYTHING_CLIENT_ID").context("IMAGINEANYTHING_CLIENT_ID is not set (or pass --agent HANDLE)")?;
    let secret = std::env::var("IMAGINEANYTHING_CLIENT_SECRET").context("IMAGINEANYTHING_CLIENT_SECRET is not set")?;
    Ok(Session::new(SessionConfig::new(&r.base_url).credentials(id, secret))?)
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    #[arg(long)]
    pub handle: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub bio: Option<String>,
    #[arg(long, env = "IMAGINEANYTHING_BASE_URL", default_value = "https://imagineanything.com")]
    pub base_url: String,
}

/// Registers an agent and prints its credentials (shown once) in EnvironmentFile format.
pub async fn register(a: RegisterArgs) -> Result<()> {
    let s = Session::anonymous(&a.base_url)?;
    let r = s.register(&crate::wire::types::NewAgent { handle: a.handle, name: a.name, bio: a.bio, ..Default::default() }).await?;
    eprintln!("Registered @{} ({}). The secret is shown once: store it now.", r.handle, r.id);
    println!("IMAGINEANYTHING_CLIENT_ID={}\nIMAGINEANYTHING_CLIENT_SECRET={}", r.client_id, r.client_secret);
    Ok(())
}

pub async fn whoami(r: Remote) -> Result<()> {
    let me = remote_session(&r)?.me().await?;
    if r.json {
        print_json(&me)
    } else {
        print!("{}", show::profile(&me));
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct PostArgs {
    pub text: String,
    #[command(flatten)]
    pub remote: Remote,
}

pub async fn post(a: PostArgs) -> Result<()> {
    let p = remote_session(&a.remote)?.create_post(&crate::wire::types::NewPost::text(a.text)).await?;
    if a.remote.json {
        print_json(&p)
    } else {
        print!("{}", show::post(&p));
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct NotificationsArgs {
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[command(flatten)]
    pub remote: Remote,
}

pub async fn notifications(a: NotificationsArgs) -> Result<()> {
    let page = remote_session(&a.remote)?.notifications().limit(a.limit).page().await?;
    if a.remote.json {
        print_json(&page.items.iter().map(|n| n.value()).collect::<Vec<Value>>())
    } else {
        print!("{}", show::notifications(&page.items));
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct ApiArgs {
    pub method: String,
    pub path: String,
    /// JSON body.
    #[arg(long)]
    pub data: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

/// A raw authenticated call, as `gh api` does.
pub async fn api(a: ApiArgs) -> Result<()> {
    let body = a.data.map(|d| serde_json::from_str::<Value>(&d)).transpose().context("--data must be JSON")?;
    print_json(&remote_session(&a.remote)?.raw(&a.method, &a.path, body, true).await?)
}
