//! `init` makes an agent that `validate` accepts and that runs against the
//! sandbox at once (a reply and a follow-back seen in its log), never
//! overwriting what is there; `doctor` passes a good setup and catches a wrong
//! secret, a world-readable state directory, a sled lock held by another
//! process and an unreachable model server, each with how to fix it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_imagine-agent");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_then_validate_then_run_against_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("agent");
    let out = Command::new(BIN)
        .args(["init"])
        .arg(&agent)
        .args(["--handle", "fresh_bot", "--kinds", "scheduled_post,auto_reply,follow_back"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Wrote an agent with 3 behaviors") && said.contains("imagine-agent run --config"), "{said}");
    for f in
        ["config.yaml", "behaviors/scheduled_post.yaml", "behaviors/auto_reply.yaml", "behaviors/follow_back.yaml", "imagine-agent.service"]
    {
        assert!(agent.join(f).exists(), "{f}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(agent.join("credentials.env")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let cfg = agent.join("config.yaml");
    let v = Command::new(BIN).args(["validate", "--config"]).arg(&cfg).output().unwrap();
    assert!(v.status.success() && String::from_utf8_lossy(&v.stdout).contains("ok (3 behaviors"), "{v:?}");
    // A second init changes nothing.
    let before = std::fs::read_to_string(&cfg).unwrap();
    let again = Command::new(BIN).arg("init").arg(&agent).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists already"));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
    // It runs against the built-in sandbox at once: replies and follows back.
    let log = dir.path().join("run.log");
    let f = std::fs::File::create(&log).unwrap();
    let _d = KillOnDrop(
        Command::new(BIN).args(["run", "--config"]).arg(&cfg).current_dir(&agent).stdout(f.try_clone().unwrap()).stderr(f).spawn().unwrap(),
    );
    let seen = |what: &str| std::fs::read_to_string(&log).unwrap_or_default().contains(what);
    assert!(
        eventually(Duration::from_secs(90), || seen("replied to @") && seen("followed @")).await,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );

    // --real: no sandbox, the credentials file named.
    let real = dir.path().join("real");
    assert!(Command::new(BIN).arg("init").arg(&real).arg("--real").output().unwrap().status.success());
    let text = std::fs::read_to_string(real.join("config.yaml")).unwrap();
    assert!(text.contains("sandbox: false") && text.contains("credentials_file: credentials.env"), "{text}");
    // Unknown kinds are named.
    let bad = Command::new(BIN).arg("init").arg(dir.path().join("x")).args(["--kinds", "teleport"]).output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown kind \"teleport\""));
}

fn doctor(cfg: &Path) -> (bool, serde_json::Value, String) {
    let out = Command::new(BIN).args(["doctor", "--json", "--config"]).arg(cfg).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let text = Command::new(BIN).args(["doctor", "--config"]).arg(cfg).output().unwrap();
    (out.status.success(), v, String::from_utf8_lossy(&text.stdout).into_owned())
}

fn failing(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().filter(|f| f["ok"] == false).map(|f| f["check"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_setup_and_catches_what_breaks_agents() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "checked_bot").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], "");
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let (ok, v, text) = doctor(&cfg);
    assert!(ok, "{text}");
    assert!(text.contains("accepted: they belong to @checked_bot"), "{text}");
    assert!(text.contains("off the platform's (fine)"), "{text}");

    // A wrong secret.
    let wrong =
        write_config(dir.path(), &sb.base_url(), &(creds.0.clone(), "iar_wrong_secret_0000".into()), &[("r.yaml", REPLY_BEHAVIOR)], "");
    let (ok, v2, text) = doctor(&wrong);
    assert!(!ok && failing(&v2) == vec!["credentials @agent"], "{text}");
    assert!(text.contains("refused") && text.contains("fix: the secret is wrong"), "{text}");
    let _ = v;
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], "");

    // A state directory others can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("state"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (ok, v, text) = doctor(&cfg);
        assert!(!ok && failing(&v) == vec!["state directory"], "{text}");
        assert!(text.contains("mode 755") && text.contains("chmod 700"), "{text}");
        std::fs::set_permissions(dir.path().join("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    // The state locked by a process that is not a daemon answering on its socket (here: this test).
    let held = imagine_agent::store::Store::open(&dir.path().join("state/sled")).unwrap();
    let (ok, v, text) = doctor(&cfg);
    assert!(!ok && failing(&v) == vec!["state lock"], "{text}");
    assert!(text.contains("locked by another process"), "{text}");
    drop(held);

    // A model server that is not there.
    let gone = format!("http://127.0.0.1:{}/v1", free_port());
    let llm = format!("llm:\n  writer:\n    base_url: {gone}\n    model: m\n");
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], &llm);
    let (ok, v, text) = doctor(&cfg);
    assert!(!ok && failing(&v) == vec!["llm profile writer"], "{text}");
    assert!(text.contains("cannot be reached") && text.contains("start the model server"), "{text}");
    sb.stop().await;
}
