//! Wan transformer against diffusers' `WanTransformer3DModel` (tools/parity/wan_transformer.py).
//!
//! The fixture holds a tiny random Wan transformer under its exact diffusers state-dict keys,
//! the config as metadata, inputs under `__input.*` and diffusers' outputs under
//! `__expected.*`. The model is loaded the way a real checkpoint is: memory-mapped
//! safetensors through a candle `VarBuilder`, the config parsed from diffusers' JSON.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use common::{check, fixture, fixture_path, meta_str, rel_err};
use kino_models::wan_transformer::{chunked_attention, WanTransformer, WanTransformerConfig};

/// The main fixture: patch (1, 2, 2) as in every released Wan, head dim 16 (rotary 8/4/4).
const MAIN: &str = "wan_transformer.safetensors";
/// The variant: temporal patch 2, head dim 12 (rotary 4/4/4), no cross-attention norm.
const PT2: &str = "wan_transformer_pt2.safetensors";

fn config(meta: &serde_json::Value) -> WanTransformerConfig {
    WanTransformerConfig::from_diffusers_json(meta_str(meta, "config")).unwrap()
}

fn load_model(name: &str, cfg: &WanTransformerConfig) -> WanTransformer {
    WanTransformer::load(cfg, &[fixture_path(name)], DType::F32, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading the fixture: {e}"))
}

/// Runs every saved case of one fixture (each timestep, then the per-token timesteps) and
/// returns the worst relative error.
fn check_fixture(name: &str, rope_dims: [usize; 3]) -> f32 {
    let (fx, meta) = fixture(name);
    let cfg = config(&meta);
    assert_eq!(cfg.rope_dims(), rope_dims, "{name}: rotary t/h/w split");
    let model = load_model(name, &cfg);
    let x = &fx["__input.hidden_states"];
    let text = &fx["__input.encoder_hidden_states"];
    let timesteps: Vec<u32> = serde_json::from_str(meta_str(&meta, "timesteps")).unwrap();
    assert!(timesteps.len() >= 3, "{timesteps:?}");
    println!(
        "{name}: patch {:?}, reference {}",
        cfg.patch_size,
        meta["reference"].as_str().unwrap_or("(not recorded)")
    );
    let mut worst = 0f32;
    let mut outputs = Vec::new();
    for t in &timesteps {
        let timestep = &fx[&format!("__input.timestep.t{t}")];
        let want = &fx[&format!("__expected.t{t}")];
        let got = model.forward(x, timestep, text).unwrap();
        assert_eq!(got.dims(), x.dims());
        worst = worst.max(check(&format!("{name} t={t}"), &got, want));
        outputs.push(got);
    }
    // The timestep matters: different timesteps give clearly different outputs.
    let spread = rel_err(&outputs[0], &outputs[outputs.len() - 1]);
    assert!(
        spread > 1e-2,
        "{name}: outputs barely depend on the timestep ({spread})"
    );

    // Wan 2.2 TI2V: one timestep per latent token.
    let timestep = &fx["__input.timestep.ti2v"];
    let got = model.forward(x, timestep, text).unwrap();
    let err = check(
        &format!("{name} per-token timesteps {:?}", timestep.dims()),
        &got,
        &fx["__expected.ti2v"],
    );
    worst.max(err)
}

#[test]
fn matches_diffusers_for_every_timestep() {
    let worst = check_fixture(MAIN, [8, 4, 4]);
    println!("worst relative error: {worst:.3e}");
}

#[test]
fn matches_diffusers_with_temporal_patch_and_no_cross_norm() {
    let (_, meta) = fixture(PT2);
    let cfg = config(&meta);
    assert_eq!(cfg.patch_size, [2, 2, 2]);
    assert!(!cfg.cross_attn_norm);
    let worst = check_fixture(PT2, [4, 4, 4]);
    println!("worst relative error: {worst:.3e}");
}

#[test]
fn chunked_attention_equals_unchunked() {
    let (fx, meta) = fixture(MAIN);
    let cfg = config(&meta);
    let x = &fx["__input.hidden_states"];
    let text = &fx["__input.encoder_hidden_states"];
    let t = &fx["__input.timestep.t500"];
    // 48 tokens: chunks of 5 leave a ragged last chunk, 48 and MAX are a single chunk.
    let full = load_model(MAIN, &cfg)
        .with_attention_chunk(usize::MAX)
        .forward(x, t, text)
        .unwrap();
    for chunk in [1, 5, 16, 48] {
        let got = load_model(MAIN, &cfg)
            .with_attention_chunk(chunk)
            .forward(x, t, text)
            .unwrap();
        let err = rel_err(&got, &full);
        println!("attention chunk {chunk}: relative difference {err:.3e}");
        assert!(err <= 1e-6, "chunk {chunk}: {err}");
    }

    // The bare function, on a ragged size.
    let dev = Device::Cpu;
    let q = Tensor::randn(0f32, 1.0, (2, 3, 37, 16), &dev).unwrap();
    let k = Tensor::randn(0f32, 1.0, (2, 3, 11, 16), &dev).unwrap();
    let v = Tensor::randn(0f32, 1.0, (2, 3, 11, 16), &dev).unwrap();
    let whole = chunked_attention(&q, &k, &v, usize::MAX).unwrap();
    let scores = (q.matmul(&k.t().unwrap()).unwrap() / 4.0).unwrap();
    let naive = candle_nn::ops::softmax_last_dim(&scores)
        .unwrap()
        .matmul(&v)
        .unwrap();
    assert!(rel_err(&whole, &naive) < 1e-6);
    for chunk in [1, 4, 36, 37] {
        let got = chunked_attention(&q, &k, &v, chunk).unwrap();
        assert!(rel_err(&got, &whole) <= 1e-6, "chunk {chunk}");
    }
}

#[test]
fn missing_key_is_named() {
    let (fx, meta) = fixture(MAIN);
    let cfg = config(&meta);
    let weights: HashMap<String, Tensor> = fx
        .iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // The full set loads.
    let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, &Device::Cpu);
    WanTransformer::new(&cfg, vb).unwrap();

    for key in [
        "blocks.1.attn1.norm_k.weight",
        "condition_embedder.time_proj.bias",
        "blocks.0.ffn.net.0.proj.weight",
        "patch_embedding.weight",
        "scale_shift_table",
    ] {
        let mut partial = weights.clone();
        assert!(partial.remove(key).is_some(), "fixture lacks {key}");
        let vb = VarBuilder::from_tensors(partial, DType::F32, &Device::Cpu);
        let err = WanTransformer::new(&cfg, vb).expect_err("missing key must fail");
        println!("{key}: {}", err.to_string().lines().next().unwrap_or(""));
        assert!(
            err.to_string().contains(key),
            "error does not name {key}: {err}"
        );
    }

    // A wrong shape is named too.
    let mut wrong = weights;
    let key = "blocks.0.attn2.to_v.weight";
    wrong.insert(
        key.to_string(),
        Tensor::zeros((32, 31), DType::F32, &Device::Cpu).unwrap(),
    );
    let vb = VarBuilder::from_tensors(wrong, DType::F32, &Device::Cpu);
    let err = WanTransformer::new(&cfg, vb).err().unwrap();
    println!("{}", err.to_string().lines().next().unwrap_or(""));
    assert!(err.to_string().contains(key), "{err}");
}

