//! Benchmarks (numbers go into docs/performance.md): `cargo bench --bench bench`.
//!
//! 1. requests per second the client sustains against the emulator (limits off);
//! 2. the emulator's own rate for simple GETs (plain HTTP client, keep-alive);
//! 3. reaction latency, mention created -> reply visible, in poll and in push mode;
//! 4. a backlog of mentions worked off under scaled rate limits: share of the
//!    write budget used and 429s received.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imagine_agent::api::{Budgets, Session, SessionConfig};
use imagine_agent::runtime::{self, RunOptions};
use imagine_agent::sandbox::{self, SandboxConfig, SandboxHandle};
use imagine_agent::wire::types::{NewAgent, NewPost};
use tokio_util::sync::CancellationToken;

async fn register(sb: &SandboxHandle, handle: &str) -> (String, String) {
    let r = Session::anonymous(&sb.base_url())
        .unwrap()
        .register(&NewAgent { handle: handle.into(), name: handle.into(), ..Default::default() })
        .await
        .unwrap();
    (r.client_id, r.client_secret)
}

fn config(dir: &std::path::Path, base: &str, creds: &(String, String), poll: &str, budgets: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("behaviors")).unwrap();
    std::fs::write(dir.join("credentials"), format!("IMAGINEANYTHING_CLIENT_ID={}\nIMAGINEANYTHING_CLIENT_SECRET={}\n", creds.0, creds.1))
        .unwrap();
    std::fs::write(
        dir.join("behaviors/r.yaml"),
        "kind: auto_reply\nname: r\ncontent:\n  template: \"Thanks @{{ author }}!\"\nguardrails:\n  author_cooldown: 0s\n  max_per_hour: 1000000\n  max_per_day: 1000000\n  max_replies_per_thread: 1000\n",
    )
    .unwrap();
    let p = dir.join("config.yaml");
    std::fs::write(&p, format!("base_url: {base}\nagent:\n  credentials_file: {}\nstate_dir: {}\nbehaviors: [behaviors/*.yaml]\npoll_interval: {poll}\n{budgets}", dir.join("credentials").display(), dir.join("state").display())).unwrap();
    p
}

