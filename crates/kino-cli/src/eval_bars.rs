//! `kino eval --bar multi-shot|remix`: the identity-across-cuts and remix bars.
//!
//! Both draw world scenes from the held-out seeds (`HELD_OUT_SEEDS` + `--start` + i) and judge
//! the model's clip next to the world's own clip of the same scene (the judge's ceiling):
//!
//! * **multi-shot**: scenes with up to two shots; only those with two shots and an object
//!   whose centre stays in the frame for at least half of every shot (the shared objects, from
//!   the world's ground truth) are kept. The prompt is the world's caption of the scene; the
//!   model generates it and `kino_world::judge::identity` checks, at the scene's shot starts,
//!   that the shared objects present in shot 1 keep their colour and silhouette in shot 2.
//! * **remix**: one-shot scenes. The source is the world's rendering; one object's colour is
//!   changed in the `SceneSpec` to a palette colour no object has, and the edited scene's
//!   caption is the new prompt. The model remixes the source at strength 0.5 and
//!   `kino_world::judge::remix` measures the trajectory error against the source and whether
//!   the new colour replaced the old one. The world's rendering of the edited scene is the
//!   ceiling.
//!
//! With `--out DIR` the prompts and both reports of every clip go to `DIR/reports.jsonl`
//! (clips are not written in these modes).

use anyhow::{Context, Result};
use kino_engine::pipeline::{GenerateOptions, NoProgress, Pipeline};
use kino_world::judge::identity::{identity_in_video, IdentityReport};
use kino_world::judge::remix::{remix, RemixReport};
use kino_world::vocab::Colour;
use kino_world::{RandomOptions, SceneSpec, WorldClip};
use std::io::Write;
use std::time::Instant;

use crate::eval::EvalArgs;
use crate::progress;

/// Which of the bars `kino eval` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Bar {
    /// One-shot prompts: adherence, sync, physics, permanence.
    Single,
    /// Two-shot prompts: object identity (colour and silhouette) across the cut.
    MultiShot,
    /// Remix at strength 0.5: the source's motion kept, one object's colour changed.
    Remix,
    /// The single-shot measures on the world's clips passed through the model's
    /// autoencoders only (video VAE; audio VAE + vocoder): the ceiling any DiT in these
    /// latent spaces can reach. Also reads partial folders (`kino train --stop-before-dit`).
    Autoencoder,
    /// No generation: the DiT's flow-matching loss on the held-out scenes (see
    /// `kino_engine::flow_loss`), for choosing between training runs.
    Loss,
}

/// The remix strength the bar names.
pub const REMIX_STRENGTH: f64 = 0.5;
/// Held-out seeds tried per kept multi-shot scene before giving up.
const MAX_TRIES_PER_CLIP: usize = 50;

/// Identity scores of one side (model or world).
#[derive(Default, serde::Serialize)]
struct IdentitySide {
    kept: Vec<bool>,
    /// A shared object was present in shot 1.
    carried_any: Vec<bool>,
    carried: Vec<f32>,
    /// Share of identity checks passed, per clip with checks.
    checks_passed: Vec<f32>,
    /// The shot boundary has a detected cut.
    cut_seen: Vec<bool>,
}

impl IdentitySide {
    fn add(&mut self, r: &IdentityReport) {
        self.kept.push(r.kept);
        self.carried_any.push(!r.carried.is_empty());
        self.carried.push(r.carried.len() as f32);
        if !r.checks.is_empty() {
            let ok = r.checks.iter().filter(|c| c.pass).count();
            self.checks_passed.push(ok as f32 / r.checks.len() as f32);
        }
        self.cut_seen
            .push(!r.boundaries.is_empty() && r.cuts_at_boundaries == r.boundaries.len());
    }

    fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("identity kept across the cut", share(&self.kept)),
            ("shared object present in shot 1", share(&self.carried_any)),
            ("objects carried from shot 1, mean", mean(&self.carried)),
            (
                "identity checks passed, mean (clips with checks)",
                mean(&self.checks_passed),
            ),
            ("cut detected at the shot boundary", share(&self.cut_seen)),
        ]
    }
}

