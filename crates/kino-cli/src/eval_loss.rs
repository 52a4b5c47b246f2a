//! `kino eval --bar loss`: the DiT's flow-matching loss on held-out world scenes.
//!
//! Until a model draws objects the judge is a poor yardstick between training runs (it finds
//! more in saturated blotches than in a correct but flat layout; docs/models/kino-tiny.md,
//! session 15), while the training loss is measured on clips the run saw. This measures the
//! training objective (unweighted) on `--count` scenes from the held-out seeds (`2^40 +
//! --start + i`, the caption style chosen by the seed), as long as the model's training
//! clips (its folder's training notes; `--seconds` to choose), each at the eight
//! logit-normal octile noise levels with seeded noise (`kino_engine::flow_loss`): per noise
//! level and overall, the video MSE, the video MSE on the latent cells that hold objects,
//! and the audio MSE, next to what a network predicting zero would score. Deterministic:
//! the same model and arguments give the same numbers on every machine with the same
//! backend.

use anyhow::{Context, Result};
use kino_engine::flow_loss::{clip_flow_loss, LOGIT_NORMAL_OCTILES};
use kino_engine::train::data::{world_clip, ClipShape};
use std::time::Instant;

use crate::eval::EvalArgs;
use crate::progress;

/// Scenes tried per kept clip before giving up (the world declines a few seeds).
const MAX_TRIES_PER_CLIP: u64 = 4;

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn cell(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

/// One measure (video, object cells or audio) over the clips: the model's error and a zero
/// prediction's, per noise level.
struct Measure {
    model: Vec<Vec<f64>>,
    zero: Vec<Vec<f64>>,
}

impl Measure {
    fn new(levels: usize) -> Self {
        Self {
            model: vec![vec![]; levels],
            zero: vec![vec![]; levels],
        }
    }

    fn push(&mut self, level: usize, model: f64, zero: f64) {
        self.model[level].push(model);
        self.zero[level].push(zero);
    }

    fn per_level(&self) -> Vec<Option<f64>> {
        self.model.iter().map(|l| mean(l)).collect()
    }

    fn overall(v: &[Vec<f64>]) -> Option<f64> {
        mean(&v.iter().flatten().copied().collect::<Vec<_>>())
    }

    /// (model, zero prediction) over every clip and level.
    fn means(&self) -> (Option<f64>, Option<f64>) {
        (Self::overall(&self.model), Self::overall(&self.zero))
    }
}

/// The clip frames the model in `dir` trained on (its training notes' recipe), if recorded.
fn trained_frames(dir: &std::path::Path) -> Option<usize> {
    let folder = kino_models::folder::ModelFolder::open(dir).ok()?;
    let frames = folder.manifest().training["recipe"]["clip"]["frames"].as_u64()?;
    usize::try_from(frames).ok().filter(|f| *f > 0)
}

pub fn run(args: &EvalArgs) -> Result<()> {
    anyhow::ensure!(
        (1..=10_000).contains(&args.count),
        "--count {}: must be 1..=10000",
        args.count
    );
    anyhow::ensure!(
        args.out.is_none(),
        "--out is not supported with --bar loss (it writes no clips)"
    );
    anyhow::ensure!(
        !args.output_check,
        "--output-check is not supported with --bar loss (it generates no clips)"
    );
    if let Some(s) = args.seconds {
        anyhow::ensure!(s > 0.0 && s <= 20.0, "--seconds {s}: must be in (0, 20]");
    }
    let first_seed = args.first_seed(args.count as u64 * MAX_TRIES_PER_CLIP)?;
    let pipeline = crate::generate::load_twin(args.model.as_deref(), &args.device)?;
    let model = &pipeline.model;
    let (width, height) = model.size;
    let fps = model.fps;
    let tf = model.video_vae.config().temporal_factor();
    let dir = args
        .model
        .clone()
        .unwrap_or_else(crate::generate::default_model_dir);
    // The training clips' length unless --seconds says otherwise (2 s if not recorded).
    let frames = match (args.seconds, trained_frames(&dir)) {
        (None, Some(f)) => f,
        (s, _) => {
            let s = s.unwrap_or(2.0);
            1 + tf * ((s * fps as f64) / tf as f64).round().max(1.0) as usize
        }
    };
    anyhow::ensure!(
        (frames - 1).is_multiple_of(tf),
        "{}: trained on {frames}-frame clips, which its video VAE (1 + {tf}k frames) cannot take",
        dir.display()
    );
    let shape = ClipShape {
        width,
        height,
        fps,
        frames,
        sample_rate: model.mel.sample_rate,
    };
    let sigmas = LOGIT_NORMAL_OCTILES;
    let k = sigmas.len();
    let (mut video, mut objects, mut audio) = (Measure::new(k), Measure::new(k), Measure::new(k));
    let started = Instant::now();
    let bar = progress::bar("loss", args.count as u64);
    let (mut kept, mut seed) = (0usize, first_seed);
    let last_seed = first_seed + args.count as u64 * MAX_TRIES_PER_CLIP;
    while kept < args.count && seed < last_seed {
        let this = seed;
        seed += 1;
        // The caption style follows the seed, so a scene reads the same in any window.
        let Ok(clip) = world_clip(&shape, this, (this % 4) as usize) else {
            continue;
        };
        let l = clip_flow_loss(model, &clip, &sigmas, this)
            .with_context(|| format!("held-out world seed {this}"))?;
        for j in 0..k {
            video.push(j, l.video[j], l.video_zero[j]);
            audio.push(j, l.audio[j], l.audio_zero[j]);
            if let (Some(o), Some(z)) = (l.video_objects[j], l.video_objects_zero[j]) {
                objects.push(j, o, z);
            }
        }
        kept += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    anyhow::ensure!(kept > 0, "no held-out world scene could be made");
    let (pv, po, pa) = (video.per_level(), objects.per_level(), audio.per_level());
    let ((ov, zv), (oo, zo), (oa, za)) = (video.means(), objects.means(), audio.means());
    let with_objects = objects.model[0].len();
    let name = &model.name;
    if args.json {
        let out = serde_json::json!({
            "model": name, "bar": "Loss", "clips": kept, "clips_with_objects": with_objects,
            "start": args.start, "frames": shape.frames,
            "clip_seconds": shape.frames as f64 / fps as f64, "size": [width, height], "fps": fps,
            "sigmas": sigmas, "video": pv, "video_objects": po, "audio": pa,
            "video_mean": ov, "video_objects_mean": oo, "audio_mean": oa,
            "zero_prediction": {"video": zv, "video_objects": zo, "audio": za},
            "wall_seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{name}: flow-matching loss on {kept} held-out scenes (world seeds 2^40+{}..; {} with objects), {}x{} {fps} fps, {} frames; {:.0} s",
        args.start,
        with_objects,
        width,
        height,
        shape.frames,
        started.elapsed().as_secs_f64()
    );
    println!("| sigma | video | video, object cells | audio |");
    println!("|---|---|---|---|");
    for j in 0..k {
        println!(
            "| {:.3} | {} | {} | {} |",
            sigmas[j],
            cell(pv[j]),
            cell(po[j]),
            cell(pa[j])
        );
    }
    println!(
        "| **mean** | **{}** | **{}** | **{}** |",
        cell(ov),
        cell(oo),
        cell(oa)
    );
    println!(
        "video + audio MSE: {}; a network predicting zero: video {}, object cells {}, audio {}",
        cell(ov.zip(oa).map(|(v, a)| v + a)),
        cell(zv),
        cell(zo),
        cell(za)
    );
    Ok(())
}
