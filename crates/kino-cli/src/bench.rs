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
    /// Time the kino-tiny twin DiT (random weights: speed only): forward passes for a clip
    /// of the given length, and training steps (forward + backward) with --train.
    Dit {
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
        #[arg(long, default_value_t = 128)]
        size: usize,
        /// Batch (2 = one guided sampling step).
        #[arg(long, default_value_t = 2)]
        batch: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long)]
        train: bool,
        /// With --train: leave the C allocator's defaults instead of the settings `kino
        /// train` uses (to measure what they gain; see alloc.rs).
        #[arg(long, requires = "train")]
        allocator_defaults: bool,
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// The procedural world's speed: per-stage time of one clip on one thread, then a
    /// dataset written to disk (clips/s, all cores unless --threads).
    World {
        /// Clips in the dataset.
        #[arg(long, default_value_t = 500)]
        count: usize,
        /// Where to write it (default: a temporary folder, removed afterwards).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Worker threads (0 = all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate a clip end to end (model load, text, DiT steps, VAE decode, vocoder, MP4)
    /// and report wall time per stage and peak memory.
    Generate {
        #[arg(
            long,
            default_value = "A red ball falls onto a wooden floor at dusk and bounces twice. Audio: a thud on each bounce."
        )]
        prompt: String,
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
        #[arg(long, default_value_t = 12)]
        steps: usize,
        /// Model folder (default: the shipped kino-tiny).
        #[arg(long)]
        model: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Time Wan transformer denoising steps with random weights of a released model's real
    /// shape (speed and memory only): each step is the conditional and the negative-prompt
    /// pass plus the UniPC update, as `kino generate` runs them.
    Wan {
        /// Which model's shape: 1.3b (Wan2.1-T2V-1.3B), 5b (Wan2.2-TI2V-5B), 14b (Wan2.1-T2V-14B
        /// and each A14B expert).
        #[arg(long, default_value = "1.3b")]
        preset: String,
        /// Video size WxH (pixels).
        #[arg(long, default_value = "256x256")]
        size: String,
        /// Video frames (4k + 1).
        #[arg(long, default_value_t = 17)]
        frames: usize,
        /// Denoising steps to time.
        #[arg(long, default_value_t = 2)]
        steps: usize,
        /// Compute dtype: f32, bf16 or f16 (default: f32 on the CPU, bf16 on a GPU).
        #[arg(long)]
        dtype: Option<String>,
        /// Attention query rows per chunk (bounds the score matrix's memory).
        #[arg(long, default_value_t = kino_models::wan_transformer::DEFAULT_ATTENTION_CHUNK)]
        attention_chunk: usize,
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Time the Wan VAE decoder (random weights of the released VAE's shape) on latents for
    /// a video of the given size, untiled or tiled (256-pixel tiles every 192), and report
    /// peak memory.
    WanVae {
        /// 2.1 (z 16, 8x) or 2.2 (z 48, 16x).
        #[arg(long, default_value = "2.1")]
        preset: String,
        #[arg(long, default_value = "1280x720")]
        size: String,
        /// Video frames (4k + 1).
        #[arg(long, default_value_t = 5)]
        frames: usize,
        /// Decode tile by tile.
        #[arg(long)]
        tiling: bool,
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
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
        BenchCommand::Prompt => {
            prompt();
            Ok(())
        }
        BenchCommand::Dit {
            seconds,
            size,
            batch,
            repeats,
            train,
            allocator_defaults,
            device,
        } => {
            if train && !allocator_defaults {
                crate::alloc::keep_freed_memory();
            }
            dit(seconds, size, batch, repeats, train, &device)
        }
        BenchCommand::World {
            count,
            out,
            threads,
            json,
        } => world(count, out, threads, json),
        BenchCommand::Generate {
            prompt,
            seconds,
            steps,
            model,
            json,
            device,
        } => generate(&prompt, seconds, steps, model, json, &device),
        BenchCommand::WanVae {
            preset,
            size,
            frames,
            tiling,
            device,
            json,
        } => wan_vae(&preset, &size, frames, tiling, &device, json),
        BenchCommand::Wan {
            preset,
            size,
            frames,
            steps,
            dtype,
            attention_chunk,
            device,
            json,
        } => wan(WanBench {
            preset: &preset,
            size: &size,
            frames,
            steps,
            dtype: dtype.as_deref(),
            attention_chunk,
            device: &device,
            json,
        }),
    }
}

/// Random weights of whatever shape a network asks for (N(0, 0.02), in the network's dtype).
struct RandomWeights;

impl candle_nn::var_builder::SimpleBackend for RandomWeights {
    fn get(
        &self,
        s: candle_core::Shape,
        _name: &str,
        _h: candle_nn::Init,
        dtype: candle_core::DType,
        dev: &candle_core::Device,
    ) -> candle_core::Result<candle_core::Tensor> {
        candle_core::Tensor::randn(0f32, 0.02, s, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: candle_core::DType,
        _dev: &candle_core::Device,
    ) -> candle_core::Result<candle_core::Tensor> {
        candle_core::bail!("random weights: '{name}' has no known shape")
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        true
    }
}

struct WanBench<'a> {
    preset: &'a str,
    size: &'a str,
    frames: usize,
    steps: usize,
    dtype: Option<&'a str>,
    attention_chunk: usize,
    device: &'a str,
    json: bool,
}

fn wan(b: WanBench) -> Result<()> {
    use candle_core::{DType, Tensor};
    use kino_engine::sampler::{FlowSchedule, Solver, SolverState};
    use kino_models::wan_transformer::{WanTransformer, WanTransformerConfig};

    let cfg = match b.preset {
        "1.3b" => WanTransformerConfig::wan2_1_t2v_1_3b(),
        "5b" => WanTransformerConfig::wan2_2_ti2v_5b(),
        "14b" => WanTransformerConfig::wan2_1_t2v_14b(),
        other => anyhow::bail!("--preset {other}: expected 1.3b, 5b or 14b"),
    };
    let device = crate::device::parse(b.device)?;
    let dtype = match b.dtype {
        Some("f32") => DType::F32,
        Some("bf16") => DType::BF16,
        Some("f16") => DType::F16,
        Some(other) => anyhow::bail!("--dtype {other}: expected f32, bf16 or f16"),
        None => kino_engine::wan::compute_dtype(&device),
    };
    let (w, h) = crate::generate::parse_size(b.size)?;
    anyhow::ensure!(
        b.frames % 4 == 1,
        "--frames {}: Wan takes 4k + 1 frames",
        b.frames
    );
    anyhow::ensure!((1..=100).contains(&b.steps), "--steps: 1..=100");
    // Latents: the 2.1 VAE (z 16, 8x spatial) or the 2.2 VAE (z 48, 16x spatial).
    let (z, sf) = if cfg.in_channels == 48 {
        (48, 16)
    } else {
        (16, 8)
    };
    anyhow::ensure!(
        (w as usize).is_multiple_of(sf * 2) && (h as usize).is_multiple_of(sf * 2),
        "--size {}: width and height must be multiples of {}",
        b.size,
        sf * 2
    );
    let latent = (
        1,
        z,
        (b.frames - 1) / 4 + 1,
        h as usize / sf,
        w as usize / sf,
    );
    let tokens = latent.2 * (latent.3 / 2) * (latent.4 / 2);

    let t0 = Instant::now();
    let vb = candle_nn::VarBuilder::from_backend(Box::new(RandomWeights), dtype, device.clone());
    let model = WanTransformer::new(&cfg, vb)?.with_attention_chunk(b.attention_chunk);
    device.synchronize()?;
    let load_s = t0.elapsed().as_secs_f64();

    // On a GPU, sample this process's GPU memory (nvidia-smi) while the steps run.
    let gpu_peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = (!device.is_cpu()).then(|| {
        let (peak, stop) = (gpu_peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(mb) = gpu_memory_mb() {
                    peak.fetch_max(mb, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    });
    let text = Tensor::randn(0f32, 1.0, (1, 512, cfg.text_dim), &device)?.to_dtype(dtype)?;
    let negative = Tensor::randn(0f32, 1.0, (1, 512, cfg.text_dim), &device)?.to_dtype(dtype)?;
    let mut x = Tensor::randn(0f32, 1.0, latent, &device)?;
    let schedule = FlowSchedule::diffusers(Solver::UniPc, b.steps, 3.0);
    let mut solver = SolverState::new(Solver::UniPc, &schedule);
    let mut step_s = Vec::new();
    for &t in schedule.timesteps() {
        let start = Instant::now();
        let ts = Tensor::full(t as f32, 1, &device)?;
        let input = x.to_dtype(dtype)?;
        let cond = model.forward(&input, &ts, &text)?.to_dtype(DType::F32)?;
        let uncond = model
            .forward(&input, &ts, &negative)?
            .to_dtype(DType::F32)?;
        let v = (&uncond + ((cond - &uncond)? * 5.0)?)?;
        x = solver.step(&v, &x)?;
        device.synchronize()?;
        step_s.push(start.elapsed().as_secs_f64());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(h) = sampler {
        let _ = h.join();
    }
    let gpu_peak_mb = gpu_peak.load(std::sync::atomic::Ordering::Relaxed);
    let mean = step_s.iter().sum::<f64>() / step_s.len() as f64;
    let params: f64 = match b.preset {
        "1.3b" => 1.42,
        "5b" => 5.0,
        _ => 14.3,
    };
    if b.json {
        let report = serde_json::json!({
            "preset": b.preset, "params_billion": params, "dtype": format!("{dtype:?}"),
            "device": b.device, "size": [w, h], "frames": b.frames, "latent": [latent.0, latent.1, latent.2, latent.3, latent.4],
            "tokens": tokens, "attention_chunk": b.attention_chunk, "init_s": load_s,
            "step_s": step_s, "mean_step_s": mean, "peak_rss_bytes": peak_rss(),
            "peak_gpu_mb": (gpu_peak_mb > 0).then_some(gpu_peak_mb),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "Wan {} transformer (random weights, {dtype:?}) on {}: {w}x{h}x{} frames = {} latent tokens, CFG (2 passes per step)",
            b.preset, b.device, b.frames, tokens
        );
        println!(
            "  weights made in {load_s:.1} s; steps: {}; mean {mean:.2} s per step; peak RSS {:.0} MB",
            step_s
                .iter()
                .map(|s| format!("{s:.2} s"))
                .collect::<Vec<_>>()
                .join(", "),
            peak_rss().unwrap_or(0) as f64 / 1e6
        );
        if gpu_peak_mb > 0 {
            println!("  peak GPU memory (nvidia-smi, sampled every 100 ms): {gpu_peak_mb} MiB");
        }
    }
    Ok(())
}

fn world(count: usize, out: Option<std::path::PathBuf>, threads: usize, json: bool) -> Result<()> {
    let mut opts = kino_world::DatasetOptions {
        threads,
        ..Default::default()
    };
    // Per stage, one thread, the first 40 seeds of the dataset's clips.
    const PROBE: u64 = 40;
    let mut t = [0.0f64; 4];
    for seed in 0..PROBE {
        let spec = kino_world::SceneSpec::random(seed, &opts.random)?;
        let a = Instant::now();
        let sim = kino_world::simulate(&spec);
        let b = Instant::now();
        let video = kino_world::render(&spec, &sim)?;
        let c = Instant::now();
        let audio = kino_world::sound(&spec, &sim, spec.sample_rate)?;
        let d = Instant::now();
        let truth = kino_world::GroundTruth::new(&spec, &sim);
        let caps = kino_world::captions(&spec, &truth, seed);
        let e = Instant::now();
        std::hint::black_box((video.len(), audio.frames(), caps.len()));
        for (k, (x, y)) in [(a, b), (b, c), (c, d), (d, e)].iter().enumerate() {
            t[k] += (*y - *x).as_secs_f64() * 1000.0 / PROBE as f64;
        }
    }
    let scratch = out.is_none();
    let dir = out.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kino-bench-world-{}", std::process::id()))
    });
    opts.threads = threads;
    let summary = kino_world::write_dataset(&dir, count, 1000, &opts);
    let bytes: u64 = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    if scratch {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let summary = summary?;
    let r = &opts.random;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if json {
        let report = serde_json::json!({
            "clip": { "width": r.width, "height": r.height, "seconds": r.duration_s, "fps": r.fps },
            "one_thread_ms": { "simulate": t[0], "render": t[1], "sound": t[2], "truth_captions": t[3] },
            "dataset": {
                "clips": summary.count,
                "seconds": summary.seconds,
                "clips_per_s": summary.clips_per_s,
                "shards": summary.shards.len(),
                "bytes": bytes,
                "threads": if threads == 0 { cores } else { threads },
                "cores": cores,
            },
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "world clip {}x{}, {} s at {} fps",
            r.width, r.height, r.duration_s, r.fps
        );
        println!(
            "one thread, per clip: simulate {:.2} ms, render {:.2} ms, sound {:.2} ms, truth+captions {:.2} ms",
            t[0], t[1], t[2], t[3]
        );
        println!(
            "dataset: {} clips in {:.2} s = {:.1} clips/s ({} shards, {:.1} MB, {} threads on {} cores)",
            summary.count,
            summary.seconds,
            summary.clips_per_s,
            summary.shards.len(),
            bytes as f64 / 1e6,
            if threads == 0 { cores } else { threads },
            cores
        );
    }
    Ok(())
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn generate(
    prompt: &str,
    seconds: f64,
    steps: usize,
    model: Option<std::path::PathBuf>,
    json: bool,
    device: &str,
) -> Result<()> {
    use kino_engine::pipeline::{GenerateOptions, NoProgress};
    let started = Instant::now();
    let pipeline = crate::generate::load_pipeline(model.as_deref(), device)?;
    let load_s = started.elapsed().as_secs_f64();
    let plan = crate::plan::parse_plan(prompt)?;
    let opts = GenerateOptions {
        steps,
        seconds: Some(seconds),
        ..Default::default()
    };
    let generated = pipeline.generate(&plan, &opts, &mut NoProgress)?;
    let t = Instant::now();
    let audio = generated.clip.audio.as_ref();
    let (bytes, _) =
        kino_media::encode_mp4(&generated.clip.video, audio, &EncodeOptions::default())?;
    let mut times = generated.times.clone();
    times.stages.insert(0, ("load".into(), load_s));
    times.add("mp4", t.elapsed().as_secs_f64());
    let total = started.elapsed().as_secs_f64();
    let v = &generated.clip.video;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    if json {
        let out = serde_json::json!({
            "model": pipeline.name(), "width": v.width(), "height": v.height(), "frames": v.len(),
            "seconds": seconds, "steps": steps, "video_guidance": opts.video_guidance,
            "audio_guidance": opts.audio_guidance, "solver": format!("{:?}", opts.solver),
            "stages": times.stages, "total_s": total, "peak_rss_bytes": peak_rss(), "mp4_bytes": bytes.len(),
            "threads": threads,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {}x{} {} frames ({seconds} s), {steps} steps, guidance {}/{} ({:?}), threads {threads}",
            pipeline.name(), v.width(), v.height(), v.len(), opts.video_guidance, opts.audio_guidance, opts.solver
        );
        println!("  {}", times.to_text());
        println!(
            "  total {total:.2} s, peak RSS {:.0} MB",
            peak_rss().unwrap_or(0) as f64 / 1e6
        );
    }
    Ok(())
}

fn wan_vae(
    preset: &str,
    size: &str,
    frames: usize,
    tiling: bool,
    device: &str,
    json: bool,
) -> Result<()> {
    use candle_core::{DType, Tensor};
    use kino_models::wan_vae::{AutoencoderKLWan, WanVaeConfig, WanVaeTiling};
    let cfg = match preset {
        "2.1" => WanVaeConfig::wan2_1(),
        "2.2" => WanVaeConfig::wan2_2(),
        other => anyhow::bail!("--preset {other}: expected 2.1 or 2.2"),
    };
    let dev = crate::device::parse(device)?;
    let (w, h) = crate::generate::parse_size(size)?;
    let s = cfg.scale_factor_spatial;
    anyhow::ensure!(
        frames % 4 == 1 && (w as usize).is_multiple_of(s) && (h as usize).is_multiple_of(s),
        "--frames must be 4k + 1 and --size a multiple of {s}"
    );
    let t0 = Instant::now();
    let vb = candle_nn::VarBuilder::from_backend(Box::new(RandomWeights), DType::F32, dev.clone());
    let mut vae = AutoencoderKLWan::new(&cfg, vb)?;
    if tiling {
        vae = vae.with_tiling(WanVaeTiling::default())?;
    }
    let init_s = t0.elapsed().as_secs_f64();
    let rss_before = peak_rss().unwrap_or(0);
    let z = Tensor::randn(
        0f32,
        1.0,
        (
            1,
            cfg.z_dim,
            (frames - 1) / 4 + 1,
            h as usize / s,
            w as usize / s,
        ),
        &dev,
    )?;
    let t1 = Instant::now();
    let video = vae.decode(&z)?;
    dev.synchronize()?;
    let decode_s = t1.elapsed().as_secs_f64();
    let peak = peak_rss().unwrap_or(0);
    if json {
        let report = serde_json::json!({
            "preset": preset, "size": [w, h], "frames": frames, "tiling": tiling,
            "output": video.dims(), "init_s": init_s, "decode_s": decode_s,
            "peak_rss_bytes": peak, "peak_rss_before_decode_bytes": rss_before,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "Wan {preset} VAE decode (random weights) {w}x{h}x{frames} frames, {}: {decode_s:.1} s; \
             peak RSS {:.0} MB ({:.0} MB before decoding)",
            if tiling { "tiled 256/192" } else { "untiled" },
            peak as f64 / 1e6,
            rss_before as f64 / 1e6
        );
    }
    Ok(())
}

/// This process's GPU memory in MiB, from `nvidia-smi` (None without one).
fn gpu_memory_mb() -> Option<u64> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-compute-apps=pid,used_memory",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    let me = std::process::id().to_string();
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut parts = l.split(',').map(str::trim);
        (parts.next()? == me).then(|| parts.next()?.parse().ok())?
    })
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

fn dit(
    seconds: f64,
    size: usize,
    batch: usize,
    repeats: usize,
    train: bool,
    device: &str,
) -> Result<()> {
    use candle_core::{DType, Tensor};
    use kino_models::dit::{audio_latent_times, video_latent_times, DitConfig, DitInput, TwinDit};
    let cfg = DitConfig::kino_tiny();
    let dev = crate::device::parse(device)?;
    let map = candle_nn::VarMap::new();
    let model = TwinDit::new(
        &cfg,
        candle_nn::VarBuilder::from_varmap(&map, DType::F32, &dev),
    )?;
    // For inference, plain tensors (as loaded from safetensors): no autograd graph is kept.
    let model = if train {
        model
    } else {
        let plain = map
            .data()
            .lock()
            .expect("var map")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
            .collect();
        TwinDit::new(
            &cfg,
            candle_nn::VarBuilder::from_tensors(plain, DType::F32, &dev),
        )?
    };
    let frames = ((seconds * 24.0).round() as usize).max(1);
    let f = 1 + (frames - 1).div_ceil(4);
    let hw = size / 8;
    let ta = ((seconds * 100.0).ceil() as usize).div_ceil(4);
    let (cv, ca) = (cfg.video_latent_channels, cfg.audio_latent_channels);
    let video = Tensor::randn(0f32, 1.0, (batch, cv, f, hw, hw), &dev)?;
    let video_cond = Tensor::zeros((batch, cv + 1, f, hw, hw), DType::F32, &dev)?;
    let audio = Tensor::randn(0f32, 1.0, (batch, ca, ta), &dev)?;
    let audio_cond = Tensor::zeros((batch, ca + 1, ta), DType::F32, &dev)?;
    let t = Tensor::full(0.5f32, batch, &dev)?;
    let text = Tensor::randn(0f32, 1.0, (batch, 64, cfg.text_dim), &dev)?;
    let text_mask = Tensor::ones((batch, 64), DType::F32, &dev)?;
    let (vt, at) = (
        video_latent_times(f, 4, 24.0),
        audio_latent_times(ta, 4, 160, 16_000),
    );
    let params: usize = map.all_vars().iter().map(|v| v.elem_count()).sum();
    let mut times = Vec::new();
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let (v, a) = model.forward(&DitInput {
            video: &video,
            video_cond: &video_cond,
            video_times: &vt,
            audio: &audio,
            audio_cond: &audio_cond,
            audio_times: &at,
            video_t: &t,
            audio_t: &t,
            text: &text,
            text_mask: &text_mask,
        })?;
        if train {
            let loss = (v.sqr()?.mean_all()? + a.sqr()?.mean_all()?)?;
            let _grads = loss.backward()?;
            dev.synchronize()?;
        } else {
            let _ = (
                v.sum_all()?.to_scalar::<f32>()?,
                a.sum_all()?.to_scalar::<f32>()?,
            );
        }
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let tokens = f.div_ceil(cfg.temporal_patch) * (hw / cfg.patch_size.0) * (hw / cfg.patch_size.1);
    println!(
        "kino-tiny DiT ({:.1} M params): batch {batch}, {f} latent frames x {}x{} -> {tokens} video + {ta} audio tokens",
        params as f64 / 1e6, hw, hw
    );
    println!(
        "  {} median {:.3} s, min {:.3} s over {} runs; peak RSS {:.0} MB",
        if train {
            "train step (fwd+bwd)"
        } else {
            "forward"
        },
        times[times.len() / 2],
        times[0],
        times.len(),
        peak_rss().unwrap_or(0) as f64 / 1e6
    );
    Ok(())
}
