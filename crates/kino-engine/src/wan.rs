//! Wan 2.1 / 2.2 from their diffusers folders (`Wan-AI/Wan2.1-T2V-1.3B-Diffusers`,
//! `Wan2.1-T2V-14B-Diffusers`, `Wan2.2-TI2V-5B-Diffusers`, `Wan2.2-T2V-A14B-Diffusers`),
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
//! Image-to-video is diffusers' `WanImageToVideoPipeline` with `expand_timesteps` (the Wan
//! 2.2 TI2V-5B, no image encoder): the image is VAE-encoded and normalised, the network sees
//! that latent in place of the first latent frame, with timestep 0 on the first frame's
//! tokens, and the returned latents carry it as their first frame
//! ([`WanModel::denoise_i2v`]). The TI2V-5B's `WanPipeline` folder runs it too, as diffusers
//! runs that folder with `WanImageToVideoPipeline`. Wan 2.1 image-to-video (CLIP image
//! encoder) and Wan 2.2 I2V-A14B (image latent concatenated to the noise) are refused.
//!
//! Wan makes no sound: the [`Pipeline`] implementation returns silent audio.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use kino_models::diffusers_folder::{DiffusersComponent, DiffusersFolder};
use kino_models::umt5::{wan_prompt_embeds, Umt5Config, Umt5Encoder, WAN_TEXT_LEN};
use kino_models::wan_transformer::{WanTransformer, WanTransformerConfig};
use kino_models::wan_vae::{AutoencoderKLWan as WanVae, WanVaeConfig, WanVaeTiling};
use kino_prompt::ShotPlan;

use crate::noise;
use crate::pipeline::{EngineError, GenerateOptions, Generated, Progress, Result, StageTimes};
use crate::sampler::{FlowSchedule, Solver, SolverState};
use crate::Pipeline;

/// diffusers' default negative prompt for Wan is empty; kino uses the plan's negatives.
const DEFAULT_FPS: u32 = 16;

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

