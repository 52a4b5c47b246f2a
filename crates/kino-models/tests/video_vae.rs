//! Tests of the causal conv and the video VAE (tiny configs, CPU, random weights).

mod common;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use common::max_abs_diff;
use kino_models::causal_conv::{CausalConv3d, CausalConv3dConfig};
use kino_models::video_vae::{DecodeState, VaeLossOptions, VideoVae, VideoVaeConfig};

fn vae(cfg: &VideoVaeConfig) -> (VarMap, VideoVae) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let m = VideoVae::new(cfg, vb).unwrap();
    (vm, m)
}

fn rand_clip(b: usize, t: usize, h: usize, w: usize) -> Tensor {
    Tensor::rand(-1f32, 1f32, (b, 3, t, h, w), &Device::Cpu).unwrap()
}

#[test]
fn causal_conv_matches_naive_conv3d() {
    // Compare with a direct triple loop implementation of a causal, replicate-padded conv3d.
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let cfg = CausalConv3dConfig::same(3, 3).with_stride(2, 2);
    let conv = CausalConv3d::new(2, 3, cfg, vb).unwrap();
    let (b, c, t, h, w) = (1, 2, 5, 6, 6);
    let x = Tensor::randn(0f32, 1f32, (b, c, t, h, w), &Device::Cpu).unwrap();
    let y = conv.forward(&x).unwrap();
    assert_eq!(y.dims(), &[1, 3, 3, 3, 3]);
    let wt = conv.weight().to_vec3::<f32>().err(); // rank 5: just to silence unused
    assert!(wt.is_some());
    let wv: Vec<f32> = conv.weight().flatten_all().unwrap().to_vec1().unwrap();
    let xv: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let yv: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
    let bias: Vec<f32> = vm
        .data()
        .lock()
        .unwrap()
        .get("bias")
        .unwrap()
        .as_tensor()
        .to_vec1()
        .unwrap();
    let xi = |ci: usize, ti: isize, hi: isize, wi: isize| -> f32 {
        let ti = ti.max(0) as usize; // replicate the first frame
        if hi < 0 || wi < 0 || hi >= h as isize || wi >= w as isize {
            return 0.0;
        }
        xv[((ci * t + ti) * h + hi as usize) * w + wi as usize]
    };
    for o in 0..3 {
        for to in 0..3 {
            for ho in 0..3 {
                for wo in 0..3 {
                    let mut acc = bias[o];
                    for ci in 0..c {
                        for dt in 0..3 {
                            for dh in 0..3 {
                                for dw in 0..3 {
                                    let wgt = wv[(((o * c + ci) * 3 + dt) * 3 + dh) * 3 + dw];
                                    let ti = (to * 2) as isize + dt as isize - 2;
                                    let hi = (ho * 2) as isize + dh as isize - 1;
                                    let wi = (wo * 2) as isize + dw as isize - 1;
                                    acc += wgt * xi(ci, ti, hi, wi);
                                }
                            }
                        }
                    }
                    let got = yv[((o * 3 + to) * 3 + ho) * 3 + wo];
                    assert!(
                        (got - acc).abs() < 1e-4,
                        "o{o} t{to} h{ho} w{wo}: {got} vs {acc}"
                    );
                }
            }
        }
    }
}

#[test]
fn causal_conv_cached_equals_full() {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let conv = CausalConv3d::new(4, 5, CausalConv3dConfig::same(3, 3), vb).unwrap();
    let x = Tensor::randn(0f32, 1f32, (2, 4, 7, 8, 8), &Device::Cpu).unwrap();
    let full = conv.forward(&x).unwrap();
    let mut cache = None;
    let mut parts = Vec::new();
    for (s, l) in [(0, 1), (1, 1), (2, 3), (5, 2)] {
        parts.push(
            conv.forward_cached(&x.narrow(2, s, l).unwrap(), &mut cache)
                .unwrap(),
        );
    }
    let chunked = Tensor::cat(&parts, 2).unwrap();
    assert!(max_abs_diff(&full, &chunked) < 1e-5);
}

#[test]
fn causal_conv_rejects_bad_input() {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let conv = CausalConv3d::new(4, 5, CausalConv3dConfig::same(3, 3), vb).unwrap();
    let x = Tensor::zeros((1, 3, 2, 8, 8), DType::F32, &Device::Cpu).unwrap();
    assert!(conv.forward(&x).is_err());
    let x = Tensor::zeros((1, 4, 8, 8), DType::F32, &Device::Cpu).unwrap();
    assert!(conv.forward(&x).is_err());
}

