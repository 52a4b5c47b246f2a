//! Log-mel front end and the STFT / iSTFT helpers the vocoder reuses.
//!
//! kino-tiny constants (see `docs/models/audio.md`):
//!
//! - 16 kHz mono, `n_fft` 1024 with a periodic Hann window, hop 160 (100 frames per second);
//! - centred frames: the signal is padded by `n_fft / 2` on both sides by reflection, so frame
//!   `i` is centred on sample `i * hop`; a clip of `n` samples has `ceil(n / hop)` frames
//!   (4 s = 64000 samples -> 400 frames, frame `i` stands for times `[0.01 i, 0.01 (i + 1))`);
//! - 64 mel bands, 0..8000 Hz, Slaney mel scale with Slaney area normalisation (librosa's
//!   default), applied to the *magnitude* spectrum (not the power spectrum);
//! - log-mel = `ln(max(mel, 1e-5))`.
//!
//! Everything here is plain Rust over `rustfft`; [`MelConfig::log_mel_tensor`] wraps the
//! result in a candle tensor.

use candle_core::{Device, Result, Tensor};
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// The log-mel front end's constants.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MelConfig {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub n_mels: usize,
    pub f_min: f32,
    pub f_max: f32,
    /// Floor applied before the natural log.
    pub log_floor: f32,
}

impl MelConfig {
    /// kino-tiny: 16 kHz, n_fft 1024, hop 160, 64 Slaney mel bands over 0..8 kHz.
    pub fn kino_tiny() -> Self {
        MelConfig {
            sample_rate: 16_000,
            n_fft: 1024,
            hop: 160,
            n_mels: 64,
            f_min: 0.0,
            f_max: 8_000.0,
            log_floor: 1e-5,
        }
    }

    /// Number of linear frequency bins, `n_fft / 2 + 1`.
    pub fn n_freq(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Mel frames for a clip of `samples` samples: `ceil(samples / hop)` (0 for no samples).
    pub fn frames_for(&self, samples: usize) -> usize {
        samples.div_ceil(self.hop)
    }

    /// Frames per second (`sample_rate / hop`).
    pub fn frame_rate(&self) -> f32 {
        self.sample_rate as f32 / self.hop as f32
    }

    /// The STFT this front end uses.
    pub fn stft(&self) -> Stft {
        Stft::new(self.n_fft, self.hop)
    }

    /// The mel filterbank, `(n_mels, n_freq)` row-major.
    pub fn filterbank(&self) -> Vec<f32> {
        mel_filterbank(
            self.sample_rate,
            self.n_fft,
            self.n_mels,
            self.f_min,
            self.f_max,
        )
    }

    /// Linear magnitude `(n_freq, frames)` row-major -> mel `(n_mels, frames)` (no log).
    pub fn mel_from_magnitude(&self, magnitude: &[f32], frames: usize) -> Vec<f32> {
        let fb = self.filterbank();
        apply_filterbank(&fb, self.n_mels, self.n_freq(), magnitude, frames)
    }

    /// Log-mel spectrogram `(n_mels, frames)` row-major, frames = [`Self::frames_for`].
    /// Empty input gives an empty vector; very short input is padded (reflection where
    /// possible, zeros beyond), so it never panics.
    pub fn log_mel(&self, samples: &[f32]) -> Vec<f32> {
        let spec = self.stft().forward(samples);
        let mag = spec.magnitude();
        let mut mel = self.mel_from_magnitude(&mag, spec.frames);
        for v in mel.iter_mut() {
            *v = v.max(self.log_floor).ln();
        }
        mel
    }

    /// [`Self::log_mel`] as a `(n_mels, frames)` f32 tensor.
    pub fn log_mel_tensor(&self, samples: &[f32], device: &Device) -> Result<Tensor> {
        let frames = self.frames_for(samples.len());
        Tensor::from_vec(self.log_mel(samples), (self.n_mels, frames), device)
    }
}

/// Slaney mel scale (linear below 1 kHz, logarithmic above).
pub fn hz_to_mel(hz: f32) -> f32 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f32).ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f32) -> f32 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f32).ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * ((mel - min_log_mel) * logstep).exp()
    } else {
        mel * f_sp
    }
}

/// Triangular mel filterbank with Slaney area normalisation, `(n_mels, n_fft/2+1)` row-major.
pub fn mel_filterbank(
    sample_rate: u32,
    n_fft: usize,
    n_mels: usize,
    f_min: f32,
    f_max: f32,
) -> Vec<f32> {
    let n_freq = n_fft / 2 + 1;
    let (m_lo, m_hi) = (hz_to_mel(f_min), hz_to_mel(f_max));
    let edges: Vec<f32> = (0..n_mels + 2)
        .map(|i| mel_to_hz(m_lo + (m_hi - m_lo) * i as f32 / (n_mels + 1) as f32))
        .collect();
    let mut fb = vec![0f32; n_mels * n_freq];
    for m in 0..n_mels {
        let (lo, c, hi) = (edges[m], edges[m + 1], edges[m + 2]);
        let norm = 2.0 / (hi - lo);
        for k in 0..n_freq {
            let f = k as f32 * sample_rate as f32 / n_fft as f32;
            let w = ((f - lo) / (c - lo)).min((hi - f) / (hi - c)).max(0.0);
            fb[m * n_freq + k] = w * norm;
        }
    }
    fb
}

