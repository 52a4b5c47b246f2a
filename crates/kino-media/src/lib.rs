//! kino-media: the clip's pictures and sound in memory ([`VideoFrames`], [`AudioBuffer`]) and
//! on disk (browser-playable MP4 with H.264 + AAC-LC, WAV, WebP thumbnails, JPEG spritesheets).

pub mod aac;
pub mod audio;
mod boxes;
pub mod color;
pub mod error;
pub mod frames;
pub mod h264;
pub mod mp4_read;
pub mod mp4_write;
pub mod preview;
pub mod resample;
pub mod wav;

pub use audio::AudioBuffer;
pub use boxes::{top_level_boxes, Mp4Box};
pub use error::{MediaError, Result};
pub use frames::{PixelFormat, Rational, VideoFrames};
pub use h264::VideoQuality;
pub use mp4_read::{
    decode_mp4, decode_mp4_video_prefix, decode_mp4_within, probe, probe_bytes, read_mp4, Clip,
    MediaInfo, StreamInfo,
};
pub use mp4_write::{
    check_output_path, encode_mp4, encode_mp4_with_progress, write_atomically, write_mp4,
    EncodeOptions, Mp4Summary,
};
pub use preview::{read_image, spritesheet_jpeg, thumbnail_webp, SpritesheetOptions};
pub use wav::{read_wav, write_wav};
