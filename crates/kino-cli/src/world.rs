//! `kino world ...` and `kino judge`: the procedural world as a previsualisation tool, a
//! dataset writer, and the judge that scores any clip.
//!
//! Every world clip kino writes as an MP4 (`kino world sample`, the reference clips of
//! `kino eval --out`) is signed with C2PA content credentials that say what it is: a
//! procedural render, digital source type *algorithmicMedia* ("created purely by an
//! algorithm not based on any sampled training data"), by kino-world, with the world seed in
//! kino's render assertion ([`world_credentials`]). No trained model takes part (physics
//! simulation, vector drawing, modal synthesis), so the manifest says
//! neither *trainedAlgorithmicMedia* nor names a model, and the frames get no invisible
//! watermark: that mark says "a kino model generated this", and world clips are also the
//! judge's ground truth, whose pixels are left exactly as rendered.

use crate::plan::read_prompt;
use crate::progress;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use kino_provenance::credentials::{Credentials, RenderClaim};
use std::path::PathBuf;
use std::time::Instant;

/// The software agent a world clip's manifest names.
pub const WORLD_RENDERER: &str = "kino-world";

/// The content credentials of a clip kino-world rendered from the scene with `seed`:
/// `c2pa.created`, algorithmicMedia, by kino-world (this kino's version), and the seed.
pub fn world_credentials(seed: u64) -> Credentials {
    let mut c = Credentials::rendered(
        WORLD_RENDERER,
        env!("CARGO_PKG_VERSION"),
        RenderClaim {
            renderer: WORLD_RENDERER.into(),
            seed,
        },
    );
    c.title = Some("kino-world render".into());
    c
}

#[derive(Subcommand)]
pub enum WorldCommand {
    /// Render a prompt written in the world's vocabulary: objects, colours, floors, time of
    /// day, camera moves (e.g. "a red ball falls onto a stone floor at dawn, slow push-in").
    Sample {
        /// The prompt (text, a file, or - for stdin).
        #[arg(long)]
        prompt: String,
        #[arg(short, long)]
        output: PathBuf,
        /// Frame size, e.g. 640x360 (default: the prompt's, else 1280x720).
        #[arg(long)]
        size: Option<String>,
        /// Clip length in seconds.
        #[arg(long)]
        seconds: Option<f32>,
        /// Frames per second (12-30).
        #[arg(long)]
        fps: Option<u32>,
        /// Random seed (initial positions, sounds, grain).
        #[arg(long)]
        seed: Option<u64>,
        /// Holds the provenance key the clip is signed with.
        #[command(flatten)]
        data: crate::keys::DataDirArg,
    },
    /// Write a deterministic training dataset of random world clips.
    Dataset {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Clip length in seconds.
        #[arg(long, default_value_t = 2.0)]
        seconds: f32,
        /// Frame size, e.g. 128x128.
        #[arg(long, default_value = "128x128")]
        size: String,
    },
}

/// "640x360" -> (640, 360).
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("--size {s}: expected WIDTHxHEIGHT, e.g. 640x360"))?;
    let (w, h): (u32, u32) = (
        w.trim()
            .parse()
            .with_context(|| format!("--size {s}: bad width"))?,
        h.trim()
            .parse()
            .with_context(|| format!("--size {s}: bad height"))?,
    );
    if w < 16 || h < 16 || w > 1920 || h > 1920 || w % 2 != 0 || h % 2 != 0 {
        bail!("--size {s}: each side must be even and within 16..=1920");
    }
    Ok((w, h))
}

pub fn run(cmd: WorldCommand) -> Result<()> {
    match cmd {
        WorldCommand::Sample {
            prompt,
            output,
            size,
            seconds,
            fps,
            seed,
            data,
        } => {
            let text = read_prompt(&prompt)?;
            let start = Instant::now();
            let mut spec = kino_world::scene_from_prompt(&text)?;
            if let Some(size) = size {
                (spec.width, spec.height) = parse_size(&size)?;
            }
            if let Some(s) = seconds {
                if !(0.5..=60.0).contains(&s) {
                    bail!("--seconds {s}: must be within 0.5..=60");
                }
                spec.set_duration(s);
            }
            if let Some(f) = fps {
                if !(12..=30).contains(&f) {
                    bail!("--fps {f}: the world renders 12-30 fps");
                }
                spec.fps = f;
            }
            if let Some(seed) = seed {
                spec.seed = seed;
            }
            let key = crate::keys::load_or_init_provenance(&data.resolve())?;
            let bar = progress::spinner("rendering");
            let clip = kino_world::sample(&spec)?;
            bar.finish_and_clear();
            let files = kino_world::write_clip(&output, &clip)?;
            // Signed in place (the file is replaced whole); an unsigned clip is not left behind.
            let signed = kino_provenance::credentials::sign_mp4(
                &key,
                &world_credentials(spec.seed),
                &files.mp4,
                &files.mp4,
            );
            if let Err(e) = signed {
                let _ = std::fs::remove_file(&files.mp4);
                let _ = std::fs::remove_file(&files.json);
                return Err(e).with_context(|| format!("signing {}", files.mp4.display()));
            }
            eprintln!(
                "wrote {} and {} ({}x{}, {} frames at {} fps, {:.1} s, seed {}) in {:.1} s",
                files.mp4.display(),
                files.json.display(),
                spec.width,
                spec.height,
                clip.video.len(),
                spec.fps,
                clip.video.duration_s(),
                spec.seed,
                start.elapsed().as_secs_f64()
            );
            eprintln!(
                "signed (C2PA): rendered by kino-world (algorithmicMedia), seed {}",
                spec.seed
            );
            Ok(())
        }
        WorldCommand::Dataset {
            count,
            out,
            seed,
            seconds,
            size,
        } => {
            let (width, height) = parse_size(&size)?;
            let mut opts = kino_world::DatasetOptions::default();
            opts.random.duration_s = seconds;
            opts.random.width = width;
            opts.random.height = height;
            let bar = progress::spinner("writing");
            let summary = kino_world::write_dataset(&out, count, seed, &opts)?;
            bar.finish_and_clear();
            eprintln!(
                "wrote {} clips in {} shards to {} in {:.1} s ({:.1} clips/s)",
                summary.count,
                summary.shards.len(),
                out.display(),
                summary.seconds,
                summary.clips_per_s
            );
            Ok(())
        }
    }
}

/// `kino judge CLIP --prompt P [--json]`.
pub fn judge(clip: PathBuf, prompt: &str, json: bool) -> Result<()> {
    let text = read_prompt(prompt)?;
    let decoded = kino_media::read_mp4(&clip)?;
    let report = kino_world::judge(&decoded.video, decoded.audio.as_ref(), &text)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
