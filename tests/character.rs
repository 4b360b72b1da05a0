//! A character with memory: an ElizaOS character file read as is and rendered
//! per purpose (`character show`), its style reaching the model for posts
//! and replies (the emulator's stand-in shows the rule it was given), broken
//! files reported with file:line:column, a model text too close to an
//! earlier one asked for again then dropped, and the should-respond gate.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};

const ELIZA: &str = r#"{
  "name": "Captain Rust",
  "username": "captain_rust",
  "system": "Roleplay as Captain Rust, a cheerful systems programmer.",
  "bio": ["Sails the seas of memory safety.", "Knows the borrow checker by name."],
  "lore": ["Once rewrote a lighthouse in Rust."],
  "adjectives": ["cheerful", "precise"],
  "topics": ["ownership", "async"],
  "style": {
    "all": [],
    "chat": ["answer like a ship's captain"],
    "post": ["end with a nautical word"]
  },
  "postExamples": ["Anchors aweigh: lifetimes are just tides."],
  "messageExamples": [[
    {"user": "{{user1}}", "content": {"text": "What is a borrow?"}},
    {"user": "Captain Rust", "content": {"text": "A loan of the ship, returned before dusk."}}
  ]],
  "knowledge": ["Rust 1.0 shipped in 2015."],
  "plugins": [],
  "clients": ["twitter"],
  "settings": {"secrets": {}}
}
"#;

/// A config for `creds` on `sb` whose agent has the character `file` (written next to it).
fn config_with_character(
    dir: &Path,
    sb: &SandboxHandle,
    creds: &(String, String),
    behaviors: &[(&str, &str)],
    character: &str,
) -> std::path::PathBuf {
    let extra = format!("llm:\n  local:\n    base_url: {}/v1\n    model: sandbox-stand-in\n", sb.base_url());
    let cfg = write_config(dir, &sb.base_url(), creds, behaviors, &extra);
    std::fs::write(dir.join("captain.json"), character).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap().replace("agent:\n", "agent:\n  character: captain.json\n");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn cli(args: &[&str], cfg: &Path) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(args).arg("--config").arg(cfg).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elizaos_character_is_read_as_is_and_rendered_per_purpose() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "captain").await;
    let dir = tempfile::tempdir().unwrap();
    let noop = "kind: follow_back\nname: fb\n";
    let cfg = config_with_character(dir.path(), &sb, &creds, &[("fb.yaml", noop)], ELIZA);

    let (ok, post, err) = cli(&["character", "show", "--for", "post"], &cfg);
    assert!(ok, "{err}");
    for want in [
        "You are Captain Rust",
        "Roleplay as Captain Rust",
        "About you: Sails the seas of memory safety. Knows the borrow checker by name.",
        "You are cheerful, precise.",
        "You talk about: ownership, async.",
        "Style:\n- end with a nautical word",
        "Posts you wrote:\n- Anchors aweigh",
    ] {
        assert!(post.contains(want), "{want:?} in:\n{post}");
    }
    assert!(!post.contains("ship's captain"), "the chat style is not for posts:\n{post}");
    assert!(err.contains("ignored (not used by imagine-agent): clients, plugins, settings"), "{err}");

    let (_, reply, _) = cli(&["character", "show", "--for", "reply"], &cfg);
    assert!(reply.contains("Style:\n- answer like a ship's captain") && !reply.contains("nautical"), "{reply}");
    assert!(reply.contains("Conversations you had:\nsomeone: What is a borrow?\nCaptain Rust: A loan of the ship"), "{reply}");

    // A broken file: its own file:line:column.
    let broken = ELIZA.replace(r#""adjectives": ["cheerful", "precise"],"#, r#""adjectives": 5,"#);
    std::fs::write(dir.path().join("captain.json"), broken).unwrap();
    let (ok, out, _) = cli(&["validate"], &cfg);
    let f = dir.path().join("captain.json").display().to_string();
    assert!(!ok && out.contains(&format!("{f}:7:")) && out.contains("adjectives"), "{out}");
    sb.stop().await;
}