#[test]
fn presets_and_bad_inputs() {
    let c = WanTransformerConfig::wan2_1_t2v_1_3b();
    assert_eq!((c.inner_dim(), c.num_layers, c.ffn_dim), (1536, 30, 8960));
    assert_eq!(c.rope_dims(), [44, 42, 42]);
    let c = WanTransformerConfig::wan2_1_t2v_14b();
    assert_eq!((c.inner_dim(), c.num_layers, c.ffn_dim), (5120, 40, 13824));
    assert_eq!(WanTransformerConfig::wan2_2_t2v_a14b(), c);
    let c = WanTransformerConfig::wan2_2_ti2v_5b();
    assert_eq!(
        (c.inner_dim(), c.in_channels, c.out_channels()),
        (3072, 48, 48)
    );
    for c in [
        WanTransformerConfig::wan2_1_t2v_1_3b(),
        WanTransformerConfig::wan2_1_t2v_14b(),
        WanTransformerConfig::wan2_2_ti2v_5b(),
    ] {
        c.validate().unwrap();
        // Round trip through the diffusers JSON form.
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(WanTransformerConfig::from_diffusers_json(&json).unwrap(), c);
    }
    // A diffusers config.json with its bookkeeping keys parses.
    let json = r#"{"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.33.0.dev0",
        "added_kv_proj_dim": null, "attention_head_dim": 128, "cross_attn_norm": true,
        "eps": 1e-06, "ffn_dim": 8960, "freq_dim": 256, "image_dim": null, "in_channels": 16,
        "num_attention_heads": 12, "num_layers": 30, "out_channels": 16,
        "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 1024,
        "text_dim": 4096}"#;
    assert_eq!(
        WanTransformerConfig::from_diffusers_json(json).unwrap(),
        WanTransformerConfig::wan2_1_t2v_1_3b()
    );
    // Image-to-video configs are accepted (tests below); a half-set image branch is refused.
    let mut i2v = WanTransformerConfig::wan2_1_t2v_14b();
    i2v.image_dim = Some(1280);
    i2v.added_kv_proj_dim = Some(5120);
    i2v.validate().unwrap();
    i2v.added_kv_proj_dim = None;
    assert!(i2v.validate().unwrap_err().to_string().contains("image"));

    let (fx, meta) = fixture(MAIN);
    let model = load_model(MAIN, &config(&meta));
    let x = &fx["__input.hidden_states"];
    let text = &fx["__input.encoder_hidden_states"];
    let t = &fx["__input.timestep.t10"];
    let dev = Device::Cpu;
    // Odd height (not a multiple of the 2x2 patch).
    let odd = Tensor::zeros((1, 4, 3, 7, 8), DType::F32, &dev).unwrap();
    assert!(model.forward(&odd, t, text).is_err());
    // Wrong channel count.
    let five = Tensor::zeros((1, 5, 3, 8, 8), DType::F32, &dev).unwrap();
    assert!(model.forward(&five, t, text).is_err());
    // Wrong timestep shape.
    let t3 = Tensor::zeros((1, 3), DType::F32, &dev).unwrap();
    assert!(model.forward(x, &t3, text).is_err());
    // Wrong text width.
    let narrow = Tensor::zeros((1, 7, 31), DType::F32, &dev).unwrap();
    assert!(model.forward(x, t, &narrow).is_err());
    // More frames than the rotary tables cover (rope_max_seq_len 32).
    let long = Tensor::zeros((1, 4, 33, 2, 2), DType::F32, &dev).unwrap();
    let err = model.forward(&long, t, text).unwrap_err();
    assert!(err.to_string().contains("rope_max_seq_len"), "{err}");
    // Batch of two, integer timesteps, a different text length: runs and each sample equals
    // its batch-of-one result.
    let x2 = Tensor::cat(&[x, &x.affine(0.5, 0.1).unwrap()], 0).unwrap();
    let text2 = Tensor::cat(&[text, text], 0)
        .unwrap()
        .narrow(1, 0, 5)
        .unwrap();
    let t2 = Tensor::new(&[999u32, 10], &dev).unwrap();
    let out = model.forward(&x2, &t2, &text2).unwrap();
    assert_eq!(out.dims(), &[2, 4, 3, 8, 8]);
    let one = model
        .forward(
            &x2.narrow(0, 1, 1).unwrap(),
            &Tensor::new(&[10f32], &dev).unwrap(),
            &text2.narrow(0, 1, 1).unwrap(),
        )
        .unwrap();
    assert!(rel_err(&out.narrow(0, 1, 1).unwrap(), &one) < 1e-5);
    // One timestep for the whole batch.
    let shared = model
        .forward(&x2, &Tensor::new(&[10f32], &dev).unwrap(), &text2)
        .unwrap();
    assert!(rel_err(&shared.narrow(0, 1, 1).unwrap(), &one) < 1e-5);
}