/// Remix scores of one side (model or world).
#[derive(Default, serde::Serialize)]
struct RemixSide {
    /// Per clip with a compared frame.
    trajectory_error: Vec<f32>,
    coverage: Vec<f32>,
    motion_kept: Vec<bool>,
    colour_follows: Vec<bool>,
    pass: Vec<bool>,
}

impl RemixSide {
    fn add(&mut self, r: &RemixReport) {
        if let Some(e) = r.trajectory_error {
            self.trajectory_error.push(e);
        }
        self.coverage.push(r.coverage);
        self.motion_kept.push(r.motion_kept);
        self.colour_follows.push(r.colour_follows.unwrap_or(false));
        self.pass.push(r.pass);
    }

    fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "trajectory error, median (frame diagonals)",
                median(&self.trajectory_error),
            ),
            (
                "trajectory error, mean (frame diagonals)",
                mean(&self.trajectory_error),
            ),
            ("tracked coverage of the source, mean", mean(&self.coverage)),
            (
                "motion kept (error <= 0.05, coverage >= 0.5)",
                share(&self.motion_kept),
            ),
            (
                "new colour seen, old colour gone",
                share(&self.colour_follows),
            ),
            ("both (the remix bar)", share(&self.pass)),
        ]
    }
}

fn share(v: &[bool]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    let ok = v.iter().filter(|&&b| b).count();
    format!(
        "{:.0}% ({ok}/{})",
        100.0 * ok as f32 / v.len() as f32,
        v.len()
    )
}

fn mean(v: &[f32]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    format!(
        "{:.3} (n={})",
        v.iter().sum::<f32>() / v.len() as f32,
        v.len()
    )
}

fn median(v: &[f32]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    format!("{:.3} (n={})", s[s.len() / 2], v.len())
}

fn colours(spec: &SceneSpec) -> Vec<Colour> {
    spec.objects.iter().map(|o| o.colour).collect()
}

/// First frame of every shot after the first.
fn shot_starts(spec: &SceneSpec) -> Vec<usize> {
    spec.shots[1..]
        .iter()
        .map(|s| (s.start_s * spec.fps as f32).round() as usize)
        .collect()
}

/// Colours of the objects whose centre is inside the frame in at least half of every shot's
/// frames (the world's ground truth).
fn shared_colours(clip: &WorldClip) -> Vec<Colour> {
    let spec = &clip.spec;
    let frames = &clip.truth.frames;
    let mut edges = vec![0];
    edges.extend(shot_starts(spec).into_iter().filter(|&b| b < frames.len()));
    edges.push(frames.len());
    let (w, h) = (spec.width as f32, spec.height as f32);
    spec.objects
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            edges.windows(2).all(|e| {
                let inside = frames[e[0]..e[1]]
                    .iter()
                    .filter(|f| {
                        let [x, y] = f.objects[*i].pixel;
                        (0.0..w).contains(&x) && (0.0..h).contains(&y)
                    })
                    .count();
                e[1] > e[0] && inside * 2 >= e[1] - e[0]
            })
        })
        .map(|(_, o)| o.colour)
        .collect()
}

/// The scene with one object's colour changed to a palette colour no object has
/// (object and colour drawn from the seed). Returns the edited scene and the object's index.
fn recoloured(spec: &SceneSpec) -> Option<(SceneSpec, usize)> {
    let mut rng = kino_world::rng::Rng::stream(spec.seed, 0x0072_656d_6978);
    let free: Vec<Colour> = Colour::ALL
        .iter()
        .copied()
        .filter(|c| spec.objects.iter().all(|o| o.colour != *c))
        .collect();
    if free.is_empty() || spec.objects.is_empty() {
        return None;
    }
    let k = rng.below(spec.objects.len());
    let mut edited = spec.clone();
    edited.objects[k].colour = rng.pick(&free);
    Some((edited, k))
}

