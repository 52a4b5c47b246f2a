//! Bad input gets a clear error naming the file and the problem, never a panic.

mod common;

use common::*;
use kino_media::{
    decode_mp4, decode_mp4_video_prefix, decode_mp4_within, encode_mp4, probe_bytes, read_mp4,
    EncodeOptions, PixelFormat,
};

fn valid_file() -> Vec<u8> {
    let syn = synthetic(64, 48, 24, 24, 48_000, 2);
    encode_mp4(&syn.video, Some(&syn.audio), &EncodeOptions::default())
        .unwrap()
        .0
}

#[test]
fn non_mp4_inputs_are_named_as_such() {
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("text", b"this is not a video at all, just words"),
        (
            "png",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0",
        ),
    ] {
        let err = decode_mp4(bytes, name).unwrap_err().to_string();
        assert!(err.starts_with(name), "{err}");
        assert!(err.contains("MP4"), "{err}");
        assert!(probe_bytes(bytes, name).is_err());
    }
    let missing = read_mp4(std::path::Path::new("/nonexistent/clip.mp4")).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/clip.mp4"),
        "{missing}"
    );
}

#[test]
fn truncated_files_say_they_are_truncated() {
    let bytes = valid_file();
    for pct in [1, 5, 10, 30, 50, 70, 90, 99] {
        let cut = &bytes[..bytes.len() * pct / 100];
        match decode_mp4(cut, "cut.mp4") {
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("cut.mp4"), "{pct}%: {msg}");
            }
            Ok(clip) => panic!("{pct}% of the file decoded to {} frames", clip.video.len()),
        }
    }
    let err = decode_mp4(&bytes[..bytes.len() - 100], "cut.mp4").unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn bit_flips_never_panic() {
    let bytes = valid_file();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..300 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 8 {
            let at = (next() % b.len() as u64) as usize;
            b[at] ^= 1 << (next() % 8);
        }
        match decode_mp4(&b, "flipped.mp4") {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(
                    e.to_string().contains("flipped.mp4")
                        || e.to_string().contains("H.264")
                        || e.to_string().contains("AAC"),
                    "{e}"
                );
                failed += 1
            }
        }
        let _ = probe_bytes(&b, "flipped.mp4");
    }
    assert_eq!(ok + failed, 300);
}

/// A nested box of size 0 used to send the container parser into an endless loop (found by
/// the read_mp4 fuzz target); it is now refused before parsing.
#[test]
fn nested_zero_size_box_is_refused_quickly() {
    let mut bytes = valid_file();
    // Find the mvhd box inside moov and set the size of the box after it to 0.
    let moov = bytes.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let mvhd = moov + 8;
    assert_eq!(&bytes[mvhd + 4..mvhd + 8], b"mvhd");
    let mvhd_size = u32::from_be_bytes(bytes[mvhd..mvhd + 4].try_into().unwrap()) as usize;
    let next = mvhd + mvhd_size;
    bytes[next..next + 4].copy_from_slice(&0u32.to_be_bytes());
    let start = std::time::Instant::now();
    let err = decode_mp4(&bytes, "zero.mp4").unwrap_err().to_string();
    assert!(err.contains("impossible size"), "{err}");
    assert!(start.elapsed().as_secs() < 5);
    // Sizes below the header length are refused too.
    bytes[next..next + 4].copy_from_slice(&4u32.to_be_bytes());
    assert!(decode_mp4(&bytes, "small.mp4").is_err());
}

