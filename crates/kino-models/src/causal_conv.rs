//! Causal 3D convolution built on candle's `conv2d` (candle has no conv3d).
//!
//! # Layouts
//!
//! The public [`CausalConv3d::forward`] takes PyTorch's `(B, C, T, H, W)`. Networks that
//! stack many of these convs (the video VAE) keep activations in the *frames* layout
//! `(B, T, C, H, W)` instead and call [`CausalConv3d::forward_frames`]: there, folding time
//! into the batch (`(B*T, C, H, W)`) is a free reshape, so no permute is paid per conv.
//!
//! # How the time axis is handled
//!
//! The weight is stored as `(out, in, kt, kh, kw)` exactly like `torch.nn.Conv3d`, so real
//! checkpoints load unchanged. For `kt > 1` the `kt` time-shifted frame stacks are
//! concatenated along the channel axis (`(B*T', kt*in, H, W)`) and convolved once with the
//! weight viewed as `(out, kt*in, kh, kw)`: one GEMM instead of `kt` conv2d calls plus sums.
//! For `kt == 1` it is a plain per-frame conv2d.
//!
//! # Causal padding
//!
//! Time is padded on the left only, by `kt - 1` copies of the **first frame** (replicate
//! padding, as LTX-Video does; Wan pads with zeros). Replicate padding makes the first frame
//! behave like the start of a still shot, so a clip's first frame decodes as if the video
//! had always looked like that, instead of "coming out of black". Output frame `t` therefore
//! only depends on input frames `<= t * stride_t + ...` from the past, never the future.
//!
//! # Streaming
//!
//! [`CausalConv3d::forward_cached`] keeps the last `kt - 1` input frames of the previous
//! chunk in a caller-held `Option<Tensor>`; feeding a sequence chunk by chunk gives exactly
//! the same output as feeding it at once (only for `stride_t == 1`, which is what decoders use).
//!
//! Everything is made of differentiable candle ops, so training with `Var` + AdamW works.

use candle_core::{bail, Module, Result, Tensor};
use candle_nn::VarBuilder;

/// Configuration of one [`CausalConv3d`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CausalConv3dConfig {
    /// `(kt, kh, kw)`.
    pub kernel: (usize, usize, usize),
    /// `(st, sh, sw)`; `sh` must equal `sw`.
    pub stride: (usize, usize, usize),
    /// Symmetric zero padding in space (applied to both H and W). Time is padded causally.
    pub padding: usize,
    /// Whether the conv has a bias.
    pub bias: bool,
}

impl CausalConv3dConfig {
    /// Kernel `(kt, k, k)`, stride 1, "same" spatial padding `k / 2`, with bias.
    pub fn same(kt: usize, k: usize) -> Self {
        Self {
            kernel: (kt, k, k),
            stride: (1, 1, 1),
            padding: k / 2,
            bias: true,
        }
    }

    /// Sets the stride `(st, s, s)`.
    pub fn with_stride(mut self, st: usize, s: usize) -> Self {
        self.stride = (st, s, s);
        self
    }
}

/// Causal-in-time 3D convolution; see the module docs.
#[derive(Debug, Clone)]
pub struct CausalConv3d {
    weight: Tensor,
    bias: Option<Tensor>,
    cfg: CausalConv3dConfig,
    in_channels: usize,
    out_channels: usize,
}

impl CausalConv3d {
    /// Loads (or, with a `VarMap`-backed builder, creates) `weight` `(out, in, kt, kh, kw)`
    /// and `bias` `(out)` under `vb`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        cfg: CausalConv3dConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        let (kt, kh, kw) = cfg.kernel;
        let (st, sh, sw) = cfg.stride;
        if kt == 0 || kh == 0 || kw == 0 || st == 0 || sh == 0 || sw == 0 {
            bail!(
                "CausalConv3d: kernel {:?} / stride {:?} must be >= 1",
                cfg.kernel,
                cfg.stride
            );
        }
        if sh != sw {
            bail!("CausalConv3d: spatial strides must be equal, got {sh} and {sw}");
        }
        let weight = vb.get_with_hints(
            (out_channels, in_channels, kt, kh, kw),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let bias = if cfg.bias {
            let bound = 1.0 / ((in_channels * kt * kh * kw) as f64).sqrt();
            Some(vb.get_with_hints(
                out_channels,
                "bias",
                candle_nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            )?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            cfg,
            in_channels,
            out_channels,
        })
    }

