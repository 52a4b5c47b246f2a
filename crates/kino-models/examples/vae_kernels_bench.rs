//! Times forward + backward of the training kernels against the composed candle ops, at the
//! shapes of the kino-tiny video VAE's levels in training (batch 4 x 9-frame windows of
//! 128x128, see kino-engine's tiny recipe): one 3x3 convolution (`vae_kernels::conv2d`)
//! and one channel RMS norm + SiLU (`vae_kernels::channel_rms_norm_silu`).
//!
//! `cargo run --release -p kino-models --example vae_kernels_bench [-- REPEATS]`

use std::time::Instant;

use candle_core::DType;
use candle_core::{Device, Result, Tensor, Var};
use kino_models::vae_kernels;

fn time(repeats: usize, mut step: impl FnMut() -> Result<()>) -> Result<f64> {
    step()?;
    let start = Instant::now();
    for _ in 0..repeats {
        step()?;
    }
    Ok(start.elapsed().as_secs_f64() / repeats as f64)
}

fn main() -> Result<()> {
    let repeats: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("REPEATS must be a number"))
        .unwrap_or(5)
        .max(1);
    let dev = Device::Cpu;
    println!("3x3 conv, forward + backward, mean of {repeats} (seconds)");
    println!(
        "{:<26} {:>8} {:>8} {:>7}",
        "input (N, C, H, W)", "candle", "kino", "speedup"
    );
    // Level 0 (64x64 @ 16 ch, per frame: 36 frames), level 1 (32x32 @ 32 ch, 1/2 frame rate),
    // level 2 (16x16 @ 64 ch, causal 3D: 3 frames folded into channels, 1/4 frame rate).
    for &(n, c_in, c_out, hw) in &[(36, 16, 16, 64), (20, 32, 32, 32), (12, 192, 64, 16)] {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (n, c_in, hw, hw), &dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (c_out, c_in, 3, 3), &dev)?)?;
        let candle = time(repeats, || {
            let g = x.conv2d(&w, 1, 1, 1, 1)?.sqr()?.mean_all()?.backward()?;
            g.get(&w).expect("grad").sum_all()?.to_scalar::<f32>()?;
            Ok(())
        })?;
        let kino = time(repeats, || {
            let g = vae_kernels::conv2d(&x, &w, 1, 1)?
                .sqr()?
                .mean_all()?
                .backward()?;
            g.get(&w).expect("grad").sum_all()?.to_scalar::<f32>()?;
            Ok(())
        })?;
        println!(
            "{:<26} {candle:>8.3} {kino:>8.3} {:>6.2}x",
            format!("({n}, {c_in}, {hw}, {hw}) -> {c_out}"),
            candle / kino
        );
    }
    println!("\nchannel RMS norm + SiLU over C of (B, T, C, H, W), forward + backward (seconds)");
    println!(
        "{:<26} {:>8} {:>8} {:>7}",
        "input", "candle", "kino", "speedup"
    );
    for &(t, c, hw) in &[(9, 16, 64), (5, 32, 32), (3, 64, 16)] {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (4, t, c, hw, hw), &dev)?)?;
        let gamma = Var::from_tensor(&Tensor::ones(c, DType::F32, &dev)?)?;
        let composed = |x: &Tensor| -> Result<Tensor> {
            let inv = (x.sqr()?.mean_keepdim(2)? + 1e-6)?.sqrt()?.recip()?;
            x.broadcast_mul(&inv)?
                .broadcast_mul(&gamma.reshape((1, 1, c, 1, 1))?)
        };
        let candle = time(repeats, || {
            let g = composed(&x)?.silu()?.sqr()?.mean_all()?.backward()?;
            g.get(&gamma).expect("grad").sum_all()?.to_scalar::<f32>()?;
            Ok(())
        })?;
        let kino = time(repeats, || {
            let g = vae_kernels::channel_rms_norm_silu(&x, &gamma, 2, 1e-6)?
                .sqr()?
                .mean_all()?
                .backward()?;
            g.get(&gamma).expect("grad").sum_all()?.to_scalar::<f32>()?;
            Ok(())
        })?;
        println!(
            "{:<26} {candle:>8.3} {kino:>8.3} {:>6.2}x",
            format!("(4, {t}, {c}, {hw}, {hw})"),
            candle / kino
        );
    }
    Ok(())
}
