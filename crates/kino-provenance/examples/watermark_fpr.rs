//! Empirical false-positive rate of the watermark detector on unmarked windows.
//!
//! cargo run --release -p kino-provenance --example watermark_fpr -- [windows]
//!
//! A third of the windows are random runs of frames from unmarked procedural world clips,
//! a third from camera moves (pans and zooms) over ten photographs (`examples/photos/`,
//! public domain or CC0), both raw and after a CRF 23 H.264 round trip, some cropped or
//! downscaled; the last third are synthetic: white and blurred noise, gradients, stripes,
//! checkerboards, value-noise textures, at random sizes. For each window the detector reports its best score (the
//! maximum over 128*128*scales hypotheses). The example prints how many windows were "found"
//! (must be 0), how many reached the threshold, and the empirical tail of the best score next
//! to the Bonferroni-Gaussian bound the threshold is derived from, so the extrapolation to
//! 1e-6 can be judged.
//!
//! The claim check (`check_claim`: "is this the mark of payload P?") is measured twice: on
//! every window against a random claim (unmarked video; bound `2 exp(-z^2/2)`), and against
//! *other clips' marks*: marked and delivered world clips checked against random other clip
//! hashes of the same generator, and the ideal case of a noiseless mark, where the statistic
//! is `(n - 2d) / sqrt(n)` for the codeword distance `d` over the n tested coded bits,
//! sampled over random pairs of clip hashes (CLAIM_PAIRS, default 2^24).
//!
//! `FPR_KEY=PASSPHRASE` uses another watermark key on the same windows, and
//! `FPR_FORCED_ONLY=1` runs only the forced-decode check (the CRC pass rate of decodes of
//! every candidate, which should be 2^-16 per decode); `FPR_SEED=N` draws other windows.

use kino_media::{PixelFormat, Rational, VideoFrames, VideoQuality};
use kino_provenance::watermark::{
    attack, check_claim, crc_pass_probability, decode_pass_allowance, detect, embed, gaussian_tail,
    DetectOptions, EmbedOptions, Payload, WatermarkKey, CLAIM_CODED_BITS, CLAIM_HYPOTHESES,
    CODED_BITS, GENERATOR_CODED_BITS, PEAKS_PER_SCALE,
};
use kino_world::{render, simulate, RandomOptions, SceneSpec};
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn world_clip(seed: u64, w: u32, h: u32) -> VideoFrames {
    let opts = RandomOptions {
        duration_s: 4.0,
        width: w,
        height: h,
        ..RandomOptions::default()
    };
    let spec = SceneSpec::random(seed, &opts).expect("spec");
    render(&spec, &simulate(&spec)).expect("render")
}

/// A `frames`-long `w` x `h` camera move over `photo`: the view pans in a straight line
/// between two random places and zooms between two random scales (1 = the photo's own
/// pixels, up to as much of the photo as fits).
fn pan_clip(photo: &image::RgbImage, w: u32, h: u32, frames: usize, rng: &mut Rng) -> VideoFrames {
    let (pw, ph) = photo.dimensions();
    let max_zoom = (pw as f32 / w as f32).min(ph as f32 / h as f32);
    assert!(max_zoom >= 1.0, "photo {pw}x{ph} smaller than {w}x{h}");
    let zoom = [
        1.0 + rng.unit() * (max_zoom - 1.0),
        1.0 + rng.unit() * (max_zoom - 1.0),
    ];
    let (c0, c1) = (rng.unit(), rng.unit());
    let (d0, d1) = (rng.unit(), rng.unit());
    let mut v = VideoFrames::new(w, h, Rational::integer(24).unwrap(), PixelFormat::Rgb8).unwrap();
    for k in 0..frames {
        let t = k as f32 / (frames - 1).max(1) as f32;
        let z = zoom[0] + (zoom[1] - zoom[0]) * t;
        let (cw, ch) = (
            ((w as f32 * z) as u32).clamp(w, pw),
            ((h as f32 * z) as u32).clamp(h, ph),
        );
        let x = ((c0 + (c1 - c0) * t) * (pw - cw) as f32) as u32;
        let y = ((d0 + (d1 - d0) * t) * (ph - ch) as f32) as u32;
        let view = image::imageops::crop_imm(photo, x, y, cw, ch).to_image();
        let frame = image::imageops::resize(&view, w, h, image::imageops::FilterType::Triangle);
        v.push(frame.as_raw()).unwrap();
    }
    v
}

