//! The CLIP vision encoder of Wan 2.1 image-to-video, as transformers' `CLIPVisionModel`, and
//! the array part of its image preprocessing (`CLIPImageProcessor`).
//!
//! - Paper: "Learning Transferable Visual Models From Natural Language Supervision" (Radford
//!   et al., 2021), <https://arxiv.org/abs/2103.00020>; the weights Wan uses are open-clip's
//!   ViT-H/14 (LAION-2B), <https://huggingface.co/laion/CLIP-ViT-H-14-laion2B-s32B-b79K>.
//! - Reference implementation: transformers, `models/clip/modeling_clip.py`
//!   (`CLIPVisionModel`, `CLIPVisionEmbeddings`, `CLIPEncoderLayer`, `CLIPAttention`,
//!   `CLIPMLP`) and `image_processing_clip.py` / `image_processing_pil_clip.py`. This file is
//!   an independent candle implementation of the same computation.
//! - Checkpoints: the `image_encoder/` folder (`config.json`, `model.safetensors`) and
//!   `image_processor/preprocessor_config.json` of `Wan-AI/Wan2.1-I2V-14B-480P-Diffusers` and
//!   `Wan-AI/Wan2.1-I2V-14B-720P-Diffusers`. The `vb.pp(..)` paths are the checkpoint keys
//!   (`vision_model.embeddings.patch_embedding.weight`,
//!   `vision_model.encoder.layers.N.self_attn.q_proj.weight`, ...); files written by
//!   transformers 5, which drops the `vision_model.` level, load too.
//!
//! What diffusers' `WanImageToVideoPipeline.encode_image` computes is
//! `image_encoder(**image_processor(images), output_hidden_states=True).hidden_states[-2]`:
//! [`ClipImageProcessorConfig`] turns an image into `pixel_values`, and
//! [`ClipVisionModel::penultimate_hidden_states`] gives the hidden states after all but the
//! last encoder layer, `(B, 257, 1280)` for ViT-H/14 at 224 x 224, which go to
//! `WanTransformer::forward_with_image` (`crate::wan_transformer`).
//!
//! The network: a `patch x patch` convolution without bias (computed as a reshape and one
//! matmul), a learned class token in front, learned position embeddings, `pre_layrnorm`, then
//! `num_hidden_layers` pre-norm layers (LayerNorm, multi-head self-attention, residual;
//! LayerNorm, `fc1`, activation `hidden_act`, `fc2`, residual). `post_layernorm` applies only
//! to the pooled class token.
//!
//! Image preprocessing: kino-models has no image decoding or resampling dependency, so the
//! resize step is the caller's: resize the RGB image so that its shorter side is
//! `size.shortest_edge` ([`ClipImageProcessorConfig::resize_target`] gives the exact size
//! transformers picks) with bicubic resampling, then hand the pixels, 0..=255 as `f32`, to
//! [`ClipImageProcessorConfig::preprocess_resized`], which does the center crop, the rescale
//! and the normalisation exactly as transformers does. (transformers resizes with PIL's
//! bicubic filter, or with torchvision's antialiased bicubic when torchvision is installed;
//! the two differ by about one grey level.)
//!
//! Parity with transformers is checked by `tests/clip_vision_parity.rs` against
//! `tools/parity/fixtures/clip_vision.safetensors` (written by `tools/parity/clip_vision.py`).

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{linear, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::layer_norm::LayerNorm32;

/// The activation between `fc1` and `fc2` (transformers' `hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClipActivation {
    /// `x * sigmoid(1.702 x)`, OpenAI CLIP's activation (the transformers default).
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// Exact GELU (erf); open-clip ViT-H/14, the Wan image encoder.
    #[serde(rename = "gelu")]
    Gelu,
    /// GELU with the tanh approximation.
    #[serde(alias = "gelu_new", rename = "gelu_pytorch_tanh")]
    GeluTanh,
}

impl ClipActivation {
    fn forward(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
            Self::Gelu => x.gelu_erf(),
            Self::GeluTanh => x.gelu(),
        }
    }
}