pub fn run(args: &EvalArgs) -> Result<()> {
    anyhow::ensure!(
        (1..=10_000).contains(&args.count),
        "--count {}: must be 1..=10000",
        args.count
    );
    let pipeline = crate::generate::load_twin(args.model.as_deref(), &args.device)?;
    let (width, height) = pipeline.model.size;
    let fps = pipeline.model.fps;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut log = match &args.out {
        Some(dir) => {
            let path = dir.join("reports.jsonl");
            Some(
                std::fs::File::create(&path)
                    .with_context(|| format!("creating {}", path.display()))?,
            )
        }
        None => None,
    };
    let multi = args.bar == Bar::MultiShot;
    let opts = RandomOptions {
        duration_s: args.seconds() as f32,
        fps,
        width,
        height,
        max_shots: if multi { 2 } else { 1 },
        ..Default::default()
    };
    let gen_opts = |i: usize| GenerateOptions {
        seed: i as u64,
        steps: args.steps,
        seconds: Some(args.seconds()),
        ..Default::default()
    };
    let (mut model_id, mut world_id) = (IdentitySide::default(), IdentitySide::default());
    let (mut model_rx, mut world_rx) = (RemixSide::default(), RemixSide::default());
    let bar = progress::bar(
        if multi { "multi-shot" } else { "remix" },
        args.count as u64,
    );
    let started = Instant::now();
    let mut gen_seconds = 0.0;
    let (mut done, mut tried) = (0usize, 0u64);
    let max_tries = (args.count * if multi { MAX_TRIES_PER_CLIP } else { 2 }) as u64;
    let first_seed = args.first_seed(max_tries)?;
    while done < args.count && tried < max_tries {
        let seed = first_seed + tried;
        tried += 1;
        let spec = SceneSpec::random(seed, &opts)
            .with_context(|| format!("drawing the scene of held-out seed {seed}"))?;
        if multi && spec.shots.len() < 2 {
            continue;
        }
        let truth = match kino_world::sample(&spec) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipping held-out seed {seed}: {e}");
                continue;
            }
        };
        let i = done;
        let line = if multi {
            let shared = shared_colours(&truth);
            if shared.is_empty() {
                continue;
            }
            let prompt = truth.captions[0].clone();
            let plan = crate::plan::parse_plan(&prompt)
                .with_context(|| format!("reading the caption of held-out seed {seed}"))?;
            let t = Instant::now();
            let generated = pipeline
                .generate(&plan, &gen_opts(i), &mut NoProgress)
                .with_context(|| format!("generating held-out seed {seed}"))?;
            gen_seconds += t.elapsed().as_secs_f64();
            let starts = shot_starts(&spec);
            let got = identity_in_video(&generated.clip.video, &starts, &shared);
            let ceiling = identity_in_video(&truth.video, &starts, &shared);
            model_id.add(&got);
            world_id.add(&ceiling);
            serde_json::json!({"index": i, "seed": seed, "prompt": prompt, "shared": shared,
                "model": got, "world": ceiling})
        } else {
            let Some((edited, k)) = recoloured(&spec) else {
                continue;
            };
            let target = match kino_world::sample(&edited) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("skipping held-out seed {seed} (recoloured): {e}");
                    continue;
                }
            };
            let prompt = target.captions[0].clone();
            let plan = crate::plan::parse_plan(&prompt).with_context(|| {
                format!("reading the recoloured caption of held-out seed {seed}")
            })?;
            let source = kino_media::Clip {
                video: truth.video.clone(),
                audio: Some(truth.audio.clone()),
            };
            let t = Instant::now();
            let generated = pipeline
                .remix(
                    &source,
                    &plan,
                    REMIX_STRENGTH,
                    &gen_opts(i),
                    &mut NoProgress,
                )
                .with_context(|| format!("remixing held-out seed {seed}"))?;
            gen_seconds += t.elapsed().as_secs_f64();
            let (from, to) = (colours(&spec), colours(&edited));
            let got = remix(&truth.video, &from, &generated.clip.video, &to)
                .with_context(|| format!("judging the remix of held-out seed {seed}"))?;
            let ceiling = remix(&truth.video, &from, &target.video, &to).with_context(|| {
                format!("judging the world's recoloured rendering of held-out seed {seed}")
            })?;
            model_rx.add(&got);
            world_rx.add(&ceiling);
            serde_json::json!({"index": i, "seed": seed, "source_prompt": truth.captions[0],
                "prompt": prompt, "object": k, "from": spec.objects[k].colour,
                "to": edited.objects[k].colour, "model": got, "world": ceiling})
        };
        if let Some(log) = log.as_mut() {
            writeln!(log, "{line}").context("writing reports.jsonl")?;
        }
        done += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if done < args.count {
        eprintln!(
            "only {done} of {} scenes qualified in {tried} held-out seeds",
            args.count
        );
    }
    let name = if multi { "multi-shot" } else { "remix" };
    let per_clip = gen_seconds / done.max(1) as f64;
    let seeds = format!("2^40+{}..2^40+{}", args.start, args.start + tried);
    if args.json {
        let (m, w) = if multi {
            (
                serde_json::to_value(&model_id)?,
                serde_json::to_value(&world_id)?,
            )
        } else {
            (
                serde_json::to_value(&model_rx)?,
                serde_json::to_value(&world_rx)?,
            )
        };
        let out = serde_json::json!({
            "bar": name, "model": pipeline.name(), "clips": done, "seeds_tried": tried,
            "seconds": args.seconds(), "steps": args.steps, "size": [width, height], "fps": fps,
            "remix_strength": (!multi).then_some(REMIX_STRENGTH),
            "generate_seconds_mean": per_clip, "total_seconds": started.elapsed().as_secs_f64(),
            "model_scores": m, "world_scores": w,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let what = if multi {
        "two-shot held-out prompts with a shared object".to_string()
    } else {
        format!("held-out scenes remixed at strength {REMIX_STRENGTH} with one colour changed")
    };
    println!(
        "{} ({name}): {done} {what} (world seeds {seeds}), {width}x{height} {fps} fps {} s, {} steps; {per_clip:.1} s per clip, {:.0} s total",
        pipeline.name(),
        args.seconds(),
        args.steps,
        started.elapsed().as_secs_f64()
    );
    println!("| measure | {} | world (judge ceiling) |", pipeline.name());
    println!("|---|---|---|");
    let rows = if multi {
        model_id
            .rows()
            .into_iter()
            .zip(world_id.rows())
            .collect::<Vec<_>>()
    } else {
        model_rx.rows().into_iter().zip(world_rx.rows()).collect()
    };
    for ((name, m), (_, w)) in rows {
        println!("| {name} | {m} | {w} |");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kino_engine::train::data::HELD_OUT_SEEDS;
    use kino_world::vocab::{CameraMove, Framing, Kind, Size, Speed};
    use kino_world::{ObjectSpec, ShotSpec};

    #[test]
    fn recolouring_changes_one_object_to_an_unused_colour() {
        for seed in 0..40 {
            let spec = SceneSpec::random(HELD_OUT_SEEDS + seed, &RandomOptions::default()).unwrap();
            let (edited, k) = recoloured(&spec).unwrap();
            let changed: Vec<usize> = (0..spec.objects.len())
                .filter(|&i| spec.objects[i] != edited.objects[i])
                .collect();
            assert_eq!(changed, vec![k]);
            let new = edited.objects[k].colour;
            assert!(spec.objects.iter().all(|o| o.colour != new), "seed {seed}");
            assert_eq!(
                recoloured(&spec).unwrap().0,
                edited,
                "deterministic per seed"
            );
        }
    }

    #[test]
    fn shared_objects_stay_in_the_frame_in_every_shot() {
        // A close shot looks at the objects' mean x (-0.43 m here) and shows 1.8 m x 1.8 m:
        // the box at -1.6 m is in the wide shot only.
        let mut spec = SceneSpec::new(vec![
            ObjectSpec::dropped(Kind::Ball, Colour::Red, Size::Medium, 0.0, 1.2),
            ObjectSpec::resting(Kind::Rock, Colour::Green, Size::Small, 0.3),
            ObjectSpec::resting(Kind::Box, Colour::Blue, Size::Small, -1.6),
        ]);
        spec.shots = vec![
            ShotSpec::new(0.0, CameraMove::Static, Speed::Normal, Framing::Wide),
            ShotSpec::new(1.0, CameraMove::Static, Speed::Normal, Framing::Close),
        ];
        let clip = kino_world::sample(&spec).unwrap();
        assert_eq!(shot_starts(&spec), vec![24]);
        assert_eq!(shared_colours(&clip), vec![Colour::Red, Colour::Green]);
    }
}