    /// The weight, `(out, in, kt, kh, kw)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn weight_dtype(&self) -> candle_core::DType {
        self.weight.dtype()
    }

    pub fn config(&self) -> &CausalConv3dConfig {
        &self.cfg
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Number of output frames for `t` input frames (no cache): `(t - 1) / st + 1`.
    pub fn out_frames(&self, t: usize) -> usize {
        if t == 0 {
            0
        } else {
            (t - 1) / self.cfg.stride.0 + 1
        }
    }

    /// `(B, C, T, H, W)` -> `(B, out, T', H', W')`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut cache = None;
        self.forward_cached(x, &mut cache)
    }

    /// Streaming form of [`Self::forward`] in `(B, C, T, H, W)` layout. `cache` is `None` for
    /// the first chunk and is updated to hold the last `kt - 1` input frames.
    pub fn forward_cached(&self, x: &Tensor, cache: &mut Option<Tensor>) -> Result<Tensor> {
        if x.rank() != 5 {
            bail!(
                "CausalConv3d expects (B, C, T, H, W), got shape {:?}",
                x.dims()
            );
        }
        let xf = x.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let y = self.forward_frames_cached(&xf, cache)?;
        y.permute((0, 2, 1, 3, 4))?.contiguous()
    }

    /// Frames layout: `(B, T, C, H, W)` -> `(B, T', out, H', W')`.
    pub fn forward_frames(&self, x: &Tensor) -> Result<Tensor> {
        let mut cache = None;
        self.forward_frames_cached(x, &mut cache)
    }

    /// Streaming form of [`Self::forward_frames`]; see [`Self::forward_cached`].
    ///
    /// With `stride_t > 1` a cache would have to track the phase of the stride across
    /// chunks; that is not supported (an error is returned if a cache is already present).
    pub fn forward_frames_cached(&self, x: &Tensor, cache: &mut Option<Tensor>) -> Result<Tensor> {
        let (b, t, c, h, w) = match x.dims() {
            &[b, t, c, h, w] => (b, t, c, h, w),
            d => bail!("CausalConv3d expects frames layout (B, T, C, H, W), got {d:?}"),
        };
        if c != self.in_channels {
            bail!(
                "CausalConv3d: expected {} input channels, got {c} (shape {:?})",
                self.in_channels,
                x.dims()
            );
        }
        if t == 0 {
            bail!("CausalConv3d: input has no frames");
        }
        let (kt, kh, kw) = self.cfg.kernel;
        let (st, ss, _) = self.cfg.stride;
        let pad = self.cfg.padding;
        if h + 2 * pad < kh || w + 2 * pad < kw {
            bail!("CausalConv3d: frame {h}x{w} (padding {pad}) is smaller than kernel {kh}x{kw}");
        }
        if st > 1 && cache.is_some() {
            bail!("CausalConv3d: streaming with a temporal stride is not supported");
        }

        // (B, T', kt*C, H, W) of time-shifted stacks, then fold time into batch.
        let (folded, t_out) = if kt == 1 {
            if st == 1 {
                (x.reshape((b * t, c, h, w))?, t)
            } else {
                let t_out = (t - 1) / st + 1;
                let idx: Vec<u32> = (0..t_out).map(|i| (i * st) as u32).collect();
                let idx = Tensor::new(idx.as_slice(), x.device())?;
                let xs = x.index_select(&idx, 1)?;
                (xs.reshape((b * t_out, c, h, w))?, t_out)
            }
        } else {
            let head = match cache.as_ref() {
                Some(prev) => prev.clone(),
                None => x.narrow(1, 0, 1)?.repeat((1, kt - 1, 1, 1, 1))?,
            };
            let padded = Tensor::cat(&[&head, x], 1)?;
            let tp = padded.dim(1)?;
            let new_cache = padded.narrow(1, tp - (kt - 1), kt - 1)?.detach();
            let t_out = (t - 1) / st + 1;
            let mut shifted = Vec::with_capacity(kt);
            for dt in 0..kt {
                if st == 1 {
                    shifted.push(padded.narrow(1, dt, t)?);
                } else {
                    let idx: Vec<u32> = (0..t_out).map(|i| (i * st + dt) as u32).collect();
                    let idx = Tensor::new(idx.as_slice(), x.device())?;
                    shifted.push(padded.index_select(&idx, 1)?);
                }
            }
            let stacked = Tensor::cat(&shifted, 2)?;
            *cache = Some(new_cache);
            (stacked.reshape((b * t_out, kt * c, h, w))?, t_out)
        };

        // Weight (O, I, kt, kh, kw) -> (O, kt*I, kh, kw), matching the channel stacking.
        let w2 = if kt == 1 {
            self.weight
                .reshape((self.out_channels, self.in_channels, kh, kw))?
        } else {
            self.weight
                .permute((0, 2, 1, 3, 4))?
                .contiguous()?
                .reshape((self.out_channels, kt * self.in_channels, kh, kw))?
        };
        let y = if kh != kw {
            bail!("CausalConv3d: only square spatial kernels are supported, got {kh}x{kw}")
        } else if self.weight.is_variable() {
            // Training: GEMMs over shifted views, forward and backward (vae_kernels). Inference
            // keeps candle's conv so that the shipped model's clips stay bit for bit the same.
            crate::vae_kernels::conv2d(&folded, &w2, pad, ss)?
        } else {
            folded.conv2d(&w2, pad, ss, 1, 1)?
        };
        let y = match &self.bias {
            Some(bias) => y.broadcast_add(&bias.reshape((1, self.out_channels, 1, 1))?)?,
            None => y,
        };
        let (_, o, ho, wo) = y.dims4()?;
        y.reshape((b, t_out, o, ho, wo))
    }
}

