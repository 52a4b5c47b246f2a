//! The kino model family (`kino-twin-dit`): all-MiniLM text encoder, causal video VAE, log-mel
//! audio VAE + vocoder, and the twin-stream DiT, sampled jointly by flow matching.
//!
//! Conditioning by clean latents: a first frame (image-to-video, extend, a shot continuing the
//! previous one) is encoded, written into the first latent frame of the sample at every step
//! and flagged in the DiT's conditioning channels, the way the model was trained.

use candle_core::{DType, Device, Tensor};
use kino_media::{AudioBuffer, PixelFormat, Rational, VideoFrames};
use kino_models::audio_vae::AudioVae;
use kino_models::dit::{audio_latent_times, video_latent_times, DitConfig, DitInput, TwinDit};
use kino_models::folder::ModelFolder;
use kino_models::mel::MelConfig;
use kino_models::text_encoder::TextEncoder;
use kino_models::video_vae::VideoVae;
use kino_models::vocoder::Vocoder;
use kino_prompt::ShotPlan;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::noise;
use crate::pipeline::{
    ensure_finite, EngineError, GenerateOptions, Generated, Pipeline, Progress, Result, StageTimes,
};
use crate::sampler::{FlowSchedule, SolverState};

/// The family name in `kino-model.json`.
pub const FAMILY: &str = "kino-twin-dit";

/// The DiT component's config: the network plus what sampling needs to know about latents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwinConfig {
    pub dit: DitConfig,
    /// Text tokens per prompt (special tokens included).
    pub text_max_tokens: usize,
    /// Per-channel statistics of VAE latents over the training data; the DiT works on
    /// `(z - mean) / std`.
    pub video_latent_mean: Vec<f32>,
    pub video_latent_std: Vec<f32>,
    pub audio_latent_mean: Vec<f32>,
    pub audio_latent_std: Vec<f32>,
}

/// Loaded networks of a kino-family model.
pub struct TwinModel {
    pub name: String,
    pub cfg: TwinConfig,
    /// Shared with the content policy when both loaded it on the CPU
    /// ([`TextEncoder::load_shared`]).
    pub text: std::sync::Arc<TextEncoder>,
    pub video_vae: VideoVae,
    pub audio_vae: AudioVae,
    pub vocoder: Vocoder,
    pub mel: MelConfig,
    pub dit: TwinDit,
    /// Frame rate and default size the model was trained at.
    pub fps: u32,
    pub size: (u32, u32),
    pub device: Device,
}

/// One shot to sample.
struct ShotJob {
    text: String,
    negative: String,
    /// Frames to produce (the first is the conditioning frame when `first_frame` is set).
    frames: usize,
    seconds: f64,
    /// A clean first frame (normalised latent, (1, C, 1, h, w)).
    first_frame: Option<Tensor>,
    /// Remix: normalised source latents and the strength to noise them to.
    init: Option<(Tensor, Tensor, f64)>,
}

impl TwinModel {
    /// Loads every component of a checked model folder.
    pub fn load(folder: &ModelFolder, device: &Device) -> Result<Self> {
        let m = folder.manifest();
        if m.family != FAMILY {
            return Err(EngineError::Invalid(format!(
                "{}: model family '{}' is not {FAMILY}",
                folder.dir().display(),
                m.family
            )));
        }
        let cfg: TwinConfig = folder.config("dit")?;
        let text_weights = folder.weights_path("text_encoder")?;
        let tokenizer = folder.file("tokenizer.json");
        let text = TextEncoder::load_shared(&text_weights, &tokenizer, device)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let crate::autoencode::Autoencoders {
            video_vae,
            audio_vae,
            vocoder,
            mel,
            ..
        } = crate::autoencode::Autoencoders::load(folder, device)?;
        let dit = TwinDit::new(&cfg.dit, folder.var_builder("dit", DType::F32, device)?)?;
        let size = m.media.sizes.first().copied().unwrap_or((128, 128));
        Ok(Self {
            name: m.name.clone(),
            cfg,
            text,
            video_vae,
            audio_vae,
            vocoder,
            mel,
            dit,
            fps: m.media.fps,
            size,
            device: device.clone(),
        })
    }

