//! The visible mark: an optional badge ("AI · KINO" by default) drawn into a corner of every
//! frame, for operators who want viewers to see at a glance that a clip is generated. It is
//! drawn before the invisible watermark is embedded, so both are in the delivered frames.
//!
//! The text is set in a 5×7 pixel font (below), scaled in whole pixels with the frame size:
//! a font rasteriser and a font file would be the only other way, and a badge of a few
//! capital letters does not need one.

use kino_media::{PixelFormat, VideoFrames};
use std::fmt;
use std::str::FromStr;

/// Where the badge goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    #[default]
    BottomRight,
}

impl FromStr for Corner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "top-left" => Ok(Corner::TopLeft),
            "top-right" => Ok(Corner::TopRight),
            "bottom-left" => Ok(Corner::BottomLeft),
            "bottom-right" => Ok(Corner::BottomRight),
            other => Err(format!(
                "corner '{other}': expected top-left, top-right, bottom-left or bottom-right"
            )),
        }
    }
}

impl fmt::Display for Corner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Corner::TopLeft => "top-left",
            Corner::TopRight => "top-right",
            Corner::BottomLeft => "bottom-left",
            Corner::BottomRight => "bottom-right",
        })
    }
}

/// The default badge text.
pub const DEFAULT_LABEL: &str = "AI · KINO";
/// Longest label accepted, in characters.
pub const MAX_LABEL_CHARS: usize = 24;

/// A visible badge.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleMark {
    pub corner: Corner,
    /// Upper-case letters, digits, space and `· - . : / !` (see [`VisibleMark::new`]).
    label: String,
    /// Opacity of the badge's dark plate (0..=1); the text is opaque.
    pub plate_opacity: f32,
}

impl Default for VisibleMark {
    fn default() -> Self {
        VisibleMark {
            corner: Corner::default(),
            label: DEFAULT_LABEL.into(),
            plate_opacity: 0.6,
        }
    }
}

impl VisibleMark {
    /// A badge with `label` (lower-case letters are set in capitals). Errors name the first
    /// character the font lacks.
    pub fn new(corner: Corner, label: &str) -> Result<Self, String> {
        let label = label.trim().to_uppercase();
        if label.is_empty() {
            return Err("the visible mark's label is empty".into());
        }
        let n = label.chars().count();
        if n > MAX_LABEL_CHARS {
            return Err(format!(
                "the visible mark's label has {n} characters; at most {MAX_LABEL_CHARS}"
            ));
        }
        if let Some(c) = label.chars().find(|&c| glyph(c).is_none()) {
            return Err(format!(
                "the visible mark's label has '{c}', which its font lacks (use A-Z, 0-9, space and · - . : / !)"
            ));
        }
        Ok(VisibleMark {
            corner,
            label,
            plate_opacity: 0.6,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The badge's rectangle `(x, y, w, h)` on a `width × height` frame, or `None` when the
    /// frame is too small to hold it.
    pub fn rect(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        let scale = (width.min(height) / 180).max(1);
        let chars = self.label.chars().count() as u32;
        let pad = 2 * scale;
        let w = chars * 6 * scale - scale + 2 * pad;
        let h = 7 * scale + 2 * pad;
        let margin = 3 * scale;
        if w + 2 * margin > width || h + 2 * margin > height {
            return None;
        }
        let x = match self.corner {
            Corner::TopLeft | Corner::BottomLeft => margin,
            Corner::TopRight | Corner::BottomRight => width - margin - w,
        };
        let y = match self.corner {
            Corner::TopLeft | Corner::TopRight => margin,
            Corner::BottomLeft | Corner::BottomRight => height - margin - h,
        };
        Some((x, y, w, h))
    }

    /// Draws the badge into every frame (RGB frames; YUV frames get it in luma, chroma
    /// neutralised under the plate). Returns false when the frames are too small for it.
    pub fn draw(&self, video: &mut VideoFrames) -> bool {
        let (width, height) = (video.width(), video.height());
        let Some((x0, y0, bw, bh)) = self.rect(width, height) else {
            return false;
        };
        let scale = (width.min(height) / 180).max(1);
        let pad = 2 * scale;
        // Per pixel of the badge: None (plate) or Some (text).
        let mut text = vec![false; (bw * bh) as usize];
        for (i, c) in self.label.chars().enumerate() {
            let rows = glyph(c).unwrap_or([0; 7]);
            let gx = pad + i as u32 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5u32 {
                    if bits & (0b10000 >> col) == 0 {
                        continue;
                    }
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (x, y) = (gx + col * scale + dx, pad + r as u32 * scale + dy);
                            text[(y * bw + x) as usize] = true;
                        }
                    }
                }
            }
        }
        let a = self.plate_opacity.clamp(0.0, 1.0);
        let format = video.format();
        for i in 0..video.len() {
            let Some(frame) = video.frame_mut(i) else {
                continue;
            };
            for by in 0..bh {
                for bx in 0..bw {
                    let (x, y) = ((x0 + bx) as usize, (y0 + by) as usize);
                    let on = text[(by * bw + bx) as usize];
                    match format {
                        PixelFormat::Rgb8 => {
                            let p = (y * width as usize + x) * 3;
                            for c in &mut frame[p..p + 3] {
                                *c = if on { 255 } else { blend(*c, 16, a) };
                            }
                        }
                        PixelFormat::Yuv420p => {
                            let p = y * width as usize + x;
                            frame[p] = if on { 235 } else { blend(frame[p], 16, a) };
                        }
                    }
                }
            }
            if format == PixelFormat::Yuv420p {
                let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
                let y_len = width as usize * height as usize;
                for plane in 0..2 {
                    let base = y_len + plane * cw * ch;
                    for cy in (y0 / 2) as usize..((y0 + bh).div_ceil(2) as usize).min(ch) {
                        for cx in (x0 / 2) as usize..((x0 + bw).div_ceil(2) as usize).min(cw) {
                            let p = base + cy * cw + cx;
                            frame[p] = blend(frame[p], 128, a);
                        }
                    }
                }
            }
        }
        true
    }
}

