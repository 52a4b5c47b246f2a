//! LayerNorm over the last dim computed in f32, shared by the Wan transformer (diffusers'
//! `FP32LayerNorm`) and the CLIP vision encoder (`nn.LayerNorm`, cast back to its dtype).

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

/// LayerNorm over the last dim in f32, optionally affine.
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm32 {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm32 {
    /// Without parameters (`elementwise_affine=False`): weight 1, bias 0.
    pub(crate) fn plain(dim: usize, eps: f64, device: &Device) -> Result<Self> {
        Ok(Self {
            weight: Tensor::ones(dim, DType::F32, device)?,
            bias: Tensor::zeros(dim, DType::F32, device)?,
            eps: eps as f32,
        })
    }

    /// With `weight` and `bias` of `(dim,)` under `vb`, kept in f32.
    pub(crate) fn affine(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(dim, "weight")?.to_dtype(DType::F32)?,
            bias: vb.get(dim, "bias")?.to_dtype(DType::F32)?,
            eps: eps as f32,
        })
    }

    /// Normalises in f32 and returns f32.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(
            &x.to_dtype(DType::F32)?.contiguous()?,
            &self.weight,
            &self.bias,
            self.eps,
        )
    }

    /// Normalises in f32 and returns the input's dtype.
    pub(crate) fn forward_in_dtype(&self, x: &Tensor) -> Result<Tensor> {
        self.forward(x)?.to_dtype(x.dtype())
    }
}
