//! The Wan 2.1 / Wan 2.2 video autoencoder, as diffusers' `AutoencoderKLWan`.
//!
//! - Paper: "Wan: Open and Advanced Large-Scale Video Generative Models" (Wan Team, 2025),
//!   <https://arxiv.org/abs/2503.20314>; code <https://github.com/Wan-Video/Wan2.1> and
//!   <https://github.com/Wan-Video/Wan2.2> (Apache-2.0).
//! - Reference implementation: diffusers 0.42.1,
//!   `src/diffusers/models/autoencoders/autoencoder_kl_wan.py` (`AutoencoderKLWan`,
//!   `WanEncoder3d`, `WanDecoder3d`, `WanCausalConv3d`, `WanRMS_norm`, `WanResample`,
//!   `WanResidualBlock`, `WanAttentionBlock`, `WanMidBlock`, `WanUpBlock`,
//!   `WanResidualDownBlock`, `WanResidualUpBlock`, `AvgDown3D`, `DupUp3D`, `patchify`,
//!   `unpatchify`). This file is an independent candle implementation of the same network.
//! - Checkpoints: the `vae/` folder of the `Wan-AI/Wan2.1-T2V-1.3B-Diffusers` (and every other
//!   Wan 2.1 / Wan 2.2 A14B) repository, [`WanVaeConfig::wan2_1`]; the `vae/` folder of
//!   `Wan-AI/Wan2.2-TI2V-5B-Diffusers`, [`WanVaeConfig::wan2_2`]. The `vb.pp(..)` paths below
//!   are the diffusers state-dict keys, unchanged, so those files load as they are:
//!   `encoder.{conv_in, down_blocks.N, mid_block, norm_out, conv_out}`, `quant_conv`,
//!   `post_quant_conv`, `decoder.{conv_in, mid_block, up_blocks.N, norm_out, conv_out}`.
//!   Norm scales are `*.gamma` of shape `(C, 1, 1, 1)` (`(C, 1, 1)` in attention), causal
//!   convs are Conv3d weights `(out, in, kt, kh, kw)`, the spatial resample convs are Conv2d
//!   weights `*.resample.1.weight`. Wan 2.1 (`is_residual: false`) has a flat
//!   `encoder.down_blocks` list of residual blocks and resamplers and
//!   `decoder.up_blocks.N.upsamplers.0`; Wan 2.2 (`is_residual: true`) has
//!   `encoder.down_blocks.N.{resnets.M, downsampler}` and
//!   `decoder.up_blocks.N.{resnets.M, upsampler}` plus parameter-free `AvgDown3D` / `DupUp3D`
//!   shortcuts.
//!
//! # The network
//!
//! Encoder: causal 3x3x3 conv, per level `num_res_blocks` residual blocks (RMS norm over
//! channels, SiLU, causal conv, twice, plus a 1x1x1 shortcut conv when the width changes) and
//! a down-sampler (zero-pad right/bottom + stride-2 3x3 conv per frame, and for temporal
//! levels a stride-2 causal time conv), a mid block (residual block, single-head attention
//! over the pixels of each frame, residual block), RMS norm, SiLU, causal conv to
//! `2 * z_dim` channels, then `quant_conv`. The decoder mirrors it with nearest 2x
//! up-sampling + 3x3 conv, and for temporal levels a causal time conv that doubles the
//! channels and interleaves the two halves as two frames. Wan 2.2 adds parameter-free
//! shortcuts around each level (`AvgDown3D`: space/time-to-channel reshuffle and group mean;
//! `DupUp3D`: channel repeat and channel-to-space/time reshuffle) and a 2x2 pixel patchify
//! of the 3-channel video into 12 channels (unpatchify on the way out).
//!
//! # Chunks and the feature cache
//!
//! Exactly as diffusers: [`AutoencoderKLWan::encode`] feeds the encoder frame 0, then chunks
//! of 4 frames (frames past the last full chunk, `1 + 4k`, are ignored, as in diffusers);
//! [`AutoencoderKLWan::decode`] feeds the decoder one latent frame at a time. Every causal
//! conv keeps the last [`CACHE_T`] (2) frames of its input from the previous chunk (padding a
//! one-frame chunk with the previous cache's last frame), so a conv sees the same history it
//! would see on the whole clip. The temporal up-sampler skips its time conv on the first
//! chunk (diffusers' `"Rep"` marker) and the down-sampler's stride-2 time conv carries the
//! last frame across chunks; `DupUp3D` drops its first frame on the first chunk. Decoded
//! videos are clamped to `[-1, 1]`.
//!
//! # Memory
//!
//! Activations are kept in a frames layout `(B, T, C, H, W)` so that per-frame operations
//! are free reshapes; causal convs run as `kt` conv2d calls summed (no im2col over `kt`). On
//! the CPU in f32 the stride-1 convs take [`crate::vae_kernels::conv2d`] (GEMMs over shifted
//! views, no im2col at all); other dtypes and devices take candle's `conv2d`.
//! Decoding holds the activations of one latent frame (4 output frames) plus two frames of
//! cache per causal conv, so memory does not grow with the number of frames beyond the
//! output itself. Memory still grows with the frame size: at 720p the full-frame caches of the
//! Wan 2.1 decoder alone are several GB, so [`AutoencoderKLWan::with_tiling`] splits the
//! frame into overlapping tiles exactly as diffusers' `enable_tiling` / `tiled_encode` /
//! `tiled_decode` do (each tile is run through all chunks with its own cache, then tiles are
//! linearly blended over their overlap, `blend_v` / `blend_h`, and cropped to the stride).
//! The mid-block attention is computed [`AutoencoderKLWan::with_attention_chunk`] query rows at
//! a time.
//!
//! # Parity
//!
//! `tests/wan_vae_parity.rs` checks encode (posterior mean and log-variance), decode, tiled
//! encode and tiled decode against diffusers on two tiny random configurations (a Wan 2.1
//! style one and a Wan 2.2 style one with `is_residual`, patchify and a separate decoder
//! width), written by `tools/parity/wan_vae.py` to `tools/parity/fixtures/wan_vae21.safetensors`
//! and `tools/parity/fixtures/wan_vae22.safetensors` (max error relative to max |expected|
//! <= 1e-4 in f32; a loose f16 run is checked too). The encoder attention levels of
//! `attn_scales` (empty in every released Wan VAE) are not implemented and are refused.

use std::path::Path;

use candle_core::{bail, DType, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::wan_transformer::chunked_attention;

/// Frames of its input each causal conv keeps between chunks (diffusers' `CACHE_T`).
pub const CACHE_T: usize = 2;

/// Frames per encoder chunk after the first frame (fixed in diffusers' `_encode`).
pub const ENCODER_CHUNK: usize = 4;

/// Query rows processed at once by the mid-block attention when nothing else is set.
pub const DEFAULT_ATTENTION_CHUNK: usize = 4096;

/// Hyper-parameters of an `AutoencoderKLWan`; the field names, meanings and defaults are
/// those of diffusers, so a diffusers `vae/config.json` deserialises into this struct
/// (unknown keys such as `_class_name` or `clip_output` are ignored, missing keys take
/// diffusers' defaults, which are the Wan 2.1 VAE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WanVaeConfig {
    /// Encoder width at the first level.
    #[serde(default = "default_base_dim")]
    pub base_dim: usize,
    /// Decoder width at its last level; `None` means `base_dim`.
    #[serde(default)]
    pub decoder_base_dim: Option<usize>,
    /// Latent channels.
    #[serde(default = "default_z_dim")]
    pub z_dim: usize,
    /// Width multiplier per level; every level but the last halves the frame size.
    #[serde(default = "default_dim_mult")]
    pub dim_mult: Vec<usize>,
    pub num_res_blocks: usize,
    /// Encoder levels (by scale 1, 1/2, ..) with attention after each residual block (Wan
    /// 2.1 layout only). Must be empty: no released Wan VAE uses it.
    #[serde(default)]
    pub attn_scales: Vec<f64>,
    /// Whether each of the first `dim_mult.len() - 1` levels also halves the frame count
    /// (sic, diffusers' spelling). The decoder uses the list reversed.
    #[serde(default = "default_temperal_downsample")]
    pub temperal_downsample: Vec<bool>,
    /// Unused at inference.
    #[serde(default)]
    pub dropout: f64,
    /// Per-channel latent statistics; pipelines use `(z - mean) / std` as the diffusion
    /// latent ([`AutoencoderKLWan::normalize_latents`]).
    #[serde(default = "default_latents_mean")]
    pub latents_mean: Vec<f64>,
    #[serde(default = "default_latents_std")]
    pub latents_std: Vec<f64>,
    /// Wan 2.2: residual down/up blocks with `AvgDown3D` / `DupUp3D` shortcuts.
    #[serde(default)]
    pub is_residual: bool,
    /// Encoder input channels after patchify (12 = 3 x 2 x 2 for Wan 2.2).
    #[serde(default = "default_channels")]
    pub in_channels: usize,
    /// Decoder output channels before unpatchify.
    #[serde(default = "default_channels")]
    pub out_channels: usize,
    /// Pixel patch (2 for Wan 2.2); `None` or 1 means no patchify.
    #[serde(default)]
    pub patch_size: Option<usize>,
    /// Frames per latent frame (after the first); used by pipelines.
    #[serde(default = "default_scale_factor_temporal")]
    pub scale_factor_temporal: usize,
    /// Pixels per latent pixel, patchify included; the tiling arithmetic uses it.
    #[serde(default = "default_scale_factor_spatial")]
    pub scale_factor_spatial: usize,
}

