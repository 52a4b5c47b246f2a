//! Seeded Gaussian noise that is the same on every machine and backend.
//!
//! candle's CPU `randn` draws from a thread-local generator that cannot be seeded, so kino
//! draws its own with the world's deterministic generator ([`kino_world::rng::Rng`],
//! SplitMix64 + Box-Muller), on the CPU, and moves it to the target device. A
//! (seed, stream) pair names one sequence.

use candle_core::{Device, Result, Shape, Tensor};
use kino_world::rng::Rng;

/// A standard-normal tensor of `shape`, determined by `(seed, stream)`.
pub fn randn(seed: u64, stream: u64, shape: impl Into<Shape>, device: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let mut rng = Rng::stream(seed, stream);
    let data: Vec<f32> = (0..shape.elem_count()).map(|_| rng.normal()).collect();
    Tensor::from_vec(data, shape, &Device::Cpu)?.to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_noise_and_moments_are_standard() {
        let a = randn(7, 1, (4, 1000), &Device::Cpu).unwrap();
        let b = randn(7, 1, (4, 1000), &Device::Cpu).unwrap();
        let c = randn(7, 2, (4, 1000), &Device::Cpu).unwrap();
        assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        assert_ne!(a.to_vec2::<f32>().unwrap(), c.to_vec2::<f32>().unwrap());
        let v: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.06,
            "{mean} {var}"
        );
    }
}
