//! `kino train`: trains a kino-family model on procedural-world clips, stage by stage:
//! video VAE -> audio VAE -> vocoder -> latent cache -> twin DiT -> export a model folder.
//!
//! Every stage checkpoints (weights, EMA weights, optimiser moments, step) and resumes from
//! its last checkpoint; a finished stage leaves `done.safetensors` (its EMA weights) and is
//! skipped when the run is started again. Batches are a pure function of (seed, step), so an
//! interrupted and resumed run sees the same data as an uninterrupted one. Loss curves go
//! to `<run>/<stage>/loss.csv`; the DiT stage can also sample and judge clips on held-out
//! prompts as it trains (`samples`, written to `<run>/dit/samples.jsonl`).

pub mod data;
pub mod optim;
pub mod samples;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use kino_models::audio_vae::{AudioVae, AudioVaeConfig};
use kino_models::dit::{audio_latent_times, video_latent_times, DitConfig, DitInput, TwinDit};
use kino_models::folder::{FolderWriter, MediaSpec, ModelFolder};
use kino_models::mel::MelConfig;
use kino_models::text_encoder::TextEncoder;
use kino_models::video_vae::{VaeLossOptions, VideoVae, VideoVaeConfig};
use kino_models::vocoder::{Vocoder, VocoderConfig};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::noise;
use crate::pipeline::{EngineError, Result};
use crate::twin::{TwinConfig, FAMILY};
use data::{world_clip, ClipShape, TrainClip, HELD_OUT_SEEDS};
use kino_world::rng::Rng;
use optim::{AdamW, AdamWConfig, Ema, LrSchedule};
pub use samples::{SampleClip, SampleSpec};

/// Optimisation settings of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub warmup: usize,
    pub ema: f64,
    pub clip_norm: f64,
    pub checkpoint_every: usize,
}

/// A complete training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub name: String,
    /// Clips the world renders (the DiT trains on whole clips).
    pub clip: ClipShape,
    /// Frames per VAE training window (1 + 4k), cut at random from a clip.
    pub vae_window: usize,
    pub video_vae_config: VideoVaeConfig,
    pub audio_vae_config: AudioVaeConfig,
    pub vocoder_config: VocoderConfig,
    pub dit_config: DitConfig,
    pub video_vae: StageSpec,
    pub audio_vae: StageSpec,
    pub vocoder: StageSpec,
    pub dit: StageSpec,
    pub kl_weight: f64,
    /// Extra weight of the video VAE's reconstruction error on the pixels of objects (their
    /// ground-truth boxes, 2 px margin): a pixel there counts `1 + object_weight` times.
    /// Objects are ~1% of a world frame, and with plain L1 (0, recipes written before this
    /// field) the VAE had not learned to reconstruct them after 1,966 steps.
    #[serde(default)]
    pub object_weight: f64,
    /// Extra weight of the DiT's flow-matching error on the latent cells that hold an object
    /// (its ground-truth box grown by 2 px touches the cell in any frame the latent frame
    /// covers): such a cell counts `1 + dit_object_weight` times (0, recipes written before
    /// this field: every cell the same). Objects are ~1% of a world frame, so a plain loss
    /// spends almost nothing on them and a short CPU run learns the scene's layout only.
    #[serde(default)]
    pub dit_object_weight: f64,
    /// Weight of the video VAE's L1 on frame-to-frame differences (0 in recipes written
    /// before it): the plain L1 let the 4x-time VAE smear moving objects along their paths
    /// (held-out round trip of the 5,100-step VAE: objects persist in 14% of clips, contact
    /// timing off by 12 frames). See `kino_models::video_vae::VaeLossOptions`.
    #[serde(default)]
    pub motion_weight: f64,
    /// Train only the video VAE's decoder: its encoder, and so its latent space and every
    /// DiT trained in it, stays that of the weights the stage starts from (`init
    /// video_vae`), which the exported model then pairs with the reused DiT.
    #[serde(default)]
    pub video_decoder_only: bool,
    /// Clips encoded once for DiT training.
    pub latent_clips: usize,
    pub text_max_tokens: usize,
    /// Probability that a DiT sample is conditioned on its clean first latent frame.
    pub p_first_frame: f64,
    /// Probability that a DiT sample's text is replaced by the empty prompt (for guidance).
    pub p_drop_text: f64,
    pub audio_loss_weight: f64,
    pub seed: u64,
    /// Train on this many distinct clips only (0 = a fresh clip for every sample). Small
    /// pools make overfit checks.
    #[serde(default)]
    pub data_pool: u64,
    /// Sample clips of the DiT stage, judged on held-out prompts (off in recipes written
    /// before it existed). Not part of the run's identity: a run may resume with other
    /// sampling settings.
    #[serde(default)]
    pub samples: SampleSpec,
}

fn stage(steps: usize, batch: usize, lr: f64) -> StageSpec {
    StageSpec {
        steps,
        batch,
        lr,
        warmup: (steps / 20).clamp(1, 500),
        ema: 0.999,
        clip_norm: 1.0,
        checkpoint_every: 200,
    }
}

impl Recipe {
    /// The recipe that makes kino-tiny (128x128, 24 fps, 2 s training clips).
    pub fn tiny() -> Self {
        Self {
            name: "tiny".into(),
            clip: ClipShape {
                width: 128,
                height: 128,
                fps: 24,
                frames: 49,
                sample_rate: 16_000,
            },
            vae_window: 9,
            video_vae_config: VideoVaeConfig::kino_tiny(),
            audio_vae_config: AudioVaeConfig::kino_tiny(),
            vocoder_config: VocoderConfig::kino_tiny(),
            dit_config: DitConfig::kino_tiny(),
            video_vae: stage(4000, 4, 1e-3),
            audio_vae: stage(2000, 8, 1e-3),
            vocoder: stage(1000, 8, 3e-4),
            dit: stage(20_000, 8, 3e-4),
            kl_weight: 1e-4,
            object_weight: 10.0,
            dit_object_weight: 0.0,
            motion_weight: 0.0,
            video_decoder_only: false,
            latent_clips: 4000,
            text_max_tokens: 64,
            p_first_frame: 0.3,
            p_drop_text: 0.1,
            audio_loss_weight: 1.0,
            seed: 0,
            data_pool: 0,
            samples: SampleSpec {
                every: 2000,
                prompts: 4,
                seconds: 2.0,
                steps: 8,
                from_pool: false,
            },
        }
    }

    /// A minutes-long recipe on tiny networks for tests and smoke runs.
    pub fn smoke() -> Self {
        let mut r = Self::tiny();
        r.name = "smoke".into();
        r.clip = ClipShape {
            width: 64,
            height: 64,
            fps: 12,
            frames: 9,
            sample_rate: 16_000,
        };
        r.vae_window = 5;
        r.video_vae_config = VideoVaeConfig::test_tiny();
        r.dit_config = DitConfig {
            video_latent_channels: r.video_vae_config.z_channels,
            audio_latent_channels: r.audio_vae_config.z_channels,
            text_dim: 384,
            ..DitConfig::test_tiny()
        };
        r.video_vae = stage(30, 2, 2e-3);
        r.audio_vae = stage(30, 2, 2e-3);
        r.vocoder = stage(40, 2, 1e-3);
        r.data_pool = 1;
        r.dit_object_weight = 10.0;
        r.dit = stage(60, 4, 1e-3);
        r.latent_clips = 8;
        r.text_max_tokens = 32;
        // Once, at the end of the DiT stage: one prompt, the shortest clip, two steps.
        r.samples = SampleSpec {
            every: r.dit.steps,
            prompts: 1,
            seconds: 1.0,
            steps: 2,
            from_pool: false,
        };
        r
    }

    pub fn named(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "smoke" => Some(Self::smoke()),
            _ => None,
        }
    }

    /// Multiplies every stage's batch (at least 1 each); a GPU runs a 4x batch in about the
    /// time a CPU-sized one takes, which buys cleaner gradients for free.
    pub fn scale_batches(&mut self, factor: f64) {
        for s in [
            &mut self.video_vae,
            &mut self.audio_vae,
            &mut self.vocoder,
            &mut self.dit,
        ] {
            s.batch = ((s.batch as f64 * factor).round() as usize).max(1);
        }
    }

    /// Multiplies every stage's step count (at least 1 step each).
    pub fn scale_steps(&mut self, factor: f64) {
        for s in [
            &mut self.video_vae,
            &mut self.audio_vae,
            &mut self.vocoder,
            &mut self.dit,
        ] {
            s.steps = ((s.steps as f64 * factor).round() as usize).max(1);
            s.warmup = (s.steps / 20).clamp(1, 500);
        }
    }
}

/// A progress report from a training stage.
#[derive(Debug, Clone, Serialize)]
pub struct TrainEvent {
    pub stage: String,
    pub step: usize,
    pub total: usize,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub seconds: f64,
}

