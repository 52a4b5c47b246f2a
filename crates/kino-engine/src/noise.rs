//! Seeded Gaussian noise that is the same on every machine and backend.
//!
//! candle's CPU `randn` draws from a thread-local generator that cannot be seeded, so kino
//! draws its own: SplitMix64 for uniform bits, Box-Muller for normals, generated on the CPU
//! and moved to the target device. A (seed, stream) pair names one sequence.

use candle_core::{Device, Result, Shape, Tensor};

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut s = Self(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        s.next_u64();
        s
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn next_f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Uniform integer in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64).min(n as f64 - 1.0) as usize
    }

    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let (u1, u2) = (self.next_f64(), self.next_f64());
            let r = (-2.0 * u1.ln()).sqrt();
            let a = std::f64::consts::TAU * u2;
            out.push((r * a.cos()) as f32);
            out.push((r * a.sin()) as f32);
        }
        out.truncate(n);
        out
    }
}

/// A standard-normal tensor of `shape`, determined by `(seed, stream)`.
pub fn randn(seed: u64, stream: u64, shape: impl Into<Shape>, device: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let data = SplitMix64::new(seed, stream).normals(shape.elem_count());
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
