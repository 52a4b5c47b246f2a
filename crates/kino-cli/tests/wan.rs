//! Wan diffusers folders through the `kino` binary: `kino models verify`, `kino dev forward`
//! against diffusers' own outputs (tools/parity/wan_dev_forward.py), and `kino generate`
//! from a folder with a (random, test-only) umT5 text encoder, signed and verified.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use candle_core::{DType, Device};
use common::{
    assert_ok, copy_dir, fixtures, load_tensors as load, rel_err, run_kino as kino, text,
};

/// Asserts that a run failed, saying each of `needles` (in its stdout or stderr).
fn assert_refused(o: &Output, needles: &[&str]) {
    assert!(!o.status.success(), "{}", text(o));
    let out = text(o);
    for needle in needles {
        assert!(out.contains(needle), "no {needle:?} in: {out}");
    }
}

/// `kino verify FILE` succeeds; returns what it printed.
fn assert_verifies(data: &Path, file: &Path) -> String {
    let o = kino(data, &["verify", file.to_str().unwrap()]);
    assert_ok(&o);
    text(&o)
}

/// `kino dev forward` of `component` of the folder `model` on the tensors in `inputs`,
/// written to `out`, with `extra` arguments.
fn dev_forward(
    data: &Path,
    model: &Path,
    component: &str,
    inputs: &Path,
    out: &Path,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "dev",
        "forward",
        "--model",
        model.to_str().unwrap(),
        "--component",
        component,
        "--inputs",
        inputs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    kino(data, &args)
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
        let o = dev_forward(data.path(), &model, component, &input, &out, &[]);
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
    let vae_input = dir.join("vae-decode.in.safetensors");
    let x = tmp.path().join("x.safetensors");
    let o = dev_forward(data.path(), &model, "transformer", &vae_input, &x, &[]);
    assert_refused(&o, &["no input tensor 'hidden_states'"]);
    // The VAE in bf16 on the CPU is refused up front (candle has no bf16 convolution there).
    let o = dev_forward(
        data.path(),
        &model,
        "vae-decode",
        &vae_input,
        &x,
        &["--dtype", "bf16"],
    );
    assert_refused(&o, &["--dtype bf16", "--device cuda"]);
}

/// The tiny parity folder plus a random umT5 encoder (d_model = the transformer's text_dim)
/// and the fixture tokenizer, so the whole text -> video path runs.
fn folder_with_text_encoder(root: &Path) -> PathBuf {
    fixture_with_text_encoder(root, "wan_pipeline", "tiny-wan", 32)
}

/// The parity fixture folder `fixture` copied to `root/name` with a random umT5 encoder of
/// width `d_model` (the transformer's text_dim) and the fixture tokenizer.
fn fixture_with_text_encoder(root: &Path, fixture: &str, name: &str, d_model: usize) -> PathBuf {
    let dir = root.join(name);
    copy_dir(&fixtures().join(fixture), &dir);
    std::fs::remove_file(dir.join("inputs.safetensors")).unwrap();
    let cfg_json =
        r#"{"vocab_size": 128, "d_model": D_MODEL, "d_kv": 8, "d_ff": 48, "num_layers": 2,
        "num_heads": 4, "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16,
        "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": true,
        "layer_norm_epsilon": 1e-6, "pad_token_id": 0, "eos_token_id": 1}"#
            .replace("D_MODEL", &d_model.to_string());
    let cfg = kino_models::umt5::Umt5Config::from_json(&cfg_json).unwrap();
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    // The encoder looks for the embedding under either key; create it first so it is found.
    let randn = candle_nn::Init::Randn {
        mean: 0.0,
        stdev: 1.0,
    };
    vb.get_with_hints((128, d_model), "shared.weight", randn)
        .unwrap();
    kino_models::umt5::Umt5Encoder::new(&cfg, vb).unwrap();
    std::fs::create_dir_all(dir.join("text_encoder")).unwrap();
    std::fs::write(dir.join("text_encoder/config.json"), &cfg_json).unwrap();
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
    assert_ok(&o);
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
    assert_ok(&o);
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
    assert_verifies(data.path(), &out);

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
    assert_ok(&o);
    let (a, b) = (
        kino_media::probe(&out).unwrap(),
        kino_media::probe(&remixed).unwrap(),
    );
    let (va, vb) = (&a.streams[0], &b.streams[0]);
    assert_eq!(
        (va.width, va.height, va.samples),
        (vb.width, vb.height, vb.samples)
    );
    let report = assert_verifies(data.path(), &remixed);
    assert!(
        report.contains("c2pa.edited") || report.contains("c2pa.opened"),
        "{report}"
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
    assert_refused(&o, &["image-to-video"]);

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
    assert_refused(&o, &["image-to-video"]);
}

