//! The umT5 text encoder of the Wan 2.1 / 2.2 video models, as transformers'
//! `UMT5EncoderModel`, and the way diffusers' `WanPipeline` turns prompts into text states.
//!
//! - Model: umT5 ("UniMax: Fairer and More Effective Language Sampling for Large-Scale
//!   Multilingual Pretraining", Chung et al., ICLR 2023, <https://arxiv.org/abs/2304.09151>),
//!   the T5 v1.1 encoder with a relative attention bias in every layer.
//! - Reference implementation: transformers 5.x,
//!   `src/transformers/models/umt5/modeling_umt5.py` (`UMT5EncoderModel`, `UMT5Stack`,
//!   `UMT5Block`, `UMT5Attention`, `UMT5LayerNorm`, `UMT5DenseGatedActDense`,
//!   `UMT5DenseActDense`), and diffusers 0.42.1
//!   `src/diffusers/pipelines/wan/pipeline_wan.py` (`WanPipeline._get_t5_prompt_embeds`,
//!   `prompt_clean`). This file is an independent candle implementation.
//! - Checkpoints: the `text_encoder/` folder (and `tokenizer/tokenizer.json`) of the Wan
//!   diffusers repositories, e.g. `Wan-AI/Wan2.1-T2V-1.3B-Diffusers`: umT5-XXL, 24 layers,
//!   4096 wide, stored as a `UMT5EncoderModel`.
//!
//! Key layout (the `vb.pp(..)` paths below are these keys, unchanged, so the files load as
//! they are):
//!
//! ```text
//! shared.weight   (or encoder.embed_tokens.weight; the two are tied)    (vocab, d_model)
//! encoder.block.{i}.layer.0.layer_norm.weight                           (d_model,)
//! encoder.block.{i}.layer.0.SelfAttention.{q,k,v}.weight                (heads*d_kv, d_model)
//! encoder.block.{i}.layer.0.SelfAttention.o.weight                      (d_model, heads*d_kv)
//! encoder.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight (buckets, heads)
//! encoder.block.{i}.layer.1.layer_norm.weight                           (d_model,)
//! encoder.block.{i}.layer.1.DenseReluDense.{wi_0,wi_1}.weight           (d_ff, d_model) gated
//! encoder.block.{i}.layer.1.DenseReluDense.wi.weight                    (d_ff, d_model) plain
//! encoder.block.{i}.layer.1.DenseReluDense.wo.weight                    (d_model, d_ff)
//! encoder.final_layer_norm.weight                                       (d_model,)
//! ```
//!
//! The network: token embedding (no scaling, no absolute positions), then per block a
//! pre-norm self-attention (T5 RMS norm: no mean subtraction, no bias; scores NOT divided by
//! `sqrt(d_kv)`; the block's own bidirectional relative-position bias added to the scores;
//! padded keys masked with a large negative number) and a pre-norm feed-forward (gated
//! `act(wi_0 x) * wi_1 x` or plain `act(wi x)`, then `wo`), then `final_layer_norm`.
//!
//! Precision: the residual stream, the norms, the attention scores, softmax and the
//! activation are computed in f32 whatever the weight dtype; the linear layers run in the
//! weight dtype, except `wo`, which runs in f32 for f16 weights (transformers keeps `wo` in
//! f32 for the same reason: its output overflows f16). The output is f32. With f32 weights
//! this is transformers' computation; with bf16/f16 weights it rounds less often than
//! transformers does.
//!
//! Parity is checked by `tests/umt5_parity.rs` against fixtures written by
//! `tools/parity/umt5.py`: a tiny random gated-GELU model (d_kv * heads != d_model,
//! sequences longer than `relative_attention_max_distance`, right padding with an attention
//! mask, and no mask), a tiny ReLU model whose embedding is stored as
//! `encoder.embed_tokens.weight`, the bucket of every relative position in [-600, 600] for the
//! tiny config and for umT5-XXL's (32 buckets, max distance 128), and diffusers'
//! `_get_t5_prompt_embeds` (token ids and prompt states) on a tiny Unigram tokenizer laid out
//! like umT5's. Not covered there: real umT5-XXL weights.

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::{Deserialize, Serialize};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The text length Wan pipelines encode prompts to (`max_sequence_length=512` in diffusers'
/// `WanPipeline.__call__`).
pub const WAN_TEXT_LEN: usize = 512;

/// Hyper-parameters of a `UMT5EncoderModel`; the field names and meanings are those of the
/// transformers `config.json`, so that file deserialises into this struct (unknown keys such
/// as `architectures` or `num_decoder_layers` are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Umt5Config {
    pub vocab_size: usize,
    /// Width of the residual stream and of the output states.
    pub d_model: usize,
    /// Width of one attention head; `d_kv * num_heads` need not equal `d_model`.
    pub d_kv: usize,
    pub d_ff: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub relative_attention_num_buckets: usize,
    pub relative_attention_max_distance: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// `"gated-gelu"` (umT5), `"relu"` (original T5), or `"[gated-]{act}"` in general.
    #[serde(default = "default_feed_forward_proj")]
    pub feed_forward_proj: String,
    /// Activation name as transformers' `ACT2FN` spells it; when the config file has it, it
    /// wins over the one derived from `feed_forward_proj` (as in transformers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense_act_fn: Option<String>,
    /// Whether the feed-forward is gated; derived from `feed_forward_proj` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_gated_act: Option<bool>,
    #[serde(default)]
    pub pad_token_id: u32,
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
}

