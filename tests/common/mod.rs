//! Helpers shared by the integration tests: a real sandbox on loopback, real
//! registrations over HTTP, real config files in a temporary directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use imagine_agent::api::{Budgets, Session, SessionConfig};
use imagine_agent::sandbox::{self, SandboxConfig, SandboxHandle, Stats};
use imagine_agent::wire::types::NewAgent;

pub mod scenario;
#[allow(unused_imports)]
pub use scenario::*;

pub fn quiet_config() -> SandboxConfig {
    SandboxConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        rate_limits: None,
        generation_duration: Duration::from_millis(300),
        allow_private_webhooks: true,
        ..SandboxConfig::default()
    }
}

pub async fn sandbox(cfg: SandboxConfig) -> SandboxHandle {
    sandbox::start(cfg).await.expect("sandbox starts")
}

/// Registers `handle` over HTTP and returns its (client id, secret).
pub async fn register(sb: &SandboxHandle, handle: &str) -> (String, String) {
    let anon = Session::anonymous(&sb.base_url()).unwrap();
    let r =
        anon.register(&NewAgent { handle: handle.into(), name: handle.to_uppercase(), ..Default::default() }).await.expect("registration");
    (r.client_id, r.client_secret)
}

pub async fn session_for(sb: &SandboxHandle, handle: &str) -> Session {
    let (id, secret) = register(sb, handle).await;
    Session::new(SessionConfig::new(sb.base_url()).credentials(id, secret).budgets(Budgets::unlimited())).unwrap()
}

pub fn stats(sb: &SandboxHandle) -> Stats {
    sb.stats()
}

/// Requests the sandbox answered on `route` (e.g. "POST /api/posts") with `status` (0 = any).
pub fn served(sb: &SandboxHandle, route: &str, status: u16) -> u64 {
    let s = stats(sb);
    s.by_route.get(route).map(|m| m.iter().filter(|(k, _)| status == 0 || **k == status).map(|(_, v)| *v).sum()).unwrap_or(0)
}

/// Requests the sandbox received on `route`, answered or not (one whose client was killed while
/// its answer was held back counts too).
pub fn received(sb: &SandboxHandle, route: &str) -> u64 {
    stats(sb).received.get(route).copied().unwrap_or(0)
}

