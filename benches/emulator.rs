//! The emulator at scale (numbers go into docs/performance.md): `cargo bench --bench emulator`.
//!
//! Fills the world with BENCH_AGENTS agents (default 100,000) and BENCH_POSTS
//! posts (default 1,000,000; one in ten mentions the measured agent, so it
//! has 100,000 notifications), then times list pages over HTTP while the
//! world holds all that: the agent's notifications (first page, and pages
//! deep in the list by cursor), the public timeline, the agent's own
//! posts, the posts of a rare hashtag, the comments of one post among
//! BENCH_COMMENTS (500,000) and the messages of one conversation among
//! BENCH_MESSAGES (200,000), search (posts by word, agents by handle),
//! explore, trending hashtags, recommended agents, a profile, an agent's
//! likes and AXP, its conversations and unread count, the marketplace
//! (services, the agent's orders, a service's reviews, an order's messages),
//! similar agents, with BENCH_FOLLOWS (200,000) follows and BENCH_LIKES
//! (300,000) likes spread over the world. Reports p50/p99 of 1,000 requests each, and memory per post (the
//! process's resident memory grown while filling, divided by the posts).

use std::time::{Duration, Instant};

/// The allocator of the `imagine-agent` binary (the sandbox it serves), so memory per post is what it holds.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use imagine_agent::api::{Budgets, ReadTarget, Session, SessionConfig};
use imagine_agent::sandbox::{self, SandboxConfig};
use imagine_agent::wire::types::{AgentType, NewAgent};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let agents = env("BENCH_AGENTS", 100_000);
    let posts = env("BENCH_POSTS", 1_000_000);
    // Keyset notification cursors, listed at once: the cost of a page, not of the strict readings'
    // offset walk (an offset page costs the items above it) or of waiting for a late one.
    let readings = sandbox::readings::Readings { keyset_cursors: true, late_ms: 0, ..Default::default() };
    let cfg = SandboxConfig { addr: "127.0.0.1:0".parse().unwrap(), rate_limits: None, readings, ..SandboxConfig::default() };
    let sb = sandbox::start(cfg).await.unwrap();
    let r = Session::anonymous(&sb.base_url())
        .unwrap()
        .register(&NewAgent { handle: "measured".into(), name: "Measured".into(), ..Default::default() })
        .await
        .unwrap();
    let s =
        Session::new(SessionConfig::new(sb.base_url()).credentials(r.client_id, r.client_secret).budgets(Budgets::unlimited())).unwrap();
    let me = sb.app.world().agent_by_handle("measured").unwrap().id.clone();
    let t = Instant::now();
    let before = rss_kib();
    let ids: Vec<String> = {
        let mut w = sb.app.world();
        (0..agents)
            .map(|i| {
                let id = w
                    .register(&NewAgent { handle: format!("agent_{i}"), name: format!("A {i}"), ..Default::default() }, true)
                    .unwrap()
                    .0
                    .id;
                // Four types and two of 50 skills each, for similar agents.
                let types = [AgentType::Assistant, AgentType::Creative, AgentType::Analyst, AgentType::Chatbot];
                w.edit_kind(&id, |a| {
                    a.agent_type = Some(types[i % 4].clone());
                    a.capabilities.skills = vec![format!("skill{}", i % 50), format!("skill{}", (i / 50) % 50)];
                });
                id
            })
            .collect()
    };
    let after_agents = rss_kib();
    {
        let mut w = sb.app.world();
        for i in 0..posts {
            let text = if i % 50_000 == 7 {
                format!("post {i}, one of 20 with #rare")
            } else if i % 10 == 0 {
                format!("post {i} for @measured #tag{}", i % 100)
            } else {
                format!("post {i} about things #tag{}", i % 100)
            };
            w.insert_post(&ids[i % agents], &text, None, vec![], None, false);
        }
        for i in 0..10 {
            w.insert_post(&me, &format!("my own post {i}"), None, vec![], None, false);
        }
    }
    let after_posts = rss_kib();
    // Follows, likes and reposts spread over the world, so trending posts and
    // popular agents have something to rank; the measured agent likes 50 posts.
    let (follows, likes) = (env("BENCH_FOLLOWS", 200_000), env("BENCH_LIKES", 300_000));
    {
        let mut w = sb.app.world();
        let seqs: Vec<u64> = w.posts.keys().copied().collect();
        for i in 0..follows {
            let _ = w.follow(&ids[i % agents], &format!("agent_{}", (i * 7919 + i / agents) % agents));
        }
        for i in 0..likes {
            w.like_post(seqs[(i * 104_729) % seqs.len()], &ids[i % agents]);
            if i % 3 == 0 {
                w.react(seqs[(i * 7) % seqs.len()], |p| p.reposts.insert(ids[(i + 1) % agents].clone()));
            }
        }
        for i in 0..50 {
            w.like_post(seqs[(i * 1000) % seqs.len()], &me);
        }
    }
    // The marketplace: 2,000 services, 200,000 orders (half of them reviewed)
    // with a message each; the measured agent sells one service with 30 orders.
    let (my_service, my_order) = {
        use imagine_agent::sandbox::world::{OrderMsgRec, ReviewRec, ServiceRec};
        use imagine_agent::wire::types::{OrderStatus, PaymentMethod};
        let mut w = sb.app.world();
        let service = |w: &mut imagine_agent::sandbox::world::World, agent: &str| {
            let seq = w.next_seq();
            let data = imagine_agent::wire::types::NewService { title: format!("service {seq}"), price: 500, ..Default::default() };
            w.services.insert(seq, ServiceRec { seq, agent: agent.to_string(), data, active: true, created_ms: 0 });
            seq
        };
        let mine = service(&mut w, &me);
        let svcs: Vec<u64> = (0..2000).map(|i| service(&mut w, &ids[i % agents])).collect();
        let mut first = 0;
        for i in 0..200_000usize {
            let (svc, buyer) = if i % 6_000 == 0 { (mine, &ids[i % agents]) } else { (svcs[i % svcs.len()], &ids[(i * 31) % agents]) };
            let o = w.place_order(svc, buyer, None, PaymentMethod::Card);
            if svc == mine && first == 0 {
                first = o;
            }
            let seq = w.next_seq();
            w.insert_order_message(OrderMsgRec {
                seq,
                order: o,
                sender: buyer.clone(),
                content: format!("message on {o}"),
                ..Default::default()
            });
            if i % 2 == 0 {
                w.orders.get_mut(&o).unwrap().status = Some(OrderStatus::Completed);
                let seq = w.next_seq();
                let data = imagine_agent::wire::types::NewReview { order_id: format!("ord_{o}"), rating: 5, ..Default::default() };
                w.insert_review(ReviewRec { seq, order: o, service: svc, reviewer: buyer.clone(), data, created_ms: 0 });
            }
        }
        (format!("svc_{mine}"), format!("ord_{first}"))
    };
    let after_market = rss_kib();
    // Comments spread over the posts and messages over 10,000 conversations;
    // the measured post and conversation are among the oldest.
    let (comments, messages) = (env("BENCH_COMMENTS", 500_000), env("BENCH_MESSAGES", 200_000));
    let (my_post, my_conv) = {
        let mut w = sb.app.world();
        let seqs: Vec<u64> = w.posts.keys().copied().collect();
        let my_post = seqs[0];
        let c = |t: String| imagine_agent::wire::types::NewComment { content: t, parent_id: None };
        for i in 0..30 {
            w.add_comment(&ids[i % agents], my_post, &c(format!("comment {i} on the measured post")), false).unwrap();
        }
        for i in 0..comments {
            w.add_comment(&ids[i % agents], seqs[1 + i % (seqs.len() - 1)], &c(format!("comment {i}")), false).unwrap();
        }
        let my_conv = w.conversation_between(&me, &ids[0]);
        for i in 0..50 {
            w.send_message(my_conv, if i % 2 == 0 { &me } else { &ids[0] }, &format!("message {i}")).unwrap();
        }
        let convs: Vec<u64> = (0..10_000.min(agents - 1)).map(|i| w.conversation_between(&ids[i], &ids[i + 1])).collect();
        for i in 0..messages {
            let c = convs[i % convs.len()];
            let from = &ids[(i % convs.len()) + (i / convs.len()) % 2];
            w.send_message(c, from, &format!("message {i}")).unwrap();
        }
        (format!("post_{my_post}"), format!("conv_{my_conv}"))
    };
    println!(
        "{comments} comments and {messages} messages: {:.0} bytes each with their index entries (comments also add an AXP record and a notification)",
        (rss_kib().saturating_sub(after_market) * 1024) as f64 / (comments + messages) as f64
    );
    println!(
        "world: {agents} agents, {posts} posts, {} notifications for @measured, filled in {:.1} s",
        sb.app.world().notifications_of.get(&me).map_or(0, |s| s.len()),
        t.elapsed().as_secs_f64()
    );
    println!(
        "memory: {:.0} bytes per agent, {:.0} bytes per post (with its notification and AXP record); RSS {} MiB",
        (after_agents.saturating_sub(before) * 1024) as f64 / agents as f64,
        (after_posts.saturating_sub(after_agents) * 1024) as f64 / posts as f64,
        after_posts / 1024
    );
    // A cursor deep in the notifications: the 500th page.
    let mut deep = s.notifications().limit(100);
    // The ids walked past, marked read 20 at a time below (each batch unread until then).
    let mut walked: Vec<String> = vec![];
    for _ in 0..500 {
        // (A smaller world, BENCH_POSTS below 500,000, has fewer pages: the last one then.)
        let page = deep.page().await.unwrap();
        walked.extend(page.items.iter().map(|n| n.id.clone()));
        match page.next_cursor {
            Some(c) => deep = deep.cursor(c),
            None => break,
        }
    }
    let mut to_mark = walked.chunks(20).cycle();
    let similar_to = format!("agent_{}", agents / 2 + 7);
    for (what, n) in [
        ("notifications, first page of 20", 0),
        ("notifications, page 501 of 100 by cursor", 1),
        ("public timeline, first page of 20", 2),
        ("the agent's own feed page of 20", 3),
        ("posts of a hashtag on 1 post in 50,000, first page of 20", 4),
        ("comments of a post (30 of 500,030 comments), first page of 20", 5),
        ("messages of a conversation (50 of 200,050 messages), first page of 20", 6),
        ("search posts, a word on 20 posts, first page of 20", 7),
        ("search posts, two words on 100,000 and 900,000 posts that never meet", 8),
        ("search agents, a handle among the newest (substring)", 9),
        ("search agents, a handle among the oldest (substring)", 10),
        ("explore, all sections, 10 each", 11),
        ("trending hashtags, 10", 12),
        ("recommended agents, first page of 20", 13),
        ("the agent's own profile (/api/agents/me)", 14),
        ("posts the agent liked, first page of 20", 15),
        ("the agent's AXP with its first page of history", 16),
        ("the agent's conversations (1 of 10,001), first page of 20", 17),
        ("the agent's unread messages count", 18),
        ("services, first page of 20 by order count (2,001 services, 200,000 orders)", 19),
        ("the agent's orders (30 of 200,000), first page of 20", 20),
        ("reviews of the agent's service, first page of 20", 21),
        ("messages of an order, first page of 20", 22),
        ("agents similar to one of 100,000 (its type held by 25,000, each of its two skills by about 4,000), 20", 23),
        ("the agent's unread notifications count (100,000 unread)", 24),
        ("20 of the agent's 100,000 notifications marked read by id", 25),
    ] {
        let mut lat = vec![];
        for _ in 0..1000 {
            let t = Instant::now();
            match n {
                0 => drop(s.notifications().limit(20).page().await.unwrap()),
                1 => drop(deep.page().await.unwrap()),
                2 => drop(s.timeline().limit(20).page().await.unwrap()),
                3 => drop(s.feed().limit(20).page().await.unwrap()),
                4 => drop(s.hashtag_posts("rare").limit(20).page().await.unwrap()),
                5 => drop(s.comments(&my_post).limit(20).page().await.unwrap()),
                6 => drop(s.messages(&my_conv).limit(20).page().await.unwrap()),
                7 => assert!(!s.search("rare", "posts", Some(20), None).await.unwrap().posts.is_empty()),
                8 => assert!(s.search("about measured", "posts", Some(20), None).await.unwrap().posts.is_empty()),
                9 => drop(s.search(&format!("agent_{}", agents - 3), "agents", Some(20), None).await.unwrap()),
                10 => drop(s.search("agent_3", "agents", Some(20), None).await.unwrap()),
                11 => assert_eq!(s.explore("all", 10).await.unwrap().trending_posts.len(), 10),
                12 => assert_eq!(s.trending_hashtags(10).await.unwrap().len(), 10),
                13 => drop(s.recommended_agents().limit(20).page().await.unwrap()),
                14 => drop(s.me().await.unwrap()),
                15 => drop(s.liked_posts("measured").limit(20).page().await.unwrap()),
                16 => drop(s.xp("measured").await.unwrap()),
                17 => assert_eq!(s.conversations().limit(20).page().await.unwrap().items.len(), 1),
                18 => drop(s.unread_message_count().await.unwrap()),
                19 => assert_eq!(s.services().limit(20).param("sortBy", "orderCount").page().await.unwrap().items.len(), 20),
                20 => assert_eq!(s.orders().limit(20).page().await.unwrap().items.len(), 20),
                21 => drop(s.reviews(&my_service).limit(20).page().await.unwrap()),
                22 => assert_eq!(s.order_messages(&my_order).limit(20).page().await.unwrap().items.len(), 1),
                23 => assert_eq!(s.similar_agents(&similar_to).limit(20).page().await.unwrap().items.len(), 20),
                24 => assert!(s.notification_count().await.unwrap() > 0),
                _ => {
                    let ids = to_mark.next().map(<[String]>::to_vec).unwrap_or_default();
                    s.mark_notifications_read(&ReadTarget::Ids(ids)).await.unwrap()
                }
            }
            lat.push(t.elapsed());
        }
        println!("{what}: p50 {:.2} ms, p99 {:.2} ms (1,000 requests over HTTP)", pct(lat.clone(), 0.5), pct(lat, 0.99));
    }
    sb.stop().await;
}
