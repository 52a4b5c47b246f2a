//! Wan 2.1 / 2.2 from their diffusers folders (`Wan-AI/Wan2.1-T2V-1.3B-Diffusers`,
//! `Wan2.1-T2V-14B-Diffusers`, `Wan2.1-I2V-14B-480P-Diffusers`, `Wan2.1-I2V-14B-720P-Diffusers`,
//! `Wan2.2-TI2V-5B-Diffusers`, `Wan2.2-T2V-A14B-Diffusers`, `Wan2.2-I2V-A14B-Diffusers`),
//! unchanged, behind kino's [`Pipeline`] trait.
//!
//! The sampling loop is diffusers' `WanPipeline.__call__` (pipelines/wan/pipeline_wan.py,
//! diffusers 0.42.1), step for step: latents in f32, the network run in the weights' dtype
//! with the conditional and the negative-prompt pass, `uncond + g (cond - uncond)`, the
//! scheduler the folder names (UniPC or flow-match Euler, with its shift); for the two-expert
//! Wan 2.2 A14B the high-noise `transformer` runs while `t >= boundary_ratio * 1000` and the
//! low-noise `transformer_2` after, with `guidance_scale_2`; for the TI2V 5B
//! (`expand_timesteps`) the timestep is given per latent token. Latents are de-normalised
//! with the VAE's `latents_mean` / `latents_std` and decoded. Parity with diffusers is
//! tested on tiny random folders (tools/parity/wan_pipeline.py).
//!
//! Image-to-video is diffusers' `WanImageToVideoPipeline`, in its two forms
//! ([`ImageCondition`], [`WanModel::image_condition`], [`WanModel::denoise_i2v`]):
//!
//! - with `expand_timesteps` (Wan 2.2 TI2V-5B, no image encoder): the image is VAE-encoded
//!   and normalised, the network sees that latent in place of the first latent frame, with
//!   timestep 0 on the first frame's tokens, and the returned latents carry it as their first
//!   frame. The TI2V-5B's `WanPipeline` folder runs it too, as diffusers runs that folder with
//!   `WanImageToVideoPipeline`.
//! - without it (Wan 2.1 I2V-14B 480P / 720P, Wan 2.2 I2V-A14B): the video [image, zero
//!   (grey) frames...] (or [image, zeros..., last image]) is VAE-encoded and normalised, a mask of
//!   the given frames is put in front of it, and both are concatenated to the noise along
//!   channels at every step (`in_channels` = 2 z + 4 = 36). Wan 2.1 also runs the image
//!   through the folder's CLIP `image_encoder` (penultimate hidden states, after
//!   `image_processor`'s bicubic resize, crop and normalisation) into the transformer's image
//!   branch. The last frame (FLF2V) works where diffusers runs it: without an image encoder,
//!   or with a transformer that embeds two images (`pos_embed_seq_len`).
//!
//! Wan makes no sound: the [`Pipeline`] implementation returns silent audio.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use kino_models::clip_vision::{ClipImageProcessorConfig, ClipVisionConfig, ClipVisionModel};
use kino_models::diffusers_folder::{DiffusersComponent, DiffusersFolder};
use kino_models::umt5::{wan_prompt_embeds, Umt5Config, Umt5Encoder, WAN_TEXT_LEN};
use kino_models::wan_transformer::{WanTransformer, WanTransformerConfig};
use kino_models::wan_vae::{AutoencoderKLWan as WanVae, WanVaeConfig, WanVaeTiling};
use kino_prompt::ShotPlan;

use crate::noise;
use crate::pipeline::{
    ensure_finite, EngineError, GenerateOptions, Generated, Progress, Result, StageTimes,
};
use crate::sampler::{FlowSchedule, Solver, SolverState};
use crate::Pipeline;

/// diffusers' default negative prompt for Wan is empty; kino uses the plan's negatives.
const DEFAULT_FPS: u32 = 16;

/// The networks' compute dtype on `device`: f32 on the CPU (candle's CPU matmuls are f32),
/// the checkpoints' own bf16 on a GPU.
pub fn compute_dtype(device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    }
}

/// Frames with more pixels than 832 x 480 are VAE-decoded tile by tile by default.
pub const AUTO_TILE_PIXELS: usize = 832 * 480;

/// What the folder's scheduler config asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulerSpec {
    pub solver: Solver,
    /// `flow_shift` (UniPC) or `shift` (Euler).
    pub shift: f64,
}

impl SchedulerSpec {
    /// Reads `scheduler/scheduler_config.json`.
    pub fn from_component(c: &DiffusersComponent) -> Result<Self> {
        let cfg = &c.config;
        let class = cfg["_class_name"].as_str().unwrap_or(&c.class);
        let invalid = |m: String| EngineError::Invalid(format!("{}: {m}", c.dir.display()));
        let num = |k: &str, default: f64| cfg[k].as_f64().unwrap_or(default);
        let spec = match class {
            "UniPCMultistepScheduler" => {
                if cfg["use_flow_sigmas"].as_bool() != Some(true)
                    || cfg["prediction_type"].as_str() != Some("flow_prediction")
                {
                    return Err(invalid(
                        "UniPC without use_flow_sigmas/flow_prediction is not a flow-matching scheduler".into(),
                    ));
                }
                if cfg["solver_order"].as_u64().unwrap_or(2) != 2
                    || cfg["solver_type"].as_str().unwrap_or("bh2") != "bh2"
                {
                    return Err(invalid("only UniPC order 2, bh2 is implemented".into()));
                }
                SchedulerSpec {
                    solver: Solver::UniPc,
                    shift: num("flow_shift", 1.0),
                }
            }
            "FlowMatchEulerDiscreteScheduler" => {
                if cfg["use_dynamic_shifting"].as_bool() == Some(true) {
                    return Err(invalid("dynamic shifting is not implemented".into()));
                }
                SchedulerSpec {
                    solver: Solver::Euler,
                    shift: num("shift", 1.0),
                }
            }
            other => return Err(invalid(format!("scheduler {other} is not implemented"))),
        };
        if cfg["num_train_timesteps"].as_u64().unwrap_or(1000) != 1000 {
            return Err(invalid("num_train_timesteps other than 1000".into()));
        }
        Ok(spec)
    }
}

/// How to run the denoising loop (diffusers' call arguments).
#[derive(Debug, Clone)]
pub struct WanSampling {
    pub steps: usize,
    pub guidance: f64,
    /// The low-noise expert's guidance (A14B); defaults to `guidance`.
    pub guidance_2: Option<f64>,
    /// Overrides the folder's scheduler.
    pub solver: Option<Solver>,
    /// Overrides the folder's shift.
    pub shift: Option<f64>,
}

/// How a model takes an image (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageMode {
    /// Text-to-video only.
    None,
    /// `expand_timesteps`: the image's latent replaces the first latent frame (TI2V-5B).
    FirstFrame,
    /// Mask and video latents concatenated to the noise along channels (Wan 2.1 I2V, Wan 2.2
    /// I2V-A14B).
    Concat,
}

/// The image condition of an image-to-video run, in the form the model takes
/// ([`WanModel::image_condition`] makes it, [`WanModel::denoise_i2v`] uses it).
#[derive(Debug, Clone)]
pub enum ImageCondition {
    /// `expand_timesteps` models (Wan 2.2 TI2V-5B): the image's normalised latent, `(1 or B,
    /// z, 1, H', W')`, from [`WanModel::encode_first_frame`].
    FirstFrame(Tensor),
    /// Channel-concatenation models (Wan 2.1 I2V, Wan 2.2 I2V-A14B).
    Concat {
        /// `(1 or B, t + z, F', H', W')`: the frame mask (`t` = the VAE's temporal factor)
        /// and the normalised latents of the conditioning video, from
        /// [`WanModel::encode_video_condition`].
        video: Tensor,
        /// The CLIP image states `(1 or B, S, image_dim)` (two rows per sample with a last
        /// frame), from [`WanModel::encode_image_states`]; `Some` exactly when the
        /// transformer has an image branch.
        image_states: Option<Tensor>,
    },
}

/// A loaded Wan model.
pub struct WanModel {
    name: String,
    transformer: WanTransformer,
    transformer_2: Option<WanTransformer>,
    boundary_ratio: Option<f64>,
    expand_timesteps: bool,
    /// How the model takes an image.
    image_mode: ImageMode,
    /// The CLIP image encoder and its preprocessing (Wan 2.1 image-to-video).
    clip: Option<(ClipVisionModel, ClipImageProcessorConfig)>,
    vae: WanVae,
    /// Decode frames larger than [`AUTO_TILE_PIXELS`] tile by tile unless tiling was set
    /// explicitly ([`WanModel::with_vae_tiling`]).
    auto_tiling: bool,
    text: Option<(Umt5Encoder, tokenizers::Tokenizer)>,
    scheduler: SchedulerSpec,
    device: Device,
}

fn model_err(e: kino_models::folder::ModelError) -> EngineError {
    EngineError::Model(e)
}

