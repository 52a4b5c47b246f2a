//! Physics oracles on tracked trajectories: constant-acceleration fits of free-fall segments,
//! impact (reversal) times, and bounce-apex decay.

use super::track::{Track, TrackPoint};
use serde::{Deserialize, Serialize};

/// A fitted free-fall segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FallFit {
    pub first_frame: usize,
    pub last_frame: usize,
    /// Coefficient of determination of y(t) = a + b t + c t^2.
    pub r2: f32,
    /// Fitted downward acceleration in pixels/s^2.
    pub accel_px: f32,
}

/// A visual impact: where the vertical velocity turns from falling to rising or stopping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VisualImpact {
    /// Refined impact time in seconds.
    pub time_s: f64,
    /// The frame with the lowest position.
    pub frame: usize,
    /// Downward speed just before, pixels/s.
    pub speed_px: f32,
    /// Image y of the lowest point (pixels, down).
    pub y: f32,
}

#[allow(clippy::needless_range_loop)]
fn polyfit2(ts: &[f64], ys: &[f64]) -> Option<[f64; 3]> {
    let n = ts.len();
    if n < 3 {
        return None;
    }
    let t0 = ts[0];
    let mut m = [[0.0f64; 4]; 3];
    for (t, y) in ts.iter().zip(ys) {
        let t = t - t0;
        let p = [1.0, t, t * t];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] += p[r] * p[c];
            }
            m[r][3] += p[r] * y;
        }
    }
    // Gaussian elimination.
    for c in 0..3 {
        let piv = (c..3).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))?;
        m.swap(c, piv);
        if m[c][c].abs() < 1e-12 {
            return None;
        }
        for r in 0..3 {
            if r != c {
                let k = m[r][c] / m[c][c];
                for k2 in c..4 {
                    m[r][k2] -= k * m[c][k2];
                }
            }
        }
    }
    let (a, b, c2) = (m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]);
    // Re-express around t = 0 (not t0).
    Some([a - b * t0 + c2 * t0 * t0, b - 2.0 * c2 * t0, c2])
}

fn eval(p: &[f64; 3], t: f64) -> f64 {
    p[0] + p[1] * t + p[2] * t * t
}

