//! `kino generate`, `kino remix`, `kino extend`: the main job.
//!
//! Every clip they write carries provenance: the frames get kino's invisible watermark before
//! encoding and the MP4 a signed C2PA manifest (`kino_provenance::stamp`), with the signing
//! key from the data directory (made on first use).

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::ProgressBar;
use kino_engine::pipeline::{GenerateOptions, Generated, Pipeline, Progress};
use kino_engine::sampler::Solver;
use kino_engine::twin::{TwinModel, TwinPipeline};
use kino_engine::wan::WanModel;
use kino_models::diffusers_folder::DiffusersFolder;
use kino_models::folder::ModelFolder;
use kino_provenance::credentials::{Credentials, Parent, ProvenanceKey};
use kino_provenance::stamp;
use kino_server::api::PromptPolicy;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::plan::{parse_plan, prompt_file, read_prompt};
use crate::progress;
use crate::safety::OutputCheck;
use kino_provenance::visible::VisibleMark;

/// Sampling options shared by generate, remix and extend.
#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    /// Model folder (default: $KINO_MODEL, else the kino-tiny model shipped with kino).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Random seed (default: the prompt's `Seed:` setting, else 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Denoising steps per shot.
    #[arg(long, default_value_t = 12)]
    pub steps: usize,
    /// Guidance scale for video (1 = off); audio uses --audio-guidance.
    #[arg(long, default_value_t = 4.0)]
    pub guidance: f64,
    #[arg(long, default_value_t = 3.0)]
    pub audio_guidance: f64,
    /// ODE solver: unipc or euler.
    #[arg(long, default_value = "unipc")]
    pub solver: String,
    /// Schedule shift (>1 spends more steps at high noise).
    #[arg(long, default_value_t = 2.0)]
    pub shift: f64,
    /// Output size WxH (default: the prompt's `Size:` if written, else the model's own).
    #[arg(long)]
    pub size: Option<String>,
    /// Frames per second (default: the model's).
    #[arg(long)]
    pub fps: Option<u32>,
    /// Where the networks run: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Holds the provenance key every clip is signed with.
    #[command(flatten)]
    pub data: crate::keys::DataDirArg,
    /// The content policy on the prompt and on the generated frames.
    #[command(flatten)]
    pub safety: crate::safety::SafetyArgs,
    #[command(flatten)]
    pub visible: crate::publish::VisibleMarkArgs,
}

/// Refuses a prompt the content policy does not allow, before any model is loaded. The
/// policy is returned so that the caller keeps it while it loads the generator: its text
/// encoder is then shared, not loaded twice (`TextEncoder::load_shared`).
fn check_prompt(prompt: &str, args: &SampleArgs) -> Result<Arc<dyn PromptPolicy>> {
    let dir = args.model.clone().unwrap_or_else(default_model_dir);
    let policy = args.safety.prompt_policy(&dir)?;
    if let Err(reason) = policy.check(prompt) {
        bail!("refused: {reason}");
    }
    Ok(policy)
}

/// Refuses a `--model` that is no model folder before anything else is loaded (the content
/// policy would otherwise report first that it found no text encoder there).
fn check_model_dir(model: Option<&Path>) -> Result<()> {
    let Some(dir) = model else { return Ok(()) };
    if DiffusersFolder::is_diffusers_folder(dir) {
        return Ok(());
    }
    ModelFolder::open(dir).with_context(|| format!("--model {}", dir.display()))?;
    Ok(())
}

/// The model kino uses when none is named.
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KINO_MODEL") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-tiny")
}

/// Any pipeline kino runs, ready to share between threads.
pub type DynPipeline = Box<dyn Pipeline + Send + Sync>;

