//! The twin-stream diffusion transformer: one stream of video latent patches, one stream of
//! audio latents, denoised together by flow matching.
//!
//! Each block, in each stream (after LTX-2's audio-video transformer and Ovi's twin backbone):
//! 1. AdaLN-modulated self-attention with QK RMS-norm and rotary positions,
//! 2. cross-attention to the text tokens,
//! 3. cross-attention to the *other* stream (video <- audio, audio <- video), both computed
//!    from the states entering this step, so the exchange is symmetric,
//! 4. an AdaLN-modulated GELU MLP.
//!
//! Positions are physical. The time axis of every rotary embedding is in seconds (times
//! `rope_time_scale`), so an audio latent and a video latent frame that describe the same
//! instant rotate by the same angle: the model sees "same time" directly, whatever the
//! frame rate or the audio latent rate. Video self-attention splits the head dimension into
//! (time, row, column) parts; audio self-attention and the audio-video cross-attention rotate
//! by time only.
//!
//! Conditioning latents (a first frame for image-to-video, the tail of a clip for extend, a
//! source clip for remix) enter by channel concatenation with a mask channel, as in Wan 2.1's
//! image-to-video model: the network input per stream is `[noisy, cond, mask]`.
//!
//! The network predicts the flow-matching velocity `noise - x0` for both streams.
//!
//! Key names (`blocks.N.video.self_attn.q`, `video_head.head`, ...) are kino's own checkpoint
//! layout; every op used here has a backward pass, so the same code trains.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of a twin-stream DiT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DitConfig {
    /// Channels of the video VAE latent.
    pub video_latent_channels: usize,
    /// Channels of the audio VAE latent.
    pub audio_latent_channels: usize,
    /// Spatial patch (rows, columns) of video latents per token.
    pub patch_size: (usize, usize),
    /// Latent frames per token (the frame count is padded to a multiple by repeating the
    /// last frame; the padding is cut from the output).
    #[serde(default = "one")]
    pub temporal_patch: usize,
    pub video_dim: usize,
    pub video_heads: usize,
    pub audio_dim: usize,
    pub audio_heads: usize,
    pub depth: usize,
    /// MLP hidden size as a multiple of the stream width.
    pub mlp_ratio: usize,
    /// Width of the text encoder's token outputs.
    pub text_dim: usize,
    /// Width of the sinusoidal timestep features.
    pub freq_dim: usize,
    pub rope_theta: f64,
    /// Rotary time units per second (positions are `seconds * rope_time_scale`).
    pub rope_time_scale: f64,
    pub eps: f64,
    /// Adds fixed sinusoidal features of each video token's place in the frame (row and
    /// column as fractions of the frame, so the same at every size) to its embedding. Rotary
    /// positions are relative only: with them alone a token at high noise can tell where it
    /// is only from how far the frame's edges are, which a model trained for a few thousand
    /// steps barely learns (it then misplaces what it draws). No weights: a model trained
    /// without them (false, every config written before this field) loads unchanged.
    #[serde(default)]
    pub absolute_positions: bool,
}

fn one() -> usize {
    1
}

impl DitConfig {
    /// The embedded default (sized for a 4 s 128x128 clip in seconds on two CPU cores).
    pub fn kino_tiny() -> Self {
        Self {
            video_latent_channels: 16,
            audio_latent_channels: 8,
            patch_size: (2, 2),
            temporal_patch: 2,
            video_dim: 128,
            video_heads: 4,
            audio_dim: 96,
            audio_heads: 3,
            depth: 6,
            mlp_ratio: 3,
            text_dim: 384,
            freq_dim: 128,
            rope_theta: 10_000.0,
            rope_time_scale: 25.0,
            eps: 1e-6,
            absolute_positions: false,
        }
    }

    /// A very small configuration for unit tests.
    pub fn test_tiny() -> Self {
        Self {
            video_latent_channels: 4,
            audio_latent_channels: 3,
            patch_size: (2, 2),
            temporal_patch: 2,
            video_dim: 32,
            video_heads: 2,
            audio_dim: 24,
            audio_heads: 2,
            depth: 2,
            mlp_ratio: 2,
            text_dim: 12,
            freq_dim: 16,
            rope_theta: 10_000.0,
            rope_time_scale: 25.0,
            eps: 1e-6,
            absolute_positions: false,
        }
    }

    /// Checks the invariants the layers rely on.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        check(
            self.video_heads > 0 && self.video_dim.is_multiple_of(self.video_heads),
            "video_dim must be a multiple of video_heads",
        )?;
        check(
            self.audio_heads > 0 && self.audio_dim.is_multiple_of(self.audio_heads),
            "audio_dim must be a multiple of audio_heads",
        )?;
        let vh = self.video_dim / self.video_heads;
        check(
            vh.is_multiple_of(8),
            "video head dim must be a multiple of 8 (time/row/column rotary parts)",
        )?;
        check(
            (self.audio_dim / self.audio_heads).is_multiple_of(2),
            "audio head dim must be even",
        )?;
        check(
            self.patch_size.0 > 0 && self.patch_size.1 > 0 && self.temporal_patch > 0,
            "patch sizes must be positive",
        )?;
        check(
            self.depth > 0 && self.mlp_ratio > 0,
            "depth and mlp_ratio must be positive",
        )?;
        check(
            self.freq_dim.is_multiple_of(2) && self.freq_dim > 0,
            "freq_dim must be even",
        )?;
        check(
            self.video_latent_channels > 0 && self.audio_latent_channels > 0,
            "latent channels must be positive",
        )?;
        Ok(())
    }

    /// Channels per video token before embedding: `[noisy, cond, mask]` per patch.
    pub fn video_in_features(&self) -> usize {
        (2 * self.video_latent_channels + 1)
            * self.temporal_patch
            * self.patch_size.0
            * self.patch_size.1
    }

    pub fn audio_in_features(&self) -> usize {
        2 * self.audio_latent_channels + 1
    }
}