/// `fb (n_mels, n_freq) x spec (n_freq, frames)` -> `(n_mels, frames)`, skipping zero weights.
pub fn apply_filterbank(
    fb: &[f32],
    n_mels: usize,
    n_freq: usize,
    spec: &[f32],
    frames: usize,
) -> Vec<f32> {
    assert_eq!(fb.len(), n_mels * n_freq, "filterbank size");
    assert_eq!(spec.len(), n_freq * frames, "spectrogram size");
    let mut out = vec![0f32; n_mels * frames];
    for m in 0..n_mels {
        let row = &mut out[m * frames..(m + 1) * frames];
        for k in 0..n_freq {
            let w = fb[m * n_freq + k];
            if w == 0.0 {
                continue;
            }
            let src = &spec[k * frames..(k + 1) * frames];
            for (o, s) in row.iter_mut().zip(src) {
                *o += w * s;
            }
        }
    }
    out
}

/// A complex spectrogram: `frames` frames of `n_freq` one-sided bins, frame-major
/// (`data[t * n_freq + k]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    pub n_freq: usize,
    pub frames: usize,
    pub data: Vec<Complex32>,
}

impl Spectrogram {
    /// Magnitudes `(n_freq, frames)` row-major (the channel-first layout of the mel).
    pub fn magnitude(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n_freq * self.frames];
        for t in 0..self.frames {
            for k in 0..self.n_freq {
                out[k * self.frames + t] = self.data[t * self.n_freq + k].norm();
            }
        }
        out
    }
}

/// Centred STFT / iSTFT with a periodic Hann window (analysis and synthesis window equal,
/// overlap-add normalised by the summed squared window, so `inverse(forward(x)) == x`).
/// Two real frames share one complex FFT in both directions.
#[derive(Clone)]
pub struct Stft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft")
            .field("n_fft", &self.n_fft)
            .field("hop", &self.hop)
            .finish()
    }
}

impl Stft {
    /// `n_fft` must be even and `hop` in `1..=n_fft`.
    pub fn new(n_fft: usize, hop: usize) -> Self {
        assert!(
            n_fft >= 2 && n_fft.is_multiple_of(2),
            "n_fft must be even, got {n_fft}"
        );
        assert!(
            hop >= 1 && hop <= n_fft,
            "hop must be in 1..=n_fft, got {hop}"
        );
        let window = (0..n_fft)
            .map(|i| {
                let x = std::f32::consts::PI * i as f32 / n_fft as f32;
                x.sin() * x.sin()
            })
            .collect();
        let mut planner = FftPlanner::new();
        Stft {
            n_fft,
            hop,
            window,
            fwd: planner.plan_fft_forward(n_fft),
            inv: planner.plan_fft_inverse(n_fft),
        }
    }

    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    pub fn hop(&self) -> usize {
        self.hop
    }