fn load_transformer(c: &DiffusersComponent, dtype: DType, dev: &Device) -> Result<WanTransformer> {
    let cfg = WanTransformerConfig::from_diffusers_json(&c.config_json())
        .map_err(|e| EngineError::Invalid(format!("{}: {e}", c.dir.display())))?;
    let vb = c.var_builder(dtype, dev).map_err(model_err)?;
    WanTransformer::new(&cfg, vb)
        .map_err(|e| EngineError::Invalid(format!("{}: {e}", c.dir.display())))
}

/// The image encoder classes whose weights are a CLIP vision tower kino runs.
const CLIP_ENCODERS: [&str; 2] = ["CLIPVisionModel", "CLIPVisionModelWithProjection"];
/// The image processor classes that are transformers' `CLIPImageProcessor` (diffusers saves
/// the PIL one under its own name when torchvision is missing).
const CLIP_PROCESSORS: [&str; 3] = [
    "CLIPImageProcessor",
    "CLIPImageProcessorFast",
    "CLIPImageProcessorPil",
];

/// Checks that the folder's pipeline is one this module runs: `WanPipeline`, or a
/// `WanImageToVideoPipeline`: with `expand_timesteps` and no image encoder (Wan 2.2
/// TI2V-5B), or without it, with a CLIP image encoder and its image processor (Wan 2.1 I2V)
/// or with neither (Wan 2.2 I2V-A14B). The networks are checked when they are built.
fn check_pipeline(folder: &DiffusersFolder) -> Result<()> {
    let dir = folder.root().display();
    let class = folder.pipeline_class();
    match class {
        "WanPipeline" => Ok(()),
        "WanImageToVideoPipeline" => {
            let expand = folder
                .setting("expand_timesteps")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let classes = folder.components();
            let class_of = |name: &str| {
                classes
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, c)| c.as_str())
            };
            match (class_of("image_encoder"), class_of("image_processor")) {
                (None, None) => Ok(()),
                (Some(_), _) if expand => Err(EngineError::Invalid(format!(
                    "{dir}: a WanImageToVideoPipeline with expand_timesteps and an image encoder                      is not a known Wan layout (Wan 2.2 TI2V-5B has no image encoder)"
                ))),
                (Some(enc), Some(proc))
                    if CLIP_ENCODERS.contains(&enc) && CLIP_PROCESSORS.contains(&proc) =>
                {
                    Ok(())
                }
                (Some(enc), Some(proc)) => Err(EngineError::Invalid(format!(
                    "{dir}: image_encoder '{enc}' with image_processor '{proc}' is not one kino                      runs (expected {} with {})",
                    CLIP_ENCODERS.join(" or "),
                    CLIP_PROCESSORS.join(" or ")
                ))),
                (Some(enc), None) => Err(EngineError::Invalid(format!(
                    "{dir}: image_encoder '{enc}' without an image_processor"
                ))),
                (None, Some(proc)) => Err(EngineError::Invalid(format!(
                    "{dir}: image_processor '{proc}' without an image_encoder"
                ))),
            }
        }
        "WanVideoToVideoPipeline" | "WanVACEPipeline" => Err(EngineError::Invalid(format!(
            "{dir}: {class} folders are not supported yet (WanPipeline and \
             WanImageToVideoPipeline folders are)"
        ))),
        other => Err(EngineError::Invalid(format!(
            "{dir}: pipeline class '{other}' is not a Wan pipeline"
        ))),
    }
}

