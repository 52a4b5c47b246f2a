//! ffmpeg as an independent checker: it must decode our files without a word of complaint,
//! and we must read what it writes (x264 High profile with B-frames, AAC with an edit list).
//! `.ci/run` sets KINO_REQUIRE_FFMPEG=1 so these cannot silently skip in CI.

mod common;

use common::*;
use kino_media::{read_mp4, write_mp4, EncodeOptions};
use std::process::Command;

fn ffmpeg_available() -> bool {
    let ok = have("ffmpeg") && have("ffprobe");
    if !ok && std::env::var("KINO_REQUIRE_FFMPEG").is_ok_and(|v| v == "1") {
        panic!("KINO_REQUIRE_FFMPEG=1 but ffmpeg/ffprobe are not on PATH");
    }
    if !ok {
        eprintln!("skipping: ffmpeg/ffprobe not installed");
    }
    ok
}

fn probe_json(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ffmpeg_decodes_our_files_cleanly() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (w, h, fps, rate, ch) in [(320, 180, 24, 48_000, 2), (128, 128, 30, 16_000, 1)] {
        let syn = synthetic(w, h, fps, fps as usize * 2, rate, ch);
        let path = dir.path().join(format!("{w}x{h}.mp4"));
        write_mp4(
            &path,
            &syn.video,
            Some(&syn.audio),
            &EncodeOptions::default(),
        )
        .unwrap();
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "ffmpeg complained"
        );
        let info = probe_json(&path);
        let streams = info["streams"].as_array().unwrap();
        let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
        let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
        assert_eq!(video["codec_name"], "h264");
        assert_eq!(video["pix_fmt"], "yuv420p");
        assert_eq!(video["width"], w);
        assert_eq!(video["nb_frames"], (fps * 2).to_string());
        assert_eq!(audio["codec_name"], "aac");
        assert_eq!(audio["profile"], "LC");
        assert_eq!(audio["sample_rate"], rate.to_string());
        assert_eq!(audio["channels"], ch);
        let vd: f64 = video["duration"].as_str().unwrap().parse().unwrap();
        let ad: f64 = audio["duration"].as_str().unwrap().parse().unwrap();
        assert!((vd - 2.0).abs() < 1e-3, "video {vd}");
        assert!(
            (ad - vd).abs() <= 1.0 / fps as f64,
            "audio {ad} vs video {vd}"
        );

        // ffmpeg's own decode of our audio puts each click on its flash.
        let wav = dir.path().join("a.wav");
        let st = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&path)
            .arg(&wav)
            .status()
            .unwrap();
        assert!(st.success());
        let audio = kino_media::read_wav(&wav).unwrap();
        let onsets = click_onsets(&audio);
        assert_eq!(onsets.len(), syn.flash_frames.len());
        for (t, &f) in onsets.iter().zip(&syn.flash_frames) {
            let flash = f as f64 / fps as f64;
            assert!(
                (t - flash).abs() < 0.003,
                "ffmpeg: click {t:.4} vs flash {flash:.4}"
            );
        }
    }
}

#[test]
fn reads_ffmpeg_x264_high_profile_with_b_frames() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x264.mp4");
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=2",
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-bf",
            "3",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-shortest",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    let info = probe_json(&path);
    assert_eq!(info["streams"][0]["profile"], "High");
    let clip = read_mp4(&path).unwrap();
    assert_eq!(clip.video.len(), 50);
    assert_eq!((clip.video.width(), clip.video.height()), (320, 240));
    assert_eq!(clip.video.fps().as_f64(), 25.0);
    let audio = clip.audio.unwrap();
    assert_eq!(audio.sample_rate(), 44_100);
    assert!(
        (audio.duration_s() - 2.0).abs() < 0.05,
        "{}",
        audio.duration_s()
    );

    // Budgets with pictures held back for reordering (released at the flush): a prefix
    // keeps exactly what fits, and a bounded decode that cannot hold all 50 refuses.
    let bytes = std::fs::read(&path).unwrap();
    let frame = kino_media::PixelFormat::Yuv420p.frame_len(320, 240);
    for n in [1, 7, 49] {
        let v = kino_media::decode_mp4_video_prefix(&bytes, "x264.mp4", n * frame).unwrap();
        assert_eq!(v.len(), n);
        assert_eq!(v.frame(n - 1), clip.video.frame(n - 1));
    }
    let err = kino_media::decode_mp4_within(&bytes, "x264.mp4", 49 * frame + frame / 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("frames of 320x240"), "{err}");

    // Display order: compare our decode with ffmpeg's frame by frame.
    let raw = dir.path().join("frames.rgb");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .arg(&raw)
        .status()
        .unwrap();
    assert!(st.success());
    let reference = std::fs::read(&raw).unwrap();
    let frame_len = clip.video.frame_len();
    assert_eq!(reference.len(), frame_len * 50);
    for i in 0..50 {
        let ours = clip.video.frame(i).unwrap();
        let theirs = &reference[i * frame_len..(i + 1) * frame_len];
        let diff = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| (*a as i32 - *b as i32).unsigned_abs() as u64)
            .sum::<u64>() as f64
            / frame_len as f64;
        assert!(diff < 1.0, "frame {i}: mean abs diff {diff}");
    }
    // And the sine is a sine: energy at 440 Hz.
    let s = audio.to_mono();
    let n = 4410usize;
    let seg = &s.samples()[22_050..22_050 + n];
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (k, v) in seg.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * 440.0 * k as f64 / 44_100.0;
        re += *v as f64 * ph.cos();
        im += *v as f64 * ph.sin();
    }
    let amp = 2.0 * (re * re + im * im).sqrt() / n as f64;
    assert!(amp > 0.05, "440 Hz amplitude {amp}");
}
