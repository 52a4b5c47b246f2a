//! CPU kernels of kino's video VAE (`causal_conv`, `video_vae`): the same functions as
//! composed candle ops, faster, with backward passes of their own. f32 on the CPU only;
//! other dtypes and devices (CUDA training) keep candle's ops.
//!
//! - [`conv2d`] (stride 1): candle's CPU `conv2d` builds an im2col matrix (9x the input for
//!   3x3) with scalar loops and differentiates its input with `conv_transpose2d`, a direct loop
//!   2.5-3x slower still; with the video VAE's few channels that copying, not arithmetic, was
//!   most of a training step. Here the forward pass, the input gradient (itself a stride-1
//!   convolution: the output gradient against the kernel flipped in space, in/out channels
//!   swapped, padded by `k - 1 - p`) and the kernel gradient are each `k * k` GEMMs over
//!   shifted views of one zero-padded copy (see `ShiftedTaps`), with the `gemm` crate candle
//!   itself uses. Other strides, non-square kernels and `padding >= k` go to candle's `conv2d`.
//!   Results differ from candle's by float rounding (the order of the sums). kino's video VAE
//!   uses it in training only (its weights are variables), so that the shipped model's clips
//!   stay bit for bit the same; the Wan VAE uses it at inference (f32, CPU).
//! - [`channel_rms_norm`] (and [`channel_rms_norm_silu`], the norm followed by SiLU as the
//!   VAE's blocks use it): RMS norm over one axis (the channels of `(B, T, C, H, W)`) as one
//!   pass forward and one backward; composed, the reduction over a middle axis and the
//!   broadcasts are strided scalar loops in candle and their backward several more. Used in
//!   training (the callers check that gamma is a variable); inference keeps the composed ops.
//!
//! Measure with `cargo run --release -p kino-models --example vae_kernels_bench`.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `x.conv2d(w, padding, stride, 1, 1)`, computed by `ShiftedTaps` with a backward of the
/// same kind where it applies (see the module docs); otherwise candle's `conv2d`. `x` is
/// `(B, C, H, W)`, `w` is `(O, C, k, k)`.
pub fn conv2d(x: &Tensor, w: &Tensor, padding: usize, stride: usize) -> Result<Tensor> {
    let (_, c, h, wd) = x.dims4()?;
    let (_, cw, kh, kw) = w.dims4()?;
    let applies = stride == 1
        && kh == kw
        && padding < kh
        && c == cw
        && h + 2 * padding >= kh
        && wd + 2 * padding >= kw
        && x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32;
    if !applies {
        return x.conv2d(w, padding, stride, 1, 1);
    }
    x.contiguous()?
        .apply_op2(&w.contiguous()?, Conv2dStride1 { padding })
}

/// A stride-1 convolution as `k * k` GEMMs over shifted views, without im2col.
///
/// The input is laid out channel-major on a zero-padded grid, `(C, B * Hp * Wp)` plus a tail
/// of zeros, so that tap `(ky, kx)` of every output position `n` reads the input at
/// `n + ky * Wp + kx`: for each tap the whole batch is one GEMM `(O x C) @ (C x N)` with a
/// contiguous, shifted right-hand side, accumulated into `(O, N)`. Outputs land on the same
/// grid (top-left anchored) and the valid `Ho x Wo` corner of each image is cut out; the grid's
/// other columns (`(Hp * Wp) / (Ho * Wo)`, 6% at 64x64) are wasted work.
#[derive(Debug, Clone, Copy)]
struct ShiftedTaps {
    b: usize,
    /// Input channels (GEMM depth per tap) and output channels.
    c: usize,
    o: usize,
    k: usize,
    /// The padded grid.
    hp: usize,
    wp: usize,
}

impl ShiftedTaps {
    fn new(b: usize, c: usize, o: usize, k: usize, h: usize, w: usize, pad: usize) -> Self {
        Self {
            b,
            c,
            o,
            k,
            hp: h + 2 * pad,
            wp: w + 2 * pad,
        }
    }

    /// Grid positions (GEMM width).
    fn n(&self) -> usize {
        self.b * self.hp * self.wp
    }

    /// Row stride of the input grid: the positions plus the largest tap offset.
    fn ld(&self) -> usize {
        self.n() + (self.k - 1) * self.wp + (self.k - 1)
    }

    fn out_hw(&self) -> (usize, usize) {
        (self.hp + 1 - self.k, self.wp + 1 - self.k)
    }