// ---------------------------------------------------------------------------------------------
// Image-to-video (Wan 2.1 I2V / FLF2V): tools/parity/fixtures/wan_transformer_i2v.safetensors.

/// The image-to-video fixture: a tiny I2V model (image_dim 24, added_kv_proj_dim 32, 12 input
/// channels = 2 x 4 + 4) under the diffusers keys, and a tiny FLF2V model (pos_embed_seq_len
/// 10) under `flf2v.`; 512 text tokens, as diffusers' image/text split requires.
const I2V: &str = "wan_transformer_i2v.safetensors";

fn i2v_config(meta: &serde_json::Value, key: &str) -> WanTransformerConfig {
    WanTransformerConfig::from_diffusers_json(meta_str(meta, key)).unwrap()
}

/// The fixture's I2V model (`prefix` "") or FLF2V model (`prefix` "flf2v").
fn load_i2v(cfg: &WanTransformerConfig, prefix: &str) -> WanTransformer {
    // SAFETY: a test fixture, mapped read-only and not modified while mapped.
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(&[fixture_path(I2V)], DType::F32, &Device::Cpu)
    }
    .unwrap();
    let vb = if prefix.is_empty() { vb } else { vb.pp(prefix) };
    WanTransformer::new(cfg, vb).unwrap_or_else(|e| panic!("loading the {prefix} fixture: {e}"))
}

