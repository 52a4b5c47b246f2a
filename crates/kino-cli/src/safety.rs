//! The content policy on both ends of every clip kino makes, from the CLI or the server:
//! the prompt is checked before anything is generated (`kino_safety::Policy`), and the
//! frames after generation, before anything is written or stored (open_nsfw on sampled
//! frames, `kino_safety::NsfwClassifier`). Both refusals say why.

use anyhow::{Context, Result};
use clap::Args;
use kino_media::VideoFrames;
use kino_server::api::PromptPolicy;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The operator's safety settings (shared by generate/remix/extend and serve/worker).
#[derive(Args, Debug, Clone)]
pub struct SafetyArgs {
    /// The content policy for prompts (TOML, see docs/safety.md; default: built-in rules).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Refuse a clip when a sampled frame's NSFW probability (open_nsfw) is at or above
    /// this (0..=1; 1 checks nothing in practice).
    #[arg(long, default_value_t = kino_safety::DEFAULT_NSFW_THRESHOLD)]
    pub nsfw_threshold: f32,
}

impl SafetyArgs {
    /// The prompt policy: built-in rules (or the operator's file) plus, when the model folder
    /// has kino's MiniLM text encoder, the similarity layer.
    pub fn prompt_policy(&self, model_dir: &Path) -> Result<Arc<dyn PromptPolicy>> {
        let policy = match &self.policy {
            Some(f) => kino_safety::Policy::from_file(f)?,
            None => kino_safety::Policy::default(),
        };
        // A diffusers folder (Wan) has no kino sentence encoder; the policy's similarity
        // check uses the default model's (`KINO_MODEL` or the shipped kino-tiny).
        let shipped;
        let model_dir =
            if kino_models::diffusers_folder::DiffusersFolder::is_diffusers_folder(model_dir) {
                shipped = crate::generate::default_model_dir();
                shipped.as_path()
            } else {
                model_dir
            };
        let policy = match policy.clone().with_model_dir(model_dir) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("content policy: rules only ({e})");
                policy
            }
        };
        Ok(Arc::new(PromptRules(policy)))
    }

    /// The output check, with the embedded classifier.
    pub fn output_check(&self) -> Result<OutputCheck> {
        if !(0.0..=1.0).contains(&self.nsfw_threshold) {
            anyhow::bail!(
                "--nsfw-threshold {}: must be a probability in 0..=1",
                self.nsfw_threshold
            );
        }
        Ok(OutputCheck {
            classifier: kino_safety::NsfwClassifier::embedded()
                .context("loading the output check's classifier")?,
            threshold: self.nsfw_threshold,
        })
    }
}

/// kino-safety's prompt policy as the server's `PromptPolicy`.
pub struct PromptRules(kino_safety::Policy);

impl PromptPolicy for PromptRules {
    fn check(&self, prompt: &str) -> std::result::Result<(), String> {
        match self.0.check(prompt) {
            kino_safety::Verdict::Allowed => Ok(()),
            kino_safety::Verdict::Refused(r) => Err(format!(
                "Your request was blocked by the content policy ({}): {} (at bytes {}..{}: \"{}\").",
                r.class, r.reason, r.span.0, r.span.1, r.matched_text
            )),
        }
    }
}

/// The check on generated frames.
#[derive(Clone)]
pub struct OutputCheck {
    classifier: kino_safety::NsfwClassifier,
    threshold: f32,
}

impl OutputCheck {
    /// The highest open_nsfw score among the frames [`OutputCheck::check`] samples, whether
    /// or not it reaches the threshold (`kino eval --output-check` measures false positives
    /// with it).
    pub fn highest_score(&self, video: &VideoFrames) -> Result<f32> {
        let (w, h) = (video.width(), video.height());
        let (_, frames) = sampled_frames(video);
        // Every sampled frame is scored whatever the threshold; at 1 the verdict carries the
        // highest score unless a frame scores exactly 1 (then that one, also the highest).
        let verdict = self
            .classifier
            .check_frames(frames.iter().map(|f| (w, h, f.as_slice())), 1.0)?;
        Ok(match verdict {
            kino_safety::FrameVerdict::Allowed { max_score, .. } => max_score,
            kino_safety::FrameVerdict::Refused { score, .. } => score,
        })
    }

    /// The score at or above which a clip is refused.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// `Ok(highest score)` when the clip may be kept, `Err(reason)` when it is refused (the
    /// reason is for the user); an error of the check itself also refuses (it fails closed).
    pub fn check(&self, video: &VideoFrames) -> std::result::Result<f32, String> {
        let (w, h) = (video.width(), video.height());
        let (picked, frames) = sampled_frames(video);
        let verdict = self
            .classifier
            .check_frames(frames.iter().map(|f| (w, h, f.as_slice())), self.threshold)
            .map_err(|e| {
                format!("The output check could not run, so the clip was not kept: {e}")
            })?;
        match verdict {
            kino_safety::FrameVerdict::Allowed { max_score, .. } => Ok(max_score),
            kino_safety::FrameVerdict::Refused { frame, score } => {
                let index = picked.get(frame).copied().unwrap_or(frame);
                Err(format!(
                    "The generated clip was blocked by the output check: frame {index} (at {:.2} s) \
                     looks sexually explicit (open_nsfw score {score:.2}, threshold {:.2}).",
                    video.duration_s() * index as f64 / video.len().max(1) as f64,
                    self.threshold
                ))
            }
        }
    }
}

/// The frames the classifier scores (their indices and RGB pixels): sampled here so that
/// only those are converted to RGB.
fn sampled_frames(video: &VideoFrames) -> (Vec<usize>, Vec<Vec<u8>>) {
    let picked = kino_safety::sample_indices(video.len());
    let frames = picked
        .iter()
        .map(|&i| video.frame_rgb(i).unwrap_or_default())
        .collect();
    (picked, frames)
}