fn default_eps() -> f64 {
    1e-6
}

fn default_feed_forward_proj() -> String {
    "gated-gelu".to_string()
}

fn default_eos() -> u32 {
    1
}

/// The feed-forward activations transformers' T5 family uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Umt5Activation {
    Relu,
    /// Exact (erf) GELU: transformers' `"gelu"`.
    Gelu,
    /// Tanh-approximated GELU: `"gelu_new"`, `"gelu_pytorch_tanh"`, `"gelu_fast"`.
    GeluTanh,
    /// `"silu"` / `"swish"`.
    Silu,
}

impl Umt5Activation {
    /// Parses a transformers `ACT2FN` name.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "relu" => Self::Relu,
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "silu" | "swish" => Self::Silu,
            other => candle_core::bail!("umT5: unsupported activation {other:?}"),
        })
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Relu => x.relu(),
            Self::Gelu => x.gelu_erf(),
            Self::GeluTanh => x.gelu(),
            Self::Silu => x.silu(),
        }
    }
}

impl Umt5Config {
    /// umT5-XXL, the text encoder of every Wan 2.1 / 2.2 model: 24 layers, d_model 4096,
    /// 64 heads x 64, d_ff 10240, vocabulary 256384, 32 buckets, max distance 128, gated
    /// tanh-GELU.
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers/blob/main/text_encoder/config.json>
    /// (the same `text_encoder/` ships with the 14B and Wan 2.2 diffusers repositories).
    pub fn umt5_xxl() -> Self {
        Self {
            vocab_size: 256_384,
            d_model: 4096,
            d_kv: 64,
            d_ff: 10_240,
            num_layers: 24,
            num_heads: 64,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: "gated-gelu".to_string(),
            dense_act_fn: Some("gelu_new".to_string()),
            is_gated_act: Some(true),
            pad_token_id: 0,
            eos_token_id: 1,
        }
    }

