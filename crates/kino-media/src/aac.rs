//! AAC-LC through the Fraunhofer FDK library: encoding PCM to ADTS frames (what the muxer takes)
//! and decoding raw MP4 AAC samples back to PCM.

use crate::audio::AudioBuffer;
use crate::error::{MediaError, Result};
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

/// Sample rates encoded as they are; other rates are resampled to [`FALLBACK_RATE`].
pub const NATIVE_RATES: [u32; 8] = [
    16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 8_000, 11_025,
];
/// Where audio at a rate AAC does not carry is resampled to.
pub const FALLBACK_RATE: u32 = 48_000;
/// Samples per channel in one AAC-LC frame.
pub const FRAME_LEN: usize = 1024;

/// Encoded AAC: ADTS frames, the encoder's start delay and the samples per channel it encodes.
pub struct EncodedAudio {
    pub frames: Vec<Vec<u8>>,
    /// Leading samples per channel the decoder outputs before the first real sample.
    pub priming: usize,
    /// Real samples per channel (without priming and end padding).
    pub samples: usize,
    pub sample_rate: u32,
    pub channels: u16,
}

/// The rate `rate` is encoded at.
pub fn encoding_rate(rate: u32) -> u32 {
    if NATIVE_RATES.contains(&rate) {
        rate
    } else {
        FALLBACK_RATE
    }
}

/// Encodes `audio` (already at an AAC rate) as AAC-LC at `bitrate` bits/s.
pub fn encode(audio: &AudioBuffer, bitrate: u32) -> Result<EncodedAudio> {
    let channels = audio.channels();
    let err = |stage: &'static str, e: fdk_aac::enc::EncoderError| {
        MediaError::codec("AAC", stage, format!("{e:?}"))
    };
    let encoder = Encoder::new(EncoderParams {
        bit_rate: BitRate::Cbr(bitrate),
        sample_rate: audio.sample_rate(),
        transport: Transport::Adts,
        channels: if channels == 1 {
            ChannelMode::Mono
        } else {
            ChannelMode::Stereo
        },
        audio_object_type: AudioObjectType::Mpeg4LowComplexity,
    })
    .map_err(|e| err("encoder setup", e))?;
    let info = encoder.info().map_err(|e| err("encoder setup", e))?;
    let priming = info.nDelay as usize;
    let ch = channels as usize;
    let real = audio.frames();
    // Frames needed so the decoder's output covers priming + every real sample.
    let wanted_frames = (priming + real).div_ceil(FRAME_LEN);
    let pcm: Vec<i16> = audio
        .samples()
        .iter()
        .map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
        .collect();
    let silence = vec![0i16; FRAME_LEN * ch];
    let mut out_buf = vec![0u8; (info.maxOutBufBytes as usize).max(8192)];
    let mut frames = Vec::with_capacity(wanted_frames);
    let mut pos = 0;
    let mut guard = 0usize;
    while frames.len() < wanted_frames {
        let input: &[i16] = if pos < pcm.len() {
            &pcm[pos..(pos + FRAME_LEN * ch).min(pcm.len())]
        } else {
            &silence
        };
        let result = encoder
            .encode(input, &mut out_buf)
            .map_err(|e| err("encoding", e))?;
        pos += result.input_consumed;
        if result.output_size > 0 {
            frames.push(out_buf[..result.output_size].to_vec());
        }
        guard += 1;
        if guard > wanted_frames * 4 + 16 {
            return Err(MediaError::codec(
                "AAC",
                "encoding",
                "the encoder stopped producing frames",
            ));
        }
    }
    Ok(EncodedAudio {
        frames,
        priming,
        samples: real,
        sample_rate: audio.sample_rate(),
        channels,
    })
}

/// Builds the 2-byte AudioSpecificConfig for an AAC object type, rate index and channel layout.
pub fn audio_specific_config(object_type: u8, freq_index: u8, channel_config: u8) -> [u8; 2] {
    let v: u16 = (u16::from(object_type & 0x1f) << 11)
        | (u16::from(freq_index & 0x0f) << 7)
        | (u16::from(channel_config & 0x0f) << 3);
    v.to_be_bytes()
}