#[test]
fn shapes_for_1_5_9_97_frames() {
    let cfg = VideoVaeConfig::test_tiny();
    let (_vm, m) = vae(&cfg);
    for (t, lt) in [(1, 1), (5, 2), (9, 3), (97, 25)] {
        let (h, w) = if t == 97 { (16, 16) } else { (32, 24) };
        let x = rand_clip(1, t, h, w);
        let post = m.encode(&x).unwrap();
        assert_eq!(post.mean.dims(), &[1, 8, lt, h / 8, w / 8], "T={t}");
        assert_eq!(post.logvar.dims(), post.mean.dims());
        assert_eq!(m.latent_shape(t, h, w).unwrap(), (8, lt, h / 8, w / 8));
        assert_eq!(m.frames_for_latents(lt), t);
        let y = m.decode(&post.mean).unwrap();
        assert_eq!(y.dims(), &[1, 3, t, h, w], "T={t}");
    }
    // kino-tiny itself (random weights), one small clip.
    let (_vm, m) = vae(&VideoVaeConfig::kino_tiny());
    let x = rand_clip(2, 5, 16, 32);
    let post = m.encode(&x).unwrap();
    assert_eq!(post.mean.dims(), &[2, 16, 2, 2, 4]);
    assert_eq!(m.decode(&post.mean).unwrap().dims(), &[2, 3, 5, 16, 32]);
}

#[test]
fn bad_inputs_are_errors() {
    let cfg = VideoVaeConfig::test_tiny();
    let (_vm, m) = vae(&cfg);
    let dev = Device::Cpu;
    // wrong channel count
    assert!(m
        .encode(&Tensor::zeros((1, 4, 5, 16, 16), DType::F32, &dev).unwrap())
        .is_err());
    // T not 1 + 4k
    for t in [0, 2, 4, 6] {
        assert!(m
            .encode(&Tensor::zeros((1, 3, t, 16, 16), DType::F32, &dev).unwrap())
            .is_err());
    }
    // H / W not divisible by 8
    assert!(m
        .encode(&Tensor::zeros((1, 3, 5, 12, 16), DType::F32, &dev).unwrap())
        .is_err());
    assert!(m
        .encode(&Tensor::zeros((1, 3, 5, 16, 20), DType::F32, &dev).unwrap())
        .is_err());
    // wrong rank
    assert!(m
        .encode(&Tensor::zeros((3, 5, 16, 16), DType::F32, &dev).unwrap())
        .is_err());
    // latent with wrong channels / no frames / wrong rank
    assert!(m
        .decode(&Tensor::zeros((1, 7, 2, 2, 2), DType::F32, &dev).unwrap())
        .is_err());
    assert!(m
        .decode(&Tensor::zeros((1, 8, 0, 2, 2), DType::F32, &dev).unwrap())
        .is_err());
    assert!(m
        .decode(&Tensor::zeros((8, 2, 2, 2), DType::F32, &dev).unwrap())
        .is_err());
    let z = Tensor::zeros((1, 8, 2, 2, 2), DType::F32, &dev).unwrap();
    assert!(m.decode_chunked(&z, 0, |_, _| {}).is_err());
    assert!(m.latent_shape(6, 16, 16).is_err());
    // a bad config is an error too
    let mut bad = VideoVaeConfig::test_tiny();
    bad.temporal_down.pop();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    assert!(VideoVae::new(&bad, vb).is_err());
}

