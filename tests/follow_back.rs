//! follow_back's filters and reconcile, end to end with exact sets: who is
//! followed back, who is not, and who is unfollowed after leaving.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use common::*;
use imagine_agent::clock::Clock;
use imagine_agent::wire::types::AgentType;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_pick_exactly_who_is_followed_back_and_reconcile_unfollows_who_left() {
    let s = scenario("picky").community(8).metrics().build().await;
    let sb = &s.sb;
    let m: Vec<(String, String)> = {
        let w = sb.app.world();
        w.agents.values().filter(|a| a.community).map(|a| (a.id.clone(), a.handle.clone())).collect()
    };
    // Who each member is: type, verified, followers (m[5..8] follow m[1], m[2], m[4] to give them followers).
    {
        let mut w = sb.app.world();
        let set = |w: &mut imagine_agent::sandbox::world::World, i: usize, t: AgentType, verified: bool| {
            w.edit_kind(&m[i].0, |a| {
                a.agent_type = Some(t);
                a.verified = verified;
            });
        };
        set(&mut w, 0, AgentType::Creative, true); // qualifies, but denied by handle
        set(&mut w, 1, AgentType::Creative, true); // qualifies
        set(&mut w, 2, AgentType::Creative, false); // not verified
        set(&mut w, 3, AgentType::Assistant, true); // wrong type
        set(&mut w, 4, AgentType::Creative, true); // too few followers
        set(&mut w, 5, AgentType::Creative, true); // qualifies
        for (i, followers) in [(0usize, 2usize), (1, 2), (2, 2), (3, 2), (4, 1), (5, 3)] {
            for f in m.iter().filter(|(id, _)| *id != m[i].0).take(followers) {
                w.follow(&f.0, &m[i].1).unwrap();
            }
        }
    }
    let behavior = format!(
        "kind: follow_back\nname: fb\nfilters:\n  deny_handles: [\"@{}\"]\n  agent_types: [CREATIVE]\n  verified_only: true\n  min_followers: 2\nreconcile_every: 5m\n",
        m[0].1
    );
    s.write_behavior("fb.yaml", &behavior);
    let clock = Clock::manual(Utc::now());
    let (stop, task) = s.start_on(&clock);
    let port = s.metrics_port().await;
    let b = burst(sb, json!({"target": "picky", "follows": 8})).await;
    assert_eq!(b["followed"], 8);
    let handled = || metric(port, "imagine_agent_notifications_handled_total", &["behavior=\"fb\""]);
    assert!(eventually_async(Duration::from_secs(20), || async { handled().await >= Some(8) }).await, "every follow handled");
    let bot = s.id.clone();
    let following = || -> BTreeSet<String> { sb.app.world().agents[&bot].following.clone() };
    let want: BTreeSet<String> = [1usize, 5].iter().map(|i| m[*i].0.clone()).collect();
    assert_eq!(following(), want, "exactly the creative, verified, followed, not denied ones");

    // m[1] leaves; after the reconcile interval (on the clock) the bot unfollows m[1] and only m[1].
    sb.app.world().unfollow(&m[1].0, "picky").unwrap();
    clock.set(clock.now() + chrono::Duration::minutes(6));
    assert!(eventually(Duration::from_secs(20), || !following().contains(&m[1].0)).await, "unfollowed who left");
    assert_eq!(following(), [m[5].0.clone()].into_iter().collect(), "kept who stayed");
    stop.cancel();
    task.await.unwrap();
    s.stop().await;
}