fn default_base_dim() -> usize {
    96
}
fn default_z_dim() -> usize {
    16
}
fn default_dim_mult() -> Vec<usize> {
    vec![1, 2, 4, 4]
}
fn default_temperal_downsample() -> Vec<bool> {
    vec![false, true, true]
}
fn default_channels() -> usize {
    3
}
fn default_scale_factor_temporal() -> usize {
    4
}
fn default_scale_factor_spatial() -> usize {
    8
}

/// diffusers' default `latents_mean` (the Wan 2.1 VAE's).
const WAN21_LATENTS_MEAN: [f64; 16] = [
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517,
    -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
];
/// diffusers' default `latents_std` (the Wan 2.1 VAE's).
const WAN21_LATENTS_STD: [f64; 16] = [
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579,
    1.6382, 1.1253, 2.8251, 1.9160,
];
/// The Wan 2.2 VAE's `latents_mean` (Wan2.2-TI2V-5B-Diffusers `vae/config.json`).
const WAN22_LATENTS_MEAN: [f64; 48] = [
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813,
    0.0891, 0.1570, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108,
    -0.2158, 0.2502, -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230, -0.0313,
    -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944,
    0.3573, -0.0548, -0.1681, -0.0667,
];
/// The Wan 2.2 VAE's `latents_std` (Wan2.2-TI2V-5B-Diffusers `vae/config.json`).
const WAN22_LATENTS_STD: [f64; 48] = [
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
    0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
    0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
];

fn default_latents_mean() -> Vec<f64> {
    WAN21_LATENTS_MEAN.to_vec()
}
fn default_latents_std() -> Vec<f64> {
    WAN21_LATENTS_STD.to_vec()
}

impl WanVaeConfig {
    /// The Wan 2.1 VAE (also used by Wan 2.2 A14B): 16 latent channels, 4x8x8 compression,
    /// widths 96/192/384/384, no patchify. These are diffusers' `AutoencoderKLWan` defaults.
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers/blob/main/vae/config.json>;
    /// also diffusers `scripts/convert_wan_to_diffusers.py`, `convert_vae`.
    pub fn wan2_1() -> Self {
        Self {
            base_dim: 96,
            decoder_base_dim: None,
            z_dim: 16,
            dim_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            attn_scales: vec![],
            temperal_downsample: vec![false, true, true],
            dropout: 0.0,
            latents_mean: WAN21_LATENTS_MEAN.to_vec(),
            latents_std: WAN21_LATENTS_STD.to_vec(),
            is_residual: false,
            in_channels: 3,
            out_channels: 3,
            patch_size: None,
            scale_factor_temporal: 4,
            scale_factor_spatial: 8,
        }
    }

    /// The Wan 2.2 VAE (TI2V-5B): 48 latent channels, 4x16x16 compression (2x2 patchify then
    /// 8x), encoder widths 160/320/640/640, decoder 256/512/1024/1024, residual blocks.
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.2-TI2V-5B-Diffusers/blob/main/vae/config.json>;
    /// also diffusers `scripts/convert_wan_to_diffusers.py`, `vae22_diffusers_config`.
    pub fn wan2_2() -> Self {
        Self {
            base_dim: 160,
            decoder_base_dim: Some(256),
            z_dim: 48,
            dim_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            attn_scales: vec![],
            temperal_downsample: vec![false, true, true],
            dropout: 0.0,
            latents_mean: WAN22_LATENTS_MEAN.to_vec(),
            latents_std: WAN22_LATENTS_STD.to_vec(),
            is_residual: true,
            in_channels: 12,
            out_channels: 12,
            patch_size: Some(2),
            scale_factor_temporal: 4,
            scale_factor_spatial: 16,
        }
    }

