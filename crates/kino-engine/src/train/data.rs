//! Training clips from the procedural world, made on the fly (a clip costs ~15 ms per core,
//! far less than a training step), deterministic per seed. Seeds at or above
//! [`HELD_OUT_SEEDS`] are never used for training: evaluation draws from there.

use kino_world::spec::{RandomOptions, SceneSpec};

use crate::pipeline::{EngineError, Result};

/// First seed of the held-out range (evaluation prompts and clips).
pub const HELD_OUT_SEEDS: u64 = 1 << 40;

/// What the world should make.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClipShape {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Frames per clip (1 + 4k for the causal VAE).
    pub frames: usize,
    pub sample_rate: u32,
}

impl ClipShape {
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / self.fps as f64
    }
}

/// One training clip: RGB8 frames, mono audio, and the text a user would have written.
#[derive(Debug, Clone)]
pub struct TrainClip {
    pub seed: u64,
    /// `frames` frames of `width * height * 3` bytes.
    pub frames: Vec<Vec<u8>>,
    /// Mono samples at the shape's rate, exactly `seconds * rate` long.
    pub audio: Vec<f32>,
    /// The conditioning text of the caption's single shot (what the engine feeds the text
    /// encoder at generation time for the same prompt).
    pub text: String,
}

/// Makes a single-shot world clip for `seed`; `caption_choice` picks one of the world's
/// caption styles (structured, synonyms, prose, short).
pub fn world_clip(shape: &ClipShape, seed: u64, caption_choice: usize) -> Result<TrainClip> {
    let opts = RandomOptions {
        duration_s: shape.seconds() as f32,
        fps: shape.fps,
        width: shape.width,
        height: shape.height,
        sample_rate: shape.sample_rate,
        max_shots: 1,
        ..RandomOptions::default()
    };
    let spec = SceneSpec::random(seed, &opts)
        .map_err(|e| EngineError::Invalid(format!("world seed {seed}: {e}")))?;
    let clip = kino_world::clip::sample(&spec)
        .map_err(|e| EngineError::Invalid(format!("world seed {seed}: {e}")))?;
    let mut frames: Vec<Vec<u8>> = (0..clip.video.len())
        .filter_map(|i| clip.video.frame_rgb(i))
        .collect();
    if frames.is_empty() {
        return Err(EngineError::Invalid(format!(
            "world seed {seed}: no frames"
        )));
    }
    while frames.len() < shape.frames {
        frames.push(frames.last().expect("non-empty").clone());
    }
    frames.truncate(shape.frames);
    let mono = clip.audio.to_mono();
    let mono = if mono.sample_rate() != shape.sample_rate {
        mono.resample(shape.sample_rate)?
    } else {
        mono
    };
    let mut audio = mono.samples().to_vec();
    audio.resize(
        (shape.seconds() * shape.sample_rate as f64).round() as usize,
        0.0,
    );
    let caption = &clip.captions[caption_choice % clip.captions.len()];
    let text = match kino_prompt::parse(caption) {
        Ok(parsed) if !parsed.plan.shots.is_empty() => {
            parsed.plan.shots[0].conditioning_text(&parsed.plan)
        }
        _ => caption.clone(),
    };
    Ok(TrainClip {
        seed,
        frames,
        audio,
        text,
    })
}
