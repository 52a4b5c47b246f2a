//! `read_mp4` and `probe`: demux (re_mp4) and decode (OpenH264, FDK AAC) MP4 files — ours and
//! those made elsewhere, e.g. ffmpeg's x264 High profile with B-frames and AAC with an edit list.

use crate::aac;
use crate::audio::AudioBuffer;
use crate::error::{MediaError, Result};
use crate::frames::{PixelFormat, Rational, VideoFrames};
use crate::h264::{self, AvcConfig, H264Decoder};
use re_mp4::{Mp4, StsdBoxContent, Track, TrackKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Decoded clips larger than this (in bytes of I420 frames) are refused rather than exhausting
/// memory; long inputs should be trimmed first.
pub const MAX_DECODED_BYTES: usize = 6 << 30;

/// A decoded clip: the pictures (I420, display order) and the sound, if the file has any.
#[derive(Debug, Clone)]
pub struct Clip {
    pub video: VideoFrames,
    pub audio: Option<AudioBuffer>,
}

/// What a file contains, without decoding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub path: String,
    pub size_bytes: u64,
    /// Major brand of the `ftyp` box, e.g. "isom".
    pub brand: String,
    /// The `moov` index comes before the media data, so playback can start while downloading.
    pub fast_start: bool,
    /// Longest stream, in seconds.
    pub duration_s: f64,
    pub streams: Vec<StreamInfo>,
}

/// One track of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub index: usize,
    /// "video", "audio", "subtitle" or "unknown".
    pub kind: String,
    /// RFC 6381 codec string, e.g. "avc1.42C01F" or "mp4a.40.2".
    pub codec: String,
    pub duration_s: f64,
    pub samples: usize,
    pub bitrate_bps: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
}

impl MediaInfo {
    /// A human-readable summary, one line per stream.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}: {} bytes, {:.3} s, brand {}, {}\n",
            self.path,
            self.size_bytes,
            self.duration_s,
            self.brand,
            if self.fast_start {
                "fast-start"
            } else {
                "index at end (not fast-start)"
            }
        );
        for st in &self.streams {
            s.push_str(&format!(
                "  #{} {} {}: {:.3} s, {} samples, {} kbit/s",
                st.index,
                st.kind,
                st.codec,
                st.duration_s,
                st.samples,
                st.bitrate_bps / 1000
            ));
            if let (Some(w), Some(h)) = (st.width, st.height) {
                s.push_str(&format!(", {w}x{h}"));
            }
            if let Some(fps) = st.fps {
                s.push_str(&format!(", {fps:.3} fps"));
            }
            if let (Some(r), Some(c)) = (st.sample_rate, st.channels) {
                s.push_str(&format!(", {r} Hz, {c} ch"));
            }
            s.push('\n');
        }
        s
    }
}

/// Reads `path` whole, bounded so a wrong path to a huge file fails clearly.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| MediaError::io(path, e))
}

/// Parses the container, turning parser failures (and panics in the parser) into errors that
/// name the file.
fn parse(bytes: &[u8], name: &str) -> Result<Mp4> {
    if bytes.len() < 8 {
        return Err(MediaError::malformed(name, "too short to be an MP4 file"));
    }
    let head = &bytes[4..8];
    if !matches!(
        head,
        b"ftyp" | b"moov" | b"free" | b"mdat" | b"skip" | b"wide" | b"styp"
    ) {
        return Err(MediaError::malformed(
            name,
            "not an MP4 file (no ISO-BMFF box at the start)",
        ));
    }
    crate::boxes::validate_structure(bytes)
        .map_err(|e| MediaError::malformed(name, format!("invalid MP4: {e}")))?;
    match std::panic::catch_unwind(|| Mp4::read_bytes(bytes)) {
        Ok(Ok(mp4)) => Ok(mp4),
        // The box walk names a truncation (which box, how many bytes are missing) more
        // plainly than the parser's own message, so that wins where it finds a fault.
        Ok(Err(e)) => Err(MediaError::malformed(
            name,
            match crate::boxes::top_level_boxes(bytes) {
                Err(fault) => format!("invalid MP4: {fault}"),
                Ok(_) => format!("invalid MP4: {e}"),
            },
        )),
        Err(_) => Err(MediaError::malformed(
            name,
            "invalid MP4: corrupt box structure",
        )),
    }
}