    /// Parses a diffusers `vae/config.json`.
    pub fn from_diffusers_json(json: &str) -> Result<Self> {
        let cfg: Self = serde_json::from_str(json)
            .map_err(|e| candle_core::Error::Msg(format!("Wan VAE config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The pixel patch, 1 when there is none.
    pub fn patch(&self) -> usize {
        self.patch_size.unwrap_or(1).max(1)
    }

    pub fn decoder_base_dim(&self) -> usize {
        self.decoder_base_dim.unwrap_or(self.base_dim)
    }

    /// Pixels per latent pixel, from the structure: `2^(levels - 1) * patch`.
    pub fn spatial_compression(&self) -> usize {
        (1usize << self.dim_mult.len().saturating_sub(1)) * self.patch()
    }

    /// Frames per latent frame after the first: 2 per temporal level.
    pub fn temporal_compression(&self) -> usize {
        let levels = self.dim_mult.len().saturating_sub(1);
        1usize
            << self.temperal_downsample[..levels.min(self.temperal_downsample.len())]
                .iter()
                .filter(|&&t| t)
                .count()
    }

    /// Channels of the video itself (before patchify).
    pub fn video_channels(&self) -> usize {
        self.in_channels / (self.patch() * self.patch())
    }

    /// Checks the invariants the layers rely on, and refuses what is not implemented.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: String| {
            if ok {
                Ok(())
            } else {
                Err(candle_core::Error::Msg(format!(
                    "invalid Wan VAE config: {what}"
                )))
            }
        };
        let levels = self.dim_mult.len();
        check(
            self.base_dim > 0 && self.decoder_base_dim() > 0 && self.z_dim > 0,
            "base_dim, decoder_base_dim and z_dim must be positive".into(),
        )?;
        check(
            levels > 0 && self.dim_mult.iter().all(|&m| m > 0),
            "dim_mult must be a non-empty list of positive multipliers".into(),
        )?;
        check(
            self.num_res_blocks > 0,
            "num_res_blocks must be positive".into(),
        )?;
        check(
            self.temperal_downsample.len() + 1 >= levels,
            format!(
                "temperal_downsample has {} entries, {} levels need {}",
                self.temperal_downsample.len(),
                levels,
                levels - 1
            ),
        )?;
        check(
            self.is_residual || self.attn_scales.is_empty(),
            "attn_scales (encoder attention levels) are not supported".into(),
        )?;
        let p = self.patch();
        check(
            self.in_channels > 0
                && self.out_channels > 0
                && self.in_channels.is_multiple_of(p * p)
                && self.out_channels.is_multiple_of(p * p),
            format!(
                "in_channels {} and out_channels {} must be positive multiples of patch_size^2 = {}",
                self.in_channels,
                self.out_channels,
                p * p
            ),
        )?;
        check(
            self.latents_mean.len() == self.z_dim && self.latents_std.len() == self.z_dim,
            format!(
                "latents_mean ({}) and latents_std ({}) must have z_dim = {} entries",
                self.latents_mean.len(),
                self.latents_std.len(),
                self.z_dim
            ),
        )?;
        check(
            self.latents_std.iter().all(|s| s.is_finite() && *s != 0.0),
            "latents_std must be finite and non-zero".into(),
        )?;
        check(
            self.scale_factor_spatial == self.spatial_compression(),
            format!(
                "scale_factor_spatial {} does not match the structure ({levels} levels, patch {p}: {})",
                self.scale_factor_spatial,
                self.spatial_compression()
            ),
        )?;
        check(
            self.scale_factor_temporal == self.temporal_compression(),
            format!(
                "scale_factor_temporal {} does not match temperal_downsample ({})",
                self.scale_factor_temporal,
                self.temporal_compression()
            ),
        )?;
        Ok(())
    }

    /// Latent shape `(z_dim, frames, height, width)` of a video of `frames` x `height` x
    /// `width` pixels: frame 0 plus one latent frame per full chunk of
    /// `temporal_compression()` frames.
    pub fn latent_shape(&self, frames: usize, height: usize, width: usize) -> [usize; 4] {
        let s = self.spatial_compression();
        let t = self.temporal_compression();
        [
            self.z_dim,
            1 + frames.saturating_sub(1) / t,
            height / s,
            width / s,
        ]
    }
}

/// Spatial tiling of encode and decode, diffusers' `enable_tiling` arguments; sizes are in
/// video pixels (as diffusers interprets them: the encoder compares and cuts the patchified
/// video with the same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WanVaeTiling {
    /// Frames taller than this are tiled; also the tile height.
    pub tile_sample_min_height: usize,
    /// Frames wider than this are tiled; also the tile width.
    pub tile_sample_min_width: usize,
    /// Vertical distance between tiles; `min - stride` rows are blended.
    pub tile_sample_stride_height: usize,
    /// Horizontal distance between tiles; `min - stride` columns are blended.
    pub tile_sample_stride_width: usize,
}

impl Default for WanVaeTiling {
    /// diffusers' defaults: 256-pixel tiles every 192 pixels.
    fn default() -> Self {
        Self {
            tile_sample_min_height: 256,
            tile_sample_min_width: 256,
            tile_sample_stride_height: 192,
            tile_sample_stride_width: 192,
        }
    }
}

impl WanVaeTiling {
    /// Checks that tiles overlap or touch (stride <= size) and that every encoder tile moves
    /// by at least one latent pixel (stride >= spatial compression / patch). Decoding further
    /// needs stride >= spatial compression; [`AutoencoderKLWan::decode`] checks that when it
    /// tiles.
    pub fn validate(&self, cfg: &WanVaeConfig) -> Result<()> {
        let ratio = cfg.scale_factor_spatial;
        let encode_ratio = (ratio / cfg.patch()).max(1);
        for (what, min, stride) in [
            (
                "height",
                self.tile_sample_min_height,
                self.tile_sample_stride_height,
            ),
            (
                "width",
                self.tile_sample_min_width,
                self.tile_sample_stride_width,
            ),
        ] {
            if stride < encode_ratio || stride > min {
                bail!(
                    "Wan VAE tiling: tile {what} {min} with stride {stride}: the stride must be at \
                     least {encode_ratio} (a latent pixel) and at most the tile size"
                )
            }
        }
        Ok(())
    }
}

/// The encoder's output distribution: a diagonal Gaussian, diffusers'
/// `DiagonalGaussianDistribution`. Both tensors are `(B, z_dim, F', H', W')`.
#[derive(Debug, Clone)]
pub struct WanVaePosterior {
    pub mean: Tensor,
    /// Log-variance, clamped to `[-30, 20]` as diffusers does.
    pub logvar: Tensor,
}

impl WanVaePosterior {
    /// The mode (= mean), what diffusers' `latent_dist.mode()` returns and pipelines use.
    pub fn mode(&self) -> &Tensor {
        &self.mean
    }

    /// `exp(logvar / 2)`.
    pub fn std(&self) -> Result<Tensor> {
        (&self.logvar * 0.5)?.exp()
    }

    /// `mean + std * noise`, `noise` standard normal of the same shape (diffusers'
    /// `latent_dist.sample()`).
    pub fn sample_with(&self, noise: &Tensor) -> Result<Tensor> {
        &self.mean + self.std()?.mul(noise)?
    }
}

/// The last `n` frames (dim 1) of a frames-layout tensor, copied so that a cache does not
/// keep the whole chunk alive.
fn last_frames(x: &Tensor, n: usize) -> Result<Tensor> {
    let t = x.dim(1)?;
    let n = n.min(t);
    x.narrow(1, t - n, n)?.copy()
}

/// `Conv3d` with causal time padding, diffusers' `WanCausalConv3d`, in frames layout
/// `(B, T, C, H, W)`. Time is padded on the left with `2 * padding_t` zeros, or with the
/// frames of a cache first; space symmetrically. Computed as `kt` conv2d calls summed.
#[derive(Debug, Clone)]
struct CausalConv3d {
    /// `kt` kernels `(out, in, kh, kw)`, one per time tap.
    taps: Vec<Tensor>,
    bias: Tensor,
    stride_t: usize,
    pad_t: usize,
    pad_s: usize,
}

impl CausalConv3d {
    fn new(
        in_c: usize,
        out_c: usize,
        kernel: (usize, usize, usize),
        stride_t: usize,
        padding: (usize, usize),
        vb: VarBuilder,
    ) -> Result<Self> {
        let (kt, kh, kw) = kernel;
        let weight = vb.get((out_c, in_c, kt, kh, kw), "weight")?;
        let bias = vb.get(out_c, "bias")?.reshape((1, out_c, 1, 1))?;
        let taps = (0..kt)
            .map(|k| weight.narrow(2, k, 1)?.squeeze(2)?.contiguous())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            taps,
            bias,
            stride_t,
            pad_t: 2 * padding.0,
            pad_s: padding.1,
        })
    }

    /// A 3x3x3 conv with padding 1 (causal in time).
    fn k3(in_c: usize, out_c: usize, vb: VarBuilder) -> Result<Self> {
        Self::new(in_c, out_c, (3, 3, 3), 1, (1, 1), vb)
    }

    /// A 1x1x1 conv.
    fn k1(in_c: usize, out_c: usize, vb: VarBuilder) -> Result<Self> {
        Self::new(in_c, out_c, (1, 1, 1), 1, (0, 0), vb)
    }

    /// `x`: `(B, T, C, H, W)`; `cache`: previous frames to put in front of `x` in place of
    /// (part of) the zero padding.
    fn forward(&self, x: &Tensor, cache: Option<&Tensor>) -> Result<Tensor> {
        let mut x = x.clone();
        let mut pad = self.pad_t;
        if let Some(cache) = cache {
            if pad > 0 {
                pad = pad.saturating_sub(cache.dim(1)?);
                x = Tensor::cat(&[cache, &x], 1)?;
            }
        }
        if pad > 0 {
            x = x.pad_with_zeros(1, pad, 0)?;
        }
        let (b, t, c, h, w) = x.dims5()?;
        let kt = self.taps.len();
        if t < kt {
            bail!("Wan VAE causal conv: {t} frames (padding included) for a kernel of {kt}")
        }
        let t_out = (t - kt) / self.stride_t + 1;
        let mut acc: Option<Tensor> = None;
        for (k, tap) in self.taps.iter().enumerate() {
            let frames = if self.stride_t == 1 {
                x.narrow(1, k, t_out)?
            } else {
                let ids: Vec<u32> = (0..t_out).map(|o| (k + o * self.stride_t) as u32).collect();
                let ids = Tensor::from_vec(ids, t_out, x.device())?;
                x.index_select(&ids, 1)?
            };
            let frames = frames.reshape((b * t_out, c, h, w))?.contiguous()?;
            let y = crate::vae_kernels::conv2d(&frames, tap, self.pad_s, 1)?;
            acc = Some(match acc {
                None => y,
                Some(a) => (a + y)?,
            });
        }
        let y = acc
            .expect("a conv has at least one tap")
            .broadcast_add(&self.bias)?;
        let (_, co, ho, wo) = y.dims4()?;
        y.reshape((b, t_out, co, ho, wo))
    }
}

/// A plain `Conv2d` (the resamplers' spatial convs), on `(N, C, H, W)`.
#[derive(Debug, Clone)]
struct Conv2d {
    weight: Tensor,
    bias: Tensor,
    padding: usize,
    stride: usize,
}