fn i2v_timesteps(meta: &serde_json::Value) -> Vec<u32> {
    serde_json::from_str(meta_str(meta, "timesteps")).unwrap()
}

#[test]
fn i2v_matches_diffusers() {
    let (fx, meta) = fixture(I2V);
    let cfg = i2v_config(&meta, "config");
    assert!(cfg.has_image_branch());
    assert_eq!(cfg.in_channels, 2 * cfg.out_channels() + 4);
    assert_eq!(cfg.added_kv_proj_dim, Some(cfg.inner_dim()));
    assert_eq!(cfg.pos_embed_seq_len, None);
    let model = load_i2v(&cfg, "");
    let x = &fx["__input.hidden_states"];
    let text = &fx["__input.encoder_hidden_states"];
    let image = &fx["__input.encoder_hidden_states_image"];
    assert_eq!(text.dim(1).unwrap(), 512, "diffusers splits at len - 512");
    println!(
        "{I2V}: reference {}",
        meta["reference"].as_str().unwrap_or("(not recorded)")
    );
    let timesteps = i2v_timesteps(&meta);
    assert!(timesteps.len() >= 2);
    let mut worst = 0f32;
    for t in &timesteps {
        let timestep = &fx[&format!("__input.timestep.t{t}")];
        let want = &fx[&format!("__expected.t{t}")];
        let got = model
            .forward_with_image(x, timestep, text, Some(image))
            .unwrap();
        worst = worst.max(check(&format!("i2v t={t}"), &got, want));
    }
    println!("worst relative error: {worst:.3e}");

    // The image branch is live: other image states give a clearly different output.
    let t = &fx[&format!("__input.timestep.t{}", timesteps[0])];
    let base = model.forward_with_image(x, t, text, Some(image)).unwrap();
    let other = image.affine(-0.7, 0.3).unwrap();
    let moved = model.forward_with_image(x, t, text, Some(&other)).unwrap();
    let spread = rel_err(&moved, &base);
    println!("  different image states: relative change {spread:.3e}");
    assert!(
        spread > 1e-2,
        "output barely depends on the image ({spread})"
    );

    // The image states are required; `forward` (no image) is refused, not mis-run.
    let err = model.forward(x, t, text).unwrap_err();
    assert!(
        err.to_string().contains("encoder_hidden_states_image"),
        "{err}"
    );
    // Chunked attention gives the same result on the image branch too.
    let chunked = load_i2v(&cfg, "")
        .with_attention_chunk(5)
        .forward_with_image(x, t, text, Some(image))
        .unwrap();
    assert!(rel_err(&chunked, &base) <= 1e-6);
}

#[test]
fn flf2v_matches_diffusers() {
    let (fx, meta) = fixture(I2V);
    let cfg = i2v_config(&meta, "config_flf2v");
    assert_eq!(cfg.pos_embed_seq_len, Some(10));
    assert_eq!(cfg.rope_dims(), [2, 2, 2]);
    let model = load_i2v(&cfg, "flf2v");
    let x = &fx["__input.hidden_states"];
    let text = &fx["__input.encoder_hidden_states"];
    // First and last frame of the one sample, in consecutive rows.
    let image = &fx["__input.flf2v.encoder_hidden_states_image"];
    assert_eq!(image.dims(), &[2, 5, 24]);
    let mut worst = 0f32;
    for t in &i2v_timesteps(&meta) {
        let timestep = &fx[&format!("__input.timestep.t{t}")];
        let want = &fx[&format!("__expected.flf2v.t{t}")];
        let got = model
            .forward_with_image(x, timestep, text, Some(image))
            .unwrap();
        worst = worst.max(check(&format!("flf2v t={t}"), &got, want));
    }
    println!("worst relative error: {worst:.3e}");

    // The order of the two frames matters (the position embedding tells them apart).
    let t = &fx[&format!("__input.timestep.t{}", i2v_timesteps(&meta)[0])];
    let swapped = Tensor::cat(
        &[
            image.narrow(0, 1, 1).unwrap(),
            image.narrow(0, 0, 1).unwrap(),
        ],
        0,
    )
    .unwrap();
    let a = model.forward_with_image(x, t, text, Some(image)).unwrap();
    let b = model
        .forward_with_image(x, t, text, Some(&swapped))
        .unwrap();
    assert!(rel_err(&a, &b) > 1e-3);
}

