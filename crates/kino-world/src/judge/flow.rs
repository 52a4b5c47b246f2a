//! Global motion: block matching of frame quadrants gives the image's translation and zoom,
//! from which camera moves are classified; cuts are found by frame differences.

use crate::vocab::CameraMove;
use kino_media::VideoFrames;
use serde::{Deserialize, Serialize};

fn gray(video: &VideoFrames, i: usize) -> Vec<f32> {
    video
        .frame_rgb(i)
        .unwrap_or_default()
        .chunks_exact(3)
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect()
}

/// Frames that start a new shot (a jump in mean absolute difference).
pub fn detect_cuts(video: &VideoFrames) -> Vec<usize> {
    let n = video.len();
    if n < 3 {
        return Vec::new();
    }
    let mut prev = gray(video, 0);
    let mut diffs = vec![0.0f32];
    for i in 1..n {
        let g = gray(video, i);
        let d = g.iter().zip(&prev).map(|(a, b)| (a - b).abs()).sum::<f32>() / g.len() as f32;
        diffs.push(d);
        prev = g;
    }
    let mut sorted = diffs[1..].to_vec();
    sorted.sort_by(f32::total_cmp);
    let med = sorted[sorted.len() / 2];
    (1..n)
        .filter(|&i| diffs[i] > (5.0 * med).max(6.0))
        .collect()
}

/// Camera motion measured over one stretch of frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShotMotion {
    pub first_frame: usize,
    pub last_frame: usize,
    /// Mean image translation in frame heights per second (+x right, +y down).
    pub dx: f32,
    pub dy: f32,
    /// Zoom rate: relative scale change per second (+ = pushing in).
    pub zoom: f32,
    /// Standard deviation of the per-step translation (frame heights per second): shake.
    pub jitter: f32,
    /// The move this looks like.
    pub classified: CameraMove,
}

/// Best integer shift (and sub-pixel refinement) of block `(x0, y0, bw, bh)` of `a` in `b`.
fn block_shift(
    a: &[f32],
    b: &[f32],
    skip: &[bool],
    w: usize,
    h: usize,
    blk: (usize, usize, usize, usize),
    r: i32,
) -> (f32, f32) {
    let (x0, y0, bw, bh) = blk;
    let mut best = (0i32, 0i32, f32::MAX);
    let mut costs = std::collections::HashMap::new();
    for dy in -r..=r {
        for dx in -r..=r {
            let mut sum = 0.0f32;
            let mut cnt = 0usize;
            for y in (y0..y0 + bh).step_by(2) {
                let yy = y as i32 + dy;
                if yy < 0 || yy >= h as i32 {
                    continue;
                }
                for x in (x0..x0 + bw).step_by(2) {
                    if skip[y * w + x] {
                        continue;
                    }
                    let xx = x as i32 + dx;
                    if xx < 0 || xx >= w as i32 {
                        continue;
                    }
                    sum += (a[y * w + x] - b[yy as usize * w + xx as usize]).abs();
                    cnt += 1;
                }
            }
            let c = if cnt > 0 { sum / cnt as f32 } else { f32::MAX };
            costs.insert((dx, dy), c);
            if c < best.2 {
                best = (dx, dy, c);
            }
        }
    }
    let sub = |m: f32, z: f32, p: f32| {
        let den = m - 2.0 * z + p;
        if den.abs() < 1e-6 {
            0.0
        } else {
            (0.5 * (m - p) / den).clamp(-0.5, 0.5)
        }
    };
    let c = |dx, dy| costs.get(&(dx, dy)).copied().unwrap_or(best.2);
    let (bx, by) = (best.0, best.1);
    let fx = sub(c(bx - 1, by), best.2, c(bx + 1, by));
    let fy = sub(c(bx, by - 1), best.2, c(bx, by + 1));
    (bx as f32 + fx, by as f32 + fy)
}