/// A random run of 1-48 frames of one of `clips`; a quarter are cropped by 0-15 px per
/// side, a quarter downscaled by 0.5-1.0.
fn window_of(clips: &[VideoFrames], rng: &mut Rng) -> VideoFrames {
    let clip = &clips[rng.below(clips.len() as u64) as usize];
    let len = 1 + rng.below(48) as usize;
    let start = rng.below((clip.len() - len) as u64 + 1) as usize;
    let mut win = clip.slice(start, start + len);
    match rng.below(4) {
        0 => {
            let (l, t) = (rng.below(16) as u32, rng.below(16) as u32);
            win =
                attack::crop(&win, l, t, rng.below(16) as u32, rng.below(16) as u32).expect("crop");
        }
        1 => win = attack::resize(&win, 0.5 + rng.unit() * 0.5).expect("resize"),
        _ => {}
    }
    win
}

/// One synthetic frame of kind `kind`.
fn synthetic(kind: u64, w: u32, h: u32, rng: &mut Rng) -> Vec<u8> {
    let (wu, hu) = (w as usize, h as usize);
    let mut luma = vec![0.0f32; wu * hu];
    let (a, b, c) = (rng.unit(), rng.unit(), rng.unit());
    match kind {
        0 => luma.iter_mut().for_each(|v| *v = rng.unit() * 255.0),
        1 => {
            // Blurred noise (correlated, like sensor noise after a codec).
            let noise: Vec<f32> = (0..wu * hu).map(|_| rng.unit() * 255.0).collect();
            for y in 0..hu {
                for x in 0..wu {
                    let mut s = 0.0;
                    let mut n = 0.0;
                    for dy in 0..3 {
                        for dx in 0..3 {
                            let (xx, yy) = ((x + dx).min(wu - 1), (y + dy).min(hu - 1));
                            s += noise[yy * wu + xx];
                            n += 1.0;
                        }
                    }
                    luma[y * wu + x] = s / n;
                }
            }
        }
        2 => {
            for y in 0..hu {
                for x in 0..wu {
                    luma[y * wu + x] = 255.0
                        * (a * x as f32 / wu as f32 + b * y as f32 / hu as f32)
                        / (a + b + 1e-3)
                        + 8.0 * (rng.unit() - 0.5);
                }
            }
        }
        3 => {
            // Stripes at a random period and angle.
            let period = 3.0 + 40.0 * a;
            let (dx, dy) = (
                (b * std::f32::consts::TAU).cos(),
                (b * std::f32::consts::TAU).sin(),
            );
            for y in 0..hu {
                for x in 0..wu {
                    let t = (x as f32 * dx + y as f32 * dy) / period * std::f32::consts::TAU
                        + c * std::f32::consts::TAU;
                    luma[y * wu + x] = 128.0 + 100.0 * t.sin();
                }
            }
        }
        4 => {
            // Checkerboard / blocks, like a badly compressed or tiled picture.
            let cell = 2 + (a * 30.0) as usize;
            for y in 0..hu {
                for x in 0..wu {
                    luma[y * wu + x] = if (x / cell + y / cell).is_multiple_of(2) {
                        40.0
                    } else {
                        210.0
                    };
                }
            }
        }
        _ => {
            // Value noise over three octaves: a cloudy natural-looking texture.
            let octaves = [(8usize, 1.0f32), (24, 0.5), (64, 0.25)];
            for &(cell, amp) in &octaves {
                let gw = wu / cell + 2;
                let gh = hu / cell + 2;
                let grid: Vec<f32> = (0..gw * gh).map(|_| rng.unit()).collect();
                for y in 0..hu {
                    for x in 0..wu {
                        let (fx, fy) = (x as f32 / cell as f32, y as f32 / cell as f32);
                        let (ix, iy) = (fx as usize, fy as usize);
                        let (tx, ty) = (fx - ix as f32, fy - iy as f32);
                        let g = |i: usize, j: usize| grid[j * gw + i];
                        let top = g(ix, iy) * (1.0 - tx) + g(ix + 1, iy) * tx;
                        let bot = g(ix, iy + 1) * (1.0 - tx) + g(ix + 1, iy + 1) * tx;
                        luma[y * wu + x] += amp * 150.0 * (top * (1.0 - ty) + bot * ty);
                    }
                }
            }
        }
    }
    let tint = [0.9 + 0.2 * a, 1.0, 0.9 + 0.2 * c];
    let mut out = Vec::with_capacity(wu * hu * 3);
    for v in luma {
        for t in tint {
            out.push((v * t).clamp(0.0, 255.0) as u8);
        }
    }
    out
}