impl Conv2d {
    fn new(
        in_c: usize,
        out_c: usize,
        padding: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            weight: vb.get((out_c, in_c, 3, 3), "weight")?,
            bias: vb.get(out_c, "bias")?.reshape((1, out_c, 1, 1))?,
            padding,
            stride,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::vae_kernels::conv2d(&x.contiguous()?, &self.weight, self.padding, self.stride)?
            .broadcast_add(&self.bias)
    }
}

/// diffusers' `WanRMS_norm` without bias (the VAE never has one):
/// `x / max(||x||_channels, 1e-12) * sqrt(C) * gamma`, normalised in f32.
#[derive(Debug, Clone)]
struct RmsNorm {
    /// `(C,)`.
    gamma: Tensor,
    scale: f64,
}

impl RmsNorm {
    /// `images`: the gamma is `(C, 1, 1)` (attention) instead of `(C, 1, 1, 1)`.
    fn new(dim: usize, images: bool, vb: VarBuilder) -> Result<Self> {
        let gamma = if images {
            vb.get((dim, 1, 1), "gamma")?
        } else {
            vb.get((dim, 1, 1, 1), "gamma")?
        };
        Ok(Self {
            gamma: gamma.flatten_all()?,
            scale: (dim as f64).sqrt(),
        })
    }

    /// Normalises over dim `channel_dim` of `x`.
    fn forward(&self, x: &Tensor, channel_dim: usize) -> Result<Tensor> {
        let dtype = x.dtype();
        let xf = x.to_dtype(DType::F32)?;
        let norm = xf.sqr()?.sum_keepdim(channel_dim)?.sqrt()?.maximum(1e-12)?;
        let normalized = xf.broadcast_div(&norm)?.to_dtype(dtype)?;
        let mut shape = vec![1usize; x.rank()];
        shape[channel_dim] = self.gamma.dim(0)?;
        let gamma = self.gamma.to_dtype(dtype)?.reshape(shape)?;
        (normalized * self.scale)?.broadcast_mul(&gamma)
    }
}

/// The entries of the feature cache: one per cached conv, in call order.
#[derive(Debug, Clone)]
enum Slot {
    /// Not used yet (first chunk).
    Empty,
    /// diffusers' `"Rep"`: a temporal up-sampler that has seen its first chunk (and skipped
    /// its time conv there); its next time conv pads with zeros.
    Rep,
    /// The last frames of the conv's input.
    Frames(Tensor),
}

/// diffusers' `feat_cache` / `feat_idx`: the slots persist across the chunks of one clip (or
/// one tile), `idx` restarts at every chunk.
#[derive(Debug)]
struct FeatCache {
    slots: Vec<Slot>,
    idx: usize,
}

impl FeatCache {
    fn new() -> Self {
        Self {
            slots: Vec::new(),
            idx: 0,
        }
    }

    fn start_chunk(&mut self) {
        self.idx = 0;
    }

    fn next_slot(&mut self) -> &mut Slot {
        if self.idx == self.slots.len() {
            self.slots.push(Slot::Empty);
        }
        self.idx += 1;
        &mut self.slots[self.idx - 1]
    }

    /// A causal conv with the cache: runs `conv` on `x` after the previous chunk's frames,
    /// then keeps the last [`CACHE_T`] frames of `x` (a one-frame `x` is preceded by the last
    /// cached frame).
    fn conv(&mut self, conv: &CausalConv3d, x: &Tensor) -> Result<Tensor> {
        let slot = self.next_slot();
        let prev = match slot {
            Slot::Empty => None,
            Slot::Frames(t) => Some(t.clone()),
            Slot::Rep => bail!("Wan VAE feature cache out of step: a conv found an upsampler slot"),
        };
        let mut keep = last_frames(x, CACHE_T)?;
        if keep.dim(1)? < CACHE_T {
            if let Some(p) = &prev {
                keep = Tensor::cat(&[&last_frames(p, 1)?, &keep], 1)?;
            }
        }
        let y = conv.forward(x, prev.as_ref())?;
        *slot = Slot::Frames(keep);
        Ok(y)
    }
}

/// diffusers' `WanResidualBlock`.
#[derive(Debug, Clone)]
struct ResidualBlock {
    norm1: RmsNorm,
    conv1: CausalConv3d,
    norm2: RmsNorm,
    conv2: CausalConv3d,
    shortcut: Option<CausalConv3d>,
}

impl ResidualBlock {
    fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm1: RmsNorm::new(in_dim, false, vb.pp("norm1"))?,
            conv1: CausalConv3d::k3(in_dim, out_dim, vb.pp("conv1"))?,
            norm2: RmsNorm::new(out_dim, false, vb.pp("norm2"))?,
            conv2: CausalConv3d::k3(out_dim, out_dim, vb.pp("conv2"))?,
            shortcut: if in_dim != out_dim {
                Some(CausalConv3d::k1(in_dim, out_dim, vb.pp("conv_shortcut"))?)
            } else {
                None
            },
        })
    }

    fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let h = match &self.shortcut {
            Some(conv) => conv.forward(x, None)?,
            None => x.clone(),
        };
        let y = self.norm1.forward(x, 2)?.silu()?;
        let y = cache.conv(&self.conv1, &y)?;
        let y = self.norm2.forward(&y, 2)?.silu()?;
        let y = cache.conv(&self.conv2, &y)?;
        y + h
    }
}

/// diffusers' `WanAttentionBlock`: single-head self-attention over the pixels of each frame.
#[derive(Debug, Clone)]
struct AttentionBlock {
    norm: RmsNorm,
    to_qkv: Linear,
    proj: Linear,
}

impl AttentionBlock {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        let qkv = vb.pp("to_qkv");
        let proj = vb.pp("proj");
        Ok(Self {
            norm: RmsNorm::new(dim, true, vb.pp("norm"))?,
            to_qkv: Linear::new(
                qkv.get((3 * dim, dim, 1, 1), "weight")?
                    .reshape((3 * dim, dim))?,
                Some(qkv.get(3 * dim, "bias")?),
            ),
            proj: Linear::new(
                proj.get((dim, dim, 1, 1), "weight")?.reshape((dim, dim))?,
                Some(proj.get(dim, "bias")?),
            ),
        })
    }

    fn forward(&self, x: &Tensor, chunk: usize) -> Result<Tensor> {
        let (b, t, c, h, w) = x.dims5()?;
        let n = b * t;
        let y = self.norm.forward(&x.reshape((n, c, h, w))?, 1)?;
        // 1x1 convs as linear layers over the channels of each pixel.
        let tokens = y.reshape((n, c, h * w))?.transpose(1, 2)?.contiguous()?;
        let qkv = self.to_qkv.forward(&tokens)?;
        let q = qkv.narrow(2, 0, c)?.unsqueeze(1)?;
        let k = qkv.narrow(2, c, c)?.unsqueeze(1)?;
        let v = qkv.narrow(2, 2 * c, c)?.unsqueeze(1)?;
        let out = chunked_attention(&q, &k, &v, chunk)?.squeeze(1)?;
        let out = self.proj.forward(&out)?;
        let out = out.transpose(1, 2)?.reshape((b, t, c, h, w))?;
        out + x
    }
}

/// diffusers' `WanMidBlock` with one attention layer (the only form Wan uses).
#[derive(Debug, Clone)]
struct MidBlock {
    resnet0: ResidualBlock,
    attention: AttentionBlock,
    resnet1: ResidualBlock,
}

