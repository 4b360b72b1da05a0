//! scheduled_post on the controllable clock: catch-up after downtime (skip or
//! run once), jitter within its bound, list order and shuffle without repeats
//! across restarts; the `schedule` command; duplicate names refused.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::*;
use imagine_agent::clock::Clock;
use imagine_agent::sandbox::SandboxHandle;

fn posts_of(sb: &SandboxHandle, handle: &str) -> Vec<String> {
    let w = sb.app.world();
    let id = w.agent_by_handle(handle).unwrap().id.clone();
    w.posts.values().filter(|p| p.agent == id).map(|p| p.content.clone()).collect()
}

/// Starts `handle`'s daemon on `clock`, waits for its first poll (it is running), returns its stopper.
async fn run(sb: &SandboxHandle, cfg: &Path, clock: &Clock) -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>) {
    let before = served(sb, "GET /api/notifications", 0);
    let (stop, task) = start_on(cfg, clock);
    assert!(eventually(Duration::from_secs(10), || served(sb, "GET /api/notifications", 0) > before).await, "running");
    (stop, task)
}

async fn stop((s, t): (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>)) {
    s.cancel();
    t.await.unwrap();
}

fn at(h: u32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, h, m, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_downtime_run_once_catches_up_one_missed_run_and_skip_none() {
    let sb = sandbox(quiet_config()).await;
    for (handle, policy, after_restart) in [("once_bot", "run_once", 2usize), ("skip_bot", "skip", 1)] {
        let creds = register(&sb, handle).await;
        let dir = tempfile::tempdir().unwrap();
        let b = format!("kind: scheduled_post\nname: hourly\nschedule: \"0 * * * *\"\ncatch_up: {policy}\ncontent:\n  template: \"at {{{{ time }}}}\"\n");
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("h.yaml", &b)], "");
        let clock = Clock::manual(at(10, 30));
        let d = run(&sb, &cfg, &clock).await;
        clock.set(at(11, 0));
        assert!(eventually(Duration::from_secs(10), || posts_of(&sb, handle).len() == 1).await, "{handle}: fired at 11:00");
        stop(d).await;
        // Down from 11:00 to 15:30: 12:00 to 15:00 missed.
        clock.set(at(15, 30));
        let d = run(&sb, &cfg, &clock).await;
        polls_later(&sb, 3).await;
        assert_eq!(posts_of(&sb, handle).len(), after_restart, "{handle} ({policy}) after the downtime: {:?}", posts_of(&sb, handle));
        clock.set(at(16, 0));
        assert!(
            eventually(Duration::from_secs(10), || posts_of(&sb, handle).len() == after_restart + 1).await,
            "{handle}: on schedule again"
        );
        polls_later(&sb, 2).await;
        assert_eq!(posts_of(&sb, handle).len(), after_restart + 1, "{handle}: nothing more");
        stop(d).await;
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_stays_within_its_bound() {
    let sb = sandbox(quiet_config()).await;
    let creds = register(&sb, "jittery").await;
    let dir = tempfile::tempdir().unwrap();
    let b = "kind: scheduled_post\nname: j\nschedule: \"0 12 * * *\"\njitter: 10m\ncontent:\n  text: noon-ish\n";
    let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("j.yaml", b)], "");
    let clock = Clock::manual(at(11, 0));
    let d = run(&sb, &cfg, &clock).await;
    clock.set(at(11, 59));
    polls_later(&sb, 2).await;
    assert!(posts_of(&sb, "jittery").is_empty(), "never before the fire time");
    clock.set(at(12, 10));
    assert!(eventually(Duration::from_secs(10), || posts_of(&sb, "jittery").len() == 1).await, "by the fire time plus the jitter bound");
    stop(d).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_keep_their_order_and_shuffle_without_repeats_across_restarts() {
    let sb = sandbox(quiet_config()).await;
    for (handle, order, items) in [("ordered", "in_order", 4usize), ("shuffled", "shuffle", 6)] {
        let creds = register(&sb, handle).await;
        let dir = tempfile::tempdir().unwrap();
        let list: String = (0..items).map(|i| format!("      - item {i}\n")).collect();
        let b =
            format!("kind: scheduled_post\nname: l\nschedule: \"* * * * *\"\ncontent:\n  list:\n    order: {order}\n    items:\n{list}");
        let cfg = write_config(dir.path(), &sb.base_url(), &creds, &[("l.yaml", &b)], "");
        let clock = Clock::manual(at(9, 0));
        // Half the items, a restart, the other half (one fire per clock minute).
        let mut minute = 0;
        for _half in 0..2 {
            let d = run(&sb, &cfg, &clock).await;
            for _ in 0..items / 2 {
                minute += 1;
                clock.set(at(9, minute));
                let want = minute as usize;
                assert!(eventually(Duration::from_secs(10), || posts_of(&sb, handle).len() == want).await, "{handle}: fire {minute}");
            }
            stop(d).await;
        }
        let got = posts_of(&sb, handle);
        if order == "in_order" {
            let want: Vec<String> = (0..got.len()).map(|i| format!("item {}", i % items)).collect();
            assert_eq!(got, want, "in order across the restart");
        } else {
            let distinct: BTreeSet<&String> = got.iter().collect();
            assert_eq!((got.len(), distinct.len()), (items, items), "every item once, no repeat across the restart: {got:?}");
        }
    }
    sb.stop().await;
}