impl TrainEvent {
    /// Progress of a stage that does not optimise (encoding latents, adding masks).
    fn progress(stage: &str, step: usize, total: usize, started: Instant) -> Self {
        Self {
            stage: stage.into(),
            step,
            total,
            loss: 0.0,
            lr: 0.0,
            grad_norm: 0.0,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// A training clip; a scene the physics engine fails on is replaced by the next draw.
fn draw_clip(shape: &ClipShape, data_pool: u64, rng: &mut Rng) -> Result<TrainClip> {
    let mut last_err = None;
    for _ in 0..8 {
        let seed = if data_pool > 0 {
            rng.next_u64() % data_pool
        } else {
            rng.next_u64() % HELD_OUT_SEEDS
        };
        match world_clip(shape, seed, rng.below(4)) {
            Ok(c) => return Ok(c),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.expect("at least one attempt"))
}

/// Before a stage (re)starts at `start`: keeps the header and the rows of steps `1..=start`
/// of its loss log, dropping the rows an interrupted run wrote after its last checkpoint
/// (those steps run again) and, at `start == 0`, the whole log.
fn keep_logged_steps(path: &Path, start: usize) -> Result<()> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = if start == 0 {
        String::new()
    } else {
        text.lines()
            .filter(|line| {
                line.split(',')
                    .next()
                    .and_then(|s| s.parse::<usize>().ok())
                    .is_none_or(|step| step <= start)
            })
            .map(|line| format!("{line}\n"))
            .collect()
    };
    if kept != text {
        fs::write(path, kept).map_err(|e| st_err(path, e))?;
    }
    Ok(())
}

/// Runs a recipe into a run folder.
pub struct Trainer {
    pub run_dir: PathBuf,
    pub recipe: Recipe,
    pub device: Device,
    text: TextEncoder,
    text_source: PathBuf,
    /// Wall-clock budget for the whole run, in seconds (None: every stage runs its steps).
    time_budget_s: Option<f64>,
    /// Step counts asked for by name (see [`Trainer::with_stage_steps`]).
    stage_caps: HashMap<String, usize>,
    /// Starting weights of stages (see [`Trainer::init_stage`]) and where they came from.
    stage_init: HashMap<String, (HashMap<String, Tensor>, PathBuf)>,
    /// With a DiT initialised or reused from a folder: that folder's latent statistics and
    /// VAE weights, and the folder (see [`Trainer::init_stage`], [`Trainer::reuse_stage`]).
    #[allow(clippy::type_complexity)]
    dit_latents: Option<(
        LatentStats,
        (HashMap<String, Tensor>, HashMap<String, Tensor>),
        PathBuf,
    )>,
    /// Stop after the vocoder (see [`Trainer::stop_before_dit`]).
    stop_before_dit: bool,
}

/// The stages a run may take from a finished model folder instead of training them
/// ([`Trainer::reuse_stage`]). A reused DiT keeps its folder's latent statistics and needs
/// that folder's VAE encoders (reused, or a decoder-only video VAE stage).
pub const REUSABLE_STAGES: [&str; 4] = ["video_vae", "audio_vae", "vocoder", "dit"];

/// Each stage's share of a time budget; the rest is left for the latent cache and export.
fn budget_share(stage: &str) -> f64 {
    match stage {
        "video_vae" => 0.22,
        "audio_vae" => 0.06,
        "vocoder" => 0.04,
        "dit" => 0.58,
        _ => 0.0,
    }
}

/// Steps timed before a budgeted stage decides how many steps it can afford.
const PROBE_STEPS: usize = 12;

fn st_err(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::Invalid(format!("{}: {e}", path.display()))
}

fn write_atomic(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let tmp = path.with_extension("tmp");
    candle_core::safetensors::save(tensors, &tmp)?;
    fs::rename(&tmp, path).map_err(|e| st_err(path, e))
}

fn load_st(path: &Path) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| st_err(path, e))
}

fn recipe_json(r: &Recipe) -> String {
    serde_json::to_string_pretty(r).expect("recipe serialises")
}

fn prefixed(map: &HashMap<String, Tensor>, prefix: &str) -> HashMap<String, Tensor> {
    map.iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
        .collect()
}

impl Trainer {
    /// `text_dir` holds `text_encoder.safetensors` and `tokenizer.json` (the shipped
    /// all-MiniLM-L6-v2); it is frozen during training.
    pub fn new(run_dir: &Path, recipe: Recipe, text_dir: &Path, device: Device) -> Result<Self> {
        if recipe.dit_config.video_latent_channels != recipe.video_vae_config.z_channels
            || recipe.dit_config.audio_latent_channels != recipe.audio_vae_config.z_channels
        {
            return Err(EngineError::Invalid(format!(
                "recipe '{}': the DiT's latent channels do not match the VAEs'",
                recipe.name
            )));
        }
        fs::create_dir_all(run_dir).map_err(|e| st_err(run_dir, e))?;
        let text = TextEncoder::load(
            &text_dir.join("text_encoder.safetensors"),
            &text_dir.join("tokenizer.json"),
            &device,
        )
        .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let recipe_path = run_dir.join("recipe.json");
        if recipe_path.exists() {
            let old: Recipe = serde_json::from_str(
                &fs::read_to_string(&recipe_path).map_err(|e| st_err(&recipe_path, e))?,
            )
            .map_err(|e| st_err(&recipe_path, e))?;
            let sampling_aside = Recipe {
                samples: recipe.samples.clone(),
                ..old.clone()
            };
            if sampling_aside != recipe {
                return Err(EngineError::Invalid(format!(
                    "{} was made by a different recipe; use a new run folder",
                    run_dir.display()
                )));
            }
        }
        if !recipe_path.exists()
            || fs::read_to_string(&recipe_path).ok() != Some(recipe_json(&recipe))
        {
            fs::write(&recipe_path, recipe_json(&recipe)).map_err(|e| st_err(&recipe_path, e))?;
        }
        Ok(Self {
            run_dir: run_dir.to_path_buf(),
            recipe,
            device,
            text,
            text_source: text_dir.to_path_buf(),
            time_budget_s: None,
            stage_caps: HashMap::new(),
            stage_init: HashMap::new(),
            dit_latents: None,
            stop_before_dit: false,
        })
    }

    /// Trains (or reuses) only the VAEs and the vocoder, then writes them as a *partial*
    /// model folder (no text encoder, no DiT; `"partial": true` in its training notes) that a
    /// later run takes with [`Trainer::reuse_stage`]. Lets the stages of one model be trained
    /// in separate sessions.
    pub fn stop_before_dit(mut self) -> Self {
        self.stop_before_dit = true;
        self
    }

    /// Starts stage `name` (any stage) from the weights of the model folder `folder` instead
    /// of random ones, with a fresh optimiser; the stage then trains its steps as usual (a
    /// checkpoint already in the run folder takes precedence: the run resumes). The folder's
    /// configuration of that network must equal the recipe's.
    ///
    /// The DiT also takes the folder's latent statistics, so that it keeps seeing the inputs
    /// it was trained on; its latents only mean the same thing when this run's VAEs are the
    /// folder's, which the DiT stage checks before it trains (reuse them:
    /// [`Trainer::reuse_stage`]). `init dit` + `reuse video_vae, audio_vae, vocoder` keeps
    /// training a finished model.
    ///
    /// `<stage>/init.json` records the source and the steps behind its weights, summed over
    /// every run that led to them (the exported model's `training.initialised_from`).
    pub fn init_stage(&mut self, name: &str, folder: &ModelFolder) -> Result<()> {
        let (weights, path) = self.folder_weights(name, folder)?;
        if name == "dit" {
            self.take_dit_latents(folder)?;
        }
        let before = steps_behind(folder, name);
        let note = serde_json::json!({
            "weights": weights_note(name, folder, &path),
            "model": folder.manifest().name,
            "steps_before": before,
        });
        let dir = self.run_dir.join(name);
        fs::create_dir_all(&dir).map_err(|e| st_err(&dir, e))?;
        let file = dir.join("init.json");
        fs::write(&file, note.to_string()).map_err(|e| st_err(&file, e))?;
        self.stage_init.insert(name.to_string(), (weights, path));
        Ok(())
    }

    /// Keeps `folder`'s latent statistics and VAEs for a DiT taken (init or reuse) from it.
    fn take_dit_latents(&mut self, folder: &ModelFolder) -> Result<()> {
        let twin: crate::twin::TwinConfig = folder
            .config("dit")
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let stats = LatentStats {
            video_mean: twin.video_latent_mean,
            video_std: twin.video_latent_std,
            audio_mean: twin.audio_latent_mean,
            audio_std: twin.audio_latent_std,
        };
        let vaes = (
            self.folder_weights("video_vae", folder)?.0,
            self.folder_weights("audio_vae", folder)?.0,
        );
        self.dit_latents = Some((stats, vaes, folder.dir().to_path_buf()));
        Ok(())
    }

