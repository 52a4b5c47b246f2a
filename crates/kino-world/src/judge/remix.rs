//! Remix: does a remixed clip keep its source's motion while a changed attribute (an object's
//! colour) follows the new prompt?
//!
//! The rule ([`remix`]):
//!
//! * Objects are paired by index: object `i` has colour `source_colours[i]` in the source and
//!   `new_colours[i]` in the remix (the same scene with some colours edited). Each clip's
//!   objects are followed by the tracker ([`super::track::track_colour`], restarted at that
//!   clip's detected cuts); objects that share a colour are paired in the tracker's order.
//! * **Trajectory error**: over every pair and every remix frame where both the remix's track
//!   and the source's track (at the same time; the clips may differ in size and frame rate)
//!   are seen, the distance between the two centroids, each taken as a fraction of its own
//!   frame's width and height and measured in the source's pixels, divided by the source's
//!   frame diagonal; the mean of those distances. **Coverage**: the share of the source's
//!   tracked object-frames whose remixed object is tracked too.
//! * **Motion kept**: trajectory error <= [`MAX_TRAJECTORY_ERROR`] and coverage >=
//!   [`MIN_COVERAGE`] (a remix that loses the objects cannot keep their motion).
//! * **Colour follows**, for each object whose colour changed: its new colour is tracked in at
//!   least a quarter of the remix's frames (the adherence check's colour rule), and its old
//!   colour, unless another object of the new prompt has it, shows (a blob of at least
//!   `2 * MIN_AREA` pixels) in fewer than a quarter of them. `None` when no colour changed.
//! * The remix **passes** when motion is kept and the colour follows (or no colour changed).

use super::flow::detect_cuts;
use super::track::{all_blobs, track_colour, Blob, Track, MIN_AREA};
use super::Check;
use crate::error::{Result, WorldError};
use crate::prompt::read_prompt;
use crate::vocab::Colour;
use kino_media::VideoFrames;
use serde::{Deserialize, Serialize};

/// Largest mean centroid distance (fraction of the frame diagonal) that still keeps motion.
pub const MAX_TRAJECTORY_ERROR: f32 = 0.05;
/// Smallest share of the source's tracked object-frames that the remix must track too.
pub const MIN_COVERAGE: f32 = 0.5;
/// A colour must show in at least this share of frames to be seen.
pub const MIN_PRESENCE: f32 = 0.25;

/// One object of the pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemixObject {
    pub source_colour: Colour,
    pub new_colour: Colour,
    /// Frames of the source where it was tracked.
    pub source_frames_seen: usize,
    /// Frames of the remix where it was tracked.
    pub remix_frames_seen: usize,
    /// Remix frames where both were tracked.
    pub frames_compared: usize,
    /// Mean centroid distance over those frames, fraction of the source's diagonal.
    pub error: Option<f32>,
}

/// Remix judged against its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemixReport {
    pub objects: Vec<RemixObject>,
    /// Mean centroid distance over all compared object-frames (fraction of the diagonal);
    /// `None` when no frame could be compared.
    pub trajectory_error: Option<f32>,
    /// Compared object-frames / object-frames tracked in the source (0 when none were).
    pub coverage: f32,
    pub motion_kept: bool,
    /// One check per changed colour.
    pub colour_checks: Vec<Check>,
    /// Every changed colour follows the new prompt; `None` when no colour changed.
    pub colour_follows: Option<bool>,
    /// Motion kept and the colour follows.
    pub pass: bool,
}

/// Tracks for each object: `colours[i]`'s tracks handed out in the tracker's order.
fn object_tracks(frames: &[Vec<Blob>], colours: &[Colour], cuts: &[usize]) -> Vec<Track> {
    let mut groups: Vec<(Colour, std::vec::IntoIter<Track>)> = Vec::new();
    for &c in colours {
        if !groups.iter().any(|(g, _)| *g == c) {
            let count = colours.iter().filter(|&&d| d == c).count();
            groups.push((c, track_colour(frames, c, count, cuts).into_iter()));
        }
    }
    colours
        .iter()
        .map(|c| {
            let (_, it) = groups
                .iter_mut()
                .find(|(g, _)| g == c)
                .expect("every colour has a group");
            it.next().expect("track_colour returns `count` tracks")
        })
        .collect()
}

fn frames_showing(frames: &[Vec<Blob>], colour: Colour) -> usize {
    frames
        .iter()
        .filter(|f| {
            f.iter()
                .any(|b| b.colour == colour && b.area >= MIN_AREA * 2)
        })
        .count()
}

