//! The watermark end to end on procedural world clips: embed, encode with kino's H.264
//! encoder, attack, detect.

use kino_media::{PixelFormat, Rational, VideoFrames, VideoQuality};
use kino_provenance::watermark::{
    attack, detect, embed, psnr, DetectOptions, EmbedOptions, Payload, WatermarkKey,
};
use kino_world::{render, simulate, RandomOptions, SceneSpec};
use std::sync::OnceLock;

const SEED: u64 = 1003;

fn world_clip(seed: u64, size: u32, seconds: f32) -> VideoFrames {
    let opts = RandomOptions {
        duration_s: seconds,
        width: size,
        height: size,
        ..RandomOptions::default()
    };
    let spec = SceneSpec::random(seed, &opts).expect("spec");
    render(&spec, &simulate(&spec)).expect("render")
}

fn key() -> WatermarkKey {
    WatermarkKey::from_passphrase("kino tests")
}

fn payload() -> Payload {
    Payload::from_clip_id(0x0042, "clip-7f3a")
}

struct Fixture {
    original: VideoFrames,
    marked: VideoFrames,
    psnr_db: f64,
    /// The marked clip delivered at CRF 23 H.264 (kino's default for frames larger than this
    /// one; for 256x256 it delivers at CRF 18, which keeps more of the mark), decoded again.
    delivered: VideoFrames,
    delivered_bps: u32,
}

/// A 5 s, 256x256, 24 fps world clip, marked and delivered once for all tests.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let original = world_clip(SEED, 256, 5.0);
        let mut marked = original.clone();
        let report = embed(&mut marked, &payload(), &key(), &EmbedOptions::default()).unwrap();
        let (delivered, delivered_bps) = attack::reencode(&marked, VideoQuality::Crf(23)).unwrap();
        Fixture {
            original,
            marked,
            psnr_db: report.psnr_db,
            delivered,
            delivered_bps,
        }
    })
}

fn assert_found(clip: &VideoFrames, what: &str) {
    let d = detect(clip, &key(), &DetectOptions::default()).unwrap();
    eprintln!(
        "{what}: score {:.2} (threshold {:.2}), p {:.1e}, scale {}, shift {:?}, coded-bit errors {:?}",
        d.score, d.threshold, d.p_value, d.scale, d.shift, d.coded_bit_errors
    );
    assert!(d.found, "{what}: not found ({d:?})");
    assert!(d.score >= d.threshold, "{what}: {d:?}");
    assert!(d.p_value < 1e-6, "{what}: {d:?}");
    assert_eq!(d.payload, Some(payload()), "{what}: wrong payload");
}

#[test]
fn round_trip_without_attack_is_invisible_and_exact() {
    let f = fixture();
    assert!(f.psnr_db >= 38.0, "PSNR {:.2} dB", f.psnr_db);
    let measured = psnr(&f.original, &f.marked);
    assert!(
        (measured - f.psnr_db).abs() < 0.01,
        "{measured} vs {}",
        f.psnr_db
    );
    assert_found(&f.marked, "raw frames");
    assert_found(&f.delivered, "CRF 23 encode");
}

#[test]
fn embeds_into_decoded_yuv_frames_too() {
    let f = fixture();
    let mut yuv = f.original.slice(0, 48).to_format(PixelFormat::Yuv420p);
    let report = embed(&mut yuv, &payload(), &key(), &EmbedOptions::default()).unwrap();
    assert!(report.psnr_db >= 38.0, "{report:?}");
    assert_found(&yuv, "YUV 4:2:0 input");
}

#[test]
fn survives_reencode_at_quarter_bitrate() {
    let f = fixture();
    let (low, bps) =
        attack::reencode(&f.delivered, VideoQuality::Bitrate(f.delivered_bps / 4)).unwrap();
    eprintln!(
        "delivered {} bit/s, re-encoded {} bit/s",
        f.delivered_bps, bps
    );
    assert!(
        bps < f.delivered_bps / 3,
        "the re-encode did not lower the bitrate"
    );
    assert_found(&low, "1/4 bitrate re-encode");
}

#[test]
fn survives_half_downscale() {
    let small = attack::resize(&fixture().delivered, 0.5).unwrap();
    assert_eq!((small.width(), small.height()), (128, 128));
    assert_found(&small, "50% downscale");
}

#[test]
fn survives_ten_percent_crops() {
    let d = &fixture().delivered;
    // 5% off each side.
    assert_found(
        &attack::crop(d, 13, 13, 13, 13).unwrap(),
        "crop 5% each side",
    );
    // 10% off one corner's two sides at an odd offset.
    assert_found(&attack::crop(d, 25, 27, 0, 0).unwrap(), "crop 10% left/top");
    // 10% off the right and bottom (the tile origin stays put).
    assert_found(
        &attack::crop(d, 0, 0, 26, 26).unwrap(),
        "crop 10% right/bottom",
    );
}