fn main() {
    let windows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15_000);
    let opts = DetectOptions::default();
    let threshold = opts.threshold();
    // The same detector made to decode (nearly) every candidate, to check that a random
    // decode passes the CRC at the rate 2^-16 the threshold assumes.
    let all = DetectOptions {
        false_positive_rate: 1e3,
        ..DetectOptions::default()
    };
    let hyp = opts.hypotheses();
    // FPR_KEY=PASSPHRASE: another key on the same windows (the forced-decode CRC pass rate
    // is uniform only on average over keys); FPR_FORCED_ONLY=1: only the forced decodes.
    let passphrase = std::env::var("FPR_KEY").unwrap_or_else(|_| "kino fpr example".into());
    let forced_only = std::env::var_os("FPR_FORCED_ONLY").is_some();
    let key = WatermarkKey::from_passphrase(&passphrase);
    let t0 = Instant::now();
    // FPR_SEED=N: another stream of windows (and of photo camera moves).
    let seed = std::env::var("FPR_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xF00D);
    let mut rng = Rng(seed);

    // Unmarked world clips: 16 scenes at a few sizes, each raw and after CRF 23 H.264.
    let sizes = [(128, 128), (192, 108), (256, 144), (160, 160)];
    let mut clips = Vec::new();
    for seed in 0..16u64 {
        let (w, h) = sizes[seed as usize % sizes.len()];
        let clip = world_clip(5000 + seed, w, h);
        let (h264, _) = attack::reencode(&clip, VideoQuality::Crf(23)).expect("encode");
        clips.push(clip);
        clips.push(h264);
    }
    // Camera moves over the photographs: two per photo at two of the sizes, each raw and
    // after CRF 23 H.264.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/photos");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/photos")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    names.sort();
    let mut photo_clips = Vec::new();
    for (i, path) in names.iter().enumerate() {
        let photo = image::open(path).expect("photo").to_rgb8();
        for j in 0..2 {
            let (w, h) = sizes[(2 * i + j) % sizes.len()];
            let clip = pan_clip(&photo, w, h, 48, &mut rng);
            let (h264, _) = attack::reencode(&clip, VideoQuality::Crf(23)).expect("encode");
            photo_clips.push(clip);
            photo_clips.push(h264);
        }
    }
    eprintln!(
        "rendered {} world and {} photo clips ({} photos) in {:.1} s",
        clips.len(),
        photo_clips.len(),
        names.len(),
        t0.elapsed().as_secs_f64()
    );

    let fps = Rational::integer(24).unwrap();
    let mut scores = Vec::with_capacity(windows);
    let mut found = 0usize;
    let (mut decodes, mut decoded_windows) = (0usize, 0usize);
    let (mut forced_decodes, mut forced_passes) = (0usize, 0usize);
    let (mut world_max, mut photo_max, mut synthetic_max) = (f64::MIN, f64::MIN, f64::MIN);
    let mut claim_scores = Vec::with_capacity(windows);
    let mut claims_confirmed = 0usize;
    // Windows whose forced decode passed the CRC: (window, source, size, frames, payload).
    let mut forced_found = Vec::new();
    for i in 0..windows {
        let mut source = String::new();
        let win = if i % 3 == 0 {
            source.push_str("world");
            window_of(&clips, &mut rng)
        } else if i % 3 == 1 {
            source.push_str("photo");
            window_of(&photo_clips, &mut rng)
        } else {
            let (w, h) = (48 + rng.below(200) as u32, 48 + rng.below(200) as u32);
            let kind = rng.below(6);
            source = format!("synthetic kind {kind}");
            let mut v = VideoFrames::new(w, h, fps, PixelFormat::Rgb8).unwrap();
            for _ in 0..1 + rng.below(4) {
                v.push(&synthetic(kind, w, h, &mut rng)).unwrap();
            }
            v
        };
        let claim = Payload::new(0x4B49, rng.next() as u32);
        let f = detect(&win, &key, &all).expect("detect");
        forced_decodes += f.decodes;
        forced_passes += usize::from(f.found);
        if f.found {
            forced_found.push(format!(
                "window {i}: {source}, {}x{}, {} frames, {} at scale {} (score {:.2}, {} decodes)",
                win.width(),
                win.height(),
                win.len(),
                f.payload.map(|p| p.to_string()).unwrap_or_default(),
                f.scale,
                f.score,
                f.decodes
            ));
        }
        if forced_only {
            continue;
        }
        let d = detect(&win, &key, &opts).expect("detect");
        found += usize::from(d.found);
        decodes += d.decodes;
        decoded_windows += usize::from(d.decodes > 0);
        let c = check_claim(&win, &key, &claim, &opts).expect("check_claim");
        claims_confirmed += usize::from(c.confirmed);
        claim_scores.push(c.score);
        match i % 3 {
            0 => world_max = world_max.max(d.score),
            1 => photo_max = photo_max.max(d.score),
            _ => synthetic_max = synthetic_max.max(d.score),
        }
        scores.push(d.score);
    }
    let p_crc = crc_pass_probability();
    if forced_only {
        println!(
            "key '{passphrase}', seed {seed}, {windows} windows, {:.1} s; forced decodes (threshold {:.2}): \
             {forced_decodes}, CRC passes {forced_passes} (expected {:.2} at 2^-16)",
            t0.elapsed().as_secs_f64(),
            all.threshold(),
            forced_decodes as f64 * p_crc
        );
        for line in &forced_found {
            println!("  forced CRC pass: {line}");
        }
        return;
    }
    let n = scores.len() as f64;
    let over = scores.iter().filter(|&&s| s >= threshold).count();
    println!(
        "windows: {} ({} from world clips, {} from photographs, {} synthetic), {:.1} s",
        scores.len(),
        windows.div_ceil(3),
        (windows + 1) / 3,
        windows / 3,
        t0.elapsed().as_secs_f64()
    );
    println!(
        "hypotheses per window: {hyp}, threshold {threshold:.3} (for a per-clip rate of {:.0e})",
        opts.false_positive_rate
    );
    println!(
        "found: {found} / {}; score >= threshold: {over}",
        scores.len()
    );
    println!(
        "max score: world {world_max:.3}, photographs {photo_max:.3}, synthetic {synthetic_max:.3}"
    );
    println!("{:>6} {:>12} {:>14}", "score", "empirical", "bound n*Q(z)");
    for z in [3.5, 4.0, 4.5, 5.0, 5.5, 6.0, threshold] {
        let emp = scores.iter().filter(|&&s| s >= z).count() as f64 / n;
        println!(
            "{z:>6.2} {emp:>12.2e} {:>14.2e}",
            (hyp * gaussian_tail(z)).min(1.0)
        );
    }
    // With zero exceedances in n windows the 95% upper confidence bound is 3/n (rule of three).
    if over == 0 {
        println!(
            "empirical rate of score >= threshold: 0 (95% upper bound {:.2e})",
            3.0 / n
        );
    } else {
        println!(
            "empirical rate of score >= threshold: {:.2e}",
            over as f64 / n
        );
    }
    println!(
        "payload decodes at the threshold: {decodes} in {decoded_windows} windows ({:.2e} per window, \
         at most {PEAKS_PER_SCALE} per scale); each passes the CRC with probability {p_crc:.2e}",
        decodes as f64 / n
    );
    println!(
        "forced decodes (threshold {:.2}): {forced_decodes}, CRC passes {forced_passes} \
         (expected {:.2} at 2^-16)",
        all.threshold(),
        forced_decodes as f64 * p_crc
    );
    for line in &forced_found {
        println!("  forced CRC pass: {line}");
    }
    println!(
        "false-positive rate of found: measured {:.2e} decodes per window x 2^-16 = {:.2e}; \
         bound n*Q(threshold)*2^-16 = {:.2e} (the threshold allows twice 2^-16 per decode: {:.2e})",
        decodes as f64 / n,
        decodes as f64 / n * p_crc,
        (hyp * gaussian_tail(threshold) * p_crc).min(1.0),
        (hyp * gaussian_tail(threshold) * decode_pass_allowance()).min(1.0)
    );

    // The claim check on the same windows, each against a random claim.
    let ct = opts.claim_threshold();
    let claim_max = claim_scores.iter().cloned().fold(f64::MIN, f64::max);
    println!(
        "claim check on unmarked windows: confirmed {claims_confirmed} / {}; max score {claim_max:.3} \
         (threshold {ct:.3})",
        claim_scores.len()
    );
    println!(
        "{:>6} {:>12} {:>20}",
        "score", "empirical", "bound 2 exp(-z^2/2)"
    );
    for z in [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, ct] {
        let emp = claim_scores.iter().filter(|&&s| s >= z).count() as f64 / n;
        println!(
            "{z:>6.2} {emp:>12.2e} {:>20.2e}",
            (CLAIM_HYPOTHESES as f64 * (-z * z / 2.0).exp()).min(1.0)
        );
    }
    other_clips(&key, &opts, &mut rng);
}

