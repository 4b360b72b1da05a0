//! Providers as desired state: the keys under `providers:` connected at start,
//! sent again only when they differ from the platform's masked key (or the
//! provider was switched off), never logged; a generating behavior whose
//! provider is neither declared nor connected is refused with its
//! file:line:column and never starts a job; `doctor` runs the platform's test
//! of each connected key.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::SandboxHandle;
use imagine_agent::wire::types::Provider;

const ART: &str =
    "kind: generation_pipeline\nname: art\nschedule: \"* * * * * *\"\nprovider: OPENAI\ntype: image\nprompt:\n  template: \"art number {{ counter }}\"\npoll_every: 1s\n";
const VOICE: &str = "kind: generation_pipeline\nname: voice\nschedule: \"* * * * * *\"\nprovider: ELEVENLABS\ntype: voice\nprompt:\n  template: \"hello number {{ counter }}\"\npoll_every: 1s\n";

/// Jobs of `agent` by `provider`.
fn jobs(sb: &SandboxHandle, agent: &str, provider: Provider) -> usize {
    sb.app.world().jobs.values().filter(|j| j.agent == agent && j.provider.as_ref() == Some(&provider)).count()
}

/// The key the platform holds for `agent`'s `provider`, and whether it is on.
fn held(sb: &SandboxHandle, agent: &str, provider: &str) -> Option<(String, bool)> {
    sb.app.world().connected.get(agent).and_then(|m| m.get(provider)).map(|r| (r.0.clone(), r.1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_providers_are_connected_by_diff_and_a_behavior_without_one_is_refused_where_it_is_declared() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "painter").await;
    let me = id_of(&sb, "painter");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("openai.key");
    let key = "sk-proj-first-key-0123456789abcdef";
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let extra = "providers:\n  OPENAI:\n    api_key_file: openai.key\n";
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("art.yaml", ART), ("voice.yaml", VOICE)], extra);
    let log = dir.path().join("run.log");
    let connects = || served(&sb, "POST /api/settings/services", 0);

    // First start: connected; the art pipeline starts jobs, the voice one (ELEVENLABS, neither declared nor connected) none.
    let d = spawn_logged(&cfg, &log);
    assert!(eventually(Duration::from_secs(30), || jobs(&sb, &me, Provider::OpenAi) >= 3).await, "the art pipeline runs");
    assert_eq!(held(&sb, &me, "OPENAI"), Some((key.to_string(), true)), "the declared key is connected");
    assert_eq!(connects(), 1);
    assert_eq!(jobs(&sb, &me, Provider::ElevenLabs), 0, "the refused behavior started no job in 3 runs of the other");
    drop(d);
    let text = std::fs::read_to_string(&log).unwrap();
    let voice = dir.path().join("behaviors/voice.yaml").display().to_string();
    assert!(
        text.contains(&format!("{voice}:4:1")) && text.contains("provider ELEVENLABS is neither declared"),
        "refused with file:line:column:\n{text}"
    );
    assert!(!text.contains(key) && !text.contains("0123456789abcdef"), "the key is never logged:\n{text}");

    // A restart with the same key sends nothing; switched off on the platform, it is switched on again.
    let before = connects();
    let d = spawn_logged(&cfg, &log);
    let jobs_now = jobs(&sb, &me, Provider::OpenAi);
    assert!(eventually(Duration::from_secs(30), || jobs(&sb, &me, Provider::OpenAi) > jobs_now).await, "running again");
    assert_eq!(connects(), before, "the same key is not sent again");
    drop(d);
    sb.app.world().connected.get_mut(&me).unwrap().get_mut("OPENAI").unwrap().1 = false;
    let d = spawn_logged(&cfg, &log);
    assert!(eventually(Duration::from_secs(30), || held(&sb, &me, "OPENAI").is_some_and(|h| h.1)).await, "switched on again");
    assert_eq!((connects(), served(&sb, "PATCH /api/settings/services/{provider}", 200)), (before, 1));
    drop(d);

    // A new key is sent once.
    let new_key = "sk-proj-second-key-fedcba9876543210";
    std::fs::write(&key_file, new_key).unwrap();
    let d = spawn_logged(&cfg, &log);
    assert!(eventually(Duration::from_secs(30), || held(&sb, &me, "OPENAI").is_some_and(|h| h.0 == new_key)).await, "updated");
    assert_eq!(connects(), before + 1);
    drop(d);

    // doctor: the platform's test of the connected key, passing, then failing for a key it refuses.
    let doctor = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(["doctor", "--config"]).arg(&cfg).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = doctor();
    assert!(out.lines().any(|l| l.starts_with("ok") && l.contains("provider OPENAI @") && l.contains("test passed")), "{out}");
    sb.app.world().connected.get_mut(&me).unwrap().get_mut("OPENAI").unwrap().0 = "sk-invalid-key-000000".into();
    let out = doctor();
    assert!(out.lines().any(|l| l.starts_with("FAIL") && l.contains("provider OPENAI @") && l.contains("test failed")), "{out}");
    sb.stop().await;
}

#[test]
fn a_provider_the_reference_does_not_list_or_without_one_key_source_is_refused_at_validate() {
    let dir = tempfile::tempdir().unwrap();
    let creds = ("id".to_string(), "secret".to_string());
    let extra = "providers:\n  OPENAI:\n    api_key_env: A\n    api_key_file: b\n  MIDJOURNEY:\n    api_key_env: C\n";
    let cfg = write_config(dir.path(), "http://127.0.0.1:9", &creds, &[("art.yaml", ART)], extra);
    let (ok, text) = validate(&cfg);
    assert!(!ok, "{text}");
    let file = cfg.display().to_string();
    assert!(text.contains(&format!("{file}:")) && text.contains("unknown provider MIDJOURNEY"), "{text}");
    assert!(text.contains("provider OPENAI: give exactly one of api_key_env and api_key_file"), "{text}");
}