/// Measures translation and zoom over frames `first..=last` (one shot).
pub fn shot_motion(video: &VideoFrames, first: usize, last: usize) -> Option<ShotMotion> {
    if last <= first {
        return None;
    }
    let (w, h) = (video.width() as usize, video.height() as usize);
    let fps = video.fps().as_f64() as f32;
    let lag = ((fps / 8.0).round() as usize).clamp(1, last - first);
    let r = ((h as f32 * 0.06).ceil() as i32).clamp(2, 12);
    // A 3x3 grid of blocks; each block's shift counts by how much texture it has in
    // that direction (the sky has none across, so it cannot vote on pans).
    let (bw, bh) = (w / 4, h / 4);
    let mut blocks = Vec::new();
    for gy in 0..4 {
        for gx in 0..4 {
            blocks.push((gx * bw, gy * bh, bw, bh));
        }
    }
    let texture = |g: &[f32], skip: &[bool], blk: (usize, usize, usize, usize)| {
        let (x0, y0, bw, bh) = blk;
        let (mut tx, mut ty) = (0.0f32, 0.0f32);
        for y in y0..(y0 + bh).min(h - 1) {
            for x in x0..(x0 + bw).min(w - 1) {
                if skip[y * w + x] {
                    continue;
                }
                tx += (g[y * w + x + 1] - g[y * w + x]).abs();
                ty += (g[(y + 1) * w + x] - g[y * w + x]).abs();
            }
        }
        let k = (bw * bh) as f32;
        // Below ~1 grey level per pixel a block is flat.
        ((tx / k - 0.5).max(0.0), (ty / k - 0.5).max(0.0))
    };
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let mut steps = Vec::new();
    let mut i = first;
    while i + lag <= last {
        let (a, b) = (gray(video, i), gray(video, i + lag));
        let skip = object_mask(video, i, w, h);
        // Per block: texture weights, shift and centre.
        let mut obs: Vec<(f32, f32, f32, f32, f32)> = Vec::new(); // wx, wy, px, sx, sy
        for &blk in &blocks {
            let (wx, wy) = texture(&a, &skip, blk);
            if wx + wy <= 0.0 {
                continue;
            }
            let (sx, sy) = block_shift(&a, &b, &skip, w, h, blk, r);
            let px = blk.0 as f32 + blk.2 as f32 / 2.0 - cx;
            obs.push((wx, wy, px, sx, sy));
        }
        let _ = cy;
        // Vertical: a weighted median (layers at different depths move by different
        // amounts under a tilt, so a vertical "zoom" would be parallax, not zoom).
        let ty = weighted_median(obs.iter().map(|o| (o.4, o.1)).collect());
        // Horizontal: u = tx + z * x, robustly (one refit without outlier blocks).
        let mut fit = fit_line(&obs, h, None);
        if let Some((tx, z)) = fit {
            fit = fit_line(&obs, h, Some((tx, z))).or(fit);
        }
        let per_s = fps / lag as f32;
        if let (Some((tx, z)), Some(ty)) = (fit, ty) {
            steps.push((tx / h as f32 * per_s, ty / h as f32 * per_s, z * per_s));
        }
        i += lag;
    }
    if steps.is_empty() {
        return None;
    }
    let n = steps.len() as f32;
    let med = |k: usize| {
        let mut v: Vec<f32> = steps.iter().map(|s| [s.0, s.1, s.2][k]).collect();
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let (dx, dy, zoom) = (med(0), med(1), med(2));
    let jitter = (steps
        .iter()
        .map(|s| (s.0 - dx).powi(2) + (s.1 - dy).powi(2))
        .sum::<f32>()
        / n)
        .sqrt();
    Some(ShotMotion {
        first_frame: first,
        last_frame: last,
        dx,
        dy,
        zoom,
        jitter,
        classified: classify(dx, dy, zoom, jitter),
    })
}

/// Thresholds: translation in frame heights per second, zoom in relative scale per second.
fn classify(dx: f32, dy: f32, zoom: f32, jitter: f32) -> CameraMove {
    let t = 0.015;
    if zoom.abs() > 0.04 && zoom.abs() * 1.2 > dx.abs().max(dy.abs()) {
        return if zoom > 0.0 {
            CameraMove::PushIn
        } else {
            CameraMove::PullOut
        };
    }
    if jitter > 0.05 && jitter > 1.5 * dx.abs().max(dy.abs()) {
        return CameraMove::HandHeld;
    }
    if dx.abs() > t && dx.abs() >= dy.abs() {
        // Content moving right means the camera pans left.
        return if dx > 0.0 {
            CameraMove::PanLeft
        } else {
            CameraMove::PanRight
        };
    }
    if dy.abs() > t {
        // Content moving down means the camera tilts up.
        return if dy > 0.0 {
            CameraMove::TiltUp
        } else {
            CameraMove::TiltDown
        };
    }
    if jitter > 0.03 {
        return CameraMove::HandHeld;
    }
    CameraMove::Static
}

/// Pixels of (and around) coloured objects, which move on their own and must not vote.
fn object_mask(video: &VideoFrames, i: usize, w: usize, h: usize) -> Vec<bool> {
    let rgb = video.frame_rgb(i).unwrap_or_default();
    let labels = super::track::label_frame(&rgb);
    let mut mask = vec![false; w * h];
    let d = (h / 16).max(2) as isize;
    for y in 0..h {
        for x in 0..w {
            if labels[y * w + x].is_some() {
                for yy in (y as isize - d).max(0)..(y as isize + d + 1).min(h as isize) {
                    for xx in (x as isize - d).max(0)..(x as isize + d + 1).min(w as isize) {
                        mask[yy as usize * w + xx as usize] = true;
                    }
                }
            }
        }
    }
    mask
}

fn weighted_median(mut v: Vec<(f32, f32)>) -> Option<f32> {
    let total: f32 = v.iter().map(|x| x.1).sum();
    if total <= 0.0 {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut acc = 0.0;
    for (x, w) in &v {
        acc += w;
        if acc >= total / 2.0 {
            return Some(*x);
        }
    }
    v.last().map(|x| x.0)
}

/// Weighted fit of horizontal block shifts `u = tx + z * x`; with `prev`, blocks that
/// disagree with it by more than a pixel are left out.
fn fit_line(
    obs: &[(f32, f32, f32, f32, f32)],
    h: usize,
    prev: Option<(f32, f32)>,
) -> Option<(f32, f32)> {
    let (mut s0, mut s1, mut s2, mut t0, mut t1) = (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for &(wx, _, px, sx, _) in obs {
        if let Some((tx, z)) = prev {
            if (sx - tx - z * px).abs() > 1.0 {
                continue;
            }
        }
        s0 += wx;
        s1 += wx * px;
        s2 += wx * px * px;
        t0 += wx * sx;
        t1 += wx * px * sx;
    }
    if s0 <= 0.0 {
        return None;
    }
    // Zoom needs blocks spread apart; without them, prefer translation.
    let s2 = s2 + 0.05 * s0 * (h as f32 / 3.0).powi(2);
    let det = s0 * s2 - s1 * s1;
    if det.abs() < 1e-9 {
        return Some((t0 / s0, 0.0));
    }
    Some(((t0 * s2 - t1 * s1) / det, (s0 * t1 - s1 * t0) / det))
}
