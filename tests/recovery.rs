//! Recovery under every reading of the reference: a daemon SIGKILLed in the
//! window between the platform's doing a write and the daemon's hearing of it
//! (the emulator holds the answer back) finds the write after the restart,
//! whichever reading the emulator follows (see `imagine_agent::sandbox::readings`).

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::api::types::NewPost;
use imagine_agent::sandbox::readings::Readings;
use imagine_agent::sandbox::{SandboxConfig, SandboxHandle};

fn posts_of(sb: &SandboxHandle, handle: &str) -> Vec<String> {
    let w = sb.app.world();
    let Ok(a) = w.agent_by_handle(handle) else { return vec![] };
    let id = a.id.clone();
    w.posts.values().filter(|p| p.agent == id).map(|p| p.content.clone()).collect()
}

/// Holds (or with `None` releases) the answers to `route`.
fn hold(sb: &SandboxHandle, route: &str, ms: Option<u64>) {
    let mut f = imagine_agent::sandbox::lock(&sb.app.faults);
    match ms {
        Some(ms) => f.hold_after_ms.insert(route.to_string(), ms),
        None => f.hold_after_ms.remove(route),
    };
}

/// A scheduled post whose answer never came: after the SIGKILL and a restart
/// it is found on the platform (past a page of other agents' posts on the
/// timeline), not posted again, and the schedule goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_was_lost_to_a_sigkill_is_posted_once_under_every_reading() {
    for (i, readings) in Readings::all().into_iter().enumerate() {
        let sb = sandbox(SandboxConfig { readings: readings.clone(), ..quiet_config() }).await;
        let handle = format!("poster_{i}");
        let creds = register(&sb, &handle).await;
        let dir = tempfile::tempdir().unwrap();
        let b =
            "kind: scheduled_post\nname: ticks\nschedule: \"* * * * * *\"\ncontent:\n  template: \"tick {{ counter }} at {{ time }}\"\n";
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("t.yaml", b)], "");
        hold(&sb, "POST /api/posts", Some(120_000));
        let mut d = spawn_run(&cfg);
        assert!(eventually(Duration::from_secs(20), || posts_of(&sb, &handle).len() == 1).await, "{readings:?}: the first post was made");
        d.0.kill().unwrap(); // SIGKILL while the answer is held back
        d.0.wait().unwrap();
        hold(&sb, "POST /api/posts", None);
        let first = posts_of(&sb, &handle)[0].clone();
        // More than a page of other agents' posts above ours on the public timeline.
        let crowd = session_for(&sb, &format!("crowd_{i}")).await;
        for n in 0..150 {
            crowd.create_post(&NewPost::text(format!("crowd post {n}"))).await.unwrap();
        }
        let _d = spawn_run(&cfg);
        assert!(
            eventually(Duration::from_secs(30), || posts_of(&sb, &handle).len() >= 3).await,
            "{readings:?}: the schedule went on after the restart: {:?}",
            posts_of(&sb, &handle)
        );
        let got = posts_of(&sb, &handle);
        assert_eq!(got.iter().filter(|t| **t == first).count(), 1, "{readings:?}: the held post exists once: {got:?}");
        let distinct: std::collections::BTreeSet<&String> = got.iter().collect();
        assert_eq!(distinct.len(), got.len(), "{readings:?}: no text posted twice: {got:?}");
        drop(_d);
        sb.stop().await;
    }
}
