//! Write synthetic clips, read them back, and check structure and audio/video sync.

mod common;

use common::*;
use kino_media::{
    decode_mp4, encode_mp4, probe_bytes, read_mp4, write_mp4, EncodeOptions, VideoQuality,
};

fn check_roundtrip(w: u32, h: u32, fps: u32, frames: usize, rate: u32, channels: u16) {
    let syn = synthetic(w, h, fps, frames, rate, channels);
    let (bytes, summary) = encode_mp4(&syn.video, Some(&syn.audio), &EncodeOptions::default())
        .unwrap_or_else(|e| panic!("{w}x{h}@{fps} {rate}Hz x{channels}: {e}"));
    assert_eq!(summary.frames, frames);
    let clip = decode_mp4(&bytes, "roundtrip").unwrap();
    let label = format!("{w}x{h}@{fps} {rate}Hz x{channels}");
    assert_eq!(clip.video.len(), frames, "{label}: frame count");
    assert_eq!((clip.video.width(), clip.video.height()), (w, h), "{label}");
    assert_eq!(clip.video.fps().as_f64(), fps as f64, "{label}: fps");
    let audio = clip.audio.expect("audio track");
    let frame_s = 1.0 / fps as f64;
    assert!(
        (audio.duration_s() - clip.video.duration_s()).abs() <= frame_s,
        "{label}: audio {} s vs video {} s",
        audio.duration_s(),
        clip.video.duration_s()
    );
    assert_eq!(
        bright_frames(&clip.video),
        syn.flash_frames,
        "{label}: flashes"
    );
    let onsets = click_onsets(&audio);
    assert_eq!(
        onsets.len(),
        syn.flash_frames.len(),
        "{label}: clicks {onsets:?}"
    );
    for (onset, &frame) in onsets.iter().zip(&syn.flash_frames) {
        let flash = frame as f64 * frame_s;
        assert!(
            (onset - flash).abs() <= frame_s,
            "{label}: click at {onset:.4} s, flash at {flash:.4} s"
        );
        // Tighter than the contract: the edit list removes the encoder delay exactly.
        assert!(
            (onset - flash).abs() < 0.003,
            "{label}: offset {:.4}",
            onset - flash
        );
    }
    let info = probe_bytes(&bytes, "roundtrip").unwrap();
    assert!(info.fast_start, "{label}: moov must precede mdat");
    assert_eq!(info.streams.len(), 2);
}

#[test]
fn roundtrip_stereo_48k_24fps() {
    check_roundtrip(160, 96, 24, 60, 48_000, 2);
}

#[test]
fn roundtrip_mono_16k_30fps() {
    check_roundtrip(128, 128, 30, 45, 16_000, 1);
}

#[test]
fn roundtrip_44k_60fps_and_odd_rate_resampled() {
    check_roundtrip(64, 48, 60, 70, 44_100, 2);
    check_roundtrip(64, 48, 8, 20, 22_050, 1);
    check_roundtrip(96, 64, 12, 30, 37_000, 1);
}

fn textured(frames: usize) -> kino_media::VideoFrames {
    let (w, h) = (128u32, 96u32);
    let mut v = kino_media::VideoFrames::new(
        w,
        h,
        kino_media::Rational::integer(24).unwrap(),
        kino_media::PixelFormat::Rgb8,
    )
    .unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..frames {
        let mut img = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let noise = (seed % 48) as u32;
                img.push(((x * 2 + i as u32 * 3) % 200 + noise) as u8);
                img.push(((y * 2) % 200 + noise) as u8);
                img.push(((x + y) % 200 + noise) as u8);
            }
        }
        v.push(&img).unwrap();
    }
    v
}

fn psnr(a: &kino_media::VideoFrames, b: &kino_media::VideoFrames) -> f64 {
    let mut se = 0.0f64;
    let mut n = 0usize;
    for i in 0..a.len() {
        for (x, y) in a.frame_rgb(i).unwrap().iter().zip(b.frame_rgb(i).unwrap()) {
            se += (*x as f64 - y as f64).powi(2);
            n += 1;
        }
    }
    10.0 * (255.0f64 * 255.0 / (se / n as f64)).log10()
}

#[test]
fn video_only_and_quality_controls() {
    let video = textured(12);
    let encode = |quality| {
        encode_mp4(
            &video,
            None,
            &EncodeOptions {
                video_quality: quality,
                ..Default::default()
            },
        )
        .unwrap()
        .0
    };
    let (low, high) = (encode(VideoQuality::Crf(40)), encode(VideoQuality::Crf(16)));
    assert!(
        high.len() > low.len() * 3 / 2,
        "{} vs {}",
        high.len(),
        low.len()
    );
    let (low_clip, high_clip) = (
        decode_mp4(&low, "low").unwrap(),
        decode_mp4(&high, "high").unwrap(),
    );
    assert!(high_clip.audio.is_none());
    assert_eq!(high_clip.video.len(), 12);
    let (p_low, p_high) = (
        psnr(&video, &low_clip.video),
        psnr(&video, &high_clip.video),
    );
    assert!(
        p_high > 30.0 && p_high > p_low + 5.0,
        "PSNR {p_low:.1} vs {p_high:.1}"
    );
    // The default picks its quantiser by frame size: these frames are small (at most
    // 256x256 pixels), so it encodes exactly as CRF 18, not as the larger frames' CRF 23.
    assert!(video.width() * video.height() <= 256 * 256);
    let auto = encode(VideoQuality::default());
    assert!(auto == encode(VideoQuality::Crf(18)));
    assert!(auto != encode(VideoQuality::Crf(23)));
    assert_eq!(
        VideoQuality::Auto.for_frame(257, 256),
        VideoQuality::Crf(23)
    );
    assert_eq!(
        VideoQuality::Auto.for_frame(128, 128),
        VideoQuality::Crf(18)
    );
    assert_eq!(
        VideoQuality::Crf(30).for_frame(128, 128),
        VideoQuality::Crf(30)
    );
    // Bitrate mode lands near its target (within a factor of two over 12 frames).
    let target = 400_000;
    let sized = encode(VideoQuality::Bitrate(target));
    let bps = sized.len() as f64 * 8.0 / video.duration_s();
    assert!(
        bps < target as f64 * 2.0 && bps > target as f64 / 4.0,
        "{bps} bit/s"
    );
}

#[test]
fn rejects_what_it_cannot_encode() {
    let syn = synthetic(64, 48, 24, 4, 48_000, 1);
    let odd = kino_media::VideoFrames::new(63, 48, syn.video.fps(), kino_media::PixelFormat::Rgb8)
        .unwrap();
    let err = encode_mp4(&odd, None, &EncodeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no frames"), "{err}");
    let mut odd = odd;
    odd.push(&vec![0u8; 63 * 48 * 3]).unwrap();
    let err = encode_mp4(&odd, None, &EncodeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("even"), "{err}");
    let slow = kino_media::VideoFrames::from_data(
        64,
        48,
        kino_media::Rational::integer(5).unwrap(),
        kino_media::PixelFormat::Rgb8,
        vec![0; 64 * 48 * 3],
    )
    .unwrap();
    let err = encode_mp4(&slow, None, &EncodeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("8..=60"), "{err}");
}

#[test]
fn write_is_atomic_and_readable_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let syn = synthetic(64, 64, 24, 12, 48_000, 2);
    let summary = write_mp4(
        &path,
        &syn.video,
        Some(&syn.audio),
        &EncodeOptions::default(),
    )
    .unwrap();
    assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());
    let clip = read_mp4(&path).unwrap();
    assert_eq!(clip.video.len(), 12);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}
