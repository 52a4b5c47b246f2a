//! Pixel-level helpers: luma, the texture mask, filtering, resampling, folding, statistics.

use super::pattern::TILE;
use kino_media::{PixelFormat, VideoFrames};
use rustfft::num_complex::Complex;

/// Luma (BT.601 weights, 0..255 scale) of one frame.
pub(crate) fn luma_of(frame: &[u8], w: usize, h: usize, format: PixelFormat) -> Vec<f32> {
    match format {
        PixelFormat::Rgb8 => frame
            .chunks_exact(3)
            .take(w * h)
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect(),
        PixelFormat::Yuv420p => frame[..w * h]
            .iter()
            .map(|&y| (f32::from(y) - 16.0) * (255.0 / 219.0))
            .collect(),
    }
}

/// Summed-area table with a zero first row and column: (w + 1) x (h + 1).
fn integral(img: &[f32], w: usize, h: usize, square: bool) -> Vec<f64> {
    let mut s = vec![0.0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0.0f64;
        for x in 0..w {
            let v = f64::from(img[y * w + x]);
            row += if square { v * v } else { v };
            s[(y + 1) * (w + 1) + x + 1] = s[y * (w + 1) + x + 1] + row;
        }
    }
    s
}

/// Mean over the (2r+1)^2 box around each pixel, clipped to the frame.
fn box_mean(sat: &[f64], w: usize, h: usize, x: usize, y: usize, r: usize) -> f64 {
    let (x0, y0) = (x.saturating_sub(r), y.saturating_sub(r));
    let (x1, y1) = ((x + r + 1).min(w), (y + r + 1).min(h));
    let at = |xx: usize, yy: usize| sat[yy * (w + 1) + xx];
    let sum = at(x1, y1) - at(x0, y1) - at(x1, y0) + at(x0, y0);
    sum / ((x1 - x0) * (y1 - y0)) as f64
}

/// Per-pixel gain from local texture: the square root of (local 7x7 standard deviation + 4)
/// over its frame mean, clamped to 0.3..3, then scaled so its mean square is exactly 1 (the
/// frame's mean squared change stays `strength^2`, less rounding and clipping).
pub(crate) fn texture_mask(luma: &[f32], w: usize, h: usize) -> Vec<f32> {
    let s1 = integral(luma, w, h, false);
    let s2 = integral(luma, w, h, true);
    let mut act = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let m = box_mean(&s1, w, h, x, y, 3);
            let v = (box_mean(&s2, w, h, x, y, 3) - m * m).max(0.0);
            act.push(v.sqrt() as f32 + 4.0);
        }
    }
    let mean = act.iter().map(|&a| f64::from(a)).sum::<f64>() / act.len() as f64;
    let mut mask: Vec<f32> = act
        .iter()
        .map(|&a| (a / mean as f32).sqrt().clamp(0.3, 3.0))
        .collect();
    let ms = mask.iter().map(|&m| f64::from(m * m)).sum::<f64>() / mask.len() as f64;
    let k = (1.0 / ms.sqrt()) as f32;
    mask.iter_mut().for_each(|m| *m *= k);
    mask
}

/// `img` minus its (2r+1)^2 local mean.
pub(crate) fn high_pass(img: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let sat = integral(img, w, h, false);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            out.push(img[y * w + x] - box_mean(&sat, w, h, x, y, r) as f32);
        }
    }
    out
}

/// Radius of the box (7x7) over which [`normalize_local_energy`] measures the residual's RMS.
pub(crate) const NORM_RADIUS: usize = 3;
/// Floor added to the local RMS, as a fraction of its median over the frame.
pub(crate) const NORM_FLOOR: f32 = 0.5;

/// Divides the residual `r` by its local RMS (7x7 box) plus a floor of half the frame's
/// median local RMS. Edges and busy texture, where the picture dwarfs the mark, are damped;
/// quiet areas, where what survives of the mark is not buried, count more. The floor keeps
/// flat areas (codec noise only) from being blown up.
pub(crate) fn normalize_local_energy(r: &[f32], w: usize, h: usize) -> Vec<f32> {
    let s2 = integral(r, w, h, true);
    let mut rms = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            rms.push(box_mean(&s2, w, h, x, y, NORM_RADIUS).max(0.0).sqrt() as f32);
        }
    }
    let mut scratch = rms.clone();
    let median = match scratch.len() {
        0 => 0.0,
        n => *scratch.select_nth_unstable_by(n / 2, f32::total_cmp).1,
    };
    let floor = NORM_FLOOR * median.max(1e-6);
    r.iter().zip(&rms).map(|(&v, &s)| v / (s + floor)).collect()
}

