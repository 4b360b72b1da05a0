//! `byte` end to end on the emulator: a clip of a directory uploaded with
//! purpose byte, published once its processing completes, once per fire
//! through a SIGKILL in the window where the platform made the byte and the
//! daemon had not heard of it; a comment on one of our bytes answered by
//! auto_reply under it; engage liking and commenting on others' bytes once;
//! a byte made from a video generated for its fire;
//! and the example in `behaviors/examples/` validates.

mod common;

use std::time::Duration;

use common::*;
use imagine_agent::wire::types::NewComment;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_per_fire_through_a_sigkill_after_the_platform_made_it() {
    let b =
        "kind: byte\nname: shorts\nschedule: \"*/3 * * * * *\"\nvideo:\n  dir: clips\ncaption:\n  template: \"short [{{ fired_at }}]\"\n";
    let s =
        scenario("shorts_bot").behavior("b.yaml", b).sandbox(|c| c.video_processing = Duration::from_millis(1500)).metrics().build().await;
    let clips = s.dir.path().join("behaviors/clips");
    std::fs::create_dir_all(&clips).unwrap();
    for (i, name) in ["a.mp4", "b.mp4", "c.webm"].iter().enumerate() {
        std::fs::write(clips.join(name), vec![i as u8 + 1; 4096 * (i + 1)]).unwrap();
    }
    let sb = &s.sb;
    let bytes = || -> Vec<(String, String)> {
        sb.app.world().bytes.values().filter(|b| b.agent == s.id).map(|b| (b.caption.clone(), b.video_url.clone())).collect()
    };
    hold(sb, "POST /api/bytes", Some(120_000));
    let mut d = spawn_logged(&s.cfg, &s.dir.path().join("first.log"));
    assert!(
        eventually(Duration::from_secs(30), || bytes().len() == 1).await,
        "the platform made the first byte (after the video's processing): {}",
        std::fs::read_to_string(s.dir.path().join("first.log")).unwrap_or_default()
    );
    d.0.kill().unwrap();
    d.0.wait().unwrap();
    hold(sb, "POST /api/bytes", None);
    let _d = spawn_logged(&s.cfg, &s.dir.path().join("second.log"));
    // The port is read each time: the killed daemon's address file may still be there at first.
    let ran = || async { runs(s.metrics_port().await, "shorts").await >= Some(2) };
    assert!(
        eventually_async(Duration::from_secs(40), ran).await,
        "two fires after the restart: {}",
        std::fs::read_to_string(s.dir.path().join("second.log")).unwrap_or_default()
    );
    let made = bytes();
    let captions: std::collections::BTreeSet<&String> = made.iter().map(|(c, _)| c).collect();
    assert_eq!(captions.len(), made.len(), "one byte per fire, none twice: {made:?}");
    let videos: Vec<String> = made.iter().map(|(_, v)| v.clone()).collect();
    assert_each_upload_used_once(sb, &s.id, &videos, "bytes");
    s.stop().await;
}

#[test]
fn the_shipped_byte_example_validates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("behaviors/clips")).unwrap();
    std::fs::write(dir.path().join("behaviors/clips/intro.mp4"), b"a clip").unwrap();
    std::fs::copy("behaviors/examples/byte.yaml", dir.path().join("behaviors/byte.yaml")).unwrap();
    std::fs::write(
        dir.path().join("behaviors/bad.yaml"),
        "kind: byte\nname: bad\nschedule: \"0 9 * * *\"\nvideo: clips/../notes.txt\ncaption:\n  text: hi\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("behaviors/long.mp4"), imagine_agent::wire::video::sample_mp4(61)).unwrap();
    std::fs::write(dir.path().join("behaviors/short.mp4"), imagine_agent::wire::video::sample_mp4(59)).unwrap();
    for (name, clip) in [("long", "long.mp4"), ("short", "short.mp4")] {
        let yaml = format!("kind: byte\nname: {name}\nschedule: \"0 9 * * *\"\nvideo: {clip}\ncaption:\n  text: hi\n");
        std::fs::write(dir.path().join(format!("behaviors/{name}.yaml")), yaml).unwrap();
    }
    std::fs::write(dir.path().join("config.yaml"), "sandbox: true\nagent:\n  handle: shorts\nbehaviors: [behaviors/*.yaml]\n").unwrap();
    let (ok, text) = validate(&dir.path().join("config.yaml"));
    assert!(!ok, "the bad byte fails the validation: {text}");
    assert!(!text.contains("byte.yaml"), "the example validates: {text}");
    assert!(text.contains("bad.yaml:4:"), "a byte that is not a video is refused at its line: {text}");
    assert!(text.contains("long.yaml:4:1: ") && text.contains("long.mp4: 61.0 s long; the platform takes at most 60 s here"), "{text}");
    assert!(!text.contains("short.yaml"), "59 s is a byte: {text}");
}

