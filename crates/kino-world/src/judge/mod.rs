//! The judge: oracles that score any clip (generated or not) against a prompt:
//! tracker and object permanence, physics (free-fall fits, bounce decay), audio/video sync
//! (spectral-flux onsets vs visual impacts), and adherence (colours, shapes, counts, camera
//! motion, time of day); across clips, object identity over cuts ([`identity`]) and remix
//! fidelity ([`remix`]).

pub mod color;
pub mod flow;
pub mod identity;
pub mod onset;
pub mod physics;
pub mod remix;
pub mod track;

use crate::camera::WIDE_VIEW_H;
use crate::error::Result;
use crate::prompt::{read_prompt, PromptReading};
use crate::spec::SceneSpec;
use crate::vocab::*;
pub use identity::{judge_identity, IdentityReport};
use kino_media::{AudioBuffer, VideoFrames};
pub use remix::{judge_remix, RemixReport};
use serde::{Deserialize, Serialize};
use track::{Permanence, Track};

/// One object the tracker followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedObject {
    pub colour: Colour,
    pub kind: Kind,
    pub frames_seen: usize,
    /// Centroid per frame in pixels, `null` where not seen.
    pub trajectory: Vec<Option<[f32; 2]>>,
    /// The silhouette seen most often.
    pub silhouette: Option<Silhouette>,
}

/// Tracker and permanence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerReport {
    pub objects: Vec<TrackedObject>,
    pub permanence: Permanence,
}

/// Physics oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhysicsReport {
    /// Free-fall segments fitted.
    pub segments: usize,
    /// Frame-weighted mean R^2 of the constant-acceleration fits.
    pub r2: Option<f32>,
    pub r2_min: Option<f32>,
    /// Median fitted gravity in m/s^2 (pixels converted with the shot's framing).
    pub fitted_g: Option<f32>,
    /// The scene's gravity.
    pub scene_g: f32,
    /// |fitted - scene| / scene.
    pub g_error: Option<f32>,
    /// Successive bounce-apex height ratios (should be < 1 and near e^2).
    pub apex_ratios: Vec<f32>,
    /// Fraction of apex ratios below 1.
    pub apex_decay: Option<f32>,
    /// Restitution implied by the apex ratios (sqrt of the median ratio).
    pub restitution_fitted: Option<f32>,
    /// Restitution the prompt's object and floor imply.
    pub restitution_expected: Option<f32>,
    /// 0..1.
    pub score: Option<f32>,
}

/// Audio/video sync oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Impacts seen in the picture.
    pub visual_contacts: usize,
    /// Onsets heard.
    pub audio_onsets: usize,
    /// Visual contacts with an onset within the tolerance.
    pub matched: usize,
    /// The tolerance in ms (one frame).
    pub tolerance_ms: f32,
    /// Median |onset - contact| in ms (unmatched within 500 ms count as 500).
    pub median_offset_ms: Option<f32>,
    /// 90th percentile of |onset - contact| in ms.
    pub p90_offset_ms: Option<f32>,
    /// Median signed offset (audio late > 0), ms.
    pub median_signed_ms: Option<f32>,
    /// matched / visual_contacts.
    pub score: Option<f32>,
    /// Visual contact times, seconds.
    pub contact_times_s: Vec<f64>,
    /// Onset times, seconds.
    pub onset_times_s: Vec<f64>,
}

/// One adherence check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub attribute: String,
    pub expected: String,
    pub found: String,
    pub pass: bool,
}

/// Prompt adherence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdherenceReport {
    pub colours: Option<f32>,
    pub shapes: Option<f32>,
    pub counts: Option<f32>,
    pub camera: Option<f32>,
    pub time_of_day: Option<f32>,
    /// Mean of the available scores.
    pub overall: f32,
    pub checks: Vec<Check>,
}

/// Everything the judge measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeReport {
    pub frames: usize,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
    /// Frames that start a new shot.
    pub cuts: Vec<usize>,
    pub tracker: TrackerReport,
    pub physics: PhysicsReport,
    pub sync: Option<SyncReport>,
    pub adherence: AdherenceReport,
    /// Mean of permanence, physics, sync and adherence scores that exist.
    pub overall: f32,
    /// Words of the prompt the judge could not place (ignored).
    pub unknown_words: Vec<String>,
}

fn fmt_opt(v: Option<f32>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "n/a".into())
}