    fn spatial_multiple(&self) -> u32 {
        (self.video_vae.config().spatial_factor()
            * self.cfg.dit.patch_size.0.max(self.cfg.dit.patch_size.1)) as u32
    }

    pub(crate) fn temporal_factor(&self) -> usize {
        self.video_vae.config().temporal_factor()
    }

    pub(crate) fn audio_frames_per_latent(&self) -> usize {
        self.audio_vae.config().time_downsample()
    }

    /// Normalises (1, C, ...) latents channel-wise with the stored statistics.
    fn normalise(&self, z: &Tensor, video: bool, inverse: bool) -> Result<Tensor> {
        let (mean, std) = if video {
            (&self.cfg.video_latent_mean, &self.cfg.video_latent_std)
        } else {
            (&self.cfg.audio_latent_mean, &self.cfg.audio_latent_std)
        };
        let c = mean.len();
        let mut shape = vec![1, c];
        shape.extend(std::iter::repeat_n(1, z.rank() - 2));
        let mean = Tensor::from_vec(mean.clone(), shape.clone(), &self.device)?;
        let std = Tensor::from_vec(std.clone(), shape, &self.device)?;
        Ok(if inverse {
            z.broadcast_mul(&std)?.broadcast_add(&mean)?
        } else {
            z.broadcast_sub(&mean)?.broadcast_div(&std)?
        })
    }

    /// Encodes RGB8 frames (resized to `w x h`) into normalised latents (1, C, F, h/8, w/8).
    /// The frame count must be 1 + 4k.
    pub fn encode_frames(
        &self,
        frames: &[Vec<u8>],
        src_w: u32,
        src_h: u32,
        w: u32,
        h: u32,
    ) -> Result<Tensor> {
        let t = frames.len();
        let mut data = vec![0f32; 3 * t * (w * h) as usize];
        let plane = (w * h) as usize;
        for (i, f) in frames.iter().enumerate() {
            let img = image::RgbImage::from_raw(src_w, src_h, f.clone())
                .ok_or_else(|| EngineError::Invalid("frame buffer has the wrong size".into()))?;
            let img = if (src_w, src_h) != (w, h) {
                image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
            } else {
                img
            };
            for (p, px) in img.pixels().enumerate() {
                for c in 0..3 {
                    data[(c * t + i) * plane + p] = px[c] as f32 / 127.5 - 1.0;
                }
            }
        }
        let x = Tensor::from_vec(data, (1, 3, t, h as usize, w as usize), &self.device)?;
        let z = self.video_vae.encode(&x)?.mean;
        self.normalise(&z, true, false)
    }

    /// Encodes 16 kHz mono samples into normalised audio latents (1, Ca, T).
    pub fn encode_audio(&self, samples: &[f32]) -> Result<Tensor> {
        let log_mel = self
            .mel
            .log_mel_tensor(samples, &self.device)?
            .unsqueeze(0)?;
        let padded = self.audio_vae.pad_log_mel(&log_mel)?;
        let (mean, _) = self.audio_vae.encode(&padded)?;
        self.normalise(&mean, false, false)
    }

    fn text_pair(&self, text: &str, negative: &str) -> Result<(Tensor, Tensor)> {
        let e = self
            .text
            .encode(&[text, negative], self.cfg.text_max_tokens)
            .map_err(|e| EngineError::Invalid(format!("text encoder: {e}")))?;
        Ok((e.tokens, e.mask))
    }

