//! `kino bench ...`: reproducible speed measurements. Numbers in the docs come from here.

use anyhow::Result;
use clap::Subcommand;
use kino_media::{AudioBuffer, EncodeOptions, PixelFormat, Rational, VideoFrames};
use std::time::Instant;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Encode a synthetic clip (moving gradient + stereo tones) to MP4 and report the speed.
    Media {
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1280)]
        width: u32,
        #[arg(long, default_value_t = 720)]
        height: u32,
        #[arg(long, default_value_t = 24)]
        fps: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Media {
            seconds,
            width,
            height,
            fps,
            json,
        } => media(seconds, width, height, fps, json),
    }
}

fn media(seconds: f64, width: u32, height: u32, fps: u32, json: bool) -> Result<()> {
    let frames = (seconds * f64::from(fps)).round() as usize;
    let mut video = VideoFrames::new(width, height, Rational::integer(fps)?, PixelFormat::Rgb8)?;
    let mut img = vec![0u8; (width * height * 3) as usize];
    for i in 0..frames {
        // A moving diagonal gradient with a bouncing square: real motion for the encoder.
        for y in 0..height as usize {
            for x in 0..width as usize {
                let p = (y * width as usize + x) * 3;
                img[p] = ((x + i * 3) % 256) as u8;
                img[p + 1] = ((y + i) % 256) as u8;
                img[p + 2] = ((x + y) / 4 % 256) as u8;
            }
        }
        let sq = (i * 7) % (width as usize - 64);
        for y in 100..164.min(height as usize) {
            for x in sq..sq + 64 {
                let p = (y * width as usize + x) * 3;
                img[p..p + 3].copy_from_slice(&[250, 250, 250]);
            }
        }
        video.push(&img)?;
    }
    let rate = 48_000u32;
    let n = (seconds * f64::from(rate)) as usize;
    let mut pcm = Vec::with_capacity(n * 2);
    for k in 0..n {
        let t = k as f32 / rate as f32;
        pcm.push(0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin());
        pcm.push(0.3 * (2.0 * std::f32::consts::PI * 660.0 * t).sin());
    }
    let audio = AudioBuffer::new(rate, 2, pcm)?;
    let start = Instant::now();
    let (bytes, _) = kino_media::encode_mp4(&video, Some(&audio), &EncodeOptions::default())?;
    let encode_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let clip = kino_media::decode_mp4(&bytes, "bench")?;
    let decode_s = start.elapsed().as_secs_f64();
    anyhow::ensure!(clip.video.len() == frames, "decoded frame count differs");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = serde_json::json!({
        "benchmark": "media",
        "clip": format!("{seconds} s {width}x{height}@{fps} + stereo 48 kHz"),
        "cpu_threads": threads,
        "encode_s": encode_s,
        "encode_realtime_factor": seconds / encode_s,
        "decode_s": decode_s,
        "decode_realtime_factor": seconds / decode_s,
        "mp4_bytes": bytes.len(),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "media: {seconds} s of {width}x{height}@{fps} + stereo 48 kHz on {threads} threads\n  encode {encode_s:.2} s ({:.2}x real time)\n  decode {decode_s:.2} s ({:.2}x real time)\n  {} bytes",
            seconds / encode_s,
            seconds / decode_s,
            bytes.len()
        );
    }
    Ok(())
}