fn sample_bytes<'a>(bytes: &'a [u8], s: &re_mp4::Sample, name: &str) -> Result<&'a [u8]> {
    let end = s.offset.checked_add(s.size);
    end.and_then(|end| bytes.get(s.offset as usize..end as usize))
        .ok_or_else(|| {
            MediaError::malformed(
                name,
                format!(
                    "sample {} (bytes {}..+{}) lies outside the file ({} bytes): the file is truncated",
                    s.id,
                    s.offset,
                    s.size,
                    bytes.len()
                ),
            )
        })
}

fn kind_name(kind: Option<TrackKind>) -> &'static str {
    match kind {
        Some(TrackKind::Video) => "video",
        Some(TrackKind::Audio) => "audio",
        Some(TrackKind::Subtitle) => "subtitle",
        None => "unknown",
    }
}

fn seconds(units: u64, timescale: u64) -> f64 {
    if timescale == 0 {
        0.0
    } else {
        units as f64 / timescale as f64
    }
}

/// Frame rate from the median sample duration.
fn track_fps(track: &Track) -> Option<f64> {
    let mut durations: Vec<u64> = track
        .samples
        .iter()
        .map(|s| s.duration)
        .filter(|&d| d > 0)
        .collect();
    if durations.is_empty() || track.timescale == 0 {
        return None;
    }
    durations.sort_unstable();
    Some(track.timescale as f64 / durations[durations.len() / 2] as f64)
}

fn track_duration_s(track: &Track) -> f64 {
    seconds(track.duration, track.timescale)
}

/// Describes the streams of `path` without decoding them.
pub fn probe(path: &Path) -> Result<MediaInfo> {
    let bytes = read_file(path)?;
    probe_bytes(&bytes, &path.display().to_string())
}

/// [`probe`] over bytes in memory; `name` labels errors.
pub fn probe_bytes(bytes: &[u8], name: &str) -> Result<MediaInfo> {
    let mp4 = parse(bytes, name)?;
    let mut streams = Vec::new();
    let mut duration_s: f64 = 0.0;
    for (index, track) in mp4.tracks().values().enumerate() {
        let stsd = &track.trak(&mp4).mdia.minf.stbl.stsd.contents;
        let codec = track
            .codec_string(&mp4)
            .unwrap_or_else(|| "unknown".to_string());
        let edited = edit_window(&mp4, track);
        let dur = edited.map_or_else(
            || track_duration_s(track),
            |(_, d)| d.unwrap_or(track_duration_s(track)),
        );
        duration_s = duration_s.max(dur);
        let total: u64 = track.samples.iter().map(|s| s.size).sum();
        let mut info = StreamInfo {
            index,
            kind: kind_name(track.kind).to_string(),
            codec,
            duration_s: dur,
            samples: track.samples.len(),
            bitrate_bps: if dur > 0.0 {
                (total as f64 * 8.0 / dur) as u64
            } else {
                0
            },
            width: None,
            height: None,
            fps: None,
            sample_rate: None,
            channels: None,
        };
        match stsd {
            StsdBoxContent::Mp4a(a) => {
                info.sample_rate = Some(u32::from(a.samplerate.value()));
                info.channels = Some(a.channelcount);
                if let Some(esds) = &a.esds {
                    info.codec =
                        format!("mp4a.40.{}", esds.es_desc.dec_config.dec_specific.profile);
                }
            }
            _ if track.kind == Some(TrackKind::Video) => {
                info.width = Some(u32::from(track.width));
                info.height = Some(u32::from(track.height));
                info.fps = track_fps(track);
            }
            _ => {}
        }
        streams.push(info);
    }
    let top = top_level_order(bytes);
    Ok(MediaInfo {
        path: name.to_string(),
        size_bytes: bytes.len() as u64,
        brand: String::from_utf8_lossy(&mp4.ftyp.major_brand.value)
            .trim()
            .to_string(),
        fast_start: matches!(
            (top.iter().position(|k| k == b"moov"), top.iter().position(|k| k == b"mdat")),
            (Some(m), Some(d)) if m < d
        ),
        duration_s,
        streams,
    })
}

/// The kinds of the top-level boxes, in file order (stops at the first malformed header).
fn top_level_order(bytes: &[u8]) -> Vec<[u8; 4]> {
    let mut out = Vec::new();
    let mut pos: u64 = 0;
    while let Some(h) = bytes.get(pos as usize..pos as usize + 8) {
        let size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        out.push([h[4], h[5], h[6], h[7]]);
        let size = match size {
            0 => break,
            1 => match bytes.get(pos as usize + 8..pos as usize + 16) {
                Some(l) => u64::from_be_bytes(l.try_into().unwrap_or_default()),
                None => break,
            },
            s => s,
        };
        if size < 8 {
            break;
        }
        pos = pos.saturating_add(size);
    }
    out
}