    /// Samples one shot; returns normalised latents (1, C, F, h, w) and (1, Ca, T).
    #[allow(clippy::too_many_arguments)]
    fn sample_shot(
        &self,
        job: &ShotJob,
        (w, h): (u32, u32),
        fps: u32,
        opts: &GenerateOptions,
        seed: u64,
        progress: &mut dyn Progress,
        times: &mut StageTimes,
    ) -> Result<(Tensor, Tensor)> {
        opts.check()?;
        let dev = &self.device;
        let t0 = Instant::now();
        let (text, text_mask) = self.text_pair(&job.text, &job.negative)?;
        times.add("text", t0.elapsed().as_secs_f64());

        let tf = self.temporal_factor();
        let latent_frames = 1 + (job.frames.max(1) - 1).div_ceil(tf);
        let vcfg = self.video_vae.config();
        let (cv, hl, wl) = (
            vcfg.z_channels,
            h as usize / vcfg.spatial_factor(),
            w as usize / vcfg.spatial_factor(),
        );
        let samples = (job.seconds * self.mel.sample_rate as f64).round() as usize;
        let mel_frames = self.mel.frames_for(samples.max(1));
        let audio_latents = mel_frames.div_ceil(self.audio_frames_per_latent());
        let ca = self.cfg.dit.audio_latent_channels;

        let video_times = video_latent_times(latent_frames, tf, fps as f64);
        let audio_times = audio_latent_times(
            audio_latents,
            self.audio_frames_per_latent(),
            self.mel.hop,
            self.mel.sample_rate,
        );

        // Conditioning channels: [clean latent, mask].
        let mut video_cond = Tensor::zeros((1, cv + 1, latent_frames, hl, wl), DType::F32, dev)?;
        if let Some(first) = &job.first_frame {
            let ones = Tensor::ones((1, 1, 1, hl, wl), DType::F32, dev)?;
            let head = Tensor::cat(&[first, &ones], 1)?;
            let rest = video_cond.narrow(2, 1, latent_frames - 1)?;
            video_cond = Tensor::cat(&[&head, &rest], 2)?;
        }
        let audio_cond = Tensor::zeros((1, ca + 1, audio_latents), DType::F32, dev)?;

        let schedule = match &job.init {
            Some((_, _, strength)) => FlowSchedule::from_max(opts.steps, opts.shift, *strength),
            None => FlowSchedule::new(opts.steps, opts.shift),
        };
        let mut xv = noise::randn(seed, 1, (1, cv, latent_frames, hl, wl), dev)?;
        let mut xa = noise::randn(seed, 2, (1, ca, audio_latents), dev)?;
        if let Some((zv, za, _)) = &job.init {
            let s0 = schedule.sigmas()[0];
            let zv = fit_frames(zv, latent_frames)?;
            let za = fit_len(za, audio_latents)?;
            xv = ((zv * (1.0 - s0))? + (xv * s0)?)?;
            xa = ((za * (1.0 - s0))? + (xa * s0)?)?;
        }
        let mut video_solver = SolverState::new(opts.solver, &schedule);
        let mut audio_solver = SolverState::new(opts.solver, &schedule);
        let guided = opts.video_guidance != 1.0 || opts.audio_guidance != 1.0;
        let batch = if guided { 2 } else { 1 };
        let (text, text_mask) = if guided {
            (text, text_mask)
        } else {
            (text.narrow(0, 0, 1)?, text_mask.narrow(0, 0, 1)?)
        };
        let video_cond_b = video_cond.repeat((batch, 1, 1, 1, 1))?;
        let audio_cond_b = audio_cond.repeat((batch, 1, 1))?;

        let t1 = Instant::now();
        progress.stage("denoise", schedule.steps() as u64);
        let mut step = 0;
        while !video_solver.finished() {
            if progress.cancelled() {
                return Err(EngineError::Cancelled);
            }
            if let Some(first) = &job.first_frame {
                xv = replace_first_frame(&xv, first)?;
            }
            let sigma = video_solver.sigma();
            let t = Tensor::from_vec(vec![sigma as f32; batch], batch, dev)?;
            let xv_b = xv.repeat((batch, 1, 1, 1, 1))?;
            let xa_b = xa.repeat((batch, 1, 1))?;
            let (v, a) = self.dit.forward(&DitInput {
                video: &xv_b,
                video_cond: &video_cond_b,
                video_times: &video_times,
                audio: &xa_b,
                audio_cond: &audio_cond_b,
                audio_times: &audio_times,
                video_t: &t,
                audio_t: &t,
                text: &text,
                text_mask: &text_mask,
            })?;
            let (v, a) = if guided {
                (
                    cfg_combine(&v, opts.video_guidance)?,
                    cfg_combine(&a, opts.audio_guidance)?,
                )
            } else {
                (v, a)
            };
            xv = video_solver.step(&v, &xv)?;
            xa = audio_solver.step(&a, &xa)?;
            step += 1;
            progress.set(step);
        }
        if let Some(first) = &job.first_frame {
            xv = replace_first_frame(&xv, first)?;
        }
        ensure_finite(&xv, "video latents")?;
        ensure_finite(&xa, "audio latents")?;
        times.add("denoise", t1.elapsed().as_secs_f64());
        Ok((xv, xa))
    }

