//! Object identity across shots: does an object that shot 1 shows keep its colour and shape
//! after each cut?
//!
//! The rule ([`identity`]):
//!
//! * The clip is split into shots at `boundaries` (the first frame of every shot after the
//!   first: the prompt's known shot starts, or the cuts [`super::flow::detect_cuts`] finds).
//! * For every colour the caller names (the prompt's objects, or those of them known to be in
//!   every shot), each shot's frames are searched for that colour's largest blob (at least
//!   `2 * MIN_AREA` pixels). The colour is **present** in a shot when such a blob shows in at
//!   least a quarter of the shot's frames (the adherence check's colour rule, per shot). Its
//!   **silhouette** in the shot is the class (round / boxy / elongated) the blob shows most often,
//!   counting only frames where the blob is clear of the frame's edge when there are any (a blob
//!   cut by the edge changes shape without the object changing).
//! * The **carried** objects are the named colours present in shot 1. A clip **keeps
//!   identity** when at least one named colour is present in shot 1 and every carried colour is
//!   present in every later shot with the silhouette it had in shot 1. A colour that is missing
//!   after a cut (the object changed colour or vanished) or shows another silhouette (it changed
//!   shape) breaks identity. With nothing named present in shot 1 there is nothing to keep, and
//!   the clip fails (a clip without objects cannot show identity), and so does a clip with
//!   one shot (there is no cut to keep identity across).
//!
//! Objects that share a colour are judged as one (the largest blob of that colour).

use super::flow::detect_cuts;
use super::track::{all_blobs, Blob, MIN_AREA};
use super::Check;
use crate::error::Result;
use crate::prompt::read_prompt;
use crate::vocab::{Colour, Silhouette};
use kino_media::VideoFrames;
use serde::{Deserialize, Serialize};

/// A colour must show in at least this share of a shot's frames to be present in it.
pub const MIN_SHOT_PRESENCE: f32 = 0.25;

/// One named colour in one shot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShotObject {
    pub colour: Colour,
    /// Frames of the shot where the colour's largest blob showed.
    pub frames_seen: usize,
    /// Seen in at least [`MIN_SHOT_PRESENCE`] of the shot's frames.
    pub present: bool,
    /// The silhouette the blob showed most often (clear of the edge when possible).
    pub silhouette: Option<Silhouette>,
}

/// One shot: its frames and what showed in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShotObjects {
    pub first_frame: usize,
    /// Inclusive.
    pub last_frame: usize,
    pub objects: Vec<ShotObject>,
}

/// Identity across shots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityReport {
    /// First frame of every shot after the first (as judged).
    pub boundaries: Vec<usize>,
    /// Cuts the frame-difference detector found in the clip (for reference).
    pub detected_cuts: Vec<usize>,
    /// Boundaries with a detected cut within one frame.
    pub cuts_at_boundaries: usize,
    pub shots: Vec<ShotObjects>,
    /// Named colours present in shot 1.
    pub carried: Vec<Colour>,
    /// One check per carried colour and later shot.
    pub checks: Vec<Check>,
    /// The clip keeps identity (see the module's rule).
    pub kept: bool,
}

fn largest(frame: &[Blob], colour: Colour) -> Option<&Blob> {
    // Blobs come largest first.
    frame
        .iter()
        .find(|b| b.colour == colour)
        .filter(|b| b.area >= MIN_AREA * 2)
}

fn shot_object(frames: &[Vec<Blob>], colour: Colour) -> ShotObject {
    let seen: Vec<&Blob> = frames.iter().filter_map(|f| largest(f, colour)).collect();
    let clear: Vec<&Blob> = seen.iter().copied().filter(|b| !b.at_edge).collect();
    let voters = if clear.is_empty() { &seen } else { &clear };
    let mut votes = [0usize; 3];
    for b in voters {
        votes[silhouette_index(b.silhouette())] += 1;
    }
    let best = (0..3).max_by_key(|&k| votes[k]).filter(|&k| votes[k] > 0);
    ShotObject {
        colour,
        frames_seen: seen.len(),
        present: !frames.is_empty() && seen.len() as f32 >= MIN_SHOT_PRESENCE * frames.len() as f32,
        silhouette: best.map(|k| SILHOUETTES[k]),
    }
}

