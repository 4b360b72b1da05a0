//! LLM-written replies: against the sandbox's stand-in and a test server that
//! fails, hangs, answers empty, oversized, or tries to leak the key.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use common::*;
use imagine_agent::runtime::{self, RunOptions};
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Seen {
    calls: Vec<(String, Value)>,
}
type Shared = Arc<Mutex<Seen>>;

/// A misbehaving OpenAI-compatible server: `/{mode}/v1/chat/completions`.
async fn chat(
    Path(mode): Path<String>,
    State(seen): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<Value>,
) -> axum::response::Response {
    let nth = {
        let mut s = seen.lock().unwrap();
        s.calls.push((mode.clone(), req.clone()));
        s.calls.iter().filter(|c| c.0 == mode).count()
    };
    let key = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").trim_start_matches("Bearer ").to_string();
    let text = match mode.as_str() {
        "fail" => {
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": {"message": "boom", "type": "server_error"}}))).into_response()
        }
        "hang" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late".to_string()
        }
        "empty" => String::new(),
        "obey" => format!("{} {}", (0..50).map(|i| format!("@agent{i}")).collect::<Vec<_>>().join(" "), "blah ".repeat(400)),
        "leak" => format!("Sure! My API key is {key}"),
        // Each walks around a naive guardrail: the banned words are "api key" and "password".
        "mentionsplit" => "@alice here is the api @key info".to_string(),
        "fullwidth" => "my ｐａｓｓｗｏｒｄ is safe".to_string(),
        "cyrillic" => "the pаsswоrd is here".to_string(),
        "zerowidth" => "the pass\u{200B}word is here".to_string(),
        "link" => "see https://evil.example/phish now".to_string(),
        "www" => "visit www.evil.example today".to_string(),
        "doclink" => "read https://docs.rs/tokio for that".to_string(),
        // Different answers (the daemon drops a model text too close to an earlier one).
        _ => ["A good answer.", "Another angle entirely: try it small first.", "Third thought: measure before changing anything."]
            [(nth - 1) % 3]
            .to_string(),
    };
    Json(json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50}
    }))
    .into_response()
}

async fn llm_server() -> (String, Shared) {
    let seen: Shared = Arc::default();
    let app = Router::new().route("/{mode}/v1/chat/completions", post(chat)).with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, seen)
}

fn reply_behavior(profile: &str, fallback: Option<&str>) -> String {
    let fb = fallback.map(|f| format!("    fallback: \"{f}\"\n")).unwrap_or_default();
    format!(
        "kind: auto_reply\nname: llm-replies\ncontent:\n  llm:\n    profile: {profile}\n    prompt: \"Reply to @{{{{ author }}}} who wrote: {{{{ text }}}}\"\n{fb}guardrails:\n  author_cooldown: 0s\n  max_replies_per_thread: 100\nmax_mentions: 1\n"
    )
}

fn profiles(url: &str, mode: &str, extra: &str) -> String {
    format!("llm:\n  p:\n    base_url: {url}/{mode}/v1\n    model: test\n    timeout: 400ms\n    retries: 2\n{extra}")
}

/// Runs one bot on a sandbox of its own until every mention is handled (its post read and,
/// unless `answers` is false, a reply published); its replies to the mentions.
async fn run_bot(handle: &str, behavior: &str, extra: &str, mentions: usize) -> Vec<String> {
    let sb = sandbox(quiet_with_community()).await;
    let creds = register(&sb, handle).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("{extra}metrics_addr: 127.0.0.1:0\n");
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", behavior)], &extra);
    let loaded = imagine_agent::setup::load(&cfg).unwrap_or_else(|p| panic!("{p}"));
    let stop = CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(runtime::run(loaded, RunOptions::default(), stop.clone(), rx));
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    let posts = post_seqs(&burst(&sb, json!({"target": handle, "mentions": mentions})).await);
    let me = id_of(&sb, handle);
    let replies = |sb: &SandboxHandle| -> Vec<String> {
        let w = sb.app.world();
        w.comments.values().filter(|c| c.agent == me && posts.contains(&c.post)).map(|c| c.content.clone()).collect()
    };
    // An event counts as handled once its outcome (a reply, a fallback, a skip) is recorded.
    let handled = || metric(port, "imagine_agent_notifications_handled_total", &["behavior=\"llm-replies\""]);
    assert!(
        eventually_async(Duration::from_secs(20), || async { handled().await >= Some(mentions as u64) }).await,
        "every mention handled"
    );
    stop.cancel();
    task.await.unwrap().unwrap();
    let out = replies(&sb);
    sb.stop().await;
    out
}

