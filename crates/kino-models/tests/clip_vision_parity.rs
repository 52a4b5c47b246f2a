//! CLIP vision encoder and image preprocessing against transformers' `CLIPVisionModel` and
//! `CLIPImageProcessor` (tools/parity/clip_vision.py).
//!
//! The fixture holds a tiny random CLIP vision model under the checkpoint keys
//! (`vision_model.*`), a second one with quick-GELU under `quick_gelu.*` without the
//! `vision_model.` level (transformers 5's layout), two small RGB images, transformers'
//! `pixel_values` for them and the models' hidden states.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use common::{check, fixture, fixture_path, meta_str, rel_err};
use kino_models::clip_vision::{
    rgb8_to_tensor, ClipActivation, ClipImageProcessorConfig, ClipVisionConfig, ClipVisionModel,
    ImageSize,
};

const FIXTURE: &str = "clip_vision.safetensors";

fn vb() -> VarBuilder<'static> {
    // SAFETY: a test fixture, mapped read-only and not modified while mapped.
    unsafe {
        VarBuilder::from_mmaped_safetensors(&[fixture_path(FIXTURE)], DType::F32, &Device::Cpu)
    }
    .unwrap()
}

#[test]
fn matches_transformers_hidden_states() {
    let (fx, meta) = fixture(FIXTURE);
    let cfg = ClipVisionConfig::from_json(meta_str(&meta, "config")).unwrap();
    assert_eq!(cfg.hidden_act, ClipActivation::Gelu);
    assert_eq!(cfg.num_positions(), 17);
    println!("reference: {}", meta_str(&meta, "reference"));
    let model = ClipVisionModel::new(&cfg, vb()).unwrap();
    let pixel_values = &fx["__input.pixel_values"];

    let all = model.hidden_states(pixel_values).unwrap();
    assert_eq!(all.len(), cfg.num_hidden_layers + 1);
    let mut worst = 0f32;
    for (i, got) in all.iter().enumerate() {
        let want = &fx[&format!("__expected.hidden_states.{i}")];
        worst = worst.max(check(&format!("hidden_states[{i}]"), got, want));
    }
    let penultimate = model.penultimate_hidden_states(pixel_values).unwrap();
    worst = worst.max(check(
        "penultimate",
        &penultimate,
        &fx["__expected.penultimate"],
    ));
    // The penultimate is hidden_states[-2], computed without the last layer.
    assert!(rel_err(&penultimate, &all[all.len() - 2]) == 0.0);
    let last = model.forward(pixel_values).unwrap();
    let want_last = &fx[&format!("__expected.hidden_states.{}", cfg.num_hidden_layers)];
    worst = worst.max(check("last_hidden_state", &last, want_last));
    let pooled = model.pooled_output(&last).unwrap();
    worst = worst.max(check(
        "pooler_output",
        &pooled,
        &fx["__expected.pooler_output"],
    ));
    println!("worst relative error: {worst:.3e}");

    // Each image is independent of the other in the batch.
    let one = model
        .penultimate_hidden_states(&pixel_values.narrow(0, 1, 1).unwrap())
        .unwrap();
    assert!(rel_err(&one, &penultimate.narrow(0, 1, 1).unwrap()) < 1e-5);
}

#[test]
fn quick_gelu_and_top_level_keys() {
    let (fx, meta) = fixture(FIXTURE);
    let cfg = ClipVisionConfig::from_json(meta_str(&meta, "config_quick_gelu")).unwrap();
    assert_eq!(cfg.hidden_act, ClipActivation::QuickGelu);
    // The weights are at `quick_gelu.embeddings...`, with no `vision_model.` level.
    let model = ClipVisionModel::new(&cfg, vb().pp("quick_gelu")).unwrap();
    let got = model
        .penultimate_hidden_states(&fx["__input.pixel_values"])
        .unwrap();
    check(
        "quick_gelu penultimate",
        &got,
        &fx["__expected.quick_gelu.penultimate"],
    );
}

