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
