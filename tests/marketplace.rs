//! `marketplace` end to end on the emulator: the service listed once and
//! kept as declared; 20 orders from community buyers started and delivered
//! exactly once each through 5 SIGKILLs (the emulator's state machine refuses
//! a second start or delivery, so a repeat would show as a 4xx); buyers
//! thanked once; a revision delivered again; order messages answered once;
//! payouts requested past the threshold; a cancellation stops the work
//! in flight; an order whose work keeps failing is left for a person.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};
use imagine_agent::wire::types::{OrderAction, OrderStatus, PaymentMethod};

fn services_of(sb: &SandboxHandle, id: &str) -> Vec<u64> {
    sb.app.world().services.values().filter(|s| s.agent == id).map(|s| s.seq).collect()
}

fn orders_in(sb: &SandboxHandle, seller: &str, status: OrderStatus) -> Vec<u64> {
    sb.app.world().orders.values().filter(|o| o.seller == seller && o.status == Some(status.clone())).map(|o| o.seq).collect()
}

/// Order messages by `sender`, per order seq.
fn messages_by(sb: &SandboxHandle, sender: &str) -> std::collections::BTreeMap<u64, Vec<String>> {
    let mut out = std::collections::BTreeMap::<u64, Vec<String>>::new();
    for m in sb.app.world().order_messages.values().filter(|m| m.sender == sender) {
        out.entry(m.order).or_default().push(m.content.clone());
    }
    out
}

/// The behavior's head: one service of portraits.
const SHOP: &str = "kind: marketplace
name: shop
services:
  - key: portraits
    title: AI portraits
    description: A portrait from your description.
    price: 500
    delivery_days: 1
    revisions: 1
";

fn shop(extra: &str) -> String {
    format!(
        "{SHOP}deliverable:
  template: \"Work for {{{{ requirements }}}}, round {{{{ round }}}}\"
delivery_message:
  template: \"Delivered, @{{{{ buyer }}}}!\"
thank_you:
  template: \"Thank you, @{{{{ buyer }}}}!\"
every: 1s
{extra}"
    )
}

/// Order transitions accepted, and refused by the state machine (a repeat would be refused).
fn patches(sb: &SandboxHandle) -> (u64, u64) {
    (served(sb, "PATCH /api/marketplace/orders/{id}", 200), served(sb, "PATCH /api/marketplace/orders/{id}", 400))
}

/// A sandbox with `community` buyers answering with `faults`, and a registered
/// seller: the sandbox, the seller's id and credentials, the buyers' ids.
async fn market(
    community: usize,
    faults: imagine_agent::sandbox::Faults,
    seller: &str,
) -> (SandboxHandle, String, (String, String), Vec<String>) {
    let sb = sandbox(SandboxConfig { community, community_interval: Duration::ZERO, faults, ..quiet_config() }).await;
    let creds = register(&sb, seller).await;
    let me = id_of(&sb, seller);
    let buyers: Vec<String> = sb.app.world().agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect();
    (sb, me, creds, buyers)
}