impl MidBlock {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            resnet0: ResidualBlock::new(dim, dim, vb.pp("resnets.0"))?,
            attention: AttentionBlock::new(dim, vb.pp("attentions.0"))?,
            resnet1: ResidualBlock::new(dim, dim, vb.pp("resnets.1"))?,
        })
    }

    fn forward(&self, x: &Tensor, cache: &mut FeatCache, chunk: usize) -> Result<Tensor> {
        let x = self.resnet0.forward(x, cache)?;
        let x = self.attention.forward(&x, chunk)?;
        self.resnet1.forward(&x, cache)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResampleMode {
    Up2d,
    Up3d,
    Down2d,
    Down3d,
}

/// diffusers' `WanResample` (all but the identity mode).
#[derive(Debug, Clone)]
struct Resample {
    mode: ResampleMode,
    conv: Conv2d,
    time_conv: Option<CausalConv3d>,
}

impl Resample {
    /// `up_out`: the up-samplers' conv output width (`dim / 2` in Wan 2.1, `dim` in 2.2).
    fn new(dim: usize, mode: ResampleMode, up_out: usize, vb: VarBuilder) -> Result<Self> {
        let conv_vb = vb.pp("resample.1");
        let (conv, time_conv) = match mode {
            ResampleMode::Up2d => (Conv2d::new(dim, up_out, 1, 1, conv_vb)?, None),
            ResampleMode::Up3d => (
                Conv2d::new(dim, up_out, 1, 1, conv_vb)?,
                Some(CausalConv3d::new(
                    dim,
                    2 * dim,
                    (3, 1, 1),
                    1,
                    (1, 0),
                    vb.pp("time_conv"),
                )?),
            ),
            ResampleMode::Down2d => (Conv2d::new(dim, dim, 0, 2, conv_vb)?, None),
            ResampleMode::Down3d => (
                Conv2d::new(dim, dim, 0, 2, conv_vb)?,
                Some(CausalConv3d::new(
                    dim,
                    dim,
                    (3, 1, 1),
                    2,
                    (0, 0),
                    vb.pp("time_conv"),
                )?),
            ),
        };
        Ok(Self {
            mode,
            conv,
            time_conv,
        })
    }

    fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let mut x = x.clone();
        if let (ResampleMode::Up3d, Some(time_conv)) = (self.mode, &self.time_conv) {
            let slot = cache.next_slot();
            match slot {
                // First chunk: no time conv, the frame count stays.
                Slot::Empty => *slot = Slot::Rep,
                Slot::Rep | Slot::Frames(_) => {
                    let (b, t, c, h, w) = x.dims5()?;
                    let mut keep = last_frames(&x, CACHE_T)?;
                    if keep.dim(1)? < CACHE_T {
                        let before = match &*slot {
                            Slot::Frames(p) => last_frames(p, 1)?,
                            _ => keep.zeros_like()?,
                        };
                        keep = Tensor::cat(&[&before, &keep], 1)?;
                    }
                    let y = match &*slot {
                        Slot::Frames(p) => time_conv.forward(&x, Some(p))?,
                        _ => time_conv.forward(&x, None)?,
                    };
                    *slot = Slot::Frames(keep);
                    // (B, T, 2C, H, W): channel halves are frames 2t and 2t + 1.
                    x = y.reshape((b, t * 2, c, h, w))?;
                }
            }
        }

        let (b, t, c, h, w) = x.dims5()?;
        let frames = x.reshape((b * t, c, h, w))?;
        let y = match self.mode {
            ResampleMode::Up2d | ResampleMode::Up3d => self
                .conv
                .forward(&frames.upsample_nearest2d(2 * h, 2 * w)?)?,
            ResampleMode::Down2d | ResampleMode::Down3d => self
                .conv
                .forward(&frames.pad_with_zeros(2, 0, 1)?.pad_with_zeros(3, 0, 1)?)?,
        };
        let (_, co, ho, wo) = y.dims4()?;
        let mut x = y.reshape((b, t, co, ho, wo))?;

        if let (ResampleMode::Down3d, Some(time_conv)) = (self.mode, &self.time_conv) {
            let slot = cache.next_slot();
            match slot {
                // First chunk: kept whole, the frame count stays.
                Slot::Empty => *slot = Slot::Frames(x.copy()?),
                Slot::Frames(prev) => {
                    let keep = last_frames(&x, 1)?;
                    let joined = Tensor::cat(&[&last_frames(prev, 1)?, &x], 1)?;
                    x = time_conv.forward(&joined, None)?;
                    *slot = Slot::Frames(keep);
                }
                Slot::Rep => bail!("Wan VAE feature cache out of step at a down-sampler"),
            }
        }
        Ok(x)
    }
}

/// diffusers' `AvgDown3D` (Wan 2.2 encoder shortcut), frames layout: space/time blocks of
/// `factor_t x factor_s x factor_s` move into channels, then groups of channels are
/// averaged down to `out_channels`.
#[derive(Debug, Clone)]
struct AvgDown3d {
    out_channels: usize,
    factor_t: usize,
    factor_s: usize,
    group: usize,
}

impl AvgDown3d {
    fn new(in_c: usize, out_c: usize, factor_t: usize, factor_s: usize) -> Result<Self> {
        let factor = factor_t * factor_s * factor_s;
        if !(in_c * factor).is_multiple_of(out_c) {
            bail!(
                "Wan VAE AvgDown3D: in_channels {in_c} x factor {factor} is not a multiple of out_channels {out_c}"
            )
        }
        Ok(Self {
            out_channels: out_c,
            factor_t,
            factor_s,
            group: in_c * factor / out_c,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (ft, fs) = (self.factor_t, self.factor_s);
        let t = x.dim(1)?;
        let pad = (ft - t % ft) % ft;
        let x = if pad > 0 {
            x.pad_with_zeros(1, pad, 0)?
        } else {
            x.clone()
        };
        let (b, t, c, h, w) = x.dims5()?;
        let (t2, h2, w2) = (t / ft, h / fs, w / fs);
        // (B, T', ft, C, H', fs, W', fs) -> (B, T', C, ft, fs_h, fs_w, H', W')
        x.reshape(vec![b, t2, ft, c, h2, fs, w2, fs])?
            .permute(vec![0, 1, 3, 2, 5, 7, 4, 6])?
            .reshape(vec![b, t2, self.out_channels, self.group, h2, w2])?
            .mean(3)
    }
}

/// diffusers' `DupUp3D` (Wan 2.2 decoder shortcut), frames layout: channels are repeated,
/// then spread over `factor_t x factor_s x factor_s` space/time blocks.
#[derive(Debug, Clone)]
struct DupUp3d {
    out_channels: usize,
    factor_t: usize,
    factor_s: usize,
    repeats: usize,
}

impl DupUp3d {
    fn new(in_c: usize, out_c: usize, factor_t: usize, factor_s: usize) -> Result<Self> {
        let factor = factor_t * factor_s * factor_s;
        if !(out_c * factor).is_multiple_of(in_c) {
            bail!(
                "Wan VAE DupUp3D: out_channels {out_c} x factor {factor} is not a multiple of in_channels {in_c}"
            )
        }
        Ok(Self {
            out_channels: out_c,
            factor_t,
            factor_s,
            repeats: out_c * factor / in_c,
        })
    }

    fn forward(&self, x: &Tensor, first_chunk: bool) -> Result<Tensor> {
        let (b, t, c, h, w) = x.dims5()?;
        let (ft, fs) = (self.factor_t, self.factor_s);
        // repeat_interleave over channels, then (C_out, ft, fs_h, fs_w) per output channel.
        let y = x
            .unsqueeze(3)?
            .broadcast_as(vec![b, t, c, self.repeats, h, w])?
            .contiguous()?
            .reshape(vec![b, t, self.out_channels, ft, fs, fs, h, w])?
            // -> (B, T, ft, C_out, H, fs_h, W, fs_w)
            .permute(vec![0, 1, 3, 2, 6, 4, 7, 5])?
            .reshape((b, t * ft, self.out_channels, h * fs, w * fs))?;
        if first_chunk && ft > 1 {
            y.narrow(1, ft - 1, t * ft - (ft - 1))
        } else {
            Ok(y)
        }
    }
}

/// diffusers' `WanResidualDownBlock` (Wan 2.2).
#[derive(Debug, Clone)]
struct ResidualDownBlock {
    resnets: Vec<ResidualBlock>,
    downsampler: Option<Resample>,
    avg_shortcut: AvgDown3d,
}

impl ResidualDownBlock {
    fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let mut y = x.clone();
        for resnet in &self.resnets {
            y = resnet.forward(&y, cache)?;
        }
        if let Some(down) = &self.downsampler {
            y = down.forward(&y, cache)?;
        }
        y + self.avg_shortcut.forward(x)?
    }
}

/// One entry of `encoder.down_blocks`.
#[derive(Debug, Clone)]
enum DownBlock {
    /// Wan 2.1: the list is flat.
    Residual(ResidualBlock),
    Resample(Resample),
    /// Wan 2.2: one block per level.
    Level(ResidualDownBlock),
}

/// diffusers' `WanEncoder3d`.
#[derive(Debug, Clone)]
struct Encoder {
    conv_in: CausalConv3d,
    down_blocks: Vec<DownBlock>,
    mid_block: MidBlock,
    norm_out: RmsNorm,
    conv_out: CausalConv3d,
}

impl Encoder {
    fn new(cfg: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.base_dim;
        let mut dims = vec![dim];
        dims.extend(cfg.dim_mult.iter().map(|m| dim * m));
        let levels = cfg.dim_mult.len();
        let conv_in = CausalConv3d::k3(cfg.in_channels, dims[0], vb.pp("conv_in"))?;
        let blocks_vb = vb.pp("down_blocks");
        let mut down_blocks = Vec::new();
        for i in 0..levels {
            let (mut in_dim, out_dim) = (dims[i], dims[i + 1]);
            let last = i == levels - 1;
            let temporal = !last && cfg.temperal_downsample[i];
            let mode = if temporal {
                ResampleMode::Down3d
            } else {
                ResampleMode::Down2d
            };
            if cfg.is_residual {
                let level_vb = blocks_vb.pp(i.to_string());
                let mut resnets = Vec::new();
                for j in 0..cfg.num_res_blocks {
                    resnets.push(ResidualBlock::new(
                        in_dim,
                        out_dim,
                        level_vb.pp(format!("resnets.{j}")),
                    )?);
                    in_dim = out_dim;
                }
                let downsampler = if last {
                    None
                } else {
                    Some(Resample::new(
                        out_dim,
                        mode,
                        out_dim,
                        level_vb.pp("downsampler"),
                    )?)
                };
                down_blocks.push(DownBlock::Level(ResidualDownBlock {
                    resnets,
                    downsampler,
                    avg_shortcut: AvgDown3d::new(
                        dims[i],
                        out_dim,
                        if temporal { 2 } else { 1 },
                        if last { 1 } else { 2 },
                    )?,
                }));
            } else {
                for _ in 0..cfg.num_res_blocks {
                    let idx = down_blocks.len().to_string();
                    down_blocks.push(DownBlock::Residual(ResidualBlock::new(
                        in_dim,
                        out_dim,
                        blocks_vb.pp(idx),
                    )?));
                    in_dim = out_dim;
                }
                if !last {
                    let idx = down_blocks.len().to_string();
                    down_blocks.push(DownBlock::Resample(Resample::new(
                        out_dim,
                        mode,
                        out_dim,
                        blocks_vb.pp(idx),
                    )?));
                }
            }
        }
        let top = dims[levels];
        Ok(Self {
            conv_in,
            down_blocks,
            mid_block: MidBlock::new(top, vb.pp("mid_block"))?,
            norm_out: RmsNorm::new(top, false, vb.pp("norm_out"))?,
            conv_out: CausalConv3d::k3(top, 2 * cfg.z_dim, vb.pp("conv_out"))?,
        })
    }