/// Hyper-parameters of a `CLIPVisionModel`: transformers' `CLIPVisionConfig`, whose
/// `config.json` deserialises into this struct (unknown keys are ignored; missing keys take
/// transformers' defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipVisionConfig {
    #[serde(default = "default_hidden_size")]
    pub hidden_size: usize,
    #[serde(default = "default_intermediate_size")]
    pub intermediate_size: usize,
    #[serde(default = "default_num_hidden_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "default_num_attention_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "default_num_channels")]
    pub num_channels: usize,
    /// Side of the square input image in pixels.
    #[serde(default = "default_image_size")]
    pub image_size: usize,
    #[serde(default = "default_patch_size")]
    pub patch_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: ClipActivation,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
}

fn default_hidden_size() -> usize {
    768
}
fn default_intermediate_size() -> usize {
    3072
}
fn default_num_hidden_layers() -> usize {
    12
}
fn default_num_attention_heads() -> usize {
    12
}
fn default_num_channels() -> usize {
    3
}
fn default_image_size() -> usize {
    224
}
fn default_patch_size() -> usize {
    32
}
fn default_hidden_act() -> ClipActivation {
    ClipActivation::QuickGelu
}
fn default_layer_norm_eps() -> f64 {
    1e-5
}

impl ClipVisionConfig {
    /// open-clip ViT-H/14 (the `image_encoder/` of the Wan 2.1 I2V folders): 1280 wide, 32
    /// layers of 16 heads, MLP 5120, exact GELU, 14 x 14 patches of a 224 x 224 image (256
    /// patches + the class token = 257 tokens).
    ///
    /// <https://huggingface.co/Wan-AI/Wan2.1-I2V-14B-480P-Diffusers/blob/main/image_encoder/config.json>;
    /// the vision part of
    /// <https://huggingface.co/laion/CLIP-ViT-H-14-laion2B-s32B-b79K/blob/main/config.json>.
    pub fn vit_h_14() -> Self {
        Self {
            hidden_size: 1280,
            intermediate_size: 5120,
            num_hidden_layers: 32,
            num_attention_heads: 16,
            num_channels: 3,
            image_size: 224,
            patch_size: 14,
            hidden_act: ClipActivation::Gelu,
            layer_norm_eps: 1e-5,
        }
    }

    /// Parses a transformers `config.json`: a `CLIPVisionConfig` (`model_type`
    /// `clip_vision_model`, what `image_encoder/config.json` holds) or a full `CLIPConfig`,
    /// whose `vision_config` is used.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| candle_core::Error::Msg(format!("CLIP vision config: {e}")))?;
        let vision = match value.get("vision_config") {
            Some(v) if v.is_object() => v.clone(),
            _ => value,
        };
        let cfg: Self = serde_json::from_value(vision)
            .map_err(|e| candle_core::Error::Msg(format!("CLIP vision config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Tokens per image: the patches plus the class token (257 for ViT-H/14).
    pub fn num_positions(&self) -> usize {
        self.grid() * self.grid() + 1
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks the invariants the layers rely on.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(candle_core::Error::Msg(format!(
                    "invalid CLIP vision config: {what}"
                )))
            }
        };
        check(
            self.num_attention_heads > 0
                && self.hidden_size > 0
                && self.hidden_size.is_multiple_of(self.num_attention_heads),
            "hidden_size must be a positive multiple of num_attention_heads",
        )?;
        check(
            self.patch_size > 0 && self.image_size >= self.patch_size,
            "patch_size must be positive and at most image_size",
        )?;
        check(
            self.num_channels > 0 && self.intermediate_size > 0,
            "num_channels and intermediate_size must be positive",
        )?;
        check(
            self.num_hidden_layers > 0,
            "num_hidden_layers must be positive",
        )?;
        Ok(())
    }
}

/// `CLIPVisionEmbeddings`: patch embedding, class token, position embeddings.
#[derive(Debug, Clone)]
struct Embeddings {
    /// `(hidden, channels * patch * patch)`: the Conv2d kernel flattened.
    patch_embedding: Tensor,
    /// `(hidden,)`.
    class_embedding: Tensor,
    /// `(num_positions, hidden)`.
    position_embedding: Tensor,
    channels: usize,
    image_size: usize,
    patch: usize,
}

impl Embeddings {
    fn new(cfg: &ClipVisionConfig, vb: VarBuilder) -> Result<Self> {
        let (d, c, p) = (cfg.hidden_size, cfg.num_channels, cfg.patch_size);
        let patch_embedding = vb
            .pp("patch_embedding")
            .get((d, c, p, p), "weight")?
            .reshape((d, c * p * p))?;
        Ok(Self {
            patch_embedding,
            class_embedding: vb.get(d, "class_embedding")?,
            position_embedding: vb
                .pp("position_embedding")
                .get((cfg.num_positions(), d), "weight")?,
            channels: c,
            image_size: cfg.image_size,
            patch: p,
        })
    }