    /// `(B, C, H, W)` -> the `(C, ld)` grid, each image at `(pad, pad)`.
    fn input_grid(&self, x: &[f32], h: usize, w: usize, pad: usize) -> Vec<f32> {
        let (ld, plane) = (self.ld(), self.hp * self.wp);
        let mut g = vec![0f32; self.c * ld];
        g.par_chunks_mut(ld).enumerate().for_each(|(ci, row)| {
            for bi in 0..self.b {
                let src = &x[(bi * self.c + ci) * h * w..][..h * w];
                for (y, line) in src.chunks_exact(w).enumerate() {
                    let at = bi * plane + (y + pad) * self.wp + pad;
                    row[at..at + w].copy_from_slice(line);
                }
            }
        });
        g
    }

    /// `(B, O, Ho, Wo)` -> an `(O, N)` grid with each image at `(0, 0)` (zeros elsewhere).
    fn output_grid(&self, y: &[f32]) -> Vec<f32> {
        let (n, plane) = (self.n(), self.hp * self.wp);
        let (ho, wo) = self.out_hw();
        let mut g = vec![0f32; self.o * n];
        g.par_chunks_mut(n).enumerate().for_each(|(oi, row)| {
            for bi in 0..self.b {
                let src = &y[(bi * self.o + oi) * ho * wo..][..ho * wo];
                for (yy, line) in src.chunks_exact(wo).enumerate() {
                    let at = bi * plane + yy * self.wp;
                    row[at..at + wo].copy_from_slice(line);
                }
            }
        });
        g
    }

    /// The `(O, N)` grid -> `(B, O, Ho, Wo)`.
    fn unpack_output_grid(&self, g: &[f32]) -> Vec<f32> {
        let (n, plane) = (self.n(), self.hp * self.wp);
        let (ho, wo) = self.out_hw();
        let mut y = vec![0f32; self.b * self.o * ho * wo];
        y.par_chunks_mut(ho * wo).enumerate().for_each(|(i, img)| {
            let (bi, oi) = (i / self.o, i % self.o);
            for (yy, line) in img.chunks_exact_mut(wo).enumerate() {
                let at = oi * n + bi * plane + yy * self.wp;
                line.copy_from_slice(&g[at..at + wo]);
            }
        });
        y
    }

    /// `(O, N)` grid of `sum_taps w[:, :, ky, kx] @ x_grid[:, n + ky * Wp + kx]`; `w` is
    /// `(O, C, k, k)`.
    fn forward(&self, xg: &[f32], w: &[f32]) -> Vec<f32> {
        let (n, ld, kk) = (self.n(), self.ld(), self.k * self.k);
        assert!(xg.len() == self.c * ld && w.len() == self.o * self.c * kk);
        let mut out = vec![0f32; self.o * n];
        for tap in 0..kk {
            let off = (tap / self.k) * self.wp + tap % self.k;
            // SAFETY: dst is O x N (row stride N); lhs reads w[o, c, tap] (o < O, c < C);
            // rhs reads xg[c * ld + off + j] with off + j < off + N <= ld (see `ld`).
            unsafe {
                gemm::gemm(
                    self.o,
                    n,
                    self.c,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    tap > 0,
                    w.as_ptr().add(tap),
                    kk as isize,
                    (self.c * kk) as isize,
                    xg.as_ptr().add(off),
                    1,
                    ld as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism(),
                );
            }
        }
        out
    }

    /// `(O, C, k, k)` kernel gradient: tap `(ky, kx)` is `g_grid @ x_grid[:, n + off]^T`, with
    /// `g_grid` the `(O, N)` output gradient on the grid ([`Self::output_grid`]).
    fn kernel_grad(&self, gg: &[f32], xg: &[f32]) -> Vec<f32> {
        let (n, ld, kk) = (self.n(), self.ld(), self.k * self.k);
        assert!(xg.len() == self.c * ld && gg.len() == self.o * n);
        let mut dw = vec![0f32; self.o * self.c * kk];
        for tap in 0..kk {
            let off = (tap / self.k) * self.wp + tap % self.k;
            // SAFETY: dst writes dw[o, c, tap] (o < O, c < C); lhs reads gg[o * N + j] (j < N);
            // rhs element (j, c) reads xg[c * ld + off + j] < c * ld + ld.
            unsafe {
                gemm::gemm(
                    self.o,
                    self.c,
                    n,
                    dw.as_mut_ptr().add(tap),
                    kk as isize,
                    (self.c * kk) as isize,
                    false,
                    gg.as_ptr(),
                    1,
                    n as isize,
                    xg.as_ptr().add(off),
                    ld as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism(),
                );
            }
        }
        dw
    }
}