/// `kino generate --image FIRST --last-frame LAST` on a model that takes a last frame (the Wan
/// 2.2 I2V-A14B-style fixture): the clip's last shot ends on the frame generated from LAST,
/// so its length is rounded up to the model's 2k + 1 frames (9 for 1 s at 8 fps, where the
/// same run without --last-frame keeps 8), and it is signed. Models without a last frame
/// (the shipped kino-tiny, a text-to-video Wan folder) refuse the flag, naming it and the
/// model; a last frame without a first one is refused too.
#[test]
fn generate_with_a_last_frame_ends_on_it_and_others_refuse_it() {
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture_with_text_encoder(tmp.path(), "wan_i2v_a14b", "tiny-flf2v", 24);
    let first = tmp.path().join("first.png");
    let last = tmp.path().join("last.png");
    image::RgbImage::from_fn(96, 80, |x, y| {
        image::Rgb([200, (x * 2) as u8, (y * 3) as u8])
    })
    .save(&first)
    .unwrap();
    image::RgbImage::from_fn(96, 80, |x, y| {
        image::Rgb([(y * 3) as u8, 40, (x * 2) as u8])
    })
    .save(&last)
    .unwrap();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "generate",
            "A red ball rolls across a wooden table.",
            "--model",
            model.to_str().unwrap(),
            "--size",
            "128x128",
            "--seconds",
            "1",
            "--fps",
            "8",
            "--steps",
            "2",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        kino(data.path(), &args)
    };
    let frames = |path: &Path| {
        let info = kino_media::probe(path).unwrap();
        let video = info.streams.iter().find(|s| s.kind == "video").unwrap();
        assert_eq!(
            (video.width, video.height),
            (Some(128), Some(128)),
            "{info:?}"
        );
        video.samples
    };

    let flf = tmp.path().join("flf.mp4");
    let o = run(
        &flf,
        &[
            "--image",
            first.to_str().unwrap(),
            "--last-frame",
            last.to_str().unwrap(),
        ],
    );
    assert_ok(&o);
    let plain = tmp.path().join("plain.mp4");
    let o = run(&plain, &["--image", first.to_str().unwrap()]);
    assert_ok(&o);
    assert_eq!((frames(&flf), frames(&plain)), (9, 8));
    assert_verifies(data.path(), &flf);

    // A last frame needs a first frame.
    let o = run(
        &tmp.path().join("x.mp4"),
        &["--last-frame", last.to_str().unwrap()],
    );
    assert_refused(&o, &["--last-frame", "--image"]);
    // An unreadable last frame is named.
    let missing = tmp.path().join("missing.png");
    let o = run(
        &tmp.path().join("x.mp4"),
        &[
            "--image",
            first.to_str().unwrap(),
            "--last-frame",
            missing.to_str().unwrap(),
        ],
    );
    assert_refused(&o, &["reading last frame", "missing.png"]);

    // Refused by a text-to-video Wan folder and by kino-tiny, naming the flag and the model.
    let t2v = folder_with_text_encoder(tmp.path());
    for (model, name) in [
        (Some(t2v.to_str().unwrap()), "tiny-wan"),
        (None, "kino-tiny"),
    ] {
        let out = tmp.path().join("refused.mp4");
        let mut args = vec![
            "generate",
            "a red square",
            "--image",
            first.to_str().unwrap(),
            "--last-frame",
            last.to_str().unwrap(),
            "--steps",
            "1",
            "-o",
            out.to_str().unwrap(),
        ];
        if let Some(m) = model {
            args.extend_from_slice(&["--model", m]);
        }
        let o = kino(data.path(), &args);
        assert!(!o.status.success(), "{name}: {}", text(&o));
        let msg = text(&o);
        assert!(
            msg.contains("--last-frame")
                && msg.contains(name)
                && msg.contains("takes no last frame"),
            "{name}: {msg}"
        );
        assert!(!out.exists(), "{name}: nothing is written");
    }
}
