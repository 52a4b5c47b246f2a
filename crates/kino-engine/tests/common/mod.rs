//! Helpers shared by kino-engine's integration tests (`mod common;`): where the workspace's
//! fixtures are, loading the Python references' safetensors fixtures with their metadata,
//! and measuring how far an output is from the expected one. Each test binary uses only some
//! of them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

/// `rel` below the workspace root.
pub fn workspace_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// `tools/parity/fixtures/<name>` (the folder itself for "").
pub fn fixture_path(name: &str) -> PathBuf {
    workspace_path("tools/parity/fixtures").join(name)
}

/// The tensors of the safetensors file at `path` and its metadata (`__metadata__`).
pub fn read_safetensors(path: &Path) -> (HashMap<String, Tensor>, serde_json::Value) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    (tensors, header["__metadata__"].clone())
}

/// A metadata entry that holds JSON text, parsed.
pub fn meta_json(meta: &serde_json::Value, key: &str) -> serde_json::Value {
    serde_json::from_str(
        meta[key]
            .as_str()
            .unwrap_or_else(|| panic!("metadata {key}")),
    )
    .unwrap()
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

/// Max |got - want| / max |want|, `got` taken as f32 (`want` is f32).
pub fn rel_err(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims());
    let got = got.to_dtype(DType::F32).unwrap();
    max_abs(&(&got - want).unwrap()) / max_abs(want)
}

/// A copy of the folder `from` (recursively) into the existing folder `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}
