//! `report` (Build Your Reputation) against the emulator's analytics: the
//! digest's figures are the emulator's (followers, likes, comments, views,
//! engagement rate, the best post, AXP and level), exported as gauges, posted
//! with a chart image of the configured size (a PNG, also kept as a file that
//! decodes), and sent to an operator by DM; each fire's upload, post and DM
//! happen once each, also through a SIGKILL.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::SandboxHandle;
use imagine_agent::wire::types::{NewComment, NewPost};

fn posts_by(sb: &SandboxHandle, id: &str) -> Vec<(String, Vec<String>)> {
    sb.app.world().posts.values().filter(|p| p.agent == id).map(|p| (p.content.clone(), p.media_urls.clone())).collect()
}

fn dms_to(sb: &SandboxHandle, from: &str) -> Vec<String> {
    sb.app.world().messages.values().filter(|m| m.sender == from).map(|m| m.content.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_of_the_emulators_analytics_is_logged_exported_posted_with_a_chart_and_sent() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "reporter").await;
    let me = id_of(&sb, "reporter");
    // Three posts; two followers; 3 likes and 1 comment, on 30 views.
    let s = imagine_agent::api::Session::new(
        imagine_agent::api::SessionConfig::new(sb.base_url())
            .credentials(creds.0.clone(), creds.1.clone())
            .budgets(imagine_agent::api::Budgets::unlimited()),
    )
    .unwrap();
    let mut ids = vec![];
    for t in ["The lighthouse at dawn", "Bread, slowly", "A note on tides"] {
        ids.push(s.create_post(&NewPost::text(t)).await.unwrap().id);
    }
    let fans = [session_for(&sb, "fan_a").await, session_for(&sb, "fan_b").await];
    let _ops = session_for(&sb, "ops_person").await;
    for f in &fans {
        f.follow("reporter").await.unwrap();
        f.like(&ids[1]).await.unwrap();
    }
    fans[0].like(&ids[2]).await.unwrap();
    fans[1].comment(&ids[1], &NewComment { content: "Lovely".into(), parent_id: None }).await.unwrap();
    for p in sb.app.world().posts.values_mut().filter(|p| p.agent == me) {
        p.views = 10;
    }

    let xp = sb.app.world().agents[&me].axp;
    let dir = tempfile::tempdir().unwrap();
    let behavior = "kind: report\nname: weekly\nschedule: \"*/4 * * * * *\"\nrange: 7d\ntop_posts: 2\npost:\n  template: \"{{ digest }} [{{ fired_at }}]\"\ndm_to: ops_person\ndm:\n  template: \"{{ digest }} [{{ fired_at }}]\"\nchart:\n  days: 7\n  width: 640\n  height: 360\n  file: chart.png\n";
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("report.yaml", behavior)], "metrics_addr: 127.0.0.1:0\n");
    let mut d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    let reports = |sb: &SandboxHandle| posts_by(sb, &me).into_iter().filter(|p| p.0.starts_with("Last 7d")).collect::<Vec<_>>();
    assert!(eventually(Duration::from_secs(30), || !reports(&sb).is_empty()).await, "a report posted");
    let (text, media) = reports(&sb)[0].clone();
    // Followers 2; likes 3 and 1 comment on 30 views: 13.3%; the best post is the bread one (2 likes + 1 comment).
    assert!(text.contains("2 followers") && text.contains("3 posts, 3 likes, 1 comments, 30 views, engagement 13.3%"), "{text}");
    assert!(text.contains(&format!("Best post: {} \"Bread, slowly\" (3 reactions)", ids[1])), "{text}");
    assert!(text.contains(&format!("{xp} AXP")), "{text} (emulator before the first report: {xp})");
    assert_eq!(media.len(), 1, "the chart is attached");
    let pixels: Vec<_> = sb.app.world().media.values().filter(|m| m.agent == me).map(|m| m.pixels).collect();
    assert!(pixels.iter().all(|p| *p == Some((640, 360))), "a PNG of the configured size: {pixels:?}");
    let png = std::fs::read(dir.path().join("behaviors/chart.png")).unwrap();
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("the chart file decodes as a PNG");
    assert_eq!((img.width(), img.height()), (640, 360));

    let scraped = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    for want in [
        "imagine_agent_followers{agent=\"reporter\"} 2".to_string(),
        "imagine_agent_engagement_rate{agent=\"reporter\",range=\"7d\"} 13.3".to_string(),
        format!("imagine_agent_post_engagement_rate{{agent=\"reporter\",post=\"{}\",rank=\"1\"}} 30", ids[1]),
    ] {
        assert!(scraped.contains(&want), "{want} in\n{scraped}");
    }
    assert!(metric(port, "imagine_agent_xp", &[]).await >= Some(xp), "AXP exported");
    assert!(eventually(Duration::from_secs(20), || !dms_to(&sb, &me).is_empty()).await, "the operator told");
    assert!(dms_to(&sb, &me)[0].starts_with("Last 7d: 2 followers"));

    // Through a SIGKILL: every fire's upload, post and DM once each, each fire named by its
    // time in its texts (`fired_at`) and each upload by the post it is attached to.
    let n = reports(&sb).len();
    assert!(eventually(Duration::from_secs(30), || reports(&sb).len() > n).await);
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    let n = reports(&sb).len();
    let addr = imagine_agent::runtime::addr_file(&dir.path().join("state"), "metrics");
    std::fs::remove_file(&addr).unwrap();
    let _d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    assert!(eventually(Duration::from_secs(30), || reports(&sb).len() >= n + 2).await);
    // Two more fires of the report after that (each run is a whole fire: upload, post, DM).
    runs_later(port, "weekly", 2).await;
    let fire = |t: &str| t.rsplit_once('[').map(|(_, f)| f.trim_end_matches(']').to_string()).expect("a fire time in the text");
    let posted: Vec<String> = reports(&sb).iter().map(|(t, _)| fire(t)).collect();
    let sent: Vec<String> = dms_to(&sb, &me).iter().map(|t| fire(t)).collect();
    let distinct: std::collections::BTreeSet<&String> = posted.iter().collect();
    assert_eq!(distinct.len(), posted.len(), "no fire posted twice: {posted:?}");
    let (mut p, mut s) = (posted.clone(), sent.clone());
    p.sort();
    s.sort();
    assert_eq!(p, s, "one DM per posted fire, none repeated");
    let attached: Vec<String> = reports(&sb).into_iter().flat_map(|(_, m)| m).collect();
    let uploaded: Vec<String> = sb.app.world().media.values().filter(|m| m.agent == me).map(|m| m.url.clone()).collect();
    assert_eq!(attached.len(), posted.len(), "one chart per post");
    let (mut a, mut u) = (attached, uploaded);
    a.sort();
    u.sort();
    assert_eq!(a, u, "every upload attached to exactly one report, none uploaded twice");
    sb.stop().await;
}