#[test]
fn survives_two_second_trims() {
    let d = &fixture().delivered;
    let head = attack::trim(d, 2.0, 0.0);
    assert_eq!(head.len(), 72);
    assert_found(&head, "trim 2 s from the start");
    assert_found(&attack::trim(d, 0.0, 2.0), "trim 2 s from the end");
}

#[test]
fn survives_reencode_downscale_and_crop_together() {
    let f = fixture();
    let small = attack::resize(&f.delivered, 0.5).unwrap();
    let cropped = attack::crop(&small, 7, 5, 5, 7).unwrap();
    let trimmed = attack::trim(&cropped, 1.0, 1.0);
    let (low, _) = attack::reencode(&trimmed, VideoQuality::Bitrate(f.delivered_bps / 4)).unwrap();
    assert_found(&low, "downscale + crop + trim + 1/4 bitrate");
}

#[test]
fn wrong_key_finds_nothing() {
    let f = fixture();
    for phrase in ["another key", "kino tests ", ""] {
        let d = detect(
            &f.delivered,
            &WatermarkKey::from_passphrase(phrase),
            &DetectOptions::default(),
        )
        .unwrap();
        assert!(!d.found && d.payload.is_none(), "key {phrase:?}: {d:?}");
        // The score alone stays far from significance (Bonferroni bound over all
        // hypotheses, before any CRC check).
        assert!(d.p_value > 1e-6, "key {phrase:?}: {d:?}");
    }
}

/// 200 unmarked windows: world clips (raw and H.264), noise, gradients. None may be found;
/// no score alone may be significant at 1e-6 (Bonferroni, before the CRC); and the share of
/// windows whose payload is decoded (score over the CRC-aided threshold) must stay near the
/// Gaussian bound. The 10,000-window estimate is the `watermark_fpr` example.
#[test]
fn unmarked_windows_are_not_detected() {
    let opts = DetectOptions::default();
    let k = key();
    let mut windows: Vec<VideoFrames> = Vec::new();
    let plain = fixture().original.clone();
    let (plain_h264, _) = attack::reencode(&plain, VideoQuality::Crf(23)).unwrap();
    for (i, clip) in [&plain, &plain_h264].into_iter().enumerate() {
        for w in 0..40 {
            let start = (w * 3 + i) % (clip.len() - 24);
            windows.push(clip.slice(start, start + 1 + (w % 24)));
        }
    }
    let other = world_clip(77, 128, 2.0);
    for w in 0..40 {
        windows.push(other.slice(w, w + 1 + w % 8));
    }
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let fps = Rational::integer(24).unwrap();
    for w in 0..80u32 {
        let (width, height) = (64 + (rnd() % 160) as u32, 64 + (rnd() % 160) as u32);
        let mut v = VideoFrames::new(width, height, fps, PixelFormat::Rgb8).unwrap();
        let (gx, gy) = ((rnd() % 5) as f32, (rnd() % 5) as f32);
        for _ in 0..1 + w % 4 {
            let mut frame = Vec::with_capacity((width * height * 3) as usize);
            for y in 0..height {
                for x in 0..width {
                    let base = if w % 2 == 0 {
                        0.0
                    } else {
                        gx * x as f32 * 0.3 + gy * y as f32 * 0.3
                    };
                    let noise = (rnd() % 64) as f32 - 32.0;
                    let v = (80.0 + base + noise).clamp(0.0, 255.0) as u8;
                    frame.extend([v, v, v]);
                }
            }
            v.push(&frame).unwrap();
        }
        windows.push(v);
    }
    assert_eq!(windows.len(), 200);
    let mut max_score = f64::MIN;
    let (mut over, mut decodes) = (0usize, 0usize);
    for (i, win) in windows.iter().enumerate() {
        let d = detect(win, &k, &opts).unwrap();
        assert!(!d.found && d.payload.is_none(), "window {i}: {d:?}");
        assert!(d.p_value > 1e-6, "window {i}: {d:?}");
        max_score = max_score.max(d.score);
        over += usize::from(d.score >= d.threshold);
        decodes += d.decodes;
    }
    let bound = opts.hypotheses() * kino_provenance::watermark::gaussian_tail(opts.threshold());
    eprintln!(
        "200 unmarked windows: max score {max_score:.2}; {over} over the threshold {:.2} \
         (bound {:.3} per window), {decodes} decodes, none found",
        opts.threshold(),
        bound
    );
    assert!(
        (over as f64) <= 3.0 * bound * 200.0 + 5.0,
        "{over} windows over"
    );
}
