//! WAV in and out (hound): 16/24/32-bit integer or 32-bit float PCM.

use crate::audio::AudioBuffer;
use crate::error::{MediaError, Result};
use std::path::Path;

/// Reads a WAV file of 1 or 2 channels into f32 PCM.
pub fn read_wav(path: &Path) -> Result<AudioBuffer> {
    let name = path.display().to_string();
    let reader = hound::WavReader::open(path).map_err(|e| match e {
        hound::Error::IoError(io) => MediaError::io(path, io),
        other => MediaError::malformed(&name, format!("invalid WAV: {other}")),
    })?;
    let spec = reader.spec();
    let bad = |e: hound::Error| MediaError::malformed(&name, format!("invalid WAV data: {e}"));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<std::result::Result<_, _>>()
            .map_err(bad)?,
        hound::SampleFormat::Int => {
            if !(1..=32).contains(&spec.bits_per_sample) {
                return Err(MediaError::malformed(
                    &name,
                    format!("{} bits per sample", spec.bits_per_sample),
                ));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(bad)?
        }
    };
    // Drop a trailing partial frame of a truncated file rather than refusing it.
    let ch = spec.channels.max(1) as usize;
    let whole = samples.len() / ch * ch;
    let mut samples = samples;
    samples.truncate(whole);
    AudioBuffer::new(spec.sample_rate, spec.channels, samples)
        .map_err(|e| MediaError::malformed(&name, e.to_string()))
}

/// Writes 16-bit PCM WAV (the most widely read form).
pub fn write_wav(path: &Path, audio: &AudioBuffer) -> Result<()> {
    let spec = hound::WavSpec {
        channels: audio.channels(),
        sample_rate: audio.sample_rate(),
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let err = |e: hound::Error| MediaError::codec("WAV", "writing", e);
        let mut w = hound::WavWriter::new(&mut bytes, spec).map_err(err)?;
        for &s in audio.samples() {
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
                .map_err(err)?;
        }
        w.finalize().map_err(err)?;
    }
    crate::mp4_write::write_atomically(path, &bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip_and_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let samples: Vec<f32> = (0..2000).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
        let a = AudioBuffer::new(22_050, 2, samples.clone()).unwrap();
        write_wav(&path, &a).unwrap();
        let b = read_wav(&path).unwrap();
        assert_eq!(
            (b.sample_rate(), b.channels(), b.frames()),
            (22_050, 2, 1000)
        );
        for (x, y) in samples.iter().zip(b.samples()) {
            assert!((x - y).abs() < 1e-4);
        }
        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"RIFFxxxxWAVEnope").unwrap();
        let err = read_wav(&junk).unwrap_err().to_string();
        assert!(err.contains("junk.wav"), "{err}");
        let missing = read_wav(&dir.path().join("missing.wav"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing.wav"), "{missing}");
    }
}