/// Most samples (all channels) one decoded AAC frame can give: 2,048 per channel (HE-AAC)
/// for up to 8 channels, twice for headroom; [`decode`] reads at most this many per frame.
const MAX_FRAME_SAMPLES: usize = 8 * 2048 * 2;

/// Decodes raw AAC access units (as stored in MP4) configured by `asc`.
pub fn decode<'a>(
    asc: &[u8],
    samples: impl Iterator<Item = &'a [u8]>,
    what: &str,
) -> Result<AudioBuffer> {
    decode_within(asc, samples, what, usize::MAX)
}

/// [`decode`] that refuses the stream once its decoded samples (f32) exceed `max_bytes`,
/// counted as decoded.
pub fn decode_within<'a>(
    asc: &[u8],
    samples: impl Iterator<Item = &'a [u8]>,
    what: &str,
    max_bytes: usize,
) -> Result<AudioBuffer> {
    let mut decoder = fdk_aac::dec::Decoder::new(fdk_aac::dec::Transport::Raw);
    decoder.config_raw(asc).map_err(|e| {
        MediaError::codec("AAC", "decoder setup", format!("{what}: {}", e.message()))
    })?;
    let mut pcm = vec![0i16; MAX_FRAME_SAMPLES];
    let mut out: Vec<f32> = Vec::new();
    let mut layout: Option<(u32, u16)> = None;
    let mut decoder_delay = 0usize;
    for (i, sample) in samples.enumerate() {
        let mut rest = sample;
        while !rest.is_empty() {
            let consumed = decoder.fill(rest).map_err(|e| {
                MediaError::codec(
                    "AAC",
                    "decoding",
                    format!("{what} sample {i}: {}", e.message()),
                )
            })?;
            rest = &rest[consumed..];
            if consumed == 0 {
                break;
            }
        }
        decoder.decode_frame(&mut pcm).map_err(|e| {
            MediaError::codec(
                "AAC",
                "decoding",
                format!("{what} sample {i}: {}", e.message()),
            )
        })?;
        let info = decoder.stream_info();
        let (rate, chans) = (
            info.sampleRate.max(0) as u32,
            info.numChannels.max(0) as u16,
        );
        match layout {
            None => {
                layout = Some((rate, chans));
                // FDK's own output delay (its PCM limiter's look-ahead), in samples per channel.
                decoder_delay = info.outputDelay as usize;
            }
            Some(l) if l != (rate, chans) => {
                return Err(MediaError::Unsupported {
                    path: what.to_string(),
                    what: format!("AAC stream that changes layout at sample {i}"),
                })
            }
            _ => {}
        }
        let n = decoder.decoded_frame_size().min(pcm.len());
        if (out.len() + n).saturating_mul(4) > max_bytes {
            return Err(MediaError::invalid(
                "input clip",
                format!(
                    "{what}: the sound is too long to decode in memory (over {max_bytes} bytes decoded at sample {i}); trim it first"
                ),
            ));
        }
        out.extend(pcm[..n].iter().map(|&s| f32::from(s) / 32768.0));
    }
    let (rate, channels) = layout.unwrap_or((48_000, 1));
    // Remove the decoder's delay so sample 0 is the stream's sample 0, keeping the length.
    let skip = (decoder_delay * channels.max(1) as usize).min(out.len());
    out.drain(..skip);
    out.extend(std::iter::repeat_n(0.0, skip));
    let audio = AudioBuffer::new(rate, channels.clamp(1, 2), Vec::new());
    match (audio, channels) {
        (Ok(_), 1 | 2) => AudioBuffer::new(rate, channels, out),
        _ => Err(MediaError::Unsupported {
            path: what.to_string(),
            what: format!("AAC layout: {channels} channels at {rate} Hz"),
        }),
    }
}