/// Places `n` orders of service `svc`, the buyers in turn.
fn place_orders(sb: &SandboxHandle, svc: u64, buyers: &[String], n: usize) {
    for i in 0..n {
        sb.app.world().place_order(svc, &buyers[i % buyers.len()], Some(format!("order {i}")), PaymentMethod::Card);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_behavior_rides_out_503s_without_restarting() {
    // One request in five answered 503: a write that fails (not retried: it might have been
    // applied) fails the round it is in, which is run again after a pause, not the behavior.
    let faults = imagine_agent::sandbox::Faults { error_rate: 0.2, ..Default::default() };
    let (sb, me, creds, buyers) = market(3, faults, "steady_seller").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &shop(""))], "metrics_addr: 127.0.0.1:0\n");
    let _d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    assert!(eventually(Duration::from_secs(30), || services_of(&sb, &me).len() == 1).await, "the service is listed");
    place_orders(&sb, services_of(&sb, &me)[0], &buyers, 6);
    let done = eventually(Duration::from_secs(60), || messages_by(&sb, &me).len() == 6).await;
    assert!(done, "6 orders delivered with a message: {} have one", messages_by(&sb, &me).len());
    let failed: u64 = stats(&sb).by_route.values().map(|m| m.get(&503).copied().unwrap_or(0)).sum();
    let restarts = metric(port, "imagine_agent_behavior_restarts_total", &["behavior=\"shop\""]).await;
    assert!(failed > 0, "the platform answered 503 along the way");
    assert_eq!(restarts, Some(0), "the behavior was restarted {restarts:?} times for {failed} answers 503");
    assert!(messages_by(&sb, &me).values().all(|m| m.len() == 1), "one delivery message per order");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_orders_are_delivered_once_each_through_five_sigkills() {
    // One request in twenty answered 503 before it is handled: a transition whose intent is
    // recorded but which did not happen, as a crash at that instant would leave it.
    let faults = imagine_agent::sandbox::Faults { error_rate: 0.05, ..Default::default() };
    let (sb, me, creds, buyers) = market(4, faults, "seller_bot").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &shop(""))], "");
    // 2 writes a second (a burst of 12): the 60 writes take long enough to be killed in the middle.
    set_budgets(&cfg, "  reads_per_minute: 0\n  writes_per_minute: 120\n  auth_per_minute: 0\n");
    let mut d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(20), || services_of(&sb, &me).len() == 1).await, "the service is listed");
    place_orders(&sb, services_of(&sb, &me)[0], &buyers, 20);
    // Five SIGKILLs, each after some progress.
    for _ in 0..5 {
        let progress = |sb: &SandboxHandle| patches(sb).0;
        let before = progress(&sb);
        assert!(eventually(Duration::from_secs(30), || progress(&sb) >= before + 3).await, "progress");
        d.0.kill().unwrap();
        d.0.wait().unwrap();
        d = spawn_run(&cfg);
    }
    assert!(eventually(Duration::from_secs(60), || orders_in(&sb, &me, OrderStatus::Delivered).len() == 20).await, "all delivered");
    let each = eventually(Duration::from_secs(60), || messages_by(&sb, &me).len() == 20).await;
    assert!(each, "a delivery message each: {} of 20 orders have one", messages_by(&sb, &me).len());
    polls_later(&sb, 5).await;
    assert_eq!(patches(&sb), (40, 0), "one start and one delivery per order, nothing refused as a repeat");
    assert!(messages_by(&sb, &me).values().all(|m| m.len() == 1), "one delivery message per order");
    assert_eq!(services_of(&sb, &me).len(), 1, "the service was not listed twice");
    let delivered_ok = sb
        .app
        .world()
        .orders
        .values()
        .filter(|o| o.seller == me)
        .all(|o| o.deliverables.as_deref() == Some(&format!("Work for {}, round 0", o.requirements.clone().unwrap_or_default())));
    assert!(delivered_ok, "each order got its own work");

    // Half the buyers accept: each thanked once.
    let accepted: Vec<u64> = orders_in(&sb, &me, OrderStatus::Delivered).into_iter().take(10).collect();
    for o in &accepted {
        let buyer = sb.app.world().orders[o].buyer.clone();
        sb.app.world().update_order(*o, &buyer, &OrderAction::Accept, None).unwrap();
    }
    let thanked = |sb: &SandboxHandle| messages_by(sb, &me).values().filter(|m| m.len() == 2).count();
    assert!(eventually(Duration::from_secs(20), || thanked(&sb) == 10).await);
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    let _d = spawn_run(&cfg);
    polls_later(&sb, 5).await;
    assert_eq!(thanked(&sb), 10);
    assert!(messages_by(&sb, &me).values().all(|m| m.len() <= 2), "nobody thanked twice");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_is_delivered_again_and_the_declared_service_is_kept() {
    let sb = sandbox(SandboxConfig { community: 1, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "reviser_bot").await;
    let me = id_of(&sb, "reviser_bot");
    let buyer = sb.app.world().agents.values().find(|a| a.community).map(|a| a.id.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extra = "order_reply:\n  template: \"Noted, @{{ buyer }}: {{ text }}\"\npayout_threshold: 400\n";
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &shop(extra))], "metrics_addr: 127.0.0.1:0\n");
    let _d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    assert!(eventually(Duration::from_secs(20), || services_of(&sb, &me).len() == 1).await);
    let svc = services_of(&sb, &me)[0];
    let o = sb.app.world().place_order(svc, &buyer, Some("a cat".into()), PaymentMethod::Card);
    let status = |sb: &SandboxHandle| sb.app.world().orders[&o].status.clone();
    assert!(eventually(Duration::from_secs(20), || status(&sb) == Some(OrderStatus::Delivered)).await);
    sb.app.world().update_order(o, &buyer, &OrderAction::RequestRevision, None).unwrap();
    assert!(
        eventually(Duration::from_secs(20), || sb.app.world().orders[&o].deliverables.as_deref() == Some("Work for a cat, round 1")).await,
        "the revision delivered"
    );
    assert_eq!(status(&sb), Some(OrderStatus::Delivered));
    // The buyer writes twice in a row: one answer for both, once.
    for text in ["Can it be blue?", "And bigger?"] {
        let mut w = sb.app.world();
        let seq = w.next_seq();
        let rec = imagine_agent::sandbox::world::OrderMsgRec {
            seq,
            order: o,
            sender: buyer.clone(),
            content: text.into(),
            attachments: vec![],
            created_ms: imagine_agent::sandbox::world::now_ms(),
        };
        w.insert_order_message(rec);
    }
    assert!(eventually(Duration::from_secs(20), || messages_by(&sb, &me).get(&o).is_some_and(|m| m.len() == 3)).await);
    // Payouts enabled: the seller's 90% (450 cents) passes the threshold once the order completes.
    sb.app.world().accounts.insert(me.clone(), imagine_agent::wire::types::PaymentAccount { payouts_enabled: true, ..Default::default() });
    sb.app.world().update_order(o, &buyer, &OrderAction::Accept, None).unwrap();
    assert!(eventually(Duration::from_secs(20), || messages_by(&sb, &me).get(&o).is_some_and(|m| m.len() == 4)).await);
    assert_eq!(
        messages_by(&sb, &me)[&o],
        vec!["Delivered, @ada_0!", "Delivered, @ada_0!", "Noted, @ada_0: Can it be blue?\nAnd bigger?", "Thank you, @ada_0!"]
    );
    let requested = |sb: &SandboxHandle| {
        sb.app.world().payouts.values().filter(|p| p.0 == me && p.2 == imagine_agent::wire::types::PayoutStatus::Processing).count()
    };
    assert!(eventually(Duration::from_secs(20), || requested(&sb) == 1).await, "the payout requested");
    // Three more runs of the shop: a repeated request would show.
    runs_later(port, "shop", 3).await;
    assert_eq!((requested(&sb), received(&sb, "POST /api/marketplace/payouts")), (1, 1), "one payout, one request");

    // A price changed by hand on the platform is put back; nothing else is written.
    sb.app.world().services.get_mut(&svc).unwrap().data.price = 999;
    let (dir2, creds2) = (dir.path().to_path_buf(), creds.clone());
    drop(_d);
    let cfg = write_config(&dir2, &sb.base_url(), &creds2, &[("shop.yaml", &shop(extra))], "");
    let _d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(20), || sb.app.world().services[&svc].data.price == 500).await, "drift corrected");
    assert_eq!(services_of(&sb, &me).len(), 1);
    assert_eq!(served(&sb, "POST /api/marketplace/services", 0), 1);
    sb.stop().await;
}

