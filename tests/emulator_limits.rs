//! The emulator against hostile input, over HTTP: every answer is in the
//! platform's error shape, memory stays bounded, nothing overflows.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::api::Budgets;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};
use serde_json::{json, Value};

async fn token_of(sb: &SandboxHandle, handle: &str) -> String {
    let (id, secret) = register(sb, handle).await;
    let v: Value = reqwest::Client::new()
        .post(format!("{}/api/auth/token", sb.base_url()))
        .json(&json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// (status, body) of a request; the body must be the platform's JSON error shape when it is an error.
async fn call(rb: reqwest::RequestBuilder) -> (u16, Value) {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {}", &text[..text.len().min(200)]));
    if status >= 400 {
        assert!(v["error"].is_string() && v["message"].is_string(), "{status}: not the error shape: {v}");
    }
    (status, v)
}

#[tokio::test]
async fn oversized_fields_bodies_and_counts_are_refused_in_the_platform_shape() {
    let sb = sandbox(SandboxConfig { community: 2, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let token = token_of(&sb, "target").await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", sb.base_url());
    let me = || http.patch(url("/api/agents/me")).bearer_auth(&token);

    // A 1.5 MB name: over the body limit.
    let (s, v) = call(me().json(&json!({"name": "n".repeat(1_500_000)}))).await;
    assert_eq!((s, v["error"].as_str()), (413, Some("payload_too_large")));
    // Within the body limit, over the field's.
    let (s, v) = call(me().json(&json!({"name": "n".repeat(101)}))).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_name")));
    let (s, _) = call(me().json(&json!({"websiteUrl": format!("https://x.example/{}", "a".repeat(3000))}))).await;
    assert_eq!(s, 400);
    let (s, v) = call(me().json(&json!({"bio": "b".repeat(20_000)}))).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("field_too_long")));
    // Unknown enum values name the allowed ones.
    let (s, v) = call(me().json(&json!({"agentType": "WIZARD"}))).await;
    assert_eq!(s, 400);
    assert!(v["message"].as_str().unwrap().contains("ASSISTANT"), "{v}");
    // A service updated past its limits.
    let (s, v) = call(
        http.post(url("/api/marketplace/services"))
            .bearer_auth(&token)
            .json(&json!({"title": "t", "description": "d", "price": 5, "category": "OTHER", "deliveryDays": 1})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let sid = v["service"]["id"].as_str().unwrap().to_string();
    let (s, _) = call(
        http.patch(url(&format!("/api/marketplace/services/{sid}"))).bearer_auth(&token).json(&json!({"description": "d".repeat(6000)})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) =
        call(http.post(url("/api/settings/services")).bearer_auth(&token).json(&json!({"provider": "OPENAI", "apiKey": "k".repeat(600)})))
            .await;
    assert_eq!(s, 400);
    // An auth body over 64 KB is a 413, not an empty body.
    let (s, v) =
        call(http.post(url("/api/auth/token")).json(&json!({"grant_type": "client_credentials", "client_id": "x".repeat(70_000)}))).await;
    assert_eq!((s, v["error"].as_str()), (413, Some("payload_too_large")));
    // A burst past the cap.
    let (s, _) = call(http.post(url("/sandbox/community/burst")).json(&json!({"target": "target", "mentions": 400_000}))).await;
    assert_eq!(s, 400);
    // Cursors: huge ones saturate (an empty page), malformed ones are refused.
    let (s, v) = call(http.get(url("/api/marketplace/services?cursor=s_18446744073709551615"))).await;
    assert_eq!((s, v["services"].as_array().map(Vec::len)), (200, Some(0)));
    let (s, v) = call(http.get(url("/api/notifications?cursor=garbage")).bearer_auth(&token)).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_cursor")));
    sb.stop().await;
}

#[tokio::test]
async fn uploads_take_what_the_reference_allows_and_no_more() {
    let sb = sandbox(quiet_config()).await;
    let token = token_of(&sb, "uploader").await;
    let http = reqwest::Client::new();
    let upload = |path: &str, bytes: usize, ct: &str| {
        let part = reqwest::multipart::Part::bytes(vec![0u8; bytes]).file_name("f").mime_str(ct).unwrap();
        http.post(format!("{}{path}", sb.base_url())).bearer_auth(&token).multipart(reqwest::multipart::Form::new().part("file", part))
    };
    let mb = 1024 * 1024;
    assert_eq!(call(upload("/api/agents/me/avatar", 4 * mb, "image/png")).await.0, 200, "a 4 MB avatar");
    assert_eq!(call(upload("/api/upload", 9 * mb, "image/png")).await.0, 201, "a 9 MB image");
    assert_eq!(call(upload("/api/upload/video", 20 * mb, "video/mp4")).await.0, 201, "a 20 MB video");
    let (s, v) = call(upload("/api/upload", 11 * mb, "image/png")).await;
    assert_eq!((s, v["error"].as_str()), (413, Some("payload_too_large")), "an 11 MB image");
    let (s, _) = call(upload("/api/agents/me/avatar", 6 * mb, "image/png")).await;
    assert_eq!(s, 413, "a 6 MB avatar");
    sb.stop().await;
}

#[tokio::test]
async fn rate_limit_state_is_bounded_and_no_body_field_opens_a_budget() {
    let sb = sandbox(SandboxConfig { rate_limits: Some(Budgets::default()), ..quiet_config() }).await;
    let http = reqwest::Client::new();
    // 300 token requests, each naming a different 9 KB client id: one address, one budget.
    let mut limited = 0;
    for i in 0..300 {
        let id = format!("{i}-{}", "x".repeat(9_000));
        let (s, _) = call(
            http.post(format!("{}/api/auth/token", sb.base_url()))
                .json(&json!({"grant_type": "client_credentials", "client_id": id, "client_secret": "s"})),
        )
        .await;
        assert!(s == 401 || s == 429, "{s}");
        limited += usize::from(s == 429);
    }
    assert!(limited >= 280, "unknown client ids share the address's auth budget: {limited} limited");
    assert!(sb.app.rate_windows() <= 2, "one window per address and class: {}", sb.app.rate_windows());
    // A client_id in a registration does not open a budget of its own either.
    let mut refused = 0;
    for i in 0..20 {
        let (s, _) = call(
            http.post(format!("{}/api/auth/register", sb.base_url()))
                .json(&json!({"handle": format!("reg_{i}"), "name": "R", "client_id": format!("c{i}")})),
        )
        .await;
        refused += usize::from(s == 429);
    }
    assert!(refused >= 1, "registrations are limited per address whatever the body says");
    sb.stop().await;
}

#[tokio::test]
async fn webhooks_to_local_addresses_are_refused_unless_allowed() {
    let sb = sandbox(SandboxConfig { allow_private_webhooks: false, ..quiet_config() }).await;
    let token = token_of(&sb, "hooker").await;
    let http = reqwest::Client::new();
    for u in [
        "http://127.0.0.1:7878/sandbox/revoke-tokens",
        "http://localhost/x",
        "http://10.0.0.1/x",
        "http://[::1]/x",
        "http://169.254.169.254/x",
    ] {
        let (s, v) =
            call(http.patch(format!("{}/api/agents/me/webhook", sb.base_url())).bearer_auth(&token).json(&json!({"webhookUrl": u}))).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_url")), "{u}");
    }
    sb.stop().await;
}

/// A `limit` outside the reference's range is refused (400 naming the range) under the
/// strict reading and brought into it under `--clamp-out-of-range`; the client asks only
/// within the ranges, so it works under both; a 429 carries the rate headers of any answer.
#[tokio::test]
async fn out_of_range_limits_are_refused_or_clamped_as_the_reading_says() {
    use imagine_agent::sandbox::readings::Readings;
    for clamp in [false, true] {
        let readings = Readings { clamp_out_of_range: clamp, ..Readings::strict() };
        let sb = sandbox(SandboxConfig { readings, ..quiet_config() }).await;
        let me = session_for(&sb, "ranged").await;
        for n in 0..3 {
            me.create_post(&imagine_agent::wire::types::NewPost::text(format!("post {n}"))).await.unwrap();
        }
        let http = reqwest::Client::new();
        let base = sb.base_url();
        for (path, range) in [
            ("/api/posts?limit=101", "between 1 and 100"),
            ("/api/posts?limit=0", "between 1 and 100"),
            ("/api/agents/ranged/similar?limit=50", "between 1 and 20"),
            ("/api/agents?limit=-3", "between 1 and 100"),
        ] {
            let (status, v) = call(http.get(format!("{base}{path}"))).await;
            if clamp {
                assert_eq!(status, 200, "{path} clamped: {v}");
            } else {
                assert_eq!((status, v["error"].as_str()), (400, Some("invalid_limit")), "{path}: {v}");
                assert!(v["message"].as_str().unwrap().contains(range), "{path}: {v}");
            }
        }
        let (status, _) = call(http.get(format!("{base}/api/posts?limit=100"))).await;
        assert_eq!(status, 200, "the range's edge is in it");
        // The client brings what it is asked into the range.
        assert!(me.similar_agents("ranged").limit(50).page().await.is_ok(), "clamp={clamp}");
        assert!(me.timeline().limit(500).page().await.is_ok(), "clamp={clamp}");
        sb.stop().await;
    }

    // An injected 429 carries the same headers as any other answer.
    let sb = sandbox(SandboxConfig { rate_limits: Some(Budgets::default()), ..quiet_config() }).await;
    *imagine_agent::sandbox::lock(&sb.app.faults) = imagine_agent::sandbox::Faults { rate429: 1.0, ..Default::default() };
    let r = reqwest::get(format!("{}/api/posts", sb.base_url())).await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let h = |k: &str| r.headers().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(h("x-ratelimit-limit").as_deref(), Some("100"), "the read budget");
    assert_eq!(h("x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(h("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()).is_some());
    sb.stop().await;
}

/// The reference: "Set an HTTPS webhook URL". A plain `http://` URL to a public
/// host is refused in the platform's shape, whatever the private-address switch.
#[tokio::test]
async fn webhook_urls_must_be_https() {
    for allow_private_webhooks in [false, true] {
        let sb = sandbox(SandboxConfig { allow_private_webhooks, ..quiet_config() }).await;
        let token = token_of(&sb, "secure").await;
        let http = reqwest::Client::new();
        let set =
            |u: &str| http.patch(format!("{}/api/agents/me/webhook", sb.base_url())).bearer_auth(&token).json(&json!({ "webhookUrl": u }));
        let (s, v) = call(set("http://hooks.example.com/in")).await;
        assert_eq!((s, v["error"].as_str()), (400, Some("invalid_url")), "{v}");
        assert!(v["message"].as_str().unwrap().contains("HTTPS"), "{v}");
        let (s, v) = call(set("https://hooks.example.com/in")).await;
        assert_eq!((s, v["webhookUrl"].as_str()), (200, Some("https://hooks.example.com/in")), "{v}");
        let (s, _) = call(set("http://127.0.0.1:9/in")).await;
        assert_eq!(s, if allow_private_webhooks { 200 } else { 400 }, "plain http only to this machine, and only when allowed");
        sb.stop().await;
    }
}
