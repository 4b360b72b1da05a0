//! The typed client against the emulator, over HTTP on loopback.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use futures::TryStreamExt;
use imagine_agent::api::{ApiError, Budgets, ReadTarget, Session, SessionConfig, Upload};
use imagine_agent::sandbox::{self, Faults, SandboxConfig};
use imagine_agent::wire::types::*;
use secrecy::SecretString;

#[tokio::test]
async fn social_endpoints_notifications_and_counters() {
    let sb = sandbox(quiet_config()).await;
    let alice = session_for(&sb, "alice").await;
    let bob = session_for(&sb, "bob").await;

    let post = alice.create_post(&NewPost::text("Hello @bob, welcome to #rust and #agents")).await.unwrap();
    assert_eq!(post.hashtags, vec!["rust", "agents"]);
    assert_eq!(post.mentions, vec!["bob"]);
    bob.like(&post.id).await.unwrap();
    let c = bob.comment(&post.id, &NewComment { content: "nice".into(), parent_id: None }).await.unwrap();
    alice.comment(&post.id, &NewComment { content: "thanks".into(), parent_id: Some(c.id.clone()) }).await.unwrap();
    // The repost comes back as a post with `repostOf`, as the official SDK reads it.
    let r = bob.repost(&post.id).await.unwrap().expect("the created repost");
    assert_eq!(r.repost_of.as_ref().map(|p| p.id.as_str()), Some(post.id.as_str()));
    let q = bob.quote(&post.id, "quoting this").await.unwrap();
    assert!(q.is_quote);
    assert_eq!(q.repost_of.as_ref().map(|p| p.id.as_str()), Some(post.id.as_str()));
    bob.follow("alice").await.unwrap();
    assert!(bob.is_following("alice").await.unwrap());
    bob.amplify(&post.id).await.unwrap();
    bob.view(&post.id).await.unwrap();

    let p = alice.post(&post.id).await.unwrap();
    assert_eq!((p.like_count, p.comment_count, p.repost_count, p.amplify_count, p.view_count), (1, 2, 2, 1, 1));
    let likes = alice.likes(&post.id).page().await.unwrap();
    assert_eq!(likes.items[0].agent.as_ref().unwrap().handle, "bob");
    let comments: Vec<Comment> = alice.comments(&post.id).stream().try_collect().await.unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(alice.reposts(&post.id).page().await.unwrap().items.len(), 2);

    let kinds = |s: &Session| {
        let s = s.clone();
        async move {
            s.notifications().limit(100).stream().map_ok(|n| n.notification_type.clone().unwrap()).try_collect::<Vec<_>>().await.unwrap()
        }
    };
    all_listed(&sb).await; // a notification may be listed late
    let a = kinds(&alice).await;
    for k in
        [NotificationType::Like, NotificationType::Comment, NotificationType::Repost, NotificationType::Quote, NotificationType::Follow]
    {
        assert!(a.contains(&k), "alice lacks {k}: {a:?}");
    }
    let b = kinds(&bob).await;
    assert!(b.contains(&NotificationType::Mention) && b.contains(&NotificationType::Reply), "{b:?}");
    let n = bob.notifications().page().await.unwrap();
    let reply = n.items.iter().find(|n| n.notification_type == Some(NotificationType::Reply)).unwrap();
    assert_eq!(reply.actor.as_ref().unwrap().handle, "alice");
    assert_eq!(reply.post_id.as_deref(), Some(post.id.as_str()));
    assert_eq!(reply.parent_comment_id.as_deref(), Some(c.id.as_str()));
    let all = n.items.len() as u64;
    assert!(all >= 2);
    assert_eq!(bob.notification_count().await.unwrap(), all);
    // One marked read by id (with one that is not bob's, ignored): the count and the unread page leave it out.
    let alices = alice.notifications().page().await.unwrap().items[0].id.clone();
    let alice_unread = alice.notification_count().await.unwrap();
    bob.mark_notifications_read(&ReadTarget::Ids(vec![reply.id.clone(), alices.clone()])).await.unwrap();
    assert_eq!(bob.notification_count().await.unwrap(), all - 1);
    let unread: Vec<String> =
        bob.notifications().param("unread", "true").page().await.unwrap().items.iter().map(|n| n.id.clone()).collect();
    let want: Vec<String> = n.items.iter().map(|n| n.id.clone()).filter(|id| *id != reply.id).collect();
    assert_eq!(unread, want);
    assert_eq!(alice.notification_count().await.unwrap(), alice_unread, "alice's own stays unread: {alices}");
    bob.mark_notifications_read(&ReadTarget::All).await.unwrap();
    assert_eq!(bob.notification_count().await.unwrap(), 0);
    assert!(bob.notifications().param("unread", "true").page().await.unwrap().items.is_empty());
    assert_eq!(bob.notifications().page().await.unwrap().items.len() as u64, all, "read ones are still listed");

    // Ownership, not-found, and the SDK's @handle path form.
    let e = bob.delete_post(&post.id).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(403), Some("forbidden")));
    assert!(bob.post("post_999999").await.unwrap_err().is_not_found());
    alice.raw("POST", "/api/agents/@bob/follow", None, true).await.unwrap();
    assert!(alice.is_following("bob").await.unwrap());
    assert_eq!(alice.followers("alice").page().await.unwrap().items.len(), 1);
    assert_eq!(alice.following("alice").page().await.unwrap().items[0].handle, "bob");
    assert_eq!(bob.liked_posts("bob").page().await.unwrap().items.len(), 1);
    assert!(alice.feed().page().await.unwrap().items.iter().any(|p| p.agent.as_ref().unwrap().handle == "bob"));

    // Comment deletion takes replies along.
    alice.unlike(&post.id).await.ok();
    bob.delete_comment(&post.id, &c.id).await.unwrap();
    assert_eq!(alice.post(&post.id).await.unwrap().comment_count, 0);
    bob.unrepost(&post.id).await.unwrap();
    bob.unamplify(&post.id).await.unwrap();
    bob.unfollow("alice").await.unwrap();
    assert!(!bob.is_following("alice").await.unwrap());
    alice.delete_post(&post.id).await.unwrap();
    assert!(alice.post(&post.id).await.unwrap_err().is_not_found());
    sb.stop().await;
}

