//! Fused CPU kernels for inference: one pass and one allocation where the composed candle ops
//! take several. They compute the same formulas as the ops they replace, up to float rounding
//! (the order of additions inside a row; softmax and GELU use a vectorised `exp` within about
//! 1 ulp of libm's), have no backward pass, and are used only for f32 tensors on the CPU that
//! no gradient is tracked through (`can_fuse`); everything else takes the composed path.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};

/// True when `xs` can take a fused inference kernel: f32 on the CPU, no autograd tracking.
pub(crate) fn can_fuse(xs: &[&Tensor]) -> bool {
    xs.iter()
        .all(|x| x.device().is_cpu() && x.dtype() == DType::F32 && !x.track_op())
}

/// `(x - mean) / sqrt(var + eps) * mul + add` over the last dim of `x` (`(B, N, D)`), where
/// `mean` and the biased `var` are those of each row (two passes, centred, like the composed
/// `layer_norm_plain`), and `mul`, `add` hold `D` values or `B * D` (one row per sample).
struct LayerNormMulAdd {
    eps: f32,
}

/// The f32 values of a contiguous CPU tensor argument of a custom op (also `vae_kernels`').
pub(crate) fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(d) => d,
        _ => candle_core::bail!("{what}: kino's CPU kernels take f32"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: kino's CPU kernels take contiguous tensors"),
    }
}

