//! The Wan 2.1 / 2.2 video diffusion transformer, as diffusers' `WanTransformer3DModel`.
//!
//! - Paper: "Wan: Open and Advanced Large-Scale Video Generative Models" (Wan Team, 2025),
//!   <https://arxiv.org/abs/2503.20314>; code <https://github.com/Wan-Video/Wan2.1> (Apache-2.0).
//! - Reference implementation: diffusers 0.42.1,
//!   `src/diffusers/models/transformers/transformer_wan.py` (`WanTransformer3DModel`,
//!   `WanTransformerBlock`, `WanAttention`, `WanRotaryPosEmbed`,
//!   `WanTimeTextImageEmbedding`). This file is an independent candle implementation of
//!   the same network.
//! - Checkpoints: the `transformer/` folder of the `Wan-AI/Wan2.1-T2V-1.3B-Diffusers`,
//!   `Wan-AI/Wan2.1-T2V-14B-Diffusers`, `Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`,
//!   `Wan-AI/Wan2.1-I2V-14B-720P-Diffusers`, `Wan-AI/Wan2.2-T2V-A14B-Diffusers` (`transformer/`
//!   and `transformer_2/`) and `Wan-AI/Wan2.2-TI2V-5B-Diffusers` repositories. The `vb.pp(..)`
//!   paths below are the diffusers state-dict keys, unchanged, so those files load as they are.
//!
//! The network, per forward call:
//! 1. patch embedding: a Conv3d with kernel = stride = patch, computed here as a reshape and
//!    one matmul (`patch_embedding.{weight,bias}`);
//! 2. sinusoidal timestep features (cos first) -> `time_embedder` MLP -> `temb`, and
//!    `time_proj(silu(temb))` -> six modulation vectors per block; text states go through
//!    `text_embedder` (linear, tanh-GELU, linear); image-to-video checkpoints also pass the
//!    CLIP image states through `image_embedder` (LayerNorm, GELU MLP, LayerNorm; plus a
//!    learned position embedding in FLF2V checkpoints);
//! 3. `num_layers` blocks of: AdaLN self-attention (QK RMS-norm across heads, 3D RoPE),
//!    cross-attention to the text (affine LayerNorm before it) — in image-to-video checkpoints
//!    plus a second attention of the same queries to the image tokens (`add_k_proj`,
//!    `add_v_proj`, `norm_added_k`), the two results summed before `to_out` — and an AdaLN
//!    tanh-GELU FFN;
//! 4. AdaLN output norm, `proj_out`, un-patchify to `(B, out_channels, F, H, W)`.
//!
//! Timesteps are either one per sample, `(B,)` (Wan 2.1, Wan 2.2 A14B), or one per latent
//! token, `(B, seq_len)` (Wan 2.2 TI2V-5B's "expanded" timesteps, where the conditioning
//! frame is at t = 0).
//!
//! Image-to-video (Wan 2.1 I2V, FLF2V): [`WanTransformer::forward_with_image`] takes the CLIP
//! image encoder's penultimate hidden states (`crate::clip_vision`) besides the text states.
//! diffusers concatenates image and text tokens into one `encoder_hidden_states` and splits
//! them again in every cross-attention at `len - 512`, which assumes the text is padded to 512
//! tokens (as `WanImageToVideoPipeline` always does); here the two are passed and kept
//! separately, which gives the same result whenever the text has 512 tokens.
//!
//! Parity with diffusers is checked by `tests/wan_transformer_parity.rs` against
//! `tools/parity/fixtures/wan_transformer.safetensors`, `wan_transformer_pt2.safetensors` and
//! (image-to-video) `wan_transformer_i2v.safetensors`, written by
//! `tools/parity/wan_transformer.py`.

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::layer_norm::LayerNorm32;

/// Query rows processed at once by attention when nothing else is set: bounds the score
/// matrix to `B * heads * 4096 * keys` elements.
pub const DEFAULT_ATTENTION_CHUNK: usize = 4096;

/// Rotary base, fixed in diffusers' `WanRotaryPosEmbed`.
pub const ROPE_THETA: f64 = 10_000.0;

/// Hyper-parameters of a `WanTransformer3DModel`; the field names and meanings are those of
/// the diffusers `transformer/config.json`, so that file deserialises into this struct
/// (unknown keys such as `_class_name` are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WanTransformerConfig {
    /// (frames, rows, columns) of latent per token.
    pub patch_size: [usize; 3],
    pub num_attention_heads: usize,
    pub attention_head_dim: usize,
    pub in_channels: usize,
    /// `None` (or 0) means `in_channels`, as in diffusers.
    #[serde(default)]
    pub out_channels: Option<usize>,
    /// Width of the text encoder states (4096 for umT5-XXL).
    pub text_dim: usize,
    /// Width of the sinusoidal timestep features.
    pub freq_dim: usize,
    pub ffn_dim: usize,
    pub num_layers: usize,
    /// Affine LayerNorm (`blocks.N.norm2`) before the text cross-attention.
    pub cross_attn_norm: bool,
    /// diffusers builds `norm_q`/`norm_k` (RMS norm over all heads) whatever this says;
    /// kept for the config file's sake.
    #[serde(default)]
    pub qk_norm: Option<String>,
    pub eps: f64,
    /// Width of the CLIP image states of image-to-video checkpoints (1280 for Wan 2.1 I2V);
    /// `None` for text-to-video. Set together with `added_kv_proj_dim`.
    #[serde(default)]
    pub image_dim: Option<usize>,
    /// Input width of the cross-attention's image key/value projections (`add_k_proj`,
    /// `add_v_proj`) of image-to-video checkpoints; the image embedder outputs `inner_dim`
    /// wide tokens, so this must equal [`Self::inner_dim`] when set.
    #[serde(default)]
    pub added_kv_proj_dim: Option<usize>,
    /// Positions per axis covered by the rotary tables.
    #[serde(default = "default_rope_max_seq_len")]
    pub rope_max_seq_len: usize,
    /// Length of the learned position embedding added to the image states (FLF2V
    /// checkpoints: 2 x 257, the first and the last frame's CLIP tokens side by side);
    /// `None` otherwise. Needs `image_dim`.
    #[serde(default)]
    pub pos_embed_seq_len: Option<usize>,
}