    /// `(B, C, S, S)` pixel values -> `(B, 1 + (S / patch)^2, hidden)`.
    fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = pixel_values.dims4()?;
        if c != self.channels || h != self.image_size || w != self.image_size {
            candle_core::bail!(
                "CLIP vision: pixel_values is ({b}, {c}, {h}, {w}), the model takes (B, {}, {}, {})",
                self.channels,
                self.image_size,
                self.image_size
            )
        }
        let p = self.patch;
        let g = self.image_size / p;
        // A convolution with kernel = stride = patch over the top-left g*p x g*p pixels
        // (transformers' Conv2d drops the remainder the same way).
        let x = pixel_values
            .to_dtype(self.patch_embedding.dtype())?
            .narrow(2, 0, g * p)?
            .narrow(3, 0, g * p)?
            .reshape(vec![b, c, g, p, g, p])?
            .permute(vec![0, 2, 4, 1, 3, 5])?
            .reshape((b, g * g, c * p * p))?;
        let patches = x.broadcast_matmul(&self.patch_embedding.t()?)?;
        let d = self.class_embedding.dim(0)?;
        let class = self
            .class_embedding
            .reshape((1, 1, d))?
            .broadcast_as((b, 1, d))?;
        Tensor::cat(&[&class, &patches], 1)?.broadcast_add(&self.position_embedding.unsqueeze(0)?)
    }
}

/// `CLIPAttention`: multi-head self-attention with biased q/k/v/out projections, softmax in
/// f32.
#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
}

impl Attention {
    fn new(cfg: &ClipVisionConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            q_proj: linear(d, d, vb.pp("q_proj"))?,
            k_proj: linear(d, d, vb.pp("k_proj"))?,
            v_proj: linear(d, d, vb.pp("v_proj"))?,
            out_proj: linear(d, d, vb.pp("out_proj"))?,
            heads: cfg.num_attention_heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let hd = d / self.heads;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, n, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((self.q_proj.forward(x)? * (1.0 / (hd as f64).sqrt()))?)?;
        let k = split(self.k_proj.forward(x)?)?;
        let v = split(self.v_proj.forward(x)?)?;
        let scores = q.matmul(&k.t()?.contiguous()?)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?;
        let out = probs.to_dtype(v.dtype())?.matmul(&v)?;
        let out = out.transpose(1, 2)?.reshape((b, n, d))?;
        self.out_proj.forward(&out)
    }
}

/// `CLIPEncoderLayer`: pre-norm self-attention and MLP, each with a residual.
#[derive(Debug, Clone)]
struct EncoderLayer {
    layer_norm1: LayerNorm32,
    self_attn: Attention,
    layer_norm2: LayerNorm32,
    fc1: Linear,
    fc2: Linear,
    act: ClipActivation,
}

