//! Audio onsets by spectral flux, refined to the sample on the waveform's rise.

use kino_media::AudioBuffer;
use realfft::RealFftPlanner;

/// STFT window (samples at 16 kHz; scaled with the rate).
const WIN_16K: usize = 256;
/// STFT hop (samples at 16 kHz).
const HOP_16K: usize = 32;

/// Onset times in seconds, in order.
pub fn onsets(audio: &AudioBuffer) -> Vec<f64> {
    let mono = audio.to_mono();
    let x = mono.samples();
    let sr = audio.sample_rate() as f64;
    let k = (sr / 16_000.0).max(0.5);
    let win = ((WIN_16K as f64 * k) as usize).next_power_of_two();
    let hop = ((HOP_16K as f64 * k) as usize).max(1);
    if x.len() < win * 2 {
        return Vec::new();
    }
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(win);
    let mut input = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let hann: Vec<f32> = (0..win)
        .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / win as f32).cos())
        .collect();
    let frames = (x.len() - win) / hop + 1;
    let mut prev: Vec<f32> = vec![0.0; win / 2 + 1];
    let mut flux = Vec::with_capacity(frames);
    for f in 0..frames {
        let s = f * hop;
        for i in 0..win {
            input[i] = x[s + i] * hann[i];
        }
        if fft.process(&mut input, &mut spec).is_err() {
            return Vec::new();
        }
        let mut sum = 0.0f32;
        for (b, c) in spec.iter().enumerate() {
            let m = c.norm();
            let d = m - prev[b];
            if d > 0.0 {
                sum += d;
            }
            prev[b] = m;
        }
        flux.push(if f == 0 { 0.0 } else { sum });
    }
    // Adaptive threshold: median + 4 * MAD, with an absolute floor.
    let mut sorted = flux.clone();
    sorted.sort_by(f32::total_cmp);
    let med = sorted[sorted.len() / 2];
    let mut dev: Vec<f32> = flux.iter().map(|v| (v - med).abs()).collect();
    dev.sort_by(f32::total_cmp);
    let mad = dev[dev.len() / 2];
    let peak = sorted.last().copied().unwrap_or(0.0);
    let thr = (med + 6.0 * mad).max(peak * 0.04).max(0.5);
    let span = ((0.025 * sr) as usize / hop).max(1);
    let mut out: Vec<f64> = Vec::new();
    let mut f = 1;
    while f < flux.len() {
        if flux[f] > thr {
            // The local peak within the next span frames.
            let end = (f + span).min(flux.len());
            let (pk, _) =
                flux[f..end]
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f32::MIN),
                        |(bi, bv), (i, v)| if *v > bv { (i, *v) } else { (bi, bv) },
                    );
            let pk = f + pk;
            // Refine on the waveform: the first sample in the window before the peak
            // that rises above a fifth of the local peak amplitude.
            let a = (f.saturating_sub(1)) * hop;
            let b = (pk * hop + win).min(x.len());
            let local_peak = x[a..b].iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let before = x[a.saturating_sub(win)..a]
                .iter()
                .fold(0.0f32, |m, v| m.max(v.abs()));
            let level = before + (local_peak - before) * 0.2;
            let rise = (a..b)
                .find(|&i| x[i].abs() > level)
                .unwrap_or(pk * hop + win / 2);
            let t = rise as f64 / sr;
            if out.last().is_none_or(|&l| t - l > 0.03) {
                out.push(t);
            }
            // Skip past this onset.
            let mut g = pk + 1;
            while g < flux.len() && flux[g] > thr * 0.5 && g < pk + 3 * span {
                g += 1;
            }
            f = g.max(f + 1);
        } else {
            f += 1;
        }
    }
    out
}
