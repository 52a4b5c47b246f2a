//! `AudioBuffer`: interleaved f32 PCM at one sample rate.

use crate::error::{MediaError, Result};

/// Highest sample rate kino accepts.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// Lowest sample rate kino accepts.
pub const MIN_SAMPLE_RATE: u32 = 8_000;

/// Interleaved 32-bit float PCM, nominally in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct AudioBuffer {
    sample_rate: u32,
    channels: u16,
    samples: Vec<f32>,
}

impl AudioBuffer {
    /// A checked buffer: 1 or 2 channels, 8-192 kHz, a whole number of frames, finite values.
    pub fn new(sample_rate: u32, channels: u16, samples: Vec<f32>) -> Result<Self> {
        if !(1..=2).contains(&channels) {
            return Err(MediaError::invalid(
                "channels",
                format!("{channels}: kino handles mono or stereo"),
            ));
        }
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
            return Err(MediaError::invalid(
                "sample rate",
                format!("{sample_rate} Hz is outside {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz"),
            ));
        }
        if !samples.len().is_multiple_of(channels as usize) {
            return Err(MediaError::invalid(
                "samples",
                format!(
                    "{} samples is not a whole number of {channels}-channel frames",
                    samples.len()
                ),
            ));
        }
        if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
            return Err(MediaError::invalid(
                "samples",
                format!("sample {i} is not a finite number"),
            ));
        }
        Ok(AudioBuffer {
            sample_rate,
            channels,
            samples,
        })
    }

    /// `seconds` of silence.
    pub fn silence(sample_rate: u32, channels: u16, seconds: f64) -> Result<Self> {
        let frames = (seconds.max(0.0) * f64::from(sample_rate)).round() as usize;
        AudioBuffer::new(sample_rate, channels, vec![0.0; frames * channels as usize])
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
    pub fn channels(&self) -> u16 {
        self.channels
    }
    /// Interleaved samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }
    /// Mutable interleaved samples.
    pub fn samples_mut(&mut self) -> &mut [f32] {
        &mut self.samples
    }
    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels as usize
    }
    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// A mono mix (the average of the channels).
    pub fn to_mono(&self) -> AudioBuffer {
        let ch = self.channels as usize;
        let samples = self
            .samples
            .chunks_exact(ch)
            .map(|f| f.iter().sum::<f32>() / ch as f32)
            .collect();
        AudioBuffer {
            samples,
            channels: 1,
            sample_rate: self.sample_rate,
        }
    }

    /// The same audio with `channels` channels (mono is duplicated, stereo is averaged).
    pub fn with_channels(&self, channels: u16) -> Result<AudioBuffer> {
        match (self.channels, channels) {
            (a, b) if a == b => Ok(self.clone()),
            (2, 1) => Ok(self.to_mono()),
            (1, 2) => Ok(AudioBuffer {
                samples: self.samples.iter().flat_map(|&s| [s, s]).collect(),
                channels: 2,
                sample_rate: self.sample_rate,
            }),
            (_, b) => Err(MediaError::invalid(
                "channels",
                format!("{b}: kino handles mono or stereo"),
            )),
        }
    }

    /// Pads with silence or cuts so the buffer holds exactly `frames` frames per channel.
    pub fn set_frames(&mut self, frames: usize) {
        self.samples.resize(frames * self.channels as usize, 0.0);
    }

    /// Frames `[start, end)` as a new buffer (clamped to what exists).
    pub fn slice_frames(&self, start: usize, end: usize) -> AudioBuffer {
        let ch = self.channels as usize;
        let end = end.min(self.frames());
        let start = start.min(end);
        AudioBuffer {
            samples: self.samples[start * ch..end * ch].to_vec(),
            ..*self
        }
    }

    /// Appends `other`, which must have the same rate and channel count.
    pub fn append(&mut self, other: &AudioBuffer) -> Result<()> {
        if (other.sample_rate, other.channels) != (self.sample_rate, self.channels) {
            return Err(MediaError::invalid(
                "audio",
                format!(
                    "cannot append {} Hz x{} to {} Hz x{}",
                    other.sample_rate, other.channels, self.sample_rate, self.channels
                ),
            ));
        }
        self.samples.extend_from_slice(&other.samples);
        Ok(())
    }

    /// This audio at another sample rate (band-limited sinc resampling, rubato).
    pub fn resample(&self, rate: u32) -> Result<AudioBuffer> {
        crate::resample::resample(self, rate)
    }
}