    /// The f32 weights of stage `name` in `folder`, after checking that the folder
    /// configures that network as the recipe does.
    fn folder_weights(
        &self,
        name: &str,
        folder: &ModelFolder,
    ) -> Result<(HashMap<String, Tensor>, PathBuf)> {
        let r = &self.recipe;
        let want = match name {
            "video_vae" => serde_json::to_value(&r.video_vae_config),
            "audio_vae" => serde_json::to_value(&r.audio_vae_config),
            "vocoder" => serde_json::to_value(&r.vocoder_config),
            "dit" => serde_json::to_value(&r.dit_config),
            _ => {
                return Err(EngineError::Invalid(format!(
                    "unknown stage '{name}' (stages: video_vae, audio_vae, vocoder, dit)"
                )))
            }
        }
        .map_err(|e| EngineError::Invalid(format!("recipe config: {e}")))?;
        let mut have: serde_json::Value = folder
            .config(name)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        if name == "dit" {
            let tokens = have["text_max_tokens"].as_u64();
            if tokens != Some(r.text_max_tokens as u64) {
                return Err(EngineError::Invalid(format!(
                    "{}: its DiT reads {tokens:?} text tokens, recipe '{}' {}",
                    folder.dir().display(),
                    r.name,
                    r.text_max_tokens
                )));
            }
            have = have["dit"].take();
        }
        // Read through the config type, so a field added since the folder was written
        // compares at its default (a folder from before `absolute_positions` is `false`).
        fn canonical<T: serde::de::DeserializeOwned + Serialize>(
            v: serde_json::Value,
        ) -> serde_json::Value {
            match serde_json::from_value::<T>(v.clone()).and_then(serde_json::to_value) {
                Ok(c) => c,
                Err(_) => v,
            }
        }
        let have = match name {
            "video_vae" => canonical::<VideoVaeConfig>(have),
            "audio_vae" => canonical::<AudioVaeConfig>(have),
            "vocoder" => canonical::<VocoderConfig>(have),
            _ => canonical::<DitConfig>(have),
        };
        if have != want {
            return Err(EngineError::Invalid(format!(
                "{}: its {name} is configured {have}, but recipe '{}' trains {want}",
                folder.dir().display(),
                r.name
            )));
        }
        let path = folder
            .weights_path(name)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let weights = load_st(&path)?
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_dtype(DType::F32)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        Ok((weights, path))
    }

    /// Runs each named stage for the given number of steps (at least 1, at most the
    /// recipe's) instead of the recipe's count, e.g. `{"video_vae": 1200}`. Like a time
    /// budget's cut, the count is kept in `<stage>/steps.txt` and is not part of the
    /// recipe's identity: a resumed run keeps it, and asking again for another count
    /// replaces it (the learning-rate schedule then follows the new count from the last
    /// checkpoint). A stage that already finished is not re-run.
    pub fn with_stage_steps(mut self, caps: HashMap<String, usize>) -> Result<Self> {
        for name in caps.keys() {
            if budget_share(name) == 0.0 {
                return Err(EngineError::Invalid(format!(
                    "unknown stage '{name}' (stages: video_vae, audio_vae, vocoder, dit)"
                )));
            }
        }
        self.stage_caps = caps;
        Ok(self)
    }

    /// Takes stage `name` (one of [`REUSABLE_STAGES`]) from the finished model folder
    /// `folder` instead of training it: its weights become the stage's result
    /// (`<stage>/done.safetensors`) and `<stage>/reused.txt` records where they came from.
    /// The folder's configuration of that network must equal the recipe's. Does nothing
    /// when the stage already finished in this run (trained or reused before).
    ///
    /// A reused DiT keeps the folder's latent statistics, and the run then checks that its
    /// VAE encoders are the folder's (decoders may differ: `video_decoder_only` retrains
    /// one under a finished model) and exports without encoding any latents.
    pub fn reuse_stage(&mut self, name: &str, folder: &ModelFolder) -> Result<()> {
        if !REUSABLE_STAGES.contains(&name) {
            return Err(EngineError::Invalid(format!(
                "stage '{name}' cannot be reused (reusable: {})",
                REUSABLE_STAGES.join(", ")
            )));
        }
        let dir = self.run_dir.join(name);
        let done = dir.join("done.safetensors");
        let path = folder
            .weights_path(name)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let note = weights_note(name, folder, &path);
        if name == "dit" && done.exists() {
            // The latent statistics come from `folder`: they must be the finished DiT's own.
            let before = fs::read_to_string(dir.join("reused.txt")).ok();
            if before.as_deref().map(str::trim) != Some(note.as_str()) {
                return Err(EngineError::Invalid(format!(
                    "{}: this run's DiT {}, not {note}: it cannot take another folder's \
                     latent statistics (use a new run folder)",
                    dir.display(),
                    before.map_or("was trained here".to_string(), |b| format!(
                        "was reused from {}",
                        b.trim()
                    ))
                )));
            }
        }
        if name == "dit" {
            self.take_dit_latents(folder)?;
        }
        if done.exists() {
            return Ok(());
        }
        let (weights, _) = self.folder_weights(name, folder)?;
        fs::create_dir_all(&dir).map_err(|e| st_err(&dir, e))?;
        fs::write(dir.join("reused.txt"), note + "\n").map_err(|e| st_err(&dir, e))?;
        let behind = steps_behind(folder, name).to_string();
        fs::write(dir.join(REUSED_STEPS), behind).map_err(|e| st_err(&dir, e))?;
        write_atomic(&done, &weights)
    }

    /// Fits the run into `minutes` of wall-clock time: each stage times its first steps and
    /// then cuts its step count (never raises it) to fit its share of the budget. The count
    /// it settles on is kept in `<stage>/steps.txt`, so a resumed run keeps the same
    /// schedule.
    pub fn with_time_budget(mut self, minutes: f64) -> Self {
        self.time_budget_s = Some(minutes * 60.0);
        self
    }

    /// `n` training clips drawn from `rng`, rendered in parallel (clip `i` depends only on
    /// the i-th seed drawn, so results do not depend on the thread count).
    fn clips(&self, rng: &mut Rng, n: usize) -> Result<Vec<TrainClip>> {
        let seeds: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
        let (shape, pool) = (&self.recipe.clip, self.recipe.data_pool);
        seeds
            .par_iter()
            .map(|&s| draw_clip(shape, pool, &mut Rng::new(s)))
            .collect()
    }

    /// Runs one stage to completion (resuming), returning its EMA weights.
    fn run_stage(
        &self,
        name: &str,
        spec: &StageSpec,
        map: &VarMap,
        mut loss_fn: impl FnMut(&mut Rng) -> Result<Tensor>,
        on_event: &mut dyn FnMut(&TrainEvent),
        after_step: &mut dyn FnMut(usize, usize, &Ema) -> Result<()>,
    ) -> Result<HashMap<String, Tensor>> {
        let dir = self.run_dir.join(name);
        fs::create_dir_all(&dir).map_err(|e| st_err(&dir, e))?;
        let done = dir.join("done.safetensors");
        if done.exists() {
            return load_st(&done);
        }
        let ckpt = dir.join("checkpoint.safetensors");
        if let Some((weights, path)) = self.stage_init.get(name).filter(|_| !ckpt.exists()) {
            // The optimiser and the EMA start from these (a checkpoint would override them).
            optim::load_into(map, weights, path)?;
        }
        let mut opt = AdamW::new(map, AdamWConfig::default())?;
        let mut ema = Ema::new(map, spec.ema)?;
        let mut start = 0;
        if ckpt.exists() {
            let state = load_st(&ckpt)?;
            optim::load_into(map, &prefixed(&state, "w."), &ckpt)?;
            ema.load(&prefixed(&state, "ema."))?;
            opt.load_state(&prefixed(&state, "opt."))?;
            start = opt.step_count();
        }
        let steps_file = dir.join("steps.txt");
        let mut total = spec.steps;
        let mut settled = false;
        if let Some(&cap) = self.stage_caps.get(name) {
            fs::write(&steps_file, cap.clamp(1, spec.steps).to_string())
                .map_err(|e| st_err(&steps_file, e))?;
        }
        if let Ok(text) = fs::read_to_string(&steps_file) {
            total = text
                .trim()
                .parse::<usize>()
                .map_err(|e| st_err(&steps_file, e))?
                .clamp(1, spec.steps);
            settled = true;
        }
        let budget = self
            .time_budget_s
            .map(|b| b * budget_share(name))
            .filter(|_| !settled);
        let mut sched = LrSchedule {
            peak: spec.lr,
            warmup: spec.warmup.min((total / 20).max(1)),
            total,
            min_ratio: 0.1,
        };
        let log_path = dir.join("loss.csv");
        keep_logged_steps(&log_path, start)?;
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| st_err(&log_path, e))?;
        if start == 0 {
            writeln!(log, "step,loss,lr,grad_norm,seconds").map_err(|e| st_err(&dir, e))?;
        }
        let t0 = Instant::now();
        let save = |opt: &AdamW, ema: &Ema| -> Result<()> {
            let mut all = HashMap::new();
            for (k, v) in optim::weights_of(map) {
                all.insert(format!("w.{k}"), v);
            }
            for (k, v) in ema.tensors() {
                all.insert(format!("ema.{k}"), v);
            }
            for (k, v) in opt.state()? {
                all.insert(format!("opt.{k}"), v);
            }
            write_atomic(&ckpt, &all)
        };
        let mut probe_from = None;
        let mut step = start;
        while step < total {
            if let Some(budget) = budget.filter(|_| !settled) {
                // The first step pays for kernel compilation and allocation: time from the second.
                if step == start + 1 {
                    probe_from = Some(Instant::now());
                }
                if step == start + PROBE_STEPS {
                    let per = probe_from.map_or(1.0, |t| t.elapsed().as_secs_f64())
                        / (PROBE_STEPS - 1) as f64;
                    let left = (budget - t0.elapsed().as_secs_f64()).max(0.0);
                    let fit = step + (left / per.max(1e-6)) as usize;
                    total = fit.clamp(step + 1, spec.steps);
                    sched.total = total;
                    sched.warmup = spec.warmup.min((total / 20).max(1));
                    fs::write(&steps_file, total.to_string())
                        .map_err(|e| st_err(&steps_file, e))?;
                    settled = true;
                }
            }
            let mut rng = Rng::stream(
                self.recipe.seed ^ 0x5EED,
                (name.len() as u64) << 32 | step as u64,
            );
            let loss = loss_fn(&mut rng)?;
            let lr = sched.at(step);
            let grads = loss.backward()?;
            let grad_norm = opt.step(&grads, lr, spec.clip_norm)?;
            ema.update(map, step)?;
            let l = loss.to_scalar::<f32>()? as f64;
            let secs = t0.elapsed().as_secs_f64();
            writeln!(log, "{},{l:.6},{lr:.3e},{grad_norm:.4},{secs:.1}", step + 1)
                .map_err(|e| st_err(&dir, e))?;
            on_event(&TrainEvent {
                stage: name.into(),
                step: step + 1,
                total,
                loss: l,
                lr,
                grad_norm,
                seconds: secs,
            });
            after_step(step + 1, total, &ema)?;
            if (step + 1) % spec.checkpoint_every == 0 && step + 1 < total {
                save(&opt, &ema)?;
            }
            step += 1;
        }
        let weights = ema.tensors();
        write_atomic(&done, &weights)?;
        let _ = fs::remove_file(&ckpt);
        Ok(weights)
    }

