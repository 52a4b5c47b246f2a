//! The training kernels compute what the composed candle ops compute, gradients included.

use candle_core::{DType, Device, Tensor, Var};
use kino_models::vae_kernels;

mod common;
use common::max_abs_diff as max_diff;

#[test]
fn values_and_gradients_match_candle_conv2d() {
    let dev = Device::Cpu;
    for &(b, c, o, h, w_, k, pad) in &[
        (2usize, 3usize, 5usize, 9usize, 11usize, 3usize, 1usize),
        (3, 4, 2, 8, 8, 3, 0),
        (2, 6, 4, 7, 5, 1, 0),
        (1, 2, 3, 6, 6, 3, 2),
        (2, 3, 3, 10, 7, 5, 2),
        (2, 16, 16, 16, 16, 3, 1),
    ] {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (b, c, h, w_), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.3, (o, c, k, k), &dev).unwrap()).unwrap();
        // A loss that weights every output element differently.
        let r = Tensor::randn(
            0f32,
            1.,
            (b, o, h + 2 * pad + 1 - k, w_ + 2 * pad + 1 - k),
            &dev,
        )
        .unwrap();
        let loss = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap();

        let y_ref = x.conv2d(&w, pad, 1, 1, 1).unwrap();
        let g_ref = loss(&y_ref).backward().unwrap();
        let y = vae_kernels::conv2d(&x, &w, pad, 1).unwrap();
        let g = loss(&y).backward().unwrap();

        let case = format!("b{b} c{c} o{o} {h}x{w_} k{k} p{pad}");
        assert!(max_diff(&y, &y_ref) < 1e-5, "{case}: values");
        let (gx, gx_ref) = (g.get(&x).unwrap(), g_ref.get(&x).unwrap());
        let (gw, gw_ref) = (g.get(&w).unwrap(), g_ref.get(&w).unwrap());
        assert_eq!(gx.dims(), x.dims(), "{case}");
        assert_eq!(gw.dims(), w.dims(), "{case}");
        assert!(
            max_diff(gx, gx_ref) < 1e-4,
            "{case}: dx {}",
            max_diff(gx, gx_ref)
        );
        assert!(
            max_diff(gw, gw_ref) < 1e-4,
            "{case}: dw {}",
            max_diff(gw, gw_ref)
        );
    }
}

#[test]
fn strided_and_non_f32_inputs_fall_back_to_candle() {
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1., (2, 3, 8, 8), &dev).unwrap();
    let w = Tensor::randn(0f32, 1., (4, 3, 3, 3), &dev).unwrap();
    let y = vae_kernels::conv2d(&x, &w, 1, 2).unwrap();
    assert!(max_diff(&y, &x.conv2d(&w, 1, 2, 1, 1).unwrap()) < 1e-6);
    let (xh, wh) = (
        x.to_dtype(DType::F16).unwrap(),
        w.to_dtype(DType::F16).unwrap(),
    );
    let yh = vae_kernels::conv2d(&xh, &wh, 1, 1).unwrap();
    assert_eq!(yh.dtype(), DType::F16);
    // A non-contiguous input gives the same result as its contiguous copy.
    let xt = x.transpose(2, 3).unwrap();
    let a = vae_kernels::conv2d(&xt, &w, 1, 1).unwrap();
    let b = vae_kernels::conv2d(&xt.contiguous().unwrap(), &w, 1, 1).unwrap();
    assert!(max_diff(&a, &b) < 1e-6);
    // Mismatched channels are an error, not a panic.
    let bad = Tensor::randn(0f32, 1., (4, 5, 3, 3), &dev).unwrap();
    assert!(vae_kernels::conv2d(&x, &bad, 1, 1).is_err());
}

/// The composed formula, differentiated by candle.
fn rms_norm_reference(x: &Tensor, gamma: &Tensor, dim: usize, eps: f64) -> Tensor {
    let inv = (x.sqr().unwrap().mean_keepdim(dim).unwrap() + eps)
        .unwrap()
        .sqrt()
        .unwrap()
        .recip()
        .unwrap();
    let mut shape = vec![1usize; x.rank()];
    shape[dim] = x.dim(dim).unwrap();
    x.broadcast_mul(&inv)
        .unwrap()
        .broadcast_mul(&gamma.reshape(shape).unwrap())
        .unwrap()
}