fn parallelism() -> gemm::Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// `(B, C, H, W)` conv `(O, C, k, k)`, stride 1, `pad`: values `(B, O, Ho, Wo)` by
/// `ShiftedTaps`.
fn conv_stride1(x: &[f32], w: &[f32], dims: [usize; 6], pad: usize) -> (Vec<f32>, [usize; 4]) {
    let [b, c, h, wd, o, k] = dims;
    let taps = ShiftedTaps::new(b, c, o, k, h, wd, pad);
    let xg = taps.input_grid(x, h, wd, pad);
    let y = taps.unpack_output_grid(&taps.forward(&xg, w));
    let (ho, wo) = taps.out_hw();
    (y, [b, o, ho, wo])
}

struct Conv2dStride1 {
    padding: usize,
}

impl CustomOp2 for Conv2dStride1 {
    fn name(&self) -> &'static str {
        "kino-conv2d-stride1"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l1.shape().dims4()?;
        let (o, _, k, _) = l2.shape().dims4()?;
        let (y, shape) = conv_stride1(
            crate::fused::contiguous(s1, l1, "x")?,
            crate::fused::contiguous(s2, l2, "w")?,
            [b, c, h, w, o, k],
            self.padding,
        );
        Ok((CpuStorage::F32(y), Shape::from(shape.to_vec())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, c, h, wd) = x.dims4()?;
        let (o, _, k, _) = w.dims4()?;
        let p = self.padding;
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let gs = grad.flatten_all()?.to_vec1::<f32>()?;
        // dL/dx: the output gradient convolved with the kernel flipped in space, in/out
        // swapped, padded by k - 1 - p (the full correlation, cut to the input's size).
        let w_t = w
            .flip(&[2, 3])?
            .transpose(0, 1)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let (_, _, ho, wo) = grad.dims4()?;
        let (dx, dx_shape) = conv_stride1(&gs, &w_t, [b, o, ho, wo, c, k], k - 1 - p);
        if dx_shape != [b, c, h, wd] {
            candle_core::bail!(
                "conv2d backward: input gradient {dx_shape:?} for input {:?}",
                x.dims()
            );
        }
        // dL/dw: per tap, the output gradient against the shifted input.
        let taps = ShiftedTaps::new(b, c, o, k, h, wd, p);
        let dw = taps.kernel_grad(&taps.output_grid(&gs), &taps.input_grid(&xs, h, wd, p));
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(dw, w.shape(), w.device())?),
        ))
    }
}

/// `x / sqrt(mean(x^2 over dim) + eps) * gamma`, with `gamma` holding one value per index of
/// `dim`: the composed `causal_conv::channel_rms_norm`, as one op with a fused backward for f32
/// on the CPU (anything else takes the composed ops).
pub fn channel_rms_norm(x: &Tensor, gamma: &Tensor, dim: usize, eps: f64) -> Result<Tensor> {
    norm_op(x, gamma, dim, eps, false)
}

/// `silu(channel_rms_norm(x, gamma, dim, eps))` as one op (see [`channel_rms_norm`]).
pub fn channel_rms_norm_silu(x: &Tensor, gamma: &Tensor, dim: usize, eps: f64) -> Result<Tensor> {
    norm_op(x, gamma, dim, eps, true)
}

fn norm_op(x: &Tensor, gamma: &Tensor, dim: usize, eps: f64, silu: bool) -> Result<Tensor> {
    let c = x.dim(dim)?;
    if !(x.device().is_cpu() && x.dtype() == DType::F32 && gamma.dtype() == DType::F32)
        || gamma.elem_count() != c
    {
        let y = crate::causal_conv::channel_rms_norm_composed(x, gamma, dim, eps)?;
        return if silu { y.silu() } else { Ok(y) };
    }
    let dims = x.dims();
    let outer = dims[..dim].iter().product();
    let inner = dims[dim + 1..].iter().product();
    x.contiguous()?.apply_op2(
        &gamma.flatten_all()?.contiguous()?,
        ChannelRmsNorm {
            outer,
            channels: c,
            inner,
            eps: eps as f32,
            silu,
        },
    )
}

