//! Wan diffusers folders through the `kino` binary: `kino models verify`, `kino dev forward`
//! against diffusers' own outputs (tools/parity/wan_dev_forward.py), and `kino generate`
//! from a folder with a (random, test-only) umT5 text encoder, signed and verified.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/parity/fixtures")
}

fn kino(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kino"))
        .env("KINO_DATA_DIR", data)
        .args(args)
        .output()
        .expect("run kino")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

fn load(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rel_err(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims());
    let max = |t: &Tensor| {
        t.abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    max(&(got - want).unwrap()) / max(want)
}

#[test]
fn models_verify_reads_diffusers_folders_and_names_what_is_broken() {
    let data = tempfile::tempdir().unwrap();
    let good = fixtures().join("wan_pipeline_moe");
    let o = kino(data.path(), &["models", "verify", good.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("transformer_2") && out.contains("WanTransformer3DModel"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("ok"), "{out}");

    let o = kino(
        data.path(),
        &["models", "list", fixtures().to_str().unwrap()],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("wan_pipeline_moe") && l.contains("WanPipeline")),
        "{out}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("wan");
    copy_dir(&good, &broken);
    let vae = broken.join("vae/diffusion_pytorch_model.safetensors");
    let bytes = std::fs::read(&vae).unwrap();
    std::fs::write(&vae, &bytes[..bytes.len() / 2]).unwrap();
    let o = kino(data.path(), &["models", "verify", broken.to_str().unwrap()]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("vae/diffusion_pytorch_model.safetensors") && out.contains("truncated"),
        "{out}"
    );
}

#[test]
fn dev_forward_matches_diffusers() {
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let model = fixtures().join("wan_pipeline");
    let dir = fixtures().join("wan_dev_forward");
    for component in ["transformer", "vae-decode", "vae-encode"] {
        let input = dir.join(format!("{component}.in.safetensors"));
        let out = tmp.path().join(format!("{component}.safetensors"));
        let o = kino(
            data.path(),
            &[
                "dev",
                "forward",
                "--model",
                model.to_str().unwrap(),
                "--component",
                component,
                "--inputs",
                input.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{component}: {}", text(&o));
        let got = load(&out);
        let want = load(&dir.join(format!("{component}.out.safetensors")));
        assert_eq!(got.len(), want.len(), "{component}");
        for (name, w) in &want {
            let err = rel_err(&got[name], w);
            assert!(err <= 1e-4, "{component} {name}: relative error {err:e}");
        }
    }
    // A missing input is named.
    let o = kino(
        data.path(),
        &[
            "dev",
            "forward",
            "--model",
            model.to_str().unwrap(),
            "--component",
            "transformer",
            "--inputs",
            dir.join("vae-decode.in.safetensors").to_str().unwrap(),
            "--out",
            tmp.path().join("x.safetensors").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no input tensor 'hidden_states'"),
        "{}",
        text(&o)
    );
}

/// The tiny parity folder plus a random umT5 encoder (d_model = the transformer's text_dim)
/// and the fixture tokenizer, so the whole text -> video path runs.
fn folder_with_text_encoder(root: &Path) -> PathBuf {
    let dir = root.join("tiny-wan");
    copy_dir(&fixtures().join("wan_pipeline"), &dir);
    std::fs::remove_file(dir.join("inputs.safetensors")).unwrap();
    let cfg_json = r#"{"vocab_size": 128, "d_model": 32, "d_kv": 8, "d_ff": 48, "num_layers": 2,
        "num_heads": 4, "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16,
        "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": true,
        "layer_norm_epsilon": 1e-6, "pad_token_id": 0, "eos_token_id": 1}"#;
    let cfg = kino_models::umt5::Umt5Config::from_json(cfg_json).unwrap();
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    // The encoder looks for the embedding under either key; create it first so it is found.
    let randn = candle_nn::Init::Randn {
        mean: 0.0,
        stdev: 1.0,
    };
    vb.get_with_hints((128, 32), "shared.weight", randn)
        .unwrap();
    kino_models::umt5::Umt5Encoder::new(&cfg, vb).unwrap();
    std::fs::create_dir_all(dir.join("text_encoder")).unwrap();
    std::fs::write(dir.join("text_encoder/config.json"), cfg_json).unwrap();
    varmap
        .save(dir.join("text_encoder/model.safetensors"))
        .unwrap();
    std::fs::create_dir_all(dir.join("tokenizer")).unwrap();
    std::fs::copy(
        fixtures().join("umt5_tokenizer.json"),
        dir.join("tokenizer/tokenizer.json"),
    )
    .unwrap();
    let index_path = dir.join("model_index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    index["text_encoder"] = serde_json::json!(["transformers", "UMT5EncoderModel"]);
    index["tokenizer"] = serde_json::json!(["transformers", "T5TokenizerFast"]);
    std::fs::write(&index_path, index.to_string()).unwrap();
    dir
}

#[test]
fn generate_from_a_wan_folder_writes_a_signed_clip() {
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let model = folder_with_text_encoder(tmp.path());
    let o = kino(data.path(), &["models", "verify", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("UMT5EncoderModel"), "{}", text(&o));

    // 128x128: the invisible watermark needs frames about that size or larger.
    let out = tmp.path().join("wan.mp4");
    let o = kino(
        data.path(),
        &[
            "generate",
            "A red ball rolls across a wooden table. No people.",
            "--model",
            model.to_str().unwrap(),
            "--size",
            "128x128",
            "--seconds",
            "2",
            "--fps",
            "8",
            "--steps",
            "3",
            "--seed",
            "7",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let info = kino_media::probe(&out).unwrap();
    let video = info
        .streams
        .iter()
        .find(|s| s.kind == "video")
        .unwrap_or_else(|| panic!("{info:?}"));
    assert_eq!(
        (video.width, video.height),
        (Some(128), Some(128)),
        "{info:?}"
    );
    let o = kino(data.path(), &["verify", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    // Remix (video-to-video) keeps the source's size and length and is signed as an edit.
    let remixed = tmp.path().join("remix.mp4");
    let o = kino(
        data.path(),
        &[
            "remix",
            out.to_str().unwrap(),
            "A blue ball rolls across a wooden table.",
            "--model",
            model.to_str().unwrap(),
            "--strength",
            "0.7",
            "--steps",
            "3",
            "-o",
            remixed.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let (a, b) = (
        kino_media::probe(&out).unwrap(),
        kino_media::probe(&remixed).unwrap(),
    );
    let (va, vb) = (&a.streams[0], &b.streams[0]);
    assert_eq!(
        (va.width, va.height, va.samples),
        (vb.width, vb.height, vb.samples)
    );
    let o = kino(data.path(), &["verify", remixed.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("c2pa.edited") || text(&o).contains("c2pa.opened"),
        "{}",
        text(&o)
    );

    // Extending needs first-frame conditioning, which this text-to-video folder lacks.
    let o = kino(
        data.path(),
        &[
            "extend",
            out.to_str().unwrap(),
            "the ball stops",
            "--model",
            model.to_str().unwrap(),
            "--seconds",
            "1",
            "-o",
            tmp.path().join("ext.mp4").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("image-to-video"), "{}", text(&o));

    // Image-to-video is refused clearly for a text-to-video folder.
    let png = tmp.path().join("first.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([200, 30, 30]))
        .save(&png)
        .unwrap();
    let o = kino(
        data.path(),
        &[
            "generate",
            "a red square",
            "--model",
            model.to_str().unwrap(),
            "--image",
            png.to_str().unwrap(),
            "--size",
            "32x32",
            "--steps",
            "2",
            "-o",
            tmp.path().join("i2v.mp4").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("image-to-video"), "{}", text(&o));
}