fn default_rope_max_seq_len() -> usize {
    1024
}

impl WanTransformerConfig {
    /// The shape every released Wan text-to-video transformer shares; the presets differ in
    /// width, depth, FFN size and latent channels only.
    fn wan(heads: usize, ffn_dim: usize, num_layers: usize, channels: usize) -> Self {
        Self {
            patch_size: [1, 2, 2],
            num_attention_heads: heads,
            attention_head_dim: 128,
            in_channels: channels,
            out_channels: Some(channels),
            text_dim: 4096,
            freq_dim: 256,
            ffn_dim,
            num_layers,
            cross_attn_norm: true,
            qk_norm: Some("rms_norm_across_heads".to_string()),
            eps: 1e-6,
            image_dim: None,
            added_kv_proj_dim: None,
            rope_max_seq_len: 1024,
            pos_embed_seq_len: None,
        }
    }

    /// Wan 2.1 text-to-video 1.3B: 12 heads x 128 (1536 wide), 30 layers, FFN 8960,
    /// 16 latent channels.
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers/blob/main/transformer/config.json>;
    /// also diffusers `scripts/convert_wan_to_diffusers.py`, model type `Wan-T2V-1.3B`.
    pub fn wan2_1_t2v_1_3b() -> Self {
        Self::wan(12, 8960, 30, 16)
    }

    /// Wan 2.1 text-to-video 14B: 40 heads x 128 (5120 wide), 40 layers, FFN 13824,
    /// 16 latent channels.
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.1-T2V-14B-Diffusers/blob/main/transformer/config.json>;
    /// also diffusers `scripts/convert_wan_to_diffusers.py`, model type `Wan-T2V-14B`.
    pub fn wan2_1_t2v_14b() -> Self {
        Self::wan(40, 13824, 40, 16)
    }

    /// Wan 2.2 text-to-video A14B: two experts of this shape (`transformer/`, high noise, and
    /// `transformer_2/`, low noise), each the Wan 2.1 14B shape.
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.2-T2V-A14B-Diffusers/blob/main/transformer/config.json>;
    /// also diffusers `scripts/convert_wan_to_diffusers.py`, model type `Wan2.2-T2V-A14B`.
    pub fn wan2_2_t2v_a14b() -> Self {
        Self::wan(40, 13824, 40, 16)
    }

    /// Wan 2.1 image-to-video 14B, 480P and 720P (the two checkpoints share the shape): the
    /// 14B text-to-video shape plus the CLIP image branch (`image_dim` 1280, `added_kv_proj_dim`
    /// 5120), 36 input channels (16 noisy latent channels, 4 frame-mask channels, 16
    /// conditioning latent channels), 16 output channels.
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.1-I2V-14B-480P-Diffusers/blob/main/transformer/config.json>;
    /// also diffusers `scripts/convert_wan_to_diffusers.py`, model types `Wan-I2V-14B-480p` and
    /// `Wan-I2V-14B-720p`.
    pub fn wan2_1_i2v_14b() -> Self {
        Self {
            in_channels: 36,
            out_channels: Some(16),
            image_dim: Some(1280),
            added_kv_proj_dim: Some(5120),
            ..Self::wan(40, 13824, 40, 16)
        }
    }

    /// Wan 2.1 first-last-frame-to-video 14B: the I2V 14B shape with a learned position
    /// embedding over the two frames' 2 x 257 CLIP tokens (`pos_embed_seq_len` 514).
    ///
    /// diffusers `scripts/convert_wan_to_diffusers.py`, model type `Wan-FLF2V-14B-720P`.
    pub fn wan2_1_flf2v_14b() -> Self {
        Self {
            pos_embed_seq_len: Some(2 * 257),
            ..Self::wan2_1_i2v_14b()
        }
    }

    /// Whether this is an image-to-video checkpoint (it has the CLIP image branch).
    pub fn has_image_branch(&self) -> bool {
        self.image_dim.is_some()
    }

    /// Wan 2.2 text/image-to-video 5B: 24 heads x 128 (3072 wide), 30 layers, FFN 14336,
    /// 48 latent channels (the Wan 2.2 VAE); takes per-token timesteps `(B, seq_len)`.
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.2-TI2V-5B-Diffusers/blob/main/transformer/config.json>;
    /// also diffusers `scripts/convert_wan_to_diffusers.py`, model type `Wan2.2-TI2V-5B`.
    pub fn wan2_2_ti2v_5b() -> Self {
        Self::wan(24, 14336, 30, 48)
    }

