//! The `Pipeline` trait every model family implements, and the types around it.

use kino_prompt::ShotPlan;
use serde::Serialize;

use crate::sampler::Solver;

/// Everything that can go wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] kino_models::folder::ModelError),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Media(#[from] kino_media::MediaError),
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// Frames and sound of one clip (the pipelines always fill `audio`).
pub use kino_media::Clip;

/// How to sample. Size, fps and length come from the plan's clip settings unless set here.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateOptions {
    pub seed: u64,
    /// Denoising steps per shot.
    pub steps: usize,
    /// Classifier-free guidance scale for the video stream (1 = off).
    pub video_guidance: f64,
    /// Classifier-free guidance scale for the audio stream (1 = off).
    pub audio_guidance: f64,
    pub solver: Solver,
    /// Schedule shift (more steps at high noise when > 1).
    pub shift: f64,
    /// Override the plan's size (width, height).
    pub size: Option<(u32, u32)>,
    pub fps: Option<u32>,
    /// Override the plan's duration in seconds.
    pub seconds: Option<f64>,
    /// First frame to animate (image-to-video), RGB8, any size (resized to the output).
    #[serde(skip)]
    pub first_frame: Option<image::RgbImage>,
    /// Last frame (first-and-last-frame video), RGB8, any size (resized to the output): the
    /// clip's last shot ends on it. Only pipelines where [`Pipeline::supports_last_frame`]
    /// take it; the others refuse it.
    #[serde(skip)]
    pub last_frame: Option<image::RgbImage>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            steps: 12,
            video_guidance: 4.0,
            audio_guidance: 3.0,
            solver: Solver::UniPc,
            shift: 2.0,
            size: None,
            fps: None,
            seconds: None,
            first_frame: None,
            last_frame: None,
        }
    }
}

impl GenerateOptions {
    /// The most denoising steps per shot a request may ask for.
    pub const MAX_STEPS: usize = 1000;
    /// The largest guidance scale or schedule shift a request may ask for.
    pub const MAX_SCALE: f64 = 100.0;

    /// Refuses settings no sampler can use (NaN, infinities, a shift of zero or below,
    /// negative guidance, out-of-range steps or length), naming the setting: without this
    /// they sample NaN latents that decode to a blank clip.
    pub fn check(&self) -> Result<()> {
        let invalid = |what: &str, v: f64, rule: &str| {
            Err(EngineError::Invalid(format!("{what} {v}: {rule}")))
        };
        if self.steps == 0 || self.steps > Self::MAX_STEPS {
            return Err(EngineError::Invalid(format!(
                "steps {}: must be 1..={}",
                self.steps,
                Self::MAX_STEPS
            )));
        }
        for (what, g) in [
            ("video guidance", self.video_guidance),
            ("audio guidance", self.audio_guidance),
        ] {
            if !(0.0..=Self::MAX_SCALE).contains(&g) {
                return invalid(what, g, "must be a number from 0 to 100 (1 = off)");
            }
        }
        if !(self.shift > 0.0 && self.shift <= Self::MAX_SCALE) {
            return invalid(
                "shift",
                self.shift,
                "must be a number above 0 and at most 100 (1 = none)",
            );
        }
        if let Some(s) = self.seconds {
            if !(s.is_finite() && s > 0.0) {
                return invalid("seconds", s, "must be a number above 0");
            }
        }
        Ok(())
    }
}

/// Fails when `t` holds a NaN or an infinity: what damaged weights (or a broken kernel)
/// produce, and what would otherwise decode to a blank clip that looks like a result.
pub fn ensure_finite(t: &candle_core::Tensor, what: &str) -> Result<()> {
    let sum = t
        .to_dtype(candle_core::DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    if sum.is_finite() {
        return Ok(());
    }
    Err(EngineError::Invalid(format!(
        "the model produced non-finite {what} (NaN or infinity): its weights may be damaged \
         (`kino models verify DIR` checks every file against its manifest)"
    )))
}

/// Receives progress; the CLI draws bars, the server records job progress.
pub trait Progress {
    /// A new stage begins with `total` units of work.
    fn stage(&mut self, name: &str, total: u64);
    /// `done` units of the current stage are finished.
    fn set(&mut self, done: u64);
    /// Return true to stop as soon as possible (the call then fails with `Cancelled`).
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&mut self, _name: &str, _total: u64) {}
    fn set(&mut self, _done: u64) {}
}

/// Wall time per stage, in the order they ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimes {
    pub stages: Vec<(String, f64)>,
}

impl StageTimes {
    pub fn add(&mut self, name: &str, seconds: f64) {
        match self.stages.iter_mut().find(|(n, _)| n == name) {
            Some((_, s)) => *s += seconds,
            None => self.stages.push((name.to_string(), seconds)),
        }
    }

    pub fn total(&self) -> f64 {
        self.stages.iter().map(|(_, s)| s).sum()
    }

    pub fn to_text(&self) -> String {
        self.stages
            .iter()
            .map(|(n, s)| format!("{n} {s:.2}s"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A generated clip and how it was made.
#[derive(Debug, Clone)]
pub struct Generated {
    pub clip: Clip,
    pub seed: u64,
    pub times: StageTimes,
}

/// A model family's generation pipeline.
pub trait Pipeline {
    /// The model's name (from its folder).
    fn name(&self) -> &str;

    /// True when [`GenerateOptions::first_frame`] is taken (image-to-video); pipelines
    /// without it refuse a first frame.
    fn supports_first_frame(&self) -> bool {
        false
    }

    /// True when [`GenerateOptions::last_frame`] is taken (first-and-last-frame video);
    /// pipelines without it refuse a last frame.
    fn supports_last_frame(&self) -> bool {
        false
    }

    /// Generates the clip a plan describes, shot by shot.
    fn generate(
        &self,
        plan: &ShotPlan,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated>;

    /// Re-generates `source` following `plan`, keeping its motion: the source is noised to
    /// `strength` (0 = unchanged, 1 = ignore the source) and denoised under the new prompt.
    fn remix(
        &self,
        source: &Clip,
        plan: &ShotPlan,
        strength: f64,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated>;

    /// Continues `source` by `seconds` following `plan`; returns source + continuation.
    fn extend(
        &self,
        source: &Clip,
        plan: &ShotPlan,
        seconds: f64,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated>;
}