/// A model server that accepts connections and never answers.
async fn silent_model() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_stops_the_work_and_failing_work_is_left_for_a_person() {
    let sb = sandbox(SandboxConfig { community: 1, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "slow_bot").await;
    let me = id_of(&sb, "slow_bot");
    let buyer = sb.app.world().agents.values().find(|a| a.community).map(|a| a.id.clone()).unwrap();
    let model = silent_model().await;
    // The work comes from a model that never answers: 2 s, then the fallback, or (no fallback) a failure.
    let slow = "deliverable:\n  llm:\n    profile: slow\n    prompt: \"Work for {{ requirements }}\"\n    fallback: \"fallback work\"\nretries: 2\n";
    let behavior = shop("").replace("deliverable:\n  template: \"Work for {{ requirements }}, round {{ round }}\"\n", slow);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("llm:\n  slow:\n    base_url: {model}\n    model: m\n    timeout: 2s\n    retries: 0\n");
    let extra = format!("{extra}metrics_addr: 127.0.0.1:0\n");
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &behavior)], &extra);
    let mut d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    assert!(eventually(Duration::from_secs(20), || services_of(&sb, &me).len() == 1).await);
    let svc = services_of(&sb, &me)[0];
    let o = sb.app.world().place_order(svc, &buyer, Some("a slow thing".into()), PaymentMethod::Card);
    let status = |sb: &SandboxHandle| sb.app.world().orders[&o].status.clone();
    assert!(eventually(Duration::from_secs(20), || status(&sb) == Some(OrderStatus::InProgress)).await, "started");
    // Cancelled while the work is being produced (as a refund by the platform would).
    sb.app.world().orders.get_mut(&o).unwrap().status = Some(OrderStatus::Cancelled);
    // The round in flight (waiting 2 s for the model) and two more.
    runs_later(port, "shop", 3).await;
    assert_eq!(status(&sb), Some(OrderStatus::Cancelled));
    assert!(sb.app.world().orders[&o].deliverables.is_none(), "nothing delivered");
    assert_eq!(patches(&sb), (1, 0), "the start, and no delivery attempted on a cancelled order");
    d.0.kill().unwrap();
    d.0.wait().unwrap();

    // Without a fallback the work fails: after 2 attempts the order is left for a person, visible in `state`.
    let failing = behavior.replace("    fallback: \"fallback work\"\n", "");
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &failing)], &extra);
    let _d = spawn_run(&cfg);
    let o2 = sb.app.world().place_order(svc, &buyer, Some("impossible".into()), PaymentMethod::Card);
    let state = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent")).args(["state", "--config"]).arg(&cfg).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(eventually(Duration::from_secs(40), || state().contains(&format!("STUCK order ord_{o2} in shop"))).await, "{}", state());
    assert_eq!(sb.app.world().orders[&o2].status, Some(OrderStatus::InProgress), "left as it is, for a person");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_deliverables_are_made_once_per_order_through_sigkills() {
    use imagine_agent::wire::types::GenerationStatus;
    // A third of the jobs fail (and are retried), jobs take 1.5 s: with 8 orders the
    // platform's 3 concurrent jobs are always the limit, and kills land while jobs run.
    let sb = sandbox(SandboxConfig {
        community: 4,
        community_interval: Duration::ZERO,
        generation_duration: Duration::from_millis(1500),
        generation_fail_rate: 0.3,
        ..quiet_config()
    })
    .await;
    let creds = register(&sb, "artist_bot").await;
    let me = id_of(&sb, "artist_bot");
    imagine_agent::api::Session::new(imagine_agent::api::SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone()))
        .unwrap()
        .connect_service(&imagine_agent::wire::types::Provider::OpenAi, &secrecy::SecretString::from("sk-x-123456789".to_string()))
        .await
        .unwrap();
    let buyers: Vec<String> = sb.app.world().agents.values().filter(|a| a.community).map(|a| a.id.clone()).collect();
    let generated = "deliverable:\n  template: \"Here is {{ requirements }}: {{ url }}\"\ngenerate:\n  provider: OPENAI\n  type: image\n  prompt:\n    template: \"A portrait: {{ requirements }}\"\n";
    let behavior = shop("").replace("deliverable:\n  template: \"Work for {{ requirements }}, round {{ round }}\"\n", generated);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &behavior)], "");
    let mut d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(20), || services_of(&sb, &me).len() == 1).await, "the service is listed");
    let svc = services_of(&sb, &me)[0];
    for i in 0..8 {
        sb.app.world().place_order(svc, &buyers[i % buyers.len()], Some(format!("order {i}")), PaymentMethod::Card);
    }
    let jobs = |sb: &SandboxHandle| sb.app.world().jobs.values().filter(|j| j.agent == me).count();
    for _ in 0..2 {
        let before = jobs(&sb);
        assert!(eventually(Duration::from_secs(30), || jobs(&sb) >= before + 2).await, "jobs started");
        d.0.kill().unwrap();
        d.0.wait().unwrap();
        d = spawn_run(&cfg);
    }
    assert!(eventually(Duration::from_secs(90), || orders_in(&sb, &me, OrderStatus::Delivered).len() == 8).await, "all delivered");
    polls_later(&sb, 5).await;
    assert_eq!(patches(&sb), (16, 0), "one start and one delivery per order");
    assert_eq!(served(&sb, "POST /api/generate", 409), 0, "never a fourth concurrent job");
    assert_eq!(served(&sb, "POST /api/generate/{id}/retry", 400), 0, "no retry repeated or refused");
    {
        let w = sb.app.world();
        for o in w.orders.values().filter(|o| o.seller == me) {
            let req = o.requirements.clone().unwrap();
            let mine: Vec<_> = w.jobs.values().filter(|j| j.agent == me && j.prompt == format!("A portrait: {req}")).collect();
            let given_up = mine.iter().filter(|j| j.status == Some(GenerationStatus::Failed)).count();
            assert_eq!(mine.len(), 1 + given_up, "{req}: one job, plus one more only for a job that failed for good");
            let done = mine.iter().find(|j| j.status == Some(GenerationStatus::Completed)).expect("a completed job");
            let url = done.result_url.clone().unwrap();
            assert_eq!(o.deliverables.as_deref(), Some(format!("Here is {req}: {url}").as_str()), "its own result delivered");
        }
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_without_a_review_is_asked_once_and_one_with_a_review_never() {
    let sb = sandbox(SandboxConfig { community: 1, community_interval: Duration::ZERO, ..quiet_config() }).await;
    let creds = register(&sb, "asking_bot").await;
    let me = id_of(&sb, "asking_bot");
    let buyer = sb.app.world().agents.values().find(|a| a.community).map(|a| a.id.clone()).unwrap();
    let extra = "review_request:\n  after: 3s\n  text:\n    template: \"Would you leave a review, @{{ buyer }}?\"\n";
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &shop(extra))], "");
    let mut d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(20), || services_of(&sb, &me).len() == 1).await);
    let svc = services_of(&sb, &me)[0];
    let orders: Vec<u64> =
        (0..2).map(|i| sb.app.world().place_order(svc, &buyer, Some(format!("thing {i}")), PaymentMethod::Card)).collect();
    assert!(eventually(Duration::from_secs(20), || orders_in(&sb, &me, OrderStatus::Delivered).len() == 2).await);
    for o in &orders {
        sb.app.world().update_order(*o, &buyer, &OrderAction::Accept, None).unwrap();
    }
    // The first is reviewed at once; the second never unasked.
    sb.app.world().add_review(orders[0], &buyer, 5, "Lovely".into()).unwrap();
    let asked = |sb: &SandboxHandle, o: u64| {
        messages_by(sb, &me).get(&o).map_or(0, |m| m.iter().filter(|t| t.starts_with("Would you leave a review")).count())
    };
    assert!(eventually(Duration::from_secs(30), || asked(&sb, orders[1]) == 1).await, "asked for the missing review");
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    let _d = spawn_run(&cfg);
    polls_later(&sb, 6).await;
    assert_eq!(asked(&sb, orders[1]), 1, "asked once, also after a restart");
    assert_eq!(asked(&sb, orders[0]), 0, "a reviewed order is not asked");
    assert_eq!(messages_by(&sb, &me)[&orders[1]].last().unwrap(), &"Would you leave a review, @ada_0?".to_string());
    sb.stop().await;
}

