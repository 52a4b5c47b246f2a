//! Audio VAE: log-mel `(B, 64, T)` <-> latents `(B, z, T / 4)`.
//!
//! A small conv1d KL autoencoder over time. Time is compressed 4x (two stride-2 stages), so
//! at 100 mel frames/s there are 25 latents/s and latent `k` stands for mel frames
//! `4k..4k+3` (times `[0.04k, 0.04k + 0.04)` s), on the same clock as the video latents.
//!
//! - Input length `T` must be a multiple of 4: pad at the end with silence
//!   ([`AudioVae::pad_log_mel`] appends frames of `ln(1e-5)`), then drop the extra decoded
//!   frames.
//! - The log-mel is normalised inside the model: `(x - LOG_MEL_MEAN) / LOG_MEL_SCALE`, and the
//!   decoder's output is mapped back, so callers only see raw log-mel.
//! - Normalisation layers are per-time-step LayerNorms over channels (not GroupNorm), so a
//!   frame's code never depends on the statistics of the rest of the clip.
//!
//! Checkpoint keys: `encoder.conv_in`, `encoder.blocks.{i}.{norm1,conv1,norm2,conv2}`,
//! `encoder.down.{i}.conv`, `encoder.norm_out`, `encoder.conv_out`, and the same under
//! `decoder.` with `decoder.up.{i}.conv` instead of `down`.

use candle_core::{bail, Module, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, VarBuilder};

/// Centre of kino-tiny log-mel values: measured mean -4.5 over world-like clips (modal
/// impacts over rolling / ambience noise, see `docs/models/audio.md`).
pub const LOG_MEL_MEAN: f32 = -4.5;
/// Scale of kino-tiny log-mel values: measured std 1.4, widened to 2 so the silence floor
/// `ln(1e-5)` = -11.5 maps to -3.5 rather than -5.
pub const LOG_MEL_SCALE: f32 = 2.0;

/// Audio VAE hyper-parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AudioVaeConfig {
    pub n_mels: usize,
    pub z_channels: usize,
    /// Width after `conv_in`, then after each stride-2 stage; `channels.len() - 1` stages,
    /// so the time downsampling is `2^(channels.len() - 1)`.
    pub channels: Vec<usize>,
    /// Residual blocks per level (and in the middle).
    pub blocks_per_level: usize,
    pub kernel: usize,
    pub log_mel_mean: f32,
    pub log_mel_scale: f32,
    /// Log-mel value used for padding (silence): `ln(1e-5)`.
    pub pad_value: f32,
}

impl AudioVaeConfig {
    /// kino-tiny: 64 mels -> 8 latent channels at 1/4 the frame rate, widths 64/128/128.
    pub fn kino_tiny() -> Self {
        AudioVaeConfig {
            n_mels: 64,
            z_channels: 8,
            channels: vec![64, 128, 128],
            blocks_per_level: 1,
            kernel: 3,
            log_mel_mean: LOG_MEL_MEAN,
            log_mel_scale: LOG_MEL_SCALE,
            pad_value: (1e-5f32).ln(),
        }
    }

    /// Time compression factor (4 for kino-tiny).
    pub fn time_downsample(&self) -> usize {
        1 << (self.channels.len().saturating_sub(1))
    }

    /// Latent frames for `frames` mel frames (after padding to a multiple of the factor).
    pub fn latent_frames(&self, frames: usize) -> usize {
        frames.div_ceil(self.time_downsample())
    }
}

/// LayerNorm over channels at every time step of a `(B, C, T)` tensor.
#[derive(Debug, Clone)]
struct ChannelNorm {
    weight: Tensor,
    bias: Tensor,
}

