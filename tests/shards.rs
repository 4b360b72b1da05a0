//! Agents sharded over daemons: a daemon runs only the agents its index owns;
//! `fleet plan` shows what moves when the count changes; an agent moved in the
//! middle of a burst (daemon SIGKILLed, `state export`, `state import` into
//! the other daemon's state, `state forget` at the source, both restarted with
//! two shards) answers every mention exactly once: nothing lost, nothing
//! repeated. The other agent stays where it was and also answers each once.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use imagine_agent::config::shard::owner;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};

const BIN: &str = env!("CARGO_BIN_EXE_imagine-agent");

/// A config of both agents as shard `index` of `count`, its state in `state`.
fn config(
    dir: &Path,
    name: &str,
    url: &str,
    state: &str,
    count: u32,
    index: u32,
    agents: &[(&str, (String, String))],
) -> std::path::PathBuf {
    let mut text = format!(
        "base_url: {url}\nstate_dir: {}\npoll_interval: 200ms\nshutdown_grace: 3s\nrate_limits:\n  reads_per_minute: 0\n  writes_per_minute: 240\n  auth_per_minute: 0\nshard:\n  count: {count}\n  index: {index}\nagents:\n",
        dir.join(state).display()
    );
    for (h, (id, secret)) in agents {
        let creds = dir.join(format!("{h}.env"));
        std::fs::write(&creds, format!("IMAGINEANYTHING_CLIENT_ID={id}\nIMAGINEANYTHING_CLIENT_SECRET={secret}\n")).unwrap();
        text.push_str(&format!("  - handle: {h}\n    credentials_file: {}\n    behaviors: [behaviors/*.yaml]\n", creds.display()));
    }
    std::fs::create_dir_all(dir.join("behaviors")).unwrap();
    std::fs::write(dir.join("behaviors/r.yaml"), REPLY_BEHAVIOR).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn cli(args: &[&str], dir: &Path) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).current_dir(dir).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_moved_between_daemons_mid_burst_answers_each_mention_once() {
    // Two handles: one that shard 1 of 2 owns (it moves), one that stays on shard 0.
    let mover = (0..).map(|i| format!("mover_{i}")).find(|h| owner(h, 2) == 1).unwrap();
    let stayer = (0..).map(|i| format!("stayer_{i}")).find(|h| owner(h, 2) == 0).unwrap();
    let sb = sandbox(SandboxConfig { community: 3, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let agents = [(mover.as_str(), register(&sb, &mover).await), (stayer.as_str(), register(&sb, &stayer).await)];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let one = config(dir, "one.yaml", &sb.base_url(), "state-a", 1, 0, &agents);

    let (ok, plan, _) = cli(&["fleet", "plan", "--config", "one.yaml", "--count", "2", "--from", "1"], dir);
    assert!(ok && plan.contains(&format!("@{mover}")) && !plan.contains(&format!("@{stayer}")), "{plan}");
    assert!(plan.contains("from 1 to 2 shards: 1 of 2 agents move"), "{plan}");

    // One daemon runs both; a burst to each; killed in the middle.
    let mut a = spawn_run(&one);
    polls_later(&sb, 1).await;
    let to_mover = post_seqs(&burst(&sb, serde_json::json!({"target": mover, "mentions": 60})).await);
    let to_stayer = post_seqs(&burst(&sb, serde_json::json!({"target": stayer, "mentions": 60})).await);
    let done = |sb: &SandboxHandle, h: &str, p: &[u64]| answers(sb, h, p).iter().filter(|n| **n > 0).count();
    assert!(eventually(Duration::from_secs(30), || done(&sb, &mover, &to_mover) >= 5).await, "some answered before the move");
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    assert!(done(&sb, &mover, &to_mover) < 60, "the move happens in the middle of the burst");

    // Moved: exported from A's state, imported into B's, forgotten at A.
    let (ok, json, err) = cli(&["state", "export", "--agent", &mover, "--config", "one.yaml"], dir);
    assert!(ok, "{err}");
    std::fs::write(dir.join("mover.json"), &json).unwrap();
    let two_a = config(dir, "two-a.yaml", &sb.base_url(), "state-a", 2, 0, &agents);
    let two_b = config(dir, "two-b.yaml", &sb.base_url(), "state-b", 2, 1, &agents);
    let (ok, out, err) = cli(&["state", "import", "mover.json", "--config", "two-b.yaml"], dir);
    assert!(ok && out.contains(&format!("imported @{mover}")), "{out}{err}");
    let (ok, _, err) = cli(&["state", "forget", "--agent", &mover, "--config", "two-a.yaml"], dir);
    assert!(ok, "{err}");

    // Two shards: each runs its own agent only.
    let _a = spawn_run(&two_a);
    let _b = spawn_run(&two_b);
    let all = |sb: &SandboxHandle| {
        answers(sb, &mover, &to_mover).iter().all(|n| *n >= 1) && answers(sb, &stayer, &to_stayer).iter().all(|n| *n >= 1)
    };
    assert!(
        eventually(Duration::from_secs(60), || all(&sb)).await,
        "{:?} {:?}",
        answers(&sb, &mover, &to_mover),
        answers(&sb, &stayer, &to_stayer)
    );
    polls_later(&sb, 5).await;
    assert_eq!(answers(&sb, &mover, &to_mover), vec![1; 60], "each mention of the moved agent answered exactly once");
    assert_eq!(answers(&sb, &stayer, &to_stayer), vec![1; 60], "and of the one that stayed");
    let (_, state_a, _) = cli(&["state", "--json", "--config", "two-a.yaml"], dir);
    let handles: Vec<String> = serde_json::from_str::<serde_json::Value>(&state_a).unwrap()["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["handle"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(handles, vec![stayer.clone()], "shard 0 holds only its own agent");
    sb.stop().await;
}
