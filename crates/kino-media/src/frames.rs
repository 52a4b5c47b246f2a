//! `VideoFrames`: a clip's pictures, all the same size, at one frame rate.

use crate::error::{MediaError, Result};
use serde::{Deserialize, Serialize};

/// Largest frame kino encodes or decodes (1920x1080 in either orientation).
pub const MAX_WIDTH: u32 = 1920;
/// See [`MAX_WIDTH`].
pub const MAX_HEIGHT: u32 = 1920;

/// A frame rate (or any rate) as an exact fraction, e.g. 24000/1001.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rational {
    pub num: u32,
    pub den: u32,
}

impl Rational {
    /// A checked fraction: both parts must be positive.
    pub fn new(num: u32, den: u32) -> Result<Self> {
        if num == 0 || den == 0 {
            return Err(MediaError::invalid(
                "rate",
                format!("{num}/{den}: numerator and denominator must be positive"),
            ));
        }
        Ok(Rational { num, den })
    }

    /// A whole-number rate such as 24 fps.
    pub fn integer(num: u32) -> Result<Self> {
        Rational::new(num, 1)
    }

    /// The rate as a float.
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// The nearest simple fraction for a float rate such as 29.97.
    pub fn approximate(rate: f64) -> Result<Self> {
        if !rate.is_finite() || rate <= 0.0 || rate > 1000.0 {
            return Err(MediaError::invalid(
                "rate",
                format!("{rate} is not a usable rate"),
            ));
        }
        if (rate - rate.round()).abs() < 1e-3 {
            return Rational::integer(rate.round() as u32);
        }
        let ntsc = rate * 1.001;
        if (ntsc - ntsc.round()).abs() < 1e-3 {
            return Rational::new(ntsc.round() as u32 * 1000, 1001);
        }
        Rational::new((rate * 1000.0).round() as u32, 1000)
    }
}

impl std::fmt::Display for Rational {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// How the bytes of one frame are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    /// Packed 8-bit RGB, `width * height * 3` bytes.
    Rgb8,
    /// Planar YUV 4:2:0 (I420, BT.601 limited range): the Y plane, then U, then V,
    /// each chroma plane `ceil(w/2) * ceil(h/2)` bytes.
    Yuv420p,
}

impl PixelFormat {
    /// Bytes one frame of this format takes.
    pub fn frame_len(self, width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        match self {
            PixelFormat::Rgb8 => w * h * 3,
            PixelFormat::Yuv420p => w * h + 2 * w.div_ceil(2) * h.div_ceil(2),
        }
    }
}

/// A sequence of equally sized frames at a fixed rate, stored contiguously.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrames {
    width: u32,
    height: u32,
    fps: Rational,
    format: PixelFormat,
    data: Vec<u8>,
}

impl VideoFrames {
    /// An empty clip; frames are added with [`VideoFrames::push`].
    pub fn new(width: u32, height: u32, fps: Rational, format: PixelFormat) -> Result<Self> {
        if width == 0 || height == 0 || width > MAX_WIDTH || height > MAX_HEIGHT {
            return Err(MediaError::invalid(
                "frame size",
                format!("{width}x{height}: each side must be 1..={MAX_WIDTH}"),
            ));
        }
        Rational::new(fps.num, fps.den)?;
        Ok(VideoFrames {
            width,
            height,
            fps,
            format,
            data: Vec::new(),
        })
    }

    /// A clip from contiguous frame data; its length must be a whole number of frames.
    pub fn from_data(
        width: u32,
        height: u32,
        fps: Rational,
        format: PixelFormat,
        data: Vec<u8>,
    ) -> Result<Self> {
        let mut clip = VideoFrames::new(width, height, fps, format)?;
        let frame_len = clip.frame_len();
        if !data.len().is_multiple_of(frame_len) {
            return Err(MediaError::invalid(
                "frame data",
                format!(
                    "{} bytes is not a whole number of {width}x{height} {format:?} frames ({frame_len} bytes each)",
                    data.len()
                ),
            ));
        }
        clip.data = data;
        Ok(clip)
    }