#[test]
fn i2v_batches_and_bad_inputs() {
    let (fx, meta) = fixture(I2V);
    let dev = Device::Cpu;
    let x = &fx["__input.hidden_states"];
    let text = &fx["__input.encoder_hidden_states"];
    let t = Tensor::new(&[10f32], &dev).unwrap();
    let x2 = Tensor::cat(&[x, &x.affine(0.5, 0.1).unwrap()], 0).unwrap();
    let text2 = Tensor::cat(&[text, &text.affine(-1.0, 0.0).unwrap()], 0).unwrap();
    let t2 = Tensor::new(&[999f32, 10.0], &dev).unwrap();

    // I2V: per-sample image states, and one image shared by the batch.
    let cfg = i2v_config(&meta, "config");
    let model = load_i2v(&cfg, "");
    let image = &fx["__input.encoder_hidden_states_image"];
    let image_b = image.affine(0.8, -0.2).unwrap();
    let image2 = Tensor::cat(&[image, &image_b], 0).unwrap();
    let out = model
        .forward_with_image(&x2, &t2, &text2, Some(&image2))
        .unwrap();
    let one = model
        .forward_with_image(
            &x2.narrow(0, 1, 1).unwrap(),
            &t,
            &text2.narrow(0, 1, 1).unwrap(),
            Some(&image_b),
        )
        .unwrap();
    assert!(rel_err(&out.narrow(0, 1, 1).unwrap(), &one) < 1e-5);
    let shared = model
        .forward_with_image(&x2, &t2, &text2, Some(&image_b))
        .unwrap();
    assert!(rel_err(&shared.narrow(0, 1, 1).unwrap(), &one) < 1e-5);
    // Wrong image width, wrong image batch.
    let wide = Tensor::zeros((1, 5, 25), DType::F32, &dev).unwrap();
    assert!(model.forward_with_image(x, &t, text, Some(&wide)).is_err());
    let three = Tensor::zeros((3, 5, 24), DType::F32, &dev).unwrap();
    assert!(model
        .forward_with_image(&x2, &t2, &text2, Some(&three))
        .is_err());

    // FLF2V: image pairs per sample (rows 2i, 2i + 1), or one pair shared.
    let cfg = i2v_config(&meta, "config_flf2v");
    let flf2v = load_i2v(&cfg, "flf2v");
    let pair = &fx["__input.flf2v.encoder_hidden_states_image"];
    let pair_b = pair.affine(0.8, -0.2).unwrap();
    let pairs = Tensor::cat(&[pair, &pair_b], 0).unwrap();
    let out = flf2v
        .forward_with_image(&x2, &t2, &text2, Some(&pairs))
        .unwrap();
    let one = flf2v
        .forward_with_image(
            &x2.narrow(0, 1, 1).unwrap(),
            &t,
            &text2.narrow(0, 1, 1).unwrap(),
            Some(&pair_b),
        )
        .unwrap();
    assert!(rel_err(&out.narrow(0, 1, 1).unwrap(), &one) < 1e-5);
    let shared = flf2v
        .forward_with_image(&x2, &t2, &text2, Some(&pair_b))
        .unwrap();
    assert!(rel_err(&shared.narrow(0, 1, 1).unwrap(), &one) < 1e-5);
    // A single image (no pair), a pair of the wrong length.
    let err = flf2v
        .forward_with_image(x, &t, text, Some(&pair.narrow(0, 0, 1).unwrap()))
        .unwrap_err();
    assert!(err.to_string().contains("pos_embed_seq_len"), "{err}");
    let short = pair.narrow(1, 0, 4).unwrap();
    assert!(flf2v.forward_with_image(x, &t, text, Some(&short)).is_err());

    // A text-to-video model takes no image states.
    let (fx_t2v, meta_t2v) = fixture(MAIN);
    let t2v = load_model(MAIN, &config(&meta_t2v));
    let err = t2v
        .forward_with_image(
            &fx_t2v["__input.hidden_states"],
            &t,
            &fx_t2v["__input.encoder_hidden_states"],
            Some(image),
        )
        .unwrap_err();
    assert!(err.to_string().contains("no image branch"), "{err}");
}