/// One denoising call's inputs.
pub struct DitInput<'a> {
    /// Noisy video latents (B, Cv, F, H, W).
    pub video: &'a Tensor,
    /// Clean conditioning latents and mask (B, Cv + 1, F, H, W); zeros when unconditioned.
    pub video_cond: &'a Tensor,
    /// Time in seconds at the centre of each latent frame (length F).
    pub video_times: &'a [f64],
    /// Noisy audio latents (B, Ca, T).
    pub audio: &'a Tensor,
    /// Clean conditioning audio latents and mask (B, Ca + 1, T).
    pub audio_cond: &'a Tensor,
    /// Time in seconds at the centre of each audio latent (length T).
    pub audio_times: &'a [f64],
    /// Flow time in [0, 1] per sample for each stream (B,): 0 = clean, 1 = pure noise.
    pub video_t: &'a Tensor,
    pub audio_t: &'a Tensor,
    /// Text tokens (B, L, text_dim) and their mask (B, L), 1 for real tokens.
    pub text: &'a Tensor,
    pub text_mask: &'a Tensor,
}

/// Sinusoidal features of the flow time (scaled to [0, 1000] like diffusion timesteps).
pub fn timestep_features(t: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    let device = t.device();
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10_000f64.ln()) * i as f64 / half as f64).exp() as f32)
        .collect();
    let freqs = Tensor::from_vec(freqs, (1, half), device)?;
    let args =
        (t.to_dtype(DType::F32)?.affine(1000.0, 0.0)?.unsqueeze(1)?).broadcast_mul(&freqs)?;
    Tensor::cat(&[args.cos()?, args.sin()?], 1)
}

/// Rotary angle tables (cos, sin), each (N, head_dim / 2), for interleaved pairs.
#[derive(Debug, Clone)]
pub struct Rope {
    pub cos: Tensor,
    pub sin: Tensor,
}

impl Rope {
    /// Builds tables from per-token positions along several axes; `axis_dims[i]` head-dim
    /// channels rotate by `positions[token][i]`. The parts are concatenated in axis order.
    pub fn new(
        positions: &[Vec<f64>],
        axis_dims: &[usize],
        theta: f64,
        device: &Device,
    ) -> Result<Self> {
        let half: usize = axis_dims.iter().sum::<usize>() / 2;
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for pos in positions {
            for (axis, &d) in axis_dims.iter().enumerate() {
                let p = pos.get(axis).copied().unwrap_or(0.0);
                for i in 0..d / 2 {
                    let inv_freq = theta.powf(-(2.0 * i as f64) / d as f64);
                    let a = p * inv_freq;
                    cos.push(a.cos() as f32);
                    sin.push(a.sin() as f32);
                }
            }
        }
        let n = positions.len();
        Ok(Self {
            cos: Tensor::from_vec(cos, (n, half), device)?,
            sin: Tensor::from_vec(sin, (n, half), device)?,
        })
    }

    /// Rotates (B, H, N, Dh) by the table (interleaved pairs, like a complex multiply).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        if crate::fused::can_fuse(&[x, &self.cos, &self.sin]) {
            // Inference: candle's fused kernel computes the same products and sums per pair.
            return candle_nn::rotary_emb::rope_i(
                &x.contiguous()?,
                &self.cos.contiguous()?,
                &self.sin.contiguous()?,
            );
        }
        let (b, h, n, d) = x.dims4()?;
        let pairs = x.reshape((b, h, n, d / 2, 2))?;
        let x0 = pairs.narrow(4, 0, 1)?.squeeze(4)?;
        let x1 = pairs.narrow(4, 1, 1)?.squeeze(4)?;
        let cos = self.cos.reshape((1, 1, n, d / 2))?;
        let sin = self.sin.reshape((1, 1, n, d / 2))?;
        let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
        let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
        Tensor::stack(&[r0, r1], 4)?.reshape((b, h, n, d))
    }
}

fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let bound = 1.0 / (in_dim as f64).sqrt();
    let w = vb.get_with_hints(
        (out_dim, in_dim),
        "weight",
        Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    let b = vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?;
    Ok(Linear::new(w, Some(b)))
}

fn zero_linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let w = vb.get_with_hints((out_dim, in_dim), "weight", Init::Const(0.0))?;
    let b = vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?;
    Ok(Linear::new(w, Some(b)))
}

/// Layer norm over the last dimension without affine parameters (composed ops, so it trains).
fn layer_norm_plain(x: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)
}

/// Affine layer norm (weight, bias), composed ops.
#[derive(Debug, Clone)]
struct AffineNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl AffineNorm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", Init::Const(0.0))?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if crate::fused::can_fuse(&[x, &self.weight, &self.bias]) {
            return crate::fused::layer_norm_mul_add(x, &self.weight, &self.bias, self.eps);
        }
        layer_norm_plain(x, self.eps)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// RMS norm with a learned scale, composed ops.
#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if crate::fused::can_fuse(&[x, &self.weight]) {
            // Inference: candle's fused kernel, the same x / sqrt(mean(x^2) + eps) * weight.
            return candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps as f32);
        }
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        x.broadcast_div(&(ms + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.weight)
    }
}

/// Multi-head attention with QK RMS-norm; queries from `x`, keys/values from `context`.
#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    heads: usize,
}