    /// Parses a transformers `config.json` and checks it.
    pub fn from_json(json: &str) -> Result<Self> {
        let cfg: Self = serde_json::from_str(json)
            .map_err(|e| candle_core::Error::Msg(format!("umT5 config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Width of the attention projections, `num_heads * d_kv`.
    pub fn inner_dim(&self) -> usize {
        self.num_heads * self.d_kv
    }

    /// The feed-forward activation and whether it is gated, as transformers' `UMT5Config`
    /// derives them: `feed_forward_proj` "gated-X" is gated with activation X, "X" is plain;
    /// "gated-gelu" means the tanh GELU (`gelu_new`). Explicit `dense_act_fn` /
    /// `is_gated_act` keys override.
    pub fn feed_forward(&self) -> Result<(Umt5Activation, bool)> {
        let parts: Vec<&str> = self.feed_forward_proj.split('-').collect();
        let (act, gated) = match parts.as_slice() {
            [act] => (*act, false),
            ["gated", act] => (*act, true),
            _ => candle_core::bail!(
                "umT5: feed_forward_proj {:?} is not \"gated-ACT\" or \"ACT\"",
                self.feed_forward_proj
            ),
        };
        let act = if self.feed_forward_proj == "gated-gelu" {
            "gelu_new"
        } else {
            act
        };
        let act = self.dense_act_fn.as_deref().unwrap_or(act);
        Ok((
            Umt5Activation::from_name(act)?,
            self.is_gated_act.unwrap_or(gated),
        ))
    }

    /// Checks the invariants the layers rely on.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(candle_core::Error::Msg(format!(
                    "invalid umT5 config: {what}"
                )))
            }
        };
        check(
            self.vocab_size > 0
                && self.d_model > 0
                && self.d_kv > 0
                && self.d_ff > 0
                && self.num_heads > 0,
            "vocab_size, d_model, d_kv, d_ff and num_heads must be positive",
        )?;
        check(
            self.relative_attention_num_buckets >= 4,
            "relative_attention_num_buckets must be at least 4",
        )?;
        check(
            self.relative_attention_max_distance > self.relative_attention_num_buckets / 4,
            "relative_attention_max_distance must exceed relative_attention_num_buckets / 4",
        )?;
        check(
            self.layer_norm_epsilon >= 0.0,
            "layer_norm_epsilon must not be negative",
        )?;
        self.feed_forward()?;
        Ok(())
    }
}

/// transformers' `UMT5Attention._relative_position_bucket` for the encoder (bidirectional):
/// the bucket of `relative_position = key_position - query_position`.
///
/// Half the buckets are for keys at or before the query, half for keys after it; within a
/// half, distances below a quarter of the buckets get one bucket each and larger ones share
/// log-spaced buckets up to `max_distance`, beyond which all fall in the last bucket. The
/// logarithm is taken in f32 like the reference, so the buckets agree at the edges.
pub fn relative_position_bucket(
    relative_position: i64,
    num_buckets: usize,
    max_distance: usize,
) -> u32 {
    let half = num_buckets / 2;
    let offset = if relative_position > 0 { half } else { 0 };
    let distance = relative_position.unsigned_abs() as usize;
    let max_exact = half / 2;
    let bucket = if distance < max_exact {
        distance
    } else {
        let log_ratio = (distance as f32 / max_exact as f32).ln()
            / ((max_distance as f64 / max_exact as f64).ln() as f32)
            * (half - max_exact) as f32;
        (max_exact + log_ratio as usize).min(half - 1)
    };
    (offset + bucket) as u32
}

/// `(len * len,)` bucket indices, row-major over (query, key).
fn bucket_indices(cfg: &Umt5Config, len: usize, device: &Device) -> Result<Tensor> {
    let nb = cfg.relative_attention_num_buckets;
    let md = cfg.relative_attention_max_distance;
    // One bucket per relative position -(len - 1) ..= len - 1, then gathered per pair.
    let per_offset: Vec<u32> = (0..2 * len.max(1) - 1)
        .map(|i| relative_position_bucket(i as i64 - (len as i64 - 1), nb, md))
        .collect();
    let mut idx = Vec::with_capacity(len * len);
    for q in 0..len {
        for k in 0..len {
            idx.push(per_offset[k + len - 1 - q]);
        }
    }
    Tensor::from_vec(idx, len * len, device)
}

fn linear_no_bias(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    Ok(Linear::new(vb.get((out_dim, in_dim), "weight")?, None))
}

/// T5's RMS norm: `x / sqrt(mean(x^2) + eps) * weight`, in f32.
#[derive(Debug, Clone)]
struct T5LayerNorm {
    weight: Tensor,
    eps: f32,
}

impl T5LayerNorm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(dim, "weight")?.to_dtype(DType::F32)?,
            eps: eps as f32,
        })
    }

    /// f32 in, f32 out.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
    }
}

/// `UMT5Attention` as encoder self-attention, with its own relative-position bias.
#[derive(Debug, Clone)]
struct Umt5SelfAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    /// `(num_buckets, heads)` in f32.
    relative_attention_bias: Tensor,
    heads: usize,
    d_kv: usize,
}

