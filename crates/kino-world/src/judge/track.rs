//! The tracker: finds objects by colour in decoded frames, follows them, and checks object
//! permanence.

use super::color::rgb_to_hsv;
use crate::vocab::{Colour, Silhouette};
use kino_media::VideoFrames;
use serde::{Deserialize, Serialize};

/// Pixels less saturated than this are never an object.
pub const MIN_SATURATION: f32 = 0.55;
/// Pixels darker than this are never an object.
pub const MIN_VALUE: f32 = 0.22;
/// A pixel's hue must be this close (degrees) to its nearest palette colour.
pub const HUE_TOLERANCE: f32 = 18.0;
/// Blobs smaller than this (pixels) are noise.
pub const MIN_AREA: usize = 5;

/// The palette colour a pixel shows, if any.
pub fn classify_pixel(r: u8, g: u8, b: u8) -> Option<Colour> {
    let (h, s, v) = rgb_to_hsv(r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    if s < MIN_SATURATION || v < MIN_VALUE {
        return None;
    }
    let mut best = None;
    let mut best_d = HUE_TOLERANCE;
    for &c in Colour::ALL {
        let d = (h - c.hue()).abs();
        let d = d.min(360.0 - d);
        if d < best_d {
            best_d = d;
            best = Some(c);
        }
    }
    best
}

/// One connected region of one colour in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blob {
    pub colour: Colour,
    /// Centroid in pixels.
    pub x: f32,
    pub y: f32,
    pub area: usize,
    /// [x0, y0, x1, y1], inclusive pixel bounds.
    pub bbox: [u32; 4],
    /// sqrt of the ratio of the principal second moments (1 = isotropic).
    pub elongation: f32,
    /// Coefficient of variation of the boundary's distance to the centroid (0 = disk).
    pub radial_cv: f32,
    /// Area over bounding-box area.
    pub fill: f32,
    /// Touches the frame's edge.
    pub at_edge: bool,
}

impl Blob {
    /// The coarse silhouette class.
    pub fn silhouette(&self) -> Silhouette {
        if self.elongation > 1.8 {
            Silhouette::Elongated
        } else if self.radial_cv < 0.1 && self.fill > 0.65 && self.fill < 0.9 {
            Silhouette::Round
        } else {
            Silhouette::Boxy
        }
    }
}

/// Per-pixel palette labels of an RGB frame (`None` = background).
pub fn label_frame(rgb: &[u8]) -> Vec<Option<Colour>> {
    rgb.chunks_exact(3)
        .map(|p| classify_pixel(p[0], p[1], p[2]))
        .collect()
}

/// Connected regions (4-connected) of each colour, largest first.
pub fn blobs(labels: &[Option<Colour>], width: usize, height: usize) -> Vec<Blob> {
    let mut seen = vec![false; labels.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    let mut pixels = Vec::new();
    for start in 0..labels.len() {
        let Some(colour) = labels[start] else {
            continue;
        };
        if seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        pixels.clear();
        while let Some(p) = stack.pop() {
            pixels.push(p);
            let (x, y) = (p % width, p / width);
            let mut visit = |q: usize| {
                if !seen[q] && labels[q] == Some(colour) {
                    seen[q] = true;
                    stack.push(q);
                }
            };
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < width {
                visit(p + 1);
            }
            if y > 0 {
                visit(p - width);
            }
            if y + 1 < height {
                visit(p + width);
            }
        }
        if pixels.len() < MIN_AREA {
            continue;
        }
        out.push(measure(colour, &pixels, labels, width, height));
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.area));
    out
}

fn measure(
    colour: Colour,
    pixels: &[usize],
    labels: &[Option<Colour>],
    width: usize,
    height: usize,
) -> Blob {
    let n = pixels.len() as f32;
    let (mut sx, mut sy) = (0.0f32, 0.0f32);
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
    for &p in pixels {
        let (x, y) = ((p % width) as u32, (p / width) as u32);
        sx += x as f32;
        sy += y as f32;
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let (cx, cy) = (sx / n, sy / n);
    let (mut sxx, mut syy, mut sxy) = (0.0f32, 0.0f32, 0.0f32);
    let mut dists = Vec::new();
    for &p in pixels {
        let (x, y) = ((p % width) as f32, (p / width) as f32);
        let (dx, dy) = (x - cx, y - cy);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
        let (xi, yi) = (p % width, p / width);
        let edge = xi == 0
            || yi == 0
            || xi + 1 == width
            || yi + 1 == height
            || labels[p - 1] != Some(colour)
            || labels[p + 1] != Some(colour)
            || labels[p - width] != Some(colour)
            || labels[p + width] != Some(colour);
        if edge {
            dists.push((dx * dx + dy * dy).sqrt());
        }
    }
    let (sxx, syy, sxy) = (sxx / n, syy / n, sxy / n);
    let tr = sxx + syy;
    let det = sxx * syy - sxy * sxy;
    let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
    let (l1, l2) = (tr / 2.0 + disc, (tr / 2.0 - disc).max(1e-3));
    let mean = dists.iter().sum::<f32>() / dists.len().max(1) as f32;
    let var = dists.iter().map(|d| (d - mean).powi(2)).sum::<f32>() / dists.len().max(1) as f32;
    let bbox_area = ((x1 - x0 + 1) * (y1 - y0 + 1)) as f32;
    Blob {
        colour,
        x: cx,
        y: cy,
        area: pixels.len(),
        bbox: [x0, y0, x1, y1],
        elongation: (l1 / l2).sqrt(),
        radial_cv: if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
        fill: n / bbox_area,
        at_edge: x0 == 0 || y0 == 0 || x1 as usize + 1 >= width || y1 as usize + 1 >= height,
    }
}

/// One tracked object: a position per frame where it was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub colour: Colour,
    /// `points[frame]`: the blob's centroid and area, or `None` where not seen.
    pub points: Vec<Option<TrackPoint>>,
}