/// Eight orders asking for the same work, each written by a model: every
/// one is delivered (paid work for one buyer is never dropped as a repeat of
/// another buyer's), and the buyer's requirements reach the model as delimited
/// data (the stand-in writes about the words inside the delimiters; without them
/// it would write about the prompt's first words).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_similar_orders_written_by_a_model_are_all_delivered() {
    let (sb, me, creds, buyers) = market(4, Default::default(), "similar_seller").await;
    let dir = tempfile::tempdir().unwrap();
    let b = format!(
        "{SHOP}deliverable:
  llm:
    profile: local
    prompt: \"Write the requested work. Requirements: {{{{ requirements }}}}\"
every: 1s
retries: 1
"
    );
    let extra = format!("llm:\n  local:\n    base_url: {}/v1\n    model: sandbox-stand-in\n", sb.base_url());
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &b)], &extra);
    let _d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(30), || services_of(&sb, &me).len() == 1).await, "the service is listed");
    let svc = services_of(&sb, &me)[0];
    // The same request from every buyer: the model writes the same work each time.
    for i in 0..8 {
        let req = "portrait mountain lake at dawn, please".to_string();
        sb.app.world().place_order(svc, &buyers[i % buyers.len()], Some(req), PaymentMethod::Card);
    }
    let delivered =
        || -> Vec<String> { sb.app.world().orders.values().filter(|o| o.seller == me).filter_map(|o| o.deliverables.clone()).collect() };
    assert!(
        eventually(Duration::from_secs(60), || delivered().len() == 8).await,
        "all 8 orders delivered: {} were: {:?}",
        delivered().len(),
        delivered()
    );
    assert!(delivered().iter().all(|d| d.contains("On portrait mountain")), "the requirements were delimited: {:?}", delivered());
    sb.stop().await;
}

