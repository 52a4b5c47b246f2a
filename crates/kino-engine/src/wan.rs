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
//! Wan makes no sound: the [`Pipeline`] implementation returns silent audio.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
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

impl WanModel {
    /// True when `dir` is a diffusers folder whose pipeline is one this module runs.
    pub fn is_wan_folder(dir: &Path) -> bool {
        DiffusersFolder::open(dir)
            .map(|f| f.pipeline_class() == "WanPipeline")
            .unwrap_or(false)
    }

    /// Loads every component. `dtype` is the networks' compute dtype (f32 on CPU; bf16 is
    /// what the checkpoints store and what CUDA runs).
    pub fn load(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let folder = DiffusersFolder::open(dir).map_err(model_err)?;
        match folder.pipeline_class() {
            "WanPipeline" => {}
            "WanImageToVideoPipeline" | "WanVideoToVideoPipeline" | "WanVACEPipeline" => {
                return Err(EngineError::Invalid(format!(
                    "{}: {} folders are not supported yet (text-to-video WanPipeline folders are)",
                    dir.display(),
                    folder.pipeline_class()
                )))
            }
            other => {
                return Err(EngineError::Invalid(format!(
                    "{}: pipeline class '{other}' is not a Wan pipeline",
                    dir.display()
                )))
            }
        }
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
        let solver = args.solver.unwrap_or(self.scheduler.solver);
        let shift = args.shift.unwrap_or(self.scheduler.shift);
        let schedule = FlowSchedule::diffusers(solver, args.steps, shift);
        let mut state = SolverState::new(solver, &schedule);
        let guided = args.guidance > 1.0 && negative_embeds.is_some();
        let boundary = self.boundary_ratio.map(|r| r * 1000.0);
        let mut latents = latents.to_dtype(DType::F32)?;
        let b = latents.dim(0)?;
        let wdtype = self.transformer.dtype();
        let cond = prompt_embeds.to_dtype(wdtype)?;
        let uncond = negative_embeds.map(|n| n.to_dtype(wdtype)).transpose()?;
        progress.stage("denoise", schedule.steps() as u64);
        for (i, &t) in schedule.timesteps().iter().enumerate() {
            if progress.cancelled() {
                return Err(EngineError::Cancelled);
            }
            let (model, g) = match (boundary, &self.transformer_2) {
                (Some(bt), Some(low)) if t < bt => (low, args.guidance_2.unwrap_or(args.guidance)),
                _ => (&self.transformer, args.guidance),
            };
            let input = latents.to_dtype(wdtype)?;
            let timestep = if self.expand_timesteps {
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
        Ok(latents)
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
    if folder.pipeline_class() != "WanPipeline" {
        return Err(EngineError::Invalid(format!(
            "{}: pipeline class '{}' is not one kino runs (WanPipeline)",
            dir.display(),
            folder.pipeline_class()
        )));
    }
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

impl Pipeline for WanModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn generate(
        &self,
        plan: &ShotPlan,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        if opts.first_frame.is_some() {
            return Err(EngineError::Invalid(
                "image-to-video with Wan is not supported yet (text-to-video is)".into(),
            ));
        }
        let mut times = StageTimes::default();
        let fps = opts.fps.unwrap_or(DEFAULT_FPS);
        let (w, h) = opts.size.unwrap_or((832, 480));
        let sf = self.vae.config().scale_factor_spatial * self.transformer.config().patch_size[1];
        let (w, h) = (
            (w as usize / sf * sf).max(sf),
            (h as usize / sf * sf).max(sf),
        );
        let seconds = opts.seconds.unwrap_or(plan.duration_s());
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
            let latents = self.denoise(&noise, &cond, Some(&uncond), &args, progress)?;
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

    fn remix(
        &self,
        _source: &kino_media::Clip,
        _plan: &ShotPlan,
        _strength: f64,
        _opts: &GenerateOptions,
        _progress: &mut dyn Progress,
    ) -> Result<Generated> {
        Err(EngineError::Invalid(
            "remix with Wan is not supported yet (kino's own models remix)".into(),
        ))
    }

    fn extend(
        &self,
        _source: &kino_media::Clip,
        _plan: &ShotPlan,
        _seconds: f64,
        _opts: &GenerateOptions,
        _progress: &mut dyn Progress,
    ) -> Result<Generated> {
        Err(EngineError::Invalid(
            "extend with Wan is not supported yet (kino's own models extend)".into(),
        ))
    }
}