/// Loads the model a folder holds: a kino model (`kino-model.json`) or a Wan diffusers
/// folder (`model_index.json`).
pub fn load_pipeline(model: Option<&Path>, device: &str) -> Result<DynPipeline> {
    let dir = model
        .map(Path::to_path_buf)
        .unwrap_or_else(default_model_dir);
    if DiffusersFolder::is_diffusers_folder(&dir) {
        let device = crate::device::parse(device)?;
        let dtype = kino_engine::wan::compute_dtype(&device);
        let spinner = progress::spinner("loading model");
        let model = WanModel::load(&dir, dtype, &device)
            .with_context(|| format!("loading {}", dir.display()))?;
        spinner.finish_and_clear();
        return Ok(Box::new(model));
    }
    Ok(Box::new(load_twin(model, device)?))
}

/// Loads a kino model folder (the default: the shipped kino-tiny).
pub fn load_twin(model: Option<&Path>, device: &str) -> Result<TwinPipeline> {
    let device = crate::device::parse(device)?;
    let dir = model
        .map(Path::to_path_buf)
        .unwrap_or_else(default_model_dir);
    if model.is_none() && !dir.join(kino_models::folder::MANIFEST).is_file() {
        bail!(
            "no model at {}: the default model kino-tiny has not been trained and shipped yet (issue 6). \
             Train one with `kino train --recipe tiny` and pass --model DIR (or set KINO_MODEL)",
            dir.display()
        );
    }
    let spinner = progress::spinner("loading model");
    let folder = ModelFolder::open(&dir)
        .with_context(|| format!("opening model folder {}", dir.display()))?;
    let model = TwinModel::load(&folder, &device)?;
    spinner.finish_and_clear();
    Ok(TwinPipeline::new(model))
}

/// Draws one bar per stage on stderr.
pub struct Bars {
    bar: Option<ProgressBar>,
}

impl Bars {
    pub fn new() -> Self {
        Self { bar: None }
    }
}

impl Progress for Bars {
    fn stage(&mut self, name: &str, total: u64) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
        self.bar = Some(progress::bar(name, total));
    }
    fn set(&mut self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("size '{s}': expected WxH, e.g. 128x128"))?;
    Ok((
        w.trim()
            .parse()
            .with_context(|| format!("size '{s}': bad width"))?,
        h.trim()
            .parse()
            .with_context(|| format!("size '{s}': bad height"))?,
    ))
}

fn options(args: &SampleArgs, plan: &kino_prompt::ShotPlan) -> Result<GenerateOptions> {
    let solver = Solver::parse(&args.solver)
        .with_context(|| format!("solver '{}': expected unipc or euler", args.solver))?;
    let size = match &args.size {
        Some(s) => Some(parse_size(s)?),
        None if plan.clip.spans.size.is_some() || plan.clip.spans.aspect.is_some() => {
            Some((plan.clip.width, plan.clip.height))
        }
        None => None,
    };
    let opts = GenerateOptions {
        seed: args.seed.or(plan.clip.seed).unwrap_or(0),
        steps: args.steps,
        video_guidance: args.guidance,
        audio_guidance: args.audio_guidance,
        solver,
        shift: args.shift,
        size,
        fps: args
            .fps
            .or(plan.clip.spans.fps.is_some().then_some(plan.clip.fps)),
        seconds: None,
        first_frame: None,
        last_frame: None,
    };
    // Before any model is loaded; the message names the flag.
    opts.check().map_err(|e| {
        let m = e.to_string();
        let named = [
            ("video guidance", "--guidance"),
            ("audio guidance", "--audio-guidance"),
            ("shift", "--shift"),
            ("steps", "--steps"),
        ]
        .into_iter()
        .find_map(|(setting, flag)| m.strip_prefix(setting).map(|rest| format!("{flag}{rest}")));
        anyhow::anyhow!(named.unwrap_or(m))
    })?;
    Ok(opts)
}

/// The model's name and a version string for the manifest: its family and a digest of its
/// weight files' SHA-256s (from `kino-model.json`).
pub fn model_identity(model: Option<&Path>) -> Result<(String, String)> {
    let dir = model
        .map(Path::to_path_buf)
        .unwrap_or_else(default_model_dir);
    if DiffusersFolder::is_diffusers_folder(&dir) {
        return diffusers_identity(&dir);
    }
    let folder = ModelFolder::open(&dir)
        .with_context(|| format!("opening model folder {}", dir.display()))?;
    let m = folder.manifest();
    let mut h = Sha256::new();
    for (name, c) in &m.components {
        h.update(name.as_bytes());
        h.update(b":");
        h.update(c.sha256.as_bytes());
        h.update(b"\n");
    }
    let digest: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((m.name.clone(), format!("{} weights {digest}", m.family)))
}

