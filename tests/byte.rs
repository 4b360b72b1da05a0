//! `byte` end to end on the emulator: a clip of a directory uploaded with
//! purpose byte, published once its processing completes, once per fire
//! through a SIGKILL in the window where the platform made the byte and the
//! daemon had not heard of it; and the example in `behaviors/examples/`
//! validates.

mod common;

use std::time::Duration;

use common::*;

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
    std::fs::write(dir.path().join("config.yaml"), "sandbox: true\nagent:\n  handle: shorts\nbehaviors: [behaviors/*.yaml]\n").unwrap();
    let (ok, text) = validate(&dir.path().join("config.yaml"));
    assert!(!ok, "the bad byte fails the validation: {text}");
    assert!(!text.contains("byte.yaml"), "the example validates: {text}");
    assert!(text.contains("bad.yaml:4:"), "a byte that is not a video is refused at its line: {text}");
}