#[test]
fn encoder_and_decoder_are_causal() {
    let cfg = VideoVaeConfig::test_tiny();
    let (_vm, m) = vae(&cfg);
    let x = rand_clip(1, 13, 16, 16);
    let mean = m.encode(&x).unwrap().mean;
    // Change frame t: latent frames j with 4j < t must not change.
    for t in [1usize, 4, 5, 8, 12] {
        let mut frames: Vec<Tensor> = (0..13).map(|i| x.narrow(2, i, 1).unwrap()).collect();
        frames[t] = rand_clip(1, 1, 16, 16);
        let x2 = Tensor::cat(&frames, 2).unwrap();
        let mean2 = m.encode(&x2).unwrap().mean;
        let unchanged = t.div_ceil(4); // latents 0..unchanged see only frames <= 4j < t
        if unchanged > 0 {
            let d = max_abs_diff(
                &mean.narrow(2, 0, unchanged).unwrap(),
                &mean2.narrow(2, 0, unchanged).unwrap(),
            );
            assert!(d == 0.0, "frame {t} changed latent < {unchanged}: {d}");
        }
        let d_after = max_abs_diff(
            &mean.narrow(2, unchanged, 4 - unchanged).unwrap(),
            &mean2.narrow(2, unchanged, 4 - unchanged).unwrap(),
        );
        assert!(
            d_after > 0.0,
            "frame {t} should influence latent {unchanged}"
        );
    }
    // Change latent j: video frames < 4j - 3 must not change.
    let z = Tensor::randn(0f32, 1f32, (1, 8, 4, 2, 2), &Device::Cpu).unwrap();
    let y = m.decode(&z).unwrap();
    for j in 1..4usize {
        let mut lat: Vec<Tensor> = (0..4).map(|i| z.narrow(2, i, 1).unwrap()).collect();
        lat[j] = Tensor::randn(0f32, 1f32, (1, 8, 1, 2, 2), &Device::Cpu).unwrap();
        let y2 = m.decode(&Tensor::cat(&lat, 2).unwrap()).unwrap();
        let first = 4 * j - 3;
        let d = max_abs_diff(
            &y.narrow(2, 0, first).unwrap(),
            &y2.narrow(2, 0, first).unwrap(),
        );
        assert!(d == 0.0, "latent {j} changed frames < {first}: {d}");
        let d_after = max_abs_diff(
            &y.i((.., .., first..)).unwrap(),
            &y2.i((.., .., first..)).unwrap(),
        );
        assert!(d_after > 0.0);
    }
}

#[test]
fn chunked_decode_equals_full_decode() {
    for cfg in [VideoVaeConfig::test_tiny(), VideoVaeConfig::kino_tiny()] {
        let (_vm, m) = vae(&cfg);
        let z = Tensor::randn(0f32, 1f32, (1, cfg.z_channels, 7, 2, 3), &Device::Cpu).unwrap();
        let full = m.decode(&z).unwrap();
        assert_eq!(full.dim(2).unwrap(), 25);
        for chunk in [1, 2, 3, 7, 10] {
            let mut calls = Vec::new();
            let y = m
                .decode_chunked(&z, chunk, |d, n| calls.push((d, n)))
                .unwrap();
            assert_eq!(y.dims(), full.dims());
            let d = max_abs_diff(&full, &y);
            assert!(d < 1e-4, "chunk {chunk}: max diff {d}");
            assert_eq!(calls.len(), 7usize.div_ceil(chunk));
            assert_eq!(*calls.last().unwrap(), (7, 7));
        }
        // The streaming API: 1 + 4(n-1) frames first, then 4n.
        let mut st = DecodeState::new();
        assert!(st.is_fresh());
        let a = m.decode_next(&z.narrow(2, 0, 3).unwrap(), &mut st).unwrap();
        assert_eq!(a.dim(2).unwrap(), 9);
        assert!(!st.is_fresh());
        let b = m.decode_next(&z.narrow(2, 3, 4).unwrap(), &mut st).unwrap();
        assert_eq!(b.dim(2).unwrap(), 16);
        assert!(max_abs_diff(&full, &Tensor::cat(&[a, b], 2).unwrap()) < 1e-4);
    }
}

#[test]
fn gradients_reach_every_variable() {
    let cfg = VideoVaeConfig::test_tiny();
    let (vm, m) = vae(&cfg);
    let x = rand_clip(1, 5, 16, 16);
    let loss = m.loss(&x, 1e-3).unwrap();
    let grads = loss.total.backward().unwrap();
    let data = vm.data().lock().unwrap();
    assert!(data.len() > 20);
    for (name, var) in data.iter() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.dims(), var.as_tensor().dims());
        let s = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            s.is_finite() && s > 0.0,
            "zero/NaN gradient for {name}: {s}"
        );
    }
    // Checkpoint-style names.
    for key in [
        "encoder.conv_in.weight",
        "encoder.down.0.resnets.0.conv1.weight",
        "encoder.down.0.downsample.conv.weight",
        "encoder.conv_out.bias",
        "decoder.up.0.resnets.0.norm1.gamma",
        "decoder.up.0.upsample.time_conv.weight",
        "decoder.up.1.upsample.conv.weight",
        "decoder.conv_out.weight",
    ] {
        assert!(data.contains_key(key), "missing {key}");
    }
    assert_eq!(
        data["encoder.down.1.resnets.0.conv1.weight"]
            .as_tensor()
            .dims(),
        &[16, 8, 3, 3, 3]
    );
}