impl Attention {
    fn new(dim: usize, context_dim: usize, heads: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            q: linear(dim, dim, vb.pp("q"))?,
            k: linear(context_dim, dim, vb.pp("k"))?,
            v: linear(context_dim, dim, vb.pp("v"))?,
            o: linear(dim, dim, vb.pp("o"))?,
            norm_q: RmsNorm::new(dim, eps, vb.pp("norm_q"))?,
            norm_k: RmsNorm::new(dim, eps, vb.pp("norm_k"))?,
            heads,
        })
    }

    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        x.reshape((b, n, self.heads, d / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `mask`: (B, M) with 1 for keys that may be attended.
    fn forward(
        &self,
        x: &Tensor,
        context: &Tensor,
        rope_q: Option<&Rope>,
        rope_k: Option<&Rope>,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let q = self.split_heads(&self.norm_q.forward(&self.q.forward(x)?)?)?;
        let k = self.split_heads(&self.norm_k.forward(&self.k.forward(context)?)?)?;
        let v = self.split_heads(&self.v.forward(context)?)?;
        let q = match rope_q {
            Some(r) => r.apply(&q)?,
            None => q,
        };
        let k = match rope_k {
            Some(r) => r.apply(&k)?,
            None => k,
        };
        let head_dim = d / self.heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        // 0 where allowed, -1e9 where masked; broadcast over heads and queries.
        let bias = match mask {
            Some(mask) => {
                let m = mask.dim(1)?;
                Some(((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, 1, m))?)
            }
            None => None,
        };
        let out = if crate::fused::can_fuse(&[&q, &k, &v]) {
            // Inference scales the (N, Dh) queries instead of the (N, M) scores: the same
            // product up to float rounding, one pass over a far smaller tensor.
            crate::fused::attention(&(q * scale)?, &k, &v, bias.as_ref())?
        } else {
            let scores = (q.matmul(&k.t()?)? * scale)?;
            let scores = match &bias {
                Some(bias) => scores.broadcast_add(bias)?,
                None => scores,
            };
            candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?
        };
        let out = out.transpose(1, 2)?.reshape((b, n, d))?;
        self.o.forward(&out)
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn new(dim: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(dim, hidden, vb.pp("fc1"))?,
            fc2: linear(hidden, dim, vb.pp("fc2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2
            .forward(&crate::fused::gelu(&self.fc1.forward(x)?)?)
    }
}

/// The six modulation vectors of one block: shift/scale/gate for attention and for the MLP.
struct Modulation {
    shift_attn: Tensor,
    scale_attn: Tensor,
    gate_attn: Tensor,
    shift_mlp: Tensor,
    scale_mlp: Tensor,
    gate_mlp: Tensor,
}

/// One stream's half of a twin block.
#[derive(Debug, Clone)]
struct StreamBlock {
    modulation: Tensor,
    self_attn: Attention,
    text_norm: AffineNorm,
    text_attn: Attention,
    cross_norm: AffineNorm,
    cross_attn: Attention,
    mlp: Mlp,
    eps: f64,
}

impl StreamBlock {
    fn new(
        dim: usize,
        other_dim: usize,
        heads: usize,
        cfg: &DitConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            modulation: vb.get_with_hints(
                (1, 6, dim),
                "modulation",
                Init::Randn {
                    mean: 0.0,
                    stdev: 1.0 / (dim as f64).sqrt(),
                },
            )?,
            self_attn: Attention::new(dim, dim, heads, cfg.eps, vb.pp("self_attn"))?,
            text_norm: AffineNorm::new(dim, cfg.eps, vb.pp("text_norm"))?,
            text_attn: Attention::new(dim, dim, heads, cfg.eps, vb.pp("text_attn"))?,
            cross_norm: AffineNorm::new(dim, cfg.eps, vb.pp("cross_norm"))?,
            cross_attn: Attention::new(dim, other_dim, heads, cfg.eps, vb.pp("cross_attn"))?,
            mlp: Mlp::new(dim, dim * cfg.mlp_ratio, vb.pp("mlp"))?,
            eps: cfg.eps,
        })
    }

    /// `time`: (B, 6, dim) projected timestep features for this stream.
    fn modulation(&self, time: &Tensor) -> Result<Modulation> {
        let m = time.broadcast_add(&self.modulation)?;
        let part = |i: usize| m.narrow(1, i, 1);
        Ok(Modulation {
            shift_attn: part(0)?,
            scale_attn: part(1)?,
            gate_attn: part(2)?,
            shift_mlp: part(3)?,
            scale_mlp: part(4)?,
            gate_mlp: part(5)?,
        })
    }

    fn modulate(&self, x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
        if crate::fused::can_fuse(&[x, shift, scale]) {
            return crate::fused::layer_norm_mul_add(x, &(scale + 1.0)?, shift, self.eps);
        }
        layer_norm_plain(x, self.eps)?
            .broadcast_mul(&(scale + 1.0)?)?
            .broadcast_add(shift)
    }

    /// Self-attention and text cross-attention (the part before the audio-video exchange).
    fn first_half(
        &self,
        x: &Tensor,
        m: &Modulation,
        rope: &Rope,
        text: &Tensor,
        text_mask: &Tensor,
    ) -> Result<Tensor> {
        let h = self.modulate(x, &m.shift_attn, &m.scale_attn)?;
        let h = self
            .self_attn
            .forward(&h, &h, Some(rope), Some(rope), None)?;
        let x = (x + h.broadcast_mul(&m.gate_attn)?)?;
        let h = self.text_attn.forward(
            &self.text_norm.forward(&x)?,
            text,
            None,
            None,
            Some(text_mask),
        )?;
        x + h
    }

    fn exchange(
        &self,
        x: &Tensor,
        other: &Tensor,
        rope_x: &Rope,
        rope_other: &Rope,
    ) -> Result<Tensor> {
        self.cross_attn.forward(
            &self.cross_norm.forward(x)?,
            other,
            Some(rope_x),
            Some(rope_other),
            None,
        )
    }

    fn second_half(&self, x: &Tensor, m: &Modulation) -> Result<Tensor> {
        let h = self
            .mlp
            .forward(&self.modulate(x, &m.shift_mlp, &m.scale_mlp)?)?;
        x + h.broadcast_mul(&m.gate_mlp)?
    }
}

#[derive(Debug, Clone)]
struct TwinBlock {
    video: StreamBlock,
    audio: StreamBlock,
}

/// Per-stream embeddings of the timestep and text, and the output head.
#[derive(Debug, Clone)]
struct StreamIo {
    time_fc1: Linear,
    time_fc2: Linear,
    time_projection: Linear,
    text_fc1: Linear,
    text_fc2: Linear,
    head_modulation: Tensor,
    head: Linear,
    dim: usize,
    freq_dim: usize,
    eps: f64,
}

impl StreamIo {
    fn new(dim: usize, out_features: usize, cfg: &DitConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            time_fc1: linear(cfg.freq_dim, dim, vb.pp("time_embedding.0"))?,
            time_fc2: linear(dim, dim, vb.pp("time_embedding.2"))?,
            time_projection: zero_linear(dim, 6 * dim, vb.pp("time_projection.1"))?,
            text_fc1: linear(cfg.text_dim, dim, vb.pp("text_embedding.0"))?,
            text_fc2: linear(dim, dim, vb.pp("text_embedding.2"))?,
            head_modulation: vb.get_with_hints(
                (1, 2, dim),
                "head.modulation",
                Init::Randn {
                    mean: 0.0,
                    stdev: 1.0 / (dim as f64).sqrt(),
                },
            )?,
            head: zero_linear(dim, out_features, vb.pp("head.head"))?,
            dim,
            freq_dim: cfg.freq_dim,
            eps: cfg.eps,
        })
    }

    /// Returns the time embedding (B, 1, dim) and the block modulation input (B, 6, dim).
    fn time(&self, t: &Tensor) -> Result<(Tensor, Tensor)> {
        let f = timestep_features(t, self.freq_dim)?;
        let e = self.time_fc2.forward(&self.time_fc1.forward(&f)?.silu()?)?;
        let b = e.dim(0)?;
        let proj = self
            .time_projection
            .forward(&e.silu()?)?
            .reshape((b, 6, self.dim))?;
        Ok((e.unsqueeze(1)?, proj))
    }

    fn text(&self, text: &Tensor) -> Result<Tensor> {
        self.text_fc2.forward(&self.text_fc1.forward(text)?.gelu()?)
    }

    fn output(&self, x: &Tensor, time_emb: &Tensor) -> Result<Tensor> {
        let m = time_emb.broadcast_add(&self.head_modulation)?;
        let shift = m.narrow(1, 0, 1)?;
        let scale = m.narrow(1, 1, 1)?;
        let h = if crate::fused::can_fuse(&[x, &shift, &scale]) {
            crate::fused::layer_norm_mul_add(x, &(scale + 1.0)?, &shift, self.eps)?
        } else {
            layer_norm_plain(x, self.eps)?
                .broadcast_mul(&(scale + 1.0)?)?
                .broadcast_add(&shift)?
        };
        self.head.forward(&h)
    }
}