/// A byte the bot made (by its `byte` behavior) gets a comment: the
/// notification names no post, and auto_reply finds the byte among the bot's
/// own and answers under the comment, on the byte, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_on_our_byte_is_answered_under_it() {
    let b = "kind: byte\nname: shorts\nschedule: \"*/2 * * * * *\"\nvideo: clip.mp4\ncaption:\n  template: \"short [{{ fired_at }}]\"\n";
    let r = "kind: auto_reply\nname: replies\non: [COMMENT]\ncontent:\n  template: \"Glad you liked it, @{{ author }}\"\n";
    let s = scenario("byter")
        .behavior("b.yaml", b)
        .behavior("r.yaml", r)
        .sandbox(|c| c.video_processing = Duration::from_millis(200))
        .build()
        .await;
    std::fs::write(s.dir.path().join("behaviors/clip.mp4"), vec![7u8; 4096]).unwrap();
    let sb = &s.sb;
    let d = s.start();
    let first = || sb.app.world().bytes.values().find(|b| b.agent == s.id).map(|b| b.seq);
    assert!(eventually(Duration::from_secs(30), || first().is_some()).await, "the bot made a byte");
    let byte = first().unwrap();
    let fan = session_for(sb, "fan").await;
    let c = fan.comment_byte(&format!("byte_{byte}"), &NewComment { content: "love this one".into(), parent_id: None }).await.unwrap();
    let theirs: u64 = c.id.trim_start_matches("cmt_").parse().unwrap();
    let answers = || -> Vec<(u64, Option<u64>, String)> {
        let w = sb.app.world();
        w.comments.values().filter(|c| c.on_byte && c.agent == s.id).map(|c| (c.post, c.parent, c.content.clone())).collect()
    };
    assert!(eventually(Duration::from_secs(30), || !answers().is_empty()).await, "the comment is answered");
    polls_later(sb, 3).await;
    assert_eq!(answers(), [(byte, Some(theirs), "Glad you liked it, @fan".to_string())], "one answer, on the byte, under the comment");
    d.shutdown().await;
    s.stop().await;
}

/// engage with `sources: {bytes: true}` likes and comments on another
/// agent's byte once each, across runs; the post-only actions skip it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engage_likes_and_comments_on_bytes_once() {
    let e = "kind: engage\nname: eng\nevery: 1h\nselect:\n  max_age: 30d\nsources:\n  bytes: true\nactions:\n  like: true\n  amplify: true\n  comment:\n    template: \"Nice short, @{{ author }}\"\n";
    let s = scenario("watcher").behavior("e.yaml", e).metrics().build().await;
    let sb = &s.sb;
    let maker = session_for(sb, "maker").await;
    drop(maker);
    let maker_id = id_of(sb, "maker");
    let seq = {
        let mut w = sb.app.world();
        let seq = w.next_seq();
        let created_ms = chrono::Utc::now().timestamp_millis();
        let rec = imagine_agent::sandbox::world::ByteRec {
            seq,
            agent: maker_id,
            caption: "my first short".into(),
            video_url: "https://example.com/v.mp4".into(),
            likes: Default::default(),
            comment_count: 0,
            created_ms,
        };
        w.bytes.insert(seq, rec);
        seq
    };
    let clock = imagine_agent::clock::Clock::manual(chrono::Utc::now());
    let (stop, task) = s.start_on(&clock);
    let port = s.metrics_port().await;
    let liked = || sb.app.world().bytes[&seq].likes.contains(&s.id);
    assert!(eventually(Duration::from_secs(30), liked).await, "the byte is liked");
    for n in 2..=3 {
        clock.set(clock.now() + chrono::Duration::hours(1));
        assert!(eventually_async(Duration::from_secs(20), || async { runs(port, "eng").await >= Some(n) }).await, "run {n}");
    }
    let comments: Vec<String> =
        sb.app.world().comments.values().filter(|c| c.on_byte && c.post == seq && c.agent == s.id).map(|c| c.content.clone()).collect();
    assert_eq!(comments, ["Nice short, @maker"], "one comment on the byte");
    assert_eq!(received(sb, "POST /api/posts/{id}/amplify"), 0, "amplify is for posts");
    stop.cancel();
    task.await.unwrap();
    s.stop().await;
}