impl ChannelNorm {
    fn new(ch: usize, vb: VarBuilder) -> Result<Self> {
        Ok(ChannelNorm {
            weight: vb
                .get_with_hints((1, ch, 1), "weight", candle_nn::Init::Const(1.0))?
                .reshape((1, ch, 1))?,
            bias: vb
                .get_with_hints((1, ch, 1), "bias", candle_nn::Init::Const(0.0))?
                .reshape((1, ch, 1))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(1)?;
        let xn = xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
        xn.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

fn conv_same(cin: usize, cout: usize, k: usize, vb: VarBuilder) -> Result<Conv1d> {
    let cfg = Conv1dConfig {
        padding: (k - 1) / 2,
        ..Default::default()
    };
    candle_nn::conv1d(cin, cout, k, cfg, vb)
}

#[derive(Debug, Clone)]
struct ResBlock {
    norm1: ChannelNorm,
    conv1: Conv1d,
    norm2: ChannelNorm,
    conv2: Conv1d,
}

impl ResBlock {
    fn new(ch: usize, k: usize, vb: VarBuilder) -> Result<Self> {
        Ok(ResBlock {
            norm1: ChannelNorm::new(ch, vb.pp("norm1"))?,
            conv1: conv_same(ch, ch, k, vb.pp("conv1"))?,
            norm2: ChannelNorm::new(ch, vb.pp("norm2"))?,
            conv2: conv_same(ch, ch, k, vb.pp("conv2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&self.norm1.forward(x)?.silu()?)?;
        let h = self.conv2.forward(&self.norm2.forward(&h)?.silu()?)?;
        x + h
    }
}

/// Encoder: normalised log-mel -> `(mean, logvar)`.
#[derive(Debug, Clone)]
struct Encoder {
    conv_in: Conv1d,
    /// Per level: residual blocks, then the stride-2 conv.
    levels: Vec<(Vec<ResBlock>, Conv1d)>,
    mid: Vec<ResBlock>,
    norm_out: ChannelNorm,
    conv_out: Conv1d,
}

impl Encoder {
    fn new(cfg: &AudioVaeConfig, vb: VarBuilder) -> Result<Self> {
        let ch = &cfg.channels;
        let conv_in = conv_same(cfg.n_mels, ch[0], cfg.kernel, vb.pp("conv_in"))?;
        let mut n = 0;
        let mut levels = Vec::new();
        for i in 0..ch.len() - 1 {
            let mut blocks = Vec::new();
            for _ in 0..cfg.blocks_per_level {
                blocks.push(ResBlock::new(
                    ch[i],
                    cfg.kernel,
                    vb.pp(format!("blocks.{n}")),
                )?);
                n += 1;
            }
            let down = candle_nn::conv1d(
                ch[i],
                ch[i + 1],
                4,
                Conv1dConfig {
                    padding: 1,
                    stride: 2,
                    ..Default::default()
                },
                vb.pp(format!("down.{i}.conv")),
            )?;
            levels.push((blocks, down));
        }
        let last = *ch.last().unwrap_or(&ch[0]);
        let mut mid = Vec::new();
        for _ in 0..cfg.blocks_per_level {
            mid.push(ResBlock::new(
                last,
                cfg.kernel,
                vb.pp(format!("blocks.{n}")),
            )?);
            n += 1;
        }
        Ok(Encoder {
            conv_in,
            levels,
            mid,
            norm_out: ChannelNorm::new(last, vb.pp("norm_out"))?,
            conv_out: conv_same(last, 2 * cfg.z_channels, cfg.kernel, vb.pp("conv_out"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.conv_in.forward(x)?;
        for (blocks, down) in &self.levels {
            for b in blocks {
                h = b.forward(&h)?;
            }
            h = down.forward(&h)?;
        }
        for b in &self.mid {
            h = b.forward(&h)?;
        }
        self.conv_out.forward(&self.norm_out.forward(&h)?.silu()?)
    }
}

/// Decoder: latents -> normalised log-mel.
#[derive(Debug, Clone)]
struct Decoder {
    conv_in: Conv1d,
    mid: Vec<ResBlock>,
    /// Per level (coarse to fine): nearest x2 + conv, then residual blocks.
    levels: Vec<(Conv1d, Vec<ResBlock>)>,
    norm_out: ChannelNorm,
    conv_out: Conv1d,
}

impl Decoder {
    fn new(cfg: &AudioVaeConfig, vb: VarBuilder) -> Result<Self> {
        let ch = &cfg.channels;
        let last = *ch.last().unwrap_or(&ch[0]);
        let conv_in = conv_same(cfg.z_channels, last, cfg.kernel, vb.pp("conv_in"))?;
        let mut n = 0;
        let mut mid = Vec::new();
        for _ in 0..cfg.blocks_per_level {
            mid.push(ResBlock::new(
                last,
                cfg.kernel,
                vb.pp(format!("blocks.{n}")),
            )?);
            n += 1;
        }
        let mut levels = Vec::new();
        for (u, i) in (0..ch.len() - 1).rev().enumerate() {
            let up = conv_same(ch[i + 1], ch[i], cfg.kernel, vb.pp(format!("up.{u}.conv")))?;
            let mut blocks = Vec::new();
            for _ in 0..cfg.blocks_per_level {
                blocks.push(ResBlock::new(
                    ch[i],
                    cfg.kernel,
                    vb.pp(format!("blocks.{n}")),
                )?);
                n += 1;
            }
            levels.push((up, blocks));
        }
        Ok(Decoder {
            conv_in,
            mid,
            levels,
            norm_out: ChannelNorm::new(ch[0], vb.pp("norm_out"))?,
            conv_out: conv_same(ch[0], cfg.n_mels, cfg.kernel, vb.pp("conv_out"))?,
        })
    }

    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let mut h = self.conv_in.forward(z)?;
        for b in &self.mid {
            h = b.forward(&h)?;
        }
        for (up, blocks) in &self.levels {
            let t = h.dim(2)?;
            h = up.forward(&h.upsample_nearest1d(2 * t)?)?;
            for b in blocks {
                h = b.forward(&h)?;
            }
        }
        self.conv_out.forward(&self.norm_out.forward(&h)?.silu()?)
    }
}

/// The three parts of [`AudioVae::loss`].
#[derive(Debug, Clone)]
pub struct AudioVaeLoss {
    /// `recon + kl_weight * kl`.
    pub total: Tensor,
    /// Mean absolute error in normalised log-mel units (`|x - x_hat| / LOG_MEL_SCALE`).
    pub recon: Tensor,
    /// KL(q(z|x) || N(0, I)), mean over latent elements.
    pub kl: Tensor,
}

/// The audio VAE.
#[derive(Debug, Clone)]
pub struct AudioVae {
    cfg: AudioVaeConfig,
    encoder: Encoder,
    decoder: Decoder,
}

impl AudioVae {
    pub fn new(cfg: AudioVaeConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.channels.len() < 2 {
            bail!("audio VAE needs at least two channel widths (one downsampling stage)");
        }
        if cfg.kernel.is_multiple_of(2) {
            bail!("audio VAE kernel must be odd, got {}", cfg.kernel);
        }
        let encoder = Encoder::new(&cfg, vb.pp("encoder"))?;
        let decoder = Decoder::new(&cfg, vb.pp("decoder"))?;
        Ok(AudioVae {
            cfg,
            encoder,
            decoder,
        })
    }

    pub fn config(&self) -> &AudioVaeConfig {
        &self.cfg
    }

    /// Pads `(B, n_mels, T)` (or `(n_mels, T)`) at the end with silence frames to a multiple
    /// of the time factor. Returns the padded tensor; decode and then `narrow` back to `T`.
    pub fn pad_log_mel(&self, log_mel: &Tensor) -> Result<Tensor> {
        let f = self.cfg.time_downsample();
        let d = log_mel.rank() - 1;
        let t = log_mel.dim(d)?;
        let extra = t.div_ceil(f) * f - t;
        if extra == 0 && t > 0 {
            return Ok(log_mel.clone());
        }
        let extra = if t == 0 { f } else { extra };
        let mut shape = log_mel.dims().to_vec();
        shape[d] = extra;
        let pad =
            Tensor::full(self.cfg.pad_value, shape, log_mel.device())?.to_dtype(log_mel.dtype())?;
        Tensor::cat(&[log_mel, &pad], d)
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let f = self.cfg.time_downsample();
        let nm = self.cfg.n_mels;
        let Ok((_, c, t)) = x.dims3() else {
            bail!(
                "audio VAE: log-mel must be (B, {nm}, T), got shape {:?}",
                x.dims()
            );
        };
        if c != nm {
            bail!("audio VAE: log-mel has {c} mel bins, expected {nm}");
        }
        if t == 0 || t % f != 0 {
            bail!(
                "audio VAE: frame count {t} must be a positive multiple of {f}; pad with AudioVae::pad_log_mel"
            );
        }
        Ok(())
    }

    /// `(B, n_mels, T)` raw log-mel -> `(mean, logvar)`, each `(B, z_channels, T / 4)`.
    pub fn encode(&self, log_mel: &Tensor) -> Result<(Tensor, Tensor)> {
        self.check_input(log_mel)?;
        let x = ((log_mel - self.cfg.log_mel_mean as f64)? / self.cfg.log_mel_scale as f64)?;
        let h = self.encoder.forward(&x)?;
        let z = self.cfg.z_channels;
        let mean = h.narrow(1, 0, z)?;
        let logvar = h.narrow(1, z, z)?.clamp(-30f32, 20f32)?;
        Ok((mean, logvar))
    }

    /// `(B, z_channels, L)` latents -> `(B, n_mels, 4 L)` raw log-mel.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let zc = self.cfg.z_channels;
        let Ok((_, c, l)) = z.dims3() else {
            bail!(
                "audio VAE: latents must be (B, {zc}, L), got shape {:?}",
                z.dims()
            );
        };
        if c != zc {
            bail!("audio VAE: latents have {c} channels, expected {zc}");
        }
        if l == 0 {
            bail!("audio VAE: latents have no frames");
        }
        let y = self.decoder.forward(z)?;
        (y * self.cfg.log_mel_scale as f64)? + self.cfg.log_mel_mean as f64
    }

    /// Encode, sample, decode, and the VAE loss (see [`AudioVaeLoss`]).
    pub fn loss(&self, log_mel: &Tensor, kl_weight: f64) -> Result<AudioVaeLoss> {
        self.loss_with_noise(log_mel, kl_weight, |mean| mean.randn_like(0.0, 1.0))
    }

    /// [`Self::loss`] with the posterior's noise from `noise` (given the latent mean, it
    /// returns standard normal noise of its shape), so that a seeded trainer is
    /// deterministic.
    pub fn loss_with_noise(
        &self,
        log_mel: &Tensor,
        kl_weight: f64,
        noise: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<AudioVaeLoss> {
        let (mean, logvar) = self.encode(log_mel)?;
        let eps = noise(&mean)?;
        let z = (&mean + (&logvar * 0.5)?.exp()? * eps)?;
        let y = self.decode(&z)?;
        let recon = ((y - log_mel)?.abs()?.mean_all()? / self.cfg.log_mel_scale as f64)?;
        let kl = (((mean.sqr()? + logvar.exp()?)? - &logvar)? - 1.0)?;
        let kl = (kl * 0.5)?.mean_all()?;
        let total = recon.add(&(&kl * kl_weight)?)?;
        Ok(AudioVaeLoss { total, recon, kl })
    }

    /// Deterministic round trip (decode the mean), `(B, n_mels, T)` -> `(B, n_mels, T)`.
    pub fn reconstruct(&self, log_mel: &Tensor) -> Result<Tensor> {
        let (mean, _) = self.encode(log_mel)?;
        self.decode(&mean)
    }
}