/// The twin-stream DiT.
#[derive(Debug, Clone)]
pub struct TwinDit {
    cfg: DitConfig,
    video_embed: Linear,
    audio_embed: Linear,
    video_io: StreamIo,
    audio_io: StreamIo,
    blocks: Vec<TwinBlock>,
}

impl TwinDit {
    pub fn new(cfg: &DitConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::msg)?;
        let (ph, pw) = cfg.patch_size;
        let video_out = cfg.video_latent_channels * cfg.temporal_patch * ph * pw;
        let mut blocks = Vec::with_capacity(cfg.depth);
        for i in 0..cfg.depth {
            let vb = vb.pp(format!("blocks.{i}"));
            blocks.push(TwinBlock {
                video: StreamBlock::new(
                    cfg.video_dim,
                    cfg.audio_dim,
                    cfg.video_heads,
                    cfg,
                    vb.pp("video"),
                )?,
                audio: StreamBlock::new(
                    cfg.audio_dim,
                    cfg.video_dim,
                    cfg.audio_heads,
                    cfg,
                    vb.pp("audio"),
                )?,
            });
        }
        Ok(Self {
            cfg: cfg.clone(),
            video_embed: linear(cfg.video_in_features(), cfg.video_dim, vb.pp("video_embed"))?,
            audio_embed: linear(cfg.audio_in_features(), cfg.audio_dim, vb.pp("audio_embed"))?,
            video_io: StreamIo::new(cfg.video_dim, video_out, cfg, vb.pp("video"))?,
            audio_io: StreamIo::new(
                cfg.audio_dim,
                cfg.audio_latent_channels,
                cfg,
                vb.pp("audio"),
            )?,
            blocks,
        })
    }

    pub fn config(&self) -> &DitConfig {
        &self.cfg
    }

    /// Video tokens as (B, F * Hp * Wp, C * ph * pw), row-major over (frame, row, column).
    pub fn patchify(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, f, h, w) = x.dims5()?;
        let (ph, pw) = self.cfg.patch_size;
        if h % ph != 0 || w % pw != 0 {
            candle_core::bail!(
                "video latent {h}x{w} is not a multiple of the patch size {ph}x{pw}"
            );
        }
        let (hp, wp) = (h / ph, w / pw);
        // (B, C, F, Hp, ph, Wp, pw) -> (B, F, Hp, Wp, C, ph, pw)
        x.reshape((b, c, f * hp, ph, wp, pw))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((b, f * hp * wp, c * ph * pw))
    }

    /// Inverse of [`Self::patchify`] for the head's output channels.
    pub fn unpatchify(
        &self,
        tokens: &Tensor,
        c: usize,
        f: usize,
        h: usize,
        w: usize,
    ) -> Result<Tensor> {
        let b = tokens.dim(0)?;
        let (ph, pw) = self.cfg.patch_size;
        let (hp, wp) = (h / ph, w / pw);
        tokens
            .reshape((b, f * hp, wp, c, ph, pw))?
            .permute((0, 3, 1, 4, 2, 5))?
            .reshape((b, c, f, h, w))
    }

    fn check(&self, input: &DitInput) -> Result<()> {
        let cfg = &self.cfg;
        let (b, cv, f, h, w) = input.video.dims5()?;
        if cv != cfg.video_latent_channels {
            candle_core::bail!(
                "video latents have {cv} channels, the model expects {}",
                cfg.video_latent_channels
            );
        }
        if input.video_cond.dims5()? != (b, cv + 1, f, h, w) {
            candle_core::bail!(
                "video conditioning has shape {:?}, expected {:?}",
                input.video_cond.dims(),
                (b, cv + 1, f, h, w)
            );
        }
        if input.video_times.len() != f {
            candle_core::bail!(
                "{} video times for {f} latent frames",
                input.video_times.len()
            );
        }
        let (ba, ca, t) = input.audio.dims3()?;
        if ba != b || ca != cfg.audio_latent_channels {
            candle_core::bail!(
                "audio latents have shape {:?}, expected batch {b} and {} channels",
                input.audio.dims(),
                cfg.audio_latent_channels
            );
        }
        if input.audio_cond.dims3()? != (b, ca + 1, t) {
            candle_core::bail!(
                "audio conditioning has shape {:?}, expected {:?}",
                input.audio_cond.dims(),
                (b, ca + 1, t)
            );
        }
        if input.audio_times.len() != t {
            candle_core::bail!(
                "{} audio times for {t} audio latents",
                input.audio_times.len()
            );
        }
        let (bt, _l, td) = input.text.dims3()?;
        if bt != b || td != cfg.text_dim {
            candle_core::bail!(
                "text tokens have shape {:?}, expected batch {b} and width {}",
                input.text.dims(),
                cfg.text_dim
            );
        }
        if input.video_t.dims1()? != b || input.audio_t.dims1()? != b {
            candle_core::bail!("flow times must have one value per sample ({b})");
        }
        Ok(())
    }

    /// Rotary tables: (video self, audio self, video time-only, audio time-only).
    fn ropes(
        &self,
        f: usize,
        hp: usize,
        wp: usize,
        video_times: &[f64],
        audio_times: &[f64],
        device: &Device,
    ) -> Result<[Rope; 4]> {
        let cfg = &self.cfg;
        let vhd = cfg.video_dim / cfg.video_heads;
        let ahd = cfg.audio_dim / cfg.audio_heads;
        let ts = cfg.rope_time_scale;
        let mut video_pos = Vec::with_capacity(f * hp * wp);
        for &t in video_times.iter().take(f) {
            for r in 0..hp {
                for c in 0..wp {
                    video_pos.push(vec![t * ts, r as f64, c as f64]);
                }
            }
        }
        let audio_pos: Vec<Vec<f64>> = audio_times.iter().map(|&t| vec![t * ts]).collect();
        let (dt, dy) = (vhd / 2, vhd / 4);
        let video_self = Rope::new(&video_pos, &[dt, dy, vhd - dt - dy], cfg.rope_theta, device)?;
        let audio_self = Rope::new(&audio_pos, &[ahd], cfg.rope_theta, device)?;
        // Cross-modal attention rotates by time alone, over each stream's own head width.
        let video_time = Rope::new(&video_pos, &[vhd], cfg.rope_theta, device)?;
        let audio_time_for_video = Rope::new(&audio_pos, &[vhd], cfg.rope_theta, device)?;
        let audio_time = Rope::new(&audio_pos, &[ahd], cfg.rope_theta, device)?;
        let video_time_for_audio = Rope::new(&video_pos, &[ahd], cfg.rope_theta, device)?;
        // Packed in pairs: the video stream's exchange uses (video_time, audio_time_for_video),
        // the audio stream's uses (audio_time, video_time_for_audio).
        Ok([
            video_self,
            audio_self,
            Rope::cat(&video_time, &audio_time_for_video)?,
            Rope::cat(&audio_time, &video_time_for_audio)?,
        ])
    }

    /// Predicts the flow velocity for both streams: (B, Cv, F, H, W) and (B, Ca, T).
    pub fn forward(&self, input: &DitInput) -> Result<(Tensor, Tensor)> {
        self.check(input)?;
        let cfg = &self.cfg;
        let (b, cv, f, h, w) = input.video.dims5()?;
        let (_, ca, t) = input.audio.dims3()?;
        let (ph, pw) = cfg.patch_size;
        let pt = cfg.temporal_patch;
        let (hp, wp) = (h / ph, w / pw);
        let fp = f.div_ceil(pt);
        let nv = fp * hp * wp;
        let device = input.video.device();

        let video_in = pad_frames(&Tensor::cat(&[input.video, input.video_cond], 1)?, fp * pt)?;
        let mut xv = self
            .video_embed
            .forward(&self.patchify(&fold_time(&video_in, pt)?)?)?;
        // Each token's time is the mean time of the frames it covers (padding extrapolated).
        let step = if f > 1 {
            input.video_times[f - 1] - input.video_times[f - 2]
        } else {
            0.0
        };
        let token_times: Vec<f64> = (0..fp)
            .map(|j| {
                let at = |k: usize| {
                    if k < f {
                        input.video_times[k]
                    } else {
                        input.video_times[f - 1] + step * (k + 1 - f) as f64
                    }
                };
                (0..pt).map(|i| at(j * pt + i)).sum::<f64>() / pt as f64
            })
            .collect();
        if cfg.absolute_positions {
            let places = frame_place_features(hp, wp, cfg.video_dim, device)?;
            xv = xv
                .reshape((b, fp, hp * wp, cfg.video_dim))?
                .broadcast_add(&places)?
                .reshape((b, nv, cfg.video_dim))?;
        }
        let audio_in = Tensor::cat(&[input.audio, input.audio_cond], 1)?.transpose(1, 2)?;
        let mut xa = self.audio_embed.forward(&audio_in)?;

        let (v_emb, v_time) = self.video_io.time(input.video_t)?;
        let (a_emb, a_time) = self.audio_io.time(input.audio_t)?;
        let text = input.text.to_dtype(DType::F32)?;
        let v_text = self.video_io.text(&text)?;
        let a_text = self.audio_io.text(&text)?;
        let [v_rope, a_rope, v_cross, a_cross] =
            self.ropes(fp, hp, wp, &token_times, input.audio_times, device)?;
        let (v_cross_q, a_cross_k) = v_cross.split(nv)?;
        let (a_cross_q, v_cross_k) = a_cross.split(t)?;

        for block in &self.blocks {
            let vm = block.video.modulation(&v_time)?;
            let am = block.audio.modulation(&a_time)?;
            let v1 = block
                .video
                .first_half(&xv, &vm, &v_rope, &v_text, input.text_mask)?;
            let a1 = block
                .audio
                .first_half(&xa, &am, &a_rope, &a_text, input.text_mask)?;
            let v2 = (&v1 + block.video.exchange(&v1, &a1, &v_cross_q, &a_cross_k)?)?;
            let a2 = (&a1 + block.audio.exchange(&a1, &v1, &a_cross_q, &v_cross_k)?)?;
            xv = block.video.second_half(&v2, &vm)?;
            xa = block.audio.second_half(&a2, &am)?;
        }

        let video = self.video_io.output(&xv, &v_emb)?;
        let video =
            unfold_time(&self.unpatchify(&video, cv * pt, fp, h, w)?, pt)?.narrow(2, 0, f)?;
        let audio = self
            .audio_io
            .output(&xa, &a_emb)?
            .transpose(1, 2)?
            .contiguous()?;
        debug_assert_eq!(audio.dims3()?, (b, ca, t));
        Ok((video, audio))
    }
}