/// The current ElizaOS format (the shape of elizaOS/eliza `characters/eliza-default-8-16.json`):
/// an `id`, `{{name}}` placeholders, `messageExamples` as `{"examples": [...]}` objects.
const ELIZA_CURRENT: &str = r#"{
  "id": "b850bc30-45f8-0041-a00a-83df46d8555d",
  "name": "Eliza",
  "bio": ["{{name}} is warm, precise, and easy to talk to.", "{{name}} values accuracy over speed."],
  "system": "You are {{agentName}}. Keep it brief.",
  "adjectives": ["warm", "calm"],
  "topics": ["clarity"],
  "style": {"all": ["brief is usually better"], "chat": ["answer the question directly"], "post": ["write one clean line"]},
  "messageExamples": [
    {"examples": [
      {"name": "{{user1}}", "content": {"text": "can you help me with this?"}},
      {"name": "{{agentName}}", "content": {"text": "sure. what are you working on?"}}
    ]}
  ],
  "postExamples": ["hey, how are you?"]
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elizaos_character_of_either_format_is_read_with_its_placeholders_filled() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "eliza_fmt").await;
    for (format, file) in [("current", ELIZA_CURRENT), ("older", ELIZA)] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_with_character(dir.path(), &sb, &creds, &[("fb.yaml", "kind: follow_back\nname: fb\n")], file);
        let (ok, out, err) = cli(&["validate"], &cfg);
        assert!(ok, "{format}: {out}{err}");
        let (ok, reply, err) = cli(&["character", "show", "--for", "reply"], &cfg);
        assert!(ok, "{format}: {err}");
        assert!(!reply.contains("{{"), "{format}: every placeholder filled:\n{reply}");
        if format == "current" {
            assert!(reply.contains("About you: Eliza is warm, precise, and easy to talk to. Eliza values accuracy"), "{reply}");
            assert!(reply.contains("You are Eliza. Keep it brief."), "{reply}");
            assert!(
                reply.contains("Conversations you had:\nsomeone: can you help me with this?\nEliza: sure. what are you working on?"),
                "{reply}"
            );
        }
    }
    sb.stop().await;
}