#[test]
fn preprocessing_matches_clip_image_processor() {
    let (fx, meta) = fixture(FIXTURE);
    let processor =
        ClipImageProcessorConfig::from_json(meta_str(&meta, "preprocessor_config")).unwrap();
    println!("processor: {}", meta_str(&meta, "processor_class"));
    assert_eq!(processor.crop_target().unwrap(), (28, 28));
    let sizes: Vec<(usize, usize)> = serde_json::from_str(meta_str(&meta, "image_sizes")).unwrap();
    let images = &fx["__input.images"];
    let want = &fx["__input.pixel_values"];
    for (i, &(h, w)) in sizes.iter().enumerate() {
        let image = images
            .narrow(0, i, 1)
            .unwrap()
            .narrow(2, 0, h)
            .unwrap()
            .narrow(3, 0, w)
            .unwrap();
        // The short side is already the shortest edge: the resize keeps the size.
        assert_eq!(processor.resize_target(h, w).unwrap(), (h, w));
        let got = processor.preprocess_resized(&image).unwrap();
        check(
            &format!("pixel_values[{i}] ({h}x{w})"),
            &got,
            &want.narrow(0, i, 1).unwrap(),
        );
        // The same pixels as interleaved RGB bytes.
        let bytes: Vec<u8> = image
            .squeeze(0)
            .unwrap()
            .permute((1, 2, 0))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .into_iter()
            .map(|v| v as u8)
            .collect();
        let from_bytes = rgb8_to_tensor(&bytes, h, w, &Device::Cpu).unwrap();
        assert_eq!(rel_err(&from_bytes, &image), 0.0);
    }

    // The resize size, against transformers' get_resize_output_image_size.
    let cases: Vec<[usize; 5]> = serde_json::from_str(meta_str(&meta, "resize_cases")).unwrap();
    for [h, w, size, nh, nw] in cases {
        let p = ClipImageProcessorConfig {
            size: ImageSize::Dict {
                shortest_edge: Some(size),
                height: None,
                width: None,
            },
            ..processor.clone()
        };
        assert_eq!(
            p.resize_target(h, w).unwrap(),
            (nh, nw),
            "{h}x{w} -> {size}"
        );
    }

    // Too small for the crop, wrong channel count.
    let small = Tensor::zeros((1, 3, 20, 40), DType::F32, &Device::Cpu).unwrap();
    assert!(processor.preprocess_resized(&small).is_err());
    let gray = Tensor::zeros((1, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
    assert!(processor.preprocess_resized(&gray).is_err());
}

#[test]
fn configs_presets_and_bad_inputs() {
    let h = ClipVisionConfig::vit_h_14();
    assert_eq!((h.num_positions(), h.head_dim(), h.grid()), (257, 80, 16));
    // A CLIPVisionModel config.json as the Wan I2V folders ship it (bookkeeping keys ignored).
    let json = r#"{"_name_or_path": "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        "architectures": ["CLIPVisionModel"], "attention_dropout": 0.0, "dropout": 0.0,
        "hidden_act": "gelu", "hidden_size": 1280, "image_size": 224, "initializer_factor": 1.0,
        "initializer_range": 0.02, "intermediate_size": 5120, "layer_norm_eps": 1e-05,
        "model_type": "clip_vision_model", "num_attention_heads": 16, "num_channels": 3,
        "num_hidden_layers": 32, "patch_size": 14, "projection_dim": 1024,
        "torch_dtype": "float32", "transformers_version": "4.48.0.dev0"}"#;
    assert_eq!(ClipVisionConfig::from_json(json).unwrap(), h);
    // A full CLIPConfig: its vision_config is used.
    let full = format!(r#"{{"model_type": "clip", "text_config": {{}}, "vision_config": {json}}}"#);
    assert_eq!(ClipVisionConfig::from_json(&full).unwrap(), h);
    // transformers' defaults (ViT-B/32, quick-GELU) for missing keys.
    let b32 = ClipVisionConfig::from_json("{}").unwrap();
    assert_eq!((b32.hidden_size, b32.patch_size), (768, 32));
    assert_eq!(b32.hidden_act, ClipActivation::QuickGelu);
    // Unknown activation, bad head split.
    assert!(ClipVisionConfig::from_json(r#"{"hidden_act": "relu"}"#).is_err());
    assert!(
        ClipVisionConfig::from_json(r#"{"hidden_size": 100, "num_attention_heads": 3}"#).is_err()
    );

    // open-clip's preprocessor_config.json in the old integer form reads as the defaults.
    let old = r#"{"crop_size": 224, "do_center_crop": true, "do_normalize": true,
        "do_resize": true, "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}"#;
    let p = ClipImageProcessorConfig::from_json(old).unwrap();
    assert_eq!(p.crop_target().unwrap(), (224, 224));
    assert_eq!(p.resize_target(480, 832).unwrap(), (224, 388));
    assert_eq!(
        ClipImageProcessorConfig::default()
            .resize_target(480, 832)
            .unwrap(),
        (224, 388)
    );

    // Missing keys are named; wrong input sizes are refused.
    let (fx, meta) = fixture(FIXTURE);
    let cfg = ClipVisionConfig::from_json(meta_str(&meta, "config")).unwrap();
    let weights: HashMap<String, Tensor> = fx
        .iter()
        .filter(|(k, _)| k.starts_with("vision_model."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for key in [
        "vision_model.embeddings.class_embedding",
        "vision_model.embeddings.patch_embedding.weight",
        "vision_model.pre_layrnorm.weight",
        "vision_model.encoder.layers.2.self_attn.q_proj.weight",
        "vision_model.encoder.layers.0.mlp.fc2.bias",
        "vision_model.post_layernorm.bias",
    ] {
        let mut partial = weights.clone();
        assert!(partial.remove(key).is_some(), "fixture lacks {key}");
        let vb = VarBuilder::from_tensors(partial, DType::F32, &Device::Cpu);
        let err = ClipVisionModel::new(&cfg, vb).expect_err("missing key must fail");
        println!("{key}: {}", err.to_string().lines().next().unwrap_or(""));
        assert!(
            err.to_string().contains(key),
            "error does not name {key}: {err}"
        );
    }
    let model = ClipVisionModel::new(
        &cfg,
        VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let wrong = Tensor::zeros((1, 3, 28, 35), DType::F32, &Device::Cpu).unwrap();
    assert!(model.penultimate_hidden_states(&wrong).is_err());
}
