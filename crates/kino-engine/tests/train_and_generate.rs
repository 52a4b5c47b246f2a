//! End to end on tiny networks: train every stage of the smoke recipe, export a model folder,
//! verify it, then generate, remix and extend with it.

mod common;

use common::workspace_path;
use kino_engine::flow_loss::{clip_flow_loss, LOGIT_NORMAL_OCTILES};
use kino_engine::pipeline::{GenerateOptions, NoProgress, Pipeline};
use kino_engine::train::data::HELD_OUT_SEEDS;
use kino_engine::train::{Recipe, Trainer};
use kino_engine::twin::{TwinConfig, TwinModel, TwinPipeline};
use kino_models::folder::ModelFolder;
use std::path::PathBuf;

/// The stages before the DiT.
const AUTOENCODERS: [&str; 3] = ["video_vae", "audio_vae", "vocoder"];

fn text_dir() -> PathBuf {
    workspace_path("models/kino-tiny")
}

fn cpu0() -> candle_core::Device {
    candle_core::Device::Cpu
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
    let mut clips: Vec<(String, usize, usize, u64, usize, f32)> = Vec::new();
    let trainer = Trainer::new(&run, recipe.clone(), &text_dir(), candle_core::Device::Cpu)?;
    trainer.run_with_samples(
        &out,
        &mut |e| losses.push((e.stage.clone(), e.loss)),
        &mut |s| {
            assert!(s.model_dir.join("kino-model.json").is_file());
            clips.push((
                s.stage.to_string(),
                s.step,
                s.index,
                s.seed,
                s.generated.clip.video.len(),
                s.report.overall,
            ))
        },
    )?;

    // The smoke recipe samples once, at the DiT stage's last step: one held-out prompt,
    // judged, logged, and handed over.
    let steps = recipe.dit.steps;
    assert_eq!(clips.len(), 1, "{clips:?}");
    let (stage, step, index, seed, frames, overall) = clips[0].clone();
    assert_eq!((stage.as_str(), step, index), ("dit", steps, 0));
    assert!(
        seed >= HELD_OUT_SEEDS,
        "sample prompts are held out: {seed}"
    );
    assert_eq!(frames, 12, "1 s at 12 fps");
    let summary = std::fs::read_to_string(run.join("dit/samples.jsonl"))?;
    let lines: Vec<serde_json::Value> = summary
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 1, "{summary}");
    assert_eq!(lines[0]["step"], steps);
    assert_eq!(lines[0]["prompts"], 1);
    for key in [
        "adherence_median",
        "overall_median",
        "world_adherence_median",
        "world_overall_median",
    ] {
        let v = lines[0][key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{key}: {summary}");
    }
    assert_eq!(lines[0]["overall_median"].as_f64(), Some(overall as f64));
    let scores =
        std::fs::read_to_string(run.join(format!("dit/samples/step-{steps}/scores.jsonl")))?;
    let rows: Vec<serde_json::Value> = scores
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 1, "{scores}");
    assert_eq!(rows[0]["index"], 0);
    assert_eq!(rows[0]["seed"], seed);
    assert!(
        !rows[0]["prompt"].as_str().unwrap_or("").is_empty(),
        "{scores}"
    );
    assert_eq!(rows[0]["model"]["overall"].as_f64(), Some(overall as f64));
    assert_eq!(rows[0]["model"]["frames"], 12);
    assert!(
        rows[0]["world"]["adherence"]["overall"].is_number(),
        "{scores}"
    );
    assert!(
        !run.join("dit/samples/model.tmp").exists(),
        "the sampling model folder is removed"
    );

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
    // The held-out yardstick (`kino eval --bar loss`) reads the model: a value at every
    // noise level, and on the one scene the smoke DiT trained on (pool seed 0) it beats a
    // network that predicts zero.
    let model = TwinModel::load(&folder, &candle_core::Device::Cpu)?;
    let seen = kino_engine::train::data::world_clip(&recipe.clip, 0, 0)?;
    let l = clip_flow_loss(&model, &seen, &LOGIT_NORMAL_OCTILES, 7)?;
    assert_eq!(l.video.len(), 8);
    assert!(
        l.video_objects.iter().all(Option::is_some),
        "the scene has objects, so their cells are scored: {l:?}"
    );
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        l.video
            .iter()
            .chain(&l.audio)
            .all(|v| v.is_finite() && *v > 0.0),
        "{l:?}"
    );
    assert!(
        avg(&l.video) + avg(&l.audio) < avg(&l.video_zero) + avg(&l.audio_zero),
        "trained DiT vs zero prediction: {l:?}"
    );
    assert_eq!(
        clip_flow_loss(&model, &seen, &LOGIT_NORMAL_OCTILES, 7)?,
        l,
        "deterministic per seed"
    );
    let short = kino_engine::train::data::TrainClip {
        frames: seen.frames[..4].to_vec(),
        ..seen.clone()
    };
    assert!(clip_flow_loss(&model, &short, &LOGIT_NORMAL_OCTILES, 7).is_err());
    assert!(clip_flow_loss(&model, &seen, &[1.5], 7).is_err());
    let again = Trainer::new(&run, recipe.clone(), &text_dir(), candle_core::Device::Cpu)?;
    let mut events = 0;
    again.run(&out, &mut |e| {
        if e.stage != "latents" {
            events += 1
        }
    })?;
    assert_eq!(events, 0, "a finished run must not train again");
    assert_eq!(
        std::fs::read_to_string(run.join("dit/samples.jsonl"))?,
        summary,
        "nor sample again"
    );

    // Continuing the finished model in a new run: the VAEs and vocoder are taken as they
    // are, the DiT starts from the model's weights (its first loss is already near the
    // first run's last) and runs the steps asked for.
    let run2 = tmp.path().join("run2");
    let out2 = tmp.path().join("model2");
    let continued = |run: &std::path::Path, from: &ModelFolder| -> anyhow::Result<Trainer> {
        let mut t = Trainer::new(run, recipe.clone(), &text_dir(), candle_core::Device::Cpu)?
            .with_stage_steps([("dit".to_string(), 6)].into())?;
        for stage in AUTOENCODERS {
            t.reuse_stage(stage, from)?;
        }
        t.init_stage("dit", from)?;
        Ok(t)
    };
    let cont = continued(&run2, &folder)?;
    let mut cont_losses: Vec<(String, f64)> = Vec::new();
    cont.run(&out2, &mut |e| cont_losses.push((e.stage.clone(), e.loss)))?;
    let stages: Vec<&str> = cont_losses.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        stages.iter().all(|s| *s == "dit" || *s == "latents"),
        "only the DiT trains: {stages:?}"
    );
    let dit_losses: Vec<f64> = cont_losses
        .iter()
        .filter(|(s, _)| s == "dit")
        .map(|(_, l)| *l)
        .collect();
    assert_eq!(dit_losses.len(), 6, "--stage-steps dit=6");
    let first_run_dit: Vec<f64> = losses
        .iter()
        .filter(|(s, _)| s == "dit")
        .map(|(_, l)| *l)
        .collect();
    let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64;
    let (start, end) = (mean(&first_run_dit[..6]), mean(&first_run_dit[54..]));
    assert!(
        mean(&dit_losses) < (start + end) / 2.0,
        "continued DiT starts trained: {dit_losses:.3?} vs first run {start:.3} -> {end:.3}"
    );
    let folder2 = ModelFolder::open(&out2)?;
    for c in ["video_vae", "audio_vae", "vocoder"] {
        assert_eq!(
            std::fs::read(folder.weights_path(c)?)?,
            std::fs::read(folder2.weights_path(c)?)?,
            "{c} is reused unchanged"
        );
    }
    let (t1, t2): (TwinConfig, TwinConfig) = (folder.config("dit")?, folder2.config("dit")?);
    assert_eq!(t1, t2, "same latent statistics and DiT config");
    let training = &folder2.manifest().training;
    assert_eq!(training["steps"]["video_vae"], 0, "{training}");
    assert_eq!(training["steps"]["dit"], 6, "{training}");
    assert_eq!(
        training["initialised_from"]["dit"]["steps_before"], steps as u64,
        "{training}"
    );
    assert!(training["reused"]["audio_vae"].is_string(), "{training}");
    // A third run continues the second: the step count behind the weights adds up.
    let run3 = tmp.path().join("run3");
    continued(&run3, &folder2)?;
    let note: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run3.join("dit/init.json"))?)?;
    assert_eq!(note["steps_before"], steps as u64 + 6, "{note}");
    // A cache written before object masks were kept (the run's own, masks removed) gets
    // the same masks back by drawing its clips again; a cache whose clips are not this
    // recipe's (a caption's tokens changed) is refused before a DiT step.
    let cached = candle_core::safetensors::load(run.join("latents.safetensors"), &cpu0())?;
    let masks = cached["objects"].flatten_all()?.to_vec1::<f32>()?;
    assert!(masks.contains(&1.0), "the smoke scene has objects");
    let without = |dir: &std::path::Path, corrupt: bool| -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut old = cached.clone();
        old.remove("objects");
        if corrupt {
            let text = &old["text"];
            old.insert("text".into(), (text + 1.0)?);
        }
        candle_core::safetensors::save(&old, dir.join("latents.safetensors"))?;
        Ok(())
    };
    let redraw = |dir: &std::path::Path| -> anyhow::Result<Trainer> {
        let mut t = Trainer::new(dir, recipe.clone(), &text_dir(), cpu0())?
            .with_stage_steps([("dit".to_string(), 1)].into())?;
        for stage in AUTOENCODERS {
            t.reuse_stage(stage, &folder)?;
        }
        Ok(t)
    };
    let masks_run = tmp.path().join("run-masks");
    without(&masks_run, false)?;
    redraw(&masks_run)?.run(&tmp.path().join("model-masks"), &mut |_| {})?;
    let redrawn = candle_core::safetensors::load(masks_run.join("latents.safetensors"), &cpu0())?;
    assert_eq!(redrawn["objects"].flatten_all()?.to_vec1::<f32>()?, masks);
    let foreign_run = tmp.path().join("run-foreign");
    without(&foreign_run, true)?;
    let Err(err) = redraw(&foreign_run)?.run(&tmp.path().join("model-foreign"), &mut |_| {}) else {
        panic!("a foreign cache is refused");
    };
    assert!(
        err.to_string().contains("object masks cannot be added"),
        "{err}"
    );
    assert!(
        !foreign_run.join("dit/loss.csv").exists(),
        "no DiT step was taken"
    );

    // A DiT started from a model whose VAEs this run does not use is refused before it
    // trains (its latent statistics would describe other latents).
    let run7 = tmp.path().join("run7");
    let mut mixed = Trainer::new(&run7, recipe.clone(), &text_dir(), candle_core::Device::Cpu)?;
    mixed.init_stage("dit", &folder)?;
    let err = mixed
        .run(&tmp.path().join("model7"), &mut |_| {})
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("whose VAEs are not this run's"),
        "{err}"
    );
    assert!(!run7.join("dit/loss.csv").exists(), "no DiT step was taken");

    // A new video decoder under the finished model (motion term on): the encoder, and so
    // the latents the DiT learnt, stays bit for bit, the DiT ships as it was (no latents
    // encoded), and only the decoder moves.
    let cpu = candle_core::Device::Cpu;
    let mut dec_recipe = recipe.clone();
    dec_recipe.motion_weight = 1.0;
    dec_recipe.video_decoder_only = true;
    let decoder_run = |run: &std::path::Path, recipe: &kino_engine::train::Recipe, init: bool| {
        let mut t = Trainer::new(run, recipe.clone(), &text_dir(), cpu.clone())?
            .with_stage_steps([("video_vae".to_string(), 4)].into())?;
        for stage in ["audio_vae", "vocoder", "dit"] {
            t.reuse_stage(stage, &folder)?;
        }
        if init {
            t.init_stage("video_vae", &folder)?;
        }
        anyhow::Ok(t)
    };
    let out8 = tmp.path().join("model8");
    let mut dec_events = Vec::new();
    decoder_run(&tmp.path().join("run8"), &dec_recipe, true)?
        .run(&out8, &mut |e| dec_events.push(e.stage.clone()))?;
    assert_eq!(dec_events, ["video_vae"; 4], "only the video VAE trains");
    let folder8 = ModelFolder::open(&out8)?;
    folder8.verify()?;
    for c in ["dit", "audio_vae", "vocoder", "text_encoder"] {
        assert_eq!(
            std::fs::read(folder.weights_path(c)?)?,
            std::fs::read(folder8.weights_path(c)?)?,
            "{c} ships unchanged"
        );
    }
    let (t1, t8): (TwinConfig, TwinConfig) = (folder.config("dit")?, folder8.config("dit")?);
    assert_eq!(t1, t8, "the DiT keeps its latent statistics");
    let before = candle_core::safetensors::load(folder.weights_path("video_vae")?, &cpu)?;
    let after = candle_core::safetensors::load(folder8.weights_path("video_vae")?, &cpu)?;
    let bits = |t: &candle_core::Tensor| {
        t.flatten_all()
            .and_then(|t| t.to_dtype(candle_core::DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .unwrap()
    };
    assert_eq!(before.len(), after.len());
    let mut decoder_moved = false;
    for (k, v) in &before {
        let same = bits(v) == bits(&after[k]);
        if k.starts_with("encoder.") {
            assert!(same, "{k} changed");
        } else {
            decoder_moved |= !same;
        }
    }
    assert!(decoder_moved, "the decoder trained");
    let training8 = &folder8.manifest().training;
    assert_eq!(training8["recipe"]["motion_weight"], 1.0);
    assert_eq!(training8["steps"]["dit"], 0, "{training8}");
    assert_eq!(
        training8["steps_behind"]["dit"], steps as u64,
        "the reused DiT's history is kept: {training8}"
    );
    let video_behind = folder.manifest().training["steps_behind"]["video_vae"]
        .as_u64()
        .unwrap();
    assert_eq!(training8["steps_behind"]["video_vae"], video_behind + 4);
    assert!(training8["latent_clips"].is_null(), "no latents encoded");
    TwinModel::load(&folder8, &cpu)?;
    // Asked again (a resumed run): nothing trains, the same model comes out; but the DiT
    // cannot be swapped for another folder's under the same run.
    let mut again = Vec::new();
    decoder_run(&tmp.path().join("run8"), &dec_recipe, false)?
        .run(&tmp.path().join("model8b"), &mut |e| {
            again.push(e.stage.clone())
        })?;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        std::fs::read(folder8.weights_path("video_vae")?)?,
        std::fs::read(tmp.path().join("model8b/video_vae.safetensors"))?
    );
    let mut t = Trainer::new(
        &tmp.path().join("run8"),
        dec_recipe.clone(),
        &text_dir(),
        cpu.clone(),
    )?;
    let err = t.reuse_stage("dit", &folder2).err().unwrap();
    assert!(
        err.to_string().contains("cannot take another folder's"),
        "{err}"
    );
    // Refused: a decoder-only stage with no weights to keep the encoder of, and a whole new
    // video VAE under a reused DiT (its latents would mean something else).
    let err = decoder_run(&tmp.path().join("run9"), &dec_recipe, false)?
        .run(&tmp.path().join("model9"), &mut |_| {})
        .err()
        .unwrap();
    assert!(err.to_string().contains("decoder-only"), "{err}");
    let mut whole = dec_recipe.clone();
    whole.video_decoder_only = false;
    let err = decoder_run(&tmp.path().join("run10"), &whole, true)?
        .run(&tmp.path().join("model10"), &mut |_| {})
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("train only the video decoder"),
        "{err}"
    );
    assert!(
        !tmp.path().join("run10/video_vae/loss.csv").exists(),
        "refused before a step"
    );

    // The stages before the DiT alone, as a partial folder (here all reused from the
    // model): it opens, holds no text encoder and no DiT, its autoencoders round-trip a
    // clip, it is refused as a model to generate with, and a later run reuses from it.
    let run5 = tmp.path().join("run5");
    let stages_dir = tmp.path().join("stages");
    let mut stages = Trainer::new(&run5, recipe.clone(), &text_dir(), candle_core::Device::Cpu)?
        .stop_before_dit();
    for stage in AUTOENCODERS {
        stages.reuse_stage(stage, &folder)?;
    }
    let mut stage_events = 0;
    stages.run(&stages_dir, &mut |_| stage_events += 1)?;
    assert_eq!(stage_events, 0, "nothing trains, not even the latent cache");
    let partial = ModelFolder::open(&stages_dir)?;
    partial.verify()?;
    let names: Vec<&String> = partial.manifest().components.keys().collect();
    assert_eq!(names, ["audio_vae", "video_vae", "vocoder"]);
    assert_eq!(partial.manifest().training["partial"], true);
    assert!(TwinModel::load(&partial, &candle_core::Device::Cpu).is_err());
    let ae = kino_engine::autoencode::Autoencoders::load(&partial, &candle_core::Device::Cpu)?;
    let world = kino_engine::train::data::world_clip(&recipe.clip, 7, 0)?;
    let mut source = kino_media::VideoFrames::new(
        recipe.clip.width,
        recipe.clip.height,
        kino_media::Rational::integer(recipe.clip.fps)?,
        kino_media::PixelFormat::Rgb8,
    )?;
    for f in world.frames.iter().take(6) {
        source.push(f)?;
    }
    let back = ae.roundtrip(&kino_media::Clip {
        video: source.clone(),
        audio: Some(kino_media::AudioBuffer::new(
            16_000,
            1,
            world.audio[..8000].to_vec(),
        )?),
    })?;
    assert_eq!(
        back.video.len(),
        6,
        "6 frames in, 6 out (padded to 9 inside)"
    );
    assert_eq!((back.video.width(), back.video.height()), (64, 64));
    assert_eq!(
        back.audio.as_ref().map(|a| a.frames()),
        Some(8000),
        "0.5 s at 16 kHz"
    );
    assert_ne!(
        back.video.data(),
        source.data(),
        "a reconstruction, not a copy"
    );
    let run6 = tmp.path().join("run6");
    Trainer::new(&run6, recipe.clone(), &text_dir(), candle_core::Device::Cpu)?
        .reuse_stage("video_vae", &partial)?;
    assert!(run6.join("video_vae/done.safetensors").is_file());

    // Refusals name what is wrong: a stage that does not exist, a stage that cannot be
    // reused, and a folder whose networks another recipe configured.
    let fresh = || {
        Trainer::new(
            &tmp.path().join("run4"),
            recipe.clone(),
            &text_dir(),
            candle_core::Device::Cpu,
        )
    };
    let err = fresh()?
        .with_stage_steps([("vae".to_string(), 3)].into())
        .err()
        .unwrap();
    assert!(err.to_string().contains("unknown stage 'vae'"), "{err}");
    let err = fresh()?.reuse_stage("latents", &folder).err().unwrap();
    assert!(err.to_string().contains("cannot be reused"), "{err}");
    let shipped = ModelFolder::open(text_dir())?;
    let err = fresh()?.reuse_stage("video_vae", &shipped).err().unwrap();
    assert!(err.to_string().contains("configured"), "{err}");
    assert!(!tmp.path().join("run4/video_vae/done.safetensors").exists());

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

/// A run folder whose recipe.json predates sample clips resumes (sampling settings are not
/// part of a run's identity) and gets the current settings; a different recipe is refused.
#[test]
fn runs_resume_across_sampling_settings() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let run = tmp.path().join("run");
    std::fs::create_dir_all(&run)?;
    let recipe = Recipe::smoke();
    let mut old = serde_json::to_value(&recipe)?;
    old.as_object_mut().unwrap().remove("samples");
    std::fs::write(run.join("recipe.json"), old.to_string())?;
    Trainer::new(&run, recipe.clone(), &text_dir(), candle_core::Device::Cpu)?;
    let now: Recipe = serde_json::from_str(&std::fs::read_to_string(run.join("recipe.json"))?)?;
    assert_eq!(now, recipe);

    let mut other = recipe;
    other.dit.steps += 1;
    let err = Trainer::new(&run, other, &text_dir(), candle_core::Device::Cpu)
        .err()
        .expect("another recipe is refused");
    assert!(err.to_string().contains("different recipe"), "{err}");
    Ok(())
}
