//! End to end on tiny networks: train every stage of the smoke recipe, export a model folder,
//! verify it, then generate, remix and extend with it.

mod common;

use common::workspace_path;
use kino_engine::pipeline::{GenerateOptions, NoProgress, Pipeline};
use kino_engine::train::{Recipe, Trainer};
use kino_engine::twin::{TwinModel, TwinPipeline};
use kino_models::folder::ModelFolder;
use std::path::PathBuf;

fn text_dir() -> PathBuf {
    workspace_path("models/kino-tiny")
}

fn plan(text: &str) -> kino_prompt::ShotPlan {
    kino_prompt::parse(text).expect("prompt parses").plan
}

#[test]
fn smoke_recipe_trains_exports_and_generates() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let run = tmp.path().join("run");
    let out = tmp.path().join("model");
    let recipe = Recipe::smoke();
    let mut losses: Vec<(String, f64)> = Vec::new();
    let trainer = Trainer::new(&run, recipe.clone(), &text_dir(), candle_core::Device::Cpu)?;
    trainer.run(&out, &mut |e| losses.push((e.stage.clone(), e.loss)))?;

    // Each stage's loss went down (mean of the last quarter below the first quarter).
    for stage in ["video_vae", "audio_vae", "vocoder", "dit"] {
        let l: Vec<f64> = losses
            .iter()
            .filter(|(s, _)| s == stage)
            .map(|(_, l)| *l)
            .collect();
        assert!(!l.is_empty(), "no events for {stage}");
        let q = (l.len() / 4).max(1);
        let first: f64 = l[..q].iter().sum::<f64>() / q as f64;
        let last: f64 = l[l.len() - q..].iter().sum::<f64>() / q as f64;
        assert!(
            last < first,
            "{stage}: loss {first:.4} -> {last:.4}: {l:.3?}"
        );
    }

    // The folder verifies, and a second run resumes by skipping finished stages.
    let folder = ModelFolder::open(&out)?;
    folder.verify()?;
    let again = Trainer::new(&run, recipe, &text_dir(), candle_core::Device::Cpu)?;
    let mut events = 0;
    again.run(&out, &mut |e| {
        if e.stage != "latents" {
            events += 1
        }
    })?;
    assert_eq!(events, 0, "a finished run must not train again");

    let pipeline = TwinPipeline::new(TwinModel::load(&folder, &candle_core::Device::Cpu)?);
    let opts = GenerateOptions {
        steps: 3,
        seconds: Some(1.0),
        seed: 5,
        ..Default::default()
    };
    let p = plan("A red ball falls onto a wooden floor. Audio: a thud when it lands.");
    let a = pipeline.generate(&p, &opts, &mut NoProgress)?;
    let b = pipeline.generate(&p, &opts, &mut NoProgress)?;
    assert_eq!(a.clip.video.len(), 12, "1 s at 12 fps");
    assert_eq!((a.clip.video.width(), a.clip.video.height()), (64, 64));
    let audio = a.clip.audio.as_ref().unwrap();
    assert_eq!(audio.frames(), 16_000);
    assert_eq!(
        a.clip.video.data(),
        b.clip.video.data(),
        "same seed, same clip"
    );
    let c = pipeline.generate(
        &p,
        &GenerateOptions {
            seed: 6,
            ..opts.clone()
        },
        &mut NoProgress,
    )?;
    assert_ne!(
        a.clip.video.data(),
        c.clip.video.data(),
        "another seed, another clip"
    );

    // Two shots, the second continuing the first.
    let two = plan("Shot 1 (2s): a blue box slides on stone.\nShot 2 (2s): Camera: push-in.");
    let g = pipeline.generate(
        &two,
        &GenerateOptions {
            seconds: None,
            ..opts.clone()
        },
        &mut NoProgress,
    )?;
    assert_eq!(g.clip.video.len(), 48);

    // Remix keeps length; extend appends.
    let r = pipeline.remix(
        &a.clip,
        &plan("a green ball falls"),
        0.5,
        &opts,
        &mut NoProgress,
    )?;
    assert_eq!(r.clip.video.len(), a.clip.video.len());
    let e = pipeline.extend(
        &a.clip,
        &plan("the ball rolls away"),
        1.0,
        &opts,
        &mut NoProgress,
    )?;
    assert_eq!(e.clip.video.len(), 24);
    assert_eq!(e.clip.video.frame(0), a.clip.video.frame(0));
    assert!(pipeline
        .remix(&a.clip, &p, 1.5, &opts, &mut NoProgress)
        .is_err());

    // Bad sizes are refused with the reason.
    let err = pipeline
        .generate(
            &p,
            &GenerateOptions {
                size: Some((100, 64)),
                ..opts
            },
            &mut NoProgress,
        )
        .err()
        .unwrap();
    assert!(err.to_string().contains("multiples of"), "{err}");
    Ok(())
}