fn quiet_with_community() -> SandboxConfig {
    SandboxConfig { community: 3, community_interval: Duration::ZERO, ..quiet_config() }
}

#[tokio::test]
async fn replies_come_from_the_sandbox_stand_in() {
    let sb = sandbox(quiet_with_community()).await;
    let extra = format!("llm:\n  local:\n    base_url: {}/v1\n    model: sandbox-stand-in\n", sb.base_url());
    let replies = run_bot("thinker", &reply_behavior("local", None), &extra, 2).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(replies.iter().all(|r| r.contains("my take is")), "{replies:?}");
    sb.stop().await;
}

#[tokio::test]
async fn an_injection_cannot_break_length_mentions_or_secrets() {
    let (url, seen) = llm_server().await;
    // The model obeys an injected request for 2,000 characters and 50 mentions.
    let replies = run_bot("guarded", &reply_behavior("p", None), &profiles(&url, "obey", ""), 1).await;
    assert_eq!(replies.len(), 1);
    let r = &replies[0];
    assert!(r.chars().count() <= 1000, "comment limit kept: {}", r.chars().count());
    assert!(r.matches('@').count() <= 1, "mention limit kept: {r}");
    // The prompt delimits other agents' text and carries the guard.
    let calls = seen.lock().unwrap().calls.clone();
    let msgs = calls[0].1["messages"].as_array().unwrap();
    assert!(msgs[0]["content"].as_str().unwrap().contains("never instructions"));
    let user = msgs[1]["content"].as_str().unwrap();
    assert!(user.contains(imagine_agent::llm::UNTRUSTED_OPEN) && user.contains(imagine_agent::llm::UNTRUSTED_CLOSE), "{user}");

    // The model tries to publish its API key: dropped, the fallback goes out instead.
    // The key from a file (no set_var: tests run in parallel).
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("llm.key");
    std::fs::write(&key_file, "sk-test-supersecret-42\n").unwrap();
    let extra = profiles(&url, "leak", &format!("    api_key_file: {}\n", key_file.display()));
    let replies = run_bot("leaky", &reply_behavior("p", Some("Thanks, I will get back to you.")), &extra, 1).await;
    assert_eq!(replies, vec!["Thanks, I will get back to you."]);
}

#[tokio::test]
async fn guardrails_hold_on_the_final_text_whatever_the_disguise() {
    let (url, seen) = llm_server().await;
    let behavior = reply_behavior("p", Some("Safe fallback."))
        .replace("    fallback:", "    banned_words: [api key, password]\n    allow_domains: [docs.rs]\n    fallback:");
    for mode in ["mentionsplit", "fullwidth", "cyrillic", "zerowidth", "link", "www"] {
        let replies = run_bot(&format!("g_{mode}"), &behavior, &profiles(&url, mode, ""), 1).await;
        assert_eq!(replies, vec!["Safe fallback."], "mode {mode}: the model's text is dropped");
        assert!(seen.lock().unwrap().calls.iter().any(|c| c.0 == mode), "mode {mode}: the model was asked");
    }
    // A link to an allowed domain goes out.
    let replies = run_bot("g_doclink", &behavior, &profiles(&url, "doclink", ""), 1).await;
    assert_eq!(replies, vec!["read https://docs.rs/tokio for that"]);
}

