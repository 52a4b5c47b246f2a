//! H.264 through OpenH264 (built from its bundled source): encoding frames to Annex B access
//! units, decoding Annex B back to I420, and the avcC <-> Annex B conversions MP4 needs.

use crate::error::{MediaError, Result};
use crate::frames::{PixelFormat, VideoFrames};
use openh264::decoder::{DecodeOptions, Decoder, DecoderConfig, Flush};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode, VuiConfig,
};
use openh264::formats::{YUVSlices, YUVSource};
use openh264::{OpenH264API, Timestamp};

/// How hard the video encoder compresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoQuality {
    /// Constant quantiser, 0 (best) ..= 51 (worst), like x264's CRF scale; 23 is a good default.
    Crf(u8),
    /// Average bitrate in bits per second.
    Bitrate(u32),
    /// The default: a constant quantiser chosen by frame size, [`VideoQuality::for_frame`].
    #[default]
    Auto,
}

impl VideoQuality {
    /// Frames of at most this many pixels (256x256) count as small for [`VideoQuality::Auto`].
    pub const SMALL_FRAME_PIXELS: u64 = 256 * 256;
    /// [`VideoQuality::Auto`]'s quantiser for small frames.
    pub const SMALL_FRAME_CRF: u8 = 18;
    /// [`VideoQuality::Auto`]'s quantiser for larger frames.
    pub const CRF: u8 = 23;

    /// The quality an encoder uses for `width` x `height` frames: `Auto` becomes CRF 18 for
    /// frames of up to 256x256 pixels and CRF 23 above; the others are kept. Small clips are
    /// watched scaled up, which magnifies every coding artefact, and their bitrates are tiny
    /// either way (a 128x128 world clip: 19-490 kbit/s at CRF 23, 32-970 at CRF 18); at CRF 23
    /// a flat 128x128 clip keeps too little of kino's invisible watermark for it to survive
    /// being re-encoded at a quarter of that bitrate (docs/provenance.md).
    pub fn for_frame(self, width: u32, height: u32) -> VideoQuality {
        match self {
            VideoQuality::Auto => VideoQuality::Crf(Self::auto_crf(width, height)),
            q => q,
        }
    }

    /// The quantiser `Auto` means for `width` x `height` frames.
    fn auto_crf(width: u32, height: u32) -> u8 {
        if u64::from(width) * u64::from(height) <= Self::SMALL_FRAME_PIXELS {
            Self::SMALL_FRAME_CRF
        } else {
            Self::CRF
        }
    }
}

/// One encoded access unit (Annex B, start-code prefixed) and whether it starts a GOP.
pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

/// Encodes every frame of `video` (which must have even width and height), calling
/// `on_frame(done, total)` after each frame.
pub fn encode(
    video: &VideoFrames,
    quality: VideoQuality,
    on_frame: &mut dyn FnMut(usize, usize),
) -> Result<Vec<EncodedFrame>> {
    let (w, h) = (video.width(), video.height());
    if w % 2 != 0 || h % 2 != 0 {
        return Err(MediaError::invalid(
            "frame size",
            format!("{w}x{h}: H.264 output needs an even width and height"),
        ));
    }
    let fps = video.fps().as_f64();
    let keyframe_every = (fps * 2.0).round().max(1.0) as u32;
    let base = EncoderConfig::new()
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(keyframe_every))
        .vui(VuiConfig::bt601())
        .scene_change_detect(true)
        .background_detection(false)
        .num_threads(0);
    let quantiser = |q: u8| {
        // The quantiser is pinned, so the bitrate target is set out of reach (just under
        // the 288 Mbit/s that level 5.2 allows): rate control
        // then never skips a frame (skipping stays "enabled" only because OpenH264 warns
        // on stderr otherwise; a skipped frame would still be reported as an error below).
        let q = q.min(51);
        base.rate_control_mode(RateControlMode::Quality)
            .skip_frames(true)
            .qp(QpRange::new(q, q))
            .bitrate(BitRate::from_bps(240_000_000))
    };
    let config = match quality {
        VideoQuality::Crf(q) => quantiser(q),
        VideoQuality::Auto => quantiser(VideoQuality::auto_crf(w, h)),
        VideoQuality::Bitrate(bps) => base
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bps.max(10_000)))
            .qp(QpRange::new(4, 51)),
    };
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| MediaError::codec("H.264", "encoder setup", e))?;
    let yuv_video = video.to_format(PixelFormat::Yuv420p);
    let (wu, hu) = (w as usize, h as usize);
    let (y_len, c_len) = (wu * hu, (wu / 2) * (hu / 2));
    let mut out = Vec::with_capacity(video.len());
    for (i, frame) in yuv_video.iter().enumerate() {
        let (y, rest) = frame.split_at(y_len);
        let (u, v) = rest.split_at(c_len);
        let source = YUVSlices::new((y, u, v), (wu, hu), (wu, wu / 2, wu / 2));
        let millis = (video.time_of(i) * 1000.0).round() as u64;
        let stream = encoder
            .encode_at(&source, Timestamp::from_millis(millis))
            .map_err(|e| MediaError::codec("H.264", "encoding", format!("frame {i}: {e}")))?;
        let keyframe = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
        let data = stream.to_vec();
        if data.is_empty() {
            return Err(MediaError::codec(
                "H.264",
                "encoding",
                format!("frame {i} produced no data ({:?})", stream.frame_type()),
            ));
        }
        out.push(EncodedFrame { data, keyframe });
        on_frame(i + 1, video.len());
    }
    Ok(out)
}

/// A decoded picture: `(width, height, i420)`.
pub type DecodedPicture = (u32, u32, Vec<u8>);

