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
    /// Parse adversarial and realistic 32 000-character prompts; report parse times.
    Prompt,
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
        BenchCommand::Prompt => {
            prompt();
            Ok(())
        }
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

/// Parse times of 32 000-character prompts (best of 7 and worst), realistic and adversarial.
fn prompt() {
    let para = "Shot 1 (0:00-0:02): Scene: A young girl releases a lantern by a riverside at dusk, no people. \
Camera: Slow push-in, 50mm depth-of-field, hand-held feel. Motion: Hair gently moves; lantern rises at 0:01. \
Audio: Crickets in the background, soft water splash at 0:01.5, wind chime. Style: Soft lighting, warm tones, \
no grain, subtle vignette. Dialogue: MAYA: \"We made it.\" (at 00:01) 日本語 🎬 [cut] ";
    let mut big = String::new();
    while big.chars().count() + para.chars().count() <= kino_prompt::MAX_PROMPT_CHARS {
        big.push_str(para);
        big.push('\n');
    }
    let n = kino_prompt::MAX_PROMPT_CHARS;
    let cases = vec![
        ("realistic multi-shot", big),
        (
            "prose",
            "A forest in autumn, golden light, rustling leaves. ".repeat(n / 52),
        ),
        ("colons", ":".repeat(n)),
        ("a:", "a:".repeat(n / 2)),
        ("Scene:", "Scene: ".repeat(n / 7)),
        ("cuts", "[cut]x".repeat(n / 6)),
        ("quotes", "\"".repeat(n)),
        ("0:", "0:".repeat(n / 2)),
        ("no", "no ".repeat(n / 3)),
        ("Shot headers", "Shot 1:\n".repeat(n / 8)),
        ("16:9", "16:9 ".repeat(n / 5)),
        ("cjk", "日".repeat(n)),
        (
            "global audio x shots",
            "Audio: a, b, c, d, e, f\nShot 1: x\n".repeat(n / 36),
        ),
    ];
    for (name, s) in cases {
        let mut times = Vec::new();
        let mut ok = false;
        for _ in 0..7 {
            let t = Instant::now();
            ok = kino_prompt::parse(&s).is_ok();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<24} {:>6} chars  first {first:>7.3} ms  median {:>7.3} ms  max {:>7.3} ms  ok={ok}",
            s.chars().count(),
            times[3],
            times[6]
        );
    }
}