    /// One chunk, frames layout.
    fn forward(&self, x: &Tensor, cache: &mut FeatCache, chunk: usize) -> Result<Tensor> {
        let mut x = cache.conv(&self.conv_in, x)?;
        for block in &self.down_blocks {
            x = match block {
                DownBlock::Residual(b) => b.forward(&x, cache)?,
                DownBlock::Resample(r) => r.forward(&x, cache)?,
                DownBlock::Level(l) => l.forward(&x, cache)?,
            };
        }
        let x = self.mid_block.forward(&x, cache, chunk)?;
        let x = self.norm_out.forward(&x, 2)?.silu()?;
        cache.conv(&self.conv_out, &x)
    }
}

/// diffusers' `WanUpBlock` (Wan 2.1) and `WanResidualUpBlock` (Wan 2.2, with `avg_shortcut`).
#[derive(Debug, Clone)]
struct UpBlock {
    resnets: Vec<ResidualBlock>,
    upsampler: Option<Resample>,
    avg_shortcut: Option<DupUp3d>,
}

impl UpBlock {
    fn forward(&self, x: &Tensor, cache: &mut FeatCache, first_chunk: bool) -> Result<Tensor> {
        let mut y = x.clone();
        for resnet in &self.resnets {
            y = resnet.forward(&y, cache)?;
        }
        if let Some(up) = &self.upsampler {
            y = up.forward(&y, cache)?;
        }
        match &self.avg_shortcut {
            Some(dup) => y + dup.forward(x, first_chunk)?,
            None => Ok(y),
        }
    }
}

/// diffusers' `WanDecoder3d`.
#[derive(Debug, Clone)]
struct Decoder {
    conv_in: CausalConv3d,
    mid_block: MidBlock,
    up_blocks: Vec<UpBlock>,
    norm_out: RmsNorm,
    conv_out: CausalConv3d,
}

impl Decoder {
    fn new(cfg: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.decoder_base_dim();
        let levels = cfg.dim_mult.len();
        let mut dims = vec![dim * cfg.dim_mult[levels - 1]];
        dims.extend(cfg.dim_mult.iter().rev().map(|m| dim * m));
        let temperal_upsample: Vec<bool> = cfg.temperal_downsample.iter().rev().copied().collect();
        let blocks_vb = vb.pp("up_blocks");
        let mut up_blocks = Vec::new();
        for i in 0..levels {
            let mut in_dim = dims[i];
            let out_dim = dims[i + 1];
            if i > 0 && !cfg.is_residual {
                // Wan 2.1 up-samplers halve the width.
                in_dim /= 2;
            }
            let up = i != levels - 1;
            let temporal = up && temperal_upsample[i];
            let mode = if temporal {
                ResampleMode::Up3d
            } else {
                ResampleMode::Up2d
            };
            let block_vb = blocks_vb.pp(i.to_string());
            let mut resnets = Vec::new();
            let mut current = in_dim;
            for j in 0..=cfg.num_res_blocks {
                resnets.push(ResidualBlock::new(
                    current,
                    out_dim,
                    block_vb.pp(format!("resnets.{j}")),
                )?);
                current = out_dim;
            }
            let (upsampler, avg_shortcut) = if !up {
                (None, None)
            } else if cfg.is_residual {
                (
                    Some(Resample::new(
                        out_dim,
                        mode,
                        out_dim,
                        block_vb.pp("upsampler"),
                    )?),
                    Some(DupUp3d::new(
                        in_dim,
                        out_dim,
                        if temporal { 2 } else { 1 },
                        2,
                    )?),
                )
            } else {
                (
                    Some(Resample::new(
                        out_dim,
                        mode,
                        out_dim / 2,
                        block_vb.pp("upsamplers.0"),
                    )?),
                    None,
                )
            };
            up_blocks.push(UpBlock {
                resnets,
                upsampler,
                avg_shortcut,
            });
        }
        let last = dims[levels];
        Ok(Self {
            conv_in: CausalConv3d::k3(cfg.z_dim, dims[0], vb.pp("conv_in"))?,
            mid_block: MidBlock::new(dims[0], vb.pp("mid_block"))?,
            up_blocks,
            norm_out: RmsNorm::new(last, false, vb.pp("norm_out"))?,
            conv_out: CausalConv3d::k3(last, cfg.out_channels, vb.pp("conv_out"))?,
        })
    }

