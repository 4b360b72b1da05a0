//! `sandbox`: the emulator on its own, with a flag for each of its readings and faults.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{init_logging, signals};
use crate::api::Budgets;
use crate::sandbox::{self, Faults, SandboxConfig};

#[derive(Args, Debug)]
pub struct SandboxArgs {
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: std::net::SocketAddr,
    /// Simulated agents that post, mention, follow and reply.
    #[arg(long, default_value_t = 0)]
    pub community: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub community_interval: Duration,
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,
    /// Turn rate limiting off.
    #[arg(long)]
    pub no_rate_limits: bool,
    #[arg(long, default_value_t = 100)]
    pub reads_per_minute: u32,
    #[arg(long, default_value_t = 30)]
    pub writes_per_minute: u32,
    #[arg(long, default_value_t = 10)]
    pub auth_per_minute: u32,
    /// Length of a rate-limit window (the platform's is one minute).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub rate_window: Duration,
    /// Share of API requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of API requests answered 429.
    #[arg(long, default_value_t = 0.0)]
    pub rate429: f64,
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of API requests whose connection is cut after they were handled.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub generation_duration: Duration,
    #[arg(long, default_value_t = 0.0)]
    pub generation_fail_rate: f64,
    /// How long after an order is placed its buyer pays (the order waits in PENDING_PAYMENT until then).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub checkout: Duration,
    /// How long after `connect` the payment account's onboarding is completed.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub onboarding: Duration,
    /// How long an uploaded video processes before a post or a byte may use it.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub video_processing: Duration,
    /// Keep the sandbox's world in this directory across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Accept webhook URLs on loopback and private addresses (a daemon on this machine).
    #[arg(long)]
    pub allow_private_webhooks: bool,
    /// List the agent's own posts in its feed (the reference says the feed holds
    /// posts of the agents it follows; by default they are left out).
    #[arg(long)]
    pub own_posts_in_feed: bool,
    /// Bring a `limit` outside its documented range into it (by default it is refused with 400).
    #[arg(long)]
    pub clamp_out_of_range: bool,
    /// Notification pages keyed by their last item (by default, by an offset into the list).
    #[arg(long)]
    pub keyset_cursors: bool,
    /// List a notification at most this long after its `createdAt` (one in three is late); 0s: never late.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub list_late_up_to: Duration,
}

impl SandboxArgs {
    pub fn to_config(&self) -> SandboxConfig {
        SandboxConfig {
            addr: self.addr,
            token_ttl: self.token_ttl,
            rate_limits: (!self.no_rate_limits).then_some(Budgets {
                reads_per_minute: self.reads_per_minute,
                writes_per_minute: self.writes_per_minute,
                auth_per_minute: self.auth_per_minute,
            }),
            rate_window: self.rate_window,
            faults: Faults {
                error_rate: self.error_rate,
                rate429: self.rate429,
                latency_ms: self.latency_ms,
                drop_rate: self.drop_rate,
                ..Faults::default()
            },
            community: self.community,
            seed: self.seed,
            community_interval: self.community_interval,
            generation_duration: self.generation_duration,
            generation_fail_rate: self.generation_fail_rate,
            checkout: self.checkout,
            onboarding: self.onboarding,
            video_processing: self.video_processing,
            state_dir: self.state.clone(),
            allow_private_webhooks: self.allow_private_webhooks,
            readings: sandbox::readings::Readings {
                own_posts_in_feed: self.own_posts_in_feed,
                clamp_out_of_range: self.clamp_out_of_range,
                keyset_cursors: self.keyset_cursors,
                late_ms: self.list_late_up_to.as_millis() as u64,
            },
        }
    }
}

/// Serves the emulator until SIGINT or SIGTERM.
pub async fn run(args: SandboxArgs, json_logs: bool) -> Result<()> {
    init_logging(json_logs);
    let sb = sandbox::start(args.to_config()).await?;
    println!("sandbox listening on {}", sb.base_url());
    let stop = CancellationToken::new();
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    signals(stop.clone(), tx)?;
    stop.cancelled().await;
    sb.stop().await;
    Ok(())
}