struct ChannelRmsNorm {
    outer: usize,
    channels: usize,
    inner: usize,
    eps: f32,
    /// Apply SiLU to the normalised value.
    silu: bool,
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

impl ChannelRmsNorm {
    /// `1 / sqrt(mean_c x^2 + eps)` for each of the `inner` positions of one outer block.
    fn inv_rms(&self, block: &[f32]) -> Vec<f32> {
        let mut ms = vec![0f32; self.inner];
        for row in block.chunks_exact(self.inner) {
            for (m, &v) in ms.iter_mut().zip(row) {
                *m += v * v;
            }
        }
        let inv_c = 1.0 / self.channels as f32;
        ms.iter()
            .map(|m| 1.0 / (m * inv_c + self.eps).sqrt())
            .collect()
    }

    fn block(&self) -> usize {
        self.channels * self.inner
    }
}

impl CustomOp2 for ChannelRmsNorm {
    fn name(&self) -> &'static str {
        "kino-channel-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = crate::fused::contiguous(s1, l1, "x")?;
        let gamma = crate::fused::contiguous(s2, l2, "gamma")?;
        if x.len() != self.outer * self.block() || gamma.len() != self.channels {
            candle_core::bail!("channel_rms_norm: shapes changed between the op and its data");
        }
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(self.block())
            .zip(x.par_chunks(self.block()))
            .for_each(|(dst, src)| {
                let inv = self.inv_rms(src);
                for ((d, s), &g) in dst
                    .chunks_exact_mut(self.inner)
                    .zip(src.chunks_exact(self.inner))
                    .zip(gamma)
                {
                    for ((o, &v), &r) in d.iter_mut().zip(s).zip(&inv) {
                        let n = v * r * g;
                        *o = if self.silu { n * sigmoid(n) } else { n };
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // With u = x * r (r = inv_rms), n = u * gamma, dn = dy (times silu'(n) with SiLU)
        // and du = dn * gamma:
        //   dgamma_c = sum dn_c u_c;   dx_c = r (du_c - u_c * mean_c(du * u)).
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let gs = gamma.flatten_all()?.to_vec1::<f32>()?;
        let dy = grad.flatten_all()?.to_vec1::<f32>()?;
        let (n, inner) = (self.block(), self.inner);
        let inv_c = 1.0 / self.channels as f32;
        let mut dx = vec![0f32; xs.len()];
        let dgamma = dx
            .par_chunks_mut(n)
            .zip(xs.par_chunks(n).zip(dy.par_chunks(n)))
            .map(|(dxb, (xb, dyb))| {
                let inv = self.inv_rms(xb);
                let mut dot = vec![0f32; inner];
                let mut dg = vec![0f32; self.channels];
                // dn, overwriting dy's copy of this block.
                let mut dn = dyb.to_vec();
                if self.silu {
                    for (c, (dnr, xr)) in dn
                        .chunks_exact_mut(inner)
                        .zip(xb.chunks_exact(inner))
                        .enumerate()
                    {
                        let g = gs[c];
                        for ((d, &v), &r) in dnr.iter_mut().zip(xr).zip(&inv) {
                            let n = v * r * g;
                            let s = sigmoid(n);
                            *d *= s * (1.0 + n * (1.0 - s));
                        }
                    }
                }
                for (c, (xr, dnr)) in xb
                    .chunks_exact(inner)
                    .zip(dn.chunks_exact(inner))
                    .enumerate()
                {
                    let g = gs[c];
                    let mut acc = 0f32;
                    for (((d, &v), &dv), &r) in dot.iter_mut().zip(xr).zip(dnr).zip(&inv) {
                        let u = v * r;
                        acc += dv * u;
                        *d += dv * g * u;
                    }
                    dg[c] = acc;
                }
                for (c, ((dxr, xr), dyr)) in dxb
                    .chunks_exact_mut(inner)
                    .zip(xb.chunks_exact(inner))
                    .zip(dn.chunks_exact(inner))
                    .enumerate()
                {
                    let g = gs[c];
                    for ((((o, &v), &dv), &r), &d) in
                        dxr.iter_mut().zip(xr).zip(dyr).zip(&inv).zip(&dot)
                    {
                        *o = r * (dv * g - v * r * d * inv_c);
                    }
                }
                dg
            })
            .reduce(
                || vec![0f32; self.channels],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                    a
                },
            );
        let dx = Tensor::from_vec(dx, x.shape(), x.device())?;
        let dgamma = Tensor::from_vec(dgamma, gamma.shape(), gamma.device())?;
        Ok((Some(dx), Some(dgamma)))
    }
}