    /// One latent frame, frames layout.
    fn forward(
        &self,
        x: &Tensor,
        cache: &mut FeatCache,
        first_chunk: bool,
        chunk: usize,
    ) -> Result<Tensor> {
        let x = cache.conv(&self.conv_in, x)?;
        let mut x = self.mid_block.forward(&x, cache, chunk)?;
        for block in &self.up_blocks {
            x = block.forward(&x, cache, first_chunk)?;
        }
        let x = self.norm_out.forward(&x, 2)?.silu()?;
        cache.conv(&self.conv_out, &x)
    }
}

/// The blend weights `y / extent` (f64 rounded to f32, as torch multiplies by Python floats)
/// along dim `dim` of a rank-5 tensor.
fn ramp(extent: usize, dim: usize, dtype: DType, device: &Device) -> Result<(Tensor, Tensor)> {
    let up: Vec<f32> = (0..extent)
        .map(|y| (y as f64 / extent as f64) as f32)
        .collect();
    let down: Vec<f32> = (0..extent)
        .map(|y| (1.0 - y as f64 / extent as f64) as f32)
        .collect();
    let mut shape = vec![1usize; 5];
    shape[dim] = extent;
    Ok((
        Tensor::from_vec(up, shape.clone(), device)?.to_dtype(dtype)?,
        Tensor::from_vec(down, shape, device)?.to_dtype(dtype)?,
    ))
}

/// diffusers' `blend_v` (dim 3) / `blend_h` (dim 4) on frames-layout tiles: the first
/// `extent` rows of `b` fade in from the last `extent` rows of `a`.
fn blend(a: &Tensor, b: &Tensor, extent: usize, dim: usize) -> Result<Tensor> {
    let (na, nb) = (a.dim(dim)?, b.dim(dim)?);
    let extent = extent.min(na).min(nb);
    if extent == 0 {
        return Ok(b.clone());
    }
    let (up, down) = ramp(extent, dim, b.dtype(), b.device())?;
    let mixed = (a.narrow(dim, na - extent, extent)?.broadcast_mul(&down)?
        + b.narrow(dim, 0, extent)?.broadcast_mul(&up)?)?;
    if extent == nb {
        Ok(mixed)
    } else {
        Tensor::cat(&[&mixed, &b.narrow(dim, extent, nb - extent)?], dim)
    }
}

/// Blends a grid of overlapping frames-layout tiles as diffusers' `tiled_encode` /
/// `tiled_decode` do (each tile with the already blended tile above and to its left), crops
/// every tile to the stride and crops the joined result to `(height, width)`.
fn blend_tiles(
    mut rows: Vec<Vec<Tensor>>,
    blend: (usize, usize),
    stride: (usize, usize),
    size: (usize, usize),
) -> Result<Tensor> {
    let mut joined_rows = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let mut cropped = Vec::with_capacity(rows[i].len());
        for j in 0..rows[i].len() {
            let mut tile = rows[i][j].clone();
            if i > 0 {
                tile = self::blend(&rows[i - 1][j], &tile, blend.0, 3)?;
            }
            if j > 0 {
                tile = self::blend(&rows[i][j - 1], &tile, blend.1, 4)?;
            }
            let h = tile.dim(3)?.min(stride.0);
            let w = tile.dim(4)?.min(stride.1);
            cropped.push(tile.narrow(3, 0, h)?.narrow(4, 0, w)?);
            rows[i][j] = tile;
        }
        joined_rows.push(Tensor::cat(&cropped, 4)?);
    }
    let all = Tensor::cat(&joined_rows, 3)?;
    let (h, w) = (size.0.min(all.dim(3)?), size.1.min(all.dim(4)?));
    all.narrow(3, 0, h)?.narrow(4, 0, w)
}

/// Short name of [`AutoencoderKLWan`].
pub type WanVae = AutoencoderKLWan;

/// diffusers' `AutoencoderKLWan` (inference).
#[derive(Debug, Clone)]
pub struct AutoencoderKLWan {
    encoder: Encoder,
    quant_conv: CausalConv3d,
    post_quant_conv: CausalConv3d,
    decoder: Decoder,
    cfg: WanVaeConfig,
    tiling: Option<WanVaeTiling>,
    attention_chunk: usize,
    dtype: DType,
    device: Device,
}