/// Two synthetic clips: a coloured square moving over a colour gradient.
fn synthetic_clip(t: usize, h: usize, w: usize, phase: usize) -> Tensor {
    let mut data = vec![0f32; 3 * t * h * w];
    let colours = [[0.9f32, -0.6, -0.2], [-0.5, 0.8, 0.4]];
    let col = colours[phase % 2];
    for ti in 0..t {
        let sx = (2 + ti * 2 + phase * 5) % (w - 6);
        let sy = (3 + ti + phase * 3) % (h - 6);
        for y in 0..h {
            for x in 0..w {
                let gx = x as f32 / w as f32;
                let gy = y as f32 / h as f32;
                let bg = [gx - 0.5, gy - 0.5, 0.3 * (gx + gy) - 0.6];
                let inside = x >= sx && x < sx + 6 && y >= sy && y < sy + 6;
                for c in 0..3 {
                    let v = if inside { col[c] } else { bg[c] };
                    data[((c * t + ti) * h + y) * w + x] = v;
                }
            }
        }
    }
    Tensor::from_vec(data, (1, 3, t, h, w), &Device::Cpu).unwrap()
}

#[test]
fn overfits_two_synthetic_clips() {
    let start = std::time::Instant::now();
    let cfg = VideoVaeConfig::test_tiny();
    let (vm, m) = vae(&cfg);
    let x = Tensor::cat(
        &[synthetic_clip(5, 16, 16, 0), synthetic_clip(5, 16, 16, 1)],
        0,
    )
    .unwrap();
    let mut opt = AdamW::new(
        vm.all_vars(),
        ParamsAdamW {
            lr: 3e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let eval = |m: &VideoVae| -> f32 {
        let z = m.encode(&x).unwrap().mean;
        let y = m.decode(&z).unwrap();
        (y - &x)
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let initial = eval(&m);
    let mut steps = 0;
    for _ in 0..300 {
        let loss = m.loss(&x, 1e-4).unwrap();
        opt.backward_step(&loss.total).unwrap();
        steps += 1;
        let recon = loss.recon.to_scalar::<f32>().unwrap();
        if recon < 0.2 * initial || start.elapsed().as_secs_f32() > 20.0 {
            break;
        }
    }
    let fin = eval(&m);
    eprintln!(
        "overfit: L1 {initial:.4} -> {fin:.4} in {steps} steps, {:.1}s",
        start.elapsed().as_secs_f32()
    );
    assert!(
        fin < 0.4 * initial,
        "L1 {initial} -> {fin} after {steps} steps"
    );
}

#[test]
fn weighted_loss_is_l1_for_uniform_weights_and_follows_the_weights() {
    let (_vm, m) = vae(&VideoVaeConfig::test_tiny());
    let x = rand_clip(2, 5, 16, 16);
    let fixed = |m: &Tensor| Tensor::zeros(m.shape(), m.dtype(), m.device());
    let scalar = |t: &Tensor| t.to_scalar::<f32>().unwrap();
    let plain = m.loss_with_noise(&x, 0.0, fixed).unwrap();
    // Uniform weights (any scale) give exactly the plain L1.
    let w = (Tensor::ones((2, 1, 5, 16, 16), DType::F32, &Device::Cpu).unwrap() * 3.0).unwrap();
    let uniform = m.loss_weighted(&x, Some(&w), 0.0, fixed).unwrap();
    assert!((scalar(&uniform.total) - scalar(&plain.total)).abs() < 1e-6);
    assert_eq!(scalar(&uniform.recon), scalar(&plain.recon));
    // All the weight on one pixel: the weighted term is that pixel's mean channel error.
    let mut data = vec![0f32; 2 * 5 * 16 * 16];
    let (bi, ti, yi, xi) = (1, 2, 7, 9);
    let at = ((bi * 5 + ti) * 16 + yi) * 16 + xi;
    data[at] = 1.0;
    let w1 = Tensor::from_vec(data, (2, 1, 5, 16, 16), &Device::Cpu).unwrap();
    let one = m.loss_weighted(&x, Some(&w1), 0.0, fixed).unwrap();
    let z = m.encode(&x).unwrap().mean;
    let err = (m.decode(&z).unwrap() - &x).unwrap().abs().unwrap();
    let expected = scalar(&err.i((bi, .., ti, yi, xi)).unwrap().mean_all().unwrap());
    assert!(
        (scalar(&one.total) - expected).abs() < 1e-5,
        "{} vs {expected}",
        scalar(&one.total)
    );
    assert_eq!(scalar(&one.recon), scalar(&plain.recon));
    // A weight of the wrong shape is an error naming both shapes.
    let bad = Tensor::ones((2, 3, 5, 16, 16), DType::F32, &Device::Cpu).unwrap();
    let e = m.loss_weighted(&x, Some(&bad), 0.0, fixed).unwrap_err();
    assert!(e.to_string().contains("weight shape"), "{e}");
}

#[test]
fn motion_term_and_a_frozen_encoder() {
    let (vm, m) = vae(&VideoVaeConfig::test_tiny());
    let x = rand_clip(1, 5, 16, 16);
    let fixed = |m: &Tensor| Tensor::zeros(m.shape(), m.dtype(), m.device());
    let scalar = |t: &Tensor| t.to_scalar::<f32>().unwrap();
    let opts = |motion_weight: f64, train_encoder: bool| VaeLossOptions {
        kl_weight: 0.5,
        motion_weight,
        train_encoder,
    };
    // The motion term is the L1 of the frame differences, added with its weight.
    let xr = m.decode(&m.encode(&x).unwrap().mean).unwrap();
    let d = |v: &Tensor| (v.narrow(2, 1, 4).unwrap() - v.narrow(2, 0, 4).unwrap()).unwrap();
    let motion = scalar(&(d(&xr) - d(&x)).unwrap().abs().unwrap().mean_all().unwrap());
    assert!(motion > 0.0);
    let base = m.loss_with(&x, None, &opts(0.0, true), fixed).unwrap();
    let with = m.loss_with(&x, None, &opts(2.0, true), fixed).unwrap();
    let got = scalar(&with.total) - scalar(&base.total);
    assert!(
        (got - 2.0 * motion).abs() < 1e-5,
        "{got} vs {}",
        2.0 * motion
    );
    // Uniform weights change nothing; all the weight on one pixel of frame 2 makes the
    // motion term that pixel's error on the differences into and out of frame 2.
    let ones = Tensor::ones((1, 1, 5, 16, 16), DType::F32, &Device::Cpu).unwrap();
    let uniform = m
        .loss_with(&x, Some(&(&ones * 3.0).unwrap()), &opts(2.0, true), fixed)
        .unwrap();
    assert!((scalar(&uniform.total) - scalar(&with.total)).abs() < 1e-5);
    let mut one = vec![0f32; 5 * 16 * 16];
    one[(2 * 16 + 7) * 16 + 9] = 1.0;
    let one = Tensor::from_vec(one, (1, 1, 5, 16, 16), &Device::Cpu).unwrap();
    let only = m
        .loss_with(&x, Some(&one), &opts(2.0, true), fixed)
        .unwrap();
    let at = m
        .loss_with(&x, Some(&one), &opts(0.0, true), fixed)
        .unwrap();
    let merr = (d(&xr) - d(&x)).unwrap().abs().unwrap();
    let expected = scalar(&merr.i((0, .., 1..3, 7, 9)).unwrap().mean_all().unwrap());
    let got = scalar(&only.total) - scalar(&at.total);
    assert!(
        (got - 2.0 * expected).abs() < 1e-5,
        "{got} vs {}",
        2.0 * expected
    );
    // With the encoder trained, the KL is in the total and every weight gets a gradient.
    let kl = scalar(&base.kl);
    assert!((scalar(&base.total) - scalar(&base.recon) - 0.5 * kl).abs() < 1e-5);
    let grads = base.total.backward().unwrap();
    let data = vm.data().lock().unwrap();
    let has = |prefix: &str| {
        data.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| grads.get(v.as_tensor()).is_some())
            .collect::<Vec<_>>()
    };
    assert!(has("encoder.").iter().all(|&g| g));
    // Frozen: no gradient reaches the encoder, the decoder still learns, no KL in the total.
    let frozen = m.loss_with(&x, None, &opts(2.0, false), fixed).unwrap();
    assert!((scalar(&frozen.total) - scalar(&with.total) + 0.5 * kl).abs() < 1e-5);
    let grads = frozen.total.backward().unwrap();
    let has = |prefix: &str| {
        data.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| grads.get(v.as_tensor()).is_some())
            .collect::<Vec<_>>()
    };
    let (enc, dec) = (has("encoder."), has("decoder."));
    assert!(!enc.is_empty() && enc.iter().all(|&g| !g), "{enc:?}");
    assert!(!dec.is_empty() && dec.iter().all(|&g| g), "{dec:?}");
}