/// A loaded Wan model.
pub struct WanModel {
    name: String,
    transformer: WanTransformer,
    transformer_2: Option<WanTransformer>,
    boundary_ratio: Option<f64>,
    expand_timesteps: bool,
    /// See [`WanModel::supports_first_frame`].
    first_frame: bool,
    vae: WanVae,
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

/// Checks that the folder's pipeline is one this module runs: `WanPipeline`, or a
/// `WanImageToVideoPipeline` with `expand_timesteps` and no image encoder (Wan 2.2 TI2V-5B).
fn check_pipeline(folder: &DiffusersFolder) -> Result<()> {
    let dir = folder.root().display();
    let class = folder.pipeline_class();
    match class {
        "WanPipeline" => Ok(()),
        "WanImageToVideoPipeline" => {
            if folder.has_component("image_encoder") {
                return Err(EngineError::Invalid(format!(
                    "{dir}: this WanImageToVideoPipeline folder (Wan 2.1 image-to-video) needs the \
                     CLIP image encoder, which kino does not run yet; Wan 2.2 TI2V-5B folders \
                     (expand_timesteps, no image_encoder) are supported"
                )));
            }
            let expand = folder
                .setting("expand_timesteps")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if !expand {
                return Err(EngineError::Invalid(format!(
                    "{dir}: WanImageToVideoPipeline without expand_timesteps (Wan 2.2 I2V-A14B: \
                     the image latent concatenated to the noise) is not supported yet; Wan 2.2 \
                     TI2V-5B folders (expand_timesteps, no image_encoder) are"
                )));
            }
            Ok(())
        }
        "WanVideoToVideoPipeline" | "WanVACEPipeline" => Err(EngineError::Invalid(format!(
            "{dir}: {class} folders are not supported yet (WanPipeline folders and Wan 2.2 \
             TI2V-5B WanImageToVideoPipeline folders are)"
        ))),
        other => Err(EngineError::Invalid(format!(
            "{dir}: pipeline class '{other}' is not a Wan pipeline"
        ))),
    }
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
    let (w0, h0) = (image.width() as usize, image.height() as usize);
    let (w1, h1) = (width as usize, height as usize);
    let pixels = image.as_raw();
    let shrink_h = h0 as i64 - h1 as i64;
    let shrink_w = w0 as i64 - w1 as i64;
    let pixels = if shrink_h > 0 && shrink_h > 2 * shrink_w {
        let tall = lanczos_pass(pixels, (w0, h0), h1, false);
        lanczos_pass(&tall, (w0, h1), w1, true)
    } else {
        let wide = lanczos_pass(pixels, (w0, h0), w1, true);
        lanczos_pass(&wide, (w1, h0), h1, false)
    };
    RgbImage::from_raw(width, height, pixels).expect("the buffer has width * height * 3 bytes")
}

/// One resampling pass over interleaved RGB `(w, h)`: the width (`horizontal`) or the height
/// becomes `size`; nothing changes when it already is.
fn lanczos_pass(pixels: &[u8], (w, h): (usize, usize), size: usize, horizontal: bool) -> Vec<u8> {
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
    for (i, (first, k)) in lanczos_coeffs(along, size).iter().enumerate() {
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

/// For each output index of a `in_size -> out_size` Lanczos pass: the first input index and
/// the fixed-point weights of the inputs from there.
fn lanczos_coeffs(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i64>)> {
    fn sinc(x: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
    fn lanczos(x: f64) -> f64 {
        if (-3.0..3.0).contains(&x) {
            sinc(x) * sinc(x / 3.0)
        } else {
            0.0
        }
    }
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 3.0 * filter_scale;
    let inv_scale = 1.0 / filter_scale;
    (0..out_size)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            // Truncation toward zero, then clamping, as the C casts.
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let weights: Vec<f64> = (first..end)
                .map(|x| lanczos((x as f64 - center + 0.5) * inv_scale))
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
    /// Accepts `WanPipeline` folders and `WanImageToVideoPipeline` folders with
    /// `expand_timesteps` and no image encoder (Wan 2.2 TI2V-5B); other Wan pipelines are
    /// refused with the reason.
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
        // First-frame conditioning needs per-token timesteps and a network whose input is the
        // VAE latent itself (no extra image channels), one latent frame per token frame.
        let first_frame = expand_timesteps
            && std::iter::once(&transformer)
                .chain(transformer_2.as_ref())
                .all(|t| {
                    let c = t.config();
                    c.in_channels == vae_cfg.z_dim && c.patch_size[0] == 1 && c.image_dim.is_none()
                });
        if folder.pipeline_class() == "WanImageToVideoPipeline" && !first_frame {
            return Err(EngineError::Invalid(format!(
                "{}: this WanImageToVideoPipeline's transformer does not take the VAE latent \
                 alone (in_channels {}, VAE z_dim {}, patch {:?}); only first-frame \
                 conditioning (Wan 2.2 TI2V-5B) is supported",
                dir.display(),
                transformer.config().in_channels,
                vae_cfg.z_dim,
                transformer.config().patch_size
            )));
        }
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
            first_frame,
            vae,
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

    /// True when the model animates an image by first-frame conditioning
    /// ([`WanModel::denoise_i2v`]): `expand_timesteps` folders whose transformer takes the
    /// VAE latent alone (Wan 2.2 TI2V-5B).
    pub fn supports_first_frame(&self) -> bool {
        self.first_frame
    }

    fn require_first_frame(&self) -> Result<()> {
        if self.first_frame {
            return Ok(());
        }
        Err(EngineError::Invalid(format!(
            "{}: this Wan model has no image-to-video path kino runs (first-frame \
             conditioning needs an expand_timesteps model such as Wan 2.2 TI2V-5B)",
            self.name
        )))
    }

    /// The first-frame condition of an image-to-video run: `image` `(B, 3, H, W)` in [-1, 1]
    /// (see [`image_tensor`]; H and W multiples of the VAE's spatial factor) -> the VAE
    /// posterior's mode, normalised with `latents_mean` / `latents_std`, `(B, z, 1, H/s, W/s)`
    /// f32, as diffusers' `WanImageToVideoPipeline.prepare_latents`.
    pub fn encode_first_frame(&self, image: &Tensor) -> Result<Tensor> {
        self.require_first_frame()?;
        let (_, c, h, w) = image.dims4()?;
        let s = self.vae.config().scale_factor_spatial;
        if c != 3 || !h.is_multiple_of(s) || !w.is_multiple_of(s) || h == 0 || w == 0 {
            return Err(EngineError::Invalid(format!(
                "first frame {c}x{h}x{w}: expected 3 channels and a size that is a multiple of {s}"
            )));
        }
        let video = image.to_dtype(DType::F32)?.unsqueeze(2)?;
        let posterior = self.vae.encode(&video)?;
        Ok(self.vae.normalize_latents(posterior.mode())?)
    }

    /// Image-to-video denoising (diffusers' `WanImageToVideoPipeline` with
    /// `expand_timesteps`): `condition` is the image's latent from
    /// [`WanModel::encode_first_frame`], `(1 or B, z, 1, H', W')`; `latents` `(B, z, F', H',
    /// W')` the initial noise. At every step the network sees `condition` in place of the
    /// first latent frame, with timestep 0 on that frame's tokens and the step's timestep on
    /// the others; the scheduler steps the whole latent. The result's first frame is
    /// `condition`.
    pub fn denoise_i2v(
        &self,
        condition: &Tensor,
        latents: &Tensor,
        prompt_embeds: &Tensor,
        negative_embeds: Option<&Tensor>,
        args: &WanSampling,
        progress: &mut dyn Progress,
    ) -> Result<Tensor> {
        self.require_first_frame()?;
        let (b, z, _, h, w) = latents.dims5()?;
        let (cb, cz, cf, ch, cw) = condition.dims5()?;
        if (cb != 1 && cb != b) || (cz, cf, ch, cw) != (z, 1, h, w) {
            return Err(EngineError::Invalid(format!(
                "first-frame condition {:?} does not fit latents {:?}: expected (1 or {b}, {z}, 1, {h}, {w})",
                condition.dims(),
                latents.dims()
            )));
        }
        let condition = condition.to_dtype(DType::F32)?;
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
        condition: Option<&Tensor>,
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
            Some(_) => {
                let (_, _, f, h, w) = latents.dims5()?;
                let [pt, ph, pw] = self.transformer.config().patch_size;
                let per_frame = (h / ph) * (w / pw);
                let seq = (f / pt) * per_frame;
                let mask: Vec<f32> = (0..seq)
                    .map(|i| if i < per_frame { 0.0 } else { 1.0 })
                    .collect();
                Some(Tensor::from_vec(mask, (1, seq), &self.device)?)
            }
            None => None,
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
                Some(c) => with_first_frame(&latents, c)?,
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
                .forward(&input, &timestep, &cond)?
                .to_dtype(DType::F32)?;
            if guided {
                let un = uncond.as_ref().expect("guided implies a negative prompt");
                let pu = model.forward(&input, &timestep, un)?.to_dtype(DType::F32)?;
                pred = (&pu + ((pred - &pu)? * g)?)?;
            }
            latents = state.step(&pred, &latents)?;
            progress.set(i as u64 + 1);
        }
        match condition {
            Some(c) => with_first_frame(&latents, c),
            None => Ok(latents),
        }
    }

    /// Normalised latents -> video `(1, 3, F, H, W)` in [-1, 1] (diffusers de-normalises with
    /// `latents_mean` / `latents_std` and clamps the decoder's output).
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        let z = self
            .vae
            .denormalize_latents(&latents.to_dtype(DType::F32)?)?;
        Ok(self.vae.decode(&z)?)
    }

    /// Decodes tile by tile (diffusers' `enable_tiling` defaults: 256-pixel tiles every 192)
    /// when a frame is larger than one tile, so 720p decodes in bounded memory.
    pub fn with_vae_tiling(mut self, tiling: Option<WanVaeTiling>) -> Result<Self> {
        self.vae = match tiling {
            Some(t) => self.vae.with_tiling(t)?,
            None => self.vae.without_tiling(),
        };
        Ok(self)
    }
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
/// is named); the scheduler and the tokenizer are parsed.
pub fn verify_folder(dir: &Path) -> Result<Vec<ComponentReport>> {
    let folder = DiffusersFolder::open(dir).map_err(model_err)?;
    check_pipeline(&folder)?;
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
        if opts.first_frame.is_some() {
            self.require_first_frame()?;
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
                "duration {seconds:.2} s: must be 0.1..=60 s"
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
            // Wan needs 4k + 1 frames; generate enough and keep `own`.
            let frames = (own - 1).div_ceil(tf) * tf + 1;
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
            // The first shot animates the given image.
            let first = match &opts.first_frame {
                Some(image) if i == 0 => {
                    let tc = Instant::now();
                    let pixels = image_tensor(image, w, h, &self.device)?;
                    let condition = self.encode_first_frame(&pixels)?;
                    times.add("conditioning", tc.elapsed().as_secs_f64());
                    Some(condition)
                }
                _ => None,
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
            times.add("denoise", t1.elapsed().as_secs_f64());
            let t2 = Instant::now();
            progress.stage("decode", 1);
            let decoded = self.decode(&latents)?;
            progress.set(1);
            let frames_out = video_frames(&decoded, fps)?;
            let frames_out = frames_out.slice(0, own.min(frames_out.len()));
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

    /// Text-to-video per shot; with `opts.first_frame` (models where
    /// [`WanModel::supports_first_frame`]), the first shot animates that image: it is resized
    /// to the output size (see [`image_tensor`]) and is the video's first frame. Later shots
    /// are text-to-video. Without `opts.size`, an image sets the aspect ratio (at the area of
    /// 832x480).
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
        if opts.first_frame.is_some() {
            return Err(EngineError::Invalid(
                "remix takes no first frame (the source clip is the condition)".into(),
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