    /// Parses a diffusers `transformer/config.json`.
    pub fn from_diffusers_json(json: &str) -> Result<Self> {
        let cfg: Self = serde_json::from_str(json)
            .map_err(|e| candle_core::Error::Msg(format!("Wan transformer config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Width of the residual stream: heads x head dim.
    pub fn inner_dim(&self) -> usize {
        self.num_attention_heads * self.attention_head_dim
    }

    pub fn out_channels(&self) -> usize {
        match self.out_channels {
            Some(c) if c > 0 => c,
            _ => self.in_channels,
        }
    }

    /// Head-dim channels rotated by the (frame, row, column) position: diffusers'
    /// `h = w = 2 * (head_dim / 6)`, `t = head_dim - h - w`.
    pub fn rope_dims(&self) -> [usize; 3] {
        let hw = 2 * (self.attention_head_dim / 6);
        [self.attention_head_dim - 2 * hw, hw, hw]
    }

    /// Checks the invariants the layers rely on.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(candle_core::Error::Msg(format!(
                    "invalid Wan transformer config: {what}"
                )))
            }
        };
        check(
            self.num_attention_heads > 0 && self.attention_head_dim > 0,
            "num_attention_heads and attention_head_dim must be positive",
        )?;
        check(
            self.rope_dims().iter().all(|d| d.is_multiple_of(2)) && self.rope_dims()[1] > 0,
            "attention_head_dim must be even and at least 6 (rotary t/h/w split)",
        )?;
        check(
            self.patch_size.iter().all(|&p| p > 0),
            "patch sizes must be positive",
        )?;
        check(
            self.in_channels > 0 && self.text_dim > 0 && self.ffn_dim > 0,
            "in_channels, text_dim and ffn_dim must be positive",
        )?;
        check(
            self.freq_dim > 0 && self.freq_dim.is_multiple_of(2),
            "freq_dim must be even and positive",
        )?;
        check(
            self.rope_max_seq_len > 0,
            "rope_max_seq_len must be positive",
        )?;
        check(
            self.qk_norm
                .as_deref()
                .is_none_or(|n| n == "rms_norm_across_heads"),
            "qk_norm must be \"rms_norm_across_heads\"",
        )?;
        check(
            self.image_dim.is_some() == self.added_kv_proj_dim.is_some(),
            "image_dim and added_kv_proj_dim must be set together (the image branch of image-to-video checkpoints)",
        )?;
        check(self.image_dim != Some(0), "image_dim must be positive")?;
        check(
            self.added_kv_proj_dim
                .is_none_or(|d| d == self.inner_dim()),
            "added_kv_proj_dim must equal num_attention_heads * attention_head_dim (the image embedder's output width)",
        )?;
        check(
            self.pos_embed_seq_len.is_none()
                || (self.image_dim.is_some()
                    && self.pos_embed_seq_len.is_some_and(|n| n > 0 && n.is_multiple_of(2))),
            "pos_embed_seq_len needs image_dim and must be even and positive (two frames' image tokens)",
        )?;
        Ok(())
    }
}

/// `torch.nn.RMSNorm` with a learned scale, over the last dim.
#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(dim, "weight")?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
    }
}

/// The per-token rotary tables of one `(F', H', W')` token grid, `(N, head_dim / 2)` each,
/// for interleaved pairs (`candle_nn::rotary_emb::rope_i`).
#[derive(Debug, Clone)]
pub struct WanRope {
    pub cos: Tensor,
    pub sin: Tensor,
}

impl WanRope {
    /// diffusers' `WanRotaryPosEmbed`: the head dim is split into (frame, row, column) parts
    /// of `cfg.rope_dims()` channels; pair `i` of a part of `d` channels rotates by
    /// `pos / theta^(2i / d)`, `pos` the token's integer frame, row or column index. Angles
    /// are computed in f64 and rounded to f32, as diffusers does.
    pub fn new(
        cfg: &WanTransformerConfig,
        grid: (usize, usize, usize),
        device: &Device,
    ) -> Result<Self> {
        let (f, h, w) = grid;
        let max = cfg.rope_max_seq_len;
        if f > max || h > max || w > max {
            candle_core::bail!(
                "token grid {f}x{h}x{w} exceeds the rotary tables (rope_max_seq_len {max})"
            )
        }
        let dims = cfg.rope_dims();
        let inv_freqs: Vec<Vec<f64>> = dims
            .iter()
            .map(|&d| {
                (0..d / 2)
                    .map(|i| 1.0 / ROPE_THETA.powf((2 * i) as f64 / d as f64))
                    .collect()
            })
            .collect();
        let half = cfg.attention_head_dim / 2;
        let n = f * h * w;
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for fi in 0..f {
            for hi in 0..h {
                for wi in 0..w {
                    for (axis, pos) in [fi, hi, wi].into_iter().enumerate() {
                        for inv in &inv_freqs[axis] {
                            let a = pos as f64 * inv;
                            cos.push(a.cos() as f32);
                            sin.push(a.sin() as f32);
                        }
                    }
                }
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (n, half), device)?,
            sin: Tensor::from_vec(sin, (n, half), device)?,
        })
    }

    /// Rotates `(B, heads, N, head_dim)`.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        candle_nn::rotary_emb::rope_i(
            &x.contiguous()?,
            &self.cos.to_dtype(dtype)?,
            &self.sin.to_dtype(dtype)?,
        )
    }
}

