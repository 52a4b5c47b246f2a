//! Vocoder: log-mel -> waveform.
//!
//! Two stages (see `docs/models/audio.md` for why):
//!
//! 1. **Magnitude network.** The mel filterbank's (ridge-regularised) pseudo-inverse maps the
//!    mel back to a linear magnitude spectrogram `(n_freq, frames)`; a small conv1d stack over
//!    time adds a learned correction to its log: `ln|X| = ln max(P exp(log_mel), floor) +
//!    net(log_mel)`. The output layer starts near zero, so an untrained vocoder is the plain
//!    pseudo-inverse and training only improves it.
//! 2. **Phase.** Fast Griffin-Lim (Perraudin et al. 2013: Griffin-Lim with momentum) over the
//!    same centred STFT as the front end ([`crate::mel::Stft`]), a fixed number of iterations
//!    from a deterministic phase, so the same mel always gives the same waveform.
//!
//! Checkpoint keys: `conv_in`, `blocks.{i}.conv1`, `blocks.{i}.conv2`, `conv_out`
//! (each with `weight` and `bias`). The pseudo-inverse is derived from the config, not stored.

use crate::mel::{MelConfig, Spectrogram, Stft};
use candle_core::{bail, DType, Device, Module, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Init, VarBuilder};
use rustfft::num_complex::Complex32;

/// Vocoder hyper-parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VocoderConfig {
    pub mel: MelConfig,
    /// Channels of the magnitude network.
    pub hidden: usize,
    /// Kernel size (over time) of the residual blocks.
    pub kernel: usize,
    /// Dilation of each residual block (one block per entry).
    pub dilations: Vec<usize>,
    /// Input normalisation: the net sees `(log_mel - log_mel_mean) / log_mel_scale`.
    pub log_mel_mean: f32,
    pub log_mel_scale: f32,
    /// Floor of the pseudo-inverse magnitude (and of targets in [`Vocoder::loss`]).
    pub mag_floor: f32,
    /// Ridge added to `M M^T` before inverting it.
    pub pinv_ridge: f64,
    /// Griffin-Lim iterations.
    pub gl_iters: usize,
    /// Griffin-Lim momentum (0 = classic Griffin-Lim).
    pub gl_momentum: f32,
}

impl VocoderConfig {
    /// kino-tiny: 96 channels, two dilated k=3 residual blocks, 32 fast Griffin-Lim iterations.
    pub fn kino_tiny() -> Self {
        VocoderConfig {
            mel: MelConfig::kino_tiny(),
            hidden: 96,
            kernel: 3,
            dilations: vec![1, 2],
            log_mel_mean: crate::audio_vae::LOG_MEL_MEAN,
            log_mel_scale: crate::audio_vae::LOG_MEL_SCALE,
            mag_floor: 1e-5,
            pinv_ridge: 1e-6,
            gl_iters: 32,
            gl_momentum: 0.99,
        }
    }
}

/// Ridge-regularised pseudo-inverse of the mel filterbank, `(n_freq, n_mels)` row-major:
/// `M^T (M M^T + ridge * mean(diag) I)^-1`.
pub fn filterbank_pinv(cfg: &MelConfig, ridge: f64) -> Vec<f32> {
    let (nm, nf) = (cfg.n_mels, cfg.n_freq());
    let fb: Vec<f64> = cfg.filterbank().iter().map(|&v| v as f64).collect();
    // G = M M^T (nm x nm)
    let mut g = vec![0f64; nm * nm];
    for i in 0..nm {
        for j in 0..nm {
            g[i * nm + j] = (0..nf).map(|k| fb[i * nf + k] * fb[j * nf + k]).sum();
        }
    }
    let mean_diag = (0..nm).map(|i| g[i * nm + i]).sum::<f64>() / nm as f64;
    for i in 0..nm {
        g[i * nm + i] += ridge * mean_diag.max(1e-30);
    }
    // Invert G by Gauss-Jordan (symmetric positive definite, no pivoting needed).
    let mut inv = vec![0f64; nm * nm];
    for i in 0..nm {
        inv[i * nm + i] = 1.0;
    }
    for c in 0..nm {
        let p = g[c * nm + c];
        for j in 0..nm {
            g[c * nm + j] /= p;
            inv[c * nm + j] /= p;
        }
        for r in 0..nm {
            if r != c {
                let f = g[r * nm + c];
                if f != 0.0 {
                    for j in 0..nm {
                        g[r * nm + j] -= f * g[c * nm + j];
                        inv[r * nm + j] -= f * inv[c * nm + j];
                    }
                }
            }
        }
    }
    // P = M^T G^-1 (nf x nm)
    let mut p = vec![0f32; nf * nm];
    for k in 0..nf {
        for j in 0..nm {
            p[k * nm + j] = (0..nm)
                .map(|i| fb[i * nf + k] * inv[i * nm + j])
                .sum::<f64>() as f32;
        }
    }
    p
}

