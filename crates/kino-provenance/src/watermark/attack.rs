//! The edits the watermark is meant to survive, as functions: re-encoding, scaling,
//! cropping and trimming. Used by the tests and the robustness example.

use super::Result;
use kino_media::{decode_mp4, encode_mp4, EncodeOptions, PixelFormat, VideoFrames, VideoQuality};

/// Encodes `frames` to MP4 with `quality` and decodes it again. Returns the decoded clip
/// and the video bitrate of the file in bits per second.
pub fn reencode(frames: &VideoFrames, quality: VideoQuality) -> Result<(VideoFrames, u32)> {
    let opts = EncodeOptions {
        video_quality: quality,
        ..EncodeOptions::default()
    };
    let (bytes, summary) = encode_mp4(frames, None, &opts)?;
    let bps = (bytes.len() as f64 * 8.0 / summary.duration_s.max(1e-9)).round() as u32;
    let clip = decode_mp4(&bytes, "re-encoded clip")?;
    Ok((clip.video, bps))
}

/// Resizes every frame by `scale` (Catmull-Rom, as a typical editor would), rounding the
/// new size to even numbers so it can be encoded again.
pub fn resize(frames: &VideoFrames, scale: f32) -> Result<VideoFrames> {
    let even = |v: u32| (((v as f32 * scale) / 2.0).round() as u32 * 2).max(2);
    let (w, h) = (frames.width(), frames.height());
    let (nw, nh) = (even(w), even(h));
    let mut out = VideoFrames::new(nw, nh, frames.fps(), PixelFormat::Rgb8)?;
    for i in 0..frames.len() {
        let rgb = frames.frame_rgb(i).expect("frame in range");
        let img = image::RgbImage::from_raw(w, h, rgb).expect("frame size");
        let small = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::CatmullRom);
        out.push(small.as_raw())?;
    }
    Ok(out)
}

/// Cuts `left`, `top`, `right`, `bottom` pixels off every frame.
pub fn crop(
    frames: &VideoFrames,
    left: u32,
    top: u32,
    right: u32,
    bottom: u32,
) -> Result<VideoFrames> {
    let (w, h) = (frames.width(), frames.height());
    let (nw, nh) = (
        w.saturating_sub(left + right),
        h.saturating_sub(top + bottom),
    );
    let mut out = VideoFrames::new(nw, nh, frames.fps(), PixelFormat::Rgb8)?;
    let mut buf = Vec::with_capacity((nw * nh * 3) as usize);
    for i in 0..frames.len() {
        let rgb = frames.frame_rgb(i).expect("frame in range");
        buf.clear();
        for y in top..top + nh {
            let start = ((y * w + left) * 3) as usize;
            buf.extend_from_slice(&rgb[start..start + (nw * 3) as usize]);
        }
        out.push(&buf)?;
    }
    Ok(out)
}

/// Drops `start_s` seconds from the start and `end_s` from the end.
pub fn trim(frames: &VideoFrames, start_s: f64, end_s: f64) -> VideoFrames {
    let fps = frames.fps().as_f64();
    let first = (start_s * fps).round() as usize;
    let cut = (end_s * fps).round() as usize;
    frames.slice(first, frames.len().saturating_sub(cut))
}