/// The first edit of a track: (media start in seconds, segment length in seconds if given).
fn edit_window(mp4: &Mp4, track: &Track) -> Option<(f64, Option<f64>)> {
    let elst = track.trak(mp4).edts.as_ref()?.elst.as_ref()?;
    let movie_ts = u64::from(mp4.moov.mvhd.timescale);
    // Skip an initial empty edit (media_time == -1) which only delays the track.
    let entry = elst
        .entries
        .iter()
        .find(|e| e.media_time != u64::MAX && e.media_time != u32::MAX as u64)?;
    let start = seconds(entry.media_time, track.timescale);
    let length = (entry.segment_duration > 0).then(|| seconds(entry.segment_duration, movie_ts));
    Some((start, length))
}

/// Reads and decodes `path`.
pub fn read_mp4(path: &Path) -> Result<Clip> {
    let bytes = read_file(path)?;
    decode_mp4(&bytes, &path.display().to_string())
}

/// [`read_mp4`] over bytes in memory; `name` labels errors.
pub fn decode_mp4(bytes: &[u8], name: &str) -> Result<Clip> {
    decode_mp4_within(bytes, name, MAX_DECODED_BYTES)
}

/// [`decode_mp4`] that refuses a clip whose decoded pictures (I420), or whose sound (f32),
/// would take more than `max_bytes` each; both are counted as decoded, whatever the
/// container states.
pub fn decode_mp4_within(bytes: &[u8], name: &str, max_bytes: usize) -> Result<Clip> {
    let mp4 = parse(bytes, name)?;
    let video_track = video_track(&mp4, name)?;
    let video = decode_video(&mp4, video_track, bytes, name, Budget::Refuse(max_bytes))?;
    let audio = match track_of_kind(&mp4, TrackKind::Audio) {
        Some(t) => Some(decode_audio(&mp4, t, bytes, name, max_bytes)?),
        None => None,
    };
    Ok(Clip { video, audio })
}

/// The first pictures of `bytes`' video track whose I420 frames fit in `max_bytes` (at
/// least one must), without the audio: for checks that need a few seconds of a file of any
/// length (the watermark). The budget counts the pictures as decoded, whatever size the
/// container states.
pub fn decode_mp4_video_prefix(bytes: &[u8], name: &str, max_bytes: usize) -> Result<VideoFrames> {
    let mp4 = parse(bytes, name)?;
    let video_track = video_track(&mp4, name)?;
    decode_video(&mp4, video_track, bytes, name, Budget::Truncate(max_bytes))
}

/// The file's first track of `kind`.
fn track_of_kind(mp4: &Mp4, kind: TrackKind) -> Option<&Track> {
    mp4.tracks().values().find(|t| t.kind == Some(kind))
}

/// The file's video track, or an error naming the file.
fn video_track<'a>(mp4: &'a Mp4, name: &str) -> Result<&'a Track> {
    track_of_kind(mp4, TrackKind::Video)
        .ok_or_else(|| MediaError::malformed(name, "no video track"))
}

/// What [`decode_video`] does with pictures past a byte budget.
#[derive(Clone, Copy)]
enum Budget {
    /// The clip is refused.
    Refuse(usize),
    /// Decoding stops; the pictures so far are the clip.
    Truncate(usize),
}