#[test]
fn i2v_presets_and_missing_keys() {
    let c = WanTransformerConfig::wan2_1_i2v_14b();
    c.validate().unwrap();
    assert!(c.has_image_branch());
    assert_eq!(
        (c.inner_dim(), c.in_channels, c.out_channels(), c.image_dim),
        (5120, 36, 16, Some(1280))
    );
    assert_eq!(c.in_channels, 2 * c.out_channels() + 4);
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(WanTransformerConfig::from_diffusers_json(&json).unwrap(), c);
    // The Wan2.1-I2V-14B-480P/720P-Diffusers transformer/config.json.
    let json = r#"{"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.33.0.dev0",
        "added_kv_proj_dim": 5120, "attention_head_dim": 128, "cross_attn_norm": true,
        "eps": 1e-06, "ffn_dim": 13824, "freq_dim": 256, "image_dim": 1280, "in_channels": 36,
        "num_attention_heads": 40, "num_layers": 40, "out_channels": 16,
        "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 1024,
        "text_dim": 4096}"#;
    assert_eq!(WanTransformerConfig::from_diffusers_json(json).unwrap(), c);
    let f = WanTransformerConfig::wan2_1_flf2v_14b();
    f.validate().unwrap();
    assert_eq!(f.pos_embed_seq_len, Some(514));
    assert!(!WanTransformerConfig::wan2_1_t2v_14b().has_image_branch());

    // Invalid image branches.
    let mut bad = c.clone();
    bad.added_kv_proj_dim = Some(1280);
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("added_kv_proj_dim"));
    let mut bad = WanTransformerConfig::wan2_1_t2v_14b();
    bad.pos_embed_seq_len = Some(514);
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("pos_embed_seq_len"));
    let mut bad = f.clone();
    bad.pos_embed_seq_len = Some(513);
    assert!(bad.validate().is_err());

    // Every image-branch tensor is required, and a missing one is named.
    let (fx, meta) = fixture(I2V);
    for (cfg_key, prefix, keys) in [
        (
            "config",
            "",
            &[
                "blocks.1.attn2.add_k_proj.weight",
                "blocks.0.attn2.add_v_proj.bias",
                "blocks.0.attn2.norm_added_k.weight",
                "condition_embedder.image_embedder.norm1.bias",
                "condition_embedder.image_embedder.ff.net.0.proj.weight",
                "condition_embedder.image_embedder.ff.net.2.bias",
                "condition_embedder.image_embedder.norm2.weight",
            ][..],
        ),
        (
            "config_flf2v",
            "flf2v.",
            &["condition_embedder.image_embedder.pos_embed"][..],
        ),
    ] {
        let cfg = i2v_config(&meta, cfg_key);
        let weights: HashMap<String, Tensor> = fx
            .iter()
            .filter_map(|(k, v)| {
                let k = k.strip_prefix(prefix)?;
                (!k.starts_with("__") && !k.starts_with("flf2v."))
                    .then(|| (k.to_string(), v.clone()))
            })
            .collect();
        let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, &Device::Cpu);
        WanTransformer::new(&cfg, vb).unwrap();
        for key in keys {
            let mut partial = weights.clone();
            assert!(
                partial.remove(*key).is_some(),
                "fixture lacks {prefix}{key}"
            );
            let vb = VarBuilder::from_tensors(partial, DType::F32, &Device::Cpu);
            let err = WanTransformer::new(&cfg, vb).expect_err("missing key must fail");
            println!("{key}: {}", err.to_string().lines().next().unwrap_or(""));
            assert!(
                err.to_string().contains(key),
                "error does not name {key}: {err}"
            );
        }
    }
}
