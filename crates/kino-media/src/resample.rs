//! Sample-rate conversion with rubato's band-limited sinc resampler.

use crate::audio::AudioBuffer;
use crate::error::{MediaError, Result};
use rubato::{
    Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction,
};

/// `audio` at `rate` Hz; the output has `round(frames * rate / in_rate)` frames and no delay.
pub fn resample(audio: &AudioBuffer, rate: u32) -> Result<AudioBuffer> {
    if rate == audio.sample_rate() {
        return Ok(audio.clone());
    }
    // Validates the target rate.
    AudioBuffer::new(rate, audio.channels(), Vec::new())?;
    let ch = audio.channels() as usize;
    let in_frames = audio.frames();
    let ratio = f64::from(rate) / f64::from(audio.sample_rate());
    let out_frames = (in_frames as f64 * ratio).round() as usize;
    if in_frames == 0 {
        return AudioBuffer::new(rate, audio.channels(), Vec::new());
    }
    let params = || SincInterpolationParameters {
        sinc_len: 128,
        f_cutoff: 0.95,
        interpolation: SincInterpolationType::Cubic,
        oversampling_factor: 128,
        window: WindowFunction::BlackmanHarris2,
    };
    let chunk = 1024;
    let err = |e: &dyn std::fmt::Display| MediaError::codec("rubato", "resampling", e.to_string());
    let make = |channels: usize| {
        SincFixedIn::<f32>::new(ratio, 1.0, params(), chunk, channels).map_err(|e| err(&e))
    };
    let delay = measured_delay(make(1)?, ratio, chunk)?;
    let mut resampler = make(ch)?;
    let mut planar: Vec<Vec<f32>> = (0..ch)
        .map(|c| {
            audio
                .samples()
                .iter()
                .skip(c)
                .step_by(ch)
                .copied()
                .collect()
        })
        .collect();
    // Pad so that the delayed tail is flushed out as well.
    let pad = chunk + (delay as f64 / ratio).ceil() as usize + chunk;
    for p in &mut planar {
        p.resize(in_frames + pad, 0.0);
    }
    let mut out: Vec<Vec<f32>> = vec![Vec::with_capacity(out_frames + delay + chunk); ch];
    let mut pos = 0;
    while pos + chunk <= planar[0].len() && out[0].len() < out_frames + delay {
        let input: Vec<&[f32]> = planar.iter().map(|p| &p[pos..pos + chunk]).collect();
        let produced = resampler.process(&input, None).map_err(|e| err(&e))?;
        for (o, p) in out.iter_mut().zip(produced) {
            o.extend(p);
        }
        pos += chunk;
    }
    let mut samples = Vec::with_capacity(out_frames * ch);
    for i in 0..out_frames {
        for o in &out {
            samples.push(o.get(i + delay).copied().unwrap_or(0.0));
        }
    }
    AudioBuffer::new(rate, audio.channels(), samples)
}

/// The resampler's delay in output samples, measured by passing an impulse through it (the
/// reported `output_delay` differs between rubato versions and interpolator settings).
fn measured_delay(mut r: SincFixedIn<f32>, ratio: f64, chunk: usize) -> Result<usize> {
    let at = chunk / 2;
    let mut input = vec![0.0f32; chunk];
    input[at] = 1.0;
    let mut out = Vec::new();
    for _ in 0..4 {
        let produced = r
            .process(&[&input[..]], None)
            .map_err(|e| MediaError::codec("rubato", "resampling", e.to_string()))?;
        out.extend_from_slice(&produced[0]);
        input.fill(0.0);
    }
    let peak = out
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |(i, _)| i);
    Ok(peak.saturating_sub((at as f64 * ratio).round() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_length_and_timing_of_a_click() {
        let mut s = vec![0.0f32; 44_100];
        s[22_050] = 1.0;
        let a = AudioBuffer::new(44_100, 1, s).unwrap();
        let b = a.resample(48_000).unwrap();
        assert_eq!(b.frames(), 48_000);
        let peak = b
            .samples()
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.abs().total_cmp(&y.1.abs()))
            .unwrap()
            .0;
        assert!((peak as i64 - 24_000).abs() <= 2, "peak at {peak}");
    }
}