/// (hp * wp, dim) features of each token's place in the frame, row-major: the first half of
/// `dim` describes the row, the second the column, each as sine/cosine pairs of the centre's
/// fraction of the frame (0..1) at frequencies from 1/2 to 8 cycles per frame, spaced
/// geometrically (`DitConfig::absolute_positions`).
/// `dim` is a multiple of 4 (`DitConfig::validate` makes the video head dim, and so
/// `video_dim`, a multiple of 8).
fn frame_place_features(hp: usize, wp: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let pairs = dim / 4;
    let freq = |k: usize| {
        let x = if pairs > 1 {
            k as f64 / (pairs - 1) as f64
        } else {
            0.0
        };
        std::f64::consts::PI * 2f64.powf(4.0 * x)
    };
    let mut data = Vec::with_capacity(hp * wp * dim);
    for r in 0..hp {
        for c in 0..wp {
            for u in [(r as f64 + 0.5) / hp as f64, (c as f64 + 0.5) / wp as f64] {
                for k in 0..pairs {
                    let a = freq(k) * u;
                    data.push(a.sin() as f32);
                    data.push(a.cos() as f32);
                }
            }
        }
    }
    Tensor::from_vec(data, (hp * wp, dim), device)
}

/// Repeats the last frame of (B, C, F, H, W) until there are `n` frames.
fn pad_frames(x: &Tensor, n: usize) -> Result<Tensor> {
    let f = x.dim(2)?;
    if f >= n {
        return Ok(x.clone());
    }
    let last = x.narrow(2, f - 1, 1)?.repeat((1, 1, n - f, 1, 1))?;
    Tensor::cat(&[x, &last], 2)
}

