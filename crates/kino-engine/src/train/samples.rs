//! Periodic sample clips of the DiT stage: every `SampleSpec::every` steps and at the
//! stage's last step, the current model (trained VAEs and vocoder, the DiT's EMA weights)
//! generates a fixed set of held-out prompts (world scenes from seeds at or above
//! [`HELD_OUT_SEEDS`], never trained on), and `kino_world::judge` scores each clip and the
//! world's own rendering of the same scene (the judge's ceiling on that prompt), as
//! `kino eval` does. Written to the stage folder:
//! - `samples/step-<N>/scores.jsonl`: one line per prompt (`index`, `seed`, `prompt`, `model`
//!   and `world` judge reports);
//! - `samples.jsonl`: one summary line per sampling (`step`, `prompts`, medians of the
//!   model's and the world's adherence and overall scores, `seconds`).
//!
//! The clips themselves go to the caller ([`SampleClip`]); the engine writes no MP4 (the CLI
//! signs and watermarks every clip it writes).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use candle_core::Tensor;
use kino_world::spec::{RandomOptions, SceneSpec};
use kino_world::JudgeReport;
use serde::{Deserialize, Serialize};

use super::data::{random_options, HELD_OUT_SEEDS};
use super::{st_err, Trainer};
use crate::pipeline::{EngineError, GenerateOptions, Generated, NoProgress, Pipeline, Result};
use crate::twin::{TwinConfig, TwinModel, TwinPipeline};

/// When and what the DiT stage samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSpec {
    /// Sample every this many DiT steps, and at the stage's last step (0: never).
    pub every: usize,
    /// Held-out prompts per sampling (world seeds 2^40, 2^40 + 1, ..., skipping scenes the
    /// world cannot make).
    pub prompts: usize,
    /// Length of each clip, in seconds (with [`SampleSpec::from_pool`], the training
    /// clips' length instead: the pool's scenes are made at that length).
    pub seconds: f64,
    /// Sampler steps per clip.
    pub steps: usize,
    /// With a data pool (`Recipe::data_pool`), sample the pool's own scenes instead of
    /// held-out ones (an overfit check: does the model give back what it saw?).
    #[serde(default)]
    pub from_pool: bool,
}

impl Default for SampleSpec {
    /// Off (recipes written before sampling existed load with this).
    fn default() -> Self {
        Self {
            every: 0,
            prompts: 4,
            seconds: 2.0,
            steps: 8,
            from_pool: false,
        }
    }
}

impl SampleSpec {
    /// Whether the stage samples after `step` of `total` steps.
    pub fn due(&self, step: usize, total: usize) -> bool {
        self.every > 0 && self.prompts > 0 && (step.is_multiple_of(self.every) || step == total)
    }
}

/// One generated sample clip, handed to the caller of [`Trainer::run_with_samples`].
pub struct SampleClip<'a> {
    /// The stage that sampled ("dit").
    pub stage: &'a str,
    /// Training steps done when it was sampled.
    pub step: usize,
    /// Index of the prompt in the sample set (0-based).
    pub index: usize,
    /// The world seed the prompt comes from (held out, or the pool's with
    /// [`SampleSpec::from_pool`]).
    pub seed: u64,
    pub prompt: &'a str,
    /// The clip as generated (not watermarked).
    pub generated: Generated,
    /// The judge's report on the clip.
    pub report: &'a JudgeReport,
    /// The folder of this sampling (`<run>/<stage>/samples/step-<N>`).
    pub dir: &'a Path,
    /// The model folder the clip was generated with; it exists only during the call.
    pub model_dir: &'a Path,
}

/// A held-out prompt and the judge's score of the world's own rendering of it.
pub(super) struct HeldOut {
    seed: u64,
    prompt: String,
    plan: kino_prompt::ShotPlan,
    world: JudgeReport,
}

fn median(v: &[f32]) -> Option<f32> {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s.get(s.len() / 2).copied()
}

/// The model's weights at one sampling.
pub(super) struct Weights<'a> {
    pub twin: &'a TwinConfig,
    pub video_vae: &'a HashMap<String, Tensor>,
    pub audio_vae: &'a HashMap<String, Tensor>,
    pub vocoder: &'a HashMap<String, Tensor>,
    pub dit: &'a HashMap<String, Tensor>,
}