impl Umt5SelfAttention {
    fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let inner = cfg.inner_dim();
        Ok(Self {
            q: linear_no_bias(cfg.d_model, inner, vb.pp("q"))?,
            k: linear_no_bias(cfg.d_model, inner, vb.pp("k"))?,
            v: linear_no_bias(cfg.d_model, inner, vb.pp("v"))?,
            o: linear_no_bias(inner, cfg.d_model, vb.pp("o"))?,
            relative_attention_bias: vb
                .pp("relative_attention_bias")
                .get(
                    (cfg.relative_attention_num_buckets, cfg.num_heads),
                    "weight",
                )?
                .to_dtype(DType::F32)?,
            heads: cfg.num_heads,
            d_kv: cfg.d_kv,
        })
    }

    /// `x`: normed states `(B, L, d_model)` in the weight dtype; `buckets`: `(L * L,)`;
    /// `mask`: additive `(B, 1, 1, L)` f32. Returns `(B, L, d_model)` f32.
    fn forward(&self, x: &Tensor, buckets: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let heads = |t: Tensor| -> Result<Tensor> {
            t.to_dtype(DType::F32)?
                .reshape((b, l, self.heads, self.d_kv))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = heads(self.q.forward(x)?)?;
        let k = heads(self.k.forward(x)?)?;
        let v = heads(self.v.forward(x)?)?;
        // No 1/sqrt(d_kv): T5 folds the scale into the weights.
        let scores = q.matmul(&k.t()?.contiguous()?)?;
        let bias = self
            .relative_attention_bias
            .index_select(buckets, 0)?
            .reshape((l, l, self.heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)?;
        let mut scores = scores.broadcast_add(&bias)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, l, self.heads * self.d_kv))?
            .to_dtype(self.o.weight().dtype())?;
        self.o.forward(&out)?.to_dtype(DType::F32)
    }
}

/// `UMT5DenseGatedActDense` (`wi_0`, `wi_1`, `wo`) or `UMT5DenseActDense` (`wi`, `wo`).
#[derive(Debug, Clone)]
struct Umt5FeedForward {
    wi_0: Linear,
    /// The gate's linear half; `None` for the plain (un-gated) form, whose `wi` is `wi_0` here.
    wi_1: Option<Linear>,
    wo: Linear,
    act: Umt5Activation,
}

impl Umt5FeedForward {
    fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let (act, gated) = cfg.feed_forward()?;
        let (wi_0, wi_1) = if gated {
            (
                linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi_0"))?,
                Some(linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi_1"))?),
            )
        } else {
            (linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("wi"))?, None)
        };
        let wo = vb.pp("wo").get((cfg.d_model, cfg.d_ff), "weight")?;
        // transformers keeps `wo` in f32 (`_keep_in_fp32_modules`): in f16 its output overflows.
        let wo = if wo.dtype() == DType::F16 {
            wo.to_dtype(DType::F32)?
        } else {
            wo
        };
        Ok(Self {
            wi_0,
            wi_1,
            wo: Linear::new(wo, None),
            act,
        })
    }

    /// Normed states in the weight dtype in, f32 out.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self
            .act
            .apply(&self.wi_0.forward(x)?.to_dtype(DType::F32)?)?;
        if let Some(wi_1) = &self.wi_1 {
            h = (h * wi_1.forward(x)?.to_dtype(DType::F32)?)?;
        }
        self.wo
            .forward(&h.to_dtype(self.wo.weight().dtype())?)?
            .to_dtype(DType::F32)
    }
}

/// `UMT5Block` of an encoder: `layer.0` self-attention, `layer.1` feed-forward, each
/// pre-normed and residual.
#[derive(Debug, Clone)]
struct Umt5Block {
    attn_norm: T5LayerNorm,
    attn: Umt5SelfAttention,
    ff_norm: T5LayerNorm,
    ff: Umt5FeedForward,
    dtype: DType,
}

impl Umt5Block {
    fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        let sa = vb.pp("layer.0");
        let ff = vb.pp("layer.1");
        Ok(Self {
            attn_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, sa.pp("layer_norm"))?,
            attn: Umt5SelfAttention::new(cfg, sa.pp("SelfAttention"))?,
            ff_norm: T5LayerNorm::new(cfg.d_model, cfg.layer_norm_epsilon, ff.pp("layer_norm"))?,
            ff: Umt5FeedForward::new(cfg, ff.pp("DenseReluDense"))?,
            dtype: vb.dtype(),
        })
    }

    /// f32 residual stream in and out.
    fn forward(&self, h: &Tensor, buckets: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let x = self.attn_norm.forward(h)?.to_dtype(self.dtype)?;
        let h = (h + self.attn.forward(&x, buckets, mask)?)?;
        let x = self.ff_norm.forward(&h)?.to_dtype(self.dtype)?;
        h + self.ff.forward(&x)?
    }
}