/// A tracked position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    pub x: f32,
    pub y: f32,
    pub area: usize,
    /// Bottom of the blob (largest y), pixels.
    pub bottom: f32,
    /// The blob's silhouette class.
    pub silhouette: Silhouette,
    /// The blob touches the frame's edge.
    pub at_edge: bool,
}

impl Track {
    /// Frames where the object was seen.
    pub fn seen(&self) -> usize {
        self.points.iter().filter(|p| p.is_some()).count()
    }
}

/// Per-frame blobs of a clip (computed once, shared by the tracker and the adherence checks).
pub fn all_blobs(video: &VideoFrames) -> Vec<Vec<Blob>> {
    let (w, h) = (video.width() as usize, video.height() as usize);
    (0..video.len())
        .map(|i| {
            let rgb = video.frame_rgb(i).unwrap_or_default();
            blobs(&label_frame(&rgb), w, h)
        })
        .collect()
}

/// Follows `count` objects of `colour` through the clip (nearest-neighbour association,
/// restarted after each cut).
pub fn track_colour(
    frames: &[Vec<Blob>],
    colour: Colour,
    count: usize,
    cuts: &[usize],
) -> Vec<Track> {
    let count = count.max(1);
    let n = frames.len();
    let mut tracks: Vec<Track> = (0..count)
        .map(|_| Track {
            colour,
            points: vec![None; n],
        })
        .collect();
    let mut last: Vec<Option<(f32, f32)>> = vec![None; count];
    for (f, blobs) in frames.iter().enumerate() {
        if cuts.contains(&f) {
            last = vec![None; count];
        }
        let mut cands: Vec<&Blob> = blobs
            .iter()
            .filter(|b| b.colour == colour)
            .take(count + 2)
            .collect();
        cands.truncate(count.max(1) + 2);
        let mut taken = vec![false; cands.len()];
        // Tracks with a previous position pick the nearest blob first.
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by_key(|&k| last[k].is_none());
        for k in order {
            let best =
                cands
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| !taken[*j])
                    .min_by(|(_, a), (_, b)| {
                        let da = last[k]
                            .map(|(x, y)| (a.x - x).hypot(a.y - y))
                            .unwrap_or(-(a.area as f32));
                        let db = last[k]
                            .map(|(x, y)| (b.x - x).hypot(b.y - y))
                            .unwrap_or(-(b.area as f32));
                        da.total_cmp(&db)
                    });
            if let Some((j, b)) = best {
                if tracks.iter().filter(|t| t.points[f].is_some()).count() >= cands.len() {
                    break;
                }
                taken[j] = true;
                tracks[k].points[f] = Some(TrackPoint {
                    x: b.x,
                    y: b.y,
                    area: b.area,
                    bottom: b.bbox[3] as f32,
                    silhouette: b.silhouette(),
                    at_edge: b.at_edge,
                });
                last[k] = Some((b.x, b.y));
            }
        }
    }
    tracks
}

/// Object permanence: a track may appear or vanish only at the frame's edge, at a cut,
/// or at the clip's ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permanence {
    /// Appearances or disappearances away from the edges, cuts and ends.
    pub violations: usize,
    /// 1 - violations / tracks (clamped to 0..1).
    pub score: f32,
}

/// Checks object permanence over tracks.
pub fn permanence(tracks: &[Track], width: u32, height: u32, cuts: &[usize]) -> Permanence {
    let margin = (width.min(height) as f32 * 0.12).max(4.0);
    let near_edge = |p: &TrackPoint| {
        p.x < margin || p.y < margin || p.x > width as f32 - margin || p.y > height as f32 - margin
    };
    let mut violations = 0;
    for t in tracks {
        let n = t.points.len();
        for f in 1..n {
            if cuts.contains(&f) {
                continue;
            }
            match (&t.points[f - 1], &t.points[f]) {
                (Some(a), None) if !near_edge(a) => {
                    // Allow one-frame dropouts (occlusion) only if it comes back nearby.
                    let back = t.points.get(f + 1).copied().flatten();
                    if back.is_none() {
                        violations += 1;
                    }
                }
                (None, Some(b)) if !near_edge(b) && f > 1 && t.points[f - 2].is_none() => {
                    violations += 1;
                }
                _ => {}
            }
        }
    }
    let score = if tracks.is_empty() {
        0.0
    } else {
        (1.0 - violations as f32 / tracks.len() as f32).clamp(0.0, 1.0)
    };
    Permanence { violations, score }
}
