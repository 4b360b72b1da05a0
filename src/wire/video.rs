//! How long a video is, read from its container: the reference limits a
//! post's video to 180 seconds and a byte to 60. MP4 and QuickTime (ISO base
//! media files) are read with `mp4parse` (Mozilla's parser, made for
//! untrusted files); WebM is not read (its length is unknown here).

/// A post's video, at most (the reference's video upload: "Max 180 seconds").
pub const POST_VIDEO_MAX_SECONDS: f64 = 180.0;
/// A byte, at most ("short-form videos up to 60 seconds").
pub const BYTE_MAX_SECONDS: f64 = 60.0;

/// The length of an MP4 or QuickTime video in seconds: its longest track.
/// None when the bytes are no such container, or name no duration.
pub fn seconds(bytes: &[u8]) -> Option<f64> {
    let ctx = mp4parse::read_mp4(&mut std::io::Cursor::new(bytes)).ok()?;
    ctx.tracks
        .iter()
        .filter_map(|t| {
            let (d, s) = (t.duration?.0, t.timescale?.0);
            (s > 0).then(|| d as f64 / s as f64)
        })
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
}

/// A minimal MP4 of one video track lasting `seconds` (for tests and the emulator's examples).
pub fn sample_mp4(seconds: u32) -> Vec<u8> {
    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }
    let scale: u32 = 1000;
    let duration = seconds * scale;
    let full = |version_flags: u32, rest: &[u8]| -> Vec<u8> { [version_flags.to_be_bytes().as_slice(), rest].concat() };
    let mut mvhd = vec![0u8; 8]; // creation, modification
    mvhd.extend(scale.to_be_bytes());
    mvhd.extend(duration.to_be_bytes());
    mvhd.extend(0x0001_0000u32.to_be_bytes()); // rate 1.0
    mvhd.extend(0x0100u16.to_be_bytes()); // volume 1.0
    mvhd.extend([0u8; 10]);
    for m in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        mvhd.extend(m.to_be_bytes());
    }
    mvhd.extend([0u8; 24]);
    mvhd.extend(2u32.to_be_bytes()); // next track id
    let mut tkhd = vec![0u8; 8];
    tkhd.extend(1u32.to_be_bytes()); // track id
    tkhd.extend([0u8; 4]);
    tkhd.extend(duration.to_be_bytes());
    tkhd.extend([0u8; 16]);
    for m in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        tkhd.extend(m.to_be_bytes());
    }
    tkhd.extend((320u32 << 16).to_be_bytes());
    tkhd.extend((240u32 << 16).to_be_bytes());
    let mut mdhd = vec![0u8; 8];
    mdhd.extend(scale.to_be_bytes());
    mdhd.extend(duration.to_be_bytes());
    mdhd.extend([0x55, 0xc4, 0, 0]); // language und
    let mut hdlr = vec![0u8; 4];
    hdlr.extend(b"vide");
    hdlr.extend([0u8; 12]);
    hdlr.extend(b"video\0");
    let mdia = [boxed(b"mdhd", &full(0, &mdhd)), boxed(b"hdlr", &full(0, &hdlr))].concat();
    let trak = [boxed(b"tkhd", &full(3, &tkhd)), boxed(b"mdia", &mdia)].concat();
    let moov = [boxed(b"mvhd", &full(0, &mvhd)), boxed(b"trak", &trak)].concat();
    let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isommp41");
    [ftyp, boxed(b"moov", &moov)].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_video_s_length_is_read_from_its_container_and_junk_has_none() {
        assert_eq!(seconds(&sample_mp4(61)), Some(61.0));
        assert_eq!(seconds(&sample_mp4(12)), Some(12.0));
        assert_eq!(seconds(b"not a video at all"), None);
        assert_eq!(seconds(&[]), None);
    }
}