impl CustomOp3 for LayerNormMulAdd {
    fn name(&self) -> &'static str {
        "kino-layer-norm-mul-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "x")?;
        let mul = contiguous(s2, l2, "mul")?;
        let add = contiguous(s3, l3, "add")?;
        let dims = l1.shape().dims();
        let d = *dims.last().unwrap_or(&1);
        let b = dims.first().copied().unwrap_or(1);
        let rows = x.len() / d.max(1);
        let per_sample = rows / b.max(1);
        let rows_of = |len: usize, what: &str| -> Result<usize> {
            match len / d {
                1 => Ok(1),
                n if n == b && len == b * d => Ok(b),
                _ => candle_core::bail!("{what}: {len} values for rows of {d}"),
            }
        };
        let (mul_rows, add_rows) = (rows_of(mul.len(), "mul")?, rows_of(add.len(), "add")?);
        // The composed mean multiplies the sum by 1/d rounded to f32 (`Tensor * f64`).
        let inv_d = (1f64 / d as f64) as f32;
        let mut out = vec![0f32; x.len()];
        for (r, (src, dst)) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).enumerate() {
            let sample = r / per_sample.max(1);
            let m = if mul_rows == 1 { 0 } else { sample };
            let a = if add_rows == 1 { 0 } else { sample };
            let mul = &mul[m * d..(m + 1) * d];
            let add = &add[a * d..(a + 1) * d];
            let mean = src.iter().sum::<f32>() * inv_d;
            let var = src.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() * inv_d;
            let denom = (var + self.eps).sqrt();
            for (((o, &v), &mu), &ad) in dst.iter_mut().zip(src).zip(mul).zip(add) {
                *o = (v - mean) / denom * mu + ad;
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Plain layer norm over the last dim of `(B, N, D)` followed by `* mul + add`, fused (see
/// [`can_fuse`] for when this applies; callers keep the composed ops otherwise).
pub(crate) fn layer_norm_mul_add(
    x: &Tensor,
    mul: &Tensor,
    add: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    x.contiguous()?.apply_op3_no_bwd(
        &mul.contiguous()?,
        &add.contiguous()?,
        &LayerNormMulAdd { eps: eps as f32 },
    )
}

/// `e^x` for f32 in plain arithmetic the compiler vectorises (Cephes' `expf`: range reduction
/// by `ln 2`, a degree-6 polynomial, the exponent set in the bits); within about 1 ulp of the
/// libm `expf` for `x` in [-87, 88], 0 below (where `expf` is under 1.7e-38), `e^88` above.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let xc = x.clamp(-87.0, 88.0);
    let n = (xc * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
    let r = xc - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    // The low mantissa bits of `n + 127 + MAGIC` hold the integer n + 127; shifted by 23
    // they are the biased exponent of 2^n (n is in [-126, 127] after the clamp).
    let scale = f32::from_bits((n + (MAGIC + 127.0)).to_bits() << 23);
    if x < -87.0 {
        0.0
    } else {
        p * scale
    }
}

/// A raw output pointer shared by the workers of one kernel, each writing its own rows.
#[derive(Clone, Copy)]
struct Out(*mut f32);
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// # Safety
    /// `i` must be inside the buffer and no other worker may write the same elements.
    unsafe fn at(&self, i: usize) -> *mut f32 {
        unsafe { self.0.add(i) }
    }
}

/// Runs `f(range)` over `0..items` on candle's CPU workers.
fn par_ranges(items: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    candle_core::utils::barrier_pool().execute_chunked(items, f);
}

/// Softmax over the last dim: `e^(x - max) / sum` per row, as `candle_nn`'s
/// `softmax_last_dim`, with [`exp_f32`].
struct SoftmaxLastDim;

impl candle_core::CustomOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "kino-softmax-last-dim"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, "softmax")?;
        let d = *l.shape().dims().last().unwrap_or(&1);
        let rows = x.len() / d.max(1);
        let mut out = vec![0f32; x.len()];
        let ptr = Out(out.as_mut_ptr());
        par_ranges(rows, |range| {
            for row in range {
                let src = &x[row * d..(row + 1) * d];
                // SAFETY: each row is written by exactly one worker, inside `out`.
                let dst = unsafe { std::slice::from_raw_parts_mut(ptr.at(row * d), d) };
                let max = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                for (o, &v) in dst.iter_mut().zip(src) {
                    *o = exp_f32(v - max);
                }
                // Eight running sums, so the loop vectorises (candle's sum is lane-wise too).
                let mut lanes = [0f32; 8];
                let d8 = dst.chunks_exact(8);
                let rest: f32 = d8.remainder().iter().sum();
                for o in d8 {
                    for i in 0..8 {
                        lanes[i] += o[i];
                    }
                }
                let sum = rest + lanes.iter().sum::<f32>();
                for o in dst.iter_mut() {
                    *o /= sum;
                }
            }
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// Softmax over the last dim of an f32 CPU tensor (see [`can_fuse`]).
pub(crate) fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&SoftmaxLastDim)
}

/// Scores held at once by [`attention`]: 2^20 f32 (4 MiB), so a chunk's scores stay in cache
/// between the two matmuls and the softmax.
const ATTENTION_SCORES: usize = 1 << 20;

/// Softmax attention `softmax(q k^T + bias) v` of `(B, H, N, Dh)` queries (already scaled)
/// and `(B, H, M, Dh)` keys and values, `bias` broadcast to the scores (`(B, 1, 1, M)`);
/// computed for blocks of query rows. Each row is independent, so the result does not depend
/// on the block size.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, h, _, _) = q.dims4()?;
    let chunk = (ATTENTION_SCORES / (b * h * k.dim(2)?).max(1)).max(16);
    attention_in_chunks(q, k, v, bias, chunk)
}

fn attention_in_chunks(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    chunk: usize,
) -> Result<Tensor> {
    let kt = k.t()?;
    let one = |q: &Tensor| -> Result<Tensor> {
        let scores = q.matmul(&kt)?;
        let scores = match bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        softmax_last_dim(&scores)?.matmul(v)
    };
    by_query_rows(q, chunk, one)
}

/// `one` applied to blocks of at most `chunk` rows of `q` along dim 2 (the query rows of
/// `(B, H, N, D)`), the results concatenated back: for attention, whose rows are independent,
/// the same as `one(q)` with at most `chunk` rows of scores alive at once.
pub(crate) fn by_query_rows(
    q: &Tensor,
    chunk: usize,
    one: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let n = q.dim(2)?;
    let chunk = chunk.max(1);
    if n <= chunk {
        return one(q);
    }
    let mut outs = Vec::with_capacity(n.div_ceil(chunk));
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        outs.push(one(&q.narrow(2, start, len)?)?);
        start += len;
    }
    Tensor::cat(&outs, 2)
}

