//! What a queued job asks the engine for (stored as JSON in the video row).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobParams {
    pub width: u32,
    pub height: u32,
    /// Seconds to generate (for an extension: the new part only).
    pub seconds: f64,
    pub seed: u64,
    pub steps: usize,
    /// Remix/edit: how far to move from the source (0..=1].
    #[serde(default)]
    pub strength: Option<f64>,
    /// Size of the delivered file when it differs from the generated `width`x`height`
    /// (OpenAI's sizes beyond what the model makes: generated near the model's own
    /// resolution with the same aspect, then scaled up).
    #[serde(default)]
    pub output_size: Option<(u32, u32)>,
}

/// The sizes OpenAI's API defines.
pub const OPENAI_SIZES: [(u32, u32); 4] = [(720, 1280), (1280, 720), (1024, 1792), (1792, 1024)];

/// The size to generate for a requested output size of another aspect or scale: the same
/// aspect ratio with about the pixel count of the model's native size, sides multiples of
/// `multiple`.
pub fn generation_size(out: (u32, u32), native: (u32, u32), multiple: u32) -> (u32, u32) {
    let pixels = (native.0 * native.1) as f64;
    let aspect = out.0 as f64 / out.1 as f64;
    let h = (pixels / aspect).sqrt();
    let w = h * aspect;
    let snap = |x: f64| (((x / multiple as f64).round() as u32).max(1)) * multiple;
    (snap(w), snap(h))
}

/// Kinds of job.
pub const CREATE: &str = "create";
pub const REMIX: &str = "remix";
pub const EDIT: &str = "edit";
pub const EXTEND: &str = "extend";

/// Turns the sampler's stage/step reports into one 0-100 number: denoising is most of the
/// work (0-85, shot by shot), decoding video 85-95, audio 95-97; storing the files ends it.
#[derive(Debug, Default)]
pub struct ProgressMap {
    shots: usize,
    denoise_started: usize,
    stage: String,
    total: u64,
}

impl ProgressMap {
    pub fn new(shots: usize) -> Self {
        Self {
            shots: shots.max(1),
            ..Default::default()
        }
    }

    pub fn stage(&mut self, name: &str, total: u64) {
        if name == "denoise" {
            self.denoise_started += 1;
        }
        self.stage = name.to_string();
        self.total = total.max(1);
    }

    /// Percent done after `done` units of the current stage.
    pub fn percent(&self, done: u64) -> i64 {
        let f = (done as f64 / self.total as f64).clamp(0.0, 1.0);
        let p = match self.stage.as_str() {
            "denoise" => {
                let shot = self.denoise_started.saturating_sub(1).min(self.shots - 1) as f64;
                85.0 * (shot + f) / self.shots as f64
            }
            "decode video" => 85.0 + 10.0 * f,
            "decode audio" => 95.0 + 2.0 * f,
            _ => 0.0,
        };
        p.floor().clamp(0.0, 99.0) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_sizes_generate_near_the_native_pixel_count() {
        assert_eq!(generation_size((1280, 720), (128, 128), 16), (176, 96));
        assert_eq!(generation_size((720, 1280), (128, 128), 16), (96, 176));
        assert_eq!(generation_size((1792, 1024), (128, 128), 16), (176, 96));
    }

    #[test]
    fn progress_rises_through_shots_and_stages() {
        let mut m = ProgressMap::new(2);
        m.stage("denoise", 10);
        assert_eq!(m.percent(0), 0);
        assert_eq!(m.percent(10), 42);
        m.stage("denoise", 10);
        assert_eq!(m.percent(5), 63);
        m.stage("decode video", 4);
        assert_eq!(m.percent(4), 95);
        m.stage("decode audio", 1);
        assert_eq!(m.percent(1), 97);
    }
}