/// (B, C, Fp * pt, H, W) -> (B, C * pt, Fp, H, W): groups of `pt` frames become channels.
fn fold_time(x: &Tensor, pt: usize) -> Result<Tensor> {
    if pt == 1 {
        return Ok(x.clone());
    }
    let (b, c, f, h, w) = x.dims5()?;
    x.reshape((b, c, f / pt, pt, h * w))?
        .permute((0, 1, 3, 2, 4))?
        .reshape((b, c * pt, f / pt, h, w))
}

/// Inverse of [`fold_time`].
fn unfold_time(x: &Tensor, pt: usize) -> Result<Tensor> {
    if pt == 1 {
        return Ok(x.clone());
    }
    let (b, cp, fp, h, w) = x.dims5()?;
    x.reshape((b, cp / pt, pt, fp, h * w))?
        .permute((0, 1, 3, 2, 4))?
        .reshape((b, cp / pt, fp * pt, h, w))
}

impl Rope {
    /// Stacks two tables along the token axis.
    fn cat(a: &Rope, b: &Rope) -> Result<Rope> {
        Ok(Rope {
            cos: Tensor::cat(&[&a.cos, &b.cos], 0)?,
            sin: Tensor::cat(&[&a.sin, &b.sin], 0)?,
        })
    }

    /// Splits a stacked table after `n` tokens.
    fn split(&self, n: usize) -> Result<(Rope, Rope)> {
        let total = self.cos.dim(0)?;
        Ok((
            Rope {
                cos: self.cos.narrow(0, 0, n)?.contiguous()?,
                sin: self.sin.narrow(0, 0, n)?.contiguous()?,
            },
            Rope {
                cos: self.cos.narrow(0, n, total - n)?.contiguous()?,
                sin: self.sin.narrow(0, n, total - n)?.contiguous()?,
            },
        ))
    }
}

/// Centre time in seconds of each latent frame of a causal video VAE that keeps the first
/// frame alone and groups the rest by `temporal_factor`.
pub fn video_latent_times(latent_frames: usize, temporal_factor: usize, fps: f64) -> Vec<f64> {
    (0..latent_frames)
        .map(|j| {
            if j == 0 {
                0.0
            } else {
                ((temporal_factor * j) as f64 - (temporal_factor as f64 - 1.0) / 2.0) / fps
            }
        })
        .collect()
}

