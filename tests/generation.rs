//! generation_pipeline on the daemon side: never more than the platform's 3
//! jobs in flight, a job that always fails is retried exactly 3 times and then
//! recorded as failed.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::sandbox::SandboxConfig;
use imagine_agent::wire::types::Provider;

/// A daemon running `pipeline` against a sandbox with `cfg`; the handle of its metrics port.
async fn run(
    cfg: SandboxConfig,
    handle: &str,
) -> (imagine_agent::sandbox::SandboxHandle, u16, tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>, tempfile::TempDir) {
    let sb = sandbox(cfg).await;
    let creds = register(&sb, handle).await;
    let s = imagine_agent::api::Session::new(
        imagine_agent::api::SessionConfig::new(sb.base_url()).credentials(creds.0.clone(), creds.1.clone()),
    )
    .unwrap();
    s.connect_service(&Provider::OpenAi, &secrecy::SecretString::from("sk-x-123456789".to_string())).await.unwrap();
    // A job every second.
    let pipeline = "kind: generation_pipeline\nname: art\nschedule: \"* * * * * *\"\nprovider: OPENAI\ntype: image\nprompt:\n  template: \"art number {{ counter }}\"\npoll_every: 1s\n";
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("art.yaml", pipeline)], "metrics_addr: 127.0.0.1:0\n");
    let (stop, task) = start_on(&cfg, &imagine_agent::clock::Clock::default());
    let port = bound_port(&dir.path().join("state"), "metrics").await;
    (sb, port, stop, task, dir)
}

fn one_job_per_fire(sb: &imagine_agent::sandbox::SandboxHandle) {
    let w = sb.app.world();
    let mut prompts: Vec<&str> = w.jobs.values().map(|j| j.prompt.as_str()).collect();
    let n = prompts.len();
    prompts.sort();
    prompts.dedup();
    assert_eq!(prompts.len(), n, "one job per fire: no duplicate generation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_than_three_jobs_in_flight() {
    // Jobs of 3 s fired every second: a fourth would start while three run, unless the daemon waits.
    let (sb, port, stop, task, _dir) =
        run(SandboxConfig { generation_duration: Duration::from_secs(3), ..quiet_config() }, "busy_painter").await;
    let completed = || metric(port, "imagine_agent_generation_jobs_total", &["state=\"completed\""]);
    assert!(eventually_async(Duration::from_secs(60), || async { completed().await >= Some(5) }).await, "five jobs completed");
    stop.cancel();
    task.await.unwrap();
    assert_eq!(served(&sb, "POST /api/generate", 409), 0, "never a fourth concurrent job");
    one_job_per_fire(&sb);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_always_fails_is_retried_exactly_three_times() {
    let cfg = SandboxConfig { generation_duration: Duration::from_millis(300), generation_fail_rate: 1.0, ..quiet_config() };
    let (sb, port, stop, task, dir) = run(cfg, "unlucky").await;
    let failed = || metric(port, "imagine_agent_generation_jobs_total", &["state=\"failed\""]);
    assert!(eventually_async(Duration::from_secs(60), || async { failed().await >= Some(3) }).await, "three jobs followed to failure");
    stop.cancel();
    task.await.unwrap();
    assert_eq!(served(&sb, "POST /api/generate/{id}/retry", 400), 0, "never a retry past the limit");
    {
        let w = sb.app.world();
        let counts: Vec<u32> = w.jobs.values().map(|j| j.retry_count).collect();
        assert!(counts.iter().all(|c| *c <= 3), "never a fourth retry: {counts:?}");
        // Every job the daemon recorded as finished (given up) had exactly 3 retries, no fewer.
        let store = imagine_agent::store::Store::open(&dir.path().join("state/sled")).unwrap().agent("unlucky").unwrap();
        let given_up: Vec<(u64, u32)> = w
            .jobs
            .values()
            .filter(|j| store.get::<bool>("art", &format!("finished:job_{}", j.seq)).unwrap().is_some())
            .map(|j| (j.seq, j.retry_count))
            .collect();
        assert!(given_up.len() >= 3, "three jobs followed to failure: {given_up:?}");
        assert!(given_up.iter().all(|(_, n)| *n == 3), "each given up after exactly 3 retries: {given_up:?}");
        // Each retry the platform counted was asked for once.
        assert_eq!(received(&sb, "POST /api/generate/{id}/retry"), counts.iter().map(|c| u64::from(*c)).sum::<u64>());
    }
    one_job_per_fire(&sb);
    sb.stop().await;
}