impl Module for CausalConv3d {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        CausalConv3d::forward(self, xs)
    }
}

/// Pixel shuffle on frames: `(N, C*r*r, H, W)` -> `(N, C, H*r, W*r)` (PyTorch's ordering).
pub fn depth_to_space(x: &Tensor, r: usize) -> Result<Tensor> {
    let (n, crr, h, w) = x.dims4()?;
    if !crr.is_multiple_of(r * r) {
        bail!("depth_to_space: {crr} channels not divisible by {}", r * r);
    }
    let c = crr / (r * r);
    x.reshape((n, c, r, r, h, w))?
        .permute((0, 1, 4, 2, 5, 3))?
        .contiguous()?
        .reshape((n, c, h * r, w * r))
}

/// Inverse of [`depth_to_space`]: `(N, C, H, W)` -> `(N, C*r*r, H/r, W/r)`.
pub fn space_to_depth(x: &Tensor, r: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if !h.is_multiple_of(r) || !w.is_multiple_of(r) {
        bail!("space_to_depth: {h}x{w} not divisible by {r}");
    }
    x.reshape((n, c, h / r, r, w / r, r))?
        .permute((0, 1, 3, 5, 2, 4))?
        .contiguous()?
        .reshape((n, c * r * r, h / r, w / r))
}

/// RMS norm over the channel axis `dim` with a learned per-channel `gamma`
/// (`x / sqrt(mean_c(x^2) + eps) * gamma`). Per position, so it is causal and chunk-safe.
pub fn channel_rms_norm(x: &Tensor, gamma: &Tensor, dim: usize, eps: f64) -> Result<Tensor> {
    if gamma.is_variable() {
        // Training: one op with a fused backward on the CPU.
        return crate::vae_kernels::channel_rms_norm(x, gamma, dim, eps);
    }
    channel_rms_norm_composed(x, gamma, dim, eps)
}

/// `silu(channel_rms_norm(..))`, fused in training like [`channel_rms_norm`].
pub fn channel_rms_norm_silu(x: &Tensor, gamma: &Tensor, dim: usize, eps: f64) -> Result<Tensor> {
    if gamma.is_variable() {
        return crate::vae_kernels::channel_rms_norm_silu(x, gamma, dim, eps);
    }
    channel_rms_norm_composed(x, gamma, dim, eps)?.silu()
}

/// [`channel_rms_norm`] as composed candle ops.
pub(crate) fn channel_rms_norm_composed(
    x: &Tensor,
    gamma: &Tensor,
    dim: usize,
    eps: f64,
) -> Result<Tensor> {
    let c = x.dim(dim)?;
    let ms = x.sqr()?.mean_keepdim(dim)?;
    let inv = (ms + eps)?.sqrt()?.recip()?;
    let mut gshape = vec![1usize; x.rank()];
    gshape[dim] = c;
    x.broadcast_mul(&inv)?
        .broadcast_mul(&gamma.reshape(gshape)?)
}