impl Trainer {
    /// The recipe's held-out prompts at its clip size and frame rate (as `kino eval` makes
    /// them). With [`SampleSpec::from_pool`] and a data pool (an overfit check), the pool's
    /// own scenes instead (seeds `0..data_pool`, made as training makes them): the question
    /// there is whether the model gives back what it was shown.
    fn held_out(&self) -> Result<Vec<HeldOut>> {
        let (c, s) = (&self.recipe.clip, &self.recipe.samples);
        let (opts, first, end) = if s.from_pool && self.recipe.data_pool > 0 {
            (random_options(c), 0, self.recipe.data_pool)
        } else {
            let opts = RandomOptions {
                duration_s: s.seconds as f32,
                fps: c.fps,
                width: c.width,
                height: c.height,
                max_shots: 1,
                ..Default::default()
            };
            (
                opts,
                HELD_OUT_SEEDS,
                HELD_OUT_SEEDS + 4 * s.prompts as u64 + 16,
            )
        };
        let mut out = Vec::with_capacity(s.prompts);
        let mut seed = first;
        while out.len() < s.prompts && seed < end {
            let this = seed;
            seed += 1;
            let Ok(spec) = SceneSpec::random(this, &opts) else {
                continue;
            };
            let Ok(truth) = kino_world::sample(&spec) else {
                continue;
            };
            let prompt = truth.captions[0].clone();
            let Ok(parsed) = kino_prompt::parse(&prompt) else {
                continue;
            };
            let world = kino_world::judge(&truth.video, Some(&truth.audio), &prompt)
                .map_err(|e| EngineError::Invalid(format!("judging world seed {this}: {e}")))?;
            out.push(HeldOut {
                seed: this,
                prompt,
                plan: parsed.plan,
                world,
            });
        }
        if out.is_empty() {
            return Err(EngineError::Invalid(
                "no held-out world scene could be made for sample clips".into(),
            ));
        }
        Ok(out)
    }

    /// Generates and judges the sample set with `weights` after `step` steps of `stage`,
    /// unless a previous (interrupted) run already did.
    pub(super) fn sample(
        &self,
        stage: &str,
        step: usize,
        weights: &Weights,
        held: &mut Option<Vec<HeldOut>>,
        on_sample: &mut dyn FnMut(SampleClip),
    ) -> Result<()> {
        let s = &self.recipe.samples;
        let root = self.run_dir.join(stage).join("samples");
        let dir = root.join(format!("step-{step}"));
        let scores_path = dir.join("scores.jsonl");
        if scores_path.exists() {
            return Ok(());
        }
        let t0 = Instant::now();
        fs::create_dir_all(&dir).map_err(|e| st_err(&dir, e))?;
        // The same model folder the run exports, written where it can be thrown away.
        let model_dir = root.join("model.tmp");
        let folder = self.export(
            &model_dir,
            Some((weights.twin, weights.dit)),
            weights.video_vae,
            weights.audio_vae,
            weights.vocoder,
        )?;
        let pipeline = TwinPipeline::new(TwinModel::load(&folder, &self.device)?);
        let held = match held {
            Some(h) => h,
            None => held.insert(self.held_out()?),
        };
        let mut lines = String::new();
        let (mut adherence, mut overall) = (Vec::new(), Vec::new());
        let (mut world_adherence, mut world_overall) = (Vec::new(), Vec::new());
        // Pool scenes are made at the training clips' length; generate that length too.
        let seconds = if s.from_pool && self.recipe.data_pool > 0 {
            self.recipe.clip.seconds()
        } else {
            s.seconds
        };
        for (i, h) in held.iter().enumerate() {
            let generated = pipeline.generate(
                &h.plan,
                &GenerateOptions {
                    seed: i as u64,
                    steps: s.steps,
                    seconds: Some(seconds),
                    ..Default::default()
                },
                &mut NoProgress,
            )?;
            let clip = &generated.clip;
            let report = kino_world::judge(&clip.video, clip.audio.as_ref(), &h.prompt)
                .map_err(|e| EngineError::Invalid(format!("judging sample {i}: {e}")))?;
            adherence.push(report.adherence.overall);
            overall.push(report.overall);
            world_adherence.push(h.world.adherence.overall);
            world_overall.push(h.world.overall);
            let line = serde_json::json!({
                "index": i, "seed": h.seed, "prompt": h.prompt, "model": report, "world": h.world,
            });
            lines.push_str(&format!("{line}\n"));
            on_sample(SampleClip {
                stage,
                step,
                index: i,
                seed: h.seed,
                prompt: &h.prompt,
                generated,
                report: &report,
                dir: &dir,
                model_dir: &model_dir,
            });
        }
        let _ = fs::remove_dir_all(&model_dir);
        let tmp = scores_path.with_extension("tmp");
        fs::write(&tmp, lines).map_err(|e| st_err(&tmp, e))?;
        fs::rename(&tmp, &scores_path).map_err(|e| st_err(&scores_path, e))?;
        let summary = serde_json::json!({
            "step": step,
            "prompts": held.len(),
            "adherence_median": median(&adherence),
            "overall_median": median(&overall),
            "world_adherence_median": median(&world_adherence),
            "world_overall_median": median(&world_overall),
            "seconds": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        });
        let path = self.run_dir.join(stage).join("samples.jsonl");
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| st_err(&path, e))?;
        writeln!(log, "{summary}").map_err(|e| st_err(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::SampleSpec;

    #[test]
    fn samples_every_n_steps_and_at_the_end_unless_off() {
        let s = SampleSpec {
            every: 2000,
            ..SampleSpec::default()
        };
        let due: Vec<usize> = (1..=5500).filter(|&k| s.due(k, 5500)).collect();
        assert_eq!(due, [2000, 4000, 5500]);
        assert!(!SampleSpec::default().due(5500, 5500), "off by default");
        let none = SampleSpec {
            every: 10,
            prompts: 0,
            ..SampleSpec::default()
        };
        assert!(!none.due(10, 10));
    }
}