    /// Decodes normalised video latents to `frames` RGB8 frames.
    fn decode_video(
        &self,
        z: &Tensor,
        frames: usize,
        (w, h): (u32, u32),
        fps: u32,
        progress: &mut dyn Progress,
    ) -> Result<VideoFrames> {
        let z = self.normalise(z, true, true)?;
        let n = z.dim(2)?;
        progress.stage("decode video", n as u64);
        let x = self
            .video_vae
            .decode_chunked(&z, 4, |done, _| progress.set(done as u64))?;
        let x = x.narrow(2, 0, frames.min(x.dim(2)?))?;
        // (1, 3, T, H, W) in [-1, 1] -> T x H x W x 3 bytes.
        let x = ((x.clamp(-1f32, 1f32)? + 1.0)? * 127.5)?.round()?;
        let x = x
            .squeeze(0)?
            .permute((1, 2, 3, 0))?
            .contiguous()?
            .to_dtype(DType::U8)?;
        let data = x.flatten_all()?.to_vec1::<u8>()?;
        Ok(VideoFrames::from_data(
            w,
            h,
            Rational::integer(fps)?,
            PixelFormat::Rgb8,
            data,
        )?)
    }

    /// Decodes normalised audio latents to `samples` mono samples at the model's rate.
    fn decode_audio(
        &self,
        z: &Tensor,
        samples: usize,
        progress: &mut dyn Progress,
        times: &mut StageTimes,
    ) -> Result<Vec<f32>> {
        let t0 = Instant::now();
        progress.stage("decode audio", 1);
        let z = self.normalise(z, false, true)?;
        let log_mel = self.audio_vae.decode(&z)?;
        let frames = self.mel.frames_for(samples.max(1)).min(log_mel.dim(2)?);
        let log_mel = log_mel.narrow(2, 0, frames)?;
        times.add("audio vae", t0.elapsed().as_secs_f64());
        let t1 = Instant::now();
        let wave = self.vocoder.waveform(&log_mel, samples)?;
        times.add("vocoder", t1.elapsed().as_secs_f64());
        progress.set(1);
        Ok(wave)
    }

    fn output_size(&self, opts: &GenerateOptions) -> Result<(u32, u32)> {
        let (w, h) = opts.size.unwrap_or(self.size);
        let m = self.spatial_multiple();
        if w == 0 || h == 0 || w % m != 0 || h % m != 0 {
            return Err(EngineError::Invalid(format!(
                "size {w}x{h}: {} makes sizes that are positive multiples of {m} (it was trained \
                 at {}x{})",
                self.name, self.size.0, self.size.1
            )));
        }
        if w > 1024 || h > 1024 {
            return Err(EngineError::Invalid(format!(
                "size {w}x{h}: {} makes at most 1024x1024",
                self.name
            )));
        }
        Ok((w, h))
    }

    fn first_frame_latent(
        &self,
        rgb: &[u8],
        src_w: u32,
        src_h: u32,
        size: (u32, u32),
    ) -> Result<Tensor> {
        self.encode_frames(&[rgb.to_vec()], src_w, src_h, size.0, size.1)
    }

    /// Runs shots in order and assembles the clip.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        plan: &ShotPlan,
        opts: &GenerateOptions,
        start_frame: Option<(Vec<u8>, u32, u32)>,
        init: Option<(&kino_media::Clip, f64)>,
        seconds: f64,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        let size = self.output_size(opts)?;
        let fps = opts.fps.unwrap_or(self.fps);
        if !(8..=60).contains(&fps) {
            return Err(EngineError::Invalid(format!("fps {fps}: must be 8..=60")));
        }
        if !(0.1..=60.0).contains(&seconds) {
            return Err(EngineError::Invalid(format!(
                "duration {seconds} s: must be 0.1..=60 s"
            )));
        }
        let mut times = StageTimes::default();
        let seed = opts.seed;
        let total_frames = ((seconds * fps as f64).round() as usize).max(1);
        let sr = self.mel.sample_rate;
        let total_samples = (seconds * sr as f64).round() as usize;

