//! Audio side of kino-models: log-mel front end, STFT, Griffin-Lim vocoder, audio VAE.
//!
//! Onset detector used throughout (see `docs/models/audio.md`): the envelope is the peak
//! `|x|` of consecutive 1 ms blocks (16 samples); around each true impact time `c` the
//! onset is the start of the first block in `[c - 40 ms, c + 40 ms]` whose envelope exceeds
//! half of the largest envelope value in that window (half-maximum rising edge).

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use kino_models::audio_vae::{AudioVae, AudioVaeConfig};
use kino_models::mel::{hz_to_mel, istft, mel_to_hz, stft, MelConfig, Stft};
use kino_models::vocoder::{griffin_lim, Vocoder, VocoderConfig};

const SR: f32 = 16_000.0;

/// Tiny deterministic noise source.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// kino-world-like impacts (modal synthesis + a short broadband click) at `times` seconds,
/// over low background noise (rolling / ambience stand-in).
fn impact_clip(seconds: f32, times: &[f32], noise: f32, seed: u64) -> Vec<f32> {
    let n = (seconds * SR) as usize;
    let mut rng = Lcg(seed);
    let mut x: Vec<f32> = (0..n).map(|_| noise * rng.next()).collect();
    let materials: [&[(f32, f32, f32)]; 3] = [
        &[
            (180.0, 0.05, 1.0),
            (410.0, 0.035, 0.6),
            (930.0, 0.02, 0.4),
            (1800.0, 0.012, 0.25),
        ],
        &[
            (620.0, 0.018, 0.8),
            (1450.0, 0.012, 0.6),
            (2900.0, 0.008, 0.5),
            (4300.0, 0.005, 0.3),
        ],
        &[(523.0, 0.35, 0.7), (1392.0, 0.28, 0.5), (2615.0, 0.2, 0.4)],
    ];
    for (i, &t) in times.iter().enumerate() {
        let modes = materials[i % materials.len()];
        let s0 = (t * SR).ceil() as usize;
        let gain = 0.5 + 0.1 * (i % 3) as f32;
        for j in 0..(0.3 * SR) as usize {
            if s0 + j >= n {
                break;
            }
            let tt = j as f32 / SR;
            let mut v = 0.0;
            for &(f, d, a) in modes {
                v += a * (-tt / d).exp() * (std::f32::consts::TAU * f * tt).sin();
            }
            v += 0.4 * (-tt / 0.003).exp() * rng.next();
            x[s0 + j] += gain * v / 2.0;
        }
    }
    x
}

fn onset_errors_ms(x: &[f32], times: &[f32]) -> Vec<f32> {
    let block = 16;
    let env: Vec<f32> = x
        .chunks(block)
        .map(|c| c.iter().fold(0f32, |m, v| m.max(v.abs())))
        .collect();
    times
        .iter()
        .map(|&c| {
            let cb = (c * SR) as isize / block as isize;
            let lo = (cb - 40).max(0) as usize;
            let hi = ((cb + 40) as usize).min(env.len());
            let peak = env[lo..hi].iter().fold(0f32, |m, &v| m.max(v));
            let first = (lo..hi).find(|&j| env[j] > 0.5 * peak).unwrap();
            let onset = (first * block) as f32 / SR;
            (onset - c).abs() * 1000.0
        })
        .collect()
}

fn spectral_convergence(stft: &Stft, reference: &[f32], test: &[f32]) -> f32 {
    let a = stft.forward(reference).magnitude();
    let b = stft.forward(test).magnitude();
    let num: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f32 = a.iter().map(|x| x * x).sum();
    (num / den).sqrt()
}

/// Impact times (s); index 2 is the long-ringing metal strike, so the next one waits 0.5 s.
const CLICKS: [f32; 5] = [0.105, 0.37, 0.62, 1.13, 1.4];