/// Runs `f` on its own thread and fails the test if it does not finish within 10 s, so a
/// parser that loops forever fails the test instead of hanging it.
fn within_10s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::sync::mpsc::RecvTimeoutError;
    let limit = std::time::Duration::from_secs(10);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("{what} did not finish within {limit:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

/// Offsets of the boxes directly inside `bytes[range]`: (start, size, type).
fn boxes_in(bytes: &[u8], range: std::ops::Range<usize>) -> Vec<(usize, usize, [u8; 4])> {
    let mut out = Vec::new();
    let mut pos = range.start;
    while pos + 8 <= range.end {
        let size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((pos, size, bytes[pos + 4..pos + 8].try_into().unwrap()));
        assert!(size >= 8);
        pos += size;
    }
    out
}

/// (moov start, first trak start, first trak size) in `bytes`.
fn moov_and_trak(bytes: &[u8]) -> (usize, usize, usize) {
    let top = boxes_in(bytes, 0..bytes.len());
    let &(moov, moov_size, _) = top.iter().find(|b| &b.2 == b"moov").unwrap();
    let inner = boxes_in(bytes, moov + 8..moov + moov_size);
    let &(trak, trak_size, _) = inner.iter().find(|b| &b.2 == b"trak").unwrap();
    (moov, trak, trak_size)
}

/// Found by the read_mp4 fuzz target: the `trak` holds a `tkhd` and then a box of type
/// 0x00010000 whose size is 0, inside a `moov` that claims more bytes than the file has.
/// re_mp4 seeks back to that box's own header and reads it again forever; the structure
/// check used to stop at the over-long `moov`. It must now fail fast, naming the box.
#[test]
fn fuzz_found_trak_hang_is_refused_quickly() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/read_mp4-trak-hang.mp4");
    assert!(path.exists(), "{}", path.display());
    let start = std::time::Instant::now();
    let p = path.clone();
    let read = within_10s("read_mp4", move || read_mp4(&p).map(|_| ()));
    let p = path.clone();
    let probed = within_10s("probe", move || kino_media::probe(&p).map(|_| ()));
    for err in [read.unwrap_err(), probed.unwrap_err()] {
        let msg = err.to_string();
        assert!(msg.contains("read_mp4-trak-hang.mp4"), "{msg}");
        assert!(
            msg.contains(
                "box 0x00010000 at byte 6778 inside 'trak' at byte 6678 has an impossible size 0"
            ),
            "{msg}"
        );
    }
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
}

/// The same class built from a valid file: a size-0 box of an unknown type right after the
/// `tkhd` of a track, in a `moov` whose size runs past the end of the file.
#[test]
fn zero_size_box_in_over_long_moov_is_refused_quickly() {
    let mut bytes = valid_file();
    let (moov, trak, _) = moov_and_trak(&bytes);
    let tkhd = trak + 8;
    assert_eq!(&bytes[tkhd + 4..tkhd + 8], b"tkhd");
    let tkhd_size = u32::from_be_bytes(bytes[tkhd..tkhd + 4].try_into().unwrap()) as usize;
    let next = tkhd + tkhd_size;
    // Size 0 and a type re_mp4 skips (a known container of size 0 fails on its own).
    bytes[next..next + 8].copy_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0]);
    let long = (bytes.len() - moov + 16) as u32;
    bytes[moov..moov + 4].copy_from_slice(&long.to_be_bytes());
    let b = bytes.clone();
    let err = within_10s("decode_mp4", move || decode_mp4(&b, "long.mp4").map(|_| ()))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("long.mp4"), "{err}");
    assert!(
        err.contains(&format!("at byte {next} inside 'trak'")),
        "{err}"
    );
    assert!(err.contains("impossible size 0"), "{err}");
    let err = within_10s("probe_bytes", move || {
        probe_bytes(&bytes, "long.mp4").map(|_| ())
    })
    .unwrap_err();
    assert!(err.to_string().contains("impossible size 0"), "{err}");
}