impl JudgeReport {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "clip: {} frames {}x{} @ {:.2} fps, cuts at {:?}\n",
            self.frames, self.width, self.height, self.fps, self.cuts
        ));
        s.push_str(&format!(
            "tracker: {} objects; permanence {:.3} ({} violations)\n",
            self.tracker.objects.len(),
            self.tracker.permanence.score,
            self.tracker.permanence.violations
        ));
        for o in &self.tracker.objects {
            s.push_str(&format!(
                "  {} {}: seen in {}/{} frames, silhouette {:?}\n",
                o.colour, o.kind, o.frames_seen, self.frames, o.silhouette
            ));
        }
        let p = &self.physics;
        s.push_str(&format!(
            "physics: {} free-fall segments, R^2 {} (min {}), g {} vs scene {:.2} m/s^2 (error {}), apex decay {} (e fitted {}, expected {}), score {}\n",
            p.segments,
            fmt_opt(p.r2, 4),
            fmt_opt(p.r2_min, 4),
            fmt_opt(p.fitted_g, 2),
            p.scene_g,
            fmt_opt(p.g_error, 3),
            fmt_opt(p.apex_decay, 2),
            fmt_opt(p.restitution_fitted, 2),
            fmt_opt(p.restitution_expected, 2),
            fmt_opt(p.score, 3)
        ));
        match &self.sync {
            Some(y) => s.push_str(&format!(
                "sync: {} visual contacts, {} onsets, {} matched within {:.1} ms; median {} ms, p90 {} ms, signed median {} ms, score {}\n",
                y.visual_contacts,
                y.audio_onsets,
                y.matched,
                y.tolerance_ms,
                fmt_opt(y.median_offset_ms, 1),
                fmt_opt(y.p90_offset_ms, 1),
                fmt_opt(y.median_signed_ms, 1),
                fmt_opt(y.score, 3)
            )),
            None => s.push_str("sync: no audio\n"),
        }
        let a = &self.adherence;
        s.push_str(&format!(
            "adherence: colours {}, shapes {}, counts {}, camera {}, time of day {}; overall {:.3}\n",
            fmt_opt(a.colours, 2),
            fmt_opt(a.shapes, 2),
            fmt_opt(a.counts, 2),
            fmt_opt(a.camera, 2),
            fmt_opt(a.time_of_day, 2),
            a.overall
        ));
        for c in &a.checks {
            s.push_str(&format!(
                "  [{}] {}: expected {}, found {}\n",
                if c.pass { "ok" } else { "FAIL" },
                c.attribute,
                c.expected,
                c.found
            ));
        }
        if !self.unknown_words.is_empty() {
            s.push_str(&format!(
                "ignored words: {}\n",
                self.unknown_words.join(", ")
            ));
        }
        s.push_str(&format!("overall: {:.3}\n", self.overall));
        s
    }
}

/// Judges a clip against a prompt (world vocabulary; unknown words are ignored and listed).
pub fn judge(
    video: &VideoFrames,
    audio: Option<&AudioBuffer>,
    prompt: &str,
) -> Result<JudgeReport> {
    let reading = read_prompt(prompt)?;
    Ok(judge_reading(video, audio, &reading))
}

/// Judges a clip against a known spec (every attribute counts as stated).
pub fn judge_spec(
    video: &VideoFrames,
    audio: Option<&AudioBuffer>,
    spec: &SceneSpec,
) -> JudgeReport {
    let n = spec.objects.len();
    let reading = PromptReading {
        spec: spec.clone(),
        unknown: Vec::new(),
        floor_stated: true,
        time_stated: true,
        camera_stated: true,
        size_stated: vec![true; n],
        colour_stated: vec![true; n],
    };
    judge_reading(video, audio, &reading)
}

fn view_h(framing: Framing) -> f32 {
    match framing {
        Framing::Wide => WIDE_VIEW_H,
        Framing::Medium => 2.6,
        Framing::Close => 1.8,
    }
}

fn percentile(v: &[f32], q: f32) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let idx = ((s.len() - 1) as f32 * q).round() as usize;
    Some(s[idx])
}