/// A diffusers folder's name and version: its pipeline class and a digest of every
/// component's config and weight file names and sizes (hashing tens of GB of weights on every
/// run would take minutes).
fn diffusers_identity(dir: &Path) -> Result<(String, String)> {
    let folder = DiffusersFolder::open(dir)?;
    let mut h = Sha256::new();
    for (name, _) in folder.components() {
        let c = folder.component(&name)?;
        h.update(name.as_bytes());
        h.update(c.config_json().as_bytes());
        for w in &c.weights {
            h.update(
                w.file_name()
                    .map(|n| n.as_encoded_bytes())
                    .unwrap_or_default(),
            );
            h.update(
                std::fs::metadata(w)
                    .map(|m| m.len())
                    .unwrap_or(0)
                    .to_le_bytes(),
            );
        }
    }
    let digest: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "diffusers model".into());
    Ok((
        name,
        format!("{} weights {digest}", folder.pipeline_class()),
    ))
}

/// Checks the frames, then watermarks, encodes, signs and writes the clip.
pub(crate) fn finish(
    out: &Path,
    generated: Generated,
    started: Instant,
    key: &ProvenanceKey,
    credentials: Credentials,
    check: &OutputCheck,
    visible: Option<&VisibleMark>,
) -> Result<()> {
    let Generated {
        mut clip,
        seed,
        mut times,
    } = generated;
    if clip.audio.is_none() {
        bail!("the pipeline made no audio");
    }
    let t = Instant::now();
    let nsfw = match check.check(&clip.video) {
        Ok(score) => score,
        Err(reason) => bail!(
            "refused: {reason} Nothing was written to {}.",
            out.display()
        ),
    };
    times.add("output check", t.elapsed().as_secs_f64());
    if let Some(mark) = visible {
        if !mark.draw(&mut clip.video) {
            eprintln!("note: the frames are too small for the visible mark; it was left out");
        }
    }
    let t = Instant::now();
    let stamped = stamp::write(
        out,
        &mut clip,
        key,
        credentials,
        &kino_media::EncodeOptions::default(),
    )
    .with_context(|| format!("writing {}", out.display()))?;
    times.add("mp4+provenance", t.elapsed().as_secs_f64());
    let v = &clip.video;
    eprintln!(
        "wrote {} ({}x{}, {} frames, {:.2} s, {} bytes) in {:.1} s, seed {} [{}]",
        out.display(),
        v.width(),
        v.height(),
        v.len(),
        v.duration_s(),
        stamped.mp4.len(),
        started.elapsed().as_secs_f64(),
        seed,
        times.to_text()
    );
    eprintln!(
        "signed (C2PA) and watermarked: {} (clip id {}); output check passed (highest NSFW score {nsfw:.2})",
        stamped.watermark.payload, stamped.watermark.clip_id
    );
    Ok(())
}

