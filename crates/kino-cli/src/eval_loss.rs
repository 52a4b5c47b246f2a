//! `kino eval --bar loss`: the DiT's flow-matching loss on held-out world scenes.
//!
//! Until a model draws objects the judge is a poor yardstick between training runs (it finds
//! more in saturated blotches than in a correct but flat layout; docs/models/kino-tiny.md,
//! session 15), while the training loss is measured on clips the run saw. This measures the
//! training objective itself on `--count` scenes from the held-out seeds (`2^40 + --start +
//! i`, caption styles in turn), each at the eight logit-normal octile noise levels with
//! seeded noise (`kino_engine::flow_loss`): per noise level and overall, the video loss, the
//! video loss on the latent cells that hold objects, and the audio loss. Deterministic: the
//! same model and arguments give the same numbers on every machine with the same backend.

use anyhow::{Context, Result};
use kino_engine::flow_loss::{clip_flow_loss, LOGIT_NORMAL_OCTILES};
use kino_engine::train::data::{world_clip, ClipShape, HELD_OUT_SEEDS};
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
        args.seconds > 0.0 && args.seconds <= 20.0,
        "--seconds {}: must be in (0, 20]",
        args.seconds
    );
    let pipeline = crate::generate::load_twin(args.model.as_deref(), &args.device)?;
    let model = &pipeline.model;
    let (width, height) = model.size;
    let fps = model.fps;
    let tf = model.video_vae.config().temporal_factor();
    let steps_of_tf = ((args.seconds * fps as f64) / tf as f64).round().max(1.0) as usize;
    let shape = ClipShape {
        width,
        height,
        fps,
        frames: 1 + tf * steps_of_tf,
        sample_rate: model.mel.sample_rate,
    };
    let sigmas = LOGIT_NORMAL_OCTILES;
    let k = sigmas.len();
    let (mut video, mut objects, mut audio) = (vec![vec![]; k], vec![vec![]; k], vec![vec![]; k]);
    let (mut video_zero, mut audio_zero) = (vec![vec![]; k], vec![vec![]; k]);
    let mut objects_zero = vec![vec![]; k];
    let started = Instant::now();
    let bar = progress::bar("loss", args.count as u64);
    let (mut kept, mut seed) = (0usize, HELD_OUT_SEEDS + args.start);
    let last_seed = seed + args.count as u64 * MAX_TRIES_PER_CLIP;
    while kept < args.count && seed < last_seed {
        let this = seed;
        seed += 1;
        let Ok(clip) = world_clip(&shape, this, kept % 4) else {
            continue;
        };
        let l = clip_flow_loss(model, &clip, &sigmas, this)
            .with_context(|| format!("held-out world seed {this}"))?;
        for j in 0..k {
            video[j].push(l.video[j]);
            audio[j].push(l.audio[j]);
            video_zero[j].push(l.video_zero[j]);
            audio_zero[j].push(l.audio_zero[j]);
            if let (Some(o), Some(z)) = (l.video_objects[j], l.video_objects_zero[j]) {
                objects[j].push(o);
                objects_zero[j].push(z);
            }
        }
        kept += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    anyhow::ensure!(kept > 0, "no held-out world scene could be made");
    let per_level = |v: &[Vec<f64>]| v.iter().map(|l| mean(l)).collect::<Vec<_>>();
    let overall = |v: &[Vec<f64>]| mean(&v.iter().flatten().copied().collect::<Vec<_>>());
    let (pv, po, pa) = (per_level(&video), per_level(&objects), per_level(&audio));
    let (ov, oo, oa) = (overall(&video), overall(&objects), overall(&audio));
    let (zv, zo, za) = (
        overall(&video_zero),
        overall(&objects_zero),
        overall(&audio_zero),
    );
    let with_objects = objects[0].len();
    let name = &model.name;
    if args.json {
        let out = serde_json::json!({
            "model": name, "bar": "Loss", "clips": kept, "clips_with_objects": with_objects,
            "frames": shape.frames, "size": [width, height], "fps": fps,
            "sigmas": sigmas, "video": pv, "video_objects": po, "audio": pa,
            "video_mean": ov, "video_objects_mean": oo, "audio_mean": oa,
            "zero_prediction": {"video": zv, "video_objects": zo, "audio": za},
            "seconds": started.elapsed().as_secs_f64(),
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
        "video + audio (the training loss, unweighted): {}; a network predicting zero: video {}, object cells {}, audio {}",
        cell(ov.zip(oa).map(|(v, a)| v + a)),
        cell(zv),
        cell(zo),
        cell(za)
    );
    Ok(())
}