fn decode_video(
    mp4: &Mp4,
    track: &Track,
    bytes: &[u8],
    name: &str,
    budget: Budget,
) -> Result<VideoFrames> {
    let avcc = match &track.trak(mp4).mdia.minf.stbl.stsd.contents {
        StsdBoxContent::Avc1(avc1) => &avc1.avcc.contents,
        _ => {
            return Err(MediaError::Unsupported {
                path: name.to_string(),
                what: format!(
                    "video codec {} (kino reads H.264)",
                    track.codec_string(mp4).unwrap_or_else(|| "unknown".into())
                ),
            })
        }
    };
    let config = AvcConfig {
        nal_length_size: usize::from(avcc.length_size_minus_one & 3) + 1,
        sps: avcc
            .sequence_parameter_sets
            .iter()
            .map(|n| n.bytes.clone())
            .collect(),
        pps: avcc
            .picture_parameter_sets
            .iter()
            .map(|n| n.bytes.clone())
            .collect(),
    };
    if track.samples.is_empty() {
        return Err(MediaError::malformed(name, "the video track has no frames"));
    }
    let (w, h) = (u32::from(track.width), u32::from(track.height));
    let frame_len = PixelFormat::Yuv420p.frame_len(w.max(2), h.max(2));
    let too_long = |frames: usize, w: u32, h: u32| {
        MediaError::invalid(
            "input clip",
            format!(
                "{name}: {frames} frames of {w}x{h} is too long to decode in memory; trim it first"
            ),
        )
    };
    let max_bytes = match budget {
        Budget::Refuse(max) => {
            // The container's stated size first (cheap); the decoder counts the real one.
            if frame_len.saturating_mul(track.samples.len()) > max {
                return Err(too_long(track.samples.len(), w, h));
            }
            max
        }
        Budget::Truncate(max) => max,
    };
    let mut decoder = H264Decoder::with_budget(max_bytes)?;
    let header = config.annex_b_header();
    for (i, s) in track.samples.iter().enumerate() {
        if decoder.truncated() {
            break;
        }
        let raw = sample_bytes(bytes, s, name)?;
        let mut au = h264::length_prefixed_to_annex_b(raw, config.nal_length_size)
            .map_err(|e| MediaError::malformed(name, format!("video sample {i}: {e}")))?;
        if i == 0 {
            au.splice(0..0, header.iter().copied());
        }
        decoder.push(&au, &format!("{name} video sample {i}"))?;
    }
    let (frames, truncated) = decoder.finish()?;
    let Some((fw, fh, _)) = frames.first() else {
        if truncated {
            return Err(MediaError::invalid(
                "input clip",
                format!("{name}: one picture is larger than the {max_bytes}-byte decoding budget"),
            ));
        }
        return Err(MediaError::malformed(name, "no picture could be decoded"));
    };
    let (fw, fh) = (*fw, *fh);
    if truncated && matches!(budget, Budget::Refuse(_)) {
        return Err(too_long(track.samples.len(), fw, fh));
    }
    let fps = track_fps(track)
        .map(Rational::approximate)
        .transpose()?
        .unwrap_or(Rational { num: 24, den: 1 });
    // One buffer, each decoded picture freed once copied: about the budget at the peak.
    let mut data = Vec::with_capacity(frames.iter().map(|f| f.2.len()).sum());
    for (i, (w, h, picture)) in frames.into_iter().enumerate() {
        if (w, h) != (fw, fh) {
            return Err(MediaError::Unsupported {
                path: name.to_string(),
                what: format!("size change mid-stream ({fw}x{fh} to {w}x{h} at frame {i})"),
            });
        }
        data.extend_from_slice(&picture);
    }
    VideoFrames::from_data(fw, fh, fps, PixelFormat::Yuv420p, data)
}

fn decode_audio(
    mp4: &Mp4,
    track: &Track,
    bytes: &[u8],
    name: &str,
    max_bytes: usize,
) -> Result<AudioBuffer> {
    let mp4a = match &track.trak(mp4).mdia.minf.stbl.stsd.contents {
        StsdBoxContent::Mp4a(a) => a,
        _ => {
            return Err(MediaError::Unsupported {
                path: name.to_string(),
                what: format!(
                    "audio codec {} (kino reads AAC)",
                    track.codec_string(mp4).unwrap_or_else(|| "unknown".into())
                ),
            })
        }
    };
    let esds = mp4a
        .esds
        .as_ref()
        .ok_or_else(|| MediaError::malformed(name, "AAC track without an esds descriptor"))?;
    let dsi = &esds.es_desc.dec_config.dec_specific;
    let asc = aac::audio_specific_config(dsi.profile, dsi.freq_index, dsi.chan_conf);
    let mut raws = Vec::with_capacity(track.samples.len());
    for s in &track.samples {
        raws.push(sample_bytes(bytes, s, name)?);
    }
    let mut audio =
        aac::decode_within(&asc, raws.into_iter(), &format!("{name} audio"), max_bytes)?;
    if let Some((start_s, length_s)) = edit_window(mp4, track) {
        let rate = f64::from(audio.sample_rate());
        let start = (start_s * rate).round() as usize;
        let end = match length_s {
            Some(l) => start + (l * rate).round() as usize,
            None => audio.frames(),
        };
        audio = audio.slice_frames(start, end);
    }
    Ok(audio)
}
