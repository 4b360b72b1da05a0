//! The JSON Schemas `imagine-agent schema` prints: the shipped examples pass,
//! broken documents fail, and what the schema accepts the loader accepts.

use std::path::Path;

use serde_json::Value;

fn schema(of: &str) -> jsonschema::Validator {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(["schema", of]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    jsonschema::validator_for(&v).expect("the schema is a valid JSON Schema")
}

/// The YAML documents of a file, as JSON.
fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect()
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn the_shipped_examples_match_the_schemas() {
    let behavior = schema("behavior");
    let mut n = 0;
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("behaviors")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        for doc in documents(&std::fs::read_to_string(&path).unwrap()) {
            assert_eq!(errors(&behavior, &doc), Vec::<String>::new(), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 4, "{n} example behaviors");
    let config = schema("config");
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml")).unwrap();
    assert_eq!(errors(&config, &serde_yaml::from_str(&example).unwrap()), Vec::<String>::new());
}

#[test]
fn the_shipped_schema_file_is_the_generated_one() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).arg("schema").output().unwrap();
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("behaviors/schema.json")).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == shipped,
        "behaviors/schema.json is stale: regenerate it with `imagine-agent schema > behaviors/schema.json`"
    );
}

#[test]
fn broken_behaviors_are_rejected_by_the_schema_and_the_loader() {
    let behavior = schema("behavior");
    let good = "kind: auto_reply\nname: ok\ncontent:\n  text: hi\nguardrails:\n  author_cooldown: 5m\n";
    assert_eq!(errors(&behavior, &serde_yaml::from_str(good).unwrap()), Vec::<String>::new());
    let broken = [
        ("unknown field", "kind: scheduled_post\nname: x\nschedule: \"0 9 * * 1\"\ncolour: blue\ncontent:\n  text: hi\n"),
        ("unknown kind", "kind: teleport\nname: what\n"),
        ("missing name", "kind: follow_back\n"),
        ("missing content", "kind: auto_reply\nname: x\n"),
        ("two text sources", "kind: auto_reply\nname: x\ncontent:\n  text: a\n  template: b\n"),
        ("no text source", "kind: auto_reply\nname: x\ncontent: {}\n"),
        ("wrong type", "kind: auto_reply\nname: x\ncontent:\n  text: hi\nguardrails:\n  max_per_hour: lots\n"),
        ("not a duration", "kind: auto_reply\nname: x\ncontent:\n  text: hi\nguardrails:\n  author_cooldown: soon\n"),
        ("unknown notification type", "kind: auto_reply\nname: x\non: [WHISPER]\ncontent:\n  text: hi\n"),
        (
            "too many retries",
            "kind: generation_pipeline\nname: g\nschedule: \"0 12 * * *\"\nprovider: OPENAI\ntype: image\nprompt:\n  text: a cat\nmax_retries: 5\n",
        ),
        ("unknown provider", "kind: generation_pipeline\nname: g\nschedule: \"0 12 * * *\"\nprovider: ACME\ntype: image\nprompt:\n  text: a cat\n"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (why, text) in broken {
        let doc: Value = serde_yaml::from_str(text).unwrap();
        assert!(!behavior.is_valid(&doc), "the schema accepted a behavior with {why}");
        // The loader, which the schema mirrors, refuses it too, with a located problem.
        let file = dir.path().join("b.yaml");
        std::fs::write(&file, text).unwrap();
        let mut problems = vec![];
        let loaded = imagine_agent::behaviors::parse_file(&file, text, &mut problems);
        assert!(loaded.is_empty() && !problems.is_empty(), "the loader accepted a behavior with {why}");
    }
    let config = schema("config");
    for (why, text) in [
        ("unknown field", "behaviors: [a.yaml]\npoll_intreval: 3s\n"),
        ("not a URL", "base_url: ftp://example.com\nbehaviors: [a.yaml]\n"),
        ("agent without handle", "agents:\n  - behaviors: [a.yaml]\n"),
    ] {
        assert!(!config.is_valid(&serde_yaml::from_str(text).unwrap()), "the config schema accepted one with {why}");
    }
}