/// Softmax attention over `(B, heads, N, D)` queries and `(B, heads, M, D)` keys/values,
/// computed `chunk` query rows at a time so at most `B * heads * chunk * M` scores exist at
/// once. Each query row is independent, so the result does not depend on `chunk`.
pub fn chunked_attention(q: &Tensor, k: &Tensor, v: &Tensor, chunk: usize) -> Result<Tensor> {
    let d = q.dim(3)?;
    let q = (q * (1.0 / (d as f64).sqrt()))?;
    let kt = k.t()?.contiguous()?;
    let v = v.contiguous()?;
    let one = |q: &Tensor| -> Result<Tensor> {
        let scores = q.contiguous()?.matmul(&kt)?;
        let scores = candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?;
        scores.to_dtype(v.dtype())?.matmul(&v)
    };
    crate::fused::by_query_rows(&q, chunk, one)
}

/// The image keys and values of an image-to-video cross-attention: `add_k_proj`,
/// `add_v_proj` and the RMS norm of the keys across all heads, `norm_added_k`.
#[derive(Debug, Clone)]
struct AddedKv {
    add_k_proj: Linear,
    add_v_proj: Linear,
    norm_added_k: RmsNorm,
}

/// diffusers' `WanAttention`: `to_q/to_k/to_v`, RMS norm of q and k across all heads,
/// optional RoPE, softmax attention, `to_out.0`; in the cross-attention of image-to-video
/// checkpoints also a second softmax attention of the same queries to the image tokens
/// ([`AddedKv`]), added to the text attention before `to_out.0`.
#[derive(Debug, Clone)]
struct WanAttention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    added_kv: Option<AddedKv>,
    heads: usize,
}

impl WanAttention {
    /// `added_kv_dim`: the input width of the image keys/values, or `None` (self-attention,
    /// text-to-video cross-attention).
    fn new(
        cfg: &WanTransformerConfig,
        added_kv_dim: Option<usize>,
        vb: VarBuilder,
    ) -> Result<Self> {
        let dim = cfg.inner_dim();
        let added_kv = match added_kv_dim {
            Some(kv_dim) => Some(AddedKv {
                add_k_proj: linear(kv_dim, dim, vb.pp("add_k_proj"))?,
                add_v_proj: linear(kv_dim, dim, vb.pp("add_v_proj"))?,
                norm_added_k: RmsNorm::new(dim, cfg.eps, vb.pp("norm_added_k"))?,
            }),
            None => None,
        };
        Ok(Self {
            to_q: linear(dim, dim, vb.pp("to_q"))?,
            to_k: linear(dim, dim, vb.pp("to_k"))?,
            to_v: linear(dim, dim, vb.pp("to_v"))?,
            to_out: linear(dim, dim, vb.pp("to_out").pp("0"))?,
            norm_q: RmsNorm::new(dim, cfg.eps, vb.pp("norm_q"))?,
            norm_k: RmsNorm::new(dim, cfg.eps, vb.pp("norm_k"))?,
            added_kv,
            heads: cfg.num_attention_heads,
        })
    }

