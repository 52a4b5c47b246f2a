//! The autoencoders of a kino-family model on their own: a clip through the video VAE, and
//! its sound through the audio VAE and the vocoder, with no DiT in between.
//!
//! What comes back is the best a DiT sampling in these latent spaces could give: the
//! *decoder ceiling* of the model. `kino eval --bar autoencoder` judges it on held-out world
//! clips, so a training run can tell whether a bar is out of reach because of the
//! autoencoders or because of the DiT. Works on full model folders and on the partial ones
//! of `kino train --stop-before-dit` (no text encoder, no DiT).

use candle_core::{DType, Device, Tensor};
use kino_media::{AudioBuffer, Clip, PixelFormat, VideoFrames};
use kino_models::audio_vae::{AudioVae, AudioVaeConfig};
use kino_models::folder::ModelFolder;
use kino_models::mel::MelConfig;
use kino_models::video_vae::{VideoVae, VideoVaeConfig};
use kino_models::vocoder::{Vocoder, VocoderConfig};

use crate::pipeline::{EngineError, Result};

/// The video VAE, audio VAE and vocoder of a model folder.
pub struct Autoencoders {
    pub video_vae: VideoVae,
    pub audio_vae: AudioVae,
    pub vocoder: Vocoder,
    pub mel: MelConfig,
    device: Device,
}

impl Autoencoders {
    /// Loads the three networks (f32) from `folder`.
    pub fn load(folder: &ModelFolder, device: &Device) -> Result<Self> {
        let vcfg: VideoVaeConfig = folder.config("video_vae")?;
        let video_vae = VideoVae::new(&vcfg, folder.var_builder("video_vae", DType::F32, device)?)?;
        let acfg: AudioVaeConfig = folder.config("audio_vae")?;
        let audio_vae = AudioVae::new(acfg, folder.var_builder("audio_vae", DType::F32, device)?)?;
        let vocfg: VocoderConfig = folder.config("vocoder")?;
        let mel = vocfg.mel.clone();
        let vocoder = Vocoder::new(vocfg, folder.var_builder("vocoder", DType::F32, device)?)?;
        Ok(Self {
            video_vae,
            audio_vae,
            vocoder,
            mel,
            device: device.clone(),
        })
    }

    /// `clip` encoded to latents (their means) and decoded again: the same frame count, size
    /// and rate; mono sound at the model's sample rate, as long as the clip's (silence when
    /// it has none). The frame size must be a multiple of the VAE's spatial factor.
    pub fn roundtrip(&self, clip: &Clip) -> Result<Clip> {
        let video = self.roundtrip_video(&clip.video)?;
        let seconds = clip.video.len() as f64 / clip.video.fps().as_f64();
        let rate = self.mel.sample_rate;
        let n = (seconds * rate as f64).round() as usize;
        let mut samples = match &clip.audio {
            Some(a) => a.to_mono().resample(rate)?.samples().to_vec(),
            None => Vec::new(),
        };
        samples.resize(n, 0.0);
        let audio = AudioBuffer::new(rate, 1, self.roundtrip_audio(&samples)?)?;
        Ok(Clip {
            video,
            audio: Some(audio),
        })
    }

    fn roundtrip_video(&self, src: &VideoFrames) -> Result<VideoFrames> {
        let (w, h, t) = (src.width() as usize, src.height() as usize, src.len());
        if t == 0 {
            return Err(EngineError::Invalid("clip has no frames".into()));
        }
        let f = self.video_vae.config().spatial_factor();
        if w % f != 0 || h % f != 0 {
            return Err(EngineError::Invalid(format!(
                "{w}x{h}: the video VAE needs sizes that are multiples of {f}"
            )));
        }
        // The VAE takes 1 + 4k frames: repeat the last frame up to that, cut after decoding.
        let tf = self.video_vae.config().temporal_factor();
        let padded = 1 + (t - 1).div_ceil(tf) * tf;
        let plane = w * h;
        let mut data = vec![0f32; 3 * padded * plane];
        for i in 0..padded {
            let rgb = src
                .frame_rgb(i.min(t - 1))
                .ok_or_else(|| EngineError::Invalid(format!("frame {i} unreadable")))?;
            for p in 0..plane {
                for c in 0..3 {
                    data[(c * padded + i) * plane + p] = rgb[p * 3 + c] as f32 / 127.5 - 1.0;
                }
            }
        }
        let x = Tensor::from_vec(data, (1, 3, padded, h, w), &self.device)?;
        let z = self.video_vae.encode(&x)?.mean;
        let y = self.video_vae.decode_chunked(&z, 4, |_, _| {})?;
        let y = y.narrow(2, 0, t)?;
        let y = ((y.clamp(-1f32, 1f32)? + 1.0)? * 127.5)?.round()?;
        let bytes = y
            .squeeze(0)?
            .permute((1, 2, 3, 0))?
            .contiguous()?
            .to_dtype(DType::U8)?
            .flatten_all()?
            .to_vec1::<u8>()?;
        Ok(VideoFrames::from_data(
            w as u32,
            h as u32,
            src.fps(),
            PixelFormat::Rgb8,
            bytes,
        )?)
    }

    fn roundtrip_audio(&self, samples: &[f32]) -> Result<Vec<f32>> {
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        let log_mel = self
            .mel
            .log_mel_tensor(samples, &self.device)?
            .unsqueeze(0)?;
        let frames = log_mel.dim(2)?;
        let (mean, _) = self
            .audio_vae
            .encode(&self.audio_vae.pad_log_mel(&log_mel)?)?;
        let back = self.audio_vae.decode(&mean)?;
        let back = back.narrow(2, 0, frames.min(back.dim(2)?))?;
        Ok(self.vocoder.waveform(&back, samples.len())?)
    }
}