/// Judges a clip against a prompt reading.
pub fn judge_reading(
    video: &VideoFrames,
    audio: Option<&AudioBuffer>,
    reading: &PromptReading,
) -> JudgeReport {
    let spec = &reading.spec;
    let (w, h) = (video.width(), video.height());
    let fps = video.fps().as_f64();
    let n = video.len();
    let cuts = flow::detect_cuts(video);
    let frames = track::all_blobs(video);

    // Track each colour named in the prompt, as many as it names.
    let mut colours: Vec<(Colour, usize)> = Vec::new();
    for o in &spec.objects {
        match colours.iter_mut().find(|(c, _)| *c == o.colour) {
            Some(e) => e.1 += 1,
            None => colours.push((o.colour, 1)),
        }
    }
    let mut tracks: Vec<(Track, usize)> = Vec::new();
    for (c, count) in &colours {
        let objs: Vec<usize> = (0..spec.objects.len())
            .filter(|&i| spec.objects[i].colour == *c)
            .collect();
        for (k, t) in track::track_colour(&frames, *c, *count, &cuts)
            .into_iter()
            .enumerate()
        {
            tracks.push((t, objs[k.min(objs.len() - 1)]));
        }
    }
    let permanence = track::permanence(
        &tracks.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        w,
        h,
        &cuts,
    );
    let tracked: Vec<TrackedObject> = tracks
        .iter()
        .map(|(t, oi)| {
            let mut votes = [0usize; 3];
            for p in t.points.iter().flatten() {
                votes[match p.silhouette {
                    Silhouette::Round => 0,
                    Silhouette::Boxy => 1,
                    Silhouette::Elongated => 2,
                }] += 1;
            }
            let best = (0..3).max_by_key(|&k| votes[k]).filter(|&k| votes[k] > 0);
            TrackedObject {
                colour: t.colour,
                kind: spec.objects[*oi].kind,
                frames_seen: t.seen(),
                trajectory: t.points.iter().map(|p| p.map(|p| [p.x, p.y])).collect(),
                silhouette: best
                    .map(|k| [Silhouette::Round, Silhouette::Boxy, Silhouette::Elongated][k]),
            }
        })
        .collect();

    // Physics and visual impacts, per shot segment.
    let shot_of_frame = |f: usize| spec.shot_at(f as f32 / fps as f32);
    let mut fits: Vec<physics::FallFit> = Vec::new();
    let mut gs: Vec<f32> = Vec::new();
    let mut ratios: Vec<f32> = Vec::new();
    let mut expected_e: Vec<f32> = Vec::new();
    let mut contacts: Vec<f64> = Vec::new();
    for (t, oi) in &tracks {
        let obj = &spec.objects[*oi];
        if !obj.kind.is_rigid_faller() {
            continue;
        }
        for run in physics::runs(t, &cuts) {
            let shot = &spec.shots[shot_of_frame(run[0].0).min(spec.shots.len() - 1)];
            let px_per_m = h as f32 / view_h(shot.framing);
            let hits = physics::impacts(&run, fps, 0.25 * h as f32);
            contacts.extend(hits.iter().map(|h| h.time_s));
            let steady = matches!(
                shot.camera,
                CameraMove::Static
                    | CameraMove::PanLeft
                    | CameraMove::PanRight
                    | CameraMove::TiltUp
                    | CameraMove::TiltDown
            );
            if !steady {
                continue;
            }
            let mut seg = physics::fall_fits(&run, &hits, fps, 5, 0.04 * h as f32);
            if spec.floor == Floor::Water {
                // Afloat, objects bob under buoyancy: only the drop into the water is free fall.
                seg.retain(|s| s.first_frame == run[0].0);
            }
            for s in &seg {
                gs.push(s.accel_px / px_per_m);
            }
            fits.extend(seg);
            let apex = physics::apex_heights(&run, &hits);
            for w2 in apex.windows(2) {
                if w2[0] > 0.05 * h as f32 {
                    ratios.push(w2[1] / w2[0]);
                    expected_e.push(expected_restitution(obj.kind, spec.floor));
                }
            }
        }
    }
    contacts.sort_by(f64::total_cmp);
    let frames_w: usize = fits.iter().map(|f| f.last_frame - f.first_frame + 1).sum();
    let r2 = (!fits.is_empty()).then(|| {
        fits.iter()
            .map(|f| f.r2 * (f.last_frame - f.first_frame + 1) as f32)
            .sum::<f32>()
            / frames_w.max(1) as f32
    });
    let r2_min = fits.iter().map(|f| f.r2).reduce(f32::min);
    let fitted_g = percentile(&gs, 0.5);
    let g_error = fitted_g.map(|g| (g - spec.gravity).abs() / spec.gravity);
    let apex_decay = (!ratios.is_empty())
        .then(|| ratios.iter().filter(|r| **r < 1.0).count() as f32 / ratios.len() as f32);
    let restitution_fitted = percentile(&ratios, 0.5).map(|r| r.max(0.0).sqrt());
    let restitution_expected = percentile(&expected_e, 0.5);
    let physics_score = match (r2, g_error) {
        (Some(r2), Some(ge)) => {
            let r2s = if r2 >= 0.98 { 1.0 } else { r2.max(0.0) };
            let gs = (1.0 - ge).clamp(0.0, 1.0);
            let ds = apex_decay.unwrap_or(1.0);
            Some((r2s + gs + ds) / 3.0)
        }
        _ => None,
    };
    let physics = PhysicsReport {
        segments: fits.len(),
        r2,
        r2_min,
        fitted_g,
        scene_g: spec.gravity,
        g_error,
        apex_ratios: ratios,
        apex_decay,
        restitution_fitted,
        restitution_expected,
        score: physics_score,
    };

    // Sync.
    let sync = audio.map(|a| {
        let on = onset::onsets(a);
        let tol = 1000.0 / fps as f32;
        let mut abs_off = Vec::new();
        let mut signed = Vec::new();
        let mut matched = 0;
        for &c in &contacts {
            let nearest = on
                .iter()
                .map(|&o| o - c)
                .filter(|d| d.abs() <= 0.5)
                .min_by(|a, b| a.abs().total_cmp(&b.abs()));
            match nearest {
                Some(d) => {
                    let ms = (d * 1000.0) as f32;
                    if ms.abs() <= tol {
                        matched += 1;
                    }
                    abs_off.push(ms.abs());
                    signed.push(ms);
                }
                None => abs_off.push(500.0),
            }
        }
        SyncReport {
            visual_contacts: contacts.len(),
            audio_onsets: on.len(),
            matched,
            tolerance_ms: tol,
            median_offset_ms: percentile(&abs_off, 0.5),
            p90_offset_ms: percentile(&abs_off, 0.9),
            median_signed_ms: percentile(&signed, 0.5),
            score: (!contacts.is_empty()).then(|| matched as f32 / contacts.len() as f32),
            contact_times_s: contacts.clone(),
            onset_times_s: on,
        }
    });

    let adherence = adherence(video, reading, &frames, &tracked, &cuts);
    let mut parts = vec![permanence.score, adherence.overall];
    if let Some(p) = physics.score {
        parts.push(p);
    }
    if let Some(s) = sync.as_ref().and_then(|s| s.score) {
        parts.push(s);
    }
    let overall = parts.iter().sum::<f32>() / parts.len() as f32;
    JudgeReport {
        frames: n,
        fps,
        width: w,
        height: h,
        cuts,
        tracker: TrackerReport {
            objects: tracked,
            permanence,
        },
        physics,
        sync,
        adherence,
        overall,
        unknown_words: reading.unknown.clone(),
    }
}