    /// `(B, L, dim)` -> `(B, heads, L, head_dim)`.
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        x.reshape((b, l, self.heads, d / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Self-attention when `context` is `None` (with `rope`), cross-attention otherwise;
    /// `image`: the embedded image tokens `(B, S, added_kv_dim)`, given exactly when this
    /// attention has image keys/values.
    fn forward(
        &self,
        x: &Tensor,
        context: Option<&Tensor>,
        image: Option<&Tensor>,
        rope: Option<&WanRope>,
        chunk: usize,
    ) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let ctx = context.unwrap_or(x);
        let q = self.split_heads(&self.norm_q.forward(&self.to_q.forward(x)?)?)?;
        let k = self.split_heads(&self.norm_k.forward(&self.to_k.forward(ctx)?)?)?;
        let v = self.split_heads(&self.to_v.forward(ctx)?)?;
        let (q, k) = match rope {
            Some(r) => (r.apply(&q)?, r.apply(&k)?),
            None => (q, k),
        };
        let out = chunked_attention(&q, &k, &v, chunk)?;
        let out = match (&self.added_kv, image) {
            (None, None) => out,
            (Some(added), Some(image)) => {
                let k_img = added
                    .norm_added_k
                    .forward(&added.add_k_proj.forward(image)?)?;
                let k_img = self.split_heads(&k_img)?;
                let v_img = self.split_heads(&added.add_v_proj.forward(image)?)?;
                (out + chunked_attention(&q, &k_img, &v_img, chunk)?)?
            }
            (Some(_), None) => candle_core::bail!("Wan attention: image tokens missing"),
            (None, Some(_)) => candle_core::bail!("Wan attention: no image keys/values"),
        };
        let out = out.transpose(1, 2)?.reshape((b, n, d))?;
        self.to_out.forward(&out)
    }
}

/// diffusers' `FeedForward(activation_fn="gelu-approximate")`: `net.0.proj`, tanh-GELU,
/// `net.2`.
#[derive(Debug, Clone)]
struct FeedForward {
    proj_in: Linear,
    proj_out: Linear,
}

impl FeedForward {
    fn new(dim: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        let net = vb.pp("net");
        Ok(Self {
            proj_in: linear(dim, hidden, net.pp("0").pp("proj"))?,
            proj_out: linear(hidden, dim, net.pp("2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // candle's `gelu` is the tanh approximation, torch's GELU(approximate="tanh"); on
        // the CPU in f32 the fused kernel computes the same in one parallel pass.
        self.proj_out
            .forward(&crate::fused::gelu(&self.proj_in.forward(x)?)?)
    }
}

/// AdaLN modulation `x * (1 + scale) + shift`; `x` is `(B, N, dim)`, `shift` and `scale`
/// `(B, S, dim)` with `S` 1 or N.
fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
    x.broadcast_mul(&(scale + 1.0)?)?.broadcast_add(shift)
}

/// diffusers' `WanTransformerBlock`.
#[derive(Debug, Clone)]
struct WanTransformerBlock {
    norm1: LayerNorm32,
    attn1: WanAttention,
    norm2: Option<LayerNorm32>,
    attn2: WanAttention,
    norm3: LayerNorm32,
    ffn: FeedForward,
    /// `(1, 6, dim)` f32: shift, scale, gate (self-attention), shift, scale, gate (FFN).
    scale_shift_table: Tensor,
}

impl WanTransformerBlock {
    fn new(cfg: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.inner_dim();
        let device = vb.device().clone();
        Ok(Self {
            norm1: LayerNorm32::plain(dim, cfg.eps, &device)?,
            attn1: WanAttention::new(cfg, None, vb.pp("attn1"))?,
            norm2: if cfg.cross_attn_norm {
                Some(LayerNorm32::affine(dim, cfg.eps, vb.pp("norm2"))?)
            } else {
                None
            },
            attn2: WanAttention::new(cfg, cfg.added_kv_proj_dim, vb.pp("attn2"))?,
            norm3: LayerNorm32::plain(dim, cfg.eps, &device)?,
            ffn: FeedForward::new(dim, cfg.ffn_dim, vb.pp("ffn"))?,
            scale_shift_table: vb
                .get((1, 6, dim), "scale_shift_table")?
                .to_dtype(DType::F32)?,
        })
    }

    /// `x`: `(B, N, dim)`; `text`: `(B, L, dim)`; `image`: `(B, S_img, dim)` embedded image
    /// tokens (image-to-video checkpoints only); `time`: `(B, S, 6, dim)` f32 with `S` 1 (one
    /// timestep per sample) or N (one per token).
    fn forward(
        &self,
        x: &Tensor,
        text: &Tensor,
        image: Option<&Tensor>,
        time: &Tensor,
        rope: &WanRope,
        chunk: usize,
    ) -> Result<Tensor> {
        let dtype = x.dtype();
        let m = time.broadcast_add(&self.scale_shift_table.unsqueeze(0)?)?;
        let part = |i: usize| m.narrow(2, i, 1)?.squeeze(2);
        let (shift_msa, scale_msa, gate_msa) = (part(0)?, part(1)?, part(2)?);
        let (c_shift, c_scale, c_gate) = (part(3)?, part(4)?, part(5)?);

        // 1. Self-attention.
        let h = modulate(&self.norm1.forward(x)?, &shift_msa, &scale_msa)?.to_dtype(dtype)?;
        let h = self.attn1.forward(&h, None, None, Some(rope), chunk)?;
        let x = (x.to_dtype(DType::F32)? + h.to_dtype(DType::F32)?.broadcast_mul(&gate_msa)?)?
            .to_dtype(dtype)?;

        // 2. Cross-attention to the text (and the image).
        let h = match &self.norm2 {
            Some(norm) => norm.forward(&x)?.to_dtype(dtype)?,
            None => x.clone(),
        };
        let x = (&x + self.attn2.forward(&h, Some(text), image, None, chunk)?)?;

        // 3. Feed-forward.
        let h = modulate(&self.norm3.forward(&x)?, &c_shift, &c_scale)?.to_dtype(dtype)?;
        let h = self.ffn.forward(&h)?;
        (x.to_dtype(DType::F32)? + h.to_dtype(DType::F32)?.broadcast_mul(&c_gate)?)?.to_dtype(dtype)
    }
}

/// Sinusoidal timestep features, diffusers' `Timesteps(dim, flip_sin_to_cos=True,
/// downscale_freq_shift=0)`: `[cos(t f_i), sin(t f_i)]`, `f_i = exp(-ln(10000) i / (dim/2))`,
/// computed in f32 as diffusers does. `t`: `(T,)` -> `(T, dim)` f32.
pub fn timestep_features(t: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    let log_period = -(10_000f64.ln()) as f32;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (log_period * i as f32 / half as f32).exp())
        .collect();
    let freqs = Tensor::from_vec(freqs, (1, half), t.device())?;
    let args = t
        .to_dtype(DType::F32)?
        .unsqueeze(1)?
        .broadcast_mul(&freqs)?;
    Tensor::cat(&[args.cos()?, args.sin()?], 1)
}

/// diffusers' `WanImageEmbedding` (`condition_embedder.image_embedder`): an optional learned
/// position embedding (FLF2V), then `FP32LayerNorm` (affine, eps 1e-5), a GELU (erf) MLP
/// `image_dim -> image_dim -> inner_dim` (`ff.net.0.proj`, `ff.net.2`), `FP32LayerNorm`.
#[derive(Debug, Clone)]
struct ImageEmbedder {
    norm1: LayerNorm32,
    ff_in: Linear,
    ff_out: Linear,
    norm2: LayerNorm32,
    /// `(1, pos_embed_seq_len, image_dim)`.
    pos_embed: Option<Tensor>,
    image_dim: usize,
}

/// torch's `nn.LayerNorm` default eps, which `WanImageEmbedding`'s norms keep.
const IMAGE_NORM_EPS: f64 = 1e-5;

impl ImageEmbedder {
    fn new(image_dim: usize, cfg: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.inner_dim();
        let net = vb.pp("ff").pp("net");
        let pos_embed = match cfg.pos_embed_seq_len {
            Some(len) => Some(vb.get((1, len, image_dim), "pos_embed")?),
            None => None,
        };
        Ok(Self {
            norm1: LayerNorm32::affine(image_dim, IMAGE_NORM_EPS, vb.pp("norm1"))?,
            ff_in: linear(image_dim, image_dim, net.pp("0").pp("proj"))?,
            ff_out: linear(image_dim, dim, net.pp("2"))?,
            norm2: LayerNorm32::affine(dim, IMAGE_NORM_EPS, vb.pp("norm2"))?,
            pos_embed,
            image_dim,
        })
    }

    /// `(B', S, image_dim)` -> `(B', S, dim)`; with a position embedding, consecutive pairs
    /// of samples (first frame, last frame) are joined first, `(B', S, image_dim)` ->
    /// `(B' / 2, 2 S, image_dim)`, as diffusers' `view(-1, 2 * seq_len, embed_dim)` does.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x = match &self.pos_embed {
            Some(pos) => {
                let (b, s, d) = x.dims3()?;
                x.reshape((b / 2, 2 * s, d))?.broadcast_add(pos)?
            }
            None => x.clone(),
        };
        let h = self.norm1.forward(&x)?.to_dtype(dtype)?;
        let h = self.ff_out.forward(&self.ff_in.forward(&h)?.gelu_erf()?)?;
        self.norm2.forward(&h)?.to_dtype(dtype)
    }
}

/// diffusers' `WanTimeTextImageEmbedding`.
#[derive(Debug, Clone)]
struct ConditionEmbedder {
    time_linear_1: Linear,
    time_linear_2: Linear,
    time_proj: Linear,
    text_linear_1: Linear,
    text_linear_2: Linear,
    image_embedder: Option<ImageEmbedder>,
    freq_dim: usize,
}

/// `lin` with its weight and bias in f32 (diffusers' `_keep_in_fp32_modules`).
fn linear_f32(lin: Linear) -> Result<Linear> {
    let bias = lin.bias().map(|b| b.to_dtype(DType::F32)).transpose()?;
    Ok(Linear::new(lin.weight().to_dtype(DType::F32)?, bias))
}

impl ConditionEmbedder {
    fn new(cfg: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        let dim = cfg.inner_dim();
        let time = vb.pp("time_embedder");
        let text = vb.pp("text_embedder");
        let image_embedder = match cfg.image_dim {
            Some(image_dim) => Some(ImageEmbedder::new(image_dim, cfg, vb.pp("image_embedder"))?),
            None => None,
        };
        Ok(Self {
            image_embedder,
            time_linear_1: linear_f32(linear(cfg.freq_dim, dim, time.pp("linear_1"))?)?,
            time_linear_2: linear_f32(linear(dim, dim, time.pp("linear_2"))?)?,
            time_proj: linear(dim, 6 * dim, vb.pp("time_proj"))?,
            text_linear_1: linear(cfg.text_dim, dim, text.pp("linear_1"))?,
            text_linear_2: linear(dim, dim, text.pp("linear_2"))?,
            freq_dim: cfg.freq_dim,
        })
    }

