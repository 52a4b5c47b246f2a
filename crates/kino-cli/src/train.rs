//! `kino train`: run a training recipe into a run folder and export a model folder.
//!
//! The DiT stage's sample clips (see `kino_engine::train::samples`) are written as
//! `<run>/dit/samples/step-<N>/<i>.mp4` the way `kino eval --out` writes a model's clips
//! (output check, watermark, C2PA trainedAlgorithmicMedia naming the checkpoint), signed with
//! the provenance key in `--data-dir` (default: kino's data directory).

use anyhow::{bail, Context, Result};
use kino_engine::train::{Recipe, SampleClip, TrainEvent, Trainer};
use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use crate::eval::ModelClipWriter;
use crate::progress;

pub struct TrainArgs<'a> {
    pub recipe: &'a str,
    pub run_dir: &'a Path,
    pub out: &'a Path,
    pub text_dir: Option<&'a Path>,
    pub scale: f64,
    pub batch_scale: f64,
    pub latent_clips: Option<usize>,
    pub threads: Option<usize>,
    pub device: &'a str,
    pub minutes: Option<f64>,
    /// `STAGE=N,...`: step counts replacing the recipe's.
    pub stage_steps: Option<&'a str>,
    /// `STAGE,...`: stages taken from `from` instead of trained.
    pub reuse: Option<&'a str>,
    /// `STAGE,...`: stages that start from `from`'s weights.
    pub init: Option<&'a str>,
    /// The model folder of `reuse` and `init` (default: the shipped model).
    pub from: Option<&'a Path>,
    /// Write the VAEs and vocoder as a partial folder and stop.
    pub stop_before_dit: bool,
    /// Replaces the recipe's `motion_weight`.
    pub motion_weight: Option<f64>,
    /// Replaces the recipe's `dit_object_weight`.
    pub dit_object_weight: Option<f64>,
    /// Sets the recipe's DiT config `absolute_positions`.
    pub dit_absolute_positions: bool,
    /// Replaces the recipe's `data_pool`.
    pub data_pool: Option<u64>,
    /// Sets the recipe's `video_decoder_only`.
    pub video_decoder_only: bool,
    /// The output check's threshold for sample clips.
    pub nsfw_threshold: f32,
    /// Holds the provenance key sample clips are signed with.
    pub data_dir: std::path::PathBuf,
}