/// Zero bytes after the last child of a container (a QuickTime-style terminator) make
/// re_mp4 read a header of size 0 that straddles the container's end, with the same endless
/// loop; they are refused before parsing.
#[test]
fn stray_bytes_at_the_end_of_a_trak_are_refused_quickly() {
    let mut bytes = valid_file();
    let (_, trak, trak_size) = moov_and_trak(&bytes);
    // Grow the tkhd over the rest of the trak but its last 4 bytes, and zero those.
    let tkhd = trak + 8;
    let trak_end = trak + trak_size;
    let grown = (trak_end - 4 - tkhd) as u32;
    bytes[tkhd..tkhd + 4].copy_from_slice(&grown.to_be_bytes());
    bytes[trak_end - 4..trak_end].fill(0);
    let err = within_10s("decode_mp4", move || {
        decode_mp4(&bytes, "stray.mp4").map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("stray.mp4"), "{err}");
    assert!(
        err.contains(&format!("'trak' at byte {trak} ends with 4 stray byte(s)")),
        "{err}"
    );
}

/// Found by the read_mp4 fuzz target: the audio track's `stsz` gives one size for all samples
/// (0xf8ffffff bytes) and a count of 4294967045, and re_mp4 allocated one entry per sample
/// until memory ran out. Such counts are refused before parsing.
#[test]
fn fuzz_found_stsz_sample_count_is_refused_quickly() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/read_mp4-stsz-oom.mp4");
    let p = path.clone();
    let read = within_10s("read_mp4", move || read_mp4(&p).map(|_| ()));
    let p = path.clone();
    let probed = within_10s("probe", move || kino_media::probe(&p).map(|_| ()));
    for err in [read.unwrap_err(), probed.unwrap_err()] {
        let msg = err.to_string();
        assert!(msg.contains("read_mp4-stsz-oom.mp4"), "{msg}");
        assert!(msg.contains("box 'stsz' at byte 5752"), "{msg}");
        assert!(
            msg.contains("4294967045 samples of 4177526783 byte(s) or more do not fit"),
            "{msg}"
        );
    }
}

/// A container may state any picture size (`tkhd`); the decoding budget counts the pictures
/// as the bitstream decodes them, so a file that claims tiny frames cannot make a budgeted
/// decode keep more than its budget.
#[test]
fn the_decoding_budget_counts_the_real_picture_size() {
    let mut bytes = valid_file();
    let (_, trak, trak_size) = moov_and_trak(&bytes);
    let inner = boxes_in(&bytes, trak + 8..trak + trak_size);
    let &(tkhd, tkhd_size, _) = inner.iter().find(|b| &b.2 == b"tkhd").unwrap();
    // The last 8 bytes of tkhd: width and height, 16.16 fixed point. Claim 8x8.
    let end = tkhd + tkhd_size;
    bytes[end - 8..end - 4].copy_from_slice(&(8u32 << 16).to_be_bytes());
    bytes[end - 4..end].copy_from_slice(&(8u32 << 16).to_be_bytes());
    let info = probe_bytes(&bytes, "lying.mp4").unwrap();
    let video = info.streams.iter().find(|s| s.kind == "video").unwrap();
    assert_eq!((video.width, video.height), (Some(8), Some(8)), "{info:?}");

    let frame = PixelFormat::Yuv420p.frame_len(64, 48);
    let v = decode_mp4_video_prefix(&bytes, "lying.mp4", 3 * frame + frame / 2).unwrap();
    assert_eq!((v.width(), v.height(), v.len()), (64, 48, 3));
    let err = decode_mp4_video_prefix(&bytes, "lying.mp4", frame - 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lying.mp4") && err.contains("budget"), "{err}");
    // Without a budget of its own the whole clip decodes, at its real size.
    let all = decode_mp4_video_prefix(&bytes, "lying.mp4", usize::MAX).unwrap();
    assert_eq!((all.width(), all.height(), all.len()), (64, 48, 24));
    let clip = decode_mp4(&bytes, "lying.mp4").unwrap();
    assert_eq!(clip.video.len(), 24);
    // A server's bounded decode refuses it by its real size, naming the file.
    let err = decode_mp4_within(&bytes, "lying.mp4", 3 * frame)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lying.mp4") && err.contains("64x48"), "{err}");
}

/// The sound counts too: 1 s of stereo AAC is refused under a budget its pictures fit.
#[test]
fn a_bounded_decode_refuses_long_sound() {
    let bytes = valid_file();
    let pictures = PixelFormat::Yuv420p.frame_len(64, 48) * 24;
    let err = decode_mp4_within(&bytes, "clip.mp4", pictures + 1000)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("clip.mp4") && err.contains("sound is too long"),
        "{err}"
    );
    let clip = decode_mp4_within(&bytes, "clip.mp4", 8 << 20).unwrap();
    assert_eq!(clip.video.len(), 24);
    assert!(clip.audio.is_some());
}