fn adherence(
    video: &VideoFrames,
    reading: &PromptReading,
    frames: &[Vec<track::Blob>],
    tracked: &[TrackedObject],
    cuts: &[usize],
) -> AdherenceReport {
    let spec = &reading.spec;
    let n = video.len().max(1);
    let fps = video.fps().as_f64() as f32;
    let mut checks = Vec::new();
    // Colours.
    let mut col_scores = Vec::new();
    for (i, o) in spec.objects.iter().enumerate() {
        if !reading.colour_stated.get(i).copied().unwrap_or(false) {
            continue;
        }
        let seen = tracked
            .iter()
            .filter(|t| t.colour == o.colour)
            .map(|t| t.frames_seen)
            .max()
            .unwrap_or(0);
        let pass = seen * 4 >= n;
        col_scores.push(pass as u8 as f32);
        checks.push(Check {
            attribute: "colour".into(),
            expected: format!("{} {}", o.colour, o.kind),
            found: format!("seen in {seen}/{n} frames"),
            pass,
        });
    }
    // Counts per colour: the most common number of sizeable blobs in frames showing any.
    let mut count_scores = Vec::new();
    let mut done: Vec<Colour> = Vec::new();
    for o in &spec.objects {
        if done.contains(&o.colour) {
            continue;
        }
        done.push(o.colour);
        let expected = spec.objects.iter().filter(|p| p.colour == o.colour).count();
        let mut hist = [0usize; 10];
        for f in frames {
            let largest = f
                .iter()
                .filter(|b| b.colour == o.colour)
                .map(|b| b.area)
                .max()
                .unwrap_or(0);
            let k = f
                .iter()
                .filter(|b| {
                    b.colour == o.colour && b.area * 4 >= largest && b.area >= track::MIN_AREA * 2
                })
                .count();
            if k > 0 {
                hist[k.min(9)] += 1;
            }
        }
        let found = (1..10)
            .max_by_key(|&k| hist[k])
            .filter(|&k| hist[k] > 0)
            .unwrap_or(0);
        let pass = found == expected;
        count_scores.push(pass as u8 as f32);
        checks.push(Check {
            attribute: "count".into(),
            expected: format!("{expected} {}", o.colour),
            found: found.to_string(),
            pass,
        });
    }
    // Shapes.
    let mut shape_scores = Vec::new();
    for t in tracked {
        let expected = t.kind.silhouette();
        if let Some(s) = t.silhouette {
            let pass = s == expected;
            shape_scores.push(pass as u8 as f32);
            checks.push(Check {
                attribute: "shape".into(),
                expected: format!("{} {} ({expected:?})", t.colour, t.kind),
                found: format!("{s:?}"),
                pass,
            });
        }
    }
    // Camera per shot.
    let mut cam_scores = Vec::new();
    if reading.camera_stated {
        for (si, shot) in spec.shots.iter().enumerate() {
            let first = ((shot.start_s * fps).round() as usize).min(n - 1);
            let end_s = spec
                .shots
                .get(si + 1)
                .map(|s| s.start_s)
                .unwrap_or(n as f32 / fps);
            let mut last = ((end_s * fps).round() as usize).clamp(first, n) - 1;
            // Keep the measurement inside one detected shot.
            if let Some(&c) = cuts.iter().find(|&&c| c > first && c <= last) {
                last = c - 1;
            }
            let first = first.max(
                cuts.iter()
                    .copied()
                    .filter(|&c| c <= first)
                    .max()
                    .unwrap_or(0),
            );
            if let Some(m) = flow::shot_motion(video, first, last.max(first)) {
                let pass = m.classified == shot.camera;
                cam_scores.push(pass as u8 as f32);
                checks.push(Check {
                    attribute: format!("camera (shot {})", si + 1),
                    expected: shot.camera.name().into(),
                    found: format!(
                        "{} (dx {:.3}, dy {:.3}, zoom {:.3}, jitter {:.3})",
                        m.classified.name(),
                        m.dx,
                        m.dy,
                        m.zoom,
                        m.jitter
                    ),
                    pass,
                });
            }
        }
    }
    // Time of day from the sky at the top of the frame.
    let mut tod_score = None;
    if reading.time_stated && !video.is_empty() {
        let (w, h) = (video.width() as usize, video.height() as usize);
        let rows = (h / 10).max(1);
        let mut acc = [0.0f32; 3];
        let mut cnt = 0.0f32;
        for f in (0..video.len()).step_by((video.len() / 6).max(1)) {
            let rgb = video.frame_rgb(f).unwrap_or_default();
            for p in rgb[..rows * w * 3].chunks_exact(3) {
                for c in 0..3 {
                    acc[c] += p[c] as f32 / 255.0;
                }
                cnt += 1.0;
            }
        }
        let mean = acc.map(|v| v / cnt.max(1.0));
        let found = TimeOfDay::ALL
            .iter()
            .copied()
            .min_by(|a, b| {
                let d = |t: TimeOfDay| {
                    let (hz, top) = t.sky();
                    (0..3)
                        .map(|c| (hz[c] + (top[c] - hz[c]) * 0.6 - mean[c]).powi(2))
                        .sum::<f32>()
                };
                d(*a).total_cmp(&d(*b))
            })
            .unwrap_or(TimeOfDay::Noon);
        let pass = found == spec.time_of_day;
        tod_score = Some(pass as u8 as f32);
        checks.push(Check {
            attribute: "time of day".into(),
            expected: spec.time_of_day.name().into(),
            found: format!(
                "{} (sky {:.2},{:.2},{:.2})",
                found.name(),
                mean[0],
                mean[1],
                mean[2]
            ),
            pass,
        });
    }
    let mean = |v: &[f32]| (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32);
    let (colours, shapes, counts, camera) = (
        mean(&col_scores),
        mean(&shape_scores),
        mean(&count_scores),
        mean(&cam_scores),
    );
    let avail: Vec<f32> = [colours, shapes, counts, camera, tod_score]
        .into_iter()
        .flatten()
        .collect();
    AdherenceReport {
        colours,
        shapes,
        counts,
        camera,
        time_of_day: tod_score,
        overall: mean(&avail).unwrap_or(0.0),
        checks,
    }
}