/// Centre time in seconds of each audio latent covering `frames_per_latent` hops.
pub fn audio_latent_times(
    latents: usize,
    frames_per_latent: usize,
    hop: usize,
    sample_rate: u32,
) -> Vec<f64> {
    (0..latents)
        .map(|k| {
            ((frames_per_latent * k) as f64 + (frames_per_latent as f64 - 1.0) / 2.0) * hop as f64
                / sample_rate as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    struct Case {
        video: Tensor,
        video_cond: Tensor,
        video_times: Vec<f64>,
        audio: Tensor,
        audio_cond: Tensor,
        audio_times: Vec<f64>,
        t: Tensor,
        text: Tensor,
        text_mask: Tensor,
    }

    impl Case {
        fn new(
            cfg: &DitConfig,
            b: usize,
            f: usize,
            h: usize,
            w: usize,
            ta: usize,
            l: usize,
        ) -> Result<Self> {
            let dev = Device::Cpu;
            Ok(Self {
                video: Tensor::randn(0f32, 1.0, (b, cfg.video_latent_channels, f, h, w), &dev)?,
                video_cond: Tensor::zeros(
                    (b, cfg.video_latent_channels + 1, f, h, w),
                    DType::F32,
                    &dev,
                )?,
                video_times: video_latent_times(f, 4, 24.0),
                audio: Tensor::randn(0f32, 1.0, (b, cfg.audio_latent_channels, ta), &dev)?,
                audio_cond: Tensor::zeros(
                    (b, cfg.audio_latent_channels + 1, ta),
                    DType::F32,
                    &dev,
                )?,
                audio_times: audio_latent_times(ta, 4, 160, 16_000),
                t: Tensor::from_vec(vec![0.3f32; b], b, &dev)?,
                text: Tensor::randn(0f32, 1.0, (b, l, cfg.text_dim), &dev)?,
                text_mask: Tensor::ones((b, l), DType::F32, &dev)?,
            })
        }

        fn input(&self) -> DitInput<'_> {
            DitInput {
                video: &self.video,
                video_cond: &self.video_cond,
                video_times: &self.video_times,
                audio: &self.audio,
                audio_cond: &self.audio_cond,
                audio_times: &self.audio_times,
                video_t: &self.t,
                audio_t: &self.t,
                text: &self.text,
                text_mask: &self.text_mask,
            }
        }
    }

    /// A model whose zero-initialised heads are replaced by random ones, so outputs depend on
    /// every input (a freshly initialised DiT outputs zeros by design).
    fn random_model(cfg: &DitConfig) -> Result<(VarMap, TwinDit)> {
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
        let model = TwinDit::new(cfg, vb)?;
        for (name, var) in map.data().lock().unwrap().iter() {
            if name.contains("head.head") || name.contains("time_projection") {
                var.set(&Tensor::randn(0f32, 0.2, var.shape(), &Device::Cpu)?)?;
            }
        }
        Ok((map, model))
    }

    #[test]
    fn absolute_positions_add_no_weights_and_tell_places_apart() -> Result<()> {
        let cfg = DitConfig::test_tiny();
        let (map, model) = random_model(&cfg)?;
        let with = DitConfig {
            absolute_positions: true,
            ..cfg.clone()
        };
        // The same weights load into the model with place features.
        let placed = TwinDit::new(
            &with,
            VarBuilder::from_tensors(
                map.data()
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                    .collect(),
                DType::F32,
                &Device::Cpu,
            ),
        )?;
        let case = Case::new(&cfg, 1, 3, 4, 4, 6, 5)?;
        let (v0, a0) = model.forward(&case.input())?;
        let (v1, a1) = placed.forward(&case.input())?;
        assert_eq!(v0.dims(), v1.dims());
        assert_eq!(a0.dims(), a1.dims());
        let diff = (&v0 - &v1)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff > 1e-3, "place features change the prediction ({diff})");

        // Features of the frame's places: one row per token, no two places alike, and the
        // same fractions of the frame give the same features at any size.
        let small = frame_place_features(2, 2, 16, &Device::Cpu)?;
        let big = frame_place_features(6, 6, 16, &Device::Cpu)?;
        assert_eq!(small.dims(), [4, 16]);
        let rows = big.to_vec2::<f32>()?;
        for i in 0..rows.len() {
            for j in 0..i {
                let d: f32 = rows[i]
                    .iter()
                    .zip(&rows[j])
                    .map(|(a, b)| (a - b).abs())
                    .sum();
                assert!(d > 1e-3, "places {i} and {j} look alike");
            }
        }
        // Centre of a 2x2 grid's first cell (0.25, 0.25) = centre of a 6x6 grid's cell (1, 1)
        // only in row/column fraction terms: (1 + 0.5) / 6 = 0.25.
        let a = small.get(0)?.to_vec1::<f32>()?;
        let b = big.get(6 + 1)?.to_vec1::<f32>()?;
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
        Ok(())
    }

    #[test]
    fn output_shapes_match_inputs() -> Result<()> {
        let cfg = DitConfig::test_tiny();
        let (_map, model) = random_model(&cfg)?;
        let case = Case::new(&cfg, 2, 3, 4, 6, 7, 5)?;
        let (v, a) = model.forward(&case.input())?;
        assert_eq!(v.dims(), case.video.dims());
        assert_eq!(a.dims(), case.audio.dims());
        Ok(())
    }

    #[test]
    fn fresh_model_predicts_zero_velocity() -> Result<()> {
        let cfg = DitConfig::test_tiny();
        let map = VarMap::new();
        let model = TwinDit::new(
            &cfg,
            VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu),
        )?;
        let case = Case::new(&cfg, 1, 2, 4, 4, 3, 2)?;
        let (v, a) = model.forward(&case.input())?;
        assert_eq!(v.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
        assert_eq!(a.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
        Ok(())
    }

    #[test]
    fn patchify_round_trips() -> Result<()> {
        let cfg = DitConfig::test_tiny();
        let (_map, model) = random_model(&cfg)?;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 2, 4, 6), &Device::Cpu)?;
        let tokens = model.patchify(&x)?;
        assert_eq!(tokens.dims(), &[2, 2 * 2 * 3, 12]);
        // Token 0 holds the top-left 2x2 patch of frame 0, channel-major.
        let first: Vec<f32> = tokens.get(0)?.get(0)?.to_vec1()?;
        let patch = x
            .get(0)?
            .narrow(1, 0, 1)?
            .narrow(2, 0, 2)?
            .narrow(3, 0, 2)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_eq!(first, patch);
        let back = model.unpatchify(&tokens, 3, 2, 4, 6)?;
        assert_eq!((back - &x)?.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
        Ok(())
    }

    #[test]
    fn time_folding_round_trips_and_odd_frame_counts_work() -> Result<()> {
        let x = Tensor::randn(0f32, 1.0, (2, 3, 6, 4, 4), &Device::Cpu)?;
        let folded = fold_time(&x, 2)?;
        assert_eq!(folded.dims(), &[2, 6, 3, 4, 4]);
        // Channel c*2+i of folded frame j is frame 2j+i of channel c.
        let a = folded
            .get(1)?
            .get(2 * 2 + 1)?
            .get(1)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let b = x.get(1)?.get(2)?.get(3)?.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(a, b);
        let back = unfold_time(&folded, 2)?;
        assert_eq!((back - &x)?.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
        // 3 latent frames with a temporal patch of 2: padded inside, cut on output.
        let cfg = DitConfig::test_tiny();
        let (_map, model) = random_model(&cfg)?;
        let case = Case::new(&cfg, 1, 3, 4, 4, 5, 2)?;
        let (v, _) = model.forward(&case.input())?;
        assert_eq!(v.dims(), case.video.dims());
        Ok(())
    }

    #[test]
    fn rope_aligns_audio_and_video_at_the_same_instant() -> Result<()> {
        // Queries and keys rotated to the same position give the same score as unrotated ones;
        // different positions change it. Audio and video tables agree at equal seconds.
        let dev = Device::Cpu;
        let t_video = video_latent_times(5, 4, 24.0);
        let t_audio = audio_latent_times(25, 4, 160, 16_000);
        // Latent frame 2 centres at (8 - 1.5) / 24 = 0.2708 s.
        assert!((t_video[2] - 6.5 / 24.0).abs() < 1e-12);
        let same = Rope::new(&[vec![0.27 * 25.0]], &[16], 10_000.0, &dev)?;
        let other = Rope::new(&[vec![0.27 * 25.0]], &[16], 10_000.0, &dev)?;
        assert_eq!(same.cos.to_vec2::<f32>()?, other.cos.to_vec2::<f32>()?);
        let q = Tensor::randn(0f32, 1.0, (1, 1, 1, 16), &dev)?;
        let k = Tensor::randn(0f32, 1.0, (1, 1, 1, 16), &dev)?;
        let plain = q.matmul(&k.t()?)?.flatten_all()?.to_vec1::<f32>()?[0];
        let rotated = same
            .apply(&q)?
            .matmul(&other.apply(&k)?.t()?)?
            .flatten_all()?
            .to_vec1::<f32>()?[0];
        assert!((plain - rotated).abs() < 1e-4, "{plain} vs {rotated}");
        let later = Rope::new(&[vec![0.9 * 25.0]], &[16], 10_000.0, &dev)?;
        let shifted = same
            .apply(&q)?
            .matmul(&later.apply(&k)?.t()?)?
            .flatten_all()?
            .to_vec1::<f32>()?[0];
        assert!((plain - shifted).abs() > 1e-3);
        assert_eq!(t_audio.len(), 25);
        assert!((t_audio[1] - 0.055).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn audio_output_depends_on_video_through_the_exchange() -> Result<()> {
        let cfg = DitConfig::test_tiny();
        let (_map, model) = random_model(&cfg)?;
        let mut case = Case::new(&cfg, 1, 2, 4, 4, 3, 2)?;
        let (_, a1) = model.forward(&case.input())?;
        case.video = (case.video + 1.0)?;
        let (_, a2) = model.forward(&case.input())?;
        let diff = (a1 - a2)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff > 1e-5, "audio ignored the video stream (diff {diff})");
        Ok(())
    }

    #[test]
    fn masked_text_tokens_are_ignored() -> Result<()> {
        let cfg = DitConfig::test_tiny();
        let (_map, model) = random_model(&cfg)?;
        let mut case = Case::new(&cfg, 1, 2, 4, 4, 3, 4)?;
        case.text_mask = Tensor::new(&[[1f32, 1.0, 0.0, 0.0]], &Device::Cpu)?;
        let (v1, a1) = model.forward(&case.input())?;
        // Change only the masked tokens.
        let keep = case.text.narrow(1, 0, 2)?;
        let noise = Tensor::randn(0f32, 5.0, (1, 2, cfg.text_dim), &Device::Cpu)?;
        case.text = Tensor::cat(&[keep, noise], 1)?;
        let (v2, a2) = model.forward(&case.input())?;
        assert!((v1 - v2)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-5);
        assert!((a1 - a2)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-5);
        // Unmasked tokens matter.
        case.text = (case.text + 1.0)?;
        let (v3, _) = model.forward(&case.input())?;
        let (v1, _) = {
            case.text = (case.text - 1.0)?;
            model.forward(&case.input())?
        };
        assert!((v1 - v3)?.abs()?.max_all()?.to_scalar::<f32>()? > 1e-5);
        Ok(())
    }

    #[test]
    fn gradients_reach_every_parameter() -> Result<()> {
        let cfg = DitConfig::test_tiny();
        let (map, model) = random_model(&cfg)?;
        let case = Case::new(&cfg, 1, 2, 4, 4, 3, 2)?;
        let (v, a) = model.forward(&case.input())?;
        let loss = (v.sqr()?.mean_all()? + a.sqr()?.mean_all()?)?;
        let grads = loss.backward()?;
        for (name, var) in map.data().lock().unwrap().iter() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            assert!(
                g.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0,
                "zero gradient for {name}"
            );
        }
        Ok(())
    }

    #[test]
    fn fused_inference_path_matches_the_composed_ops() -> Result<()> {
        // Plain tensors (as loaded for inference) take the fused kernels; the same weights as
        // variables take the composed, differentiable ops.
        let cfg = DitConfig::test_tiny();
        let (map, tracked) = random_model(&cfg)?;
        for (name, var) in map.data().lock().unwrap().iter() {
            if name.contains("modulation") || name.contains("norm") {
                var.set(&Tensor::randn(0f32, 0.5, var.shape(), &Device::Cpu)?)?;
            }
        }
        let plain = map
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
            .collect();
        let fused = TwinDit::new(
            &cfg,
            VarBuilder::from_tensors(plain, DType::F32, &Device::Cpu),
        )?;
        let mut case = Case::new(&cfg, 2, 3, 4, 6, 7, 4)?;
        case.text_mask = Tensor::new(&[[1f32, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]], &Device::Cpu)?;
        let (v1, a1) = tracked.forward(&case.input())?;
        let (v2, a2) = fused.forward(&case.input())?;
        let scale = v1.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(scale > 1e-3);
        let dv = (v1 - v2)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let da = (a1 - a2)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(
            dv < 1e-5 * scale.max(1.0) && da < 1e-5 * scale.max(1.0),
            "{dv} {da}"
        );
        Ok(())
    }

    #[test]
    fn bad_shapes_are_errors() -> Result<()> {
        let cfg = DitConfig::test_tiny();
        let (_map, model) = random_model(&cfg)?;
        let mut case = Case::new(&cfg, 1, 2, 4, 4, 3, 2)?;
        case.video_times.pop();
        assert!(model.forward(&case.input()).is_err());
        let mut case = Case::new(&cfg, 1, 2, 5, 4, 3, 2)?;
        case.video_cond = Tensor::zeros(
            (1, cfg.video_latent_channels + 1, 2, 5, 4),
            DType::F32,
            &Device::Cpu,
        )?;
        let err = model.forward(&case.input()).unwrap_err().to_string();
        assert!(err.contains("patch"), "{err}");
        Ok(())
    }
}