/// The tanh-approximated GELU, `0.5 v (1 + tanh(u))` with `u = sqrt(2/pi) v (1 + 0.044715
/// v^2)`, evaluated as the identical `v / (1 + e^(-2u))` with [`exp_f32`].
struct GeluTanh;

const GELU_BLOCK: usize = 4096;

impl candle_core::CustomOp1 for GeluTanh {
    fn name(&self) -> &'static str {
        "kino-gelu-tanh"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
        let x = contiguous(s, l, "gelu")?;
        let len = x.len();
        let mut out = vec![0f32; len];
        let ptr = Out(out.as_mut_ptr());
        par_ranges(len.div_ceil(GELU_BLOCK), |range| {
            let (a, b) = (range.start * GELU_BLOCK, (range.end * GELU_BLOCK).min(len));
            // SAFETY: each block is written by exactly one worker, inside `out`.
            let dst = unsafe { std::slice::from_raw_parts_mut(ptr.at(a), b - a) };
            for (o, &v) in dst.iter_mut().zip(&x[a..b]) {
                let u = SQRT_TWO_OVER_PI * v * (1.0 + 0.044715 * v * v);
                *o = v / (1.0 + exp_f32(-2.0 * u));
            }
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// GELU (tanh approximation) of an f32 CPU tensor (see [`can_fuse`]).
pub(crate) fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&GeluTanh)
}

/// The tanh-approximated GELU of any tensor: the fused kernel where [`can_fuse`], candle's
/// `gelu` (the same formula) elsewhere.
pub(crate) fn gelu(x: &Tensor) -> Result<Tensor> {
    if can_fuse(&[x]) {
        gelu_tanh(x)
    } else {
        x.gelu()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp_f32(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp_f32(-1e9), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
    }

    #[test]
    fn kernels_match_candle() -> Result<()> {
        let x = (Tensor::randn(0f32, 3.0, (3, 5, 67), &Device::Cpu)? - 0.5)?;
        let diff =
            |a: Tensor, b: Tensor| -> Result<f32> { (a - b)?.abs()?.max_all()?.to_scalar::<f32>() };
        let s = diff(softmax_last_dim(&x)?, candle_nn::ops::softmax_last_dim(&x)?)?;
        assert!(s < 5e-7, "softmax {s}");
        let g = diff(gelu_tanh(&x)?, x.gelu()?)?;
        assert!(g < 1e-6, "gelu {g}");
        // Attention in blocks of query rows equals one block, and the composed ops.
        let dev = &Device::Cpu;
        let q = Tensor::randn(0f32, 0.5, (2, 3, 10, 8), dev)?;
        let k = Tensor::randn(0f32, 1.0, (2, 3, 7, 8), dev)?;
        let v = Tensor::randn(0f32, 1.0, (2, 3, 7, 8), dev)?;
        let mask = Tensor::new(&[[0f32, 0., 0., 0., -1e9, -1e9, 0.], [0.; 7]], dev)?;
        let bias = mask.reshape((2, 1, 1, 7))?;
        let whole = attention_in_chunks(&q, &k, &v, Some(&bias), 10)?;
        assert_eq!(
            diff(
                attention_in_chunks(&q, &k, &v, Some(&bias), 3)?,
                whole.clone()
            )?,
            0.0
        );
        let composed = candle_nn::ops::softmax(
            &q.matmul(&k.t()?)?.broadcast_add(&bias)?,
            candle_core::D::Minus1,
        )?
        .matmul(&v)?;
        let a = diff(whole, composed)?;
        assert!(a < 1e-6, "attention {a}");
        Ok(())
    }
}