pub fn generate(
    prompt: &str,
    out: &Path,
    seconds: Option<f64>,
    image: Option<&Path>,
    last_frame: Option<&Path>,
    args: &SampleArgs,
) -> Result<()> {
    let started = Instant::now();
    let prompt_file = prompt_file(prompt);
    let inputs: Vec<&Path> = prompt_file
        .iter()
        .copied()
        .chain(image)
        .chain(last_frame)
        .collect();
    kino_media::check_output_path(out, &inputs)?;
    check_model_dir(args.model.as_deref())?;
    let text = read_prompt(prompt)?;
    let plan = parse_plan(&text)?;
    let policy = check_prompt(&text, args)?;
    let check = args.safety.output_check()?;
    let visible = args.visible.mark()?;
    let mut opts = options(args, &plan)?;
    opts.seconds = seconds;
    if let Some(path) = image {
        let img =
            image::open(path).with_context(|| format!("reading first frame {}", path.display()))?;
        opts.first_frame = Some(img.to_rgb8());
    }
    if let Some(path) = last_frame {
        let img =
            image::open(path).with_context(|| format!("reading last frame {}", path.display()))?;
        opts.last_frame = Some(img.to_rgb8());
    }
    let key = crate::keys::load_or_init_provenance(&args.data.resolve())?;
    let pipeline = load_pipeline(args.model.as_deref(), &args.device)?;
    drop(policy); // the generator holds the text encoder now, where it shares it
    if let Some(path) = last_frame {
        check_last_frame(
            pipeline.as_ref(),
            args.model.as_deref(),
            path,
            image.is_some(),
        )?;
    }
    let (model, version) = model_identity(args.model.as_deref())?;
    let generated = pipeline.generate(&plan, &opts, &mut Bars::new())?;
    finish(
        out,
        generated,
        started,
        &key,
        Credentials::created(model, version),
        &check,
        visible.as_ref(),
    )
}

/// `--last-frame` needs a model that takes one and a first frame (`--image`) to start from.
fn check_last_frame(
    pipeline: &dyn Pipeline,
    model: Option<&Path>,
    path: &Path,
    has_image: bool,
) -> Result<()> {
    let dir = model
        .map(Path::to_path_buf)
        .unwrap_or_else(default_model_dir);
    if !pipeline.supports_last_frame() {
        bail!(
            "--last-frame {}: the model {} ({}) takes no last frame; first-and-last-frame video \
             needs a Wan model that has it (Wan 2.2 I2V-A14B, Wan 2.1 FLF2V)",
            path.display(),
            pipeline.name(),
            dir.display()
        );
    }
    if !has_image {
        bail!(
            "--last-frame {}: first-and-last-frame video also needs the first frame (--image)",
            path.display()
        );
    }
    Ok(())
}

/// Reads the source clip, then remixes or extends it.
fn from_clip(
    clip: &Path,
    prompt: &str,
    out: &Path,
    args: &SampleArgs,
    run: impl FnOnce(
        &dyn Pipeline,
        &kino_media::Clip,
        &kino_prompt::ShotPlan,
        &GenerateOptions,
    ) -> Result<Generated>,
) -> Result<()> {
    let started = Instant::now();
    let inputs: Vec<&Path> = prompt_file(prompt).into_iter().chain([clip]).collect();
    kino_media::check_output_path(out, &inputs)?;
    check_model_dir(args.model.as_deref())?;
    let text = read_prompt(prompt)?;
    let plan = parse_plan(&text)?;
    let policy = check_prompt(&text, args)?;
    let check = args.safety.output_check()?;
    let visible = args.visible.mark()?;
    let opts = options(args, &plan)?;
    let source =
        kino_media::read_mp4(clip).with_context(|| format!("reading {}", clip.display()))?;
    let key = crate::keys::load_or_init_provenance(&args.data.resolve())?;
    let pipeline = load_pipeline(args.model.as_deref(), &args.device)?;
    drop(policy); // the generator holds the text encoder now, where it shares it
    let (model, version) = model_identity(args.model.as_deref())?;
    let generated = run(pipeline.as_ref(), &source, &plan, &opts)?;
    let credentials = Credentials::edited(model, version, Parent::File(clip.to_path_buf()));
    finish(
        out,
        generated,
        started,
        &key,
        credentials,
        &check,
        visible.as_ref(),
    )
}

pub fn remix(
    clip: &Path,
    prompt: &str,
    strength: f64,
    out: &Path,
    args: &SampleArgs,
) -> Result<()> {
    from_clip(clip, prompt, out, args, |p, src, plan, opts| {
        Ok(p.remix(src, plan, strength, opts, &mut Bars::new())?)
    })
}

pub fn extend(
    clip: &Path,
    prompt: &str,
    seconds: f64,
    out: &Path,
    args: &SampleArgs,
) -> Result<()> {
    from_clip(clip, prompt, out, args, |p, src, plan, opts| {
        Ok(p.extend(src, plan, seconds, opts, &mut Bars::new())?)
    })
}