fn posts_by(sb: &SandboxHandle, id: &str) -> Vec<String> {
    sb.app.world().posts.values().filter(|p| p.agent == id).map(|p| p.content.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_style_reaches_the_model_and_a_repeated_post_is_asked_again_then_dropped() {
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "captain").await;
    let me = id_of(&sb, "captain");
    let post = "kind: scheduled_post\nname: musings\nschedule: \"* * * * * *\"\ncontent:\n  llm:\n    profile: local\n    prompt: \"Write a post about ownership.\"\n";
    let reply = "kind: auto_reply\nname: replies\ncontent:\n  llm:\n    profile: local\n    prompt: \"Answer @{{ author }}: {{ text }}\"\nguardrails:\n  author_cooldown: 0s\n";
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_character(dir.path(), &sb, &creds, &[("post.yaml", post), ("reply.yaml", reply)], ELIZA);
    let _d = spawn_run(&cfg);
    polls_later(&sb, 1).await;
    burst(&sb, serde_json::json!({"target": "captain", "mentions": 1})).await;

    // Posts carry the post style, replies the chat style (the stand-in shows the rule it got).
    assert!(
        eventually(Duration::from_secs(20), || !replies_by(&sb, &me).is_empty() && posts_by(&sb, &me).len() == 2).await,
        "{:?} {:?}",
        posts_by(&sb, &me),
        replies_by(&sb, &me)
    );
    assert!(replies_by(&sb, &me).iter().all(|r| r.ends_with("(answer like a ship's captain)")), "{:?}", replies_by(&sb, &me));
    assert!(posts_by(&sb, &me).iter().all(|p| p.ends_with("(end with a nautical word)")), "{:?}", posts_by(&sb, &me));
    // The same prompt every second: the first post, then a repeat asked again (a new text), then
    // repeats both times: dropped. Five more model calls later, still two posts.
    let calls = served(&sb, "POST /v1/chat/completions", 0);
    assert!(eventually(Duration::from_secs(20), || served(&sb, "POST /v1/chat/completions", 0) >= calls + 6).await);
    let posts = posts_by(&sb, &me);
    assert_eq!(posts.len(), 2, "never a repeated post: {posts:?}");
    assert_ne!(posts[0], posts[1]);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_answers_ignores_and_stops_with_reasons() {
    let sb = sandbox(SandboxConfig { community: 3, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "gated").await;
    let me = id_of(&sb, "gated");
    let members: Vec<String> = sb.app.world().agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect();
    let reply = "kind: auto_reply
name: replies
content:
  template: \"Thanks @{{ author }}!\"
decide:
  profile: local
guardrails:
  author_cooldown: 0s
  max_replies_per_thread: 10
";
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("llm:\n  local:\n    base_url: {}/v1\n    model: sandbox-stand-in\n", sb.base_url());
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("reply.yaml", reply)], &extra);
    let post = |who: usize, text: &str| {
        let mut w = sb.app.world();
        w.create_post(&members[who], &imagine_agent::wire::types::NewPost::text(text)).unwrap().0
    };
    post(0, "@gated how do you test async code?");
    post(1, "@gated buy now: cheap followers!");
    let goodbye = post(2, "@gated it was fun, goodbye friend");
    let (stop, task) = start_on(&cfg, &imagine_agent::clock::Clock::System);
    assert!(eventually(Duration::from_secs(20), || served(&sb, "POST /v1/chat/completions", 0) == 3).await, "three verdicts");
    assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == 1).await);
    // A comment in the stopped thread, mentioning us: not answered, not even asked about.
    let for_me = |sb: &SandboxHandle| sb.app.world().notifications.values().filter(|n| n.recipient == me).count();
    let before = for_me(&sb);
    let comment = imagine_agent::wire::types::NewComment { content: "@gated one more thing?".into(), parent_id: None };
    sb.app.world().add_comment(&members[2], goodbye, &comment, false).unwrap();
    assert_eq!(for_me(&sb), before + 1, "the comment notifies us");
    polls_later(&sb, 5).await;
    let asker = sb.app.world().agents[&members[0]].handle.clone();
    assert_eq!(replies_by(&sb, &me), vec![format!("Thanks @{asker}!")], "only the question is answered");
    assert_eq!(served(&sb, "POST /v1/chat/completions", 0), 3, "the stopped thread is not asked about again");
    stop.cancel();
    task.await.unwrap();
    // Started again: the thread stays ended (read back from the store).
    let (stop, task) = start_on(&cfg, &imagine_agent::clock::Clock::System);
    let before = for_me(&sb);
    let again = imagine_agent::wire::types::NewComment { content: "@gated are you there?".into(), parent_id: None };
    sb.app.world().add_comment(&members[2], goodbye, &again, false).unwrap();
    assert_eq!(for_me(&sb), before + 1, "the comment notifies us");
    polls_later(&sb, 5).await;
    assert_eq!(replies_by(&sb, &me).len(), 1, "after a restart, still only the question answered");
    assert_eq!(served(&sb, "POST /v1/chat/completions", 0), 3, "after a restart, the stopped thread is not asked about");
    stop.cancel();
    task.await.unwrap();
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_agent_remembers_of_another_survives_a_restart() {
    let sb = sandbox(SandboxConfig { community: 1, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "rememberer").await;
    let me = id_of(&sb, "rememberer");
    let member = sb.app.world().agents.values().find(|a| a.community).map(|a| (a.id.clone(), a.handle.clone())).unwrap();
    let reply = "kind: auto_reply\nname: replies\ncontent:\n  llm:\n    profile: local\n    prompt: \"Answer @{{ author }}: {{ text }}\"\nguardrails:\n  author_cooldown: 0s\n  max_replies_per_thread: 10\n";
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("llm:\n  local:\n    base_url: {}/v1\n    model: sandbox-stand-in\n", sb.base_url());
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("reply.yaml", reply)], &extra);
    let mention = |text: &str| {
        sb.app.world().create_post(&member.0, &imagine_agent::wire::types::NewPost::text(format!("@rememberer {text}"))).unwrap();
    };
    let mut d = spawn_run(&cfg);
    polls_later(&sb, 1).await;
    mention("what is ownership?");
    assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == 1).await);
    mention("and borrowing?");
    assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == 2).await);
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    let _d = spawn_run(&cfg);
    polls_later(&sb, 1).await;
    mention("and lifetimes?");
    assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == 3).await);
    let mut replies: Vec<(i64, String)> =
        sb.app.world().comments.values().filter(|c| c.agent == me).map(|c| (c.created_ms, c.content.clone())).collect();
    replies.sort();
    let knows = format!("(remembers @{})", member.1);
    assert!(!replies[0].1.contains(&knows), "nothing to remember the first time: {replies:?}");
    assert!(replies[1].1.ends_with(&knows) && replies[2].1.ends_with(&knows), "remembered, also after the restart: {replies:?}");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_passages_reach_the_reply_they_are_about() {
    let sb = sandbox(SandboxConfig { community: 1, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "keeper").await;
    let me = id_of(&sb, "keeper");
    let member = sb.app.world().agents.values().find(|a| a.community).map(|a| a.id.clone()).unwrap();
    let reply = "kind: auto_reply\nname: replies\ncontent:\n  llm:\n    profile: local\n    prompt: \"Answer @{{ author }}: {{ text }}\"\nguardrails:\n  author_cooldown: 0s\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    std::fs::write(
        dir.path().join("notes/lighthouses.md"),
        "# Lighthouses\n\nThe Ushant lighthouse runs a controller written in Rust.\n\n# Kitchen\n\nSourdough bread needs flour, water, salt and patience.\n",
    )
    .unwrap();
    let character = "name: Keeper\nknowledge:\n  - directory: notes\n  - \"Tides come twice a day.\"\n";
    let cfg = config_with_character(dir.path(), &sb, &creds, &[("reply.yaml", reply)], character);
    let _d = spawn_run(&cfg);
    polls_later(&sb, 1).await;
    for text in ["which controller does the lighthouse run?", "how do I bake sourdough bread?", "hello there, nice weather"] {
        let n = replies_by(&sb, &me).len();
        sb.app.world().create_post(&member, &imagine_agent::wire::types::NewPost::text(format!("@keeper {text}"))).unwrap();
        assert!(eventually(Duration::from_secs(20), || replies_by(&sb, &me).len() == n + 1).await);
    }
    let mut replies: Vec<(i64, String)> =
        sb.app.world().comments.values().filter(|c| c.agent == me).map(|c| (c.created_ms, c.content.clone())).collect();
    replies.sort();
    assert!(replies[0].1.contains("(notes: # Lighthouses The Ushant)"), "{replies:?}");
    assert!(replies[1].1.contains("(notes: # Kitchen Sourdough bread)"), "{replies:?}");
    assert!(!replies[2].1.contains("(notes:"), "nothing in the notes about the weather: {replies:?}");
    sb.stop().await;
}
