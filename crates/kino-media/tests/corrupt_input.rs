//! Bad input gets a clear error naming the file and the problem, never a panic.

mod common;

use common::*;
use kino_media::{decode_mp4, encode_mp4, probe_bytes, read_mp4, EncodeOptions};

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