const SILHOUETTES: [Silhouette; 3] = [Silhouette::Round, Silhouette::Boxy, Silhouette::Elongated];

fn silhouette_index(s: Silhouette) -> usize {
    match s {
        Silhouette::Round => 0,
        Silhouette::Boxy => 1,
        Silhouette::Elongated => 2,
    }
}

/// Judges identity across shots on per-frame blobs ([`super::track::all_blobs`]).
///
/// `boundaries` are the first frames of the shots after the first; ones outside `1..frames`
/// and repeats are ignored. `colours` are the objects to follow (repeats are ignored).
/// `detected_cuts` is only reported (and counted against the boundaries).
pub fn identity(
    frames: &[Vec<Blob>],
    boundaries: &[usize],
    colours: &[Colour],
    detected_cuts: &[usize],
) -> IdentityReport {
    let n = frames.len();
    let mut starts: Vec<usize> = boundaries
        .iter()
        .copied()
        .filter(|&b| b > 0 && b < n)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let mut named: Vec<Colour> = Vec::new();
    for &c in colours {
        if !named.contains(&c) {
            named.push(c);
        }
    }
    let mut edges = vec![0];
    edges.extend(&starts);
    edges.push(n);
    let shots: Vec<ShotObjects> = edges
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| ShotObjects {
            first_frame: w[0],
            last_frame: w[1] - 1,
            objects: named
                .iter()
                .map(|&c| shot_object(&frames[w[0]..w[1]], c))
                .collect(),
        })
        .collect();
    let carried: Vec<Colour> = shots
        .first()
        .map(|s| {
            s.objects
                .iter()
                .filter(|o| o.present)
                .map(|o| o.colour)
                .collect()
        })
        .unwrap_or_default();
    let mut checks = Vec::new();
    for (k, shot) in shots.iter().enumerate().skip(1) {
        for &c in &carried {
            let first = shots[0].objects.iter().find(|o| o.colour == c);
            let later = shot.objects.iter().find(|o| o.colour == c);
            let (Some(first), Some(later)) = (first, later) else {
                continue;
            };
            let pass = later.present && later.silhouette == first.silhouette;
            checks.push(Check {
                attribute: format!("identity (shot 1 -> shot {})", k + 1),
                expected: format!("{c} {:?}", first.silhouette),
                found: if later.present {
                    format!("{c} {:?}", later.silhouette)
                } else {
                    let len = shot.last_frame + 1 - shot.first_frame;
                    format!("{c} seen in {}/{len} frames", later.frames_seen)
                },
                pass,
            });
        }
    }
    let kept = !carried.is_empty() && shots.len() >= 2 && checks.iter().all(|c| c.pass);
    let cuts_at_boundaries = starts
        .iter()
        .filter(|&&b| detected_cuts.iter().any(|&c| c.abs_diff(b) <= 1))
        .count();
    IdentityReport {
        boundaries: starts,
        detected_cuts: detected_cuts.to_vec(),
        cuts_at_boundaries,
        shots,
        carried,
        checks,
        kept,
    }
}

/// Judges identity on a video: `boundaries` as in [`identity`], `colours` the objects to follow.
pub fn identity_in_video(
    video: &VideoFrames,
    boundaries: &[usize],
    colours: &[Colour],
) -> IdentityReport {
    identity(&all_blobs(video), boundaries, colours, &detect_cuts(video))
}

/// Judges identity on a video against a prompt: the prompt's objects are followed; the shots
/// are `boundaries` when given, else the prompt's shot starts (when it has two or more shots,
/// at `round(start_s * fps)`), else the cuts the detector finds.
pub fn judge_identity(
    video: &VideoFrames,
    prompt: &str,
    boundaries: Option<&[usize]>,
) -> Result<IdentityReport> {
    let reading = read_prompt(prompt)?;
    let colours: Vec<Colour> = reading.spec.objects.iter().map(|o| o.colour).collect();
    let cuts = detect_cuts(video);
    let fps = video.fps().as_f64();
    let starts: Vec<usize> = match boundaries {
        Some(b) => b.to_vec(),
        None if reading.spec.shots.len() >= 2 => reading.spec.shots[1..]
            .iter()
            .map(|s| (s.start_s as f64 * fps).round() as usize)
            .collect(),
        None => cuts.clone(),
    };
    Ok(identity(&all_blobs(video), &starts, &colours, &cuts))
}