/// The processor settings of an `image_processor` component
/// (`preprocessor_config.json`), checked to be what [`clip_pixel_values`] computes.
fn clip_processor_config(c: &DiffusersComponent) -> Result<ClipImageProcessorConfig> {
    let path = c.dir.join("preprocessor_config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| EngineError::Invalid(format!("{}: {e}", path.display())))?;
    let cfg = ClipImageProcessorConfig::from_json(&text)
        .map_err(|e| EngineError::Invalid(format!("{}: {e}", path.display())))?;
    if cfg.do_resize && !matches!(cfg.resample, 1 | 3) {
        return Err(EngineError::Invalid(format!(
            "{}: resample {} is not implemented (bicubic, 3, and Lanczos, 1, are)",
            path.display(),
            cfg.resample
        )));
    }
    if cfg.image_mean.len() != 3 || cfg.image_std.len() != 3 {
        return Err(EngineError::Invalid(format!(
            "{}: image_mean and image_std need 3 values (RGB)",
            path.display()
        )));
    }
    cfg.resize_target(1, 1)
        .and_then(|_| cfg.crop_target())
        .map_err(|e| EngineError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(cfg)
}

/// Builds the CLIP vision tower of an `image_encoder` component.
fn clip_model(c: &DiffusersComponent, vb: candle_nn::VarBuilder) -> Result<ClipVisionModel> {
    let ctx = |e: candle_core::Error| EngineError::Invalid(format!("{}: {e}", c.dir.display()));
    let cfg = ClipVisionConfig::from_json(&c.config_json()).map_err(ctx)?;
    ClipVisionModel::new(&cfg, vb).map_err(ctx)
}

/// `pixel_values` of `images` as transformers' `CLIPImageProcessor` (its PIL backend) makes
/// them: each image resized so its shorter side is `size.shortest_edge` with Pillow's bicubic
/// filter ([`resize_bicubic`]; Lanczos when `resample` is 1), center-cropped, rescaled and
/// normalised; `(N, 3, crop_h, crop_w)` f32. (transformers' torchvision backend, used when
/// torchvision is installed, resizes with an antialiased bicubic that can differ by a grey
/// level.)
pub fn clip_pixel_values(
    cfg: &ClipImageProcessorConfig,
    images: &[&RgbImage],
    device: &Device,
) -> Result<Tensor> {
    let mut rows = Vec::with_capacity(images.len());
    for image in images {
        let (h0, w0) = (image.height() as usize, image.width() as usize);
        let (h, w) = cfg.resize_target(h0, w0)?;
        let resized;
        let image = if (h, w) == (h0, w0) {
            *image
        } else if cfg.resample == 1 {
            resized = resize_lanczos(image, w as u32, h as u32);
            &resized
        } else {
            resized = resize_bicubic(image, w as u32, h as u32);
            &resized
        };
        let values: Vec<f32> = image.as_raw().iter().map(|&p| p as f32).collect();
        let pixels = Tensor::from_vec(values, (1, h, w, 3), device)?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        rows.push(cfg.preprocess_resized(&pixels)?);
    }
    if rows.is_empty() {
        return Err(EngineError::Invalid("no image to encode".into()));
    }
    Ok(Tensor::cat(&rows, 0)?)
}

/// An RGB image as the VAE input of an image-to-video run: `(1, 3, height, width)` f32 in
/// [-1, 1], `p / 255 * 2 - 1` per 8-bit value, as diffusers' `VideoProcessor.preprocess`
/// converts a PIL image.
///
/// An image of another size is first resized to `width` x `height` (the aspect ratio is not
/// kept, as in diffusers' default resize mode) by [`resize_lanczos`], which computes what
/// PIL's LANCZOS resize (diffusers' resampling filter) computes. An image already of the
/// target size is not resampled, as in PIL.
pub fn image_tensor(
    image: &RgbImage,
    width: usize,
    height: usize,
    device: &Device,
) -> Result<Tensor> {
    if width == 0 || height == 0 || image.width() == 0 || image.height() == 0 {
        return Err(EngineError::Invalid(format!(
            "image {}x{} -> {width}x{height}: empty image",
            image.width(),
            image.height()
        )));
    }
    let resized;
    let image = if (image.width() as usize, image.height() as usize) == (width, height) {
        image
    } else {
        resized = resize_lanczos(image, width as u32, height as u32);
        &resized
    };
    let values: Vec<f32> = image
        .as_raw()
        .iter()
        .map(|&p| (p as f32 / 255.0) * 2.0 - 1.0)
        .collect();
    Ok(Tensor::from_vec(values, (1, height, width, 3), device)?
        .permute((0, 3, 1, 2))?
        .contiguous()?)
}

/// Resizes with a Lanczos (a = 3) filter the way Pillow's `Image.resize(size, LANCZOS)` does
/// for 8-bit RGB (Pillow 13.0, `libImaging/Resample.c`): one pass per side whose size
/// changes; the filter is widened by the scale when shrinking; weights are normalised,
/// rounded to 22 fractional bits, and each pass rounds to 8 bits. The horizontal pass runs
/// first unless the height shrinks by more than twice as many pixels as the width does
/// (Pillow 13's order; earlier Pillow always ran it first, which can change a few pixels by
/// one level). The result equals Pillow 13's pixel for pixel.
pub fn resize_lanczos(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    resample(image, width, height, Filter::Lanczos)
}

/// Resizes with Pillow's bicubic filter (`Image.resize(size, BICUBIC)`, a = -0.5, support 2),
/// otherwise exactly as [`resize_lanczos`]: equal to Pillow 13's result pixel for pixel. This
/// is the resize of transformers' `CLIPImageProcessor` (PIL backend).
pub fn resize_bicubic(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    resample(image, width, height, Filter::Bicubic)
}

/// Pillow's resampling filters that kino needs.
#[derive(Debug, Clone, Copy)]
enum Filter {
    Lanczos,
    Bicubic,
}

impl Filter {
    /// Half-width of the filter at scale 1.
    fn support(self) -> f64 {
        match self {
            Filter::Lanczos => 3.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        fn sinc(x: f64) -> f64 {
            if x == 0.0 {
                return 1.0;
            }
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
        match self {
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Pillow's two-pass resize of 8-bit RGB with `filter` (see [`resize_lanczos`]).
fn resample(image: &RgbImage, width: u32, height: u32, filter: Filter) -> RgbImage {
    let (w0, h0) = (image.width() as usize, image.height() as usize);
    let (w1, h1) = (width as usize, height as usize);
    let pixels = image.as_raw();
    let shrink_h = h0 as i64 - h1 as i64;
    let shrink_w = w0 as i64 - w1 as i64;
    let pixels = if shrink_h > 0 && shrink_h > 2 * shrink_w {
        let tall = resample_pass(pixels, (w0, h0), h1, false, filter);
        resample_pass(&tall, (w0, h1), w1, true, filter)
    } else {
        let wide = resample_pass(pixels, (w0, h0), w1, true, filter);
        resample_pass(&wide, (w1, h0), h1, false, filter)
    };
    RgbImage::from_raw(width, height, pixels).expect("the buffer has width * height * 3 bytes")
}

/// One resampling pass over interleaved RGB `(w, h)`: the width (`horizontal`) or the height
/// becomes `size`; nothing changes when it already is.
fn resample_pass(
    pixels: &[u8],
    (w, h): (usize, usize),
    size: usize,
    horizontal: bool,
    filter: Filter,
) -> Vec<u8> {
    let (along, across) = if horizontal { (w, h) } else { (h, w) };
    if size == along {
        return pixels.to_vec();
    }
    let (out_w, out_h) = if horizontal { (size, h) } else { (w, size) };
    let at = |i: usize, j: usize| if horizontal { j * w + i } else { i * w + j };
    let out_at = |i: usize, j: usize| {
        if horizontal {
            j * out_w + i
        } else {
            i * out_w + j
        }
    };
    let mut out = vec![0u8; out_w * out_h * 3];
    for (i, (first, k)) in resample_coeffs(along, size, filter).iter().enumerate() {
        for j in 0..across {
            for c in 0..3 {
                let taps = k
                    .iter()
                    .enumerate()
                    .map(|(n, k)| (pixels[at(first + n, j) * 3 + c], *k));
                out[out_at(i, j) * 3 + c] = fixed_point_sum(taps);
            }
        }
    }
    out
}

/// Fractional bits of the resampling weights (Pillow's `PRECISION_BITS`).
const RESAMPLE_BITS: u32 = 22;

/// One output value: the weighted sum in fixed point, rounded half up, clamped to 0..=255.
fn fixed_point_sum(taps: impl Iterator<Item = (u8, i64)>) -> u8 {
    let sum = taps.fold(1i64 << (RESAMPLE_BITS - 1), |acc, (p, k)| {
        acc + p as i64 * k
    });
    (sum >> RESAMPLE_BITS).clamp(0, 255) as u8
}

/// For each output index of a `in_size -> out_size` pass: the first input index and the
/// fixed-point weights of the inputs from there (Pillow's `precompute_coeffs` and
/// `normalize_coeffs_8bpc`).
fn resample_coeffs(in_size: usize, out_size: usize, filter: Filter) -> Vec<(usize, Vec<i64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    let inv_scale = 1.0 / filter_scale;
    (0..out_size)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            // Truncation toward zero, then clamping, as the C casts.
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let weights: Vec<f64> = (first..end)
                .map(|x| filter.weight((x as f64 - center + 0.5) * inv_scale))
                .collect();
            let total = weights.iter().fold(0.0, |a, w| a + w);
            let one = (1i64 << RESAMPLE_BITS) as f64;
            let fixed = weights
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    if w < 0.0 {
                        (w * one - 0.5) as i64
                    } else {
                        (w * one + 0.5) as i64
                    }
                })
                .collect();
            (first, fixed)
        })
        .collect()
}

/// `latents` with its first frame replaced by `first` (`(1 or B, z, 1, h, w)`): diffusers'
/// `(1 - mask) * condition + mask * latents` for a mask that is 0 on the first latent frame.
fn with_first_frame(latents: &Tensor, first: &Tensor) -> Result<Tensor> {
    let (b, z, f, h, w) = latents.dims5()?;
    let first = first.broadcast_as((b, z, 1, h, w))?.contiguous()?;
    if f == 1 {
        return Ok(first);
    }
    Ok(Tensor::cat(&[&first, &latents.narrow(2, 1, f - 1)?], 2)?)
}

/// How the folder's networks take an image, checked against each other.
fn image_mode(
    folder: &DiffusersFolder,
    experts: &[&WanTransformer],
    vae: &WanVaeConfig,
) -> Result<ImageMode> {
    let configs: Vec<&WanTransformerConfig> = experts.iter().map(|t| t.config()).collect();
    image_mode_of(folder, &configs, vae)
}

/// [`image_mode`] from the transformers' configs.
fn image_mode_of(
    folder: &DiffusersFolder,
    configs: &[&WanTransformerConfig],
    vae: &WanVaeConfig,
) -> Result<ImageMode> {
    let dir = folder.root().display();
    let expand = folder
        .setting("expand_timesteps")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let i2v = folder.pipeline_class() == "WanImageToVideoPipeline";
    let z = vae.z_dim;
    let concat_channels = 2 * z + vae.scale_factor_temporal;
    let describe = || {
        configs
            .iter()
            .map(|c| {
                format!(
                    "in_channels {}, patch {:?}, image_dim {:?}",
                    c.in_channels, c.patch_size, c.image_dim
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    if expand {
        // First-frame conditioning needs per-token timesteps and a network whose input is the
        // VAE latent itself (no extra image channels), one latent frame per token frame.
        let fits = configs
            .iter()
            .all(|c| c.in_channels == z && c.patch_size[0] == 1 && c.image_dim.is_none());
        return match (fits, i2v) {
            (true, _) => Ok(ImageMode::FirstFrame),
            (false, false) => Ok(ImageMode::None),
            (false, true) => Err(EngineError::Invalid(format!(
                "{dir}: this expand_timesteps WanImageToVideoPipeline's transformer does not \
                 take the VAE latent alone ({}; VAE z_dim {z})",
                describe()
            ))),
        };
    }
    if !i2v {
        return Ok(ImageMode::None);
    }
    if configs.iter().any(|c| c.in_channels != concat_channels) {
        return Err(EngineError::Invalid(format!(
            "{dir}: a WanImageToVideoPipeline without expand_timesteps concatenates the noise, \
             a {}-channel frame mask and the image's latents, so its transformer must take \
             {concat_channels} channels ({}; VAE z_dim {z})",
            vae.scale_factor_temporal,
            describe()
        )));
    }
    let branch = configs[0].image_dim.is_some();
    if configs.iter().any(|c| c.image_dim.is_some() != branch) {
        return Err(EngineError::Invalid(format!(
            "{dir}: the two experts disagree on the image branch ({})",
            describe()
        )));
    }
    if branch && !folder.has_component("image_encoder") {
        return Err(EngineError::Invalid(format!(
            "{dir}: the transformer has an image branch (image_dim {:?}) but the folder has no \
             image_encoder",
            configs[0].image_dim
        )));
    }
    Ok(ImageMode::Concat)
}

impl WanModel {
    /// True when `dir` is a diffusers folder whose pipeline is one this module runs.
    pub fn is_wan_folder(dir: &Path) -> bool {
        DiffusersFolder::open(dir)
            .map(|f| check_pipeline(&f).is_ok())
            .unwrap_or(false)
    }

    /// Loads every component. `dtype` is the networks' compute dtype (f32 on CPU; bf16 is
    /// what the checkpoints store and what CUDA runs).
    ///
    /// Accepts `WanPipeline` and `WanImageToVideoPipeline` folders (Wan 2.2 TI2V-5B, Wan 2.1
    /// I2V with its CLIP image encoder, Wan 2.2 I2V-A14B); other Wan pipelines, and
    /// image-to-video folders whose networks do not fit together, are refused with the
    /// reason. The VAE and the image encoder run in f32.
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let folder = DiffusersFolder::open(dir).map_err(model_err)?;
        check_pipeline(&folder)?;
        let transformer = load_transformer(
            &folder.component("transformer").map_err(model_err)?,
            dtype,
            device,
        )?;
        let transformer_2 = if folder.has_component("transformer_2") {
            let c = folder.component("transformer_2").map_err(model_err)?;
            Some(load_transformer(&c, dtype, device)?)
        } else {
            None
        };
        let boundary_ratio = folder.setting("boundary_ratio").and_then(|v| v.as_f64());
        if transformer_2.is_some() && boundary_ratio.is_none() {
            return Err(EngineError::Invalid(format!(
                "{}: transformer_2 without a boundary_ratio in model_index.json",
                dir.display()
            )));
        }
        let expand_timesteps = folder
            .setting("expand_timesteps")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let vae_c = folder.component("vae").map_err(model_err)?;
        let vae_cfg = WanVaeConfig::from_diffusers_json(&vae_c.config_json())
            .map_err(|e| EngineError::Invalid(format!("{}: {e}", vae_c.dir.display())))?;
        // The VAE runs in f32 (as diffusers' Wan examples load it).
        let vae = WanVae::new(
            &vae_cfg,
            vae_c.var_builder(DType::F32, device).map_err(model_err)?,
        )
        .map_err(|e| EngineError::Invalid(format!("{}: {e}", vae_c.dir.display())))?;
        let text = if folder.has_component("text_encoder") {
            let c = folder.component("text_encoder").map_err(model_err)?;
            let cfg = Umt5Config::from_json(&c.config_json())
                .map_err(|e| EngineError::Invalid(format!("{}: {e}", c.dir.display())))?;
            let enc = Umt5Encoder::new(&cfg, c.var_builder(dtype, device).map_err(model_err)?)
                .map_err(|e| EngineError::Invalid(format!("{}: {e}", c.dir.display())))?;
            let tok_path = dir.join("tokenizer").join("tokenizer.json");
            let tok = tokenizers::Tokenizer::from_file(&tok_path).map_err(|e| {
                EngineError::Invalid(format!(
                    "{}: cannot load the tokenizer: {e}",
                    tok_path.display()
                ))
            })?;
            Some((enc, tok))
        } else {
            None
        };
        let scheduler =
            SchedulerSpec::from_component(&folder.component("scheduler").map_err(model_err)?)?;
        let experts: Vec<&WanTransformer> = std::iter::once(&transformer)
            .chain(transformer_2.as_ref())
            .collect();
        let image_mode = image_mode(&folder, &experts, &vae_cfg)?;
        // The CLIP encoder runs only for a transformer with an image branch, as in diffusers.
        let clip = if image_mode == ImageMode::Concat && transformer.config().has_image_branch() {
            let c = folder.component("image_encoder").map_err(model_err)?;
            // In f32, as diffusers' Wan image-to-video examples load it.
            let model = clip_model(&c, c.var_builder(DType::F32, device).map_err(model_err)?)?;
            let p = folder.component("image_processor").map_err(model_err)?;
            let image_dim = transformer.config().image_dim;
            if Some(model.config().hidden_size) != image_dim {
                return Err(EngineError::Invalid(format!(
                    "{}: the image encoder's hidden_size {} is not the transformer's image_dim \
                     {image_dim:?}",
                    c.dir.display(),
                    model.config().hidden_size
                )));
            }
            Some((model, clip_processor_config(&p)?))
        } else {
            None
        };
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("wan")
            .to_string();
        Ok(Self {
            name,
            transformer,
            transformer_2,
            boundary_ratio,
            expand_timesteps,
            image_mode,
            clip,
            vae,
            auto_tiling: true,
            text,
            scheduler,
            device: device.clone(),
        })
    }

    pub fn scheduler(&self) -> SchedulerSpec {
        self.scheduler
    }

    pub fn vae(&self) -> &WanVae {
        &self.vae
    }

    pub fn transformer(&self) -> &WanTransformer {
        &self.transformer
    }

    /// `(B, 512, text_dim)` prompt embeddings, as diffusers' `_get_t5_prompt_embeds`.
    pub fn encode_prompts(&self, prompts: &[&str]) -> Result<Tensor> {
        let (enc, tok) = self.text.as_ref().ok_or_else(|| {
            EngineError::Invalid(format!(
                "{}: this folder has no text_encoder; pass prompt embeddings",
                self.name
            ))
        })?;
        Ok(wan_prompt_embeds(
            enc,
            tok,
            prompts,
            WAN_TEXT_LEN,
            &self.device,
        )?)
    }

    /// Latent shape `(1, z, F', H', W')` for a video of `frames` x `height` x `width`.
    pub fn latent_shape(
        &self,
        frames: usize,
        height: usize,
        width: usize,
    ) -> (usize, usize, usize, usize, usize) {
        let c = self.vae.config();
        let (tf, sf) = (c.scale_factor_temporal, c.scale_factor_spatial);
        (
            1,
            c.z_dim,
            (frames.max(1) - 1) / tf + 1,
            height / sf,
            width / sf,
        )
    }

    /// The denoising loop: `latents` (1, z, F', H', W') pure noise -> denoised latents (f32).
    pub fn denoise(
        &self,
        latents: &Tensor,
        prompt_embeds: &Tensor,
        negative_embeds: Option<&Tensor>,
        args: &WanSampling,
        progress: &mut dyn Progress,
    ) -> Result<Tensor> {
        self.require_text_to_video()?;
        self.denoise_inner(
            latents,
            None,
            0,
            prompt_embeds,
            negative_embeds,
            args,
            progress,
        )
    }

    /// True when the model animates an image ([`WanModel::image_condition`],
    /// [`WanModel::denoise_i2v`]): `expand_timesteps` folders whose transformer takes the VAE
    /// latent alone (Wan 2.2 TI2V-5B) and channel-concatenation image-to-video folders (Wan
    /// 2.1 I2V, Wan 2.2 I2V-A14B).
    pub fn supports_first_frame(&self) -> bool {
        self.image_mode != ImageMode::None
    }

    /// True when the model also takes a last frame (first-and-last-frame video): a
    /// channel-concatenation model without an image encoder (Wan 2.2 I2V-A14B), or one whose
    /// transformer embeds two CLIP images (`pos_embed_seq_len`, Wan 2.1 FLF2V). diffusers
    /// runs `last_image` for exactly these.
    pub fn supports_last_frame(&self) -> bool {
        let c = self.transformer.config();
        self.image_mode == ImageMode::Concat
            && (!c.has_image_branch() || c.pos_embed_seq_len.is_some())
    }

    /// True when the model cannot make a video without an image (the channel-concatenation
    /// image-to-video models).
    pub fn needs_first_frame(&self) -> bool {
        self.image_mode == ImageMode::Concat
    }

    fn require_text_to_video(&self) -> Result<()> {
        if self.image_mode != ImageMode::Concat {
            return Ok(());
        }
        Err(EngineError::Invalid(format!(
            "{}: this image-to-video model needs an image (its transformer takes the image's \
             video latents with the noise); use a first frame",
            self.name
        )))
    }

    fn require_first_frame(&self) -> Result<()> {
        if self.image_mode != ImageMode::None {
            return Ok(());
        }
        Err(EngineError::Invalid(format!(
            "{}: this Wan model has no image-to-video path (image-to-video needs a \
             WanImageToVideoPipeline folder or an expand_timesteps model such as Wan 2.2 \
             TI2V-5B)",
            self.name
        )))
    }

    fn require_last_frame(&self) -> Result<()> {
        if self.supports_last_frame() {
            return Ok(());
        }
        Err(EngineError::Invalid(format!(
            "{}: this model takes no last frame (first-and-last-frame video needs Wan 2.2 \
             I2V-A14B or a Wan 2.1 FLF2V transformer)",
            self.name
        )))
    }

    fn require_mode(&self, mode: ImageMode, what: &str) -> Result<()> {
        if self.image_mode == mode {
            return Ok(());
        }
        self.require_first_frame()?;
        Err(EngineError::Invalid(format!(
            "{}: {what} is not how this model takes an image ({})",
            self.name,
            match self.image_mode {
                ImageMode::FirstFrame => "its first latent frame is the image's latent",
                _ => "the image's video latents are concatenated to the noise",
            }
        )))
    }

    fn check_pixels(&self, image: &Tensor, what: &str) -> Result<()> {
        let (_, c, h, w) = image.dims4()?;
        let s = self.vae.config().scale_factor_spatial;
        if c != 3 || !h.is_multiple_of(s) || !w.is_multiple_of(s) || h == 0 || w == 0 {
            return Err(EngineError::Invalid(format!(
                "{what} {c}x{h}x{w}: expected 3 channels and a size that is a multiple of {s}"
            )));
        }
        Ok(())
    }

    /// The first-frame condition of an `expand_timesteps` image-to-video run: `image` `(B,
    /// 3, H, W)` in [-1, 1] (see [`image_tensor`]; H and W multiples of the VAE's spatial
    /// factor) -> the VAE posterior's mode, normalised with `latents_mean` / `latents_std`,
    /// `(B, z, 1, H/s, W/s)` f32, as diffusers' `WanImageToVideoPipeline.prepare_latents`.
    pub fn encode_first_frame(&self, image: &Tensor) -> Result<Tensor> {
        self.require_mode(ImageMode::FirstFrame, "a first-frame latent")?;
        self.check_pixels(image, "first frame")?;
        let video = image.to_dtype(DType::F32)?.unsqueeze(2)?;
        let posterior = self.vae.encode(&video)?;
        Ok(self.vae.normalize_latents(posterior.mode())?)
    }

    /// The video condition of a channel-concatenation image-to-video run (diffusers'
    /// `prepare_latents` without `expand_timesteps`): `first` (and `last`) `(B, 3, H, W)` in
    /// [-1, 1] (see [`image_tensor`]) become the video [first, zeros..., (last)] of `frames`
    /// frames (4k + 1), which is VAE-encoded (posterior mode) and normalised; in front of it
    /// go `t` mask channels (`t` = the VAE's temporal factor) that are 1 where a frame was
    /// given: latent frame 0 covers the first frame `t` times over, latent frame k > 0 covers
    /// frames `(k - 1) t + 1 ..= k t`, one per channel. Returns `(B, t + z, F', H/s, W/s)`
    /// f32.
    pub fn encode_video_condition(
        &self,
        first: &Tensor,
        last: Option<&Tensor>,
        frames: usize,
    ) -> Result<Tensor> {
        self.require_mode(ImageMode::Concat, "a video condition")?;
        self.check_pixels(first, "first frame")?;
        let tf = self.vae.config().scale_factor_temporal;
        let min_frames = if last.is_some() { 2 } else { 1 };
        if frames < min_frames || !(frames - 1).is_multiple_of(tf) {
            return Err(EngineError::Invalid(format!(
                "{frames} frames: an image-to-video run needs {tf} k + 1 frames (at least \
                 {min_frames})"
            )));
        }
        let (b, _, h, w) = first.dims4()?;
        let first = first.to_dtype(DType::F32)?.unsqueeze(2)?;
        let mut parts = vec![first.clone()];
        let zeros = frames - min_frames;
        if zeros > 0 {
            parts.push(Tensor::zeros(
                (b, 3, zeros, h, w),
                DType::F32,
                first.device(),
            )?);
        }
        if let Some(last) = last {
            self.check_pixels(last, "last frame")?;
            if last.dims4()? != (b, 3, h, w) {
                return Err(EngineError::Invalid(format!(
                    "last frame {:?} does not match the first frame {:?}",
                    last.dims(),
                    first.dims()
                )));
            }
            parts.push(last.to_dtype(DType::F32)?.unsqueeze(2)?);
        }
        let video = Tensor::cat(&parts, 2)?;
        let posterior = self.vae.encode(&video)?;
        let latents = self.vae.normalize_latents(posterior.mode())?;
        let (_, _, lf, lh, lw) = latents.dims5()?;
        let given = |frame: usize| frame == 0 || (last.is_some() && frame == frames - 1);
        let mut mask = Vec::with_capacity(tf * lf);
        for c in 0..tf {
            for k in 0..lf {
                let frame = if k == 0 { 0 } else { (k - 1) * tf + c + 1 };
                mask.push(if given(frame) { 1f32 } else { 0.0 });
            }
        }
        let mask = Tensor::from_vec(mask, (1, tf, lf, 1, 1), latents.device())?
            .broadcast_as((b, tf, lf, lh, lw))?;
        Ok(Tensor::cat(&[&mask, &latents], 1)?)
    }

    /// The CLIP `pixel_values` of `images` as the folder's `image_processor` makes them (see
    /// [`clip_pixel_values`]), `(N, 3, S, S)`; for models with an image encoder.
    pub fn clip_pixel_values(&self, images: &[&RgbImage]) -> Result<Tensor> {
        let (_, cfg) = self.clip_encoder()?;
        clip_pixel_values(cfg, images, &self.device)
    }

    /// The image states of `images` (diffusers' `encode_image`): the folder's CLIP image
    /// encoder's penultimate hidden states of [`WanModel::clip_pixel_values`], `(N, S,
    /// image_dim)` f32 — one row per image; with a last frame, the first and last image in
    /// consecutive rows.
    pub fn encode_image_states(&self, images: &[&RgbImage]) -> Result<Tensor> {
        let (model, _) = self.clip_encoder()?;
        let pixels = self.clip_pixel_values(images)?;
        Ok(model
            .penultimate_hidden_states(&pixels.to_dtype(model.dtype())?)?
            .to_dtype(DType::F32)?)
    }

    fn clip_encoder(&self) -> Result<&(ClipVisionModel, ClipImageProcessorConfig)> {
        self.clip.as_ref().ok_or_else(|| {
            EngineError::Invalid(format!(
                "{}: this model has no CLIP image encoder (its transformer has no image branch)",
                self.name
            ))
        })
    }

    /// Everything an image-to-video run conditions on, from RGB images of any size, as
    /// diffusers' `WanImageToVideoPipeline` computes it for `image` (and `last_image`): the
    /// images are resized to `width` x `height` for the VAE (see [`image_tensor`]); the CLIP
    /// encoder, where there is one, sees them at their own size (see
    /// [`WanModel::encode_image_states`]). `frames` is the video's frame count (`t` k + 1);
    /// a last frame needs [`WanModel::supports_last_frame`].
    pub fn image_condition(
        &self,
        first: &RgbImage,
        last: Option<&RgbImage>,
        frames: usize,
        width: usize,
        height: usize,
    ) -> Result<ImageCondition> {
        self.require_first_frame()?;
        if last.is_some() {
            self.require_last_frame()?;
        }
        let pixels = image_tensor(first, width, height, &self.device)?;
        if self.image_mode == ImageMode::FirstFrame {
            return Ok(ImageCondition::FirstFrame(
                self.encode_first_frame(&pixels)?,
            ));
        }
        let last_pixels = last
            .map(|l| image_tensor(l, width, height, &self.device))
            .transpose()?;
        let video = self.encode_video_condition(&pixels, last_pixels.as_ref(), frames)?;
        let image_states = match self.clip {
            Some(_) => {
                let images: Vec<&RgbImage> = std::iter::once(first).chain(last).collect();
                Some(self.encode_image_states(&images)?)
            }
            None => None,
        };
        Ok(ImageCondition::Concat {
            video,
            image_states,
        })
    }

    /// Image-to-video denoising (diffusers' `WanImageToVideoPipeline`); `latents` `(B, z, F',
    /// H', W')` is the initial noise, `condition` from [`WanModel::image_condition`] (or its
    /// parts):
    ///
    /// - [`ImageCondition::FirstFrame`] (`expand_timesteps`): at every step the network sees
    ///   the image's latent in place of the first latent frame, with timestep 0 on that
    ///   frame's tokens and the step's timestep on the others; the scheduler steps the whole
    ///   latent. The result's first frame is the image's latent.
    /// - [`ImageCondition::Concat`]: at every step the network sees the noisy latents with
    ///   the condition video concatenated along channels (and the image states in its image
    ///   branch); the result is the denoised latents.
    pub fn denoise_i2v(
        &self,
        condition: &ImageCondition,
        latents: &Tensor,
        prompt_embeds: &Tensor,
        negative_embeds: Option<&Tensor>,
        args: &WanSampling,
        progress: &mut dyn Progress,
    ) -> Result<Tensor> {
        let (b, z, f, h, w) = latents.dims5()?;
        let condition = match condition {
            ImageCondition::FirstFrame(first) => {
                self.require_mode(ImageMode::FirstFrame, "a first-frame latent")?;
                let (cb, cz, cf, ch, cw) = first.dims5()?;
                if (cb != 1 && cb != b) || (cz, cf, ch, cw) != (z, 1, h, w) {
                    return Err(EngineError::Invalid(format!(
                        "first-frame condition {:?} does not fit latents {:?}: expected (1 or {b}, {z}, 1, {h}, {w})",
                        first.dims(),
                        latents.dims()
                    )));
                }
                ImageCondition::FirstFrame(first.to_dtype(DType::F32)?)
            }
            ImageCondition::Concat {
                video,
                image_states,
            } => {
                self.require_mode(ImageMode::Concat, "a concatenated video condition")?;
                let tf = self.vae.config().scale_factor_temporal;
                let (cb, cc, cf, ch, cw) = video.dims5()?;
                if (cb != 1 && cb != b) || (cc, cf, ch, cw) != (tf + z, f, h, w) {
                    return Err(EngineError::Invalid(format!(
                        "video condition {:?} does not fit latents {:?}: expected (1 or {b}, {}, {f}, {h}, {w})",
                        video.dims(),
                        latents.dims(),
                        tf + z
                    )));
                }
                if image_states.is_some() != self.transformer.config().has_image_branch() {
                    return Err(EngineError::Invalid(format!(
                        "{}: the transformer {} image states",
                        self.name,
                        if image_states.is_some() {
                            "takes no"
                        } else {
                            "needs the CLIP"
                        }
                    )));
                }
                let wdtype = self.transformer.dtype();
                ImageCondition::Concat {
                    video: video.broadcast_as((b, cc, f, h, w))?.to_dtype(wdtype)?,
                    image_states: image_states
                        .as_ref()
                        .map(|s| s.to_dtype(wdtype))
                        .transpose()?,
                }
            }
        };
        self.denoise_inner(
            latents,
            Some(&condition),
            0,
            prompt_embeds,
            negative_embeds,
            args,
            progress,
        )
    }

    /// Video-to-video (diffusers' `WanVideoToVideoPipeline`, what `kino remix` does with
    /// Wan): `video` `(1, 3, F, H, W)` in [-1, 1] (F = 4k + 1, H and W multiples of the VAE's
    /// spatial factor) is encoded (posterior mode, normalised), noised with `noise` to the
    /// first of the last `int(steps * strength)` steps (`(1 - σ) x + σ noise`) and denoised
    /// over those steps.
    #[allow(clippy::too_many_arguments)]
    pub fn remix_latents(
        &self,
        video: &Tensor,
        noise: &Tensor,
        strength: f64,
        prompt_embeds: &Tensor,
        negative_embeds: Option<&Tensor>,
        args: &WanSampling,
        progress: &mut dyn Progress,
    ) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&strength) {
            return Err(EngineError::Invalid(format!(
                "strength {strength}: must be 0..=1"
            )));
        }
        self.require_text_to_video()?;
        let steps = args.steps.max(1);
        let kept = ((steps as f64 * strength) as usize).min(steps);
        if kept == 0 {
            return Err(EngineError::Invalid(format!(
                "strength {strength} with {steps} steps leaves no step to run (needs strength >= 1/{steps})"
            )));
        }
        let start = steps - kept;
        let solver = args.solver.unwrap_or(self.scheduler.solver);
        let shift = args.shift.unwrap_or(self.scheduler.shift);
        let sigma = FlowSchedule::diffusers(solver, steps, shift).sigmas()[start];
        let posterior = self.vae.encode(&video.to_dtype(DType::F32)?)?;
        let x0 = self.vae.normalize_latents(posterior.mode())?;
        if x0.dims() != noise.dims() {
            return Err(EngineError::Invalid(format!(
                "noise {:?} does not fit the source's latents {:?}",
                noise.dims(),
                x0.dims()
            )));
        }
        let noisy = ((x0 * (1.0 - sigma))? + (noise.to_dtype(DType::F32)? * sigma)?)?;
        self.denoise_inner(
            &noisy,
            None,
            start,
            prompt_embeds,
            negative_embeds,
            args,
            progress,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn denoise_inner(
        &self,
        latents: &Tensor,
        condition: Option<&ImageCondition>,
        start: usize,
        prompt_embeds: &Tensor,
        negative_embeds: Option<&Tensor>,
        args: &WanSampling,
        progress: &mut dyn Progress,
    ) -> Result<Tensor> {
        let solver = args.solver.unwrap_or(self.scheduler.solver);
        let shift = args.shift.unwrap_or(self.scheduler.shift);
        let schedule = FlowSchedule::diffusers(solver, args.steps, shift);
        let mut state = SolverState::starting_at(solver, &schedule, start);
        let guided = args.guidance > 1.0 && negative_embeds.is_some();
        let boundary = self.boundary_ratio.map(|r| r * 1000.0);
        let mut latents = latents.to_dtype(DType::F32)?;
        let b = latents.dim(0)?;
        let wdtype = self.transformer.dtype();
        let cond = prompt_embeds.to_dtype(wdtype)?;
        let uncond = negative_embeds.map(|n| n.to_dtype(wdtype)).transpose()?;
        // Per-token timestep weights for image-to-video: 0 on the first latent frame's tokens
        // (the clean image), 1 elsewhere, (1, seq), as diffusers' `first_frame_mask`.
        let token_mask = match condition {
            Some(ImageCondition::FirstFrame(_)) => {
                let (_, _, f, h, w) = latents.dims5()?;
                let [pt, ph, pw] = self.transformer.config().patch_size;
                let per_frame = (h / ph) * (w / pw);
                let seq = (f / pt) * per_frame;
                let mask: Vec<f32> = (0..seq)
                    .map(|i| if i < per_frame { 0.0 } else { 1.0 })
                    .collect();
                Some(Tensor::from_vec(mask, (1, seq), &self.device)?)
            }
            _ => None,
        };
        let image_states = match condition {
            Some(ImageCondition::Concat { image_states, .. }) => image_states.as_ref(),
            _ => None,
        };
        progress.stage(
            "denoise",
            (schedule.steps() - start.min(schedule.steps())) as u64,
        );
        for (i, &t) in schedule.timesteps().iter().skip(start).enumerate() {
            if progress.cancelled() {
                return Err(EngineError::Cancelled);
            }
            let (model, g) = match (boundary, &self.transformer_2) {
                (Some(bt), Some(low)) if t < bt => (low, args.guidance_2.unwrap_or(args.guidance)),
                _ => (&self.transformer, args.guidance),
            };
            let input = match condition {
                Some(ImageCondition::FirstFrame(c)) => with_first_frame(&latents, c)?,
                Some(ImageCondition::Concat { video, .. }) => {
                    Tensor::cat(&[&latents.to_dtype(wdtype)?, video], 1)?
                }
                None => latents.clone(),
            }
            .to_dtype(wdtype)?;
            let timestep = if let Some(mask) = &token_mask {
                (mask * t)?
            } else if self.expand_timesteps {
                let (_, _, f, h, w) = latents.dims5()?;
                let [pt, ph, pw] = model.config().patch_size;
                let seq = (f / pt) * (h / ph) * (w / pw);
                Tensor::full(t as f32, (b, seq), &self.device)?
            } else {
                Tensor::full(t as f32, b, &self.device)?
            };
            let mut pred = model
                .forward_with_image(&input, &timestep, &cond, image_states)?
                .to_dtype(DType::F32)?;
            if guided {
                let un = uncond.as_ref().expect("guided implies a negative prompt");
                let pu = model
                    .forward_with_image(&input, &timestep, un, image_states)?
                    .to_dtype(DType::F32)?;
                pred = (&pu + ((pred - &pu)? * g)?)?;
            }
            latents = state.step(&pred, &latents)?;
            progress.set(i as u64 + 1);
        }
        match condition {
            Some(ImageCondition::FirstFrame(c)) => with_first_frame(&latents, c),
            _ => Ok(latents),
        }
    }

    /// Normalised latents -> video `(1, 3, F, H, W)` in [-1, 1] (diffusers de-normalises with
    /// `latents_mean` / `latents_std` and clamps the decoder's output).
    ///
    /// Frames larger than 480p ([`AUTO_TILE_PIXELS`]) are decoded tile by tile with
    /// diffusers' `enable_tiling` defaults (256-pixel tiles every 192), so 720p decodes in
    /// bounded memory; at 480p and below the decode is untiled, as diffusers' pipelines run
    /// by default. [`WanModel::with_vae_tiling`] overrides this either way.
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        let z = self
            .vae
            .denormalize_latents(&latents.to_dtype(DType::F32)?)?;
        let (_, _, _, h, w) = z.dims5()?;
        let s = self.vae.config().scale_factor_spatial;
        if self.auto_tiling && self.vae.tiling().is_none() && h * s * w * s > AUTO_TILE_PIXELS {
            let tiled = self.vae.clone().with_tiling(WanVaeTiling::default())?;
            return Ok(tiled.decode(&z)?);
        }
        Ok(self.vae.decode(&z)?)
    }

    /// Sets the VAE's tiling explicitly: `Some` always tiles (when a frame is larger than one
    /// tile), `None` never does (see [`WanModel::decode`] for the default).
    pub fn with_vae_tiling(mut self, tiling: Option<WanVaeTiling>) -> Result<Self> {
        self.vae = match tiling {
            Some(t) => self.vae.with_tiling(t)?,
            None => self.vae.without_tiling(),
        };
        self.auto_tiling = false;
        Ok(self)
    }
}

/// The configs-only part of [`image_mode`] and the CLIP width check, for [`verify_folder`]
/// (which builds no network it keeps).
fn check_configs_fit(folder: &DiffusersFolder) -> Result<()> {
    let config = |name: &str| -> Result<Option<WanTransformerConfig>> {
        if !folder.has_component(name) {
            return Ok(None);
        }
        let c = folder.component(name).map_err(model_err)?;
        WanTransformerConfig::from_diffusers_json(&c.config_json())
            .map(Some)
            .map_err(|e| EngineError::Invalid(format!("{}: {e}", c.dir.display())))
    };
    let Some(main) = config("transformer")? else {
        return Ok(());
    };
    let vae_c = folder.component("vae").map_err(model_err)?;
    let vae = WanVaeConfig::from_diffusers_json(&vae_c.config_json())
        .map_err(|e| EngineError::Invalid(format!("{}: {e}", vae_c.dir.display())))?;
    let configs: Vec<WanTransformerConfig> = std::iter::once(main.clone())
        .chain(config("transformer_2")?)
        .collect();
    image_mode_of(folder, &configs.iter().collect::<Vec<_>>(), &vae)?;
    if let (Some(dim), true) = (main.image_dim, folder.has_component("image_encoder")) {
        let c = folder.component("image_encoder").map_err(model_err)?;
        let cfg = ClipVisionConfig::from_json(&c.config_json())
            .map_err(|e| EngineError::Invalid(format!("{}: {e}", c.dir.display())))?;
        if cfg.hidden_size != dim {
            return Err(EngineError::Invalid(format!(
                "{}: the image encoder's hidden_size {} is not the transformer's image_dim {dim}",
                c.dir.display(),
                cfg.hidden_size
            )));
        }
    }
    Ok(())
}

/// One component as `kino models verify` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentReport {
    pub name: String,
    pub class: String,
    pub files: usize,
    pub bytes: u64,
    pub tensors: usize,
    pub dtypes: Vec<String>,
}

/// Checks a Wan diffusers folder without loading its weights: every safetensors header (a
/// truncated file is named), every shard an index lists, and every network built against
/// the headers alone, so each key and shape it needs is checked (a missing or mis-shaped key
/// is named); the scheduler, the tokenizer and the image processor are parsed, and the
/// networks are checked to fit together (image-to-video channels, image branch and encoder).
pub fn verify_folder(dir: &Path) -> Result<Vec<ComponentReport>> {
    let folder = DiffusersFolder::open(dir).map_err(model_err)?;
    check_pipeline(&folder)?;
    check_configs_fit(&folder)?;
    let dev = Device::Cpu;
    let mut out = Vec::new();
    for (name, class) in folder.components() {
        let c = folder.component(&name).map_err(model_err)?;
        let ctx = |e: candle_core::Error| EngineError::Invalid(format!("{}: {e}", c.dir.display()));
        let mut report = ComponentReport {
            name: name.clone(),
            class: class.clone(),
            files: c.weights.len(),
            bytes: c.weight_bytes(),
            tensors: 0,
            dtypes: Vec::new(),
        };
        if !c.weights.is_empty() {
            let tensors = c.tensors().map_err(model_err)?;
            report.tensors = tensors.len();
            let mut dtypes: Vec<String> =
                tensors.values().map(|t| format!("{:?}", t.dtype)).collect();
            dtypes.sort();
            dtypes.dedup();
            report.dtypes = dtypes;
        }
        match class.as_str() {
            "WanTransformer3DModel" => {
                let cfg =
                    WanTransformerConfig::from_diffusers_json(&c.config_json()).map_err(ctx)?;
                let vb = c.shape_checker(DType::F32, &dev).map_err(model_err)?;
                WanTransformer::new(&cfg, vb).map_err(ctx)?;
            }
            "AutoencoderKLWan" => {
                let cfg = WanVaeConfig::from_diffusers_json(&c.config_json()).map_err(ctx)?;
                let vb = c.shape_checker(DType::F32, &dev).map_err(model_err)?;
                WanVae::new(&cfg, vb).map_err(ctx)?;
            }
            "UMT5EncoderModel" => {
                let cfg = Umt5Config::from_json(&c.config_json()).map_err(ctx)?;
                let vb = c.shape_checker(DType::F32, &dev).map_err(model_err)?;
                Umt5Encoder::new(&cfg, vb).map_err(ctx)?;
            }
            "UniPCMultistepScheduler" | "FlowMatchEulerDiscreteScheduler" => {
                SchedulerSpec::from_component(&c)?;
            }
            enc if name == "image_encoder" && CLIP_ENCODERS.contains(&enc) => {
                let vb = c.shape_checker(DType::F32, &dev).map_err(model_err)?;
                clip_model(&c, vb)?;
            }
            proc if name == "image_processor" && CLIP_PROCESSORS.contains(&proc) => {
                clip_processor_config(&c)?;
            }
            "T5TokenizerFast" | "AutoTokenizer" | "T5Tokenizer" => {
                let p = c.dir.join("tokenizer.json");
                tokenizers::Tokenizer::from_file(&p).map_err(|e| {
                    EngineError::Invalid(format!("{}: cannot load the tokenizer: {e}", p.display()))
                })?;
            }
            other => {
                return Err(EngineError::Invalid(format!(
                    "{}: component class '{other}' is not one kino runs",
                    c.dir.display()
                )))
            }
        }
        out.push(report);
    }
    Ok(out)
}

/// `(1, 3, F, H, W)` in [-1, 1] -> RGB8 frames.
fn video_frames(video: &Tensor, fps: u32) -> Result<kino_media::VideoFrames> {
    let (_, _, f, h, w) = video.dims5()?;
    let v = ((video
        .squeeze(0)?
        .permute((1, 2, 3, 0))?
        .clamp(-1f32, 1f32)?
        + 1.0)?
        * 127.5)?
        .round()?
        .to_dtype(DType::U8)?
        .flatten_all()?
        .to_vec1::<u8>()?;
    let mut out = kino_media::VideoFrames::new(
        w as u32,
        h as u32,
        kino_media::Rational::new(fps, 1)?,
        kino_media::PixelFormat::Rgb8,
    )?;
    let plane = h * w * 3;
    for i in 0..f {
        out.push(&v[i * plane..(i + 1) * plane])?;
    }
    Ok(out)
}

/// The output size of an image-to-video run without a size of its own: the image's aspect
/// ratio at the area of `default` (as diffusers' Wan image-to-video example picks it).
fn size_for_image(image: &RgbImage, default: (u32, u32), multiple: usize) -> (u32, u32) {
    let area = default.0 as f64 * default.1 as f64;
    let aspect = image.height().max(1) as f64 / image.width().max(1) as f64;
    let snap = |x: f64| ((x.round() as usize / multiple).max(1) * multiple) as u32;
    (snap((area / aspect).sqrt()), snap((area * aspect).sqrt()))
}

impl WanModel {
    fn run(
        &self,
        plan: &ShotPlan,
        opts: &GenerateOptions,
        remix: Option<(&kino_media::Clip, f64)>,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        opts.check()?;
        if opts.first_frame.is_some() {
            self.require_first_frame()?;
        } else if remix.is_none() {
            self.require_text_to_video()?;
        }
        if opts.last_frame.is_some() {
            self.require_last_frame()?;
        }
        let mut times = StageTimes::default();
        let fps = match (opts.fps, remix) {
            (Some(fps), _) => fps,
            (None, Some((clip, _))) => (clip.video.fps().as_f64().round() as u32).clamp(8, 60),
            (None, None) => DEFAULT_FPS,
        };
        let default_size = (832, 480);
        let sf = self.vae.config().scale_factor_spatial * self.transformer.config().patch_size[1];
        let (w, h) = match (opts.size, &opts.first_frame, remix) {
            (Some(size), _, _) => size,
            (None, _, Some((clip, _))) => (clip.video.width(), clip.video.height()),
            (None, Some(image), None) => size_for_image(image, default_size, sf),
            (None, None, None) => default_size,
        };
        let (w, h) = (
            (w as usize / sf * sf).max(sf),
            (h as usize / sf * sf).max(sf),
        );
        let seconds = match (opts.seconds, remix) {
            (Some(s), _) => s,
            (None, Some((clip, _))) => clip.video.duration_s(),
            (None, None) => plan.duration_s(),
        };
        if !(8..=60).contains(&fps) {
            return Err(EngineError::Invalid(format!("fps {fps}: must be 8..=60")));
        }
        if !(0.1..=60.0).contains(&seconds) {
            return Err(EngineError::Invalid(format!(
                "duration {seconds} s: must be 0.1..=60 s"
            )));
        }
        let tf = self.vae.config().scale_factor_temporal;
        let total = ((seconds * fps as f64).round() as usize).max(1);
        let shots = plan.shots.len().max(1);
        let mut video: Option<kino_media::VideoFrames> = None;
        let mut done = 0usize;
        for (i, shot) in plan.shots.iter().enumerate() {
            let end = if i + 1 == shots {
                total
            } else {
                ((shot.end_s / plan.duration_s().max(1e-9) * seconds) * fps as f64).round() as usize
            };
            let own = end.saturating_sub(done).max(1);
            // The image this shot animates: the given one (if any) for the first shot. A later
            // shot that describes its own scene is a hard cut (text-to-video); any other
            // continues from the last frame so far, on models that take a first frame (that
            // frame is generated again and dropped). Models that cannot make a video without
            // an image continue after a hard cut too.
            let continues = i > 0 && shot.content.scene.is_empty();
            let image = match &video {
                None => opts.first_frame.clone(),
                Some(v)
                    if remix.is_none()
                        && self.supports_first_frame()
                        && (continues || self.needs_first_frame()) =>
                {
                    Some(
                        v.frame_rgb(v.len() - 1)
                            .and_then(|rgb| RgbImage::from_raw(v.width(), v.height(), rgb))
                            .expect("the video so far has frames"),
                    )
                }
                Some(_) => None,
            };
            // The last shot ends on the last frame, where one is given.
            let last = opts.last_frame.as_ref().filter(|_| i + 1 == shots);
            if last.is_some() && image.is_none() {
                return Err(EngineError::Invalid(format!(
                    "{}: shot {} would end on the last frame but has no first frame to start \
                     from (first-and-last-frame video needs a first frame)",
                    self.name,
                    i + 1
                )));
            }
            let skip = usize::from(i > 0 && image.is_some());
            // Wan needs 4k + 1 frames; generate enough and keep `own`. A shot that ends on a
            // last frame keeps all of them (its length is rounded up to 4k + 1 frames), so that
            // the clip's last frame is the one generated from it.
            let frames = (own + skip - 1).div_ceil(tf) * tf + 1;
            let own = if last.is_some() { frames - skip } else { own };
            let t0 = Instant::now();
            let text = shot.conditioning_text(plan);
            let negative = shot
                .effective(plan)
                .negatives
                .iter()
                .map(|n| n.text.clone())
                .collect::<Vec<_>>()
                .join(", ");
            let embeds = self.encode_prompts(&[&text, &negative])?;
            let cond = embeds.narrow(0, 0, 1)?;
            let uncond = embeds.narrow(0, 1, 1)?;
            times.add("text", t0.elapsed().as_secs_f64());
            let first = match &image {
                Some(image) => {
                    let tc = Instant::now();
                    let condition = self.image_condition(image, last, frames, w, h)?;
                    times.add("conditioning", tc.elapsed().as_secs_f64());
                    Some(condition)
                }
                None => None,
            };
            let t1 = Instant::now();
            let shape = self.latent_shape(frames, h, w);
            let seed = opts.seed.wrapping_add(i as u64 * 1_000_003);
            let noise = noise::randn(seed, 1, shape, &self.device)?;
            let args = WanSampling {
                steps: opts.steps,
                guidance: opts.video_guidance,
                guidance_2: None,
                solver: Some(opts.solver),
                shift: None,
            };
            let latents = match (&first, remix) {
                (_, Some((clip, strength))) => {
                    let tc = Instant::now();
                    let source = source_video(clip, done, frames, fps, (w, h), &self.device)?;
                    times.add("conditioning", tc.elapsed().as_secs_f64());
                    self.remix_latents(
                        &source,
                        &noise,
                        strength,
                        &cond,
                        Some(&uncond),
                        &args,
                        progress,
                    )?
                }
                (Some(c), None) => {
                    self.denoise_i2v(c, &noise, &cond, Some(&uncond), &args, progress)?
                }
                (None, None) => self.denoise(&noise, &cond, Some(&uncond), &args, progress)?,
            };
            ensure_finite(&latents, "video latents")?;
            times.add("denoise", t1.elapsed().as_secs_f64());
            let t2 = Instant::now();
            progress.stage("decode", 1);
            let decoded = self.decode(&latents)?;
            progress.set(1);
            let frames_out = video_frames(&decoded, fps)?;
            let frames_out = frames_out.slice(skip, (skip + own).min(frames_out.len()));
            times.add("vae", t2.elapsed().as_secs_f64());
            done += frames_out.len();
            match &mut video {
                None => video = Some(frames_out),
                Some(v) => v.append(&frames_out)?,
            }
        }
        let video = video.ok_or_else(|| EngineError::Invalid("the plan has no shots".into()))?;
        let sr = 48_000;
        let samples = (video.len() as f64 / fps as f64 * sr as f64).round() as usize;
        let audio = kino_media::AudioBuffer::new(sr, 1, vec![0.0; samples.max(1)])?;
        Ok(Generated {
            clip: kino_media::Clip {
                video,
                audio: Some(audio),
            },
            seed: opts.seed,
            times,
        })
    }
}

impl Pipeline for WanModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn supports_first_frame(&self) -> bool {
        WanModel::supports_first_frame(self)
    }

    fn supports_last_frame(&self) -> bool {
        WanModel::supports_last_frame(self)
    }

    /// Shot by shot. The first shot is text-to-video, or, with `opts.first_frame` (models
    /// where [`WanModel::supports_first_frame`]), animates that image (see
    /// [`WanModel::image_condition`]): it is resized to the output size (see
    /// [`image_tensor`]) and begins the video. On those models a later shot continues from
    /// the previous shot's last frame (image-to-video from it; the repeated frame is dropped)
    /// unless it describes its own scene (`content.scene` non-empty), which is a hard cut:
    /// text-to-video, except on models that [`WanModel::needs_first_frame`] (Wan 2.1 I2V,
    /// Wan 2.2 I2V-A14B), which continue there too and refuse to run without an image.
    /// Text-to-video-only models make every shot from its text. With `opts.last_frame`
    /// (models where [`WanModel::supports_last_frame`]), the last shot ends on that image
    /// (its length rounded up to the model's 4k + 1 frames); other models refuse it.
    /// Without `opts.size`, an image sets the aspect ratio (at the area of 832x480).
    fn generate(
        &self,
        plan: &ShotPlan,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        self.run(plan, opts, None, progress)
    }

    /// Video-to-video (diffusers' `WanVideoToVideoPipeline`): each shot's part of the source,
    /// at the output size and frame rate (default: the source's), is noised to `strength`
    /// and denoised under the shot's prompt. The source's sound is kept.
    fn remix(
        &self,
        source: &kino_media::Clip,
        plan: &ShotPlan,
        strength: f64,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        if opts.first_frame.is_some() || opts.last_frame.is_some() {
            return Err(EngineError::Invalid(
                "remix takes no first or last frame (the source clip is the condition)".into(),
            ));
        }
        let mut generated = self.run(plan, opts, Some((source, strength)), progress)?;
        if let Some(audio) = &source.audio {
            generated.clip.audio = Some(fit_audio(audio, generated.clip.video.duration_s())?);
        }
        Ok(generated)
    }

    /// Continues the clip from its last frame (image-to-video with that frame, on models
    /// that [`WanModel::supports_first_frame`]) for `seconds`, at the source's size and frame
    /// rate; returns the source followed by the continuation, the source's sound followed by
    /// silence (Wan makes no sound).
    fn extend(
        &self,
        source: &kino_media::Clip,
        plan: &ShotPlan,
        seconds: f64,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        self.require_first_frame()?;
        let src = &source.video;
        let last = src
            .frame_rgb(src.len().saturating_sub(1))
            .and_then(|rgb| RgbImage::from_raw(src.width(), src.height(), rgb))
            .ok_or_else(|| EngineError::Invalid("the source clip has no frames".into()))?;
        let fps = (src.fps().as_f64().round() as u32).clamp(8, 60);
        let sf = self.vae.config().scale_factor_spatial * self.transformer.config().patch_size[1];
        let size = (
            (src.width() as usize / sf * sf).max(sf) as u32,
            (src.height() as usize / sf * sf).max(sf) as u32,
        );
        let mut o = opts.clone();
        o.first_frame = Some(last);
        o.fps = Some(fps);
        o.size = Some(size);
        // One more frame: the continuation's first frame is the source's last.
        o.seconds = Some(seconds + 1.0 / fps as f64);
        let continuation = self.run(plan, &o, None, progress)?;
        let cont = &continuation.clip.video;
        let mut video = kino_media::VideoFrames::new(
            src.width(),
            src.height(),
            src.fps(),
            kino_media::PixelFormat::Rgb8,
        )?;
        for k in 0..src.len() {
            video.push(&src.frame_rgb(k).expect("frame index in range"))?;
        }
        for k in 1..cont.len() {
            let rgb = cont.frame_rgb(k).expect("frame index in range");
            let rgb = if (cont.width(), cont.height()) == (src.width(), src.height()) {
                rgb
            } else {
                let img = RgbImage::from_raw(cont.width(), cont.height(), rgb)
                    .expect("frame buffer of the frame size");
                image::imageops::resize(
                    &img,
                    src.width(),
                    src.height(),
                    image::imageops::FilterType::Triangle,
                )
                .into_raw()
            };
            video.push(&rgb)?;
        }
        let audio = match &source.audio {
            Some(a) => fit_audio(a, video.duration_s())?,
            None => continuation
                .clip
                .audio
                .clone()
                .map(|a| fit_audio(&a, video.duration_s()))
                .transpose()?
                .expect("Wan clips carry a (silent) audio track"),
        };
        Ok(Generated {
            clip: kino_media::Clip {
                video,
                audio: Some(audio),
            },
            seed: continuation.seed,
            times: continuation.times,
        })
    }
}

/// `audio` cut or padded with silence to `seconds`.
fn fit_audio(audio: &kino_media::AudioBuffer, seconds: f64) -> Result<kino_media::AudioBuffer> {
    let ch = audio.channels() as usize;
    let frames = (seconds * audio.sample_rate() as f64).round() as usize;
    let mut samples = audio.samples().to_vec();
    samples.resize(frames.max(1) * ch, 0.0);
    Ok(kino_media::AudioBuffer::new(
        audio.sample_rate(),
        audio.channels(),
        samples,
    )?)
}

/// `frames` frames of `clip` from output frame `first` on, at `fps` (nearest source frame
/// by time, the last one repeated past the end), resized to `(w, h)` with Pillow's Lanczos
/// (as diffusers' video processor), as `(1, 3, F, H, W)` in [-1, 1].
fn source_video(
    clip: &kino_media::Clip,
    first: usize,
    frames: usize,
    fps: u32,
    (w, h): (usize, usize),
    device: &Device,
) -> Result<Tensor> {
    let src = &clip.video;
    if src.is_empty() {
        return Err(EngineError::Invalid("the source clip has no frames".into()));
    }
    let src_fps = src.fps().as_f64();
    let mut planes = Vec::with_capacity(frames);
    for k in 0..frames {
        let t = (first + k) as f64 / fps as f64;
        let idx = ((t * src_fps).round() as usize).min(src.len() - 1);
        let rgb = src.frame_rgb(idx).expect("index clamped to the clip");
        let img = RgbImage::from_raw(src.width(), src.height(), rgb)
            .ok_or_else(|| EngineError::Invalid("source frame has the wrong size".into()))?;
        planes.push(image_tensor(&img, w, h, device)?);
    }
    Ok(Tensor::stack(&planes, 2)?)
}
