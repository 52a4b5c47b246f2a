//! Synthetic clips with known structure: a bar that moves one column per frame, full-frame
//! flashes at chosen times, and a click in the audio at exactly each flash.

#![allow(dead_code)]

use kino_media::{AudioBuffer, PixelFormat, Rational, VideoFrames};

pub struct Synthetic {
    pub video: VideoFrames,
    pub audio: AudioBuffer,
    /// Frames that flash (and times of their clicks).
    pub flash_frames: Vec<usize>,
}

pub fn synthetic(w: u32, h: u32, fps: u32, frames: usize, rate: u32, channels: u16) -> Synthetic {
    let fps_r = Rational::integer(fps).unwrap();
    let mut video = VideoFrames::new(w, h, fps_r, PixelFormat::Rgb8).unwrap();
    let flash_frames: Vec<usize> = (fps as usize / 2..frames.saturating_sub(2))
        .step_by(fps as usize / 2 + 3)
        .collect();
    for i in 0..frames {
        let flash = flash_frames.contains(&i);
        let mut img = vec![if flash { 235u8 } else { 16u8 }; (w * h * 3) as usize];
        let bar = (i * 4) % w as usize;
        for y in 0..h as usize {
            for x in bar..(bar + 8).min(w as usize) {
                let p = (y * w as usize + x) * 3;
                img[p] = 200;
                img[p + 1] = 40;
                img[p + 2] = 40;
            }
        }
        video.push(&img).unwrap();
    }
    let total = (frames as f64 / fps as f64 * rate as f64).round() as usize;
    let mut mono = vec![0.0f32; total];
    for &f in &flash_frames {
        let start = (f as f64 / fps as f64 * rate as f64).round() as usize;
        // 8 ms burst of 2 kHz.
        for k in 0..(rate as usize / 125) {
            if let Some(s) = mono.get_mut(start + k) {
                *s = 0.6 * (2.0 * std::f32::consts::PI * 2000.0 * k as f32 / rate as f32).sin();
            }
        }
    }
    let samples = if channels == 1 {
        mono
    } else {
        mono.iter().flat_map(|&s| [s, s]).collect()
    };
    Synthetic {
        video,
        audio: AudioBuffer::new(rate, channels, samples).unwrap(),
        flash_frames,
    }
}

/// Frames whose mean luma is high.
pub fn bright_frames(video: &VideoFrames) -> Vec<usize> {
    (0..video.len())
        .filter(|&i| {
            let rgb = video.frame_rgb(i).unwrap();
            let mean = rgb.iter().map(|&v| v as f64).sum::<f64>() / rgb.len() as f64;
            mean > 128.0
        })
        .collect()
}

/// Onset times (seconds) of clicks: where the 2 ms energy first rises above a threshold after
/// 50 ms of quiet.
pub fn click_onsets(audio: &AudioBuffer) -> Vec<f64> {
    let mono = audio.to_mono();
    let rate = mono.sample_rate() as f64;
    let s = mono.samples();
    let win = (rate * 0.002) as usize;
    let mut out = Vec::new();
    let mut quiet_until = 0usize;
    let mut i = 0;
    while i + win < s.len() {
        let energy = s[i..i + win].iter().map(|v| v * v).sum::<f32>() / win as f32;
        if energy > 0.01 && i >= quiet_until {
            // refine to the first sample above 0.1
            let first = (i..i + win).find(|&k| s[k].abs() > 0.1).unwrap_or(i);
            out.push(first as f64 / rate);
            quiet_until = i + (rate * 0.05) as usize;
            i += (rate * 0.05) as usize;
            continue;
        }
        i += win / 2;
    }
    out
}

pub fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
