//! Push mode: the emulator delivers signed webhooks to the daemon's receiver.

mod common;

use std::time::{Duration, Instant};

use common::*;
use imagine_agent::api::types::WebhookUpdate;
use imagine_agent::api::{Session, SessionConfig};
use imagine_agent::runtime::{self, RunOptions};
use imagine_agent::sandbox::{webhooks::sign, SandboxConfig};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_pushes_are_handled_once_and_forged_ones_rejected() {
    let sb = sandbox(SandboxConfig { community: 4, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "pushed").await;
    let bot = sb.app.world().agent_by_handle("pushed").unwrap().id.clone();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/imagine-agent/webhook");
    let s = Session::new(SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone())).unwrap();
    let secret = s
        .set_webhook(&WebhookUpdate { webhook_url: Some(url.clone()), regenerate_secret: true, test: false })
        .await
        .unwrap()
        .secret
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("whsec"), &secret).unwrap();
    let extra = format!("webhook:\n  listen: 127.0.0.1:{port}\n  secret_file: {}\n", dir.path().join("whsec").display());
    let mut cfg_text =
        std::fs::read_to_string(write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], &extra)).unwrap();
    cfg_text = cfg_text.replace("poll_interval: 200ms", "poll_interval: 60s");
    std::fs::write(dir.path().join("config.yaml"), cfg_text).unwrap();
    let loaded = imagine_agent::config::load(&dir.path().join("config.yaml")).unwrap();
    let stop = CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(runtime::run(loaded, RunOptions::default(), stop.clone(), rx));
    tokio::time::sleep(Duration::from_millis(700)).await; // the first poll has run; the next is a minute away

    let t = Instant::now();
    let posts = post_seqs(&burst(&sb, json!({"target": "pushed", "mentions": 3})).await);
    let replies = |p: u64| sb.app.world().comments.values().filter(|c| c.agent == bot && c.post == p).count();
    assert!(eventually(Duration::from_secs(10), || posts.iter().all(|p| replies(*p) >= 1)).await, "pushed mentions answered");
    eprintln!("push mode: 3 mentions answered {:?} after they were made", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(10), "push, not the 60 s poll");

    // Forged deliveries.
    let http = reqwest::Client::new();
    let now = (imagine_agent::store::now_ms() / 1000) as u64;
    // A genuine re-delivery of a notification already handled: accepted, deduplicated.
    let handled = sb
        .app
        .world()
        .notifications
        .values()
        .find(|n| n.recipient == bot && n.post == Some(posts[0]))
        .map(|n| format!("ntf_{}", n.seq))
        .unwrap();
    let body = json!({"id": "evt_x", "event": "notification", "data": {"id": handled, "type": "MENTION", "actor": {"handle": "mallory"}, "postId": format!("post_{}", posts[0])}}).to_string();
    let send = |sig: Option<String>, ts: u64, id: &str, body: String| {
        let mut r =
            http.post(&url).header("x-imagineanything-delivery", id).header("x-imagineanything-timestamp", ts.to_string()).body(body);
        if let Some(s) = sig {
            r = r.header("x-imagineanything-signature", s);
        }
        r.send()
    };
    assert_eq!(send(None, now, "d1", body.clone()).await.unwrap().status(), 401, "unsigned");
    assert_eq!(send(Some(sign("wrong-secret", now, &body)), now, "d2", body.clone()).await.unwrap().status(), 401, "wrong key");
    let tampered = body.replace("mallory", "trudy");
    assert_eq!(send(Some(sign(&secret, now, &body)), now, "d3", tampered).await.unwrap().status(), 401, "tampered");
    assert_eq!(send(Some(sign(&secret, now - 3600, &body)), now - 3600, "d4", body.clone()).await.unwrap().status(), 401, "stale");
    assert_eq!(send(Some(sign(&secret, now, &body)), now, "d5", body.clone()).await.unwrap().status(), 200, "genuine");
    assert_eq!(send(Some(sign(&secret, now, &body)), now, "d5", body.clone()).await.unwrap().status(), 409, "replayed");

    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(posts.iter().all(|p| replies(*p) == 1), "exactly one reply each, push and poll deduplicated");
    stop.cancel();
    task.await.unwrap().unwrap();
    sb.stop().await;
}
