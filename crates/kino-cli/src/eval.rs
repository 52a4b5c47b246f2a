//! `kino eval`: generate clips for the world's held-out prompts and judge them.
//!
//! Prompts come from world scenes whose seeds start at `HELD_OUT_SEEDS` (never drawn in
//! training). Each prompt is judged twice: on the clip the model generates, and on the world's
//! own rendering of the same scene (the judge's ceiling on that prompt). The table that
//! docs/models/kino-tiny.md reports comes from here.
//!
//! With `--out`, both clips of each prompt are written, each with honest provenance: the
//! model's clip goes through exactly what `kino generate` does with a clip
//! (`generate::finish`: the output check, kino's invisible watermark, a C2PA manifest with
//! `c2pa.created` / trainedAlgorithmicMedia naming the model), and the world's reference clip
//! is signed as a procedural render (`world::world_credentials`: algorithmicMedia, the world
//! seed, no watermark). The judge scores the frames as generated, before the watermark, so
//! the scores do not depend on `--out`.

use anyhow::{Context, Result};
use clap::Args;
use kino_engine::pipeline::{GenerateOptions, NoProgress, Pipeline};
use kino_engine::train::data::HELD_OUT_SEEDS;
use kino_provenance::credentials::{sign_mp4_bytes, Credentials};
use kino_world::JudgeReport;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::progress;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model folder (default: $KINO_MODEL, else the shipped kino-tiny).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Held-out prompts to generate and judge.
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// First held-out prompt (prompt i uses world seed 2^40 + i).
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Clip length (default 4; with --bar loss, the length the model trained on, from its
    /// folder's training notes, else 2).
    #[arg(long)]
    pub seconds: Option<f64>,
    #[arg(long, default_value_t = 12)]
    pub steps: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Which bar: single (one-shot adherence, sync, physics), multi-shot (object identity
    /// across cuts), remix (motion kept, colour changed, strength 0.5), autoencoder (the
    /// world's clips through the VAEs) or loss (the DiT's held-out flow-matching loss).
    #[arg(long, value_enum, default_value_t = crate::eval_bars::Bar::Single)]
    pub bar: crate::eval_bars::Bar,
    /// Write every clip (the model's as NNNN.mp4, the world's reference as NNNN-world.mp4),
    /// its prompt and both judge reports (reports.jsonl) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --out: refuse to write a model clip when a sampled frame's NSFW probability
    /// (open_nsfw) is at or above this, as `kino generate` does (0..=1); with
    /// --output-check, the threshold its refusals are counted at.
    #[arg(long, default_value_t = kino_safety::DEFAULT_NSFW_THRESHOLD)]
    pub nsfw_threshold: f32,
    /// Also run the output check on every clip of both sides (open_nsfw on the sampled
    /// frames, as `kino generate` does) and report its highest frame scores and how many
    /// clips it would refuse at --nsfw-threshold. No clip here is explicit, so every
    /// refusal is a false positive. With --out, a model clip the check refuses is not
    /// written (reports.jsonl says so) and the run goes on.
    #[arg(long)]
    pub output_check: bool,
    /// Holds the provenance key written clips are signed with.
    #[command(flatten)]
    pub data: crate::keys::DataDirArg,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl EvalArgs {
    /// The clip length of the generating bars: `--seconds`, else 4 s.
    pub fn seconds(&self) -> f64 {
        self.seconds.unwrap_or(4.0)
    }

    /// The first held-out seed, `2^40 + --start`, once it is known that the `span` seeds
    /// from there fit in a u64.
    pub fn first_seed(&self, span: u64) -> Result<u64> {
        HELD_OUT_SEEDS
            .checked_add(self.start)
            .filter(|s| s.checked_add(span).is_some())
            .with_context(|| format!("--start {}: too large", self.start))
    }
}

/// Scores of one side (model or world) over the prompts.
#[derive(Default, serde::Serialize)]
struct Side {
    adherence: Vec<f32>,
    colours: Vec<f32>,
    shapes: Vec<f32>,
    counts: Vec<f32>,
    camera: Vec<f32>,
    time_of_day: Vec<f32>,
    /// Per clip with contacts: median |onset - contact| in frames.
    sync_median_frames: Vec<f32>,
    sync_p90_frames: Vec<f32>,
    /// Per clip with free-fall segments.
    physics_r2: Vec<f32>,
    permanence: Vec<f32>,
    overall: Vec<f32>,
    /// With `--output-check`: each clip's highest open_nsfw frame score.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nsfw: Vec<f32>,
}

impl Side {
    fn add(&mut self, r: &JudgeReport) {
        let a = &r.adherence;
        self.adherence.push(a.overall);
        for (v, dst) in [
            (a.colours, &mut self.colours),
            (a.shapes, &mut self.shapes),
            (a.counts, &mut self.counts),
            (a.camera, &mut self.camera),
            (a.time_of_day, &mut self.time_of_day),
        ] {
            if let Some(v) = v {
                dst.push(v);
            }
        }
        let frame_ms = 1000.0 / r.fps as f32;
        if let Some(s) = r.sync.as_ref().filter(|s| s.visual_contacts > 0) {
            if let Some(m) = s.median_offset_ms {
                self.sync_median_frames.push(m / frame_ms);
            }
            if let Some(p) = s.p90_offset_ms {
                self.sync_p90_frames.push(p / frame_ms);
            }
        }
        if let Some(r2) = r.physics.r2 {
            self.physics_r2.push(r2);
        }
        self.permanence.push(r.tracker.permanence.score);
        self.overall.push(r.overall);
    }

    /// The table's rows; `nsfw_threshold` labels the output check's, which appear only
    /// when it ran.
    fn rows(&self, nsfw_threshold: f32) -> Vec<(String, String)> {
        let med =
            |v: &[f32]| median(v).map_or("n/a".to_string(), |m| format!("{m:.3} (n={})", v.len()));
        let mean = |v: &[f32]| {
            if v.is_empty() {
                "n/a".to_string()
            } else {
                format!(
                    "{:.3} (n={})",
                    v.iter().sum::<f32>() / v.len() as f32,
                    v.len()
                )
            }
        };
        let persist = if self.permanence.is_empty() {
            "n/a".to_string()
        } else {
            let ok = self.permanence.iter().filter(|&&p| p >= 1.0).count();
            format!("{:.0}%", 100.0 * ok as f32 / self.permanence.len() as f32)
        };
        let mut rows: Vec<(String, String)> = [
            ("adherence, median", med(&self.adherence)),
            ("  colours, mean", mean(&self.colours)),
            ("  shapes, mean", mean(&self.shapes)),
            ("  counts, mean", mean(&self.counts)),
            ("  camera, mean", mean(&self.camera)),
            ("  time of day, mean", mean(&self.time_of_day)),
            (
                "sync |onset-contact|, median of clip medians (frames)",
                med(&self.sync_median_frames),
            ),
            (
                "sync p90, median of clip p90s (frames)",
                med(&self.sync_p90_frames),
            ),
            ("free-fall R^2, median", med(&self.physics_r2)),
            ("objects persist (no violation)", persist),
            ("judge overall, median", med(&self.overall)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if !self.nsfw.is_empty() {
            let max = self.nsfw.iter().copied().fold(0.0, f32::max);
            let refused = self.nsfw.iter().filter(|&&s| s >= nsfw_threshold).count();
            rows.push((
                "output check: highest frame score, median / max".to_string(),
                format!("{} / {max:.3}", med(&self.nsfw)),
            ));
            rows.push((
                format!("output check: clips refused (score >= {nsfw_threshold})"),
                format!("{refused} of {}", self.nsfw.len()),
            ));
        }
        rows
    }
}

/// Writes a model's clips the way `kino generate` writes a clip (`generate::finish`: the
/// output check, kino's invisible watermark, a C2PA manifest with `c2pa.created` /
/// trainedAlgorithmicMedia naming the model). `kino eval --out` and `kino train`'s sample
/// clips use it.
pub(crate) struct ModelClipWriter {
    pub(crate) check: crate::safety::OutputCheck,
    pub(crate) key: kino_provenance::credentials::ProvenanceKey,
}

impl ModelClipWriter {
    /// Loads the output check (refusing frames at or above `nsfw_threshold`) and the
    /// provenance key in `data_dir` (made if missing).
    pub(crate) fn new(nsfw_threshold: f32, data_dir: &std::path::Path) -> Result<Self> {
        let check = crate::safety::SafetyArgs {
            policy: None,
            nsfw_threshold,
        }
        .output_check()?;
        let key = crate::keys::load_or_init_provenance(data_dir)?;
        Ok(Self { check, key })
    }

    /// Checks, watermarks, encodes, signs (naming model `name`, `version`) and writes.
    pub(crate) fn write(
        &self,
        path: &std::path::Path,
        generated: kino_engine::pipeline::Generated,
        started: Instant,
        name: &str,
        version: &str,
    ) -> Result<()> {
        let credentials = Credentials::created(name, version);
        crate::generate::finish(
            path,
            generated,
            started,
            &self.key,
            credentials,
            &self.check,
            None,
        )
    }
}

fn median(v: &[f32]) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    Some(s[s.len() / 2])
}

/// What makes the "model" side's clip of a held-out prompt.
enum Maker {
    /// The model generates it from the prompt.
    Generate(Box<kino_engine::twin::TwinPipeline>),
    /// The world's clip through the model's autoencoders (`--bar autoencoder`).
    Roundtrip(Box<kino_engine::autoencode::Autoencoders>, String),
}

impl Maker {
    fn name(&self) -> String {
        match self {
            Maker::Generate(p) => p.name().to_string(),
            Maker::Roundtrip(_, name) => format!("{name} autoencoders"),
        }
    }
}

pub fn run(args: &EvalArgs) -> Result<()> {
    use crate::eval_bars::Bar;
    if args.bar == Bar::Loss {
        return crate::eval_loss::run(args);
    }
    if !matches!(args.bar, Bar::Single | Bar::Autoencoder) {
        return crate::eval_bars::run(args);
    }
    anyhow::ensure!(
        (1..=10_000).contains(&args.count),
        "--count {}: must be 1..=10000",
        args.count
    );
    let (maker, (width, height), fps) = if args.bar == Bar::Autoencoder {
        anyhow::ensure!(
            args.out.is_none(),
            "--out is not supported with --bar autoencoder (it writes no clips)"
        );
        let dir = args
            .model
            .clone()
            .unwrap_or_else(crate::generate::default_model_dir);
        let folder = kino_models::folder::ModelFolder::open(&dir)
            .with_context(|| format!("opening model folder {}", dir.display()))?;
        let device = crate::device::parse(&args.device)?;
        let media = &folder.manifest().media;
        let size = media.sizes.first().copied().unwrap_or((128, 128));
        let fps = media.fps;
        let name = folder.manifest().name.clone();
        let ae = kino_engine::autoencode::Autoencoders::load(&folder, &device)
            .with_context(|| format!("loading the autoencoders of {}", dir.display()))?;
        (Maker::Roundtrip(Box::new(ae), name), size, fps)
    } else {
        let pipeline = crate::generate::load_twin(args.model.as_deref(), &args.device)?;
        let (size, fps) = (pipeline.model.size, pipeline.model.fps);
        (Maker::Generate(Box::new(pipeline)), size, fps)
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // What writing clips needs, loaded before the first clip is generated.
    let writer = match &args.out {
        None => None,
        Some(_) => {
            let writer = ModelClipWriter::new(args.nsfw_threshold, &args.data.resolve())?;
            let identity = crate::generate::model_identity(args.model.as_deref())?;
            Some((writer, identity))
        }
    };
    let output_check = match (&writer, args.output_check) {
        (_, false) => None,
        (Some((writer, _)), true) => Some(writer.check.clone()),
        (None, true) => Some(
            crate::safety::SafetyArgs {
                policy: None,
                nsfw_threshold: args.nsfw_threshold,
            }
            .output_check()?,
        ),
    };
    let mut log = match &args.out {
        Some(dir) => Some(std::fs::File::create(dir.join("reports.jsonl"))?),
        None => None,
    };
    let (mut model, mut world) = (Side::default(), Side::default());
    let bar = progress::bar("eval", args.count as u64);
    let started = Instant::now();
    let mut gen_seconds = 0.0;
    let first_seed = args.first_seed(args.count as u64)?;
    for i in 0..args.count {
        let seed = first_seed + i as u64;
        let opts = kino_world::RandomOptions {
            duration_s: args.seconds() as f32,
            fps,
            width,
            height,
            max_shots: 1,
            ..Default::default()
        };
        let spec = kino_world::SceneSpec::random(seed, &opts)?;
        let truth = match kino_world::sample(&spec) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipping held-out seed {seed}: {e}");
                continue;
            }
        };
        let prompt = truth.captions[0].clone();
        let plan = crate::plan::parse_plan(&prompt)?;
        let t = Instant::now();
        let generated = match &maker {
            Maker::Generate(pipeline) => pipeline.generate(
                &plan,
                &GenerateOptions {
                    seed: i as u64,
                    steps: args.steps,
                    seconds: Some(args.seconds()),
                    ..Default::default()
                },
                &mut NoProgress,
            )?,
            Maker::Roundtrip(ae, _) => {
                let truth_clip = kino_media::Clip {
                    video: truth.video.clone(),
                    audio: Some(truth.audio.clone()),
                };
                kino_engine::pipeline::Generated {
                    clip: ae.roundtrip(&truth_clip)?,
                    seed: 0,
                    times: Default::default(),
                }
            }
        };
        gen_seconds += t.elapsed().as_secs_f64();
        let clip = &generated.clip;
        let got = kino_world::judge(&clip.video, clip.audio.as_ref(), &prompt)?;
        let ceiling = kino_world::judge(&truth.video, Some(&truth.audio), &prompt)?;
        model.add(&got);
        world.add(&ceiling);
        // The output check's scores (false positives: nothing here is explicit).
        let mut refused = None;
        if let Some(check) = &output_check {
            let score = check.highest_score(&clip.video)?;
            model.nsfw.push(score);
            world.nsfw.push(check.highest_score(&truth.video)?);
            if score >= check.threshold() {
                refused = Some(score);
            }
        }
        if let (Some(dir), Some(log), Some((writer, (name, version)))) =
            (&args.out, log.as_mut(), &writer)
        {
            let (file, world_file) = (format!("{i:04}.mp4"), format!("{i:04}-world.mp4"));
            let path = dir.join(&file);
            if refused.is_none() {
                bar.suspend(|| writer.write(&path, generated, t, name, version))?;
            }
            let key = &writer.key;
            let path = dir.join(&world_file);
            let (bytes, _) = kino_media::encode_mp4(
                &truth.video,
                Some(&truth.audio),
                &kino_media::EncodeOptions::default(),
            )?;
            let signed = sign_mp4_bytes(key, &crate::world::world_credentials(seed), &bytes)
                .with_context(|| format!("signing {}", path.display()))?;
            kino_media::write_atomically(&path, &signed)?;
            let line = serde_json::json!({
                "index": i, "seed": seed, "prompt": prompt, "model": got, "world": ceiling,
                "file": refused.is_none().then_some(file), "world_file": world_file,
                "output_check_refused": refused,
            });
            writeln!(log, "{line}")?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = model.overall.len();
    if args.json {
        let out = serde_json::json!({
            "model": maker.name(), "bar": format!("{:?}", args.bar), "clips": n, "seconds": args.seconds(), "steps": args.steps,
            "size": [width, height], "fps": fps, "generate_seconds_mean": gen_seconds / n.max(1) as f64,
            "model_scores": model, "world_scores": world,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{}: {n} held-out prompts (world seeds 2^40+{}..), {}x{} {fps} fps {} s, {} steps; {:.1} s per clip, {:.0} s total",
        maker.name(),
        args.start,
        width,
        height,
        args.seconds(),
        args.steps,
        gen_seconds / n.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    println!("| measure | {} | world (judge ceiling) |", maker.name());
    println!("|---|---|---|");
    let t = args.nsfw_threshold;
    for ((name, m), (_, w)) in model.rows(t).into_iter().zip(world.rows(t)) {
        println!("| {name} | {m} | {w} |");
    }
    Ok(())
}