#[test]
fn channel_rms_norm_values_and_gradients_match_the_composed_ops() {
    let dev = Device::Cpu;
    for (shape, dim) in [
        (vec![2usize, 3, 5, 4, 6], 2usize),
        (vec![3, 7, 8], 1),
        (vec![4, 6], 1),
        (vec![5, 2, 3], 0),
    ] {
        let c = shape[dim];
        let x =
            Var::from_tensor(&Tensor::randn(0f32, 1.5, shape.as_slice(), &dev).unwrap()).unwrap();
        let gamma = Var::from_tensor(&Tensor::randn(1f32, 0.3, c, &dev).unwrap()).unwrap();
        let r = Tensor::randn(0f32, 1., shape.as_slice(), &dev).unwrap();
        let loss = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap();
        let y_ref = rms_norm_reference(&x, &gamma, dim, 1e-6);
        let g_ref = loss(&y_ref).backward().unwrap();
        // Through the public entry point: a variable gamma takes the training kernel.
        let y = kino_models::causal_conv::channel_rms_norm(&x, &gamma, dim, 1e-6).unwrap();
        let g = loss(&y).backward().unwrap();
        let case = format!("{shape:?} dim {dim}");
        assert!(
            max_diff(&y, &y_ref) < 1e-5,
            "{case}: values {}",
            max_diff(&y, &y_ref)
        );
        let (gx, gx_ref) = (g.get(&x).unwrap(), g_ref.get(&x).unwrap());
        let (gg, gg_ref) = (g.get(&gamma).unwrap(), g_ref.get(&gamma).unwrap());
        assert!(
            max_diff(gx, gx_ref) < 1e-4,
            "{case}: dx {}",
            max_diff(gx, gx_ref)
        );
        assert!(
            max_diff(gg, gg_ref) < 1e-3,
            "{case}: dgamma {}",
            max_diff(gg, gg_ref)
        );
    }
    // A non-contiguous input gives the same values as its contiguous copy.
    let x = Tensor::randn(0f32, 1., (2, 4, 3, 5), &dev).unwrap();
    let gamma = Var::from_tensor(&Tensor::ones(3, DType::F32, &dev).unwrap()).unwrap();
    let xt = x.transpose(1, 3).unwrap(); // (2, 5, 3, 4), channels still at dim 2
    let a = vae_kernels::channel_rms_norm(&xt, &gamma, 2, 1e-6).unwrap();
    let b = rms_norm_reference(&xt.contiguous().unwrap(), &gamma, 2, 1e-6);
    assert!(max_diff(&a, &b) < 1e-5);
    // A gamma of the wrong length is an error, not a panic.
    let bad = Tensor::ones(4, DType::F32, &dev).unwrap();
    assert!(vae_kernels::channel_rms_norm(&xt, &bad, 2, 1e-6).is_err());
}

#[test]
fn fused_norm_silu_matches_norm_then_silu() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 2.0, (2, 3, 6, 4, 5), &dev).unwrap()).unwrap();
    let gamma = Var::from_tensor(&Tensor::randn(1f32, 0.5, 6, &dev).unwrap()).unwrap();
    let r = Tensor::randn(0f32, 1., (2, 3, 6, 4, 5), &dev).unwrap();
    let loss = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap();
    let y_ref = rms_norm_reference(&x, &gamma, 2, 1e-6).silu().unwrap();
    let g_ref = loss(&y_ref).backward().unwrap();
    let y = kino_models::causal_conv::channel_rms_norm_silu(&x, &gamma, 2, 1e-6).unwrap();
    let g = loss(&y).backward().unwrap();
    assert!(
        max_diff(&y, &y_ref) < 1e-5,
        "values {}",
        max_diff(&y, &y_ref)
    );
    let (gx, gx_ref) = (g.get(&x).unwrap(), g_ref.get(&x).unwrap());
    let (gg, gg_ref) = (g.get(&gamma).unwrap(), g_ref.get(&gamma).unwrap());
    assert!(max_diff(gx, gx_ref) < 1e-4, "dx {}", max_diff(gx, gx_ref));
    assert!(
        max_diff(gg, gg_ref) < 1e-3,
        "dgamma {}",
        max_diff(gg, gg_ref)
    );
    // Frozen weights (not variables) take the composed ops: same values.
    let frozen = gamma.as_tensor().detach();
    let y2 =
        kino_models::causal_conv::channel_rms_norm_silu(&x.as_tensor().detach(), &frozen, 2, 1e-6)
            .unwrap();
    assert!(max_diff(&y2, &y_ref) < 1e-5);
}
