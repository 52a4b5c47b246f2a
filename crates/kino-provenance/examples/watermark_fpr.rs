//! Empirical false-positive rate of the watermark detector on unmarked windows.
//!
//! cargo run --release -p kino-provenance --example watermark_fpr -- [windows]
//!
//! Half the windows are random runs of frames from unmarked procedural world clips
//! (raw renders and CRF 23 H.264 round trips, some cropped or downscaled); the other half
//! are synthetic: white and blurred noise, gradients, stripes, checkerboards, value-noise
//! textures, at random sizes. For each window the detector reports its best score (the
//! maximum over 64*64*scales hypotheses). The example prints how many windows were "found"
//! (must be 0), how many reached the threshold, and the empirical tail of the best score next
//! to the Bonferroni-Gaussian bound the threshold is derived from, so the extrapolation to
//! 1e-6 can be judged.

use kino_media::{PixelFormat, Rational, VideoFrames, VideoQuality};
use kino_provenance::watermark::{
    attack, crc_pass_probability, detect, gaussian_tail, DetectOptions, WatermarkKey,
    PEAKS_PER_SCALE,
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
        .unwrap_or(10_000);
    let opts = DetectOptions::default();
    let threshold = opts.threshold();
    // The same detector made to decode (nearly) every candidate, to check that a random
    // decode passes the CRC at the rate 2^-16 the threshold assumes.
    let all = DetectOptions {
        false_positive_rate: 1e3,
        ..DetectOptions::default()
    };
    let hyp = opts.hypotheses();
    let key = WatermarkKey::from_passphrase("kino fpr example");
    let t0 = Instant::now();
    let mut rng = Rng(0xF00D);

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
    eprintln!(
        "rendered {} clips in {:.1} s",
        clips.len(),
        t0.elapsed().as_secs_f64()
    );

    let fps = Rational::integer(24).unwrap();
    let mut scores = Vec::with_capacity(windows);
    let mut found = 0usize;
    let (mut decodes, mut decoded_windows) = (0usize, 0usize);
    let (mut forced_decodes, mut forced_passes) = (0usize, 0usize);
    let (mut natural_max, mut synthetic_max) = (f64::MIN, f64::MIN);
    for i in 0..windows {
        let win = if i % 2 == 0 {
            let clip = &clips[rng.below(clips.len() as u64) as usize];
            let len = 1 + rng.below(48) as usize;
            let start = rng.below((clip.len() - len) as u64 + 1) as usize;
            let mut win = clip.slice(start, start + len);
            match rng.below(4) {
                0 => {
                    let (l, t) = (rng.below(16) as u32, rng.below(16) as u32);
                    win = attack::crop(&win, l, t, rng.below(16) as u32, rng.below(16) as u32)
                        .expect("crop");
                }
                1 => win = attack::resize(&win, 0.5 + rng.unit() * 0.5).expect("resize"),
                _ => {}
            }
            win
        } else {
            let (w, h) = (48 + rng.below(200) as u32, 48 + rng.below(200) as u32);
            let kind = rng.below(6);
            let mut v = VideoFrames::new(w, h, fps, PixelFormat::Rgb8).unwrap();
            for _ in 0..1 + rng.below(4) {
                v.push(&synthetic(kind, w, h, &mut rng)).unwrap();
            }
            v
        };
        let d = detect(&win, &key, &opts).expect("detect");
        found += usize::from(d.found);
        decodes += d.decodes;
        decoded_windows += usize::from(d.decodes > 0);
        let f = detect(&win, &key, &all).expect("detect");
        forced_decodes += f.decodes;
        forced_passes += usize::from(f.found);
        if i % 2 == 0 {
            natural_max = natural_max.max(d.score);
        } else {
            synthetic_max = synthetic_max.max(d.score);
        }
        scores.push(d.score);
    }
    let n = scores.len() as f64;
    let over = scores.iter().filter(|&&s| s >= threshold).count();
    println!(
        "windows: {} ({} from world clips, {} synthetic), {:.1} s",
        scores.len(),
        windows.div_ceil(2),
        windows / 2,
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
    println!("max score: world {natural_max:.3}, synthetic {synthetic_max:.3}");
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
    let p_crc = crc_pass_probability();
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
    println!(
        "false-positive rate of found: measured {:.2e} decodes per window x 2^-16 = {:.2e}; \
         bound n*Q(threshold)*2^-16 = {:.2e}",
        decodes as f64 / n,
        decodes as f64 / n * p_crc,
        (hyp * gaussian_tail(threshold) * p_crc).min(1.0)
    );
}
