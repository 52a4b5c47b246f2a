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
    /// Per frame (as many as `frames`), the pixel boxes `[x0, y0, x1, y1]` of the objects
    /// in view, from the world's ground truth (the video VAE weights these pixels up).
    pub object_boxes: Vec<Vec<[f32; 4]>>,
}

/// The world's options for single-shot clips of `shape`.
pub(super) fn random_options(shape: &ClipShape) -> RandomOptions {
    RandomOptions {
        duration_s: shape.seconds() as f32,
        fps: shape.fps,
        width: shape.width,
        height: shape.height,
        sample_rate: shape.sample_rate,
        max_shots: 1,
        ..RandomOptions::default()
    }
}

/// Makes a single-shot world clip for `seed`; `caption_choice` picks one of the world's
/// caption styles (structured, synonyms, prose, short).
pub fn world_clip(shape: &ClipShape, seed: u64, caption_choice: usize) -> Result<TrainClip> {
    let spec = SceneSpec::random(seed, &random_options(shape))
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
    let mut object_boxes: Vec<Vec<[f32; 4]>> = (0..frames.len())
        .map(|i| {
            clip.truth
                .frames
                .get(i)
                .map(|f| {
                    f.objects
                        .iter()
                        .filter(|o| o.visible)
                        .map(|o| o.bbox)
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    while frames.len() < shape.frames {
        frames.push(frames.last().expect("non-empty").clone());
        object_boxes.push(object_boxes.last().cloned().unwrap_or_default());
    }
    frames.truncate(shape.frames);
    object_boxes.truncate(shape.frames);
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
        object_boxes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_boxes_follow_the_frames_and_hold_the_objects() {
        let shape = ClipShape {
            width: 128,
            height: 128,
            fps: 24,
            frames: 49,
            sample_rate: 16_000,
        };
        let (mut inside, mut on_object) = (0, 0);
        for seed in 0..6 {
            let c = world_clip(&shape, seed, 0).unwrap();
            let spec = SceneSpec::random(seed, &random_options(&shape)).unwrap();
            let colours: Vec<[f32; 3]> = spec
                .objects
                .iter()
                .map(|o| o.colour.rgb().map(|v| v * 255.0))
                .collect();
            assert_eq!(c.object_boxes.len(), c.frames.len());
            assert!(c.object_boxes.iter().any(|b| !b.is_empty()), "seed {seed}");
            for (f, boxes) in c.frames.iter().zip(&c.object_boxes) {
                let px = |x: usize, y: usize| -> [f32; 3] {
                    let p = &f[(y * 128 + x) * 3..][..3];
                    [p[0] as f32, p[1] as f32, p[2] as f32]
                };
                let dist = |a: [f32; 3], b: [f32; 3]| -> f32 {
                    a.iter().zip(b).map(|(a, b)| (a - b).abs()).sum()
                };
                let nearest = |p: [f32; 3]| {
                    colours
                        .iter()
                        .map(|&c| dist(p, c))
                        .fold(f32::INFINITY, f32::min)
                };
                for b in boxes {
                    assert!(b[0] < b[2] && b[1] < b[3], "seed {seed}: box {b:?}");
                    if b[0] < 0.0 || b[1] < 0.0 || b[2] > 127.0 || b[3] > 127.0 {
                        continue;
                    }
                    // The box centre shows an object's colour, nearer to it than the sky
                    // at the top of that column is.
                    let (x, y) = (
                        ((b[0] + b[2]) / 2.0) as usize,
                        ((b[1] + b[3]) / 2.0) as usize,
                    );
                    inside += 1;
                    if nearest(px(x, y)) < nearest(px(x, 0)) {
                        on_object += 1;
                    }
                }
            }
        }
        assert!(inside > 100, "{inside} boxes inside the frame");
        assert!(
            on_object * 10 >= inside * 9,
            "only {on_object} of {inside} box centres show an object's colour"
        );
    }
}