/// Orders begin in PENDING_PAYMENT, as in the reference: the seller does nothing with one
/// until its buyer pays; a dispute, a refund and a cancellation are met without any action
/// of the seller's; payouts wait for the payment account's onboarding, then go out once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_wait_for_their_payment_and_payouts_for_the_onboarding() {
    let long = Duration::from_secs(3600);
    // No community: every order and every buyer's step is the test's own.
    let sb = sandbox(SandboxConfig { checkout: long, onboarding: long, ..quiet_config() }).await;
    let creds = register(&sb, "patient_seller").await;
    let me = id_of(&sb, "patient_seller");
    let mut buyers = vec![];
    for b in ["buyer_one", "buyer_two"] {
        register(&sb, b).await;
        buyers.push(id_of(&sb, b));
    }
    let seller = session_for_creds(&sb, &creds);
    seller.setup_payment_account(None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("shop.yaml", &shop("payout_threshold: 1\n"))], "");
    let _d = spawn_run(&cfg);
    assert!(eventually(Duration::from_secs(30), || services_of(&sb, &me).len() == 1).await, "the service is listed");
    let svc = services_of(&sb, &me)[0];
    let orders: Vec<u64> =
        (0..4).map(|i| sb.app.world().place_order(svc, &buyers[i % 2], Some(format!("thing {i}")), PaymentMethod::Card)).collect();
    let status = |o: u64| sb.app.world().orders[&o].status.clone().unwrap();
    let patches = || served(&sb, "PATCH /api/marketplace/orders/{id}", 0);
    // Three rounds of the behavior (it lists its orders in three states each round): nothing done while unpaid.
    let lists = || served(&sb, "GET /api/marketplace/orders", 0);
    let l = lists();
    assert!(eventually(Duration::from_secs(20), || lists() >= l + 9).await, "the behavior ran");
    assert!(orders.iter().all(|o| status(*o) == OrderStatus::PendingPayment), "unpaid orders wait");
    assert_eq!(patches(), 0, "no action on an unpaid order");

    // Paid: the first is delivered. The second is disputed as it is paid, then refunded; the
    // third is cancelled by its buyer unpaid; the fourth is never paid.
    let base = sb.base_url();
    let paid = reqwest::Client::new().post(format!("{base}/sandbox/orders/ord_{}/pay", orders[0])).send().await.unwrap();
    assert_eq!(paid.status().as_u16(), 200);
    {
        let mut w = sb.app.world();
        assert!(w.pay(orders[1]));
        w.update_order(orders[1], &buyers[1], &OrderAction::Dispute, None).unwrap();
        w.update_order(orders[2], &buyers[0], &OrderAction::Cancel, None).unwrap();
    }
    let r = reqwest::Client::new().post(format!("{}/sandbox/orders/ord_{}/refund", sb.base_url(), orders[1])).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(eventually(Duration::from_secs(30), || status(orders[0]) == OrderStatus::Delivered).await, "delivered");
    sb.app.world().update_order(orders[0], &buyers[0], &OrderAction::Accept, None).unwrap();
    let l = lists();
    assert!(eventually(Duration::from_secs(20), || lists() >= l + 9).await, "the behavior ran");
    assert_eq!(
        (status(orders[1]), status(orders[2]), status(orders[3])),
        (OrderStatus::Refunded, OrderStatus::Cancelled, OrderStatus::PendingPayment)
    );
    assert_eq!(patches(), 2, "start and deliver of the paid order only");
    assert!(orders[1..].iter().all(|o| sb.app.world().orders[o].deliverables.is_none()), "nothing delivered on the others");

    // The payout waits for the onboarding (a request before it would be refused for good), then goes out once.
    let payouts = || served(&sb, "POST /api/marketplace/payouts", 0);
    let l = lists();
    assert!(eventually(Duration::from_secs(20), || lists() >= l + 9).await, "the behavior ran");
    assert_eq!(payouts(), 0, "no payout requested before the onboarding");
    let r = reqwest::Client::new().post(format!("{}/sandbox/onboarding/patient_seller", sb.base_url())).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(eventually(Duration::from_secs(20), || payouts() == 1).await, "the payout requested once onboarded");
    let l = lists();
    assert!(eventually(Duration::from_secs(20), || lists() >= l + 9).await, "the behavior ran");
    assert_eq!(payouts(), 1, "once");
    sb.stop().await;
}

fn session_for_creds(sb: &SandboxHandle, creds: &(String, String)) -> imagine_agent::api::Session {
    use imagine_agent::api::{Budgets, Session, SessionConfig};
    Session::new(SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone()).budgets(Budgets::unlimited())).unwrap()
}