/// Bilinear resampling of a w x h image to wo x ho (pixel centres aligned).
pub(crate) fn resample(img: &[f32], w: usize, h: usize, wo: usize, ho: usize) -> Vec<f32> {
    if (w, h) == (wo, ho) {
        return img.to_vec();
    }
    let (sx, sy) = (w as f32 / wo as f32, h as f32 / ho as f32);
    let taps = |o: usize, s: f32, n: usize| {
        let p = ((o as f32 + 0.5) * s - 0.5).clamp(0.0, (n - 1) as f32);
        let i = (p.floor() as usize).min(n - 1);
        let j = (i + 1).min(n - 1);
        (i, j, p - i as f32)
    };
    let xs: Vec<_> = (0..wo).map(|x| taps(x, sx, w)).collect();
    let mut out = Vec::with_capacity(wo * ho);
    for y in 0..ho {
        let (y0, y1, fy) = taps(y, sy, h);
        let (r0, r1) = (&img[y0 * w..(y0 + 1) * w], &img[y1 * w..(y1 + 1) * w]);
        for &(x0, x1, fx) in &xs {
            let a = r0[x0] + (r0[x1] - r0[x0]) * fx;
            let b = r1[x0] + (r1[x1] - r1[x0]) * fx;
            out.push(a + (b - a) * fy);
        }
    }
    out
}

/// Folds an image modulo the tile (mean of the pixels at each tile position) into a
/// complex TILE x TILE array ready for the FFT.
pub(crate) fn fold(img: &[f32], w: usize, h: usize) -> Vec<Complex<f32>> {
    let mut acc = vec![0.0f32; TILE * TILE];
    let mut cnt = vec![0u32; TILE * TILE];
    for y in 0..h {
        let row = (y % TILE) * TILE;
        for x in 0..w {
            acc[row + x % TILE] += img[y * w + x];
            cnt[row + x % TILE] += 1;
        }
    }
    acc.iter()
        .zip(&cnt)
        .map(|(&a, &c)| Complex::new(if c > 0 { a / c as f32 } else { 0.0 }, 0.0))
        .collect()
}

/// Phase-only whitening: every coefficient to unit magnitude (zero stays zero).
pub(crate) fn whiten(spec: &mut [Complex<f32>]) {
    for c in spec.iter_mut() {
        let n = c.norm();
        *c = if n > 1e-12 {
            *c / n
        } else {
            Complex::new(0.0, 0.0)
        };
    }
}

/// P(N(0,1) > z).
pub fn gaussian_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

pub(crate) fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// PSNR in dB between two clips of the same size and length, over RGB.
pub fn psnr(a: &VideoFrames, b: &VideoFrames) -> f64 {
    assert_eq!(
        (a.width(), a.height(), a.len()),
        (b.width(), b.height(), b.len())
    );
    let mut sq = 0.0f64;
    let mut n = 0usize;
    for i in 0..a.len() {
        let (fa, fb) = (a.frame_rgb(i).unwrap(), b.frame_rgb(i).unwrap());
        for (x, y) in fa.iter().zip(&fb) {
            let d = f64::from(*x) - f64::from(*y);
            sq += d * d;
        }
        n += fa.len();
    }
    psnr_from_mse(sq / n.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_energy_normalisation_is_scale_free_and_finite() {
        let (w, h) = (40, 30);
        let r: Vec<f32> = (0..w * h)
            .map(|i| ((i * 7919 % 101) as f32 - 50.0) * if i % w < 28 { 0.1 } else { 5.0 })
            .collect();
        let a = normalize_local_energy(&r, w, h);
        let scaled: Vec<f32> = r.iter().map(|v| v * 13.0).collect();
        let b = normalize_local_energy(&scaled, w, h);
        for (x, y) in a.iter().zip(&b) {
            assert!(x.is_finite() && (x - y).abs() <= 1e-4 * (1.0 + x.abs()));
        }
        // Quiet (the larger part) and busy areas end up with comparable energy.
        let rms = |half: bool| {
            let v: Vec<f32> = (0..w * h)
                .filter(|i| (i % w < 28) == half)
                .map(|i| a[i])
                .collect();
            (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt()
        };
        assert!(rms(true) > 0.3 * rms(false) && rms(true) < 3.0 * rms(false));
        assert!(normalize_local_energy(&vec![0.0; w * h], w, h)
            .iter()
            .all(|&x| x == 0.0));
    }

    #[test]
    fn tail_matches_known_values() {
        assert!((gaussian_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((gaussian_tail(3.0) / 1.349_898e-3 - 1.0).abs() < 1e-4);
        assert!((gaussian_tail(6.0) / 9.865_876e-10 - 1.0).abs() < 1e-4);
    }
}