    fn video_tensor(&self, clips: &[(&TrainClip, usize, usize)]) -> Result<Tensor> {
        // (clip, first frame, frame count) -> (B, 3, T, H, W) in [-1, 1].
        let (w, h) = (
            self.recipe.clip.width as usize,
            self.recipe.clip.height as usize,
        );
        let t = clips[0].2;
        let plane = w * h;
        let mut data = vec![0f32; clips.len() * 3 * t * plane];
        for (b, (clip, first, n)) in clips.iter().enumerate() {
            for k in 0..*n {
                let f = &clip.frames[first + k];
                for p in 0..plane {
                    for c in 0..3 {
                        data[((b * 3 + c) * t + k) * plane + p] = f[p * 3 + c] as f32 / 127.5 - 1.0;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(
            data,
            (clips.len(), 3, t, h, w),
            &self.device,
        )?)
    }

    /// Per-pixel weights `(B, 1, T, H, W)` of the video VAE's reconstruction error for the
    /// windows of [`Self::video_tensor`]: `1 + object_weight` inside the objects' boxes
    /// (grown by 2 px, clamped to the frame), 1 elsewhere; `None` when the weight is 0.
    fn object_weights(&self, clips: &[(&TrainClip, usize, usize)]) -> Result<Option<Tensor>> {
        let extra = self.recipe.object_weight as f32;
        if extra == 0.0 {
            return Ok(None);
        }
        let (w, h) = (
            self.recipe.clip.width as usize,
            self.recipe.clip.height as usize,
        );
        let t = clips[0].2;
        let plane = w * h;
        let mut data = vec![1f32; clips.len() * t * plane];
        for (b, (clip, first, n)) in clips.iter().enumerate() {
            for k in 0..*n {
                let Some(boxes) = clip.object_boxes.get(first + k) else {
                    continue;
                };
                let frame = &mut data[(b * t + k) * plane..][..plane];
                for bb in boxes {
                    let (xs, ys) = (grown_span(bb[0], bb[2], w), grown_span(bb[1], bb[3], h));
                    for y in ys {
                        for x in xs.clone() {
                            frame[y * w + x] = 1.0 + extra;
                        }
                    }
                }
            }
        }
        Ok(Some(Tensor::from_vec(
            data,
            (clips.len(), 1, t, h, w),
            &self.device,
        )?))
    }

    /// The latent object mask of a whole training clip at the video VAE's latent grid
    /// `(f, h, w)` (see [`latent_object_mask`]).
    fn clip_object_mask(&self, clip: &TrainClip, grid: (usize, usize, usize)) -> Vec<f32> {
        latent_object_mask(
            &clip.object_boxes,
            (
                self.recipe.clip.width as usize,
                self.recipe.clip.height as usize,
            ),
            self.recipe.video_vae_config.temporal_factor(),
            grid,
        )
    }

    fn log_mels(&self, mel: &MelConfig, clips: &[TrainClip]) -> Result<Tensor> {
        let mels = clips
            .iter()
            .map(|c| mel.log_mel_tensor(&c.audio, &self.device))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Tensor::stack(&mels, 0)?)
    }

    /// Runs every stage and writes the model folder to `out`; sample clips (if the recipe
    /// makes any) are judged and logged, and the clips dropped.
    pub fn run(&self, out: &Path, on_event: &mut dyn FnMut(&TrainEvent)) -> Result<ModelFolder> {
        self.run_with_samples(out, on_event, &mut |_| {})
    }

    /// [`Trainer::run`], handing every sample clip of the DiT stage to `on_sample` (after
    /// it is judged; see [`samples`]).
    pub fn run_with_samples(
        &self,
        out: &Path,
        on_event: &mut dyn FnMut(&TrainEvent),
        on_sample: &mut dyn FnMut(SampleClip),
    ) -> Result<ModelFolder> {
        let r = &self.recipe;
        let dev = self.device.clone();

        // 1. Video VAE on random windows.
        let vmap = VarMap::new();
        let vae = VideoVae::new(
            &r.video_vae_config,
            VarBuilder::from_varmap(&vmap, DType::F32, &dev),
        )?;
        let vae_opts = VaeLossOptions {
            kl_weight: r.kl_weight,
            motion_weight: r.motion_weight,
            train_encoder: !r.video_decoder_only,
        };
        if self.dit_reused() && !self.stop_before_dit {
            // Refuse before any step: a reused DiT only reads latents of its folder's encoders.
            let reused = |s: &str| self.run_dir.join(s).join("reused.txt").exists();
            if !(reused("video_vae") || r.video_decoder_only) || !reused("audio_vae") {
                return Err(EngineError::Invalid(
                    "the DiT is reused from a model folder: reuse its audio VAE too, and its \
                     video VAE or train only the video decoder (video_decoder_only), so the \
                     latents keep the meaning the DiT learnt"
                        .into(),
                ));
            }
        }
        let video_done = self.run_dir.join("video_vae").join("done.safetensors");
        let frozen_encoder = if r.video_decoder_only && !video_done.exists() {
            let Some((init, _)) = self.stage_init.get("video_vae") else {
                return Err(EngineError::Invalid(
                    "a decoder-only video VAE stage keeps the encoder of the weights it starts \
                     from: initialise it (init video_vae) from a model folder"
                        .into(),
                ));
            };
            Some(encoder_part(init))
        } else {
            None
        };
        let mut video_w = self.run_stage(
            "video_vae",
            &r.video_vae,
            &vmap,
            |rng| {
                let clips = self.clips(rng, r.video_vae.batch)?;
                let span = r.clip.frames - r.vae_window + 1;
                let picks: Vec<(&TrainClip, usize, usize)> = clips
                    .iter()
                    .map(|c| (c, rng.below(span), r.vae_window))
                    .collect();
                let x = self.video_tensor(&picks)?;
                let w = self.object_weights(&picks)?;
                let seed = rng.next_u64();
                let noise = |m: &Tensor| noise::randn(seed, 0, m.shape(), m.device());
                Ok(vae.loss_with(&x, w.as_ref(), &vae_opts, noise)?.total)
            },
            on_event,
            &mut |_, _, _| Ok(()),
        )?;
        if let Some(frozen) = &frozen_encoder {
            // The EMA of an untouched weight can still move by a rounding step: keep the
            // encoder bit for bit, also in the stage's result (a resumed run reads it).
            video_w.extend(frozen.iter().map(|(k, v)| (k.clone(), v.clone())));
            write_atomic(&video_done, &video_w)?;
        }

        // 2. Audio VAE on log-mel.
        let mel = r.vocoder_config.mel.clone();
        let amap = VarMap::new();
        let avae = AudioVae::new(
            r.audio_vae_config.clone(),
            VarBuilder::from_varmap(&amap, DType::F32, &dev),
        )?;
        let audio_w = self.run_stage(
            "audio_vae",
            &r.audio_vae,
            &amap,
            |rng| {
                let clips = self.clips(rng, r.audio_vae.batch)?;
                let x = avae.pad_log_mel(&self.log_mels(&mel, &clips)?)?;
                let seed = rng.next_u64();
                let noise = |m: &Tensor| noise::randn(seed, 0, m.shape(), m.device());
                Ok(avae.loss_with_noise(&x, r.kl_weight, noise)?.total)
            },
            on_event,
            &mut |_, _, _| Ok(()),
        )?;

        // 3. Vocoder: log-mel -> linear magnitude.
        let omap = VarMap::new();
        let voc = Vocoder::new(
            r.vocoder_config.clone(),
            VarBuilder::from_varmap(&omap, DType::F32, &dev),
        )?;
        let vocoder_w = self.run_stage(
            "vocoder",
            &r.vocoder,
            &omap,
            |rng| {
                let clips = self.clips(rng, r.vocoder.batch)?;
                let x = self.log_mels(&mel, &clips)?;
                let targets = clips
                    .iter()
                    .map(|c| voc.target_magnitude(&c.audio, &dev))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Ok(voc.loss(&x, &Tensor::stack(&targets, 0)?)?)
            },
            on_event,
            &mut |_, _, _| Ok(()),
        )?;

        if self.stop_before_dit {
            return self.export(out, None, &video_w, &audio_w, &vocoder_w);
        }

        if self.dit_reused() {
            return self.export_reused_dit(out, &video_w, &audio_w, &vocoder_w);
        }

        // 4. Latent cache with the EMA VAEs.
        let vae = VideoVae::new(
            &r.video_vae_config,
            VarBuilder::from_tensors(video_w.clone(), DType::F32, &dev),
        )?;
        let avae = AudioVae::new(
            r.audio_vae_config.clone(),
            VarBuilder::from_tensors(audio_w.clone(), DType::F32, &dev),
        )?;
        let cache = self.latent_cache(&vae, &avae, &mel, on_event)?;
        let stats = match &self.dit_latents {
            Some((stats, (video, audio), from)) => {
                if !same_encoders((video, audio), (&video_w, &audio_w))? {
                    return Err(EngineError::Invalid(format!(
                        "the DiT starts from {}, whose VAEs are not this run's: its latents \
                         would mean something else (reuse its video_vae and audio_vae too)",
                        from.display()
                    )));
                }
                stats.clone()
            }
            None => LatentStats::of(&cache)?,
        };

        // 5. The twin DiT on normalised latents.
        let dmap = VarMap::new();
        let dit = TwinDit::new(
            &r.dit_config,
            VarBuilder::from_varmap(&dmap, DType::F32, &dev),
        )?;
        let empty = self.text_tokens(&[""])?;
        let vtimes = video_latent_times(
            cache.video.dim(2)?,
            r.video_vae_config.temporal_factor(),
            r.clip.fps as f64,
        );
        let atimes = audio_latent_times(
            cache.audio.dim(2)?,
            r.audio_vae_config.time_downsample(),
            mel.hop,
            mel.sample_rate,
        );
        let nv = stats.normalise_video(&cache.video)?;
        let na = stats.normalise_audio(&cache.audio)?;
        let twin = self.twin_config(&stats);
        let mut held = None;
        let mut sample = |step: usize, total: usize, ema: &Ema| -> Result<()> {
            if !r.samples.due(step, total) {
                return Ok(());
            }
            let dit = ema.tensors();
            let weights = samples::Weights {
                twin: &twin,
                video_vae: &video_w,
                audio_vae: &audio_w,
                vocoder: &vocoder_w,
                dit: &dit,
            };
            self.sample("dit", step, &weights, &mut held, on_sample)
        };
        let dit_w = self.run_stage(
            "dit",
            &r.dit,
            &dmap,
            |rng| {
                dit_loss(
                    &dit,
                    r,
                    &nv,
                    &na,
                    &cache.text,
                    &cache.text_mask,
                    cache.objects.as_ref(),
                    &empty,
                    &vtimes,
                    &atimes,
                    rng,
                )
            },
            on_event,
            &mut sample,
        )?;

        // 6. Export.
        self.export(out, Some((&twin, &dit_w)), &video_w, &audio_w, &vocoder_w)
    }

    /// The DiT's configuration as a model folder records it: the recipe's network and
    /// text length with the latent statistics `stats`.
    fn twin_config(&self, stats: &LatentStats) -> TwinConfig {
        let r = &self.recipe;
        TwinConfig {
            dit: r.dit_config.clone(),
            text_max_tokens: r.text_max_tokens,
            video_latent_mean: stats.video_mean.clone(),
            video_latent_std: stats.video_std.clone(),
            audio_latent_mean: stats.audio_mean.clone(),
            audio_latent_std: stats.audio_std.clone(),
        }
    }

    /// Whether this run's DiT is taken from a model folder ([`Trainer::reuse_stage`]).
    fn dit_reused(&self) -> bool {
        self.run_dir.join("dit").join("reused.txt").exists()
    }

    /// Exports a DiT reused from a model folder (no latents to encode: it keeps the folder's
    /// statistics) with this run's VAEs and vocoder, once the encoders are the folder's.
    fn export_reused_dit(
        &self,
        out: &Path,
        video_w: &HashMap<String, Tensor>,
        audio_w: &HashMap<String, Tensor>,
        vocoder_w: &HashMap<String, Tensor>,
    ) -> Result<ModelFolder> {
        let done = self.run_dir.join("dit").join("done.safetensors");
        let Some((stats, (video, audio), from)) = &self.dit_latents else {
            return Err(EngineError::Invalid(format!(
                "{}: the DiT was reused from a model folder; name it again (reuse dit) so \
                 its latent statistics come with it",
                done.display()
            )));
        };
        if !same_encoders((video, audio), (video_w, audio_w))? {
            return Err(EngineError::Invalid(format!(
                "the DiT is reused from {}, whose VAE encoders are not this run's: its \
                 latents would mean something else (reuse its VAEs, or retrain only the \
                 video decoder)",
                from.display()
            )));
        }
        let twin = self.twin_config(stats);
        let dit_w = load_st(&done)?;
        self.export(out, Some((&twin, &dit_w)), video_w, audio_w, vocoder_w)
    }

    /// The steps a stage ran (its recipe's, or fewer when a time budget or
    /// [`Trainer::with_stage_steps`] cut them; 0 when it was reused from a model folder).
    fn stage_steps(&self, name: &str, spec: &StageSpec) -> usize {
        if self.run_dir.join(name).join("reused.txt").exists() {
            return 0;
        }
        fs::read_to_string(self.run_dir.join(name).join("steps.txt"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(spec.steps)
    }

    fn text_tokens(&self, texts: &[&str]) -> Result<(Tensor, Tensor)> {
        let l = self.recipe.text_max_tokens;
        let e = self
            .text
            .encode(texts, l)
            .map_err(|e| EngineError::Invalid(format!("text encoder: {e}")))?;
        let (b, n, d) = e.tokens.dims3()?;
        if n == l {
            return Ok((e.tokens, e.mask));
        }
        let pad = Tensor::zeros((b, l - n, d), DType::F32, &self.device)?;
        let mpad = Tensor::zeros((b, l - n), DType::F32, &self.device)?;
        Ok((
            Tensor::cat(&[&e.tokens, &pad], 1)?,
            Tensor::cat(&[&e.mask, &mpad], 1)?,
        ))
    }

    fn latent_cache(
        &self,
        vae: &VideoVae,
        avae: &AudioVae,
        mel: &MelConfig,
        on_event: &mut dyn FnMut(&TrainEvent),
    ) -> Result<LatentCache> {
        let path = self.run_dir.join("latents.safetensors");
        if path.exists() {
            let t = load_st(&path)?;
            let get = |k: &str| {
                t.get(k)
                    .cloned()
                    .ok_or_else(|| st_err(&path, format!("no tensor {k}")))
            };
            let mut cache = LatentCache {
                video: get("video")?.to_device(&self.device)?,
                audio: get("audio")?.to_device(&self.device)?,
                text: get("text")?.to_device(&self.device)?,
                text_mask: get("text_mask")?.to_device(&self.device)?,
                objects: t
                    .get("objects")
                    .map(|o| o.to_device(&self.device))
                    .transpose()?,
            };
            if cache.objects.is_none() && self.recipe.dit_object_weight > 0.0 {
                let objects = self.add_object_masks(&path, &cache, on_event)?;
                let mut all = t;
                all.insert("objects".to_string(), objects.clone());
                write_atomic(&path, &all)?;
                cache.objects = Some(objects);
            }
            return Ok(cache);
        }
        let n = self.recipe.latent_clips;
        let (mut v, mut a, mut t, mut m) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut objects = Vec::new();
        let t0 = Instant::now();
        let (shape, pool, seed) = (&self.recipe.clip, self.recipe.data_pool, self.recipe.seed);
        for start in (0..n).step_by(64) {
            let idx: Vec<usize> = (start..(start + 64).min(n)).collect();
            let clips = idx
                .par_iter()
                .map(|&i| draw_clip(shape, pool, &mut Rng::stream(seed ^ 0xCAC4E, i as u64)))
                .collect::<Result<Vec<_>>>()?;
            for (clip, &i) in clips.iter().zip(&idx) {
                let x = self.video_tensor(&[(clip, 0, self.recipe.clip.frames)])?;
                let z = vae.encode(&x)?.mean.squeeze(0)?;
                let (_, f, h, w) = z.dims4()?;
                objects.extend(self.clip_object_mask(clip, (f, h, w)));
                v.push(z);
                let lm = avae.pad_log_mel(
                    &mel.log_mel_tensor(&clip.audio, &self.device)?
                        .unsqueeze(0)?,
                )?;
                a.push(avae.encode(&lm)?.0.squeeze(0)?);
                let (tt, tm) = self.text_tokens(&[clip.text.as_str()])?;
                t.push(tt.squeeze(0)?);
                m.push(tm.squeeze(0)?);
                on_event(&TrainEvent::progress("latents", i + 1, n, t0));
            }
        }
        let video = Tensor::stack(&v, 0)?;
        let (_, _, f, h, w) = video.dims5()?;
        let cache = LatentCache {
            objects: Some(Tensor::from_vec(objects, (n, 1, f, h, w), &self.device)?),
            video,
            audio: Tensor::stack(&a, 0)?,
            text: Tensor::stack(&t, 0)?,
            text_mask: Tensor::stack(&m, 0)?,
        };
        let mut all = HashMap::new();
        if let Some(o) = &cache.objects {
            all.insert("objects".to_string(), o.clone());
        }
        all.insert("video".to_string(), cache.video.clone());
        all.insert("audio".to_string(), cache.audio.clone());
        all.insert("text".to_string(), cache.text.clone());
        all.insert("text_mask".to_string(), cache.text_mask.clone());
        write_atomic(&path, &all)?;
        Ok(cache)
    }

    /// Object masks for a latent cache written before they were kept: the clips are drawn
    /// again (the same streams) for their boxes only. Each redrawn clip's text must encode
    /// to the cached tokens, or the cache was drawn by another recipe (seed, pool, clip
    /// shape) or world, and its masks would mark the wrong cells.
    fn add_object_masks(
        &self,
        path: &Path,
        cache: &LatentCache,
        on_event: &mut dyn FnMut(&TrainEvent),
    ) -> Result<Tensor> {
        let (_, _, f, h, w) = cache.video.dims5()?;
        let n = cache.video.dim(0)?;
        let (shape, pool, seed) = (&self.recipe.clip, self.recipe.data_pool, self.recipe.seed);
        // Only each clip's caption and mask are kept (a whole clip is ~2.5 MB).
        let drawn = (0..n)
            .into_par_iter()
            .map(|i| {
                let clip = draw_clip(shape, pool, &mut Rng::stream(seed ^ 0xCAC4E, i as u64))?;
                Ok((clip.text.clone(), self.clip_object_mask(&clip, (f, h, w))))
            })
            .collect::<Result<Vec<_>>>()?;
        let t0 = Instant::now();
        let mut masks = Vec::with_capacity(n * f * h * w);
        for (i, (text, mask)) in drawn.into_iter().enumerate() {
            let (tokens, _) = self.text_tokens(&[text.as_str()])?;
            let cached = cache.text.get(i)?.unsqueeze(0)?;
            if tokens.dims() != cached.dims() {
                return Err(EngineError::Invalid(format!(
                    "{}: text tokens {:?}, this recipe makes {:?}: the cache was made by \
                     another recipe; use a new run folder",
                    path.display(),
                    cached.dims(),
                    tokens.dims()
                )));
            }
            // Another caption differs by ~0.1-1; builds and machines by ~1e-5.
            let off = (tokens - cached)?.abs()?.max_all()?.to_scalar::<f32>()?;
            if off > 1e-2 {
                return Err(EngineError::Invalid(format!(
                    "{}: clip {i} is not the clip this recipe draws there (its caption's text \
                     tokens differ by {off}): object masks cannot be added; use a cache made \
                     by this recipe or a new run folder",
                    path.display()
                )));
            }
            masks.extend(mask);
            on_event(&TrainEvent::progress("object masks", i + 1, n, t0));
        }
        Ok(Tensor::from_vec(masks, (n, 1, f, h, w), &self.device)?)
    }

    /// Writes the model folder; without a DiT (`dit` None) a partial one of the VAEs and
    /// the vocoder only.
    fn export(
        &self,
        out: &Path,
        dit: Option<(&TwinConfig, &HashMap<String, Tensor>)>,
        video: &HashMap<String, Tensor>,
        audio: &HashMap<String, Tensor>,
        vocoder: &HashMap<String, Tensor>,
    ) -> Result<ModelFolder> {
        let r = &self.recipe;
        let mut w = FolderWriter::new(out)?;
        if dit.is_some() {
            for file in ["text_encoder.safetensors", "tokenizer.json"] {
                let (src, dst) = (self.text_source.join(file), out.join(file));
                if src != dst {
                    fs::copy(&src, &dst).map_err(|e| st_err(&src, e))?;
                }
            }
            w.add_existing(
                "text_encoder",
                "text_encoder.safetensors",
                serde_json::json!({"preset": "all-MiniLM-L6-v2"}),
            )?;
            w.add_extra_file("text_encoder", "tokenizer.json")?;
        }
        let json = |v: &dyn erased::Ser| v.value();
        w.write_component("video_vae", video, DType::F16, json(&r.video_vae_config))?;
        w.write_component("audio_vae", audio, DType::F16, json(&r.audio_vae_config))?;
        w.write_component("vocoder", vocoder, DType::F32, json(&r.vocoder_config))?;
        if let Some((twin, dit)) = dit {
            w.write_component("dit", dit, DType::F16, json(twin))?;
        }
        let media = MediaSpec {
            fps: r.clip.fps,
            sizes: vec![(r.clip.width, r.clip.height)],
            max_seconds: 20.0,
            audio_sample_rate: r.clip.sample_rate,
        };
        let initialised: serde_json::Map<_, _> = ["video_vae", "audio_vae", "vocoder", "dit"]
            .iter()
            .filter_map(|s| {
                let note = fs::read_to_string(self.run_dir.join(s).join("init.json")).ok()?;
                Some((s.to_string(), serde_json::from_str(&note).ok()?))
            })
            .collect();
        let steps_behind_map: serde_json::Map<_, _> = [
            ("video_vae", &r.video_vae),
            ("audio_vae", &r.audio_vae),
            ("vocoder", &r.vocoder),
            ("dit", &r.dit),
        ]
        .into_iter()
        .filter(|(s, _)| *s != "dit" || dit.is_some())
        .map(|(s, spec)| {
            let dir = self.run_dir.join(s);
            let n = match fs::read_to_string(dir.join(REUSED_STEPS)) {
                Ok(t) => t.trim().parse().unwrap_or(0),
                Err(_) => {
                    self.stage_steps(s, spec) as u64
                        + initialised
                            .get(s)
                            .and_then(|i| i["steps_before"].as_u64())
                            .unwrap_or(0)
                }
            };
            (s.to_string(), serde_json::Value::from(n))
        })
        .collect();
        let training = serde_json::json!({
            "recipe": r,
            "steps": {
                "video_vae": self.stage_steps("video_vae", &r.video_vae),
                "audio_vae": self.stage_steps("audio_vae", &r.audio_vae),
                "vocoder": self.stage_steps("vocoder", &r.vocoder),
                "dit": if dit.is_some() { self.stage_steps("dit", &r.dit) } else { 0 },
            },
            "partial": dit.is_none(),
            "reused": REUSABLE_STAGES
                .iter()
                .filter_map(|s| {
                    let note = fs::read_to_string(self.run_dir.join(s).join("reused.txt")).ok()?;
                    Some((s.to_string(), serde_json::Value::String(note.trim().to_string())))
                })
                .collect::<serde_json::Map<_, _>>(),
            "steps_behind": steps_behind_map,
            "initialised_from": initialised,
            "latent_clips": if self.dit_reused() { None } else { Some(r.latent_clips) },
        });
        let name = match dit {
            Some(_) => format!("kino-{}", r.name),
            None => format!("kino-{}-stages", r.name),
        };
        Ok(w.finish(
            &name,
            FAMILY,
            "Apache-2.0 (text encoder: all-MiniLM-L6-v2, Apache-2.0)",
            "kino's own joint audio-video model, trained on procedural-world clips",
            media,
            training,
        )?)
    }
}

mod erased {
    /// Serialises any config to a JSON value (configs are plain data; failure is a bug).
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).expect("config serialises")
        }
    }
}

/// Encoded training clips.
pub struct LatentCache {
    /// (N, Cv, F, h, w) raw VAE means.
    pub video: Tensor,
    /// (N, Ca, T) raw VAE means.
    pub audio: Tensor,
    /// (N, L, 384) text tokens and (N, L) mask.
    pub text: Tensor,
    pub text_mask: Tensor,
    /// (N, 1, F, h, w): 1 on the latent cells that hold an object (see
    /// [`latent_object_mask`]), 0 elsewhere; `None` for a cache written before masks were
    /// kept, when the recipe does not weight objects.
    pub objects: Option<Tensor>,
}

/// Names a folder's weights for the records of a run: model name, file and the start of
/// its SHA-256 (machine-independent, unlike the path).
fn weights_note(stage: &str, folder: &ModelFolder, path: &Path) -> String {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let sha = folder
        .component(stage)
        .map(|c| c.sha256.chars().take(16).collect::<String>())
        .unwrap_or_default();
    format!("{} {file} (sha256 {sha}...)", folder.manifest().name)
}

/// File in a reused stage's folder: the training steps behind the weights it took.
const REUSED_STEPS: &str = "reused-steps.txt";

/// The training steps behind stage `name`'s weights in `folder`, over every run that led to
/// them: the folder's own steps plus those behind the weights its run started from or
/// reused (`training.steps_behind`; folders written before it: steps + steps_before).
fn steps_behind(folder: &ModelFolder, name: &str) -> u64 {
    let t = &folder.manifest().training;
    if let Some(n) = t["steps_behind"][name].as_u64() {
        return n;
    }
    t["steps"][name].as_u64().unwrap_or(0)
        + t["initialised_from"][name]["steps_before"]
            .as_u64()
            .unwrap_or(0)
}

/// Whether two (video VAE, audio VAE) weight pairs have the same encoders: latents are the
/// encoders' outputs, so a retrained decoder keeps their meaning.
fn same_encoders(
    a: (&HashMap<String, Tensor>, &HashMap<String, Tensor>),
    b: (&HashMap<String, Tensor>, &HashMap<String, Tensor>),
) -> Result<bool> {
    Ok(same_weights(&encoder_part(a.0), &encoder_part(b.0))?
        && same_weights(&encoder_part(a.1), &encoder_part(b.1))?)
}

/// The encoder's weights of an autoencoder's weight set (`encoder.*`).
fn encoder_part(w: &HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    w.iter()
        .filter(|(k, _)| k.starts_with("encoder."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Whether two weight sets hold the same tensors (names, shapes and values).
fn same_weights(a: &HashMap<String, Tensor>, b: &HashMap<String, Tensor>) -> Result<bool> {
    if a.len() != b.len() {
        return Ok(false);
    }
    for (k, x) in a {
        let Some(y) = b.get(k) else { return Ok(false) };
        if x.dims() != y.dims() || (x - y)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()? != 0.0
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Per-channel latent statistics.
#[derive(Debug, Clone)]
pub struct LatentStats {
    pub video_mean: Vec<f32>,
    pub video_std: Vec<f32>,
    pub audio_mean: Vec<f32>,
    pub audio_std: Vec<f32>,
}

fn channel_stats(x: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
    // x: (N, C, ...) -> per-channel mean / std.
    let c = x.dim(1)?;
    let flat = x.transpose(0, 1)?.contiguous()?.reshape((c, ()))?;
    let mean = flat.mean(1)?;
    let std = flat
        .broadcast_sub(&mean.unsqueeze(1)?)?
        .sqr()?
        .mean(1)?
        .sqrt()?;
    let std: Vec<f32> = std
        .to_vec1::<f32>()?
        .into_iter()
        .map(|s| s.max(1e-3))
        .collect();
    Ok((mean.to_vec1()?, std))
}

impl LatentStats {
    pub fn of(cache: &LatentCache) -> Result<Self> {
        let (video_mean, video_std) = channel_stats(&cache.video)?;
        let (audio_mean, audio_std) = channel_stats(&cache.audio)?;
        Ok(Self {
            video_mean,
            video_std,
            audio_mean,
            audio_std,
        })
    }

    fn norm(x: &Tensor, mean: &[f32], std: &[f32]) -> Result<Tensor> {
        let mut shape = vec![1, mean.len()];
        shape.extend(std::iter::repeat_n(1, x.rank() - 2));
        let m = Tensor::from_vec(mean.to_vec(), shape.clone(), x.device())?;
        let s = Tensor::from_vec(std.to_vec(), shape, x.device())?;
        Ok(x.broadcast_sub(&m)?.broadcast_div(&s)?)
    }

    pub fn normalise_video(&self, x: &Tensor) -> Result<Tensor> {
        Self::norm(x, &self.video_mean, &self.video_std)
    }

    pub fn normalise_audio(&self, x: &Tensor) -> Result<Tensor> {
        Self::norm(x, &self.audio_mean, &self.audio_std)
    }
}

/// The mean of `diff^2` (B, C, F, h, w) under per-cell weights (B, 1, F, h, w), shared by
/// every channel: `sum(w diff^2) / (C sum(w))`.
fn weighted_mean_sq(diff: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let c = diff.dim(1)?;
    Ok((diff.sqr()?.broadcast_mul(weight)?.sum_all()?
        / (weight.sum_all()?.to_scalar::<f32>()? as f64 * c as f64))?)
}

/// The pixels `lo..hi` of an object box's side, grown by 2 px and clamped to `0..size`.
fn grown_span(lo: f32, hi: f32, size: usize) -> std::ops::Range<usize> {
    let lo = (lo - 2.0).floor().clamp(0.0, size as f32) as usize;
    let hi = (hi + 2.0).ceil().clamp(0.0, size as f32) as usize;
    lo..hi
}

/// `(1 - sigma) x0 + sigma eps` and the flow-matching target `eps - x0`, with `sigma` of
/// shape (B) broadcast over the other axes: what training regresses and
/// [`crate::flow_loss`] measures.
pub(crate) fn noised_and_target(
    x0: &Tensor,
    eps: &Tensor,
    sigma: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let mut shape = vec![sigma.dim(0)?];
    shape.resize(x0.rank(), 1);
    let s = sigma.reshape(shape)?;
    let x = (x0.broadcast_mul(&(1.0 - &s)?)? + eps.broadcast_mul(&s)?)?;
    Ok((x, eps.broadcast_sub(x0)?))
}

/// The per-cell weights (B, 1, F, h, w) of the DiT's video loss: `frames` (B, 1, F, 1, 1;
/// 0 on a first-frame-conditioned row's first latent frame, else 1) times `1 + extra` on the
/// cells `objects` (B, 1, F, h, w; 0/1) marks, or times 1 everywhere without them.
fn video_loss_weights(
    frames: &Tensor,
    objects: Option<&Tensor>,
    extra: f64,
    (h, w): (usize, usize),
) -> Result<Tensor> {
    let (b, _, f, _, _) = frames.dims5()?;
    Ok(match objects {
        Some(o) if extra > 0.0 => ((o * extra)? + 1.0)?.broadcast_mul(frames)?,
        _ => frames.broadcast_as((b, 1, f, h, w))?.contiguous()?,
    })
}

/// Which cells of a causal video VAE's latent grid `(f, h, w)` hold an object: 1 where an
/// object's box (pixels `[x0, y0, x1, y1]` of a `width x height` frame, grown by 2 px)
/// overlaps the cell's pixels in any frame the latent frame stands for (latent frame 0 is
/// frame 0, latent frame `j >= 1` frames `tf (j - 1) + 1 ..= tf j`), 0 elsewhere; `f * h * w`
/// values, frame-major. Frames past `boxes` hold no object.
pub fn latent_object_mask(
    boxes: &[Vec<[f32; 4]>],
    (width, height): (usize, usize),
    tf: usize,
    (f, h, w): (usize, usize, usize),
) -> Vec<f32> {
    let mut mask = vec![0f32; f * h * w];
    if h == 0 || w == 0 {
        return mask;
    }
    // Cell x covers pixels [x * width / w, (x + 1) * width / w).
    let cells = |lo: f32, hi: f32, size: usize, n: usize| {
        let px = grown_span(lo, hi, size);
        if px.is_empty() {
            return 0..0;
        }
        (px.start * n / size)..(px.end * n).div_ceil(size).min(n)
    };
    for j in 0..f {
        let frames = if j == 0 {
            0..1
        } else {
            tf * (j - 1) + 1..tf * j + 1
        };
        let plane = &mut mask[j * h * w..][..h * w];
        for frame in frames {
            for bb in boxes.get(frame).map(Vec::as_slice).unwrap_or(&[]) {
                for y in cells(bb[1], bb[3], height, h) {
                    for x in cells(bb[0], bb[2], width, w) {
                        plane[y * w + x] = 1.0;
                    }
                }
            }
        }
    }
    mask
}

/// Flow-matching loss of the twin DiT on a random batch of cached, normalised latents.
#[allow(clippy::too_many_arguments)]
pub fn dit_loss(
    dit: &TwinDit,
    r: &Recipe,
    video: &Tensor,
    audio: &Tensor,
    text: &Tensor,
    text_mask: &Tensor,
    objects: Option<&Tensor>,
    empty: &(Tensor, Tensor),
    vtimes: &[f64],
    atimes: &[f64],
    rng: &mut Rng,
) -> Result<Tensor> {
    let dev = video.device();
    let n = video.dim(0)?;
    let b = r.dit.batch;
    let idx: Vec<u32> = (0..b).map(|_| rng.below(n) as u32).collect();
    let idx_t = Tensor::from_vec(idx, b, dev)?;
    let x0v = video.index_select(&idx_t, 0)?;
    let x0a = audio.index_select(&idx_t, 0)?;
    let mut tt = text.index_select(&idx_t, 0)?;
    let mut tm = text_mask.index_select(&idx_t, 0)?;
    // Text dropout: replace rows by the empty prompt.
    let drop: Vec<bool> = (0..b).map(|_| rng.chance(r.p_drop_text as f32)).collect();
    if drop.iter().any(|d| *d) {
        let rows_t = (0..b)
            .map(|i| if drop[i] { empty.0.get(0) } else { tt.get(i) })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let rows_m = (0..b)
            .map(|i| if drop[i] { empty.1.get(0) } else { tm.get(i) })
            .collect::<candle_core::Result<Vec<_>>>()?;
        tt = Tensor::stack(&rows_t, 0)?;
        tm = Tensor::stack(&rows_m, 0)?;
    }
    // Logit-normal flow times (SD3): sigma = sigmoid(N(0, 1)).
    let mut sig_rng = Rng::stream(rng.next_u64(), 0);
    let sig: Vec<f32> = (0..b)
        .map(|_| sig_rng.normal())
        .map(|z| 1.0 / (1.0 + (-z).exp()))
        .collect();
    let sigma = Tensor::from_vec(sig.clone(), b, dev)?;
    let ev = noise::randn(rng.next_u64(), 1, x0v.shape(), dev)?;
    let ea = noise::randn(rng.next_u64(), 2, x0a.shape(), dev)?;
    let (mut xv, target_v) = noised_and_target(&x0v, &ev, &sigma)?;
    let (xa, target_a) = noised_and_target(&x0a, &ea, &sigma)?;
    // First-frame conditioning on some samples: clean first latent frame, flagged, no loss.
    let (_, cv, f, h, w) = x0v.dims5()?;
    let cond_rows: Vec<bool> = (0..b).map(|_| rng.chance(r.p_first_frame as f32)).collect();
    let mut cond = Tensor::zeros((b, cv + 1, f, h, w), DType::F32, dev)?;
    let mut weight = Tensor::ones((b, 1, f, 1, 1), DType::F32, dev)?;
    if cond_rows.iter().any(|c| *c) && f > 1 {
        let mut xs = Vec::with_capacity(b);
        let mut cs = Vec::with_capacity(b);
        let mut ws = Vec::with_capacity(b);
        for (i, &c) in cond_rows.iter().enumerate() {
            let x = xv.get(i)?;
            if c {
                let first = x0v.get(i)?.narrow(1, 0, 1)?;
                xs.push(Tensor::cat(&[&first, &x.narrow(1, 1, f - 1)?], 1)?);
                let head =
                    Tensor::cat(&[&first, &Tensor::ones((1, 1, h, w), DType::F32, dev)?], 0)?;
                cs.push(Tensor::cat(
                    &[
                        &head,
                        &Tensor::zeros((cv + 1, f - 1, h, w), DType::F32, dev)?,
                    ],
                    1,
                )?);
                ws.push(Tensor::cat(
                    &[
                        &Tensor::zeros((1, 1, 1, 1), DType::F32, dev)?,
                        &Tensor::ones((1, f - 1, 1, 1), DType::F32, dev)?,
                    ],
                    1,
                )?);
            } else {
                xs.push(x);
                cs.push(Tensor::zeros((cv + 1, f, h, w), DType::F32, dev)?);
                ws.push(Tensor::ones((1, f, 1, 1), DType::F32, dev)?);
            }
        }
        xv = Tensor::stack(&xs, 0)?;
        cond = Tensor::stack(&cs, 0)?;
        weight = Tensor::stack(&ws, 0)?;
    }
    let audio_cond = Tensor::zeros((b, x0a.dim(1)? + 1, x0a.dim(2)?), DType::F32, dev)?;
    let (pv, pa) = dit.forward(&DitInput {
        video: &xv,
        video_cond: &cond,
        video_times: vtimes,
        audio: &xa,
        audio_cond: &audio_cond,
        audio_times: atimes,
        video_t: &sigma,
        audio_t: &sigma,
        text: &tt,
        text_mask: &tm,
    })?;
    let objects = objects
        .filter(|_| r.dit_object_weight > 0.0)
        .map(|o| o.index_select(&idx_t, 0))
        .transpose()?;
    let weight = video_loss_weights(&weight, objects.as_ref(), r.dit_object_weight, (h, w))?;
    let lv = weighted_mean_sq(&(pv - target_v)?, &weight)?;
    let la = (pa - target_a)?.sqr()?.mean_all()?;
    Ok((lv + (la * r.audio_loss_weight)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_cells_weigh_more_in_the_dit_loss() -> Result<()> {
        // Two channels, 1 frame of 2x2 cells; error 1 everywhere but 3 on cell (0, 1).
        let dev = Device::Cpu;
        let diff = Tensor::from_vec(
            vec![1f32, 3.0, 1.0, 1.0, 1.0, 3.0, 1.0, 1.0],
            (1, 2, 1, 2, 2),
            &dev,
        )?;
        let plain = Tensor::ones((1, 1, 1, 2, 2), DType::F32, &dev)?;
        let l = weighted_mean_sq(&diff, &plain)?.to_scalar::<f32>()?;
        assert!((l - (3.0 + 9.0) / 4.0).abs() < 1e-6, "{l}");
        // The object cell counts 1 + 10 times: (3 * 1 + 11 * 9) / (3 + 11).
        let mask = Tensor::from_vec(vec![0f32, 1.0, 0.0, 0.0], (1, 1, 1, 2, 2), &dev)?;
        let w = ((mask * 10.0)? + 1.0)?;
        let l = weighted_mean_sq(&diff, &w)?.to_scalar::<f32>()?;
        assert!((l - 102.0 / 14.0).abs() < 1e-5, "{l}");
        Ok(())
    }

    #[test]
    fn loss_weights_combine_first_frame_rows_and_object_cells() -> Result<()> {
        // Two rows, 2 latent frames of 1x2 cells; row 1 is first-frame conditioned.
        let dev = Device::Cpu;
        let frames = Tensor::from_vec(vec![1f32, 1.0, 0.0, 1.0], (2, 1, 2, 1, 1), &dev)?;
        let objects = Tensor::from_vec(
            vec![1f32, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0],
            (2, 1, 2, 1, 2),
            &dev,
        )?;
        let w = video_loss_weights(&frames, Some(&objects), 4.0, (1, 2))?;
        assert_eq!(
            w.flatten_all()?.to_vec1::<f32>()?,
            [5.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 5.0],
            "objects x5, the conditioned first frame 0 whatever it holds"
        );
        let plain = video_loss_weights(&frames, Some(&objects), 0.0, (1, 2))?;
        assert_eq!(
            plain.flatten_all()?.to_vec1::<f32>()?,
            [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
        );
        assert_eq!(
            video_loss_weights(&frames, None, 4.0, (1, 2))?
                .flatten_all()?
                .to_vec1::<f32>()?,
            plain.flatten_all()?.to_vec1::<f32>()?
        );
        Ok(())
    }

    #[test]
    fn noising_mixes_by_sigma_and_the_target_is_noise_minus_data() -> Result<()> {
        let dev = Device::Cpu;
        let x0 = Tensor::from_vec(vec![2f32, 4.0], (2, 1, 1), &dev)?;
        let eps = Tensor::from_vec(vec![-1f32, 1.0], (2, 1, 1), &dev)?;
        let sigma = Tensor::from_vec(vec![0.25f32, 1.0], 2, &dev)?;
        let (x, t) = noised_and_target(&x0, &eps, &sigma)?;
        assert_eq!(x.flatten_all()?.to_vec1::<f32>()?, [1.25, 1.0]);
        assert_eq!(t.flatten_all()?.to_vec1::<f32>()?, [-3.0, -3.0]);
        // One clean clip against a batch of noise (held-out loss): (1, C, F, h, w) x (2, ...).
        let x0 = Tensor::ones((1, 2, 1, 1, 2), DType::F32, &dev)?;
        let eps = Tensor::zeros((2, 2, 1, 1, 2), DType::F32, &dev)?;
        let sigma = Tensor::from_vec(vec![0.5f32, 0.25], 2, &dev)?;
        let (x, t) = noised_and_target(&x0, &eps, &sigma)?;
        assert_eq!(x.dims(), [2, 2, 1, 1, 2]);
        assert_eq!(
            x.flatten_all()?.to_vec1::<f32>()?,
            [0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75]
        );
        assert_eq!(t.flatten_all()?.to_vec1::<f32>()?, [-1.0; 8]);
        Ok(())
    }

    #[test]
    fn the_latent_object_mask_marks_the_cells_an_object_touches() {
        // 64x32 frames, latent grid 8x4 (8 px cells), temporal factor 4, 9 frames -> 3.
        let mut boxes = vec![Vec::new(); 9];
        boxes[0] = vec![[20.0, 10.0, 26.0, 14.0]]; // x 18..28 -> cells 2..=3, y 8..16 -> 1
        boxes[6] = vec![[60.0, 0.0, 70.0, 3.0]]; // clamped: x 58..64 -> 7, y 0..5 -> 0
        let m = latent_object_mask(&boxes, (64, 32), 4, (3, 4, 8));
        let on = |j: usize| -> Vec<(usize, usize)> {
            (0..32)
                .filter(|k| m[j * 32 + k] == 1.0)
                .map(|k| (k / 8, k % 8))
                .collect()
        };
        assert_eq!(on(0), vec![(1, 2), (1, 3)]);
        assert_eq!(on(1), vec![], "frames 1..=4 hold nothing");
        assert_eq!(on(2), vec![(0, 7)], "frame 6 belongs to latent frame 2");
        assert_eq!(m.iter().filter(|v| **v != 0.0 && **v != 1.0).count(), 0);
        // The boundary between latent frames 1 and 2 lies between frames 4 and 5.
        let mut edge = vec![Vec::new(); 9];
        edge[4] = vec![[4.0, 4.0, 5.0, 5.0]]; // cell (0, 0)
        edge[5] = vec![[44.0, 20.0, 45.0, 21.0]]; // cell (2, 5)
        let m = latent_object_mask(&edge, (64, 32), 4, (3, 4, 8));
        assert_eq!(m[32..64].iter().sum::<f32>(), 1.0);
        assert_eq!(m[32], 1.0, "frame 4 -> latent frame 1");
        assert_eq!(m[64..].iter().sum::<f32>(), 1.0);
        assert_eq!(m[64 + 2 * 8 + 5], 1.0, "frame 5 -> latent frame 2");
        assert_eq!(m[..32].iter().sum::<f32>(), 0.0);
        // A box outside the frame marks nothing; frames past the boxes list hold nothing.
        let m = latent_object_mask(
            &[vec![[-40.0, -40.0, -10.0, -10.0]]],
            (64, 32),
            4,
            (3, 4, 8),
        );
        assert!(m.iter().all(|v| *v == 0.0));
        let m = latent_object_mask(&[vec![[12.0, 12.0, 13.0, 13.0]]], (64, 32), 4, (3, 4, 8));
        assert_eq!(m.iter().sum::<f32>(), 1.0, "only latent frame 0 has a box");
    }

    #[test]
    fn a_resumed_stage_drops_the_log_rows_after_its_checkpoint() {
        let dir = std::env::temp_dir().join(format!("kino-loss-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("loss.csv");
        let rows: String = (1..=7)
            .map(|s| format!("{s},0.5,1e-3,0.1,{s}.0\n"))
            .collect();
        fs::write(&path, format!("step,loss,lr,grad_norm,seconds\n{rows}")).unwrap();
        keep_logged_steps(&path, 4).unwrap();
        let kept = fs::read_to_string(&path).unwrap();
        let steps: Vec<&str> = kept.lines().map(|l| l.split(',').next().unwrap()).collect();
        assert_eq!(steps, ["step", "1", "2", "3", "4"]);
        // Nothing after the checkpoint: the file is left as it is.
        keep_logged_steps(&path, 4).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), kept);
        // A stage that restarts from step 0 starts a new log; a missing log is fine.
        keep_logged_steps(&path, 0).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "");
        keep_logged_steps(&dir.join("absent.csv"), 3).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