/// Contiguous runs of frames where the track is seen, split at cuts.
pub fn runs(track: &Track, cuts: &[usize]) -> Vec<Vec<(usize, TrackPoint)>> {
    // Points whose blob touches the frame's edge are partly outside: their centroid lies.
    let mut out = Vec::new();
    let mut cur: Vec<(usize, TrackPoint)> = Vec::new();
    for (f, p) in track.points.iter().enumerate() {
        if cuts.contains(&f) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        match p.filter(|p| !p.at_edge) {
            Some(p) => cur.push((f, p)),
            None => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Impacts in one run: frames where the downward velocity (image y increasing) of at least
/// `min_speed_px` pixels/s stops or reverses.
pub fn impacts(run: &[(usize, TrackPoint)], fps: f64, min_speed_px: f32) -> Vec<VisualImpact> {
    let mut out = Vec::new();
    if run.len() < 4 {
        return out;
    }
    let y: Vec<f64> = run.iter().map(|(_, p)| p.y as f64).collect();
    let t: Vec<f64> = run.iter().map(|(f, _)| *f as f64 / fps).collect();
    let n = y.len();
    for j in 1..n - 1 {
        // j is the lowest point: falling into it, not falling after it.
        let v_in = (y[j] - y[j - 1]) * fps;
        let v_out = (y[j + 1] - y[j]) * fps;
        let lowest = y[j] >= y[j - 1] && y[j] >= y[j + 1] && (y[j] > y[j - 1] || y[j] > y[j + 1]);
        if !lowest {
            continue;
        }
        // Speed before: from the frames leading in.
        let v_pre = if j >= 2 {
            (y[j - 1] - y[j - 2]) * fps
        } else {
            v_in
        };
        let speed = v_in.max(v_pre);
        if speed < min_speed_px as f64 || v_out > 0.4 * speed {
            continue;
        }
        // Refine: intersect the parabola through the frames before with the one after.
        let pre_lo = j.saturating_sub(3);
        let time = refine(&t, &y, pre_lo, j, n).unwrap_or(t[j]);
        out.push(VisualImpact {
            time_s: time,
            frame: run[j].0,
            speed_px: speed as f32,
            y: y[j] as f32,
        });
    }
    out
}

fn refine(t: &[f64], y: &[f64], _pre_lo: usize, j: usize, n: usize) -> Option<f64> {
    // The impact lies in (t[j-1], t[j+1]): intersect the curve through the frames before
    // j with the one through the frames after j (frame j itself is ambiguous).
    if j < 2 || j + 2 > n {
        return None;
    }
    let fit = |lo: usize, hi: usize| -> Option<[f64; 3]> {
        if hi - lo >= 3 {
            polyfit2(&t[lo..hi], &y[lo..hi])
        } else if hi - lo == 2 {
            let s = (y[lo + 1] - y[lo]) / (t[lo + 1] - t[lo]);
            Some([y[lo] - s * t[lo], s, 0.0])
        } else {
            None
        }
    };
    let pre = fit(j.saturating_sub(3), j)?;
    let post_hi = (j + 4).min(n);
    if post_hi < j + 3 {
        return None;
    }
    let post = fit(j + 1, post_hi)?;
    let f = |x: f64| eval(&pre, x) - eval(&post, x);
    let (mut a, mut b) = (t[j - 1], t[j + 1]);
    let fa = f(a);
    if fa.signum() == f(b).signum() {
        return None;
    }
    for _ in 0..50 {
        let m = 0.5 * (a + b);
        if f(m).signum() == fa.signum() {
            a = m;
        } else {
            b = m;
        }
    }
    Some(0.5 * (a + b))
}

/// Fits constant acceleration to the free-fall parts of a run (between impacts, keeping a
/// frame away from each impact). Segments need `min_frames` frames and `min_range_px` of
/// vertical travel.
pub fn fall_fits(
    run: &[(usize, TrackPoint)],
    hits: &[VisualImpact],
    fps: f64,
    min_frames: usize,
    min_range_px: f32,
) -> Vec<FallFit> {
    let mut bounds: Vec<usize> = vec![0];
    for h in hits {
        if let Some(k) = run.iter().position(|(f, _)| *f == h.frame) {
            bounds.push(k);
        }
    }
    bounds.push(run.len());
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        // Skip the impact frame and its neighbours.
        // Only flights that end in an impact: after the last impact objects rest, slide
        // or tumble, which is not free fall.
        if b == run.len() {
            continue;
        }
        let lo = if a == 0 { 0 } else { a + 2 };
        let hi = b.saturating_sub(1);
        if hi <= lo || hi - lo < min_frames {
            continue;
        }
        let seg = &run[lo..hi];
        let ts: Vec<f64> = seg.iter().map(|(f, _)| *f as f64 / fps).collect();
        let ys: Vec<f64> = seg.iter().map(|(_, p)| p.y as f64).collect();
        let (ymin, ymax) = ys
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        if ((ymax - ymin) as f32) < min_range_px {
            continue;
        }
        // Only segments that are actually moving throughout (not resting at the end).
        let Some(p) = polyfit2(&ts, &ys) else {
            continue;
        };
        let mean = ys.iter().sum::<f64>() / ys.len() as f64;
        let ss_tot: f64 = ys.iter().map(|y| (y - mean).powi(2)).sum();
        let ss_res: f64 = ts
            .iter()
            .zip(&ys)
            .map(|(t, y)| (y - eval(&p, *t)).powi(2))
            .sum();
        if ss_tot <= 0.0 {
            continue;
        }
        out.push(FallFit {
            first_frame: seg[0].0,
            last_frame: seg[seg.len() - 1].0,
            r2: (1.0 - ss_res / ss_tot) as f32,
            accel_px: (2.0 * p[2]) as f32,
        });
    }
    out
}

/// Heights (pixels) of the apexes between successive impacts of one run, measured from
/// the impact level.
pub fn apex_heights(run: &[(usize, TrackPoint)], hits: &[VisualImpact]) -> Vec<f32> {
    let mut out = Vec::new();
    for w in hits.windows(2) {
        let (a, b) = (w[0].frame, w[1].frame);
        let apex = run
            .iter()
            .filter(|(f, _)| *f > a && *f < b)
            .map(|(_, p)| p.y)
            .fold(f32::MAX, f32::min);
        if apex < f32::MAX {
            out.push(((w[0].y + w[1].y) / 2.0 - apex).max(0.0));
        }
    }
    out
}