/// Deterministic initial phase for Griffin-Lim: a fixed pseudo-random phase per bin
/// (same for every call), which converges to fewer pre-echo artefacts than zero phase.
fn initial_phase(n: usize) -> Vec<Complex32> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 40) as f32 / (1u64 << 24) as f32;
            let a = std::f32::consts::TAU * u;
            Complex32::new(a.cos(), a.sin())
        })
        .collect()
}

/// Fast Griffin-Lim: a waveform of `num_samples` samples whose STFT magnitude approximates
/// `magnitude` (`(n_freq, frames)` row-major). `momentum` 0 is classic Griffin-Lim.
pub fn griffin_lim(
    stft: &Stft,
    magnitude: &[f32],
    frames: usize,
    num_samples: usize,
    iters: usize,
    momentum: f32,
) -> Vec<f32> {
    let nf = stft.n_freq();
    assert_eq!(
        magnitude.len(),
        nf * frames,
        "magnitude must be (n_freq, frames)"
    );
    if frames == 0 || num_samples == 0 {
        return vec![0.0; num_samples];
    }
    // Work on the length whose frame count equals `frames`, then fit to `num_samples`.
    let len = frames * stft.hop();
    let mag: Vec<f32> = {
        let mut m = vec![0f32; nf * frames];
        for k in 0..nf {
            for t in 0..frames {
                m[t * nf + k] = magnitude[k * frames + t].max(0.0);
            }
        }
        m
    };
    let phase = initial_phase(nf * frames);
    let mut c = Spectrogram {
        n_freq: nf,
        frames,
        data: mag.iter().zip(&phase).map(|(&m, &p)| p * m).collect(),
    };
    let mut prev: Option<Vec<Complex32>> = None;
    for _ in 0..iters {
        let x = stft.inverse(&c, len);
        let t = stft.forward(&x);
        let mut next = t.data.clone();
        if let Some(p) = &prev {
            for ((n, &tv), &pv) in next.iter_mut().zip(&t.data).zip(p) {
                *n = tv + (tv - pv) * momentum;
            }
        }
        prev = Some(t.data);
        for ((cv, n), &m) in c.data.iter_mut().zip(&next).zip(&mag) {
            let a = n.norm();
            *cv = if a > 1e-12 {
                n * (m / a)
            } else {
                Complex32::new(m, 0.0)
            };
        }
    }
    let mut out = stft.inverse(&c, len);
    out.resize(num_samples, 0.0);
    out
}

/// A 1D conv with "same" zero padding.
fn conv_same(cin: usize, cout: usize, k: usize, dilation: usize, vb: VarBuilder) -> Result<Conv1d> {
    let cfg = Conv1dConfig {
        padding: dilation * (k - 1) / 2,
        dilation,
        ..Default::default()
    };
    candle_nn::conv1d(cin, cout, k, cfg, vb)
}

#[derive(Debug, Clone)]
struct ResBlock {
    conv1: Conv1d,
    conv2: Conv1d,
}