#[tokio::test]
async fn pagination_streams_every_item_once() {
    let sb = sandbox(quiet_config()).await;
    let a = session_for(&sb, "pager").await;
    for i in 0..45 {
        a.create_post(&NewPost::text(format!("post {i} #paging"))).await.unwrap();
    }
    let first = a.timeline().limit(10).page().await.unwrap();
    assert!(first.has_more && first.next_cursor.is_some());
    let all: Vec<Post> = a.timeline().limit(10).stream().try_collect().await.unwrap();
    let mut ids: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 45);
    let tagged: Vec<Post> = a.hashtag_posts("paging").limit(20).stream().try_collect().await.unwrap();
    assert_eq!(tagged.len(), 45);
    let found = a.search("post 4", "posts", Some(5), None).await.unwrap();
    assert!(!found.posts.is_empty() && found.posts.len() <= 5);
    let agents = a.search("pag", "agents", None, None).await.unwrap();
    assert_eq!(agents.agents[0].handle, "pager");
    let explore = a.explore("all", 5).await.unwrap();
    assert_eq!(explore.trending_posts.len(), 5);
    assert_eq!(a.trending_hashtags(5).await.unwrap()[0].tag, "paging");
    assert_eq!(a.agents().param("search", "pager").page().await.unwrap().items.len(), 1);
    let xp = a.xp("pager").await.unwrap();
    assert!(xp.axp.total >= 450, "{xp:?}");
    let overview = a.analytics_overview("7d").await.unwrap();
    assert_eq!(overview.current["posts"], 45);
    assert_eq!(a.post_performance("engagement", 3).await.unwrap().len(), 3);
    sb.stop().await;
}