/// The claim check against other clips' marks of the same generator.
fn other_clips(key: &WatermarkKey, opts: &DetectOptions, rng: &mut Rng) {
    let t0 = Instant::now();
    let ct = opts.claim_threshold();
    // Real marks: world clips marked at strength 3 and delivered at CRF 23, each checked
    // against random other clip hashes.
    let (clips, per_clip) = (8u64, 500usize);
    let (mut confirmed, mut checks, mut max) = (0usize, 0usize, f64::MIN);
    for seed in 0..clips {
        let mut clip = world_clip(6000 + seed, 128, 128);
        let own = Payload::new(0x4B49, rng.next() as u32);
        embed(&mut clip, &own, key, &EmbedOptions::default()).expect("embed");
        let (delivered, _) = attack::reencode(&clip, VideoQuality::Crf(23)).expect("encode");
        let own_check = check_claim(&delivered, key, &own, opts).expect("check_claim");
        assert!(
            own_check.confirmed,
            "own claim of clip {seed}: {own_check:?}"
        );
        for _ in 0..per_clip {
            let other = Payload::new(0x4B49, rng.next() as u32);
            if other == own {
                continue;
            }
            let c = check_claim(&delivered, key, &other, opts).expect("check_claim");
            confirmed += usize::from(c.confirmed);
            checks += 1;
            max = max.max(c.score);
        }
    }
    println!(
        "other clips' marks (128x128 world clips, strength 3, CRF 23): confirmed {confirmed} / \
         {checks}; max score {max:.3}; {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // Noiseless marks: Z = (n - 2d) / sqrt(n) over random pairs of clip hashes.
    let pairs: u64 = std::env::var("CLAIM_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 24);
    let t0 = Instant::now();
    let n = CLAIM_CODED_BITS as f64;
    let mut hist = vec![0u64; CLAIM_CODED_BITS + 1];
    for _ in 0..pairs {
        let r = rng.next();
        let (a, b) = (r as u32, (r >> 32) as u32);
        if a == b {
            continue;
        }
        let ca = Payload::new(0x4B49, a).coded_bits();
        let cb = Payload::new(0x4B49, b).coded_bits();
        let d = ca[GENERATOR_CODED_BITS..CODED_BITS]
            .iter()
            .zip(&cb[GENERATOR_CODED_BITS..CODED_BITS])
            .filter(|(x, y)| x != y)
            .count();
        hist[d] += 1;
    }
    let d_max = ((n - ct * n.sqrt()) / 2.0).floor() as usize;
    let within: u64 = hist[..=d_max].iter().sum();
    let d_min = hist.iter().position(|&c| c > 0).unwrap_or(0);
    println!(
        "noiseless other-clip marks: {pairs} random pairs of clip hashes, codeword distance over \
         {CLAIM_CODED_BITS} bits: min {d_min}, confirmed (d <= {d_max}) {within} ({:.2e}); {:.1} s",
        within as f64 / pairs as f64,
        t0.elapsed().as_secs_f64()
    );
    let rows: Vec<String> = (d_min..d_min + 12)
        .filter(|&d| d <= CLAIM_CODED_BITS)
        .map(|d| format!("d={d}: {}", hist[d]))
        .collect();
    println!("  lowest distances: {}", rows.join(", "));
}
