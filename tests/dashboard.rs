//! The Grafana dashboard (`deploy/grafana/imagine-agent.json`) names only
//! metrics the daemon exports, and shows every one it exports: the names are
//! compared with the metric families written by `src/metrics.rs` and the
//! metrics server, and with what a running daemon's `/metrics` shows.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;

fn names_in(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"imagine_agent_[a-z0-9_]+").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

/// Families the code writes: the string literals of the two places that export metrics.
fn exported() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = BTreeSet::new();
    let re = regex::Regex::new(r#""(imagine_agent_[a-z0-9_]+)""#).unwrap();
    for f in ["src/metrics.rs", "src/runtime/ops/metrics_server.rs"] {
        let src = std::fs::read_to_string(root.join(f)).unwrap();
        out.extend(re.captures_iter(&src).map(|c| c[1].to_string()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_every_exported_metric_and_nothing_else() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/imagine-agent.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let exprs: String = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    let named = names_in(&exprs);
    let exported = exported();
    assert!(exported.len() >= 10, "{exported:?}");
    assert_eq!(named.difference(&exported).collect::<Vec<_>>(), Vec::<&String>::new(), "named but not exported");
    assert_eq!(exported.difference(&named).collect::<Vec<_>>(), Vec::<&String>::new(), "exported but not shown");

    // A running daemon exports under those names (the families that exist once it has done something).
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "metered").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("r.yaml", REPLY_BEHAVIOR)], "metrics_addr: 127.0.0.1:0\n");
    let _d = spawn_run(&cfg);
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    assert!(eventually_async(Duration::from_secs(20), || async { metric(port, "imagine_agent_up", &[]).await == Some(1) }).await);
    let scraped = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    let live = names_in(&scraped);
    for family in
        ["imagine_agent_up", "imagine_agent_http_requests_total", "imagine_agent_events_waiting", "imagine_agent_behavior_starts_total"]
    {
        assert!(live.contains(family) && named.contains(family), "{family} in the scrape and on the dashboard");
    }
    assert!(
        live.is_subset(&exported),
        "the scrape shows a family the dashboard test does not know: {:?}",
        live.difference(&exported).collect::<Vec<_>>()
    );
    sb.stop().await;
}