#[tokio::test]
async fn messages_profile_media_bytes_reports() {
    let sb = sandbox(quiet_config()).await;
    let a = session_for(&sb, "mia").await;
    let b = session_for(&sb, "noah").await;

    let conv = a.start_conversation("noah", "hi noah").await.unwrap();
    let m = b.send_message(&conv.id, "hi mia").await.unwrap();
    assert_eq!(a.unread_message_count().await.unwrap(), 1);
    a.mark_conversation_read(&conv.id).await.unwrap();
    assert_eq!(a.unread_message_count().await.unwrap(), 0);
    assert_eq!(a.messages(&conv.id).page().await.unwrap().items.len(), 2);
    assert_eq!(a.message(&m.id).await.unwrap().content, "hi mia");
    assert_eq!(a.delete_message(&m.id).await.unwrap_err().status(), Some(403));
    b.delete_message(&m.id).await.unwrap();
    assert_eq!(b.conversations().page().await.unwrap().items[0].participant.as_ref().unwrap().handle, "mia");
    b.delete_conversation(&conv.id).await.unwrap();

    let me = a
        .update_me(&ProfileUpdate { bio: Some("new bio".into()), agent_type: Some(AgentType::Creative), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(me.bio.as_deref(), Some("new bio"));
    assert_eq!(a.agent("mia").await.unwrap().agent_type, Some(AgentType::Creative));
    let caps = a
        .update_capabilities(&Capabilities { skills: vec!["art".into()], languages: vec!["en".into()], ..Default::default() })
        .await
        .unwrap();
    assert_eq!(caps.skills, vec!["art"]);
    assert_eq!(a.capabilities().await.unwrap().languages, vec!["en"]);
    a.clear_capabilities().await.unwrap();
    let png = Upload { bytes: vec![0x89, b'P', b'N', b'G'], filename: "a.png".into(), content_type: "image/png".into() };
    a.upload_avatar(png.clone()).await.unwrap();
    assert!(a.me().await.unwrap().avatar_url.is_some());
    a.remove_avatar().await.unwrap();
    let img = a.upload_image(png.clone(), "post").await.unwrap();
    let with_media = a
        .create_post(&NewPost { content: "pic".into(), media_type: None, media_ids: vec![img.id.clone()], media_urls: vec![] })
        .await
        .unwrap();
    assert_eq!(with_media.media_type, Some(MediaType::Image));
    // An image on the web (the SDK's `mediaUrls`, beside `mediaIds`): taken, at most 4 in all, HTTPS only.
    let web = |urls: &[&str]| NewPost {
        content: "from the web".into(),
        media_type: None,
        media_ids: vec![],
        media_urls: urls.iter().map(|u| u.to_string()).collect(),
    };
    let p = a.create_post(&web(&["https://example.org/cat.png"])).await.unwrap();
    assert_eq!((p.media_type.clone(), p.media_urls.clone()), (Some(MediaType::Image), vec!["https://example.org/cat.png".to_string()]));
    assert!(
        matches!(a.create_post(&web(&["http://example.org/cat.png"])).await, Err(ApiError::Invalid(_))),
        "the client refuses plain http"
    );
    let five: Vec<&str> = vec!["https://example.org/1.png"; 5];
    assert!(matches!(a.create_post(&web(&five)).await, Err(ApiError::Invalid(_))), "the client refuses a fifth image");
    let raw = serde_json::json!({"content": "x", "mediaUrls": ["http://example.org/a.png"]});
    assert_eq!(
        a.raw("POST", "/api/posts", Some(raw), true).await.unwrap_err().code(),
        Some("too_many_media"),
        "the emulator refuses plain http too"
    );
    assert_eq!(a.media().param("type", "IMAGE").page().await.unwrap().items.len(), 2);
    a.delete_media(&imagine_agent::api::MediaRef::Id(img.id)).await.unwrap();
    let bad = Upload { bytes: vec![1], filename: "a.txt".into(), content_type: "text/plain".into() };
    assert!(matches!(a.upload_image(bad, "post").await, Err(ApiError::Invalid(_))));

    let vid =
        a.upload_video(Upload { bytes: vec![0; 16], filename: "v.mp4".into(), content_type: "video/mp4".into() }, "byte").await.unwrap();
    // "Use the returned media ID ... after processing completes": refused until then, in a post as in a byte.
    let new_byte = NewByte { caption: "my byte".into(), media_id: vid.id.clone() };
    assert_eq!(a.create_byte(&new_byte).await.unwrap_err().code(), Some("media_processing"));
    let in_post = NewPost { content: "a video".into(), media_type: None, media_ids: vec![vid.id.clone()], media_urls: vec![] };
    assert_eq!(a.create_post(&in_post).await.unwrap_err().code(), Some("media_processing"));
    let t = std::time::Instant::now();
    let byte = loop {
        match a.create_byte(&new_byte).await {
            Ok(b) => break b,
            Err(e) if e.code() == Some("media_processing") && t.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("the processed video: {e}"),
        }
    };
    b.like_byte(&byte.id).await.unwrap();
    b.comment_byte(&byte.id, &NewComment { content: "cool".into(), parent_id: None }).await.unwrap();
    let got = a.byte(&byte.id).await.unwrap();
    assert_eq!((got.like_count, got.comment_count), (1, 1));
    assert_eq!(a.byte_comments(&byte.id).page().await.unwrap().items.len(), 1);
    assert_eq!(a.bytes().page().await.unwrap().items.len(), 1);
    b.unlike_byte(&byte.id).await.unwrap();
    a.delete_byte(&byte.id).await.unwrap();

    let no_target = NewReport {
        reason: ReportReason::Spam,
        description: None,
        reported_agent_id: None,
        reported_post_id: None,
        reported_comment_id: None,
    };
    assert!(matches!(b.report(&no_target).await, Err(ApiError::Invalid(_))));
    let r = b.report(&NewReport { reported_post_id: Some(with_media.id), ..no_target }).await.unwrap();
    assert_eq!(r.reason, Some(ReportReason::Spam));
    // noah has no agent type, skills or followers in common with mia: not similar; but recommended, as mia does not follow him.
    assert!(a.similar_agents("mia").page().await.unwrap().items.is_empty());
    let rec: Vec<String> = a.recommended_agents().page().await.unwrap().items.into_iter().map(|x| x.handle).collect();
    assert_eq!(rec, vec!["noah".to_string()]);
    sb.stop().await;
}

/// Services sorted by price, order count or age, either way, walked page by
/// page: every service once, in the order a full sort of what was created
/// says (ties by age), whatever the page size.
#[tokio::test]
async fn services_sorted_and_paged_as_a_full_sort_says() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let sb = sandbox(quiet_config()).await;
    let seller = session_for(&sb, "seller").await;
    let buyer = session_for(&sb, "buyer").await;
    // (id, price, orders), in creation order.
    let mut made: Vec<(String, u64, u64)> = vec![];
    for i in 0..37 {
        let price = [100, 250, 900][rng.random_range(0..3)];
        let s = NewService { title: format!("Service {i}"), description: "work".into(), price, delivery_days: 1, ..Default::default() };
        let svc = seller.create_service(&s).await.unwrap();
        let orders = rng.random_range(0..3);
        for _ in 0..orders {
            buyer.place_order(&NewOrder { service_id: svc.id.clone(), ..Default::default() }).await.unwrap();
        }
        made.push((svc.id, price, orders));
    }
    for by in ["", "price", "orderCount"] {
        for order in ["asc", "desc"] {
            for size in [5, 20, 100] {
                let mut want: Vec<&(String, u64, u64)> = made.iter().collect();
                // Stable: equal keys stay in creation order.
                want.sort_by_key(|m| match by {
                    "price" => m.1,
                    "orderCount" => m.2,
                    _ => 0,
                });
                if order == "desc" {
                    want.reverse();
                }
                let want: Vec<&str> = want.iter().map(|m| m.0.as_str()).collect();
                let mut got: Vec<String> = vec![];
                let mut list = buyer.services().limit(size).param("sortOrder", order);
                if !by.is_empty() {
                    list = list.param("sortBy", by);
                }
                loop {
                    let page = list.page().await.unwrap();
                    assert!(page.items.len() <= size as usize);
                    got.extend(page.items.into_iter().map(|s| s.id));
                    match page.next_cursor {
                        Some(c) => list = list.cursor(c),
                        None => break,
                    }
                }
                assert_eq!(got, want, "sortBy={by:?} sortOrder={order} limit={size}");
            }
        }
    }
    sb.stop().await;
}

#[tokio::test]
async fn marketplace_order_state_machine() {
    let sb = sandbox(quiet_config()).await;
    let seller = session_for(&sb, "seller").await;
    let buyer = session_for(&sb, "buyer").await;
    let svc = seller
        .create_service(&NewService {
            title: "Art".into(),
            description: "I draw".into(),
            price: 500,
            delivery_days: 1,
            revisions: 1,
            category: Some("CREATIVE".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(buyer.services().page().await.unwrap().items.len(), 1);
    assert_eq!(buyer.service(&svc.id).await.unwrap().title, "Art");
    assert_eq!(
        seller.place_order(&NewOrder { service_id: svc.id.clone(), ..Default::default() }).await.unwrap_err().code(),
        Some("own_service")
    );
    let order = buyer
        .place_order(&NewOrder { service_id: svc.id.clone(), requirements: Some("mountains".into()), ..Default::default() })
        .await
        .unwrap();
    // The reference's states begin at PENDING_PAYMENT: nothing starts before the checkout.
    assert_eq!(order.status, Some(OrderStatus::PendingPayment));
    assert!(order.client_secret.unwrap().contains("FAKE"));
    let act = |a: OrderAction, d: Option<&str>| OrderUpdate { action: a, deliverables: d.map(str::to_string), message: None };
    assert_eq!(seller.update_order(&order.id, &act(OrderAction::Start, None)).await.unwrap_err().code(), Some("invalid_transition"));
    let pay = format!("{}/sandbox/orders/{}/pay", sb.base_url(), order.id);
    assert_eq!(reqwest::Client::new().post(&pay).send().await.unwrap().status().as_u16(), 200, "the checkout completed");
    assert_eq!(reqwest::Client::new().post(&pay).send().await.unwrap().status().as_u16(), 400, "paid once");
    assert_eq!(buyer.order(&order.id).await.unwrap().status, Some(OrderStatus::Paid));
    assert_eq!(buyer.update_order(&order.id, &act(OrderAction::Start, None)).await.unwrap_err().status(), Some(403));
    assert_eq!(seller.update_order(&order.id, &act(OrderAction::Deliver, Some("x"))).await.unwrap_err().code(), Some("invalid_transition"));
    seller.update_order(&order.id, &act(OrderAction::Start, None)).await.unwrap();
    seller.update_order(&order.id, &act(OrderAction::Deliver, Some("https://example.invalid/art.png"))).await.unwrap();
    buyer.update_order(&order.id, &act(OrderAction::RequestRevision, None)).await.unwrap();
    seller.update_order(&order.id, &act(OrderAction::Start, None)).await.unwrap();
    seller.update_order(&order.id, &act(OrderAction::Deliver, Some("v2"))).await.unwrap();
    assert_eq!(
        buyer.update_order(&order.id, &act(OrderAction::RequestRevision, None)).await.unwrap_err().code(),
        Some("no_revisions_left")
    );
    let done = buyer.update_order(&order.id, &act(OrderAction::Accept, None)).await.unwrap();
    assert_eq!(done.status, Some(OrderStatus::Completed));
    buyer.send_order_message(&order.id, &NewOrderMessage { content: "thanks".into(), attachments: vec![] }).await.unwrap();
    assert_eq!(seller.order_messages(&order.id).page().await.unwrap().items.len(), 1);
    assert!(matches!(
        buyer.review(&NewReview { order_id: order.id.clone(), rating: 6, ..Default::default() }).await,
        Err(ApiError::Invalid(_))
    ));
    buyer.review(&NewReview { order_id: order.id.clone(), rating: 5, content: Some("great".into()), ..Default::default() }).await.unwrap();
    assert_eq!(
        buyer.review(&NewReview { order_id: order.id.clone(), rating: 4, ..Default::default() }).await.unwrap_err().status(),
        Some(409)
    );
    assert_eq!(seller.reviews(&svc.id).page().await.unwrap().items[0].rating, 5);
    assert_eq!(seller.orders().param("role", "seller").page().await.unwrap().items.len(), 1);
    assert_eq!(seller.order(&order.id).await.unwrap().status, Some(OrderStatus::Completed));
    let payouts = seller.payouts().page().await.unwrap();
    assert_eq!(payouts.items.len(), 1);
    assert_eq!(seller.request_payout(&payouts.items[0].id).await.unwrap_err().code(), Some("onboarding_incomplete"));
    assert!(!seller.payment_account().await.unwrap().payouts_enabled);
    // `connect` gives the onboarding link; payouts wait until the onboarding is complete.
    let account = seller.setup_payment_account(None).await.unwrap();
    assert!(account.onboarding_url.is_some() && !account.payouts_enabled, "{account:?}");
    assert_eq!(seller.request_payout(&payouts.items[0].id).await.unwrap_err().code(), Some("onboarding_incomplete"));
    let onboard = format!("{}/sandbox/onboarding/seller", sb.base_url());
    assert_eq!(reqwest::Client::new().post(&onboard).send().await.unwrap().status().as_u16(), 200);
    assert!(seller.payment_account().await.unwrap().payouts_enabled);
    assert_eq!(seller.request_payout(&payouts.items[0].id).await.unwrap().status, Some(PayoutStatus::Processing));
    seller.update_service(&svc.id, &ServiceUpdate { price: Some(900), ..Default::default() }).await.unwrap();
    assert_eq!(buyer.delete_service(&svc.id).await.unwrap_err().status(), Some(403));
    // A service with an order still open is deactivated, not deleted; one whose orders are done is deleted.
    let busy = NewService { title: "Busy".into(), description: "d".into(), price: 100, delivery_days: 1, ..Default::default() };
    let busy = seller.create_service(&busy).await.unwrap();
    buyer.place_order(&NewOrder { service_id: busy.id.clone(), ..Default::default() }).await.unwrap();
    seller.delete_service(&busy.id).await.unwrap();
    assert_eq!(seller.service(&busy.id).await.unwrap().title, "Busy", "kept: an order is open");
    assert!(buyer.services().page().await.unwrap().items.iter().all(|s| s.id != busy.id), "and no longer listed");
    seller.delete_service(&svc.id).await.unwrap();
    assert!(seller.service(&svc.id).await.unwrap_err().is_not_found(), "its one order is done: deleted");
    sb.stop().await;
}

#[tokio::test]
async fn generation_lifecycle_connected_services_and_limits() {
    let sb = sandbox(SandboxConfig { generation_duration: Duration::from_millis(400), ..quiet_config() }).await;
    let a = session_for(&sb, "artist").await;
    let req = GenerateRequest {
        provider: Provider::OpenAi,
        prompt: "a cat".into(),
        generation_type: GenerationType::Image,
        content: Some("cat!".into()),
        model: None,
        params: None,
    };
    assert_eq!(a.generate(&req).await.unwrap_err().code(), Some("service_not_connected"));
    let key = SecretString::from("sk-test-1234567890".to_string());
    let svc = a.connect_service(&Provider::OpenAi, &key).await.unwrap();
    assert_eq!(svc.api_key, "sk-t**********7890");
    assert!(a.test_service(&Provider::OpenAi).await.unwrap().success);
    assert_eq!(a.connected_services().await.unwrap().len(), 1);
    let started = a.generate(&req).await.unwrap();
    assert_eq!(a.pending_jobs().await.unwrap()[0].id, started.job_id);
    a.generate(&req).await.unwrap();
    a.generate(&req).await.unwrap();
    assert_eq!(a.generate(&req).await.unwrap_err().status(), Some(409), "4th concurrent job refused");
    assert!(
        eventually(Duration::from_secs(5), || sb.app.world().jobs.values().all(|j| j.status == Some(GenerationStatus::Completed))).await
    );
    let hist = a.generation_history().page().await.unwrap();
    let job = hist.items.iter().find(|j| j.id == started.job_id).unwrap();
    let post = a.post(job.post_id.as_ref().unwrap()).await.unwrap();
    assert_eq!((post.content.as_str(), post.media_type.clone()), ("cat!", Some(MediaType::Image)));
    assert!(a.models(&Provider::OpenAi, &GenerationType::Image).await.unwrap().iter().any(|m| m.is_default));
    assert!(!a.voices(&Provider::ElevenLabs).await.unwrap().is_empty());
    let bad = GenerateRequest { prompt: "x".repeat(1001), ..req.clone() };
    assert!(matches!(a.generate(&bad).await, Err(ApiError::Invalid(_))));
    let wrong = GenerateRequest { generation_type: GenerationType::Music, ..req.clone() };
    assert!(matches!(a.generate(&wrong).await, Err(ApiError::Invalid(_))));
    a.toggle_service(&Provider::OpenAi, false).await.unwrap();
    assert_eq!(a.generate(&req).await.unwrap_err().code(), Some("service_not_connected"));
    a.disconnect_service(&Provider::OpenAi).await.unwrap();
    sb.stop().await;

    // Failed jobs: retry at most 3 times.
    let sb = sandbox(SandboxConfig { generation_duration: Duration::from_millis(100), generation_fail_rate: 1.0, ..quiet_config() }).await;
    let a = session_for(&sb, "unlucky").await;
    a.connect_service(&Provider::OpenAi, &key).await.unwrap();
    let j = a.generate(&req).await.unwrap();
    for n in 1..=3 {
        assert!(
            eventually(Duration::from_secs(3), || sb.app.world().jobs.values().all(|j| j.status == Some(GenerationStatus::Failed))).await
        );
        assert_eq!(a.retry_generation(&j.job_id).await.unwrap().retry_count, Some(n), "the retry's answer counts it, as the SDK reads");
    }
    assert!(eventually(Duration::from_secs(3), || sb.app.world().jobs.values().all(|j| j.status == Some(GenerationStatus::Failed))).await);
    assert_eq!(a.retry_generation(&j.job_id).await.unwrap_err().code(), Some("retry_limit"));
    sb.stop().await;
}

#[tokio::test]
async fn token_expiry_refresh_and_single_flight() {
    let sb = sandbox(SandboxConfig { token_ttl: Duration::from_secs(2), ..quiet_config() }).await;
    let (id, secret) = register(&sb, "tok").await;
    let s = Session::new(SessionConfig::new(sb.base_url()).credentials(id, secret).budgets(Budgets::unlimited())).unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.me().await.map(|m| m.handle) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "tok");
    }
    assert_eq!(s.stats().token_requests.load(Ordering::Relaxed), 1, "fifty tasks, one token request");
    assert_eq!(stats(&sb).token_grants, 1);
    // Busy across the expiry: a request every 50 ms for 3 s (the token lives 2 s).
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        s.me().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = stats(&sb);
    assert_eq!(st.expired_token_uses, 0, "no request carried an expired token");
    assert_eq!(served(&sb, "GET /api/agents/me", 401), 0);
    assert!(st.token_grants >= 2, "refreshed");
    let (first, second) = (st.token_granted_ms[0], st.token_granted_ms[1]);
    assert!(second < first + 2000, "the refresh came before the first token expired ({} ms after its grant)", second - first);

    // Revoked tokens: one 401, one re-authentication (refresh fails, a fresh grant works), success.
    sandbox::lock(&sb.app.world).tokens.clear();
    sandbox::lock(&sb.app.world).refresh_tokens.clear();
    s.me().await.unwrap();
    assert_eq!(s.stats().reauths.load(Ordering::Relaxed), 1);
    assert_eq!(served(&sb, "GET /api/agents/me", 401), 1);

    let wrong = Session::new(SessionConfig::new(sb.base_url()).credentials("ia_client_nope", "bad")).unwrap();
    let e = wrong.me().await.unwrap_err();
    assert!(matches!(e, ApiError::Auth(_)), "{e}");
    assert!(!e.to_string().contains("bad\""), "the secret is not echoed: {e}");
    sb.stop().await;
}

#[tokio::test]
async fn budgets_follow_the_server_window_and_429s_are_waited_out() {
    let cfg = SandboxConfig {
        rate_limits: Some(Budgets { reads_per_minute: 100, writes_per_minute: 5, auth_per_minute: 10 }),
        rate_window: Duration::from_secs(1),
        ..quiet_config()
    };
    let sb = sandbox(cfg).await;
    let a = session_for(&sb, "polite").await;
    for i in 0..12 {
        a.create_post(&NewPost::text(format!("n{i}"))).await.unwrap();
    }
    assert_eq!(stats(&sb).rate_limited, 0, "the client waited for the window instead of collecting 429s");
    assert!(a.rate_limits().stats.window_waits.load(Ordering::Relaxed) >= 2);
    assert_eq!(served(&sb, "POST /api/posts", 201), 12);

    // Injected 429s: the client waits for retry_after and succeeds once they stop.
    *sandbox::lock(&sb.app.faults) = Faults { rate429: 1.0, ..Faults::default() };
    let a2 = a.clone();
    let t = tokio::spawn(async move { a2.post("post_1").await });
    tokio::time::sleep(Duration::from_millis(600)).await;
    *sandbox::lock(&sb.app.faults) = Faults::default();
    t.await.unwrap().unwrap_err().is_not_found().then_some(()).expect("reached the server after the 429s");
    assert!(a.rate_limits().stats.http_429.load(Ordering::Relaxed) >= 1);
    sb.stop().await;
}

#[tokio::test]
async fn server_errors_retry_gets_but_never_posts() {
    let sb = sandbox(quiet_config()).await;
    let (id, secret) = register(&sb, "retry").await;
    let mut cfg = SessionConfig::new(sb.base_url()).credentials(id, secret).budgets(Budgets::unlimited());
    cfg.max_retries = 2;
    let s = Session::new(cfg).unwrap();
    s.authenticate().await.unwrap();
    *sandbox::lock(&sb.app.faults) = Faults { error_rate: 1.0, ..Faults::default() };
    let e = s.timeline().page().await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(served(&sb, "GET /api/posts", 503), 3, "one try and two retries");
    let e = s.create_post(&NewPost::text("once")).await.unwrap_err();
    assert!(e.to_string().contains("HTTP 503"), "{e}");
    assert!(e.maybe_applied());
    assert_eq!(served(&sb, "POST /api/posts", 503), 1, "a POST is never silently repeated");
    *sandbox::lock(&sb.app.faults) = Faults::default();

    // Limits are caught before sending.
    let e = s.create_post(&NewPost::text("x".repeat(501))).await.unwrap_err();
    assert!(matches!(e, ApiError::Invalid(_)) && e.to_string().contains("500"), "{e}");
    let e = s.comment("post_1", &NewComment { content: "y".repeat(1001), parent_id: None }).await.unwrap_err();
    assert!(matches!(e, ApiError::Invalid(_)));
    let e = Session::anonymous(&sb.base_url())
        .unwrap()
        .register(&NewAgent { handle: "Bad-Handle".into(), name: "x".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Invalid(_)));
    assert_eq!(served(&sb, "POST /api/posts", 0), 1, "no request for the over-long post");
    assert_eq!(served(&sb, "POST /api/auth/register", 0), 1, "only the valid registration was sent");

    // The sandbox enforces the same rules for clients that skip the checks.
    let raw = s.raw("POST", "/api/posts", Some(serde_json::json!({"content": "z".repeat(501)})), true).await.unwrap_err();
    assert_eq!((raw.status(), raw.code()), (Some(400), Some("invalid_content")));
    let dup = Session::anonymous(&sb.base_url())
        .unwrap()
        .register(&NewAgent { handle: "retry".into(), name: "x".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(dup.status(), Some(409));
    sb.stop().await;
}

#[tokio::test]
async fn webhooks_are_signed_and_verifiable() {
    use axum::{extract::State, http::HeaderMap, routing::post, Router};
    use std::sync::{Arc, Mutex};
    type Got = Arc<Mutex<Vec<(HeaderMap, String)>>>;
    let got: Got = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(g): State<Got>, h: HeaderMap, body: String| async move {
                g.lock().unwrap().push((h, body));
                "ok"
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let sb = sandbox(quiet_config()).await;
    let a = session_for(&sb, "hooked").await;
    let b = session_for(&sb, "friend").await;
    let cfg = a.set_webhook(&WebhookUpdate { webhook_url: Some(url.clone()), regenerate_secret: true, test: true }).await.unwrap();
    let secret = cfg.secret.expect("secret returned once");
    assert!(a.webhook().await.unwrap().secret.is_none(), "the secret is not shown again");
    b.follow("hooked").await.unwrap();
    assert!(eventually(Duration::from_secs(5), || got.lock().unwrap().len() >= 2).await);
    for (h, body) in got.lock().unwrap().iter() {
        let ts: u64 = h["x-imagineanything-timestamp"].to_str().unwrap().parse().unwrap();
        assert_eq!(h["x-imagineanything-signature"].to_str().unwrap(), sandbox::webhooks::sign(&secret, ts, body));
        assert_ne!(h["x-imagineanything-signature"].to_str().unwrap(), sandbox::webhooks::sign("wrong", ts, body));
    }
    let bodies: Vec<serde_json::Value> = got.lock().unwrap().iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    assert!(bodies.iter().any(|b| b["event"] == "test"));
    assert!(bodies
        .iter()
        .any(|b| b["event"] == "notification" && b["data"]["type"] == "FOLLOW" && b["data"]["actor"]["handle"] == "friend"));
    a.remove_webhook().await.unwrap();
    sb.stop().await;
}

/// The reference: "Set an HTTPS webhook URL". The emulator refuses a plain
/// `http://` URL to a public host (`emulator_limits.rs`); the client refuses it
/// before sending; `http://` to this machine stays allowed for a local sandbox.
#[tokio::test]
async fn webhook_urls_must_be_https() {
    let sb = sandbox(SandboxConfig { allow_private_webhooks: false, ..quiet_config() }).await;
    let a = session_for(&sb, "secure").await;
    let plain = Some("http://hooks.example.com/in".to_string());
    let err = a.set_webhook(&WebhookUpdate { webhook_url: plain.clone(), regenerate_secret: true, test: false }).await.unwrap_err();
    assert!(err.to_string().contains("HTTPS"), "{err}");
    assert_eq!(received(&sb, "PATCH /api/agents/me/webhook"), 0, "the client refused it before sending");

    let ok = a
        .set_webhook(&WebhookUpdate { webhook_url: Some("https://hooks.example.com/in".into()), regenerate_secret: true, test: false })
        .await
        .unwrap();
    assert_eq!(ok.webhook_url.as_deref(), Some("https://hooks.example.com/in"));
    sb.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_and_real_429s() {
    let cfg =
        SandboxConfig { rate_limits: Some(Budgets { reads_per_minute: 3, writes_per_minute: 30, auth_per_minute: 10 }), ..quiet_config() };
    let sb = sandbox(cfg).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/posts", sb.base_url());
    let mut statuses = vec![];
    for _ in 0..4 {
        let r = http.get(&url).send().await.unwrap();
        assert!(r.headers().contains_key("x-ratelimit-reset"));
        statuses.push((r.status().as_u16(), r.headers()["x-ratelimit-remaining"].to_str().unwrap().to_string()));
    }
    assert_eq!(statuses, vec![(200, "2".into()), (200, "1".into()), (200, "0".into()), (429, "0".into())]);
    let body: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert!(body["retry_after"].as_u64().is_some());
    let health: serde_json::Value = http.get(format!("{}/sandbox/health", sb.base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    sb.stop().await;
}

#[tokio::test]
async fn public_reads_count_against_the_agent_not_the_shared_address() {
    // Several agents behind one daemon share an address: their public reads
    // must carry their own token, or together they exhaust the address's budget.
    let cfg =
        SandboxConfig { rate_limits: Some(Budgets { reads_per_minute: 5, writes_per_minute: 30, auth_per_minute: 10 }), ..quiet_config() };
    let sb = sandbox(cfg).await;
    let a = session_for(&sb, "reader_a").await;
    let b = session_for(&sb, "reader_b").await;
    let post = a.create_post(&NewPost::text("hello")).await.unwrap();
    for s in [&a, &b] {
        for _ in 0..4 {
            assert_eq!(s.post(&post.id).await.unwrap().id, post.id);
        }
    }
    assert_eq!(stats(&sb).rate_limited, 0, "8 public reads by two agents, 5 allowed per agent");
    for s in [&a, &b] {
        assert_eq!(s.rate_limits().stats.window_waits.load(Ordering::Relaxed), 0, "no wait for a shared window");
    }
    assert_eq!(served(&sb, "GET /api/posts/{id}", 200), 8);
    sb.stop().await;
}

#[tokio::test]
async fn the_sandbox_keeps_its_world_across_a_restart_with_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SandboxConfig { state_dir: Some(dir.path().to_path_buf()), ..quiet_config() };
    let sb = sandbox(cfg.clone()).await;
    let (id, secret) = register(&sb, "keeper").await;
    let s = Session::new(SessionConfig::new(sb.base_url()).credentials(id.clone(), secret.clone())).unwrap();
    let post = s.create_post(&NewPost::text("still here after a restart")).await.unwrap();
    sb.stop().await;
    let sb = sandbox(cfg).await;
    let s = Session::new(SessionConfig::new(sb.base_url()).credentials(id, secret)).unwrap();
    assert_eq!(s.me().await.unwrap().handle, "keeper", "the credentials still work");
    assert_eq!(s.post(&post.id).await.unwrap().content, "still here after a restart");
    let again = s.create_post(&NewPost::text("new")).await.unwrap();
    assert_ne!(again.id, post.id, "ids continue, never reused");
    sb.stop().await;
}
