//! Helpers shared by kino-models' integration tests (`mod common;`): loading the Python
//! references' fixtures (tools/parity/fixtures) and measuring how far an output is from the
//! expected one. Each test binary uses only some of them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

/// Max |error| relative to max |expected| allowed, in f32.
pub const TOLERANCE: f32 = 1e-4;

/// `tools/parity/fixtures/<name>`.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/parity/fixtures")
        .join(name)
}

/// The fixture's tensors and its metadata.
pub fn fixture(name: &str) -> (HashMap<String, Tensor>, serde_json::Value) {
    let path = fixture_path(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    (tensors, header["__metadata__"].clone())
}

/// A string entry of a fixture's metadata.
pub fn meta_str<'a>(meta: &'a serde_json::Value, key: &str) -> &'a str {
    meta[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} metadata"))
}

/// Max |x| (an f32 tensor).
pub fn max_abs(x: &Tensor) -> f32 {
    x.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Max |got - want| / max |want|.
pub fn rel_err(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims());
    max_abs(&(got - want).unwrap()) / max_abs(want)
}

/// Asserts that `got` has `want`'s shape and is within [`TOLERANCE`] of it (relative, see
/// [`rel_err`]), printing the error; returns it.
pub fn check(what: &str, got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let err = rel_err(got, want);
    println!(
        "  {what} {:?}: max |diff| / max |expected| = {err:.3e} (max |expected| {:.3})",
        want.dims(),
        max_abs(want)
    );
    assert!(err <= TOLERANCE, "{what}: relative error {err}");
    err
}

/// Max |a - b| (same shapes).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    max_abs(&(a - b).unwrap())
}
