//! The Wan pipeline against diffusers' `WanPipeline` (tools/parity/wan_pipeline.py).
//!
//! Each fixture is a complete diffusers folder, written by `save_pretrained` (tiny random
//! networks, no text encoder), loaded here with the production loader, plus
//! `inputs.safetensors`: prompt embeddings, the initial noise, and diffusers' denoised
//! latents and decoded video. `wan_pipeline` is Wan 2.1 style (UniPC, one transformer);
//! `wan_pipeline_moe` is Wan 2.2 A14B style (two experts switching at boundary_ratio,
//! guidance_scale_2, flow-match Euler, transformers stored as shards with an index.json).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use kino_engine::wan::{WanModel, WanSampling};
use kino_engine::NoProgress;

const TOLERANCE: f32 = 1e-4;

fn folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/parity/fixtures")
        .join(name)
}

fn inputs(dir: &Path) -> (HashMap<String, Tensor>, serde_json::Value) {
    let path = dir.join("inputs.safetensors");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let call: serde_json::Value =
        serde_json::from_str(header["__metadata__"]["call"].as_str().unwrap()).unwrap();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    (tensors, call)
}

fn max_abs(x: &Tensor) -> f32 {
    x.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn rel_err(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims());
    max_abs(&(got - want).unwrap()) / max_abs(want)
}

fn run(name: &str) {
    let dir = folder(name);
    let model = WanModel::load(&dir, DType::F32, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()));
    let (t, call) = inputs(&dir);
    let args = WanSampling {
        steps: call["num_inference_steps"].as_u64().unwrap() as usize,
        guidance: call["guidance_scale"].as_f64().unwrap(),
        guidance_2: call["guidance_scale_2"].as_f64(),
        solver: None,
        shift: None,
    };
    let latents = model
        .denoise(
            &t["latents"],
            &t["prompt_embeds"],
            Some(&t["negative_prompt_embeds"]),
            &args,
            &mut NoProgress,
        )
        .unwrap();
    let err = rel_err(&latents, &t["expected.latents"]);
    eprintln!("{name}: latents relative error {err:e}");
    assert!(err <= TOLERANCE, "{name}: latents relative error {err:e}");

    // diffusers' "pt" output: (B, F, C, H, W) in [0, 1].
    let video = model.decode(&latents).unwrap();
    let video = ((video / 2.0).unwrap() + 0.5)
        .unwrap()
        .clamp(0f32, 1f32)
        .unwrap()
        .permute((0, 2, 1, 3, 4))
        .unwrap();
    let err = rel_err(&video, &t["expected.video"]);
    eprintln!("{name}: video relative error {err:e}");
    assert!(err <= TOLERANCE, "{name}: video relative error {err:e}");
}

#[test]
fn wan2_1_style_pipeline_matches_diffusers() {
    run("wan_pipeline");
}

#[test]
fn wan2_2_two_expert_pipeline_matches_diffusers() {
    run("wan_pipeline_moe");
}

#[test]
fn a_truncated_shard_is_reported_by_file() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&folder("wan_pipeline_moe"), tmp.path());
    let shard = tmp
        .path()
        .join("transformer/diffusion_pytorch_model-00002-of-00004.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 100]).unwrap();
    let err = WanModel::load(tmp.path(), DType::F32, &Device::Cpu)
        .err()
        .expect("a truncated shard must not load")
        .to_string();
    assert!(
        err.contains("00002-of-00004") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn a_missing_key_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&folder("wan_pipeline"), tmp.path());
    // Rewrite the transformer without one weight.
    let path = tmp
        .path()
        .join("transformer/diffusion_pytorch_model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let key = "blocks.1.attn2.to_k.weight";
    assert!(tensors.remove(key).is_some());
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = WanModel::load(tmp.path(), DType::F32, &Device::Cpu)
        .err()
        .expect("a missing key must not load")
        .to_string();
    assert!(err.contains(key), "{err}");
}

#[test]
fn an_unknown_folder_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let err = WanModel::load(tmp.path(), DType::F32, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model_index.json"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
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
