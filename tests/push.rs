//! Push mode: the emulator delivers signed webhooks to the daemon's receiver.

mod common;

use std::time::{Duration, Instant};

use common::*;
use imagine_agent::api::{Session, SessionConfig};
use imagine_agent::runtime::{self, RunOptions};
use imagine_agent::sandbox::{webhooks::sign, SandboxConfig};
use imagine_agent::wire::types::WebhookUpdate;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_pushes_are_handled_once_and_forged_ones_rejected() {
    let sb = sandbox(SandboxConfig { community: 4, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "pushed").await;
    let bot = id_of(&sb, "pushed");
    let s = Session::new(SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = register_webhook_secret(&s, dir.path()).await;
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let extra = format!("webhook:\n  listen: 127.0.0.1:0\n  secret_file: {}\n", secret_file.display());
    let mut cfg_text =
        std::fs::read_to_string(write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], &extra)).unwrap();
    cfg_text = cfg_text.replace("poll_interval: 200ms", "poll_interval: 60s");
    std::fs::write(dir.path().join("config.yaml"), cfg_text).unwrap();
    let loaded = imagine_agent::setup::load(&dir.path().join("config.yaml")).unwrap();
    let stop = CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(runtime::run(loaded, RunOptions::default(), stop.clone(), rx));
    let url = point_webhook(&s, bound_port(&dir.path().join("state"), "webhook").await).await;
    // The first poll has run; the next is a minute away.
    assert!(eventually(Duration::from_secs(10), || served(&sb, "GET /api/notifications", 200) >= 1).await, "first poll");

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
        let mut r = http.post(&url).header("x-imagineanything-timestamp", ts.to_string()).body(body);
        if !id.is_empty() {
            r = r.header("x-imagineanything-delivery", id);
        }
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
    // The delivery header is not signed: changing it does not make a replay new.
    assert_eq!(send(Some(sign(&secret, now, &body)), now, "d6", body.clone()).await.unwrap().status(), 409, "replayed, new header");
    assert_eq!(send(Some(sign(&secret, now, &body)), now, "", body.clone()).await.unwrap().status(), 409, "replayed, no header");

    assert!(posts.iter().all(|p| replies(*p) == 1), "exactly one reply each");
    stop.cancel();
    task.await.unwrap().unwrap();
    sb.stop().await;
}

/// The poller keeps running beside the receiver: the same notifications come both ways and are handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_poll_on_the_same_notifications_hand_each_over_once() {
    let sb = sandbox(SandboxConfig { community: 4, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "both_ways").await;
    let bot = id_of(&sb, "both_ways");
    let s = Session::new(SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = register_webhook_secret(&s, dir.path()).await;
    let extra = format!("webhook:\n  listen: 127.0.0.1:0\n  secret_file: {}\nmetrics_addr: 127.0.0.1:0\n", secret.display());
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], &extra);
    let (stop, task) = start_on(&cfg, &imagine_agent::clock::Clock::default());
    let state = dir.path().join("state");
    let (port, mport) = (bound_port(&state, "webhook").await, bound_port(&state, "metrics").await);
    point_webhook(&s, port).await;
    assert!(eventually(Duration::from_secs(10), || served(&sb, "GET /api/notifications", 200) >= 1).await, "first poll");
    let posts = post_seqs(&burst(&sb, json!({"target": "both_ways", "mentions": 10})).await);
    let replies = |p: u64| sb.app.world().comments.values().filter(|c| c.agent == bot && c.post == p).count();
    assert!(eventually(Duration::from_secs(15), || posts.iter().all(|p| replies(*p) >= 1)).await, "answered");
    // Both ways delivered every one: all pushes accepted, and the poller has read them since.
    let accepted = || metric(mport, "imagine_agent_actions_total", &["action=\"webhook\"", "outcome=\"accepted\""]);
    assert!(eventually_async(Duration::from_secs(15), || async { accepted().await >= Some(10) }).await, "all ten pushed");
    polls_later(&sb, 3).await;
    let received = metric(mport, "imagine_agent_notifications_received_total", &[]).await;
    assert_eq!(received, Some(10), "each notification handed over once, whichever way came first");
    assert!(posts.iter().all(|p| replies(*p) == 1), "exactly one reply each");
    stop.cancel();
    task.await.unwrap();
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_serves_tls_itself_when_configured() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "tlsbot").await;
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("whsec"), "whsec_tls").unwrap();
    let extra = format!(
        "webhook:\n  listen: 127.0.0.1:0\n  secret_file: {d}/whsec\n  tls:\n    cert: {d}/cert.pem\n    key: {d}/key.pem\n",
        d = dir.path().display()
    );
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], &extra);
    let loaded = imagine_agent::setup::load(&cfg).unwrap();
    let stop = CancellationToken::new();
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(runtime::run(loaded, RunOptions::default(), stop.clone(), rx));
    let port = bound_port(&dir.path().join("state"), "webhook").await;

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let body =
        json!({"id": "evt_tls", "event": "notification", "data": {"id": "ntf_tls_1", "type": "FOLLOW", "actor": {"handle": "someone"}}})
            .to_string();
    let now = (imagine_agent::store::now_ms() / 1000) as u64;
    let deliver = || {
        trusting
            .post(format!("https://localhost:{port}/imagine-agent/webhook"))
            .header("x-imagineanything-signature", sign("whsec_tls", now, &body))
            .header("x-imagineanything-timestamp", now.to_string())
            .header("x-imagineanything-delivery", "d-tls")
            .body(body.clone())
            .send()
    };
    // Until the agent has signed in the receiver answers 503 (the platform retries), as before it listens.
    let mut status = None;
    for _ in 0..100 {
        status = deliver().await.ok().map(|r| r.status().as_u16());
        if status == Some(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, Some(200), "a signed delivery over TLS is accepted");
    let plain = reqwest::Client::new().post(format!("http://127.0.0.1:{port}/imagine-agent/webhook")).body(body.clone()).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP is not served on the TLS port");
    let untrusting = reqwest::Client::builder().resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap()).build().unwrap();
    assert!(
        untrusting.post(format!("https://localhost:{port}/imagine-agent/webhook")).send().await.is_err(),
        "the certificate is the one configured"
    );
    stop.cancel();
    task.await.unwrap().unwrap();
    let store = imagine_agent::store::Store::open(&dir.path().join("state/sled")).unwrap();
    assert!(store.agent("tlsbot").unwrap().seen("ntf_tls_1").unwrap(), "the delivery entered the pipeline");
    sb.stop().await;
}

/// A webhook secret from the platform, written to a file in `dir` (the URL set, for now, where
/// nothing listens: the receiver's port is known once the daemon has bound it).
async fn register_webhook_secret(s: &Session, dir: &std::path::Path) -> std::path::PathBuf {
    let nowhere = Some("http://127.0.0.1:9/imagine-agent/webhook".to_string());
    let secret =
        s.set_webhook(&WebhookUpdate { webhook_url: nowhere, regenerate_secret: true, test: false }).await.unwrap().secret.unwrap();
    let f = dir.join("whsec");
    std::fs::write(&f, secret).unwrap();
    f
}

/// Points the platform's webhook at the receiver bound on `port`, keeping the secret; the URL.
async fn point_webhook(s: &Session, port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/imagine-agent/webhook");
    s.set_webhook(&WebhookUpdate { webhook_url: Some(url.clone()), regenerate_secret: false, test: false }).await.unwrap();
    url
}