        // Shots in the plan, rescaled to `seconds`.
        let plan_len = plan.duration_s().max(1e-6);
        let scale = seconds / plan_len;
        let mut video: Option<VideoFrames> = None;
        let mut audio: Vec<f32> = Vec::with_capacity(total_samples);
        let mut carry: Option<(Vec<u8>, u32, u32)> = start_frame;
        let mut frames_done = 0usize;
        let shots = plan.shots.len().max(1);
        for (i, shot) in plan.shots.iter().enumerate() {
            let end = if i + 1 == shots {
                total_frames
            } else {
                ((shot.end_s * scale) * fps as f64).round() as usize
            };
            let own = end.saturating_sub(frames_done).max(1);
            // A shot that describes its own scene is a hard cut; others continue the last frame.
            let continues = i > 0 && shot.content.scene.is_empty();
            let first = if i == 0 || continues {
                carry.take()
            } else {
                None
            };
            let frames = own + usize::from(first.is_some());
            let shot_seconds = frames as f64 / fps as f64;
            let t0 = Instant::now();
            let first_latent = match &first {
                Some((rgb, w, h)) => Some(self.first_frame_latent(rgb, *w, *h, size)?),
                None => None,
            };
            times.add("conditioning", t0.elapsed().as_secs_f64());
            let init_latents = match init {
                Some((clip, strength)) => {
                    Some(self.source_latents(clip, frames_done, frames, size, fps, strength)?)
                }
                None => None,
            };
            let job = ShotJob {
                text: shot.conditioning_text(plan),
                negative: negative_text(shot, plan),
                frames,
                seconds: shot_seconds,
                first_frame: first_latent,
                init: init_latents,
            };
            let shot_seed = seed.wrapping_add(i as u64 * 1_000_003);
            let (zv, za) =
                self.sample_shot(&job, size, fps, opts, shot_seed, progress, &mut times)?;
            let t1 = Instant::now();
            let frames_out = self.decode_video(&zv, frames, size, fps, progress)?;
            times.add("video vae", t1.elapsed().as_secs_f64());
            let samples = (frames as f64 / fps as f64 * sr as f64).round() as usize;
            let mut wave = self.decode_audio(&za, samples, progress, &mut times)?;
            // Drop the conditioning frame (it repeats the previous shot's last frame) and the
            // sound under it.
            let skip = usize::from(first.is_some());
            let frames_out = frames_out.slice(skip, frames_out.len());
            let skip_samples = (skip as f64 / fps as f64 * sr as f64).round() as usize;
            wave.drain(..skip_samples.min(wave.len()));
            carry = frames_out
                .frame(frames_out.len().saturating_sub(1))
                .map(|f| (f.to_vec(), size.0, size.1));
            frames_done += frames_out.len();
            audio.extend_from_slice(&wave);
            match &mut video {
                None => video = Some(frames_out),
                Some(v) => v.append(&frames_out)?,
            }
        }
        let video = video.ok_or_else(|| EngineError::Invalid("the plan has no shots".into()))?;
        audio.resize(
            ((video.len() as f64 / fps as f64) * sr as f64).round() as usize,
            0.0,
        );
        let audio = AudioBuffer::new(sr, 1, audio)?;
        Ok(Generated {
            clip: kino_media::Clip {
                video,
                audio: Some(audio),
            },
            seed,
            times,
        })
    }

    /// Normalised latents of the part of `clip` that a shot covers, resampled to the
    /// output size and frame rate.
    fn source_latents(
        &self,
        clip: &kino_media::Clip,
        first_frame: usize,
        frames: usize,
        size: (u32, u32),
        fps: u32,
        strength: f64,
    ) -> Result<(Tensor, Tensor, f64)> {
        let tf = self.temporal_factor();
        let n = 1 + (frames.max(1) - 1).div_ceil(tf) * tf;
        let src = &clip.video;
        let src_fps = src.fps().as_f64();
        let mut picked = Vec::with_capacity(n);
        for k in 0..n {
            let t = (first_frame + k) as f64 / fps as f64;
            let idx = ((t * src_fps).round() as usize).min(src.len().saturating_sub(1));
            let rgb = src
                .frame_rgb(idx)
                .ok_or_else(|| EngineError::Invalid("source clip has no frames".into()))?;
            picked.push(rgb);
        }
        let zv = self.encode_frames(&picked, src.width(), src.height(), size.0, size.1)?;
        let sr = self.mel.sample_rate;
        let start = first_frame as f64 / fps as f64;
        let len = frames as f64 / fps as f64;
        let samples = match &clip.audio {
            Some(a) => {
                let mono = a.to_mono().resample(sr)?;
                let s0 = ((start * sr as f64) as usize).min(mono.frames());
                let s1 = (((start + len) * sr as f64) as usize).min(mono.frames());
                let mut v = mono.samples()[s0..s1].to_vec();
                v.resize((len * sr as f64).round() as usize, 0.0);
                v
            }
            None => vec![0.0; (len * sr as f64).round() as usize],
        };
        let za = self.encode_audio(&samples)?;
        Ok((zv, za, strength))
    }
}