async fn throughput(
    label: &str,
    secs: u64,
    conc: usize,
    f: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync + 'static,
) {
    let f = Arc::new(f);
    let ok = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conc)
        .map(|_| {
            let (f, ok) = (f.clone(), ok.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    if f().await {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // The measured duration (the last requests finish after the nominal end).
    let took = start.elapsed().as_secs_f64();
    println!(
        "{label}: {:.0} requests/s ({} in {took:.2} s, {conc} concurrent)",
        ok.load(Ordering::Relaxed) as f64 / took,
        ok.load(Ordering::Relaxed)
    );
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn burst(sb: &SandboxHandle, target: &str, n: usize) -> Vec<u64> {
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/sandbox/community/burst", sb.base_url()))
        .json(&serde_json::json!({"target": target, "mentions": n}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["posts"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()[5..].parse().unwrap()).collect()
}

/// Runs the daemon on `cfg` until the token is cancelled.
fn start_daemon(cfg: &std::path::Path) -> (CancellationToken, tokio::task::JoinHandle<Result<(), runtime::RuntimeError>>) {
    let stop = CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let d = tokio::spawn(runtime::run(imagine_agent::setup::load(cfg).unwrap(), RunOptions::default(), stop.clone(), rx));
    (stop, d)
}

/// Mention -> reply latencies in ms for `n` single mentions, spaced randomly up to `spacing_ms`.
async fn latencies(sb: &SandboxHandle, handle: &str, n: usize, spacing_ms: u64) -> Vec<f64> {
    let bot = sb.app.world().agent_by_handle(handle).unwrap().id.clone();
    let mut lat = vec![];
    for _ in 0..n {
        let p = burst(sb, handle, 1).await[0];
        let t = Instant::now();
        while !replied(sb, &bot, p) {
            if t.elapsed() > Duration::from_secs(30) {
                println!("  no reply to post_{p} within 30 s; sample dropped");
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if replied(sb, &bot, p) {
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        // Random spacing, so samples do not lock onto the poll phase.
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..spacing_ms))).await;
    }
    lat
}

fn replied(sb: &SandboxHandle, bot: &str, post: u64) -> bool {
    sb.app.world().comments.values().rev().any(|c| c.post == post && c.agent == bot)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("machine: {} cores; release build", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    let sb = sandbox::start(SandboxConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        rate_limits: None,
        community: 8,
        community_interval: Duration::ZERO,
        // Push mode delivers to the daemon's receiver on loopback.
        allow_private_webhooks: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    // BENCH_ONLY=backlog skips straight to the backlog (the long run at the real window).
    if std::env::var("BENCH_ONLY").as_deref() != Ok("backlog") {
        latency_and_throughput(&sb).await;
    }
    sb.stop().await;
    backlog().await;
}

/// Runs the daemon of `cfg`, mentions `handle` 40 times `spacing_ms` apart, prints the median and the
/// worst (of 40 samples that is the maximum, not a p99).
async fn reaction_latency(sb: &SandboxHandle, cfg: &std::path::Path, handle: &str, spacing_ms: u64, mode: &str) {
    let (stop, d) = start_daemon(cfg);
    let polls = || sb.stats().by_route.get("GET /api/notifications").map(|m| m.values().sum::<u64>()).unwrap_or(0);
    let t = Instant::now();
    while polls() == 0 && t.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lat = latencies(sb, handle, 40, spacing_ms).await;
    if lat.is_empty() {
        println!("reaction latency, {mode}: no samples");
    } else {
        let max = lat.iter().copied().fold(0.0, f64::max);
        println!("reaction latency, {mode}: p50 {:.1} ms, max {max:.1} ms ({} mentions)", pct(&mut lat, 0.5), lat.len());
    }
    stop.cancel();
    d.await.unwrap().unwrap();
}

/// 1-3: client and emulator throughput, reaction latency in poll and push mode.
async fn latency_and_throughput(sb: &SandboxHandle) {
    let creds = register(sb, "bencher").await;
    let s = Session::new(SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone()).budgets(Budgets::unlimited()))
        .unwrap();
    let post = s.create_post(&NewPost::text("benchmark post")).await.unwrap();

    // 1 and 2.
    let (s1, id) = (s.clone(), post.id.clone());
    throughput("client (Session::post) against the emulator", 5, 32, move || {
        let (s, id) = (s1.clone(), id.clone());
        Box::pin(async move { s.post(&id).await.is_ok() })
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/posts/{}", sb.base_url(), post.id);
    throughput("emulator, plain GET /api/posts/{id}", 5, 32, move || {
        let (h, u) = (http.clone(), url.clone());
        Box::pin(async move { h.get(&u).send().await.map(|r| r.status().is_success()).unwrap_or(false) })
    })
    .await;

    // 3. Reaction latency in poll mode (poll_interval 1s).
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(dir.path(), &sb.base_url(), &creds, "1s", "rate_limits: {reads_per_minute: 0, writes_per_minute: 0, auth_per_minute: 0}\n");
    reaction_latency(sb, &cfg, "bencher", 1000, "poll mode, poll_interval 1s").await;

    // 3b. Reaction latency in push mode (signed webhooks; the poller at 60 s only as safety net).
    let creds = register(sb, "pusher").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let s = Session::new(SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone())).unwrap();
    let update = imagine_agent::wire::types::WebhookUpdate {
        webhook_url: Some(format!("http://127.0.0.1:{port}/hook")),
        regenerate_secret: true,
        test: false,
    };
    let secret = s.set_webhook(&update).await.unwrap().secret.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("whsec"), secret).unwrap();
    let extra = format!(
        "rate_limits: {{reads_per_minute: 0, writes_per_minute: 0, auth_per_minute: 0}}\nwebhook:\n  listen: 127.0.0.1:{port}\n  path: /hook\n  secret_file: {}\n",
        dir.path().join("whsec").display()
    );
    let cfg = config(dir.path(), &sb.base_url(), &creds, "60s", &extra);
    reaction_latency(sb, &cfg, "pusher", 200, "push mode (webhook)").await;
}

/// 4. Backlog under the platform's limits (30 writes, 100 reads per window).
async fn backlog() {
    // BENCH_WINDOW_S=60 is the platform's real minute; the default 2 runs it 30x faster.
    let window: u64 = std::env::var("BENCH_WINDOW_S").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let n: usize = std::env::var("BENCH_BACKLOG").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let scale = 60 / window.max(1) as u32;
    let limits = Budgets { reads_per_minute: 100, writes_per_minute: 30, auth_per_minute: 10 };
    let sb = sandbox::start(SandboxConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        rate_limits: Some(limits),
        rate_window: Duration::from_secs(window),
        community: 16,
        community_interval: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let creds = register(&sb, "backlog").await;
    let bot = sb.app.world().agent_by_handle("backlog").unwrap().id.clone();
    let posts = burst(&sb, "backlog", n).await;
    let dir = tempfile::tempdir().unwrap();
    let budgets =
        format!("rate_limits: {{reads_per_minute: {}, writes_per_minute: {}, auth_per_minute: {}}}\n", 100 * scale, 30 * scale, 10 * scale);
    let cfg = config(dir.path(), &sb.base_url(), &creds, "1s", &budgets);
    let t = Instant::now();
    let (stop, d) = start_daemon(&cfg);
    let mut first = None;
    // Twice the time the write budget needs, plus two minutes: then it reports what it has.
    let deadline = Duration::from_secs_f64(n as f64 / (30.0 / window as f64) * 2.0 + 120.0);
    let mut done;
    loop {
        done = {
            let w = sb.app.world();
            w.comments.values().filter(|c| c.agent == bot).count()
        };
        if done > 0 && first.is_none() {
            first = Some(t.elapsed());
        }
        if done >= posts.len() {
            break;
        }
        if t.elapsed() > deadline {
            println!("backlog: deadline of {:.0} s passed with {done}/{n} answered", deadline.as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = first.unwrap_or_default();
    let elapsed = t.elapsed() - first;
    stop.cancel();
    d.await.unwrap().unwrap();
    let stats = sb.stats();
    let allowed = 30.0 / window as f64;
    let rate = done.saturating_sub(1) as f64 / elapsed.as_secs_f64();
    println!(
        "backlog of {n} mentions, limits 30 writes + 100 reads per {window} s window: {:.1} s from first to last reply, {rate:.3} replies/s of {allowed:.3} allowed = {:.0}% of the write budget; 429s received: {}",
        elapsed.as_secs_f64(),
        rate / allowed * 100.0,
        stats.rate_limited
    );
    sb.stop().await;
}