impl AutoencoderKLWan {
    /// Builds the network from a var-builder rooted at the checkpoint's top level (the keys
    /// `encoder.*`, `quant_conv.*`, `post_quant_conv.*`, `decoder.*`). A missing tensor or a
    /// wrong shape is an error naming the key.
    pub fn new(cfg: &WanVaeConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let z2 = 2 * cfg.z_dim;
        Ok(Self {
            encoder: Encoder::new(cfg, vb.pp("encoder"))?,
            quant_conv: CausalConv3d::k1(z2, z2, vb.pp("quant_conv"))?,
            post_quant_conv: CausalConv3d::k1(cfg.z_dim, cfg.z_dim, vb.pp("post_quant_conv"))?,
            decoder: Decoder::new(cfg, vb.pp("decoder"))?,
            cfg: cfg.clone(),
            tiling: None,
            attention_chunk: DEFAULT_ATTENTION_CHUNK,
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// Loads a diffusers checkpoint (`vae/diffusion_pytorch_model.safetensors`, or all the
    /// shards of one), memory-mapped, weights cast to `dtype`.
    pub fn load<P: AsRef<Path>>(
        cfg: &WanVaeConfig,
        weights: &[P],
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        // SAFETY: the files are mapped read-only; like every candle model loader this relies
        // on them not being modified while the model is alive.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(weights, dtype, device)? };
        Self::new(cfg, vb)
    }

    /// Turns on spatial tiling for encode and decode (diffusers' `enable_tiling`): frames
    /// larger than the tile are processed tile by tile and blended.
    pub fn with_tiling(mut self, tiling: WanVaeTiling) -> Result<Self> {
        tiling.validate(&self.cfg)?;
        self.tiling = Some(tiling);
        Ok(self)
    }

    /// Turns tiling off (the default).
    pub fn without_tiling(mut self) -> Self {
        self.tiling = None;
        self
    }

    pub fn tiling(&self) -> Option<&WanVaeTiling> {
        self.tiling.as_ref()
    }

    /// Processes the mid-block attention `chunk` query rows at a time (default
    /// [`DEFAULT_ATTENTION_CHUNK`]); the result does not depend on it.
    pub fn with_attention_chunk(mut self, chunk: usize) -> Self {
        self.attention_chunk = chunk.max(1);
        self
    }

    pub fn config(&self) -> &WanVaeConfig {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// diffusers' `spatial_compression_ratio` (the config's `scale_factor_spatial`).
    fn spatial_ratio(&self) -> usize {
        self.cfg.scale_factor_spatial
    }

    /// `(B, c, F, H, W)` video -> frames layout `(B, F, c p p, H / p, W / p)`, the channel
    /// order of diffusers' `patchify` (`c`, then column offset, then row offset).
    fn patchify_frames(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, f, h, w) = x.dims5()?;
        let p = self.cfg.patch();
        if p == 1 {
            return x.permute((0, 2, 1, 3, 4))?.contiguous();
        }
        if !(h.is_multiple_of(p) && w.is_multiple_of(p)) {
            bail!("Wan VAE: frame size {h}x{w} is not a multiple of the patch size {p}")
        }
        // (B, c, F, H', ph, W', pw) -> (B, F, c, pw, ph, H', W')
        x.reshape(vec![b, c, f, h / p, p, w / p, p])?
            .permute(vec![0, 2, 1, 6, 4, 3, 5])?
            .reshape((b, f, c * p * p, h / p, w / p))?
            .contiguous()
    }

    /// Frames layout `(B, F, c p p, H, W)` -> `(B, c, F, H p, W p)`, diffusers' `unpatchify`.
    fn unpatchify_frames(&self, x: &Tensor) -> Result<Tensor> {
        let (b, f, cpp, h, w) = x.dims5()?;
        let p = self.cfg.patch();
        if p == 1 {
            return x.permute((0, 2, 1, 3, 4))?.contiguous();
        }
        let c = cpp / (p * p);
        // (B, F, c, pw, ph, H, W) -> (B, c, F, H, ph, W, pw)
        x.reshape(vec![b, f, c, p, p, h, w])?
            .permute(vec![0, 2, 1, 5, 4, 6, 3])?
            .reshape((b, c, f, h * p, w * p))?
            .contiguous()
    }

    /// Runs the encoder over a (patchified, frames-layout) clip chunk by chunk with a fresh
    /// cache: frame 0, then [`ENCODER_CHUNK`] frames at a time; `quant_conv` applied.
    fn encode_chunks(&self, x: &Tensor) -> Result<Tensor> {
        let frames = x.dim(1)?;
        let chunks = 1 + (frames - 1) / ENCODER_CHUNK;
        let mut cache = FeatCache::new();
        let mut outs = Vec::with_capacity(chunks);
        for i in 0..chunks {
            cache.start_chunk();
            let chunk = if i == 0 {
                x.narrow(1, 0, 1)?
            } else {
                x.narrow(1, 1 + ENCODER_CHUNK * (i - 1), ENCODER_CHUNK)?
            };
            let out = self
                .encoder
                .forward(&chunk, &mut cache, self.attention_chunk)?;
            outs.push(self.quant_conv.forward(&out, None)?);
        }
        Tensor::cat(&outs, 1)
    }

    /// Runs `post_quant_conv` and the decoder over a frames-layout latent one frame at a time
    /// with a fresh cache; returns the (patchified) frames, unclamped.
    fn decode_chunks(&self, z: &Tensor) -> Result<Tensor> {
        let frames = z.dim(1)?;
        let x = self.post_quant_conv.forward(z, None)?;
        let mut cache = FeatCache::new();
        let mut outs = Vec::with_capacity(frames);
        for i in 0..frames {
            cache.start_chunk();
            outs.push(self.decoder.forward(
                &x.narrow(1, i, 1)?,
                &mut cache,
                i == 0,
                self.attention_chunk,
            )?);
        }
        Tensor::cat(&outs, 1)
    }

    /// Encodes a video `(B, c, F, H, W)` with values in `[-1, 1]` (`c` = 3 for the released
    /// VAEs) into the posterior over latents `(B, z_dim, 1 + (F - 1) / 4, H / s, W / s)`, `s`
    /// the spatial compression. As in diffusers, frames after the last full chunk (`F` not of
    /// the form `1 + 4k`) are ignored. Use [`WanVaePosterior::mode`] for the latent.
    pub fn encode(&self, video: &Tensor) -> Result<WanVaePosterior> {
        let (_, c, f, h, w) = video.dims5()?;
        if c != self.cfg.video_channels() {
            bail!(
                "Wan VAE encode: the video has {c} channels, the model takes {}",
                self.cfg.video_channels()
            )
        }
        if f == 0 {
            bail!("Wan VAE encode: the video has no frames")
        }
        let x = self.patchify_frames(&video.to_dtype(self.dtype)?)?;
        let h_out = match &self.tiling {
            Some(t) if w > t.tile_sample_min_width || h > t.tile_sample_min_height => {
                self.tiled_encode(&x, t)?
            }
            _ => self.encode_chunks(&x)?,
        };
        // Back to (B, 2 z, F', H', W').
        let h_out = h_out.permute((0, 2, 1, 3, 4))?;
        let z = self.cfg.z_dim;
        Ok(WanVaePosterior {
            mean: h_out.narrow(1, 0, z)?.contiguous()?,
            logvar: h_out.narrow(1, z, z)?.clamp(-30f32, 20f32)?.contiguous()?,
        })
    }

    /// diffusers' `tiled_encode` on the patchified, frames-layout video: tiles are cut with
    /// the tile sizes in patchified pixels, encoded through all chunks each with a fresh
    /// cache, then blended in latent space.
    fn tiled_encode(&self, x: &Tensor, t: &WanVaeTiling) -> Result<Tensor> {
        let (_, _, _, height, width) = x.dims5()?;
        let ratio = self.spatial_ratio() / self.cfg.patch();
        let (latent_h, latent_w) = (height / ratio, width / ratio);
        let (min_h, min_w) = (t.tile_sample_min_height, t.tile_sample_min_width);
        let (stride_h, stride_w) = (t.tile_sample_stride_height, t.tile_sample_stride_width);
        let (lmin_h, lmin_w) = (min_h / ratio, min_w / ratio);
        let (lstride_h, lstride_w) = (stride_h / ratio, stride_w / ratio);
        let mut rows = Vec::new();
        for i in (0..height).step_by(stride_h) {
            let mut row = Vec::new();
            for j in (0..width).step_by(stride_w) {
                let tile =
                    x.narrow(3, i, min_h.min(height - i))?
                        .narrow(4, j, min_w.min(width - j))?;
                row.push(self.encode_chunks(&tile)?);
            }
            rows.push(row);
        }
        blend_tiles(
            rows,
            (
                lmin_h.saturating_sub(lstride_h),
                lmin_w.saturating_sub(lstride_w),
            ),
            (lstride_h, lstride_w),
            (latent_h, latent_w),
        )
    }

    /// Decodes latents `(B, z_dim, F, h, w)` into a video `(B, c, 1 + 4 (F - 1), h s, w s)`
    /// clamped to `[-1, 1]`, one latent frame at a time (tile by tile when tiling is on and
    /// the latent is larger than a tile).
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let (_, c, f, h, w) = z.dims5()?;
        if c != self.cfg.z_dim {
            bail!(
                "Wan VAE decode: the latent has {c} channels, the model takes {}",
                self.cfg.z_dim
            )
        }
        if f == 0 {
            bail!("Wan VAE decode: the latent has no frames")
        }
        let zf = z
            .to_dtype(self.dtype)?
            .permute((0, 2, 1, 3, 4))?
            .contiguous()?;
        let ratio = self.spatial_ratio();
        let out = match &self.tiling {
            Some(t)
                if w > t.tile_sample_min_width / ratio || h > t.tile_sample_min_height / ratio =>
            {
                self.tiled_decode(&zf, t)?
            }
            _ => self.decode_chunks(&zf)?,
        };
        self.unpatchify_frames(&out)?.clamp(-1f32, 1f32)
    }

    /// diffusers' `tiled_decode` on a frames-layout latent: latent tiles decoded through all
    /// frames each with a fresh cache, blended in (patchified) pixel space.
    fn tiled_decode(&self, z: &Tensor, t: &WanVaeTiling) -> Result<Tensor> {
        let (_, _, _, height, width) = z.dims5()?;
        let ratio = self.spatial_ratio();
        let p = self.cfg.patch();
        let (lmin_h, lmin_w) = (
            t.tile_sample_min_height / ratio,
            t.tile_sample_min_width / ratio,
        );
        let (lstride_h, lstride_w) = (
            t.tile_sample_stride_height / ratio,
            t.tile_sample_stride_width / ratio,
        );
        if lstride_h == 0 || lstride_w == 0 {
            bail!(
                "Wan VAE tiled decode: tile strides {}x{} are below the spatial compression {ratio}",
                t.tile_sample_stride_height,
                t.tile_sample_stride_width
            )
        }
        let sample = (height * ratio / p, width * ratio / p);
        let stride = (
            t.tile_sample_stride_height / p,
            t.tile_sample_stride_width / p,
        );
        let blend = (
            (t.tile_sample_min_height / p).saturating_sub(stride.0),
            (t.tile_sample_min_width / p).saturating_sub(stride.1),
        );
        let mut rows = Vec::new();
        for i in (0..height).step_by(lstride_h) {
            let mut row = Vec::new();
            for j in (0..width).step_by(lstride_w) {
                let tile =
                    z.narrow(3, i, lmin_h.min(height - i))?
                        .narrow(4, j, lmin_w.min(width - j))?;
                row.push(self.decode_chunks(&tile)?);
            }
            rows.push(row);
        }
        blend_tiles(rows, blend, stride, sample)
    }

    /// `(1, z_dim, 1, 1, 1)` tensors of the config's `latents_mean` and `1 / latents_std`
    /// (f32 as diffusers' pipelines compute them, then cast to `dtype`).
    fn latent_stats(&self, dtype: DType) -> Result<(Tensor, Tensor)> {
        let z = self.cfg.z_dim;
        let mean: Vec<f32> = self.cfg.latents_mean.iter().map(|&m| m as f32).collect();
        let inv_std: Vec<f32> = self
            .cfg
            .latents_std
            .iter()
            .map(|&s| 1.0f32 / s as f32)
            .collect();
        Ok((
            Tensor::from_vec(mean, (1, z, 1, 1, 1), &self.device)?.to_dtype(dtype)?,
            Tensor::from_vec(inv_std, (1, z, 1, 1, 1), &self.device)?.to_dtype(dtype)?,
        ))
    }

    /// VAE latent -> diffusion latent: `(z - latents_mean) * (1 / latents_std)`, as diffusers'
    /// Wan pipelines do after `encode`.
    pub fn normalize_latents(&self, z: &Tensor) -> Result<Tensor> {
        let (mean, inv_std) = self.latent_stats(z.dtype())?;
        z.broadcast_sub(&mean)?.broadcast_mul(&inv_std)
    }

    /// Diffusion latent -> VAE latent: `z / (1 / latents_std) + latents_mean`, as diffusers'
    /// Wan pipelines do before `decode`.
    pub fn denormalize_latents(&self, z: &Tensor) -> Result<Tensor> {
        let (mean, inv_std) = self.latent_stats(z.dtype())?;
        z.broadcast_div(&inv_std)?.broadcast_add(&mean)
    }
}