#[test]
fn sine_1khz_peaks_in_the_right_mel_bin() {
    let cfg = MelConfig::kino_tiny();
    let x: Vec<f32> = (0..16000)
        .map(|i| 0.5 * (std::f32::consts::TAU * 1000.0 * i as f32 / SR).sin())
        .collect();
    let frames = cfg.frames_for(x.len());
    assert_eq!(frames, 100);
    let lm = cfg.log_mel(&x);
    assert_eq!(lm.len(), 64 * frames);
    let mean: Vec<f32> = (0..64)
        .map(|m| lm[m * frames..(m + 1) * frames].iter().sum::<f32>() / frames as f32)
        .collect();
    let peak = (0..64)
        .max_by(|&a, &b| mean[a].total_cmp(&mean[b]))
        .unwrap();
    // Centre of band m is the (m+1)-th of n_mels+2 equally spaced mel points.
    let step = hz_to_mel(8000.0) / 65.0;
    let expect = (0..64)
        .min_by(|&a, &b| {
            let ca = (mel_to_hz(step * (a + 1) as f32) - 1000.0).abs();
            let cb = (mel_to_hz(step * (b + 1) as f32) - 1000.0).abs();
            ca.total_cmp(&cb)
        })
        .unwrap();
    eprintln!("1 kHz sine: peak mel bin {peak} (expected {expect})");
    assert_eq!(peak, expect);
    assert!((20..=21).contains(&peak));
    // Bands far from 1 kHz sit near the floor.
    assert!(mean[peak] - mean[50] > 8.0);
    let t = cfg.log_mel_tensor(&x, &Device::Cpu).unwrap();
    assert_eq!(t.dims(), &[64, 100]);
}

#[test]
fn stft_istft_round_trip() {
    let x = impact_clip(1.0, &[0.2, 0.55], 0.05, 1);
    for len in [x.len(), 15999, 1000, 300, 161, 7] {
        let s = &x[..len];
        let spec = stft(s, 1024, 160);
        assert_eq!(spec.frames, len.div_ceil(160));
        let y = istft(&spec, 1024, 160, len);
        let err = s
            .iter()
            .zip(&y)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("stft/istft round trip len {len}: max err {err:.2e}");
        assert!(err < 1e-3, "len {len}: max err {err}");
    }
}

#[test]
fn empty_and_short_audio_do_not_panic() {
    let cfg = MelConfig::kino_tiny();
    assert_eq!(cfg.frames_for(0), 0);
    assert!(cfg.log_mel(&[]).is_empty());
    let t = cfg.log_mel_tensor(&[], &Device::Cpu).unwrap();
    assert_eq!(t.dims(), &[64, 0]);
    for n in [1usize, 5, 160, 161, 600] {
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).sin() * 0.2).collect();
        let lm = cfg.log_mel(&x);
        assert_eq!(lm.len(), 64 * cfg.frames_for(n));
        assert!(lm.iter().all(|v| v.is_finite()));
    }
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let voc = Vocoder::new(VocoderConfig::kino_tiny(), vb).unwrap();
    let y = voc.waveform(&t, 0).unwrap();
    assert!(y.is_empty());
    let short = cfg.log_mel_tensor(&[0.1, -0.2, 0.3], &Device::Cpu).unwrap();
    let y = voc.waveform(&short, 3).unwrap();
    assert_eq!(y.len(), 3);
    assert!(y.iter().all(|v| v.is_finite()));
    let stft = cfg.stft();
    assert!(griffin_lim(&stft, &[], 0, 10, 4, 0.99)
        .iter()
        .all(|&v| v == 0.0));
}

#[test]
fn griffin_lim_keeps_impact_onsets() {
    let x = impact_clip(1.6, &CLICKS, 0.01, 7);
    let stft = MelConfig::kino_tiny().stft();
    let spec = stft.forward(&x);
    let mag = spec.magnitude();
    let start = std::time::Instant::now();
    let y = griffin_lim(&stft, &mag, spec.frames, x.len(), 32, 0.99);
    let secs = start.elapsed().as_secs_f32();
    let sc = spectral_convergence(&stft, &x, &y);
    let ref_err = onset_errors_ms(&x, &CLICKS);
    let err = onset_errors_ms(&y, &CLICKS);
    eprintln!("GL(32, momentum 0.99) from true magnitude: spectral convergence {sc:.4}, onset errors ms {err:?} (reference detector {ref_err:?}), {secs:.2}s (debug)");
    assert!(ref_err.iter().all(|&e| e <= 1.0));
    assert!(err.iter().all(|&e| e <= 10.0), "onset errors {err:?}");
    assert!(sc < 0.15, "spectral convergence {sc}");
}

