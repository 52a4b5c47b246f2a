//! Times the kino-tiny video VAE on CPU (random weights; speed does not depend on them).
//!
//! `cargo run --release -p kino-models --example video_vae_bench [-- FRAMES SIZE REPEATS]`
//! (defaults: 97 frames, 128x128, 3 repeats). Inference (decode, encode) runs on frozen
//! weights; then one training step of the kino-tiny recipe (batch 4 x 9 frames, loss +
//! backward) on variables. `vae_kernels_bench` compares the kernels with candle's ops.

use std::time::Instant;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use kino_models::video_vae::{VideoVae, VideoVaeConfig};

fn main() -> candle_core::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let frames = args.first().copied().unwrap_or(97);
    let size = args.get(1).copied().unwrap_or(128);
    let repeats = args.get(2).copied().unwrap_or(3).max(1);

    let dev = Device::Cpu;
    let cfg = VideoVaeConfig::kino_tiny();
    let vm = VarMap::new();
    let trainable = VideoVae::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
    let frozen: HashMap<String, Tensor> = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    let vae = VideoVae::new(&cfg, VarBuilder::from_tensors(frozen, DType::F32, &dev))?;
    let params: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
    let enc_params: usize = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("encoder."))
        .map(|(_, v)| v.elem_count())
        .sum();
    println!("config: {cfg:?}");
    println!(
        "parameters: {params} ({:.2} M; encoder {enc_params}, decoder {}), f16 weights {:.2} MB",
        params as f64 / 1e6,
        params - enc_params,
        (params * 2) as f64 / 1e6
    );
    println!(
        "threads: {} (candle CPU, rayon)",
        candle_core::utils::get_num_threads()
    );

    let (zc, lt, lh, lw) = vae.latent_shape(frames, size, size)?;
    let x = Tensor::rand(-1f32, 1f32, (1, 3, frames, size, size), &dev)?;
    let z = Tensor::randn(0f32, 1f32, (1, zc, lt, lh, lw), &dev)?;
    println!("clip (1, 3, {frames}, {size}, {size}) <-> latent (1, {zc}, {lt}, {lh}, {lw})");

    // Warm-up (allocations, thread pool).
    let _ = vae.decode(&z.narrow(2, 0, 2)?)?;

    let mut best = f64::MAX;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let y = vae.decode(&z)?;
        let dt = t0.elapsed().as_secs_f64();
        assert_eq!(y.dims(), &[1, 3, frames, size, size]);
        best = best.min(dt);
    }
    println!("decode: best {best:.3} s over {repeats} runs");

    let mut best = f64::MAX;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let y = vae.decode_chunked(&z, 4, |_, _| {})?;
        let dt = t0.elapsed().as_secs_f64();
        assert_eq!(y.dims(), &[1, 3, frames, size, size]);
        best = best.min(dt);
    }
    println!("decode_chunked (4 latent frames/chunk): best {best:.3} s");

    let mut best = f64::MAX;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let post = vae.encode(&x)?;
        let dt = t0.elapsed().as_secs_f64();
        assert_eq!(post.mean.dims(), &[1, zc, lt, lh, lw]);
        best = best.min(dt);
    }
    println!("encode: best {best:.3} s over {repeats} runs");

    // One training step of the tiny recipe: batch 4 x 9-frame windows.
    let xb = Tensor::rand(-1f32, 1f32, (4, 3, 9, size, size), &dev)?;
    let zero = |m: &Tensor| Tensor::zeros(m.shape(), m.dtype(), m.device());
    let mut best = f64::MAX;
    for _ in 0..repeats + 1 {
        let t0 = Instant::now();
        let loss = trainable.loss_with_noise(&xb, 1e-4, zero)?;
        let grads = loss.total.backward()?;
        let missing = vm
            .all_vars()
            .iter()
            .filter(|v| grads.get(v.as_tensor()).is_none())
            .count();
        assert_eq!(missing, 0, "every weight gets a gradient");
        best = best.min(t0.elapsed().as_secs_f64());
    }
    println!("training step (4 x 9 x {size}x{size}, loss + backward): best {best:.3} s");
    Ok(())
}