/// Writes a daemon config pointing at `base_url` with a credentials file, plus behavior files.
pub fn write_config(dir: &Path, base_url: &str, creds: &(String, String), behaviors: &[(&str, &str)], extra: &str) -> PathBuf {
    let creds_file = dir.join("credentials");
    std::fs::write(&creds_file, format!("IMAGINEANYTHING_CLIENT_ID={}\nIMAGINEANYTHING_CLIENT_SECRET={}\n", creds.0, creds.1)).unwrap();
    std::fs::create_dir_all(dir.join("behaviors")).unwrap();
    for (name, text) in behaviors {
        std::fs::write(dir.join("behaviors").join(name), text).unwrap();
    }
    let cfg = format!(
        "base_url: {base_url}\nagent:\n  credentials_file: {}\nstate_dir: {}\nbehaviors:\n  - behaviors/*.yaml\npoll_interval: 200ms\nshutdown_grace: 3s\nrate_limits:\n  reads_per_minute: 0\n  writes_per_minute: 0\n  auth_per_minute: 0\n{extra}",
        creds_file.display(),
        dir.join("state").display()
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Polls `f` until it is true or `limit` passes.
pub async fn eventually<F: FnMut() -> bool>(limit: Duration, mut f: F) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

pub const REPLY_BEHAVIOR: &str = "kind: auto_reply
name: replies
content:
  template: \"Thanks @{{ author }}!\"
guardrails:
  author_cooldown: 0s
  max_per_hour: 100000
  max_per_day: 100000
  max_replies_per_thread: 100000
";

pub const FOLLOW_BEHAVIOR: &str = "kind: follow_back
name: follow-back
welcome_dm:
  template: \"Welcome {{ author }}!\"
";

/// `POST /sandbox/community/burst`: community members mention, follow, comment on a target now.
pub async fn burst(sb: &SandboxHandle, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}/sandbox/community/burst", sb.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The post numbers of a burst's answer (`post_12` -> 12).
pub fn post_seqs(v: &serde_json::Value) -> Vec<u64> {
    v["posts"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().trim_start_matches("post_").parse().unwrap()).collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `imagine-agent run --config cfg` as a child process (stderr discarded), killed when dropped.
pub fn spawn_run(cfg: &Path) -> KillOnDrop {
    KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
            .args(["run", "--config"])
            .arg(cfg)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// `imagine-agent run --config cfg` as a child process with its output (the log) kept in `log`.
pub fn spawn_logged(cfg: &Path, log: &Path) -> KillOnDrop {
    spawn_logged_args(cfg, log, &[])
}

/// [`spawn_logged`] with more arguments to `run` (`--dry-run`, `--sandbox`).
pub fn spawn_logged_args(cfg: &Path, log: &Path, args: &[&str]) -> KillOnDrop {
    let f = std::fs::File::create(log).unwrap();
    KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
            .args(["run", "--config"])
            .arg(cfg)
            .args(args)
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    )
}

/// Replaces the unlimited client budgets `write_config` writes with `budgets` (YAML lines under
/// `rate_limits:`, or "" for the platform's documented defaults).
pub fn set_budgets(cfg: &Path, budgets: &str) {
    let text = std::fs::read_to_string(cfg).unwrap();
    let unlimited = "rate_limits:\n  reads_per_minute: 0\n  writes_per_minute: 0\n  auth_per_minute: 0\n";
    assert!(text.contains(unlimited));
    let with = if budgets.is_empty() { String::new() } else { format!("rate_limits:\n{budgets}") };
    std::fs::write(cfg, text.replace(unlimited, &with)).unwrap();
}

/// Kills the child if the test fails half-way.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for the child to exit (panics after `limit`); its exit status.
pub async fn exited(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let t = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < limit, "stopped within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sum of every sample of `family` on a daemon's `/metrics` whose labels contain each of `labels`;
/// None when the endpoint does not answer or no such sample is exported: a missing metric never
/// reads as 0 (compare with `Some(n)`; `None` is below every `Some`).
pub async fn metric(port: u16, family: &str, labels: &[&str]) -> Option<u64> {
    let r = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    let text = r.text().await.ok()?;
    let samples: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .collect();
    (!samples.is_empty()).then(|| samples.iter().sum())
}

/// Polls an async condition until it is true or `limit` passes.
pub async fn eventually_async<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f().await
}

/// Runs the daemon in this process on `clock` until the returned token is cancelled.
pub fn start_on(cfg: &Path, clock: &imagine_agent::clock::Clock) -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>) {
    use imagine_agent::runtime::{self, RunOptions};
    let loaded = imagine_agent::setup::load(cfg).unwrap_or_else(|p| panic!("{p}"));
    let stop = tokio_util::sync::CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let opts = RunOptions { clock: clock.clone(), ..RunOptions::default() };
    let s = stop.clone();
    let task = tokio::spawn(async move { runtime::run(loaded, opts, s, rx).await.unwrap() });
    (stop, task)
}

/// Holds (or with `None` releases) the answers to `route` that succeed: the
/// window between the platform's doing a write and the daemon's hearing of it.
pub fn hold(sb: &SandboxHandle, route: &str, ms: Option<u64>) {
    let mut f = imagine_agent::sandbox::lock(&sb.app.faults);
    match ms {
        Some(ms) => f.hold_after_ms.insert(route.to_string(), ms),
        None => f.hold_after_ms.remove(route),
    };
}

/// The URLs of `who`'s uploads, oldest first.
pub fn uploads_of(sb: &SandboxHandle, who: &str) -> Vec<String> {
    let id = sb.query().id(who);
    let w = sb.app.world();
    let mut m: Vec<(u64, String)> = w.media.values().filter(|m| m.agent == id).map(|m| (m.seq, m.url.clone())).collect();
    m.sort();
    m.into_iter().map(|(_, u)| u).collect()
}

/// What a running daemon posted (`used`: the media URLs on its posts or
/// bytes) against what it uploaded: no upload used twice, every used one an
/// upload of `who`, and every upload used but the newest (whose post may be
/// on its way): nothing uploaded twice, nothing left behind.
pub fn assert_each_upload_used_once(sb: &SandboxHandle, who: &str, used: &[String], what: &str) {
    let set: std::collections::BTreeSet<&String> = used.iter().collect();
    assert_eq!(set.len(), used.len(), "{what}: no upload used twice: {used:?}");
    let up = uploads_of(sb, who);
    assert!(used.iter().all(|u| up.contains(u)), "{what}: every medium used is an upload of ours: {used:?} of {up:?}");
    let unused: Vec<&String> = up.iter().filter(|u| !set.contains(u)).collect();
    assert!(unused.is_empty() || unused == vec![up.last().unwrap()], "{what}: no upload left behind: unused {unused:?} of {up:?}");
}

/// `imagine-agent validate --config <cfg>`: whether it passed, and what it printed.
pub fn validate(cfg: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(["validate", "--config"]).arg(cfg).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// The id of the agent `handle` in the sandbox (a missing one fails the test).
pub fn id_of(sb: &SandboxHandle, handle: &str) -> String {
    sb.query().agent_id(handle).unwrap_or_else(|| panic!("no agent @{handle} in the sandbox"))
}

/// Comments by `who` (handle or id), per post seq.
pub fn comments_by(sb: &SandboxHandle, who: &str) -> std::collections::BTreeMap<u64, usize> {
    sb.query().comments_per_post(who)
}

/// Replies (comments) by `who` on each of `posts`, 0 where none.
pub fn replies_on(sb: &SandboxHandle, who: &str, posts: &[u64]) -> std::collections::BTreeMap<u64, usize> {
    sb.query().replies_on(who, posts)
}

/// Replies by `who` on each of `posts`, in their order.
pub fn answers(sb: &SandboxHandle, who: &str, posts: &[u64]) -> Vec<usize> {
    sb.query().replies_on(who, posts).into_values().collect()
}

/// How many of `posts` `who` answered at least once.
pub fn answered(sb: &SandboxHandle, who: &str, posts: &[u64]) -> usize {
    sb.query().replies_on(who, posts).values().filter(|n| **n > 0).count()
}

/// The texts of `who`'s comments, oldest first.
pub fn replies_by(sb: &SandboxHandle, who: &str) -> Vec<String> {
    sb.query().comment_texts(who)
}

/// Waits until the daemon(s) polling this sandbox have read notifications `n` more times: a quiet
/// period measured in the daemon's own work (a late duplicate would have had its chance), not a sleep.
pub async fn polls_later(sb: &SandboxHandle, n: u64) {
    let before = served(sb, "GET /api/notifications", 0);
    assert!(eventually(Duration::from_secs(30), || served(sb, "GET /api/notifications", 0) >= before + n).await, "the daemon kept polling");
}

/// The port a daemon whose state is in `state_dir` bound for its `name` listener ("metrics",
/// "console") when its config asks for port 0: read from the file the daemon writes once bound
/// (no port is chosen beforehand, so no two tests can race for one). Panics after 30 s.
pub async fn bound_port(state_dir: &Path, name: &str) -> u16 {
    let file = imagine_agent::runtime::addr_file(state_dir, name);
    let mut port = None;
    let found = eventually(Duration::from_secs(30), || {
        port = std::fs::read_to_string(&file).ok().and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok()).map(|a| a.port());
        port.is_some()
    })
    .await;
    assert!(found, "the daemon wrote where its {name} listener is bound ({})", file.display());
    port.unwrap()
}

/// Records that test `name` skipped its work (no browser, no systemd here) and says why: a file in
/// `target/tmp/skipped/` that `.ci/run` counts into its closing line (", N skipped"), so a run
/// that skipped is never read as all passed.
pub fn skipped(name: &str, why: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(name), why);
    eprintln!("SKIPPED {name}: {why}");
}

/// Waits until every notification the sandbox holds is listed (a notification may be listed late,
/// see `imagine_agent::sandbox::readings`): for a test that reads pages itself, or that wants a
/// backlog complete before its daemon starts.
pub async fn all_listed(sb: &SandboxHandle) {
    let listed = || {
        let w = sb.app.world();
        let now = chrono::Utc::now().timestamp_millis();
        w.notifications.values().all(|n| n.created_ms + sb.app.cfg.readings.lateness_ms(n.seq) <= now)
    };
    assert!(eventually(Duration::from_secs(300), listed).await, "every notification listed");
}

/// Runs finished so far by `behavior` of the daemon on metrics `port` (rounds of a periodic behavior).
pub async fn runs(port: u16, behavior: &str) -> Option<u64> {
    metric(port, "imagine_agent_behavior_runs_total", &[&format!("behavior=\"{behavior}\"")]).await
}

/// Waits until `behavior` of the daemon on metrics `port` has finished `n` more runs than now: a
/// quiet period counted in the work of the behavior under test (a late repeat would have had its
/// chance), never a sleep, and never counted in another daemon's polls.
pub async fn runs_later(port: u16, behavior: &str, n: u64) {
    let before = runs(port, behavior).await.unwrap_or_else(|| panic!("the daemon exports the runs of {behavior}"));
    let done = eventually_async(Duration::from_secs(60), || async { runs(port, behavior).await >= Some(before + n) }).await;
    assert!(done, "{behavior} finished {n} more runs");
}