#[test]
fn pseudo_inverse_vocoder_keeps_impact_onsets() {
    let cfg = MelConfig::kino_tiny();
    let x = impact_clip(1.6, &CLICKS, 0.01, 11);
    let lm = cfg.log_mel_tensor(&x, &Device::Cpu).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let voc = Vocoder::new(VocoderConfig::kino_tiny(), vb).unwrap();
    let y = voc.waveform(&lm, x.len()).unwrap();
    assert_eq!(y.len(), x.len());
    let err = onset_errors_ms(&y, &CLICKS);
    let sc = spectral_convergence(&cfg.stft(), &x, &y);
    let mel_y = cfg.log_mel(&y);
    let mel_x = cfg.log_mel(&x);
    let mel_l1 = mel_y
        .iter()
        .zip(&mel_x)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / mel_x.len() as f32;
    eprintln!("untrained (pseudo-inverse) vocoder: onset errors ms {err:?}, spectral convergence {sc:.3}, log-mel L1 {mel_l1:.3}");
    assert!(err.iter().all(|&e| e <= 20.0), "onset errors {err:?}");
}

fn grads_reach_all(varmap: &VarMap, grads: &candle_core::backprop::GradStore) {
    let data = varmap.data().lock().unwrap();
    for (name, var) in data.iter() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let s: f32 = g.abs().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(s > 0.0 && s.is_finite(), "gradient of {name} is {s}");
    }
}

#[test]
fn vocoder_overfits_and_gradients_reach_all_vars() {
    let dev = Device::Cpu;
    let cfg = MelConfig::kino_tiny();
    let x = impact_clip(1.0, &[0.1, 0.45, 0.8], 0.01, 3);
    let lm = cfg.log_mel_tensor(&x, &dev).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let voc = Vocoder::new(VocoderConfig::kino_tiny(), vb).unwrap();
    let target = voc.target_magnitude(&x, &dev).unwrap();
    let n_params: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let loss0 = voc.loss(&lm, &target).unwrap();
    grads_reach_all(&varmap, &loss0.backward().unwrap());
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: 3e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let l0: f32 = loss0.to_scalar().unwrap();
    let start = std::time::Instant::now();
    let mut l = l0;
    let mut steps = 0;
    while steps < 400 && start.elapsed().as_secs_f32() < 20.0 {
        let loss = voc.loss(&lm, &target).unwrap();
        opt.backward_step(&loss).unwrap();
        l = loss.to_scalar().unwrap();
        steps += 1;
        if l < 0.3 * l0 {
            break;
        }
    }
    eprintln!(
        "vocoder overfit ({n_params} params): log-magnitude L1 {l0:.3} -> {l:.3} ({:.0}%) in {steps} steps, {:.1}s",
        100.0 * l / l0,
        start.elapsed().as_secs_f32()
    );
    assert!(l < 0.4 * l0);
}

#[test]
fn audio_vae_overfits_and_gradients_reach_all_vars() {
    let dev = Device::Cpu;
    let cfg = MelConfig::kino_tiny();
    let a = impact_clip(0.64, &[0.12, 0.41], 0.01, 5);
    let lm = cfg.log_mel_tensor(&a, &dev).unwrap().unsqueeze(0).unwrap();
    assert_eq!(lm.dims(), &[1, 64, 64]);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let vae = AudioVae::new(AudioVaeConfig::kino_tiny(), vb).unwrap();
    let n_params: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let (mean, logvar) = vae.encode(&lm).unwrap();
    assert_eq!(mean.dims(), &[1, 8, 16]);
    assert_eq!(logvar.dims(), &[1, 8, 16]);
    assert_eq!(vae.decode(&mean).unwrap().dims(), &[1, 64, 64]);
    let kl_weight = 1e-4;
    let loss0 = vae.loss(&lm, kl_weight).unwrap();
    grads_reach_all(&varmap, &loss0.total.backward().unwrap());
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let l0: f32 = loss0.total.to_scalar().unwrap();
    let start = std::time::Instant::now();
    let (mut l, mut recon, mut kl) = (l0, 0f32, 0f32);
    let mut steps = 0;
    while steps < 150 && start.elapsed().as_secs_f32() < 15.0 {
        let loss = vae.loss(&lm, kl_weight).unwrap();
        opt.backward_step(&loss.total).unwrap();
        l = loss.total.to_scalar().unwrap();
        recon = loss.recon.to_scalar().unwrap();
        kl = loss.kl.to_scalar().unwrap();
        steps += 1;
        if steps % 20 == 0 {
            eprintln!("  vae step {steps}: total {l:.3} recon {recon:.3} kl {kl:.2}");
        }
        if l < 0.1 * l0 {
            break;
        }
    }
    eprintln!(
        "audio VAE overfit ({n_params} params): total {l0:.3} -> {l:.3} ({:.0}%, recon {recon:.3}, kl {kl:.2}) in {steps} steps, {:.1}s",
        100.0 * l / l0,
        start.elapsed().as_secs_f32()
    );
    assert!(l < 0.4 * l0);
}