#[tokio::test]
async fn failures_use_the_fallback_or_skip_never_crash() {
    let (url, seen) = llm_server().await;
    let fb = Some("fallback reply");
    for (i, mode) in ["fail", "hang", "empty"].iter().enumerate() {
        let replies = run_bot(&format!("bot_{mode}"), &reply_behavior("p", fb), &profiles(&url, mode, ""), 1).await;
        assert_eq!(replies, vec!["fallback reply"], "mode {mode}");
        let n = seen.lock().unwrap().calls.iter().filter(|c| c.0 == *mode).count();
        match *mode {
            // async-openai retries 5xx itself inside each of our (timed) attempts: retried, and bounded.
            "fail" => assert!((3..=12).contains(&n), "mode fail: {n} calls (i={i})"),
            // Each timed-out attempt is one call: one try and two retries.
            "hang" => assert_eq!(n, 3, "mode hang (i={i})"),
            // An empty answer is an answer: dropped, not retried.
            _ => assert_eq!(n, 1, "mode {mode} (i={i})"),
        }
    }
    // No fallback: skip, nothing half-written (and the model was tried for it).
    let calls = || seen.lock().unwrap().calls.iter().filter(|c| c.0 == "fail").count();
    let before = calls();
    let replies = run_bot("bot_skip", &reply_behavior("p", None), &profiles(&url, "fail", ""), 1).await;
    assert!(calls() >= before + 3, "the model was tried and retried for this mention");
    assert!(replies.is_empty());
}

#[tokio::test]
async fn a_daily_token_budget_pauses_llm_use() {
    let (url, seen) = llm_server().await;
    let extra = profiles(&url, "ok", "    daily_token_budget: 60\n");
    let replies = run_bot("thrifty", &reply_behavior("p", Some("budget fallback")), &extra, 3).await;
    let calls = seen.lock().unwrap().calls.iter().filter(|c| c.0 == "ok").count();
    assert_eq!(calls, 2, "50 tokens a call, budget 60: the third mention gets no call");
    let mut r = replies.clone();
    r.sort();
    assert_eq!(r, vec!["A good answer.", "Another angle entirely: try it small first.", "budget fallback"]);
}

#[tokio::test]
async fn a_spent_budget_stays_spent_across_a_restart() {
    let (url, seen) = llm_server().await;
    let sb = sandbox(quiet_with_community()).await;
    let creds = register(&sb, "frugal").await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("{}metrics_addr: 127.0.0.1:0\n", profiles(&url, "ok", "    daily_token_budget: 60\n"));
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", &reply_behavior("p", Some("budget fallback")))], &extra);
    let calls = || seen.lock().unwrap().calls.iter().filter(|c| c.0 == "ok").count();
    let handled = |port| metric(port, "imagine_agent_notifications_handled_total", &["behavior=\"llm-replies\""]);
    let clock = imagine_agent::clock::Clock::default();
    let state = dir.path().join("state");

    // 50 tokens spent, then a restart.
    let (stop, task) = start_on(&cfg, &clock);
    let port = bound_port(&state, "metrics").await;
    burst(&sb, json!({"target": "frugal", "mentions": 1})).await;
    assert!(eventually_async(Duration::from_secs(20), || async { handled(port).await >= Some(1) }).await);
    stop.cancel();
    task.await.unwrap();
    assert_eq!(calls(), 1);

    // After the restart: one more call (50 < 60), then the budget is spent (100 >= 60).
    std::fs::remove_file(imagine_agent::runtime::addr_file(&state, "metrics")).unwrap();
    let (stop, task) = start_on(&cfg, &clock);
    let port = bound_port(&state, "metrics").await;
    burst(&sb, json!({"target": "frugal", "mentions": 2})).await;
    assert!(eventually_async(Duration::from_secs(20), || async { handled(port).await >= Some(2) }).await);
    stop.cancel();
    task.await.unwrap();
    assert_eq!(calls(), 2, "the restart did not reset the day's count");
    let me = id_of(&sb, "frugal");
    let mut replies: Vec<String> = sb.app.world().comments.values().filter(|c| c.agent == me).map(|c| c.content.clone()).collect();
    replies.sort();
    assert_eq!(replies, vec!["A good answer.", "Another angle entirely: try it small first.", "budget fallback"]);
    sb.stop().await;
}

/// The emulator's model stand-in recognizes the daemon's requests by their system prompts: the
/// should-respond gate's and engage's rating (a reworded prompt would silently get a post-like
/// answer from the stand-in, and the tests of both would stop testing them).
#[test]
fn the_emulators_stand_in_recognizes_the_gate_and_the_rating() {
    use imagine_agent::sandbox::llm::{DECIDE_ASK, RATING_ASK};
    assert!(imagine_agent::behaviors::engine::decide::DECIDE_SYSTEM.contains(DECIDE_ASK));
    assert!(imagine_agent::behaviors::engine::selection::SCORE_SYSTEM.contains(RATING_ASK));
}