#[test]
fn the_schedule_command_shows_the_next_fire_times_in_the_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("behaviors")).unwrap();
    std::fs::write(
        dir.path().join("behaviors/m.yaml"),
        "kind: scheduled_post\nname: monday\nschedule: \"0 9 * * 1\"\ntimezone: Europe/Paris\ncontent:\n  text: hi\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("config.yaml"), "sandbox: true\nagent:\n  handle: sched_bot\nbehaviors: [behaviors/*.yaml]\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagine-agent"))
        .args(["schedule", "--count", "3", "--config"])
        .arg(dir.path().join("config.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("monday (scheduled_post, \"0 9 * * 1\" in Europe/Paris):"), "{text}");
    let re = regex::Regex::new(r"^  (\d{4}-\d{2}-\d{2}) 09:00:00 CES?T \(Mon\)$").unwrap();
    let dates: Vec<chrono::NaiveDate> =
        text.lines().skip(1).map(|l| re.captures(l).unwrap_or_else(|| panic!("{l:?}"))[1].parse().unwrap()).collect();
    assert_eq!(dates.len(), 3);
    assert!(dates.windows(2).all(|w| w[1] - w[0] == chrono::Duration::days(7)), "{dates:?}");
    assert!(dates[0] >= Utc::now().date_naive() && dates[0] <= Utc::now().date_naive() + chrono::Duration::days(7));
}

#[test]
fn duplicate_behavior_names_are_refused_with_both_places() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("behaviors")).unwrap();
    let b = "kind: scheduled_post\nname: twin\nschedule: \"0 9 * * 1\"\ncontent:\n  text: hi\n";
    std::fs::write(dir.path().join("behaviors/a.yaml"), b).unwrap();
    std::fs::write(dir.path().join("behaviors/b.yaml"), format!("# the same name again\n{b}")).unwrap();
    std::fs::write(dir.path().join("config.yaml"), "sandbox: true\nagent:\n  handle: twin_bot\nbehaviors: [behaviors/*.yaml]\n").unwrap();
    let (ok, text) = validate(&dir.path().join("config.yaml"));
    assert!(!ok, "{text}");
    let want = format!(
        "{}:2:1: behavior name \"twin\" is already used at {}:1",
        dir.path().join("behaviors/b.yaml").display(),
        dir.path().join("behaviors/a.yaml").display()
    );
    assert!(text.contains(&want), "{text}");
}

/// `media:` is checked at `validate` against the reference's limits, each
/// problem at the behavior's `media` line: a file that is not an image or a
/// video, a missing file, five images, an image beside a video, an empty
/// directory; a good one (two images) passes.
#[test]
fn media_is_checked_against_the_platforms_limits_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("behaviors");
    std::fs::create_dir_all(b.join("empty")).unwrap();
    for f in ["a.png", "b.jpg", "c.png", "d.gif", "e.webp", "clip.mp4"] {
        std::fs::write(b.join(f), b"media bytes").unwrap();
    }
    std::fs::write(b.join("notes.txt"), b"text").unwrap();
    let post = |name: &str, media: &str| {
        format!("kind: scheduled_post\nname: {name}\nschedule: \"0 9 * * 1\"\ncontent:\n  text: hi\nmedia: {media}\n")
    };
    let cases = [
        ("text", "notes.txt", "not an image or video the platform takes"),
        ("missing", "gone.png", "gone.png: No such file"),
        ("five", "[a.png, b.jpg, c.png, d.gif, e.webp]", "5 images; a post takes at most 4"),
        ("mixed", "[a.png, clip.mp4]", "1 video, or up to 4 images, never both"),
        ("emptydir", "{dir: empty}", "no image or video to post"),
        ("plainweb", "\"http://example.org/a.png\"", "must be an HTTPS URL"),
    ];
    for (name, media, _) in &cases {
        std::fs::write(b.join(format!("{name}.yaml")), post(name, media)).unwrap();
    }
    std::fs::write(b.join("good.yaml"), post("good", "[a.png, b.jpg]")).unwrap();
    std::fs::write(dir.path().join("config.yaml"), "sandbox: true\nagent:\n  handle: media_bot\nbehaviors: [behaviors/*.yaml]\n").unwrap();
    let (ok, text) = validate(&dir.path().join("config.yaml"));
    assert!(!ok, "{text}");
    for (name, _, why) in &cases {
        let at = format!("{}:6:", b.join(format!("{name}.yaml")).display());
        assert!(text.lines().any(|l| l.starts_with(&at) && l.contains(why)), "{name}: {why:?} at {at}\n{text}");
    }
    assert!(!text.contains("good.yaml"), "two images pass: {text}");
}

/// `media:` may name an image on the web by its HTTPS URL: it is posted as a
/// `mediaUrls` entry beside the uploaded ones, nothing is uploaded for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_on_the_web_is_posted_by_its_url() {
    let b = "kind: scheduled_post\nname: web\nschedule: \"* * * * * *\"\ncontent:\n  template: \"from the web {{ counter }}\"\nmedia: [pic.png, \"https://example.org/cat.png\"]\n";
    let s = scenario("web_poster").behavior("w.yaml", b).build().await;
    std::fs::write(s.dir.path().join("behaviors/pic.png"), [&b"\x89PNG\r\n\x1a\n"[..], &[5u8; 512]].concat()).unwrap();
    let d = s.start();
    let first = || -> Option<Vec<String>> { s.sb.app.world().posts.values().find(|p| p.agent == s.id).map(|p| p.media_urls.clone()) };
    assert!(eventually(Duration::from_secs(20), || first().is_some()).await, "posted");
    let urls = first().unwrap();
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(urls[0].contains("/media/") && urls[1] == "https://example.org/cat.png", "the upload, then the image on the web: {urls:?}");
    d.shutdown().await;
    s.stop().await;
}

/// `media: {generate: ...}`: an image generated for each fire, fetched from
/// the platform and uploaded once, posted with the fire's text (beside the
/// platform's own post of the result).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_generated_for_each_fire_is_posted_with_its_text() {
    let b = "kind: scheduled_post\nname: art\nschedule: \"*/3 * * * * *\"\ncontent:\n  template: \"today's picture [{{ fired_at }}]\"\nmedia:\n  generate:\n    provider: RUNWARE\n    type: image\n    prompt:\n      text: a lighthouse at dusk\n";
    let s = scenario("artist")
        .behavior("b.yaml", b)
        .config("providers:\n  RUNWARE:\n    api_key_file: runware.key\n")
        .sandbox(|c| c.generation_duration = Duration::from_millis(400))
        .build()
        .await;
    std::fs::write(s.dir.path().join("runware.key"), "rw-0123456789abcdef0123456789\n").unwrap();
    let sb = &s.sb;
    let ours = || -> Vec<(Option<imagine_agent::wire::types::MediaType>, Vec<String>)> {
        let w = sb.app.world();
        w.posts
            .values()
            .filter(|p| p.agent == s.id && p.content.starts_with("today's picture"))
            .map(|p| (p.media_type.clone(), p.media_urls.clone()))
            .collect()
    };
    let d = s.start();
    assert!(eventually(Duration::from_secs(40), || ours().len() >= 2).await, "two posts made");
    d.shutdown().await;
    let posts = ours();
    assert!(posts.iter().all(|(t, m)| *t == Some(imagine_agent::wire::types::MediaType::Image) && m.len() == 1), "{posts:?}");
    let used: Vec<String> = posts.iter().map(|p| p.1[0].clone()).collect();
    assert_each_upload_used_once(sb, &s.id, &used, "generated images");
    let jobs = sb.app.world().jobs.values().filter(|j| j.agent == s.id).count();
    assert!(jobs >= posts.len() && jobs <= posts.len() + 1, "one job per fire ({jobs} jobs, {} posts)", posts.len());
    s.stop().await;
}

/// A post the platform refuses leaves nothing in the media library: the
/// image uploaded for it is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_media_of_a_refused_post_are_deleted() {
    let b = "kind: scheduled_post\nname: pics\nschedule: \"*/2 * * * * *\"\ncontent:\n  text: a picture\nmedia: pic.png\n";
    let s = scenario("refused_painter").behavior("b.yaml", b).build().await;
    std::fs::write(s.dir.path().join("behaviors/pic.png"), b"\x89PNG\r\n\x1a\n a picture").unwrap();
    let sb = &s.sb;
    imagine_agent::sandbox::lock(&sb.app.faults).refuse.insert("POST /api/posts".into(), 403);
    let d = s.start();
    let refused = || served(sb, "POST /api/posts", 403) >= 2;
    assert!(eventually(Duration::from_secs(30), refused).await, "two posts refused");
    let gone = || served(sb, "DELETE /api/upload", 204) + served(sb, "DELETE /api/upload", 200) >= 2;
    assert!(eventually(Duration::from_secs(30), gone).await, "their uploads deleted");
    d.shutdown().await;
    let uploads = served(sb, "POST /api/upload", 201);
    let left = uploads_of(sb, &s.id);
    assert!(uploads >= 2 && left.len() <= 1, "{uploads} uploads, left in the library: {left:?} (at most the one of a fire cut short)");
    s.stop().await;
}