/// Judges a remix on decoded frames. `source_colours` and `new_colours` pair the objects by
/// index and must have the same, non-zero length.
pub fn remix(
    source: &VideoFrames,
    source_colours: &[Colour],
    remixed: &VideoFrames,
    new_colours: &[Colour],
) -> Result<RemixReport> {
    if source_colours.is_empty() || source_colours.len() != new_colours.len() {
        return Err(WorldError::Prompt(format!(
            "remix judge: the source names {} objects and the new prompt {}; they must name the \
             same objects (at least one), paired in order",
            source_colours.len(),
            new_colours.len()
        )));
    }
    if source.is_empty() || remixed.is_empty() {
        return Err(WorldError::Prompt(format!(
            "remix judge: the source has {} frames and the remix {}; both need frames",
            source.len(),
            remixed.len()
        )));
    }
    let (src_frames, rem_frames) = (all_blobs(source), all_blobs(remixed));
    let src_tracks = object_tracks(&src_frames, source_colours, &detect_cuts(source));
    let rem_tracks = object_tracks(&rem_frames, new_colours, &detect_cuts(remixed));
    let (sw, sh) = (source.width() as f32, source.height() as f32);
    let (rw, rh) = (remixed.width() as f32, remixed.height() as f32);
    let diag = sw.hypot(sh);
    let (sfps, rfps) = (source.fps().as_f64(), remixed.fps().as_f64());
    let mut objects = Vec::new();
    let (mut sum, mut compared, mut src_seen) = (0.0f32, 0usize, 0usize);
    for (i, (st, rt)) in src_tracks.iter().zip(&rem_tracks).enumerate() {
        let mut dists = Vec::new();
        for (j, p) in rt.points.iter().enumerate() {
            let k = (j as f64 * sfps / rfps).round() as usize;
            let (Some(p), Some(Some(q))) = (p, st.points.get(k)) else {
                continue;
            };
            let dx = (p.x / rw - q.x / sw) * sw;
            let dy = (p.y / rh - q.y / sh) * sh;
            dists.push(dx.hypot(dy) / diag);
        }
        sum += dists.iter().sum::<f32>();
        compared += dists.len();
        src_seen += st.seen();
        objects.push(RemixObject {
            source_colour: source_colours[i],
            new_colour: new_colours[i],
            source_frames_seen: st.seen(),
            remix_frames_seen: rt.seen(),
            frames_compared: dists.len(),
            error: (!dists.is_empty()).then(|| dists.iter().sum::<f32>() / dists.len() as f32),
        });
    }
    let trajectory_error = (compared > 0).then(|| sum / compared as f32);
    let coverage = if src_seen == 0 {
        0.0
    } else {
        compared as f32 / src_seen as f32
    };
    let motion_kept =
        trajectory_error.is_some_and(|e| e <= MAX_TRAJECTORY_ERROR) && coverage >= MIN_COVERAGE;
    let n = rem_frames.len();
    let mut colour_checks = Vec::new();
    for (o, t) in objects.iter().zip(&rem_tracks) {
        if o.source_colour == o.new_colour {
            continue;
        }
        let new_seen = t.seen();
        let old_named = new_colours.contains(&o.source_colour);
        let old_seen = frames_showing(&rem_frames, o.source_colour);
        let new_ok = new_seen as f32 >= MIN_PRESENCE * n as f32;
        let old_gone = old_named || (old_seen as f32) < MIN_PRESENCE * n as f32;
        colour_checks.push(Check {
            attribute: "remixed colour".into(),
            expected: format!("{} (was {})", o.new_colour, o.source_colour),
            found: format!(
                "{} tracked in {new_seen}/{n} frames, {} shows in {old_seen}/{n}",
                o.new_colour, o.source_colour
            ),
            pass: new_ok && old_gone,
        });
    }
    let colour_follows = (!colour_checks.is_empty()).then(|| colour_checks.iter().all(|c| c.pass));
    Ok(RemixReport {
        objects,
        trajectory_error,
        coverage,
        motion_kept,
        colour_checks,
        colour_follows,
        pass: motion_kept && colour_follows.unwrap_or(true),
    })
}

/// Judges a remix against the source's prompt and the new prompt (read with the world's
/// vocabulary; their objects are paired in order, so both must name the same number).
pub fn judge_remix(
    source: &VideoFrames,
    source_prompt: &str,
    remixed: &VideoFrames,
    new_prompt: &str,
) -> Result<RemixReport> {
    let colours = |p: &str| -> Result<Vec<Colour>> {
        Ok(read_prompt(p)?
            .spec
            .objects
            .iter()
            .map(|o| o.colour)
            .collect())
    };
    remix(
        source,
        &colours(source_prompt)?,
        remixed,
        &colours(new_prompt)?,
    )
}