    pub fn n_freq(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// `ceil(samples / hop)`.
    pub fn frames_for(&self, samples: usize) -> usize {
        samples.div_ceil(self.hop)
    }

    /// Sample `j` of the centred, reflect-padded signal (zeros where reflection runs out).
    fn padded(samples: &[f32], j: isize) -> f32 {
        let n = samples.len() as isize;
        if n == 0 {
            return 0.0;
        }
        let mut t = j;
        if t < 0 {
            t = -t;
        }
        if t >= n {
            t = 2 * (n - 1) - t;
        }
        if (0..n).contains(&t) {
            samples[t as usize]
        } else {
            0.0
        }
    }

    fn windowed_frame(&self, samples: &[f32], t: usize, out: &mut [f32]) {
        let start = (t * self.hop) as isize - (self.n_fft / 2) as isize;
        let n = samples.len() as isize;
        if start >= 0 && start + self.n_fft as isize <= n {
            let s = start as usize;
            for ((o, x), w) in out
                .iter_mut()
                .zip(&samples[s..s + self.n_fft])
                .zip(&self.window)
            {
                *o = x * w;
            }
        } else {
            for (j, (o, w)) in out.iter_mut().zip(&self.window).enumerate() {
                *o = Self::padded(samples, start + j as isize) * w;
            }
        }
    }

    /// Forward STFT of `samples`, [`Self::frames_for`] frames.
    pub fn forward(&self, samples: &[f32]) -> Spectrogram {
        let (n, nf) = (self.n_fft, self.n_freq());
        let frames = self.frames_for(samples.len());
        let mut data = vec![Complex32::new(0.0, 0.0); frames * nf];
        let mut buf = vec![Complex32::new(0.0, 0.0); n];
        let mut scratch = vec![Complex32::new(0.0, 0.0); self.fwd.get_inplace_scratch_len()];
        let mut a = vec![0f32; n];
        let mut b = vec![0f32; n];
        let mut t = 0;
        while t < frames {
            let pair = t + 1 < frames;
            self.windowed_frame(samples, t, &mut a);
            if pair {
                self.windowed_frame(samples, t + 1, &mut b);
            } else {
                b.iter_mut().for_each(|v| *v = 0.0);
            }
            for ((z, &x), &y) in buf.iter_mut().zip(&a).zip(&b) {
                *z = Complex32::new(x, y);
            }
            self.fwd.process_with_scratch(&mut buf, &mut scratch);
            // Z = A + iB with A, B Hermitian: A_k = (Z_k + conj Z_{n-k}) / 2,
            // B_k = (Z_k - conj Z_{n-k}) / 2i.
            for k in 0..nf {
                let zk = buf[k];
                let zn = buf[(n - k) % n].conj();
                data[t * nf + k] = (zk + zn) * 0.5;
                if pair {
                    let d = (zk - zn) * 0.5;
                    data[(t + 1) * nf + k] = Complex32::new(d.im, -d.re);
                }
            }
            t += 2;
        }
        Spectrogram {
            n_freq: nf,
            frames,
            data,
        }
    }

    /// Inverse STFT (weighted overlap-add) to exactly `num_samples` samples, sample `s`
    /// lining up with sample `s` of the signal [`Self::forward`] was given.
    pub fn inverse(&self, spec: &Spectrogram, num_samples: usize) -> Vec<f32> {
        let (n, nf, frames) = (self.n_fft, self.n_freq(), spec.frames);
        assert_eq!(
            spec.n_freq, nf,
            "spectrogram has {} bins, STFT {nf}",
            spec.n_freq
        );
        assert_eq!(spec.data.len(), frames * nf, "spectrogram data size");
        let half = (n / 2) as isize;
        let mut out = vec![0f32; num_samples];
        let mut wsum = vec![0f32; num_samples];
        let mut buf = vec![Complex32::new(0.0, 0.0); n];
        let mut scratch = vec![Complex32::new(0.0, 0.0); self.inv.get_inplace_scratch_len()];
        let scale = 1.0 / n as f32;
        let i = Complex32::new(0.0, 1.0);
        let mut t = 0;
        while t < frames {
            let pair = t + 1 < frames;
            let a = &spec.data[t * nf..(t + 1) * nf];
            let b = if pair {
                Some(&spec.data[(t + 1) * nf..(t + 2) * nf])
            } else {
                None
            };
            // Full Hermitian spectra of both frames packed as A + iB.
            for k in 0..n {
                let (ak, bk) = if k < nf {
                    (a[k], b.map_or(Complex32::new(0.0, 0.0), |b| b[k]))
                } else {
                    (
                        a[n - k].conj(),
                        b.map_or(Complex32::new(0.0, 0.0), |b| b[n - k].conj()),
                    )
                };
                buf[k] = ak + i * bk;
            }
            // DC and Nyquist of a real signal are real; drop any imaginary part there.
            buf[0] = Complex32::new(a[0].re, 0.0) + i * b.map_or(0.0, |b| b[0].re);
            buf[n / 2] = Complex32::new(a[n / 2].re, 0.0) + i * b.map_or(0.0, |b| b[n / 2].re);
            self.inv.process_with_scratch(&mut buf, &mut scratch);
            for (f, part) in [(t, 0usize), (t + 1, 1)] {
                if part == 1 && !pair {
                    break;
                }
                let start = (f * self.hop) as isize - half;
                let j0 = (-start).max(0) as usize;
                let j1 = ((num_samples as isize - start).min(n as isize)).max(0) as usize;
                if j1 <= j0 {
                    continue;
                }
                let s0 = (start + j0 as isize) as usize;
                let s1 = s0 + (j1 - j0);
                let dst = out[s0..s1].iter_mut().zip(wsum[s0..s1].iter_mut());
                for ((z, &w), (o, ws)) in buf[j0..j1].iter().zip(&self.window[j0..j1]).zip(dst) {
                    let v = if part == 0 { z.re } else { z.im };
                    *o += v * scale * w;
                    *ws += w * w;
                }
            }
            t += 2;
        }
        for (o, w) in out.iter_mut().zip(&wsum) {
            *o = if *w > 1e-8 { *o / w } else { 0.0 };
        }
        out
    }
}

/// Forward STFT with a fresh plan (see [`Stft::forward`]).
pub fn stft(samples: &[f32], n_fft: usize, hop: usize) -> Spectrogram {
    Stft::new(n_fft, hop).forward(samples)
}

/// Inverse STFT with a fresh plan (see [`Stft::inverse`]).
pub fn istft(spec: &Spectrogram, n_fft: usize, hop: usize, num_samples: usize) -> Vec<f32> {
    Stft::new(n_fft, hop).inverse(spec, num_samples)
}