#[test]
fn bad_shapes_give_clear_errors() {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let vae = AudioVae::new(AudioVaeConfig::kino_tiny(), vb.pp("vae")).unwrap();
    let voc = Vocoder::new(VocoderConfig::kino_tiny(), vb.pp("voc")).unwrap();

    let err = |r: candle_core::Result<()>| r.unwrap_err().to_string();
    let e = err(vae
        .encode(&Tensor::zeros((1, 64, 10), DType::F32, &dev).unwrap())
        .map(|_| ()));
    assert!(
        e.contains("multiple of 4") && e.contains("pad_log_mel"),
        "{e}"
    );
    let e = err(vae
        .encode(&Tensor::zeros((1, 63, 8), DType::F32, &dev).unwrap())
        .map(|_| ()));
    assert!(e.contains("63 mel bins"), "{e}");
    let e = err(vae
        .encode(&Tensor::zeros((64, 8), DType::F32, &dev).unwrap())
        .map(|_| ()));
    assert!(e.contains("(B, 64, T)"), "{e}");
    let e = err(vae
        .decode(&Tensor::zeros((1, 4, 8), DType::F32, &dev).unwrap())
        .map(|_| ()));
    assert!(e.contains("4 channels"), "{e}");
    let e = err(voc
        .magnitude(&Tensor::zeros((1, 80, 8), DType::F32, &dev).unwrap())
        .map(|_| ()));
    assert!(e.contains("80 mel bins"), "{e}");
    let e = err(voc
        .magnitude(&Tensor::zeros(8, DType::F32, &dev).unwrap())
        .map(|_| ()));
    assert!(e.contains("rank 1"), "{e}");
    let two = Tensor::zeros((2, 64, 8), DType::F32, &dev).unwrap();
    let e = err(voc.waveform(&two, 1280).map(|_| ()));
    assert!(e.contains("waveform_batch"), "{e}");
    assert_eq!(voc.waveform_batch(&two, 1280).unwrap().len(), 2);
    let lm = Tensor::zeros((1, 64, 8), DType::F32, &dev).unwrap();
    let e = err(voc
        .loss(&lm, &Tensor::zeros((1, 500, 8), DType::F32, &dev).unwrap())
        .map(|_| ()));
    assert!(e.contains("does not match"), "{e}");

    // Padding helper: 10 frames -> 12, 0 frames -> 4, extra frames are silence.
    let p = vae
        .pad_log_mel(&Tensor::zeros((1, 64, 10), DType::F32, &dev).unwrap())
        .unwrap();
    assert_eq!(p.dims(), &[1, 64, 12]);
    let tail: f32 = p
        .narrow(2, 10, 2)
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((tail - (1e-5f32).ln()).abs() < 1e-4);
    let p0 = vae
        .pad_log_mel(&Tensor::zeros((1, 64, 0), DType::F32, &dev).unwrap())
        .unwrap();
    assert_eq!(p0.dims(), &[1, 64, 4]);
    let _ = Var::zeros(1, DType::F32, &dev).unwrap();
}

/// The VAE's normalisation constants fit world-like audio: impacts over quiet rolling /
/// ambience noise, plus a louder rain-like bed.
#[test]
fn log_mel_statistics_match_normalisation_constants() {
    let cfg = MelConfig::kino_tiny();
    let mut all = Vec::new();
    for (noise, seed) in [(0.003, 1), (0.01, 2), (0.05, 3)] {
        let x = impact_clip(1.6, &CLICKS, noise, seed);
        all.extend(cfg.log_mel(&x));
    }
    let n = all.len() as f32;
    let mean = all.iter().sum::<f32>() / n;
    let std = (all.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
    eprintln!(
        "log-mel statistics: mean {mean:.2} std {std:.2} (constants {} / {})",
        kino_models::audio_vae::LOG_MEL_MEAN,
        kino_models::audio_vae::LOG_MEL_SCALE
    );
    assert!((mean - kino_models::audio_vae::LOG_MEL_MEAN).abs() < 1.5);
    assert!((std / kino_models::audio_vae::LOG_MEL_SCALE - 1.0).abs() < 0.5);
}