pub fn run(args: TrainArgs) -> Result<()> {
    crate::alloc::keep_freed_memory();
    let Some(mut recipe) = Recipe::named(args.recipe) else {
        bail!("unknown recipe '{}' (known: tiny, smoke)", args.recipe);
    };
    if !(args.scale > 0.0 && args.scale <= 100.0) {
        bail!("--scale {}: must be in (0, 100]", args.scale);
    }
    if !(args.batch_scale > 0.0 && args.batch_scale <= 64.0) {
        bail!("--batch-scale {}: must be in (0, 64]", args.batch_scale);
    }
    if let Some(m) = args.minutes {
        if !(m > 0.0 && m.is_finite()) {
            bail!("--minutes {m}: must be a positive number");
        }
    }
    if let Some(n) = args.threads {
        // candle's CPU kernels and the clip renderer use rayon's global pool.
        rayon_threads(n);
    }
    let device = crate::device::parse(args.device)?;
    recipe.scale_steps(args.scale);
    recipe.scale_batches(args.batch_scale);
    if let Some(n) = args.latent_clips {
        if n == 0 || n > 1_000_000 {
            bail!("--latent-clips {n}: must be 1..=1000000");
        }
        recipe.latent_clips = n;
    }
    if let Some(w) = args.motion_weight {
        if !(0.0..=100.0).contains(&w) {
            bail!("--motion-weight {w}: must be in 0..=100");
        }
        recipe.motion_weight = w;
    }
    if let Some(w) = args.dit_object_weight {
        if !(0.0..=1000.0).contains(&w) {
            bail!("--dit-object-weight {w}: must be in 0..=1000");
        }
        recipe.dit_object_weight = w;
    }
    if args.dit_absolute_positions {
        recipe.dit_config.absolute_positions = true;
    }
    if let Some(n) = args.data_pool {
        if n == 0 || n >= kino_engine::train::data::HELD_OUT_SEEDS {
            bail!(
                "--data-pool {n}: must be 1..{} (seeds from there are held out)",
                kino_engine::train::data::HELD_OUT_SEEDS
            );
        }
        recipe.data_pool = n;
        recipe.samples.from_pool = true;
    }
    recipe.video_decoder_only = args.video_decoder_only;
    let text_dir = args
        .text_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(crate::generate::default_model_dir);
    let mut trainer = Trainer::new(args.run_dir, recipe, &text_dir, device)
        .with_context(|| format!("starting run in {}", args.run_dir.display()))?;
    if let Some(m) = args.minutes {
        trainer = trainer.with_time_budget(m);
    }
    if let Some(spec) = args.stage_steps {
        trainer = trainer.with_stage_steps(parse_stage_steps(spec)?)?;
    }
    if args.stop_before_dit {
        trainer = trainer.stop_before_dit();
    }
    if args.reuse.is_some() || args.init.is_some() {
        let from = args
            .from
            .map(Path::to_path_buf)
            .unwrap_or_else(crate::generate::default_model_dir);
        let folder = kino_models::folder::ModelFolder::open(&from)
            .with_context(|| format!("--from {}", from.display()))?;
        let stages = |list: Option<&str>| -> Vec<String> {
            list.unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let (reuse, init) = (stages(args.reuse), stages(args.init));
        if let Some(both) = reuse.iter().find(|s| init.contains(s)) {
            bail!("--reuse and --init both name '{both}': a stage is either taken or trained");
        }
        for stage in &reuse {
            trainer
                .reuse_stage(stage, &folder)
                .with_context(|| format!("--reuse {stage} from {}", from.display()))?;
        }
        for stage in &init {
            trainer
                .init_stage(stage, &folder)
                .with_context(|| format!("--init {stage} from {}", from.display()))?;
        }
    } else if args.from.is_some() {
        bail!("--from names where --reuse and --init take weights from; neither was given");
    }
    let started = Instant::now();
    // On a terminal: one bar per stage. Otherwise (a log file): a line every 100 steps.
    let plain = !std::io::stderr().is_terminal();
    let bar: RefCell<Option<(String, indicatif::ProgressBar)>> = RefCell::new(None);
    let mut on_event = |e: &TrainEvent| {
        let mut bar = bar.borrow_mut();
        if plain {
            if e.step == 1 || e.step.is_multiple_of(100) || e.step == e.total {
                eprintln!(
                    "{} {}/{} loss {:.4} lr {:.2e} grad {:.3} {:.1}s",
                    e.stage, e.step, e.total, e.loss, e.lr, e.grad_norm, e.seconds
                );
            }
            return;
        }
        if bar.as_ref().map(|(s, _)| s != &e.stage).unwrap_or(true) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            *bar = Some((e.stage.clone(), progress::bar(&e.stage, e.total as u64)));
        }
        if let Some((_, b)) = &*bar {
            b.set_length(e.total as u64);
            b.set_position(e.step as u64);
            b.set_message(format!("loss {:.4}", e.loss));
        }
    };
    // Loaded at the first sample clip, so a run that samples nothing needs no key.
    let mut writer: Option<ModelClipWriter> = None;
    let mut on_sample = |s: SampleClip| {
        let path = s.dir.join(format!("{}.mp4", s.index));
        let write = || -> Result<()> {
            if writer.is_none() {
                writer = Some(ModelClipWriter::new(args.nsfw_threshold, &args.data_dir)?);
            }
            let (name, version) = crate::generate::model_identity(Some(s.model_dir))?;
            let version = format!(
                "{version}, training checkpoint ({} step {})",
                s.stage, s.step
            );
            let w = writer.as_ref().expect("loaded above");
            w.write(&path, s.generated, Instant::now(), &name, &version)
        };
        let written = match bar.borrow().as_ref() {
            Some((_, b)) => b.suspend(write),
            None => write(),
        };
        if let Err(e) = written {
            eprintln!("sample clip {} not written: {e:#}", path.display());
        }
    };
    let folder = trainer.run_with_samples(args.out, &mut on_event, &mut on_sample)?;
    if let Some((_, b)) = bar.borrow_mut().take() {
        b.finish();
    }
    eprintln!(
        "trained {} in {:.1} min -> {}",
        folder.manifest().name,
        started.elapsed().as_secs_f64() / 60.0,
        args.out.display()
    );
    Ok(())
}

fn rayon_threads(n: usize) {
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
}

/// Parses `--stage-steps`: `STAGE=N` pairs separated by commas, N >= 1.
fn parse_stage_steps(spec: &str) -> Result<std::collections::HashMap<String, usize>> {
    let mut caps = std::collections::HashMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((stage, n)) = part.split_once('=') else {
            bail!("--stage-steps '{part}': expected STAGE=N (e.g. video_vae=1200)");
        };
        let n: usize =
            n.trim().parse().ok().filter(|&n| n >= 1).with_context(|| {
                format!("--stage-steps '{part}': N must be a whole number >= 1")
            })?;
        caps.insert(stage.trim().to_string(), n);
    }
    if caps.is_empty() {
        bail!("--stage-steps '{spec}': no STAGE=N given");
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::parse_stage_steps;

    #[test]
    fn stage_steps_parse_and_refuse_bad_input() {
        let caps = parse_stage_steps("video_vae=1200, dit=3").unwrap();
        assert_eq!(caps["video_vae"], 1200);
        assert_eq!(caps["dit"], 3);
        for bad in ["", "dit", "dit=0", "dit=-1", "dit=x", "dit=1.5"] {
            assert!(parse_stage_steps(bad).is_err(), "{bad:?} accepted");
        }
    }
}