fn blend(under: u8, over: u8, a: f32) -> u8 {
    (f32::from(under) * (1.0 - a) + f32::from(over) * a).round() as u8
}

/// 5×7 glyphs, one byte per row, the top row first, bit 4 the leftmost pixel.
fn glyph(c: char) -> Option<[u8; 7]> {
    let rows: [&str; 7] = match c {
        'A' => [
            ".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#",
        ],
        'B' => [
            "####.", "#...#", "#...#", "####.", "#...#", "#...#", "####.",
        ],
        'C' => [
            ".###.", "#...#", "#....", "#....", "#....", "#...#", ".###.",
        ],
        'D' => [
            "####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####.",
        ],
        'E' => [
            "#####", "#....", "#....", "####.", "#....", "#....", "#####",
        ],
        'F' => [
            "#####", "#....", "#....", "####.", "#....", "#....", "#....",
        ],
        'G' => [
            ".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####",
        ],
        'H' => [
            "#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#",
        ],
        'I' => [
            ".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###.",
        ],
        'J' => [
            "..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##..",
        ],
        'K' => [
            "#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#",
        ],
        'L' => [
            "#....", "#....", "#....", "#....", "#....", "#....", "#####",
        ],
        'M' => [
            "#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#",
        ],
        'N' => [
            "#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#",
        ],
        'O' => [
            ".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###.",
        ],
        'P' => [
            "####.", "#...#", "#...#", "####.", "#....", "#....", "#....",
        ],
        'Q' => [
            ".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#",
        ],
        'R' => [
            "####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#",
        ],
        'S' => [
            ".####", "#....", "#....", ".###.", "....#", "....#", "####.",
        ],
        'T' => [
            "#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..",
        ],
        'U' => [
            "#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###.",
        ],
        'V' => [
            "#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#..",
        ],
        'W' => [
            "#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#.",
        ],
        'X' => [
            "#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#",
        ],
        'Y' => [
            "#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#..",
        ],
        'Z' => [
            "#####", "....#", "...#.", "..#..", ".#...", "#....", "#####",
        ],
        '0' => [
            ".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###.",
        ],
        '1' => [
            "..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###.",
        ],
        '2' => [
            ".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####",
        ],
        '3' => [
            "#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###.",
        ],
        '4' => [
            "...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#.",
        ],
        '5' => [
            "#####", "#....", "####.", "....#", "....#", "#...#", ".###.",
        ],
        '6' => [
            "..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###.",
        ],
        '7' => [
            "#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#...",
        ],
        '8' => [
            ".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###.",
        ],
        '9' => [
            ".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##..",
        ],
        ' ' => [
            ".....", ".....", ".....", ".....", ".....", ".....", ".....",
        ],
        '·' => [
            ".....", ".....", ".....", "..#..", ".....", ".....", ".....",
        ],
        '-' => [
            ".....", ".....", ".....", "#####", ".....", ".....", ".....",
        ],
        '.' => [
            ".....", ".....", ".....", ".....", ".....", ".##..", ".##..",
        ],
        ':' => [
            ".....", ".##..", ".##..", ".....", ".##..", ".##..", ".....",
        ],
        '/' => [
            ".....", "....#", "...#.", "..#..", ".#...", "#....", ".....",
        ],
        '!' => [
            "..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#..",
        ],
        _ => return None,
    };
    let mut out = [0u8; 7];
    for (o, r) in out.iter_mut().zip(rows) {
        *o = r
            .bytes()
            .fold(0u8, |acc, b| (acc << 1) | u8::from(b == b'#'));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kino_media::Rational;

    fn flat(w: u32, h: u32, v: u8, format: PixelFormat) -> VideoFrames {
        let mut video = VideoFrames::new(w, h, Rational::integer(24).unwrap(), format).unwrap();
        let len = format.frame_len(w, h);
        for _ in 0..3 {
            video.push(&vec![v; len]).unwrap();
        }
        video
    }

    #[test]
    fn draws_only_inside_its_corner() {
        let mut video = flat(256, 144, 128, PixelFormat::Rgb8);
        let mark = VisibleMark::default();
        let (x0, y0, bw, bh) = mark.rect(256, 144).unwrap();
        assert!(
            x0 + bw < 256 && y0 + bh < 144 && x0 > 128 && y0 > 72,
            "bottom right"
        );
        assert!(mark.draw(&mut video));
        let f = video.frame(2).unwrap();
        let (mut white, mut dark) = (0, 0);
        for y in 0..144u32 {
            for x in 0..256u32 {
                let p = &f[((y * 256 + x) * 3) as usize..][..3];
                let inside = (x0..x0 + bw).contains(&x) && (y0..y0 + bh).contains(&y);
                if !inside {
                    assert_eq!(p, [128, 128, 128], "changed outside the badge at {x},{y}");
                } else if p == [255, 255, 255] {
                    white += 1;
                } else {
                    assert_eq!(p, [61, 61, 61]);
                    dark += 1;
                }
            }
        }
        // "AI · KINO": A 18 + I 11 + · 1 + K 14 + I 11 + N 17 + O 16 lit pixels at scale 1.
        assert_eq!(white, 88);
        assert_eq!(white + dark, bw * bh);
    }

    #[test]
    fn scales_with_the_frame_and_fits_every_corner() {
        for corner in ["top-left", "top-right", "bottom-left", "bottom-right"] {
            let corner: Corner = corner.parse().unwrap();
            let mark = VisibleMark::new(corner, "ai-generated").unwrap();
            assert_eq!(mark.label(), "AI-GENERATED");
            for (w, h) in [(128, 128), (1280, 720), (720, 1280)] {
                let (x, y, bw, bh) = mark.rect(w, h).unwrap();
                assert!(x + bw <= w && y + bh <= h);
                assert_eq!(bh, 11 * (w.min(h) / 180).max(1));
            }
        }
        assert!(VisibleMark::default().rect(32, 32).is_none());
        assert!(!VisibleMark::default().draw(&mut flat(32, 32, 0, PixelFormat::Rgb8)));
    }

    #[test]
    fn yuv_frames_get_it_in_luma() {
        let mut video = flat(128, 128, 100, PixelFormat::Yuv420p);
        assert!(VisibleMark::default().draw(&mut video));
        let f = video.frame(0).unwrap();
        assert!(f[..128 * 128].contains(&235));
        assert_eq!(f[0], 100);
    }

    #[test]
    fn bad_labels_are_named() {
        assert!(VisibleMark::new(Corner::TopLeft, "")
            .unwrap_err()
            .contains("empty"));
        assert!(VisibleMark::new(Corner::TopLeft, "AI ✓")
            .unwrap_err()
            .contains('✓'));
        assert!(VisibleMark::new(Corner::TopLeft, &"A".repeat(25))
            .unwrap_err()
            .contains("25"));
        assert!("middle".parse::<Corner>().unwrap_err().contains("middle"));
    }
}