    /// `t`: `(T,)` -> (`temb` `(T, dim)`, `timestep_proj` `(T, 6 * dim)`), both f32.
    ///
    /// As diffusers (`_keep_in_fp32_modules` has `time_embedder`): the time embedder runs in
    /// f32 whatever the checkpoint's dtype, its output is rounded to the model's dtype
    /// (`type_as(encoder_hidden_states)`), and `time_proj` runs in the model's dtype.
    fn time(&self, t: &Tensor) -> Result<(Tensor, Tensor)> {
        let dtype = self.time_proj.weight().dtype();
        let features = timestep_features(t, self.freq_dim)?.to_dtype(DType::F32)?;
        let temb = self
            .time_linear_2
            .forward(&self.time_linear_1.forward(&features)?.silu()?)?
            .to_dtype(dtype)?;
        let proj = self.time_proj.forward(&temb.silu()?)?;
        Ok((temb.to_dtype(DType::F32)?, proj.to_dtype(DType::F32)?))
    }

    fn text(&self, text: &Tensor) -> Result<Tensor> {
        self.text_linear_2
            .forward(&self.text_linear_1.forward(text)?.gelu()?)
    }
}

/// diffusers' `WanTransformer3DModel`: text-to-video, and image-to-video when the config has
/// the image branch (`image_dim`, `added_kv_proj_dim`).
#[derive(Debug, Clone)]
pub struct WanTransformer {
    /// `(inner_dim, in_channels * pt * ph * pw)`: the Conv3d kernel flattened.
    patch_embedding: Linear,
    condition_embedder: ConditionEmbedder,
    blocks: Vec<WanTransformerBlock>,
    norm_out: LayerNorm32,
    proj_out: Linear,
    /// `(1, 2, dim)` f32: shift, scale of the output norm.
    scale_shift_table: Tensor,
    cfg: WanTransformerConfig,
    attention_chunk: usize,
    dtype: DType,
    device: Device,
}

impl WanTransformer {
    /// Builds the network from a var-builder rooted at the checkpoint's top level (the keys
    /// `patch_embedding.*`, `condition_embedder.*`, `blocks.N.*`, `proj_out.*`,
    /// `scale_shift_table`). A missing tensor or a wrong shape is an error naming the key.
    pub fn new(cfg: &WanTransformerConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let dim = cfg.inner_dim();
        let [pt, ph, pw] = cfg.patch_size;
        let patch_features = cfg.in_channels * pt * ph * pw;
        let pe = vb.pp("patch_embedding");
        let pe_weight = pe
            .get((dim, cfg.in_channels, pt, ph, pw), "weight")?
            .reshape((dim, patch_features))?;
        let pe_bias = pe.get(dim, "bias")?;
        let blocks = (0..cfg.num_layers)
            .map(|i| WanTransformerBlock::new(cfg, vb.pp("blocks").pp(i.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            patch_embedding: Linear::new(pe_weight, Some(pe_bias)),
            condition_embedder: ConditionEmbedder::new(cfg, vb.pp("condition_embedder"))?,
            blocks,
            norm_out: LayerNorm32::plain(dim, cfg.eps, vb.device())?,
            proj_out: linear(dim, cfg.out_channels() * pt * ph * pw, vb.pp("proj_out"))?,
            scale_shift_table: vb
                .get((1, 2, dim), "scale_shift_table")?
                .to_dtype(DType::F32)?,
            cfg: cfg.clone(),
            attention_chunk: DEFAULT_ATTENTION_CHUNK,
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// Loads a diffusers checkpoint: one safetensors file or all the shards of one
    /// (`diffusion_pytorch_model-0000N-of-0000M.safetensors`), memory-mapped, weights cast to
    /// `dtype`.
    pub fn load<P: AsRef<Path>>(
        cfg: &WanTransformerConfig,
        weights: &[P],
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        // SAFETY: the files are mapped read-only; like every candle model loader this relies
        // on them not being modified while the model is alive.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(weights, dtype, device)? };
        Self::new(cfg, vb)
    }

    /// Processes attention `chunk` query rows at a time (default
    /// [`DEFAULT_ATTENTION_CHUNK`]); `usize::MAX` materialises the whole score matrix.
    pub fn with_attention_chunk(mut self, chunk: usize) -> Self {
        self.attention_chunk = chunk.max(1);
        self
    }

    pub fn attention_chunk(&self) -> usize {
        self.attention_chunk
    }

    pub fn config(&self) -> &WanTransformerConfig {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Checks the image states against the config and the batch size `b` and runs the image
    /// embedder: `(B_img, S, image_dim)` -> `(b, S', dim)`, or `None` for a text-to-video
    /// checkpoint without image states.
    fn embed_image(&self, image: Option<&Tensor>, b: usize) -> Result<Option<Tensor>> {
        let embedder = match (&self.condition_embedder.image_embedder, image) {
            (None, None) => return Ok(None),
            (Some(embedder), Some(_)) => embedder,
            (Some(_), None) => candle_core::bail!(
                "Wan transformer: this image-to-video checkpoint needs encoder_hidden_states_image (the CLIP image states)"
            ),
            (None, Some(_)) => candle_core::bail!(
                "Wan transformer: this checkpoint has no image branch (image_dim is not set); it takes no encoder_hidden_states_image"
            ),
        };
        let image = image.expect("checked above");
        let (bi, s, d) = image.dims3()?;
        if d != embedder.image_dim {
            candle_core::bail!(
                "Wan transformer: encoder_hidden_states_image is ({bi}, {s}, {d}), expected width {}",
                embedder.image_dim
            )
        }
        // Samples after the FLF2V pairing of first and last frame.
        let per_sample = match self.cfg.pos_embed_seq_len {
            Some(len) => {
                if 2 * s != len || !bi.is_multiple_of(2) {
                    candle_core::bail!(
                        "Wan transformer: encoder_hidden_states_image is ({bi}, {s}, {d}); with pos_embed_seq_len {len} it must be (2 B, {}, {d}), first and last frame of each sample in consecutive rows",
                        len / 2
                    )
                }
                bi / 2
            }
            None => bi,
        };
        if per_sample != b && per_sample != 1 {
            candle_core::bail!(
                "Wan transformer: encoder_hidden_states_image has {per_sample} sample(s) for a batch of {b}"
            )
        }
        let embedded = embedder.forward(&image.to_dtype(self.dtype)?)?;
        if per_sample == b {
            Ok(Some(embedded))
        } else {
            let (_, s, dim) = embedded.dims3()?;
            Ok(Some(embedded.broadcast_as((b, s, dim))?.contiguous()?))
        }
    }

    /// `(B, C, F, H, W)` -> `(B, F' H' W', C pt ph pw)` tokens in (frame, row, column)
    /// order, each the flattened `(C, pt, ph, pw)` patch, as the Conv3d kernel reads it.
    fn patchify(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, f, h, w) = x.dims5()?;
        let [pt, ph, pw] = self.cfg.patch_size;
        let (gf, gh, gw) = (f / pt, h / ph, w / pw);
        x.reshape(vec![b, c, gf, pt, gh, ph, gw, pw])?
            .permute(vec![0, 2, 4, 6, 1, 3, 5, 7])?
            .reshape((b, gf * gh * gw, c * pt * ph * pw))
    }

    /// `(B, N, pt ph pw C)` -> `(B, C, F, H, W)`, diffusers' un-patchify.
    fn unpatchify(&self, x: &Tensor, grid: (usize, usize, usize)) -> Result<Tensor> {
        let b = x.dim(0)?;
        let (gf, gh, gw) = grid;
        let [pt, ph, pw] = self.cfg.patch_size;
        let c = self.cfg.out_channels();
        x.reshape(vec![b, gf, gh, gw, pt, ph, pw, c])?
            .permute(vec![0, 7, 1, 4, 2, 5, 3, 6])?
            .reshape((b, c, gf * pt, gh * ph, gw * pw))
    }

    /// One denoising call of a text-to-video checkpoint: [`Self::forward_with_image`] without
    /// image states. An image-to-video checkpoint refuses this (it needs the image states).
    ///
    /// - `hidden_states`: `(B, in_channels, F, H, W)` noisy latents; F, H, W multiples of the
    ///   patch size.
    /// - `timestep`: `(B,)`, or `(B, seq_len)` with one timestep per latent token (Wan 2.2
    ///   TI2V), in diffusion units (0..1000); any float or integer dtype. A leading dim of 1
    ///   is shared by the whole batch.
    /// - `encoder_hidden_states`: `(B, L, text_dim)` text encoder states.
    ///
    /// Returns the model prediction (the flow-matching velocity for Wan), `(B,
    /// out_channels, F, H, W)`.
    pub fn forward(
        &self,
        hidden_states: &Tensor,
        timestep: &Tensor,
        encoder_hidden_states: &Tensor,
    ) -> Result<Tensor> {
        self.forward_with_image(hidden_states, timestep, encoder_hidden_states, None)
    }

    /// One denoising call, diffusers' `WanTransformer3DModel.forward` with
    /// `encoder_hidden_states_image`.
    ///
    /// `hidden_states`, `timestep` and `encoder_hidden_states` are as in [`Self::forward`];
    /// for Wan 2.1 I2V `hidden_states` has 36 channels: the noisy latents, the 4 frame-mask
    /// channels and the conditioning latents, concatenated by the pipeline.
    ///
    /// `encoder_hidden_states_image`: the CLIP image states, `(B_img, S, image_dim)` — for
    /// Wan 2.1 the penultimate hidden states of the folder's `image_encoder/`
    /// (`crate::clip_vision`), `(1, 257, 1280)` per image. Required by image-to-video
    /// checkpoints, refused by text-to-video ones. `B_img` is B, or 1 (shared by the whole
    /// batch). With `pos_embed_seq_len` (FLF2V) each sample has two images, first and last
    /// frame, in consecutive rows: `B_img` is 2 B (or 2), and `2 S = pos_embed_seq_len`.
    ///
    /// The text and image tokens are attended to separately and the results summed, as in
    /// diffusers; diffusers finds the boundary between them by assuming 512 text tokens, so
    /// the two agree when `encoder_hidden_states` has 512 tokens (the pipeline pads to 512).
    pub fn forward_with_image(
        &self,
        hidden_states: &Tensor,
        timestep: &Tensor,
        encoder_hidden_states: &Tensor,
        encoder_hidden_states_image: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, c, f, h, w) = hidden_states.dims5()?;
        let [pt, ph, pw] = self.cfg.patch_size;
        if c != self.cfg.in_channels {
            candle_core::bail!(
                "Wan transformer: hidden_states has {c} channels, the model takes {}",
                self.cfg.in_channels
            )
        }
        if !(f.is_multiple_of(pt) && h.is_multiple_of(ph) && w.is_multiple_of(pw)) || f == 0 {
            candle_core::bail!(
                "Wan transformer: latent size {f}x{h}x{w} is not a multiple of the patch {pt}x{ph}x{pw}"
            )
        }
        let (tb, l, text_dim) = encoder_hidden_states.dims3()?;
        if tb != b || text_dim != self.cfg.text_dim {
            candle_core::bail!(
                "Wan transformer: encoder_hidden_states is ({tb}, {l}, {text_dim}), expected ({b}, L, {})",
                self.cfg.text_dim
            )
        }
        let grid = (f / pt, h / ph, w / pw);
        let n = grid.0 * grid.1 * grid.2;
        let dim = self.cfg.inner_dim();

        // Timesteps: one per sample (S = 1) or one per token (S = N); a batch of one
        // timestep row is shared by all samples, as torch broadcasting does in diffusers.
        let (tb, s) = match timestep.dims() {
            [tb] if *tb == b || *tb == 1 => (*tb, 1),
            [tb, tn] if (*tb == b || *tb == 1) && *tn == n => (*tb, n),
            other => candle_core::bail!(
                "Wan transformer: timestep has shape {other:?}, expected ({b},) or ({b}, {n})"
            ),
        };
        let (temb, proj) = self.condition_embedder.time(&timestep.flatten_all()?)?;
        let temb = temb.reshape((tb, s, dim))?;
        let time = proj.reshape((tb, s, 6, dim))?;
        let text = self
            .condition_embedder
            .text(&encoder_hidden_states.to_dtype(self.dtype)?)?;
        let image = self.embed_image(encoder_hidden_states_image, b)?;

        let rope = WanRope::new(&self.cfg, grid, &self.device)?;
        let tokens = self.patchify(&hidden_states.to_dtype(self.dtype)?)?;
        let mut x = self.patch_embedding.forward(&tokens)?;
        for block in &self.blocks {
            x = block.forward(
                &x,
                &text,
                image.as_ref(),
                &time,
                &rope,
                self.attention_chunk,
            )?;
        }

        let table = self.scale_shift_table.unsqueeze(0)?;
        let m = table.broadcast_add(&temb.unsqueeze(2)?)?;
        let shift = m.narrow(2, 0, 1)?.squeeze(2)?;
        let scale = m.narrow(2, 1, 1)?.squeeze(2)?;
        let x = modulate(&self.norm_out.forward(&x)?, &shift, &scale)?.to_dtype(self.dtype)?;
        let x = self.proj_out.forward(&x)?;
        self.unpatchify(&x, grid)
    }
}