impl ResBlock {
    fn new(ch: usize, k: usize, dilation: usize, vb: VarBuilder) -> Result<Self> {
        Ok(ResBlock {
            conv1: conv_same(ch, ch, k, dilation, vb.pp("conv1"))?,
            conv2: conv_same(ch, ch, k, 1, vb.pp("conv2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&x.silu()?)?;
        let h = self.conv2.forward(&h.silu()?)?;
        x + h
    }
}

/// The vocoder: learned mel -> magnitude, then Griffin-Lim.
#[derive(Debug, Clone)]
pub struct Vocoder {
    cfg: VocoderConfig,
    conv_in: Conv1d,
    blocks: Vec<ResBlock>,
    conv_out: Conv1d,
    /// `(n_freq, n_mels)`.
    pinv: Tensor,
    stft: Stft,
}

impl Vocoder {
    pub fn new(cfg: VocoderConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.kernel.is_multiple_of(2) {
            bail!("vocoder kernel must be odd, got {}", cfg.kernel);
        }
        let (nm, nf) = (cfg.mel.n_mels, cfg.mel.n_freq());
        let conv_in = conv_same(nm, cfg.hidden, 5, 1, vb.pp("conv_in"))?;
        let blocks = cfg
            .dilations
            .iter()
            .enumerate()
            .map(|(i, &d)| ResBlock::new(cfg.hidden, cfg.kernel, d, vb.pp(format!("blocks.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        // Output layer starts near zero: the untrained vocoder is the pseudo-inverse.
        let vo = vb.pp("conv_out");
        let w = vo.get_with_hints(
            (nf, cfg.hidden, 1),
            "weight",
            Init::Randn {
                mean: 0.0,
                stdev: 1e-4,
            },
        )?;
        let b = vo.get_with_hints(nf, "bias", Init::Const(0.0))?;
        let conv_out = Conv1d::new(w, Some(b), Conv1dConfig::default());
        let pinv = Tensor::from_vec(
            filterbank_pinv(&cfg.mel, cfg.pinv_ridge),
            (nf, nm),
            vb.device(),
        )?
        .to_dtype(vb.dtype())?;
        let stft = cfg.mel.stft();
        Ok(Vocoder {
            cfg,
            conv_in,
            blocks,
            conv_out,
            pinv,
            stft,
        })
    }

    pub fn config(&self) -> &VocoderConfig {
        &self.cfg
    }

    /// `(n_mels, T)` or `(B, n_mels, T)` -> `(B, n_mels, T)` and whether a batch dim was added.
    fn batched(&self, log_mel: &Tensor) -> Result<(Tensor, bool)> {
        let nm = self.cfg.mel.n_mels;
        let (x, added) = match log_mel.rank() {
            2 => (log_mel.unsqueeze(0)?, true),
            3 => (log_mel.clone(), false),
            r => bail!(
                "vocoder: log-mel must be (n_mels={nm}, frames) or (B, n_mels={nm}, frames), got rank {r} shape {:?}",
                log_mel.dims()
            ),
        };
        let c = x.dim(1)?;
        if c != nm {
            bail!(
                "vocoder: log-mel has {c} mel bins, expected {nm} (shape {:?})",
                log_mel.dims()
            );
        }
        Ok((x, added))
    }

    /// Natural log of the predicted linear magnitude, `(B, n_freq, T)` (or `(n_freq, T)`).
    pub fn log_magnitude(&self, log_mel: &Tensor) -> Result<Tensor> {
        let (x, added) = self.batched(log_mel)?;
        let x = x.to_dtype(self.pinv.dtype())?;
        let base = self
            .pinv
            .broadcast_matmul(&x.exp()?)?
            .maximum(self.cfg.mag_floor as f64)?
            .log()?;
        let out = if x.dim(2)? == 0 {
            base
        } else {
            let h = ((x - self.cfg.log_mel_mean as f64)? / self.cfg.log_mel_scale as f64)?;
            let mut h = self.conv_in.forward(&h)?;
            for b in &self.blocks {
                h = b.forward(&h)?;
            }
            // The 1x1 output conv as a batched matmul: with candle 0.11's conv1d here,
            // training diverged for batch > 1 (same clip twice) while batch 1 converged; the
            // matmul form converges for both (kino-engine/examples/vocoder_batch_training.rs).
            let w = self.conv_out.weight().squeeze(2)?;
            let delta = w.broadcast_matmul(&h.silu()?)?;
            let delta = match self.conv_out.bias() {
                Some(b) => delta.broadcast_add(&b.unsqueeze(1)?)?,
                None => delta,
            };
            (base + delta)?
        };
        if added {
            out.squeeze(0)
        } else {
            Ok(out)
        }
    }

    /// Predicted linear magnitude, `(B, n_freq, T)` (or `(n_freq, T)` for a 2D input).
    pub fn magnitude(&self, log_mel: &Tensor) -> Result<Tensor> {
        self.log_magnitude(log_mel)?.exp()
    }

    /// Waveform of one clip: `log_mel` is `(n_mels, T)` or `(1, n_mels, T)`; the result has
    /// exactly `num_samples` samples (use [`MelConfig::frames_for`] to match `T`).
    pub fn waveform(&self, log_mel: &Tensor, num_samples: usize) -> Result<Vec<f32>> {
        let (x, _) = self.batched(log_mel)?;
        let b = x.dim(0)?;
        if b != 1 {
            bail!("vocoder: waveform takes one clip, got batch {b}; use waveform_batch");
        }
        Ok(self.waveform_batch(&x, num_samples)?.remove(0))
    }

    /// Waveforms of a batch `(B, n_mels, T)` (or one `(n_mels, T)` clip), `num_samples` each.
    pub fn waveform_batch(&self, log_mel: &Tensor, num_samples: usize) -> Result<Vec<Vec<f32>>> {
        let (x, _) = self.batched(log_mel)?;
        let mag = self.magnitude(&x)?.to_dtype(DType::F32)?;
        let (b, nf, t) = mag.dims3()?;
        let mut out = Vec::with_capacity(b);
        for i in 0..b {
            let m: Vec<f32> = mag.get(i)?.flatten_all()?.to_vec1()?;
            debug_assert_eq!(m.len(), nf * t);
            out.push(self.phase(&m, t, num_samples));
        }
        Ok(out)
    }

    /// Griffin-Lim over a given magnitude `(n_freq, frames)` row-major.
    pub fn phase(&self, magnitude: &[f32], frames: usize, num_samples: usize) -> Vec<f32> {
        griffin_lim(
            &self.stft,
            magnitude,
            frames,
            num_samples,
            self.cfg.gl_iters,
            self.cfg.gl_momentum,
        )
    }

    /// Training loss: mean `|ln|X_pred| - ln max(|X_target|, floor)|` over all bins and frames.
    /// `target_magnitude` is `(B, n_freq, T)` (or `(n_freq, T)`) linear STFT magnitude.
    pub fn loss(&self, log_mel: &Tensor, target_magnitude: &Tensor) -> Result<Tensor> {
        let pred = self.log_magnitude(log_mel)?;
        if pred.dims() != target_magnitude.dims() {
            bail!(
                "vocoder loss: target magnitude shape {:?} does not match prediction {:?}",
                target_magnitude.dims(),
                pred.dims()
            );
        }
        let tgt = target_magnitude
            .to_dtype(pred.dtype())?
            .maximum(self.cfg.mag_floor as f64)?
            .log()?;
        (pred - tgt)?.abs()?.mean_all()
    }

    /// Linear STFT magnitude of a waveform as `(n_freq, frames)` tensor: the training target.
    pub fn target_magnitude(&self, samples: &[f32], device: &Device) -> Result<Tensor> {
        let spec = self.stft.forward(samples);
        Tensor::from_vec(spec.magnitude(), (spec.n_freq, spec.frames), device)
    }
}
