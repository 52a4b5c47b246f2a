//! `--device`: where the networks run.

use anyhow::{bail, Context, Result};
use candle_core::Device;

/// Parses `cpu`, `cuda` or `cuda:N`. CUDA needs a binary built with `--features cuda`.
pub fn parse(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    let ordinal = match spec.as_str() {
        "cpu" => return Ok(Device::Cpu),
        "cuda" | "gpu" => 0,
        s => match s.strip_prefix("cuda:") {
            Some(n) => n
                .parse::<usize>()
                .with_context(|| format!("--device {spec}: '{n}' is not a GPU number"))?,
            None => bail!("--device {spec}: expected cpu, cuda or cuda:N"),
        },
    };
    if !cfg!(feature = "cuda") {
        bail!(
            "--device {spec}: this kino was built without CUDA; rebuild with \
             `cargo build --release --features cuda` (see docs/cuda.md)"
        );
    }
    Device::new_cuda(ordinal)
        .with_context(|| format!("--device {spec}: no usable CUDA GPU {ordinal}"))
}
