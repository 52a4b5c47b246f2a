//! The released Wan folders' real tensor names and shapes (tools/parity/wan_shapes.py, from
//! diffusers' and transformers' own classes) against kino's networks: text-to-video and
//! image-to-video (Wan 2.1 I2V with its CLIP image encoder and image processor, Wan 2.2
//! TI2V-5B and I2V-A14B).
//!
//! Each model becomes a header-only diffusers folder: every safetensors file has the real
//! header and the real length, but is sparse (no data is written), so the 14B two-expert
//! model costs nothing on disk. `verify_folder` (what `kino models verify` runs) then builds
//! every network against the headers: each key and shape kino asks for must be there.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::fixture_path;
use kino_engine::wan::verify_folder;
use serde_json::{json, Value};

fn shapes() -> Value {
    let path = fixture_path("wan_shapes.json");
    serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap()
}

fn dtype_size(dtype: &str) -> u64 {
    match dtype {
        "F32" => 4,
        "BF16" | "F16" => 2,
        other => panic!("{other}"),
    }
}

/// Writes a sparse safetensors file holding `tensors` (name -> shape) of `dtype`.
fn write_sparse(path: &Path, tensors: &BTreeMap<String, Vec<u64>>, dtype: &str) -> u64 {
    let mut header = serde_json::Map::new();
    let mut offset = 0u64;
    for (name, shape) in tensors {
        let bytes = shape.iter().product::<u64>() * dtype_size(dtype);
        header.insert(
            name.clone(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut text = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut f = fs::File::create(path).unwrap();
    f.write_all(&(text.len() as u64).to_le_bytes()).unwrap();
    f.write_all(&text).unwrap();
    f.set_len(8 + text.len() as u64 + offset).unwrap();
    offset
}

fn tensors_of(net: &Value) -> BTreeMap<String, Vec<u64>> {
    net["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let shape = v
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            (k.clone(), shape)
        })
        .collect()
}

/// Builds the header-only folder of `model`; `edit` may change a network's tensors first.
fn build(
    root: &Path,
    model: &str,
    edit: impl Fn(&str, &mut BTreeMap<String, Vec<u64>>),
) -> PathBuf {
    let all = shapes();
    let m = &all["models"][model];
    let dir = root.join(model);
    fs::create_dir_all(dir.join("scheduler")).unwrap();
    fs::write(dir.join("model_index.json"), m["model_index"].to_string()).unwrap();
    fs::write(
        dir.join("scheduler/scheduler_config.json"),
        m["scheduler"].to_string(),
    )
    .unwrap();
    fs::create_dir_all(dir.join("tokenizer")).unwrap();
    fs::copy(
        fixture_path("umt5_tokenizer.json"),
        dir.join("tokenizer/tokenizer.json"),
    )
    .unwrap();
    if let Some(processor) = m.get("image_processor") {
        fs::create_dir_all(dir.join("image_processor")).unwrap();
        fs::write(
            dir.join("image_processor/preprocessor_config.json"),
            processor.to_string(),
        )
        .unwrap();
    }
    for (component, net_name) in m["components"].as_object().unwrap() {
        let net = &all["networks"][net_name.as_str().unwrap()];
        let cdir = dir.join(component);
        fs::create_dir_all(&cdir).unwrap();
        fs::write(cdir.join("config.json"), net["config"].to_string()).unwrap();
        let mut tensors = tensors_of(net);
        edit(component, &mut tensors);
        let dtype = net["dtype"].as_str().unwrap();
        let stem = if component == "text_encoder" || component == "image_encoder" {
            "model"
        } else {
            "diffusion_pytorch_model"
        };
        if component.starts_with("transformer") {
            // Large checkpoints come as shards with an index, as on the Hub.
            let names: Vec<&String> = tensors.keys().collect();
            let per = names.len().div_ceil(3);
            let mut weight_map = serde_json::Map::new();
            let mut total = 0;
            for (i, chunk) in names.chunks(per).enumerate() {
                let file = format!("{stem}-{:05}-of-00003.safetensors", i + 1);
                let part: BTreeMap<String, Vec<u64>> = chunk
                    .iter()
                    .map(|n| ((*n).clone(), tensors[*n].clone()))
                    .collect();
                for n in part.keys() {
                    weight_map.insert(n.clone(), json!(file));
                }
                total += write_sparse(&cdir.join(&file), &part, dtype);
            }
            fs::write(
                cdir.join(format!("{stem}.safetensors.index.json")),
                json!({"metadata": {"total_size": total}, "weight_map": weight_map}).to_string(),
            )
            .unwrap();
        } else {
            write_sparse(&cdir.join(format!("{stem}.safetensors")), &tensors, dtype);
        }
    }
    dir
}

#[test]
fn released_wan_folders_verify_with_their_real_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let all = shapes();
    for model in all["models"].as_object().unwrap().keys() {
        let dir = build(tmp.path(), model, |_, _| {});
        let report = verify_folder(&dir).unwrap_or_else(|e| panic!("{model}: {e}"));
        let params: u64 = report
            .iter()
            .filter(|c| c.class == "WanTransformer3DModel" && c.name == "transformer")
            .map(|c| c.bytes / 2)
            .sum();
        eprintln!(
            "{model}: transformer ~{:.2} B parameters",
            params as f64 / 1e9
        );
        let names: Vec<&str> = report.iter().map(|c| c.name.as_str()).collect();
        for want in [
            "scheduler",
            "text_encoder",
            "tokenizer",
            "transformer",
            "vae",
        ] {
            assert!(names.contains(&want), "{model}: {names:?}");
        }
        if all["models"][model].get("image_processor").is_some() {
            for want in ["image_encoder", "image_processor"] {
                assert!(names.contains(&want), "{model}: {names:?}");
            }
        }
    }
}

/// `model`'s header-only folder, with `edit` applied to `component`'s tensors, fails to
/// verify with an error naming `key`.
fn refused_naming(
    model: &str,
    component: &str,
    key: &str,
    edit: impl Fn(&mut BTreeMap<String, Vec<u64>>),
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build(tmp.path(), model, |c, t| {
        if c == component {
            edit(t);
        }
    });
    let err = verify_folder(&dir).unwrap_err().to_string();
    assert!(err.contains(key), "{err}");
}

#[test]
fn the_real_image_encoder_is_checked_key_by_key() {
    let model = "Wan2.1-I2V-14B-480P-Diffusers";
    let key = "vision_model.encoder.layers.30.mlp.fc1.weight";
    refused_naming(model, "image_encoder", key, |t| {
        t.remove(key).unwrap();
    });

    // The image branch of the transformer is checked too.
    let key = "blocks.12.attn2.add_k_proj.weight";
    refused_naming(model, "transformer", key, |t| {
        t.get_mut(key).unwrap()[1] -= 1;
    });
}

#[test]
fn a_wrong_or_missing_real_key_is_named() {
    let model = "Wan2.1-T2V-1.3B-Diffusers";
    let key = "blocks.7.ffn.net.0.proj.weight";
    refused_naming(model, "transformer", key, |t| {
        t.get_mut(key).unwrap()[0] += 1;
    });

    let key = "encoder.block.3.layer.0.SelfAttention.relative_attention_bias.weight";
    refused_naming(model, "text_encoder", key, |t| {
        t.remove(key).unwrap();
    });
}