impl EncoderLayer {
    fn new(cfg: &ClipVisionConfig, vb: VarBuilder) -> Result<Self> {
        let (d, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mlp = vb.pp("mlp");
        Ok(Self {
            layer_norm1: LayerNorm32::affine(d, cfg.layer_norm_eps, vb.pp("layer_norm1"))?,
            self_attn: Attention::new(cfg, vb.pp("self_attn"))?,
            layer_norm2: LayerNorm32::affine(d, cfg.layer_norm_eps, vb.pp("layer_norm2"))?,
            fc1: linear(d, i, mlp.pp("fc1"))?,
            fc2: linear(i, d, mlp.pp("fc2"))?,
            act: cfg.hidden_act,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = (x + self
            .self_attn
            .forward(&self.layer_norm1.forward_in_dtype(x)?)?)?;
        let h = self.fc1.forward(&self.layer_norm2.forward_in_dtype(&x)?)?;
        let h = self.fc2.forward(&self.act.forward(&h)?)?;
        x + h
    }
}

/// transformers' `CLIPVisionModel` (no projection head).
#[derive(Debug, Clone)]
pub struct ClipVisionModel {
    embeddings: Embeddings,
    pre_layrnorm: LayerNorm32,
    layers: Vec<EncoderLayer>,
    post_layernorm: LayerNorm32,
    cfg: ClipVisionConfig,
    dtype: DType,
    device: Device,
}

impl ClipVisionModel {
    /// Builds the model from a var-builder rooted at the checkpoint's top level. The weights
    /// are read under `vision_model.` (the layout of the Wan folders' `image_encoder/`, saved
    /// by transformers 4), or from the top level when the file has no `vision_model.` keys (as
    /// transformers 5 saves a `CLIPVisionModel`). Extra tensors (`visual_projection.weight`
    /// of a `CLIPVisionModelWithProjection`) are ignored. A missing tensor or a wrong shape is
    /// an error naming the key.
    pub fn new(cfg: &ClipVisionConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let vb = if !vb.contains_tensor("vision_model.embeddings.class_embedding")
            && vb.contains_tensor("embeddings.class_embedding")
        {
            vb
        } else {
            vb.pp("vision_model")
        };
        let d = cfg.hidden_size;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| EncoderLayer::new(cfg, vb.pp("encoder").pp("layers").pp(i.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embeddings: Embeddings::new(cfg, vb.pp("embeddings"))?,
            pre_layrnorm: LayerNorm32::affine(d, cfg.layer_norm_eps, vb.pp("pre_layrnorm"))?,
            layers,
            post_layernorm: LayerNorm32::affine(d, cfg.layer_norm_eps, vb.pp("post_layernorm"))?,
            cfg: cfg.clone(),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// Loads `image_encoder/model.safetensors` (or the shards of one), memory-mapped, weights
    /// cast to `dtype`.
    pub fn load<P: AsRef<Path>>(
        cfg: &ClipVisionConfig,
        weights: &[P],
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        // SAFETY: the files are mapped read-only; like every candle model loader this relies
        // on them not being modified while the model is alive.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(weights, dtype, device)? };
        Self::new(cfg, vb)
    }

    pub fn config(&self) -> &ClipVisionConfig {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Embeddings + `pre_layrnorm`, then the first `layers` encoder layers; pushes every
    /// intermediate state to `all` when given.
    fn run(
        &self,
        pixel_values: &Tensor,
        layers: usize,
        mut all: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor> {
        let x = self.embeddings.forward(pixel_values)?;
        let mut x = self.pre_layrnorm.forward_in_dtype(&x)?;
        for layer in &self.layers[..layers] {
            if let Some(all) = all.as_deref_mut() {
                all.push(x.clone());
            }
            x = layer.forward(&x)?;
        }
        if let Some(all) = all {
            all.push(x.clone());
        }
        Ok(x)
    }

    /// transformers' `output_hidden_states=True` tuple: `num_hidden_layers + 1` tensors
    /// `(B, num_positions, hidden)`, the input of the first layer (after `pre_layrnorm`) and
    /// the output of every layer. `pixel_values`: `(B, num_channels, image_size,
    /// image_size)`, as [`ClipImageProcessorConfig::preprocess_resized`] returns them.
    pub fn hidden_states(&self, pixel_values: &Tensor) -> Result<Vec<Tensor>> {
        let mut all = Vec::with_capacity(self.layers.len() + 1);
        self.run(pixel_values, self.layers.len(), Some(&mut all))?;
        Ok(all)
    }

    /// `hidden_states[-2]`, the output of the next-to-last layer (the last layer is not run):
    /// the image states Wan 2.1 image-to-video conditions on, `(B, 257, 1280)` for ViT-H/14.
    pub fn penultimate_hidden_states(&self, pixel_values: &Tensor) -> Result<Tensor> {
        self.run(pixel_values, self.layers.len() - 1, None)
    }

    /// `last_hidden_state`: the output of the last layer, `(B, num_positions, hidden)`
    /// (without `post_layernorm`, as in transformers).
    pub fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
        self.run(pixel_values, self.layers.len(), None)
    }

    /// `pooler_output`: `post_layernorm` of the class token of `last_hidden_state`,
    /// `(B, hidden)`.
    pub fn pooled_output(&self, last_hidden_state: &Tensor) -> Result<Tensor> {
        self.post_layernorm
            .forward_in_dtype(&last_hidden_state.narrow(1, 0, 1)?.squeeze(1)?)
    }
}

/// A size entry of `preprocessor_config.json`: `{"shortest_edge": n}`, `{"height": h,
/// "width": w}`, or a bare integer (older files, such as the Wan folders' copy of open-clip's
/// config), which transformers reads as the shortest edge for `size` and as an n x n square
/// for `crop_size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ImageSize {
    Int(usize),
    Dict {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shortest_edge: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<usize>,
    },
}

/// transformers' `CLIPImageProcessor` settings, as in a folder's
/// `image_processor/preprocessor_config.json` (unknown keys ignored; missing keys take the
/// `CLIPImageProcessor` defaults, which are also what the Wan folders use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipImageProcessorConfig {
    #[serde(default = "yes")]
    pub do_resize: bool,
    /// The resize target: `{"shortest_edge": 224}` for CLIP.
    #[serde(default = "default_size")]
    pub size: ImageSize,
    /// PIL resampling filter id; 3 is bicubic. The resize is the caller's (module docs).
    #[serde(default = "default_resample")]
    pub resample: u32,
    #[serde(default = "yes")]
    pub do_center_crop: bool,
    #[serde(default = "default_crop_size")]
    pub crop_size: ImageSize,
    #[serde(default = "yes")]
    pub do_rescale: bool,
    #[serde(default = "default_rescale_factor")]
    pub rescale_factor: f64,
    #[serde(default = "yes")]
    pub do_normalize: bool,
    #[serde(default = "default_image_mean")]
    pub image_mean: Vec<f64>,
    #[serde(default = "default_image_std")]
    pub image_std: Vec<f64>,
}

fn yes() -> bool {
    true
}
fn default_size() -> ImageSize {
    ImageSize::Dict {
        shortest_edge: Some(224),
        height: None,
        width: None,
    }
}
fn default_resample() -> u32 {
    3
}
fn default_crop_size() -> ImageSize {
    ImageSize::Dict {
        shortest_edge: None,
        height: Some(224),
        width: Some(224),
    }
}
fn default_rescale_factor() -> f64 {
    1.0 / 255.0
}
/// OpenAI CLIP's channel means (transformers' `OPENAI_CLIP_MEAN`).
fn default_image_mean() -> Vec<f64> {
    vec![0.48145466, 0.4578275, 0.40821073]
}
/// OpenAI CLIP's channel standard deviations (transformers' `OPENAI_CLIP_STD`).
fn default_image_std() -> Vec<f64> {
    vec![0.26862954, 0.26130258, 0.27577711]
}

impl Default for ClipImageProcessorConfig {
    fn default() -> Self {
        Self {
            do_resize: true,
            size: default_size(),
            resample: default_resample(),
            do_center_crop: true,
            crop_size: default_crop_size(),
            do_rescale: true,
            rescale_factor: default_rescale_factor(),
            do_normalize: true,
            image_mean: default_image_mean(),
            image_std: default_image_std(),
        }
    }
}

impl ClipImageProcessorConfig {
    /// Parses a `preprocessor_config.json`.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json)
            .map_err(|e| candle_core::Error::Msg(format!("CLIP image processor config: {e}")))
    }

    /// The `(height, width)` the image is resized to before the crop, as transformers'
    /// `get_resize_output_image_size(default_to_square=False)`: with `shortest_edge` n the
    /// short side becomes n and the long side `floor(n * long / short)`; with height and
    /// width, those; `(height, width)` unchanged when `do_resize` is false.
    pub fn resize_target(&self, height: usize, width: usize) -> Result<(usize, usize)> {
        if !self.do_resize {
            return Ok((height, width));
        }
        if height == 0 || width == 0 {
            candle_core::bail!("CLIP image processor: empty image {height}x{width}")
        }
        match self.size {
            ImageSize::Int(n)
            | ImageSize::Dict {
                shortest_edge: Some(n),
                ..
            } => {
                let (short, long) = (height.min(width), height.max(width));
                // Python's int(n * long / short): an exact product, one correctly rounded
                // division, truncation.
                let new_long = ((n * long) as f64 / short as f64) as usize;
                Ok(if width <= height {
                    (new_long, n)
                } else {
                    (n, new_long)
                })
            }
            ImageSize::Dict {
                height: Some(h),
                width: Some(w),
                ..
            } => Ok((h, w)),
            ref other => {
                candle_core::bail!("CLIP image processor: unsupported size {other:?}")
            }
        }
    }

    /// The `(height, width)` of the center crop.
    pub fn crop_target(&self) -> Result<(usize, usize)> {
        match self.crop_size {
            ImageSize::Int(n) => Ok((n, n)),
            ImageSize::Dict {
                height: Some(h),
                width: Some(w),
                ..
            } => Ok((h, w)),
            ref other => {
                candle_core::bail!("CLIP image processor: unsupported crop_size {other:?}")
            }
        }
    }

    /// `pixel_values` from already resized images: `(B, 3, H, W)` (or `(3, H, W)`) `f32`
    /// pixel values 0..=255 — RGB, resized to [`Self::resize_target`] of the original size
    /// with bicubic resampling. Center crop to [`Self::crop_target`] (offsets
    /// `floor((H - h) / 2)`, `floor((W - w) / 2)`), rescale by `rescale_factor`, normalise
    /// with `image_mean` / `image_std`, as transformers does. Returns `(B, 3, h, w)` f32. An
    /// image smaller than the crop is an error (transformers' two backends pad it differently;
    /// after a shortest-edge resize to at least the crop size it cannot happen).
    pub fn preprocess_resized(&self, pixels: &Tensor) -> Result<Tensor> {
        let pixels = match pixels.rank() {
            3 => pixels.unsqueeze(0)?,
            4 => pixels.clone(),
            r => candle_core::bail!("CLIP image processor: expected (B, 3, H, W), got rank {r}"),
        };
        let (_, c, h, w) = pixels.dims4()?;
        let mut x = pixels.to_dtype(DType::F32)?;
        if self.do_center_crop {
            let (ch, cw) = self.crop_target()?;
            if ch > h || cw > w {
                candle_core::bail!(
                    "CLIP image processor: a {h}x{w} image is smaller than the {ch}x{cw} crop"
                )
            }
            x = x.narrow(2, (h - ch) / 2, ch)?.narrow(3, (w - cw) / 2, cw)?;
        }
        let device = x.device().clone();
        let per_channel = |v: &[f64], what: &str| -> Result<Tensor> {
            if v.len() != c {
                candle_core::bail!(
                    "CLIP image processor: {what} has {} values for {c} channels",
                    v.len()
                )
            }
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::from_vec(v, (1, c, 1, 1), &device)
        };
        if self.do_rescale {
            x = (x * self.rescale_factor)?;
        }
        if self.do_normalize {
            let mean = per_channel(&self.image_mean, "image_mean")?;
            let std = per_channel(&self.image_std, "image_std")?;
            x = x.broadcast_sub(&mean)?.broadcast_div(&std)?;
        }
        x.contiguous()
    }
}

/// Interleaved 8-bit RGB (`height * width * 3` bytes, row-major, as image decoders give
/// them) -> `(1, 3, height, width)` f32 pixel values 0..=255 on `device`.
pub fn rgb8_to_tensor(rgb: &[u8], height: usize, width: usize, device: &Device) -> Result<Tensor> {
    if rgb.len() != height * width * 3 {
        candle_core::bail!(
            "rgb8_to_tensor: {} bytes for a {height}x{width} RGB image (expected {})",
            rgb.len(),
            height * width * 3
        )
    }
    let data: Vec<f32> = rgb.iter().map(|&v| v as f32).collect();
    Tensor::from_vec(data, (height, width, 3), device)?
        .permute((2, 0, 1))?
        .unsqueeze(0)?
        .contiguous()
}
