//! Stills the OpenAI Videos API serves beside a video: a WebP `thumbnail` and a JPEG
//! `spritesheet` (a grid of evenly spaced frames).

use crate::error::{MediaError, Result};
use crate::frames::VideoFrames;
use image::{imageops, ImageEncoder, RgbImage};

fn frame_image(video: &VideoFrames, index: usize) -> Result<RgbImage> {
    let rgb = video
        .frame_rgb(index)
        .ok_or_else(|| MediaError::invalid("frame", format!("frame {index} does not exist")))?;
    RgbImage::from_raw(video.width(), video.height(), rgb)
        .ok_or_else(|| MediaError::invalid("frame", "frame size does not match its data"))
}

/// The frame shown at `at_s` seconds (clamped to the clip), as a lossless WebP.
pub fn thumbnail_webp(video: &VideoFrames, at_s: f64) -> Result<Vec<u8>> {
    if video.is_empty() {
        return Err(MediaError::invalid("video", "the clip has no frames"));
    }
    let index = ((at_s.max(0.0) * video.fps().as_f64()).floor() as usize).min(video.len() - 1);
    let img = frame_image(video, index)?;
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| MediaError::codec("WebP", "encoding", e))?;
    Ok(out)
}

/// Layout of a spritesheet.
#[derive(Debug, Clone, Copy)]
pub struct SpritesheetOptions {
    /// Number of frames, evenly spaced over the clip (first frame first).
    pub count: usize,
    /// Frames per row.
    pub columns: usize,
    /// Width of one tile in pixels (height follows the aspect ratio).
    pub tile_width: u32,
    /// JPEG quality 1..=100.
    pub quality: u8,
}

impl Default for SpritesheetOptions {
    fn default() -> Self {
        SpritesheetOptions {
            count: 16,
            columns: 4,
            tile_width: 256,
            quality: 85,
        }
    }
}

/// A JPEG grid of `opts.count` evenly spaced frames.
pub fn spritesheet_jpeg(video: &VideoFrames, opts: &SpritesheetOptions) -> Result<Vec<u8>> {
    if video.is_empty() {
        return Err(MediaError::invalid("video", "the clip has no frames"));
    }
    if opts.count == 0 || opts.columns == 0 || opts.tile_width == 0 || opts.count > 1024 {
        return Err(MediaError::invalid(
            "spritesheet",
            "count must be 1..=1024, columns and tile width positive",
        ));
    }
    let count = opts.count;
    let cols = opts.columns.min(count);
    let rows = count.div_ceil(cols);
    let tw = opts.tile_width.min(4096);
    let th = ((u64::from(tw) * u64::from(video.height())) / u64::from(video.width())).max(1) as u32;
    let mut sheet = RgbImage::new(tw * cols as u32, th * rows as u32);
    for k in 0..count {
        let index = if count == 1 {
            0
        } else {
            k * (video.len() - 1) / (count - 1)
        };
        let tile = imageops::resize(
            &frame_image(video, index)?,
            tw,
            th,
            imageops::FilterType::Triangle,
        );
        imageops::replace(
            &mut sheet,
            &tile,
            i64::from(tw) * (k % cols) as i64,
            i64::from(th) * (k / cols) as i64,
        );
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, opts.quality.clamp(1, 100))
        .write_image(
            sheet.as_raw(),
            sheet.width(),
            sheet.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| MediaError::codec("JPEG", "encoding", e))?;
    Ok(out)
}

/// Decodes a PNG/JPEG/WebP still (an image-to-video first frame, a reference image) to RGB8.
pub fn read_image(path: &std::path::Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| MediaError::io(path, e))?;
    image::load_from_memory(&bytes)
        .map(|i| i.to_rgb8())
        .map_err(|e| {
            MediaError::malformed(path.display().to_string(), format!("invalid image: {e}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{PixelFormat, Rational};

    fn ramp() -> VideoFrames {
        let mut v =
            VideoFrames::new(32, 16, Rational::integer(10).unwrap(), PixelFormat::Rgb8).unwrap();
        for i in 0..20u8 {
            v.push(&vec![i * 12; 32 * 16 * 3]).unwrap();
        }
        v
    }

    #[test]
    fn thumbnail_picks_the_frame_at_a_time() {
        let v = ramp();
        let webp = thumbnail_webp(&v, 1.0).unwrap();
        let img = image::load_from_memory(&webp).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (32, 16));
        assert_eq!(img.get_pixel(3, 3).0, [120, 120, 120]);
        let last = image::load_from_memory(&thumbnail_webp(&v, 99.0).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(last.get_pixel(0, 0).0[0], 19 * 12);
    }

    #[test]
    fn spritesheet_is_a_grid_of_spaced_frames() {
        let v = ramp();
        let opts = SpritesheetOptions {
            count: 4,
            columns: 2,
            tile_width: 32,
            quality: 95,
        };
        let img = image::load_from_memory(&spritesheet_jpeg(&v, &opts).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (64, 32));
        // Frames 0, 6, 12, 19.
        for (k, frame) in [0u32, 6, 12, 19].iter().enumerate() {
            let (x, y) = (8 + 32 * (k as u32 % 2), 4 + 16 * (k as u32 / 2));
            let got = img.get_pixel(x, y).0[0] as i32;
            assert!((got - (frame * 12) as i32).abs() <= 3, "tile {k}: {got}");
        }
        assert!(spritesheet_jpeg(&v, &SpritesheetOptions { count: 0, ..opts }).is_err());
    }
}