/// A byte whose video is generated for its fire: one job per fire, its result
/// fetched from the platform and uploaded once with purpose byte, and the
/// byte made from that upload (never from another fire's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_is_made_from_a_video_generated_for_its_fire() {
    let b = "kind: byte\nname: dreams\nschedule: \"*/4 * * * * *\"\ngenerate:\n  provider: RUNWARE\n  type: video\n  prompt:\n    text: a lighthouse at dusk\npoll_every: 200ms\ncaption:\n  template: \"dream [{{ fired_at }}]\"\n";
    let s = scenario("dreamer")
        .behavior("b.yaml", b)
        .config("providers:\n  RUNWARE:\n    api_key_file: runware.key\n")
        .sandbox(|c| {
            c.generation_duration = Duration::from_millis(600);
            c.video_processing = Duration::from_millis(200);
        })
        .build()
        .await;
    std::fs::write(s.dir.path().join("runware.key"), "rw-0123456789abcdef0123456789\n").unwrap();
    let sb = &s.sb;
    let d = s.start();
    let made = || -> Vec<String> { sb.app.world().bytes.values().filter(|b| b.agent == s.id).map(|b| b.video_url.clone()).collect() };
    assert!(eventually(Duration::from_secs(40), || made().len() >= 2).await, "two bytes made");
    d.shutdown().await;
    let videos = made();
    let jobs = sb.app.world().jobs.values().filter(|j| j.agent == s.id).count();
    let uploads: Vec<(String, u64, Option<String>)> = {
        let w = sb.app.world();
        w.media.values().filter(|m| m.agent == s.id).map(|m| (m.url.clone(), m.size, m.purpose.clone())).collect()
    };
    assert!(
        uploads.iter().all(|u| u.1 == 64 * 1024 && u.2.as_deref() == Some("byte")),
        "the generated videos, uploaded for bytes: {uploads:?}"
    );
    assert!(jobs >= videos.len() && jobs <= videos.len() + 1, "one job per fire ({jobs} jobs, {} bytes)", videos.len());
    assert_each_upload_used_once(sb, &s.id, &videos, "bytes");
    s.stop().await;
}

/// The emulator holds videos to the reference's lengths: an upload longer
/// than 180 s is refused, and a byte of a video longer than 60 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_longer_than_the_reference_allows_are_refused() {
    use imagine_agent::api::{when_processed, Upload};
    use imagine_agent::wire::types::NewByte;
    use imagine_agent::wire::video::sample_mp4;
    let sb = sandbox(imagine_agent::sandbox::SandboxConfig { video_processing: Duration::from_millis(100), ..quiet_config() }).await;
    let me = session_for(&sb, "filmer").await;
    let clip = |secs: u32| Upload { bytes: sample_mp4(secs), filename: format!("c{secs}.mp4"), content_type: "video/mp4".into() };
    let err = me.upload_video(clip(181), "post").await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(400), Some("video_too_long")), "{err}");
    for (secs, ok) in [(61, false), (60, true)] {
        let m = me.upload_video(clip(secs), "byte").await.unwrap();
        let b = NewByte { caption: format!("{secs} s"), media_id: m.id };
        let made = when_processed(Duration::from_secs(10), || me.create_byte(&b)).await;
        match (made, ok) {
            (Ok(_), true) => {}
            (Err(e), false) => assert_eq!((e.status(), e.code()), (Some(400), Some("video_too_long")), "{e}"),
            (r, _) => panic!("{secs} s: {r:?}"),
        }
    }
    sb.stop().await;
}
