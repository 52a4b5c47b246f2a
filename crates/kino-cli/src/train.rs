//! `kino train`: run a training recipe into a run folder and export a model folder.

use anyhow::{bail, Context, Result};
use kino_engine::train::{Recipe, TrainEvent, Trainer};
use std::path::Path;
use std::time::Instant;

use crate::progress;

pub fn run(
    recipe: &str,
    run_dir: &Path,
    out: &Path,
    text_dir: Option<&Path>,
    scale: f64,
    threads: Option<usize>,
) -> Result<()> {
    let Some(mut recipe) = Recipe::named(recipe) else {
        bail!("unknown recipe '{recipe}' (known: tiny, smoke)");
    };
    if !(scale > 0.0 && scale <= 100.0) {
        bail!("--scale {scale}: must be in (0, 100]");
    }
    if let Some(n) = threads {
        // candle's CPU kernels use rayon's global pool.
        rayon_threads(n);
    }
    recipe.scale_steps(scale);
    let text_dir = text_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(crate::generate::default_model_dir);
    let trainer = Trainer::new(run_dir, recipe, &text_dir, candle_core::Device::Cpu)
        .with_context(|| format!("starting run in {}", run_dir.display()))?;
    let started = Instant::now();
    let mut bar: Option<(String, indicatif::ProgressBar)> = None;
    let mut on_event = |e: &TrainEvent| {
        if bar.as_ref().map(|(s, _)| s != &e.stage).unwrap_or(true) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            bar = Some((e.stage.clone(), progress::bar(&e.stage, e.total as u64)));
        }
        if let Some((_, b)) = &bar {
            b.set_position(e.step as u64);
            b.set_message(format!("loss {:.4}", e.loss));
        }
    };
    let folder = trainer.run(out, &mut on_event)?;
    if let Some((_, b)) = bar.take() {
        b.finish();
    }
    eprintln!(
        "trained {} in {:.1} min -> {}",
        folder.manifest().name,
        started.elapsed().as_secs_f64() / 60.0,
        out.display()
    );
    Ok(())
}

fn rayon_threads(n: usize) {
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
}
