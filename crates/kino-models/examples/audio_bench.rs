//! Times the audio back end on a 4 s clip: log-mel, audio VAE encode/decode, vocoder
//! (magnitude network + Griffin-Lim).
//!
//! `cargo run --release -p kino-models --example audio_bench [-- --threads N]`
//!
//! Weights are freshly initialised (timing does not depend on their values).

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use kino_models::audio_vae::{AudioVae, AudioVaeConfig};
use kino_models::mel::MelConfig;
use kino_models::vocoder::{Vocoder, VocoderConfig};
use std::time::Instant;

fn clip(seconds: f32) -> Vec<f32> {
    let sr = 16_000.0;
    let n = (seconds * sr) as usize;
    let mut state = 12345u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let mut x: Vec<f32> = (0..n).map(|_| 0.02 * noise()).collect();
    for k in 0..8 {
        let s0 = ((0.1 + 0.47 * k as f32) * sr) as usize;
        for j in 0..(0.25 * sr) as usize {
            if s0 + j >= n {
                break;
            }
            let t = j as f32 / sr;
            let v = (-t / 0.04).exp() * (std::f32::consts::TAU * 410.0 * t).sin()
                + 0.5 * (-t / 0.01).exp() * (std::f32::consts::TAU * 1800.0 * t).sin()
                + 0.3 * (-t / 0.003).exp() * noise();
            x[s0 + j] += 0.4 * v;
        }
    }
    x
}

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.unwrap())
}

fn params(varmap: &VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--threads") {
        if let Some(n) = args.get(i + 1) {
            std::env::set_var("RAYON_NUM_THREADS", n);
        }
    }
    let dev = Device::Cpu;
    let seconds = 4.0;
    let x = clip(seconds);
    let mel = MelConfig::kino_tiny();

    let vae_map = VarMap::new();
    let vae = AudioVae::new(
        AudioVaeConfig::kino_tiny(),
        VarBuilder::from_varmap(&vae_map, DType::F32, &dev),
    )?;
    let voc_map = VarMap::new();
    let voc = Vocoder::new(
        VocoderConfig::kino_tiny(),
        VarBuilder::from_varmap(&voc_map, DType::F32, &dev),
    )?;

    let runs = 5;
    let (t_mel, lm) = best_of(runs, || mel.log_mel_tensor(&x, &dev));
    let lm = lm?.unsqueeze(0)?;
    let lm = vae.pad_log_mel(&lm)?;
    let (t_enc, enc) = best_of(runs, || vae.encode(&lm));
    let (mean, _) = enc?;
    let (t_dec, dec) = best_of(runs, || vae.decode(&mean));
    let dec = dec?;
    let (t_mag, mag) = best_of(runs, || voc.magnitude(&dec));
    let (nf, frames) = {
        let m = mag?;
        (m.dim(1)?, m.dim(2)?)
    };
    let m: Vec<f32> = voc.magnitude(&lm)?.flatten_all()?.to_vec1()?;
    let (t_gl, y) = best_of(runs, || voc.phase(&m, frames, x.len()));
    let (t_voc, _) = best_of(runs, || voc.waveform(&lm, x.len()));
    let t_backend = t_dec + t_voc;
    let _ = Tensor::zeros(1, DType::F32, &dev)?;

    println!(
        "audio_bench: {seconds} s clip, {} samples, {frames} mel frames, {nf} bins, latents {:?}",
        x.len(),
        mean.dims()
    );
    println!(
        "threads: {}",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into())
    );
    println!(
        "audio VAE: {} params ({:.2} MB f16); vocoder: {} params ({:.2} MB f16)",
        params(&vae_map),
        params(&vae_map) as f64 * 2.0 / 1e6,
        params(&voc_map),
        params(&voc_map) as f64 * 2.0 / 1e6
    );
    println!("log-mel              {:8.1} ms", t_mel * 1e3);
    println!("VAE encode           {:8.1} ms", t_enc * 1e3);
    println!("VAE decode           {:8.1} ms", t_dec * 1e3);
    println!("vocoder magnitude    {:8.1} ms", t_mag * 1e3);
    println!(
        "Griffin-Lim ({} it)   {:8.1} ms",
        voc.config().gl_iters,
        t_gl * 1e3
    );
    println!("vocoder total        {:8.1} ms", t_voc * 1e3);
    println!(
        "back end (decode + vocoder) {:6.1} ms for {seconds} s ({} samples out)",
        t_backend * 1e3,
        y.len()
    );
    Ok(())
}