/// Decodes a sequence of Annex B access units (decode order) into I420 frames in display order.
///
/// The frames it keeps are bounded by a byte budget counted on the pictures actually decoded
/// (their size comes from the bitstream's SPS, which a container's stated size need not
/// match): pictures past the budget are dropped and [`H264Decoder::truncated`] says so.
pub struct H264Decoder {
    decoder: Decoder,
    out: KeptFrames,
}

/// The pictures an [`H264Decoder`] keeps, within its budget.
struct KeptFrames {
    frames: Vec<DecodedPicture>,
    budget: usize,
    bytes: usize,
    truncated: bool,
}

impl KeptFrames {
    /// Keeps `image` if it fits the budget (checked before copying it).
    fn keep(&mut self, image: &impl YUVSource) {
        let (w, h) = image.dimensions();
        let len = PixelFormat::Yuv420p.frame_len(w as u32, h as u32);
        if self.truncated || self.bytes.saturating_add(len) > self.budget {
            self.truncated = true;
            return;
        }
        self.bytes += len;
        self.frames.push(copy_i420(image));
    }
}

impl H264Decoder {
    /// A decoder that keeps every picture.
    pub fn new() -> Result<Self> {
        Self::with_budget(usize::MAX)
    }

    /// A decoder that keeps pictures while their I420 bytes stay within `budget`.
    pub fn with_budget(budget: usize) -> Result<Self> {
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| MediaError::codec("H.264", "decoder setup", e))?;
        Ok(H264Decoder {
            decoder,
            out: KeptFrames {
                frames: Vec::new(),
                budget,
                bytes: 0,
                truncated: false,
            },
        })
    }

    /// Whether a picture was dropped for the budget (every later one is too).
    pub fn truncated(&self) -> bool {
        self.out.truncated
    }

    /// Feeds one access unit; `what` names it in errors.
    pub fn push(&mut self, access_unit: &[u8], what: &str) -> Result<()> {
        let decoded = self
            .decoder
            .decode_with_options(
                access_unit,
                DecodeOptions::new().flush_after_decode(Flush::NoFlush),
            )
            .map_err(|e| MediaError::codec("H.264", "decoding", format!("{what}: {e}")))?;
        if let Some(image) = decoded {
            self.out.keep(&image);
        }
        Ok(())
    }

    /// Flushes the decoder and returns every kept frame as `(width, height, i420)`, and
    /// whether any picture (also one held back until the flush) was dropped for the budget.
    pub fn finish(mut self) -> Result<(Vec<DecodedPicture>, bool)> {
        let rest = self
            .decoder
            .flush_remaining()
            .map_err(|e| MediaError::codec("H.264", "flushing", e))?;
        for image in rest {
            self.out.keep(&image);
        }
        Ok((self.out.frames, self.out.truncated))
    }
}

/// Copies a decoded picture out of the decoder's strided buffers into tight I420.
fn copy_i420(image: &impl YUVSource) -> (u32, u32, Vec<u8>) {
    let (w, h) = image.dimensions();
    let (sy, su, sv) = image.strides();
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = Vec::with_capacity(PixelFormat::Yuv420p.frame_len(w as u32, h as u32));
    copy_plane(&mut out, image.y(), sy, w, h);
    copy_plane(&mut out, image.u(), su, cw, ch);
    copy_plane(&mut out, image.v(), sv, cw, ch);
    (w as u32, h as u32, out)
}

fn copy_plane(out: &mut Vec<u8>, plane: &[u8], stride: usize, w: usize, h: usize) {
    for row in 0..h {
        let start = row * stride;
        match plane.get(start..start + w) {
            Some(line) => out.extend_from_slice(line),
            // OpenH264 rounds odd chroma sizes down; repeat the last line rather than overrun.
            None => {
                let last = out.len().saturating_sub(w);
                let line: Vec<u8> = out[last..].to_vec();
                out.extend(line);
            }
        }
    }
}

/// The parameter sets and NAL length size of an `avcC` record.
pub struct AvcConfig {
    pub nal_length_size: usize,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
}

impl AvcConfig {
    /// The parameter sets as Annex B, to put in front of the first access unit.
    pub fn annex_b_header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in self.sps.iter().chain(&self.pps) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
        out
    }
}

/// Converts one MP4 sample (length-prefixed NAL units) to Annex B.
pub fn length_prefixed_to_annex_b(
    sample: &[u8],
    nal_length_size: usize,
) -> Result<Vec<u8>, String> {
    if !(1..=4).contains(&nal_length_size) {
        return Err(format!("NAL length size {nal_length_size} is not 1..=4"));
    }
    let mut out = Vec::with_capacity(sample.len() + 16);
    let mut pos = 0;
    while pos < sample.len() {
        let len_bytes = sample
            .get(pos..pos + nal_length_size)
            .ok_or_else(|| format!("NAL length cut off at byte {pos}"))?;
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        pos += nal_length_size;
        let nal = sample
            .get(pos..pos.saturating_add(len))
            .ok_or_else(|| format!("NAL of {len} bytes at byte {pos} runs past the sample end"))?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
        pos += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixed_conversion_checks_bounds() {
        let sample = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x41];
        let annex_b = length_prefixed_to_annex_b(&sample, 4).unwrap();
        assert_eq!(annex_b, [0, 0, 0, 1, 0x65, 0x88, 0, 0, 0, 1, 0x41]);
        assert!(length_prefixed_to_annex_b(&[0, 0, 0, 9, 1], 4).is_err());
        assert!(length_prefixed_to_annex_b(&[0, 0], 4).is_err());
        assert!(length_prefixed_to_annex_b(&sample, 0).is_err());
    }
}