/// The negative prompt of a shot: its "no ..." items, comma separated ("" when none).
fn negative_text(shot: &kino_prompt::Shot, plan: &ShotPlan) -> String {
    shot.effective(plan)
        .negatives
        .iter()
        .map(|n| n.text.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `uncond + g (cond - uncond)` for a batch laid out [cond, uncond].
fn cfg_combine(x: &Tensor, g: f64) -> Result<Tensor> {
    let c = x.narrow(0, 0, 1)?;
    let u = x.narrow(0, 1, 1)?;
    Ok((&u + ((c - &u)? * g)?)?)
}

fn replace_first_frame(x: &Tensor, first: &Tensor) -> Result<Tensor> {
    let f = x.dim(2)?;
    if f == 1 {
        return Ok(first.clone());
    }
    Ok(Tensor::cat(&[first, &x.narrow(2, 1, f - 1)?], 2)?)
}

/// Pads (repeating the last frame) or cuts latents to `n` frames along dim 2.
fn fit_frames(z: &Tensor, n: usize) -> Result<Tensor> {
    let f = z.dim(2)?;
    if f >= n {
        return Ok(z.narrow(2, 0, n)?);
    }
    let last = z.narrow(2, f - 1, 1)?.repeat((1, 1, n - f, 1, 1))?;
    Ok(Tensor::cat(&[z, &last], 2)?)
}

fn fit_len(z: &Tensor, n: usize) -> Result<Tensor> {
    let t = z.dim(2)?;
    if t >= n {
        return Ok(z.narrow(2, 0, n)?);
    }
    let last = z.narrow(2, t - 1, 1)?.repeat((1, 1, n - t))?;
    Ok(Tensor::cat(&[z, &last], 2)?)
}

/// [`Pipeline`] over a loaded [`TwinModel`].
pub struct TwinPipeline {
    pub model: TwinModel,
}

impl TwinPipeline {
    pub fn new(model: TwinModel) -> Self {
        Self { model }
    }

    fn seconds(plan: &ShotPlan, opts: &GenerateOptions) -> f64 {
        opts.seconds.unwrap_or(plan.duration_s())
    }

    /// kino's models condition on a first frame only.
    fn refuse_last_frame(&self, opts: &GenerateOptions) -> Result<()> {
        if opts.last_frame.is_none() {
            return Ok(());
        }
        Err(EngineError::Invalid(format!(
            "{}: this model takes no last frame (first-and-last-frame video needs a Wan model \
             that has it: Wan 2.2 I2V-A14B or Wan 2.1 FLF2V)",
            self.model.name
        )))
    }

    fn first_frame(opts: &GenerateOptions) -> Option<(Vec<u8>, u32, u32)> {
        opts.first_frame
            .as_ref()
            .map(|img| (img.as_raw().clone(), img.width(), img.height()))
    }
}

impl Pipeline for TwinPipeline {
    fn name(&self) -> &str {
        &self.model.name
    }

    fn supports_first_frame(&self) -> bool {
        true
    }

    fn generate(
        &self,
        plan: &ShotPlan,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        self.refuse_last_frame(opts)?;
        self.model.run(
            plan,
            opts,
            Self::first_frame(opts),
            None,
            Self::seconds(plan, opts),
            progress,
        )
    }

    fn remix(
        &self,
        source: &kino_media::Clip,
        plan: &ShotPlan,
        strength: f64,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        self.refuse_last_frame(opts)?;
        if !(0.0..=1.0).contains(&strength) || strength == 0.0 {
            return Err(EngineError::Invalid(format!(
                "remix strength {strength}: must be in (0, 1]"
            )));
        }
        let seconds = opts.seconds.unwrap_or(source.video.duration_s());
        self.model.run(
            plan,
            opts,
            None,
            Some((source, strength)),
            seconds,
            progress,
        )
    }

    fn extend(
        &self,
        source: &kino_media::Clip,
        plan: &ShotPlan,
        seconds: f64,
        opts: &GenerateOptions,
        progress: &mut dyn Progress,
    ) -> Result<Generated> {
        self.refuse_last_frame(opts)?;
        let last = source
            .video
            .frame_rgb(source.video.len().saturating_sub(1))
            .ok_or_else(|| EngineError::Invalid("the clip to extend has no frames".into()))?;
        let start = Some((last, source.video.width(), source.video.height()));
        let mut opts = opts.clone();
        opts.first_frame = None;
        let size = self.model.output_size(&opts)?;
        let fps = opts.fps.unwrap_or(self.model.fps);
        let tail = self
            .model
            .run(plan, &opts, start, None, seconds, progress)?;
        // Source (resampled to the output size/rate when needed) + continuation.
        let src = conform(source, size, fps, self.model.mel.sample_rate)?;
        let mut video = src.video;
        video.append(&tail.clip.video)?;
        let mut audio = src.audio.expect("conform always sets audio");
        audio.append(tail.clip.audio.as_ref().expect("run always sets audio"))?;
        Ok(Generated {
            clip: kino_media::Clip {
                video,
                audio: Some(audio),
            },
            seed: tail.seed,
            times: tail.times,
        })
    }
}

/// A clip at `size` (RGB8), `fps` and mono `sample_rate`.
fn conform(
    clip: &kino_media::Clip,
    size: (u32, u32),
    fps: u32,
    sample_rate: u32,
) -> Result<kino_media::Clip> {
    let src = &clip.video;
    let n = ((src.duration_s() * fps as f64).round() as usize).max(1);
    let mut out = VideoFrames::new(size.0, size.1, Rational::integer(fps)?, PixelFormat::Rgb8)?;
    for k in 0..n {
        let idx = ((k as f64 / fps as f64 * src.fps().as_f64()).round() as usize)
            .min(src.len().saturating_sub(1));
        let rgb = src
            .frame_rgb(idx)
            .ok_or_else(|| EngineError::Invalid("clip has no frames".into()))?;
        let img = image::RgbImage::from_raw(src.width(), src.height(), rgb)
            .ok_or_else(|| EngineError::Invalid("frame buffer has the wrong size".into()))?;
        if (src.width(), src.height()) == size {
            out.push(img.as_raw())?;
        } else {
            out.push(
                image::imageops::resize(
                    &img,
                    size.0,
                    size.1,
                    image::imageops::FilterType::Triangle,
                )
                .as_raw(),
            )?;
        }
    }
    let samples = (n as f64 / fps as f64 * sample_rate as f64).round() as usize;
    let audio = match &clip.audio {
        Some(a) => {
            let mut m = a.to_mono().resample(sample_rate)?;
            m.set_frames(samples);
            m
        }
        None => AudioBuffer::silence(sample_rate, 1, samples as f64 / sample_rate as f64)?,
    };
    Ok(kino_media::Clip {
        video: out,
        audio: Some(audio),
    })
}
