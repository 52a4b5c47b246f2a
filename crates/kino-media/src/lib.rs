//! kino-media: the clip's pictures and sound in memory ([`VideoFrames`], [`AudioBuffer`]) and
//! on disk (browser-playable MP4 with H.264 + AAC-LC, WAV, WebP thumbnails, JPEG spritesheets).

pub mod audio;
pub mod color;
pub mod error;
pub mod frames;
pub mod resample;

pub use audio::AudioBuffer;
pub use error::{MediaError, Result};
pub use frames::{PixelFormat, Rational, VideoFrames};