/// transformers' `UMT5EncoderModel`: token ids (and an attention mask) to the last hidden
/// state.
#[derive(Debug, Clone)]
pub struct Umt5Encoder {
    embed_tokens: Embedding,
    blocks: Vec<Umt5Block>,
    final_layer_norm: T5LayerNorm,
    cfg: Umt5Config,
    dtype: DType,
    device: Device,
}

impl Umt5Encoder {
    /// Builds the encoder from a `VarBuilder` rooted at the checkpoint's top level (the keys
    /// `shared.weight` and `encoder.*`). The embedding is read from `shared.weight`, or from
    /// `encoder.embed_tokens.weight` when only that key exists. A missing or mis-shaped
    /// tensor is an error that names its key.
    pub fn new(cfg: &Umt5Config, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let embed_key = ["shared.weight", "encoder.embed_tokens.weight"]
            .into_iter()
            .find(|k| vb.contains_tensor(k))
            .ok_or_else(|| {
                candle_core::Error::Msg(
                    "umT5: the token embedding is missing: neither shared.weight nor \
                     encoder.embed_tokens.weight is in the weights"
                        .to_string(),
                )
            })?;
        let embeddings = vb.get((cfg.vocab_size, cfg.d_model), embed_key)?;
        let enc = vb.pp("encoder");
        let blocks = (0..cfg.num_layers)
            .map(|i| Umt5Block::new(cfg, enc.pp(format!("block.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embed_tokens: Embedding::new(embeddings, cfg.d_model),
            blocks,
            final_layer_norm: T5LayerNorm::new(
                cfg.d_model,
                cfg.layer_norm_epsilon,
                enc.pp("final_layer_norm"),
            )?,
            cfg: cfg.clone(),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// Memory-maps the (possibly sharded) safetensors files of a `text_encoder/` folder and
    /// builds the encoder with weights in `dtype`.
    pub fn load<P: AsRef<Path>>(
        cfg: &Umt5Config,
        weights: &[P],
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        // SAFETY: the files are mapped read-only; like every candle model loader this relies
        // on them not being modified while the model is alive.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(weights, dtype, device)? };
        Self::new(cfg, vb)
    }

    pub fn config(&self) -> &Umt5Config {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `input_ids`: `(B, L)` integer ids (u8, u32 or i64); `attention_mask`: `(B, L)`, any
    /// dtype, non-zero for tokens to attend to and zero for padding. Masked positions are
    /// excluded as keys (an additive `f32::MIN`, as transformers does); their own output rows
    /// are still computed. Returns the last hidden state `(B, L, d_model)` in f32.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        if l == 0 {
            candle_core::bail!("umT5: empty input (sequence length 0)")
        }
        let ids = self.checked_ids(input_ids)?;
        let mask = match attention_mask {
            None => None,
            Some(mask) => {
                if mask.dims() != [b, l] {
                    candle_core::bail!(
                        "umT5: attention mask shape {:?} does not match input ids {:?}",
                        mask.dims(),
                        input_ids.dims()
                    )
                }
                let keep = mask.to_device(&self.device)?.ne(0f64)?;
                let zeros = Tensor::zeros((b, l), DType::F32, &self.device)?;
                let masked = Tensor::full(f32::MIN, (b, l), &self.device)?;
                Some(keep.where_cond(&zeros, &masked)?.reshape((b, 1, 1, l))?)
            }
        };
        let buckets = bucket_indices(&self.cfg, l, &self.device)?;
        let mut h = self.embed_tokens.forward(&ids)?.to_dtype(DType::F32)?;
        for block in &self.blocks {
            h = block.forward(&h, &buckets, mask.as_ref())?;
        }
        self.final_layer_norm.forward(&h)
    }

    /// The ids as u32 on the model's device, after checking they index the vocabulary.
    fn checked_ids(&self, input_ids: &Tensor) -> Result<Tensor> {
        let ids = input_ids.to_device(&self.device)?;
        match ids.dtype() {
            DType::U8 | DType::U32 => {}
            DType::I64 => {
                let min = ids.flatten_all()?.min(0)?.to_scalar::<i64>()?;
                if min < 0 {
                    candle_core::bail!("umT5: negative token id {min}")
                }
            }
            other => candle_core::bail!("umT5: token ids must be integers, got {other:?}"),
        }
        let ids = ids.to_dtype(DType::U32)?;
        let max = ids.flatten_all()?.max(0)?.to_scalar::<u32>()?;
        if max as usize >= self.cfg.vocab_size {
            candle_core::bail!(
                "umT5: token id {max} is outside the vocabulary ({} entries)",
                self.cfg.vocab_size
            )
        }
        Ok(ids)
    }
}

/// Token ids of a batch of prompts, as Wan's pipeline prepares them.
#[derive(Debug, Clone)]
pub struct WanTokens {
    /// `(B, max_len)` u32, padded with the `<pad>` id.
    pub input_ids: Tensor,
    /// `(B, max_len)` u32, 1 for tokens (`</s>` included) and 0 for padding.
    pub attention_mask: Tensor,
    /// Tokens per prompt (the mask's row sums).
    pub lengths: Vec<usize>,
}

/// diffusers' `prompt_clean` in `pipeline_wan.py` without `ftfy` (diffusers runs
/// `ftfy.fix_text` first only when that package is installed): HTML-unescape twice, strip,
/// replace every run of whitespace with one space, strip again.
///
/// The unescaping is Python's `html.unescape`: numeric references (decimal and hex, with or
/// without `;`, with its replacements of invalid code points) and all of HTML5's named
/// references (with `;`, the legacy ones also without, and the longest legacy prefix of an
/// unknown name). The runs are of Unicode White_Space (diffusers' `\s` comes from the
/// `regex` module); the strips also remove U+001C..U+001F, as Python's `str.strip` does.
pub fn wan_prompt_clean(text: &str) -> String {
    let text = html_unescape(&html_unescape(text));
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.trim_matches(is_py_space).chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out.trim_matches(is_py_space).to_string()
}

/// Python's `str.isspace`: Unicode White_Space plus the separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The replacement of the named reference `&{name}` (`name` with its `;`, if any) in HTML5's
/// table, which is Python's `html.entities.html5`, entry for entry.
///
/// The table is htmlize's; its own decoder (`htmlize::unescape`) is not used because it
/// follows the WHATWG parser rather than Python: it keeps the control and noncharacter code
/// points (`&#1;` gives U+0001, `&#xFFFF;` U+FFFF) that `html.unescape` drops.
fn named_reference(name: &str) -> Option<&'static str> {
    let key = format!("&{name}");
    htmlize::ENTITIES
        .get(key.as_bytes())
        .and_then(|rep| std::str::from_utf8(rep).ok())
}

/// Windows-1252 replacements of the references `&#128;` ..= `&#159;`, as the HTML standard
/// (and Python's `html._invalid_charrefs`) defines them.
const CP1252: [char; 32] = [
    '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
];

/// Python's `html._replace_charref` for a numeric reference.
fn numeric_reference(num: u64) -> String {
    match num {
        0 => "\u{fffd}".to_string(),
        0x0d => "\r".to_string(),
        0x80..=0x9f => CP1252[(num - 0x80) as usize].to_string(),
        0xd800..=0xdfff => "\u{fffd}".to_string(),
        n if n > 0x10ffff => "\u{fffd}".to_string(),
        0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0xfdd0..=0xfdef => String::new(),
        n if n & 0xfffe == 0xfffe => String::new(),
        n => char::from_u32(n as u32)
            .map(String::from)
            .unwrap_or_else(|| "\u{fffd}".to_string()),
    }
}

/// Python's `html.unescape`: scans for
/// `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` and replaces each match.
fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match reference(after) {
            Some((replacement, consumed)) => {
                out.push_str(&replacement);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The replacement of the reference at the start of `s` (just after a `&`) and the bytes it
/// spans, or `None` when no reference starts there.
fn reference(s: &str) -> Option<(String, usize)> {
    let semicolon = |end: usize| usize::from(s[end..].starts_with(';'));
    if let Some(num) = s.strip_prefix('#') {
        let (hex, digits) = match num.strip_prefix(['x', 'X']) {
            Some(h) => (true, h),
            None => (false, num),
        };
        let len = digits
            .bytes()
            .take_while(|b| {
                if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        if len == 0 {
            return None;
        }
        let radix = if hex { 16 } else { 10 };
        let value = digits[..len].bytes().fold(0u64, |acc, b| {
            let d = (b as char).to_digit(radix).unwrap_or(0) as u64;
            acc.saturating_mul(radix as u64).saturating_add(d)
        });
        let end = 1 + usize::from(hex) + len;
        return Some((numeric_reference(value), end + semicolon(end)));
    }
    // A name: 1 to 32 characters other than \t \n \x0c space < & # ;
    let end = s
        .char_indices()
        .take_while(|&(_, c)| !matches!(c, '\t' | '\n' | '\u{c}' | ' ' | '<' | '&' | '#' | ';'))
        .take(32)
        .last()
        .map(|(i, c)| i + c.len_utf8())?;
    let consumed = end + semicolon(end);
    // The whole match: a name with its `;`, or a legacy name without one.
    if let Some(rep) = named_reference(&s[..consumed]) {
        return Some((rep.to_string(), consumed));
    }
    // Else the longest legacy name (at least 2 characters, so without its `;`) that is a
    // proper prefix of the match; the rest of the match stays as text.
    for cut in (2..consumed).rev() {
        if !s.is_char_boundary(cut) {
            continue;
        }
        if let Some(rep) = named_reference(&s[..cut]) {
            return Some((format!("{rep}{}", &s[cut..consumed]), consumed));
        }
    }
    None
}

/// diffusers' Wan tokenisation (`WanPipeline._get_t5_prompt_embeds`): each prompt goes
/// through [`wan_prompt_clean`], is tokenised with special tokens (umT5's post-processor
/// appends `</s>`), truncated to `max_len` tokens (the `</s>` is kept: truncation happens
/// before the post-processor, as in HF tokenizers) and padded to `max_len` with `<pad>`.
/// The truncation and padding set in `tokenizer` are ignored.
pub fn wan_tokenize(
    tokenizer: &Tokenizer,
    prompts: &[&str],
    max_len: usize,
    device: &Device,
) -> Result<WanTokens> {
    if prompts.is_empty() || max_len == 0 {
        candle_core::bail!("umT5 tokenisation: no prompts, or max_len 0")
    }
    let tok_err = |e: tokenizers::Error| candle_core::Error::Msg(format!("umT5 tokenizer: {e}"));
    let pad_id = tokenizer.token_to_id("<pad>").ok_or_else(|| {
        candle_core::Error::Msg("umT5 tokenizer: no <pad> token in the vocabulary".to_string())
    })?;
    let mut tokenizer = tokenizer.clone();
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(tok_err)?;
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::Fixed(max_len),
        pad_id,
        pad_token: "<pad>".to_string(),
        ..Default::default()
    }));
    let cleaned: Vec<String> = prompts.iter().map(|p| wan_prompt_clean(p)).collect();
    let encodings = tokenizer.encode_batch(cleaned, true).map_err(tok_err)?;
    let mut ids = Vec::with_capacity(prompts.len() * max_len);
    let mut mask = Vec::with_capacity(prompts.len() * max_len);
    let mut lengths = Vec::with_capacity(prompts.len());
    for enc in &encodings {
        if enc.get_ids().len() != max_len {
            candle_core::bail!(
                "umT5 tokenizer: {} tokens after padding, expected {max_len}",
                enc.get_ids().len()
            )
        }
        ids.extend_from_slice(enc.get_ids());
        mask.extend_from_slice(enc.get_attention_mask());
        lengths.push(enc.get_attention_mask().iter().filter(|&&m| m > 0).count());
    }
    let shape = (prompts.len(), max_len);
    Ok(WanTokens {
        input_ids: Tensor::from_vec(ids, shape, device)?,
        attention_mask: Tensor::from_vec(mask, shape, device)?,
        lengths,
    })
}

/// diffusers' `WanPipeline._get_t5_prompt_embeds`: [`wan_tokenize`], run the encoder with
/// the attention mask, keep each prompt's first `length` states and zero the rest. Returns
/// `(B, max_len, d_model)` f32 on `device` (Wan uses `max_len` = [`WAN_TEXT_LEN`]).
pub fn wan_prompt_embeds(
    encoder: &Umt5Encoder,
    tokenizer: &Tokenizer,
    prompts: &[&str],
    max_len: usize,
    device: &Device,
) -> Result<Tensor> {
    let tokens = wan_tokenize(tokenizer, prompts, max_len, encoder.device())?;
    let states = encoder.forward(&tokens.input_ids, Some(&tokens.attention_mask))?;
    let d = states.dim(D::Minus1)?;
    let rows = tokens
        .lengths
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let row = states.get(i)?.narrow(0, 0, n)?;
            if n == max_len {
                Ok(row)
            } else {
                let zeros = Tensor::zeros((max_len - n, d), DType::F32, states.device())?;
                Tensor::cat(&[&row, &zeros], 0)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::stack(&rows, 0)?.to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `html_unescape` against Python 3.11's `html.unescape`: each expected string is
    /// `repr(html.unescape(input))` from `python3 -c "import html; ..."`.
    #[test]
    fn html_unescape_matches_python() {
        let cases = [
            // Named references beyond the old subset, with `;` (multi-code-point ones too).
            (
                "&eacute;&Eacute;&hearts;&euro;",
                "\u{e9}\u{c9}\u{2665}\u{20ac}",
            ),
            ("&frac12;&fjlig;&nGt;", "\u{bd}fj\u{226b}\u{20d2}"),
            ("&NotNestedGreaterGreater;", "\u{2aa2}\u{338}"),
            ("&CounterClockwiseContourIntegral;", "\u{2233}"),
            // Legacy names without `;` (HTML5's set), and names that need their `;`.
            ("caf&eacute cr&egrave;me", "caf\u{e9} cr\u{e8}me"),
            (
                "&frac12x &times3 &sup2 &Aring",
                "\u{bd}x \u{d7}3 \u{b2} \u{c5}",
            ),
            ("&hearts &euro", "&hearts &euro"),
            // The longest legacy prefix of an unknown name; the rest of the match stays as text.
            (
                "&notit; &notin; &copysr; &copysrx",
                "\u{ac}it; \u{2209} \u{2117} \u{a9}srx",
            ),
            ("&ampx; &amp\u{e9}; &ltgt;", "&x; &\u{e9}; <gt;"),
            // Case matters; unknown names, and names past 32 characters, stay.
            ("&Amp; &AMP; &aMp &unknown;", "&Amp; & &aMp &unknown;"),
            (
                "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;",
                "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;",
            ),
            (
                "&lttttttttttttttttttttttttttttttttttttttttt",
                "<tttttttttttttttttttttttttttttttttttttttt",
            ),
            // Numeric references, decimal and hex, with and without `;`.
            ("&#39;&#x27;&#X27&#039 &#65&#66", "'''' AB"),
            ("&#x1F600;&#128512;", "\u{1f600}\u{1f600}"),
            // Python's replacements: NUL, CR, the Windows-1252 block; controls and noncharacters
            // are dropped; surrogates and values past U+10FFFF.
            (
                "&#0;|&#13;|&#x80;&#x81;&#x9F;",
                "\u{fffd}|\u{d}|\u{20ac}\u{81}\u{178}",
            ),
            ("&#1;&#x7f;&#xb;|&#9;&#10;&#x7e;", "|\u{9}\u{a}~"),
            ("&#xFDD0;&#xFFFF;&#x10FFFF;&#x1FFFE;", ""),
            (
                "&#xD800;&#x110000;&#99999999999999999999;",
                "\u{fffd}\u{fffd}\u{fffd}",
            ),
            // Not references.
            ("& x &; &#; &#x; &#xg;", "& x &; &#; &#x; &#xg;"),
            ("AT&T && &&amp; &#", "AT&T && && &#"),
            // One pass only.
            ("&amp;amp; &amp;#39;", "&amp; &#39;"),
        ];
        for (input, want) in cases {
            assert_eq!(html_unescape(input), want, "html.unescape({input:?})");
        }
        // wan_prompt_clean unescapes twice.
        assert_eq!(
            wan_prompt_clean("&amp;eacute; &amp;amp;hearts; &amp;#x27;"),
            "\u{e9} &hearts; '"
        );
    }
}