    /// Appends one frame; `frame` must be exactly one frame of this clip's format.
    pub fn push(&mut self, frame: &[u8]) -> Result<()> {
        if frame.len() != self.frame_len() {
            return Err(MediaError::invalid(
                "frame",
                format!(
                    "frame {} has {} bytes, expected {} for {}x{} {:?}",
                    self.len(),
                    frame.len(),
                    self.frame_len(),
                    self.width,
                    self.height,
                    self.format
                ),
            ));
        }
        self.data.extend_from_slice(frame);
        Ok(())
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn fps(&self) -> Rational {
        self.fps
    }
    pub fn format(&self) -> PixelFormat {
        self.format
    }
    /// Bytes of one frame.
    pub fn frame_len(&self) -> usize {
        self.format.frame_len(self.width, self.height)
    }
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.data.len() / self.frame_len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Length in seconds: frames / fps.
    pub fn duration_s(&self) -> f64 {
        self.len() as f64 / self.fps.as_f64()
    }
    /// Presentation time of frame `index` in seconds.
    pub fn time_of(&self, index: usize) -> f64 {
        index as f64 / self.fps.as_f64()
    }
    /// The bytes of frame `index`, if it exists.
    pub fn frame(&self, index: usize) -> Option<&[u8]> {
        let len = self.frame_len();
        self.data.get(index * len..(index + 1) * len)
    }
    /// Mutable bytes of frame `index`, if it exists.
    pub fn frame_mut(&mut self, index: usize) -> Option<&mut [u8]> {
        let len = self.frame_len();
        self.data.get_mut(index * len..(index + 1) * len)
    }
    /// All frames, contiguous.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// Iterates over the frames.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.data.chunks_exact(self.frame_len())
    }

    /// Frame `index` as packed RGB8, converting from YUV if needed.
    pub fn frame_rgb(&self, index: usize) -> Option<Vec<u8>> {
        let frame = self.frame(index)?;
        Some(match self.format {
            PixelFormat::Rgb8 => frame.to_vec(),
            PixelFormat::Yuv420p => crate::color::yuv420_to_rgb(frame, self.width, self.height),
        })
    }

    /// The same clip in `format` (a no-op when it already is).
    pub fn to_format(&self, format: PixelFormat) -> VideoFrames {
        if format == self.format {
            return self.clone();
        }
        let mut data = Vec::with_capacity(format.frame_len(self.width, self.height) * self.len());
        for frame in self.iter() {
            match format {
                PixelFormat::Rgb8 => {
                    data.extend(crate::color::yuv420_to_rgb(frame, self.width, self.height))
                }
                PixelFormat::Yuv420p => {
                    data.extend(crate::color::rgb_to_yuv420(frame, self.width, self.height))
                }
            }
        }
        VideoFrames {
            format,
            data,
            ..*self
        }
    }

    /// Frames `range` as a new clip (clamped to what exists).
    pub fn slice(&self, start: usize, end: usize) -> VideoFrames {
        let len = self.frame_len();
        let end = end.min(self.len());
        let start = start.min(end);
        VideoFrames {
            data: self.data[start * len..end * len].to_vec(),
            ..*self
        }
    }

    /// Appends every frame of `other`, which must have the same size, rate and format.
    pub fn append(&mut self, other: &VideoFrames) -> Result<()> {
        if (other.width, other.height, other.fps, other.format)
            != (self.width, self.height, self.fps, self.format)
        {
            return Err(MediaError::invalid(
                "clip",
                format!(
                    "cannot append {}x{}@{} {:?} to {}x{}@{} {:?}",
                    other.width,
                    other.height,
                    other.fps,
                    other.format,
                    self.width,
                    self.height,
                    self.fps,
                    self.format
                ),
            ));
        }
        self.data.extend_from_slice(&other.data);
        Ok(())
    }
}
