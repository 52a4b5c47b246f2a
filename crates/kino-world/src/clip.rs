//! `sample`: one clip in memory (frames, sound, ground truth, captions), and `write_clip`.

use crate::audio::sound;
use crate::caption::captions;
use crate::error::{Result, WorldError};
use crate::prompt::scene_from_prompt;
use crate::render::render;
use crate::sim::{simulate, Simulation};
use crate::spec::SceneSpec;
use crate::truth::GroundTruth;
use kino_media::{AudioBuffer, EncodeOptions, VideoFrames};
use std::path::{Path, PathBuf};

/// A rendered world clip with everything known about it.
#[derive(Debug, Clone)]
pub struct WorldClip {
    pub spec: SceneSpec,
    pub simulation: Simulation,
    pub video: VideoFrames,
    pub audio: AudioBuffer,
    /// The JSON log (its `captions` are filled too).
    pub truth: GroundTruth,
    /// Captions, structured form first.
    pub captions: Vec<String>,
}

/// Simulates, renders and sounds a spec.
pub fn sample(spec: &SceneSpec) -> Result<WorldClip> {
    spec.validate()?;
    // parry2d 0.17 can panic on rare contact geometry (an index out of bounds in
    // clip_aabb_line, found writing 1000-clip datasets); report it as an error for this
    // scene instead of taking the process down.
    let simulation = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| simulate(spec)))
        .map_err(|p| {
            let message = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            WorldError::Physics {
                seed: spec.seed,
                message,
            }
        })?;
    let video = render(spec, &simulation)?;
    let audio = sound(spec, &simulation, spec.sample_rate)?;
    let mut truth = GroundTruth::new(spec, &simulation);
    let caps = captions(spec, &truth, spec.seed);
    truth.captions = caps.clone();
    Ok(WorldClip {
        spec: spec.clone(),
        simulation,
        video,
        audio,
        truth,
        captions: caps,
    })
}

/// Renders a prompt written in the world's vocabulary (see [`scene_from_prompt`]).
pub fn sample_from_prompt(prompt: &str) -> Result<WorldClip> {
    sample(&scene_from_prompt(prompt)?)
}

/// Where [`write_clip`] put things.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipFiles {
    pub mp4: PathBuf,
    pub json: PathBuf,
}

/// Writes `clip.mp4` (H.264 + AAC) and its ground-truth JSON. `path` is either the `.mp4`
/// file (the JSON goes beside it with a `.json` extension) or a directory (then
/// `clip.mp4` and `clip.json` inside it).
pub fn write_clip(path: &Path, clip: &WorldClip) -> Result<ClipFiles> {
    let mp4 = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mp4"))
    {
        path.to_path_buf()
    } else {
        std::fs::create_dir_all(path).map_err(|e| WorldError::io(path, e))?;
        path.join("clip.mp4")
    };
    if let Some(dir) = mp4.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| WorldError::io(dir, e))?;
    }
    let json = mp4.with_extension("json");
    kino_media::write_mp4(
        &mp4,
        &clip.video,
        Some(&clip.audio),
        &EncodeOptions::default(),
    )?;
    write_json(&json, &clip.truth)?;
    Ok(ClipFiles { mp4, json })
}

pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| WorldError::Json {
        path: path.display().to_string(),
        source,
    })?;
    std::fs::write(path, text).map_err(|e| WorldError::io(path, e))
}
