//! State and secrets are readable by their owner only, whatever the umask:
//! the real binary started under `umask 022`, every path under the state
//! directory checked while it runs and after it stops.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    out.push(p.to_path_buf());
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            walk(&e.path(), out);
        }
    }
}

/// Every path under `dir` whose mode is not 0700 (directories) or 0600 (files, sockets).
fn too_open(dir: &Path) -> Vec<String> {
    let mut all = vec![];
    walk(dir, &mut all);
    all.iter()
        .filter_map(|p| {
            let m = std::fs::symlink_metadata(p).ok()?;
            let mode = m.mode() & 0o777;
            let want = if m.is_dir() { 0o700 } else { 0o600 };
            (mode != want).then(|| format!("{} {:o}", p.display(), mode))
        })
        .collect()
}

fn count(dir: &Path) -> usize {
    let mut all = vec![];
    walk(dir, &mut all);
    all.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_sandbox_world_and_socket_are_private_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // An older version left the directory open to everyone.
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.path().join("behaviors")).unwrap();
    std::fs::write(dir.path().join("behaviors/reply.yaml"), REPLY_BEHAVIOR).unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "sandbox: true\nsandbox_options:\n  community: 2\n  community_interval: 100ms\nagent:\n  handle: private_bot\nstate_dir: {}\nbehaviors: [behaviors/*.yaml]\npoll_interval: 200ms\n",
            state.display()
        ),
    )
    .unwrap();
    let mut d = KillOnDrop(
        Command::new("sh")
            .arg("-c")
            .arg(format!("umask 022 && exec '{}' run --config '{}'", env!("CARGO_BIN_EXE_imagine-agent"), cfg.display()))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let world = state.join("sandbox/sandbox-world.json");
    let sock = state.join("control.sock");
    assert!(
        eventually(Duration::from_secs(30), || world.exists() && sock.exists() && state.join("sled/db").exists()).await,
        "the daemon wrote its state"
    );
    let running = too_open(&state);
    assert!(count(&state) >= 5, "checked something");
    Command::new("kill").args(["-TERM", &d.0.id().to_string()]).status().unwrap();
    exited(&mut d.0, Duration::from_secs(15)).await;
    let stopped = too_open(&state);
    assert!(running.is_empty() && stopped.is_empty(), "readable by others while running: {running:?}; after: {stopped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_set_makes_an_existing_secret_file_private() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "hooked").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("reply.yaml", REPLY_BEHAVIOR)], "");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret_file = state.join("webhook-secret");
    std::fs::write(&secret_file, "old").unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .args(["webhook", "--config"])
        .arg(&cfg)
        .args(["set", "http://127.0.0.1:1/hook"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mode 0600"));
    assert_eq!(std::fs::metadata(&secret_file).unwrap().mode() & 0o777, 0o600, "the message is true");
    assert_eq!(std::fs::metadata(&state).unwrap().mode() & 0o777, 0o700);
    assert_ne!(std::fs::read_to_string(&secret_file).unwrap(), "old");
    sb.stop().await;
}
