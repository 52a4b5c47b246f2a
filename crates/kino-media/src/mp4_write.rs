//! `write_mp4`: frames + PCM -> a fast-start MP4 (H.264 + AAC-LC) that browsers and ffmpeg play.

use crate::aac;
use crate::audio::AudioBuffer;
use crate::boxes;
use crate::error::{MediaError, Result};
use crate::frames::VideoFrames;
use crate::h264::{self, VideoQuality};
use muxide::api::{AacProfile, AudioCodec, Metadata, MuxerBuilder, VideoCodec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Movie timescale muxide writes.
const MOVIE_TIMESCALE: f64 = 1_000.0;

/// Frame rates kino writes.
pub const FPS_RANGE: std::ops::RangeInclusive<f64> = 8.0..=60.0;

/// Encoder settings. `Default` gives good quality at modest size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EncodeOptions {
    /// Video rate control (CRF-like constant quantiser by default).
    pub video_quality: VideoQuality,
    /// AAC bitrate in bits per second; `None` is 64 kbit/s per channel.
    pub audio_bitrate: Option<u32>,
    /// Optional title stored in the file's metadata.
    pub title: Option<String>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mp4Summary {
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    pub fps: f64,
    pub duration_s: f64,
    /// Audio rate in the file (after any resampling), if there is audio.
    pub audio_sample_rate: Option<u32>,
    pub audio_channels: Option<u16>,
}

/// Encodes `video` (and `audio`, if any) into MP4 bytes.
///
/// Audio is fitted to the video's length: cut if longer, padded with silence if shorter, so
/// both tracks end together. Rates AAC does not carry are resampled to 48 kHz.
pub fn encode_mp4(
    video: &VideoFrames,
    audio: Option<&AudioBuffer>,
    opts: &EncodeOptions,
) -> Result<(Vec<u8>, Mp4Summary)> {
    encode_mp4_with_progress(video, audio, opts, &mut |_, _| {})
}

/// [`encode_mp4`], reporting `(frames encoded, total frames)` as it goes.
pub fn encode_mp4_with_progress(
    video: &VideoFrames,
    audio: Option<&AudioBuffer>,
    opts: &EncodeOptions,
    on_frame: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<u8>, Mp4Summary)> {
    let fps = video.fps().as_f64();
    if !FPS_RANGE.contains(&fps) {
        return Err(MediaError::invalid(
            "frame rate",
            format!("{} fps is outside 8..=60", video.fps()),
        ));
    }
    if video.is_empty() {
        return Err(MediaError::invalid("video", "the clip has no frames"));
    }
    if let VideoQuality::Crf(q) = opts.video_quality {
        if q > 51 {
            return Err(MediaError::invalid("crf", format!("{q} is outside 0..=51")));
        }
    }
    let encoded_video = h264::encode(video, opts.video_quality, on_frame)?;

    let encoded_audio = match audio {
        None => None,
        Some(a) => {
            let rate = aac::encoding_rate(a.sample_rate());
            let mut a = a.resample(rate)?;
            a.set_frames((video.duration_s() * f64::from(rate)).round() as usize);
            let bitrate = opts
                .audio_bitrate
                .unwrap_or(64_000 * u32::from(a.channels()))
                .clamp(8_000, 320_000);
            Some(aac::encode(&a, bitrate)?)
        }
    };

    let mut builder = MuxerBuilder::new(Vec::new())
        .video(VideoCodec::H264, video.width(), video.height(), fps)
        .with_fast_start(true);
    if let Some(a) = &encoded_audio {
        builder = builder.audio(AudioCodec::Aac(AacProfile::Lc), a.sample_rate, a.channels);
    }
    if let Some(title) = &opts.title {
        builder = builder.with_metadata(Metadata::new().with_title(title.clone()));
    }
    let mux_err = |e: muxide::api::MuxerError| MediaError::codec("MP4", "muxing", e);
    let mut muxer = builder.build().map_err(mux_err)?;

    // Interleave by time so players read both tracks from one region of the file.
    let audio_frames = encoded_audio.as_ref().map_or(&[][..], |a| &a.frames[..]);
    let audio_frame_s = encoded_audio
        .as_ref()
        .map_or(0.0, |a| aac::FRAME_LEN as f64 / f64::from(a.sample_rate));
    let mut next_audio = 0;
    for (i, frame) in encoded_video.iter().enumerate() {
        let t = video.time_of(i);
        muxer
            .write_video(t, &frame.data, frame.keyframe)
            .map_err(mux_err)?;
        while next_audio < audio_frames.len() && next_audio as f64 * audio_frame_s <= t {
            muxer
                .write_audio(next_audio as f64 * audio_frame_s, &audio_frames[next_audio])
                .map_err(mux_err)?;
            next_audio += 1;
        }
    }
    for (k, frame) in audio_frames.iter().enumerate().skip(next_audio) {
        muxer
            .write_audio(k as f64 * audio_frame_s, frame)
            .map_err(mux_err)?;
    }
    let mut bytes = {
        let mut m = muxer;
        m.finish_in_place().map_err(mux_err)?;
        m.into_writer()
    };

    if let Some(a) = &encoded_audio {
        let rate = f64::from(a.sample_rate);
        let edit_err = |e: String| MediaError::codec("MP4", "audio timing", e);
        boxes::retime_constant_duration(&mut bytes, b"soun", a.sample_rate, aac::FRAME_LEN as u32)
            .map_err(edit_err)?;
        let segment = (a.samples as f64 / rate * MOVIE_TIMESCALE).round() as u64;
        bytes =
            boxes::add_edit_list(&bytes, b"soun", a.priming as u64, segment).map_err(edit_err)?;
    }
    let summary = Mp4Summary {
        bytes: bytes.len() as u64,
        width: video.width(),
        height: video.height(),
        frames: video.len(),
        fps,
        duration_s: video.duration_s(),
        audio_sample_rate: encoded_audio.as_ref().map(|a| a.sample_rate),
        audio_channels: encoded_audio.as_ref().map(|a| a.channels),
    };
    Ok((bytes, summary))
}

/// Encodes and writes an MP4 to `path`. The file appears whole or not at all (written to a
/// temporary file beside it, then renamed), so an existing file is never left half-written.
pub fn write_mp4(
    path: &Path,
    video: &VideoFrames,
    audio: Option<&AudioBuffer>,
    opts: &EncodeOptions,
) -> Result<Mp4Summary> {
    let (bytes, summary) = encode_mp4(video, audio, opts)?;
    write_atomically(path, &bytes)?;
    Ok(summary)
}

/// Checks, before any work is done, that `path` can take an output file: it names a file
/// (not a folder), its folder exists, and it is none of `inputs` (writing there would
/// replace an input the command is reading).
pub fn check_output_path(path: &Path, inputs: &[&Path]) -> Result<()> {
    let shown = path.display();
    let ends_in_separator = path
        .as_os_str()
        .to_string_lossy()
        .ends_with(std::path::is_separator);
    if path.file_name().is_none() || ends_in_separator || path.is_dir() {
        return Err(MediaError::invalid(
            "output path",
            format!("{shown} is a folder; name a file, e.g. {shown}/clip.mp4"),
        ));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(MediaError::invalid(
            "output path",
            format!(
                "{shown}: the folder {} does not exist (kino does not create folders)",
                dir.display()
            ),
        ));
    }
    for input in inputs {
        if same_file(path, input) {
            return Err(MediaError::invalid(
                "output path",
                format!(
                    "{shown} is also an input of this command ({}): writing it would replace \
                     that input; choose another output file",
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Whether two paths are the same existing file (hard links and symlinks included).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    }
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    check_output_path(path, &[])?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        MediaError::invalid(
            "output path",
            format!("{} has no file name", path.display()),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    // Errors name the file asked for, not the temporary one beside it.
    std::fs::write(&tmp, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        MediaError::io(path, e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        MediaError::io(path, e)
    })
}
