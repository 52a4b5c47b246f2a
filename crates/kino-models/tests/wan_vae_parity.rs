//! Wan VAE against diffusers' `AutoencoderKLWan` (tools/parity/wan_vae.py).
//!
//! Each fixture holds a tiny random Wan VAE under its exact diffusers state-dict keys, the
//! config and the tile sizes as metadata, inputs under `__input.*` and diffusers' outputs
//! under `__expected.*`. The model is loaded the way a real checkpoint is: memory-mapped
//! safetensors through a candle `VarBuilder`, the config parsed from diffusers' JSON.
//!
//! - `wan_vae21.safetensors`: Wan 2.1 layout (flat down blocks, up-samplers that halve the
//!   width), 2d and 3d resampling, 8x spatial / 4x temporal compression.
//! - `wan_vae22.safetensors`: Wan 2.2 layout (`is_residual`: AvgDown3D / DupUp3D shortcuts),
//!   2x2 patchify of a 3-channel video into 12 channels, decoder width != encoder width, 16x
//!   spatial compression.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use common::{fixture, fixture_path, meta_str, rel_err};
use kino_models::wan_vae::{AutoencoderKLWan, WanVaeConfig, WanVaeTiling};

const WAN21: &str = "wan_vae21.safetensors";
const WAN22: &str = "wan_vae22.safetensors";

fn config(meta: &serde_json::Value) -> WanVaeConfig {
    WanVaeConfig::from_diffusers_json(meta_str(meta, "config")).unwrap()
}

fn tiling(meta: &serde_json::Value, which: &str) -> WanVaeTiling {
    serde_json::from_str(meta_str(meta, which)).unwrap()
}

fn load_model(name: &str, cfg: &WanVaeConfig) -> AutoencoderKLWan {
    AutoencoderKLWan::load(cfg, &[fixture_path(name)], DType::F32, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading the fixture: {e}"))
}

/// [`common::check`] of `what` in fixture `name`.
fn check(name: &str, what: &str, got: &Tensor, want: &Tensor) -> f32 {
    common::check(&format!("{name} {what}"), got, want)
}

/// Encode and decode without tiling.
fn check_plain(name: &str) -> f32 {
    let (fx, meta) = fixture(name);
    let cfg = config(&meta);
    println!(
        "{name}: reference {}",
        meta["reference"].as_str().unwrap_or("(not recorded)")
    );
    let vae = load_model(name, &cfg);
    let posterior = vae.encode(&fx["__input.video"]).unwrap();
    let mut worst = check(
        name,
        "encode mean",
        &posterior.mean,
        &fx["__expected.encode.mean"],
    );
    worst = worst.max(check(
        name,
        "encode logvar",
        &posterior.logvar,
        &fx["__expected.encode.logvar"],
    ));
    let decoded = vae.decode(&fx["__input.latent"]).unwrap();
    worst.max(check(name, "decode", &decoded, &fx["__expected.decode"]))
}

/// Encode and decode with diffusers' tiling; also checks that tiling changed the result,
/// i.e. that it really ran.
fn check_tiled(name: &str) -> f32 {
    let (fx, meta) = fixture(name);
    let cfg = config(&meta);
    let plain = load_model(name, &cfg);
    let video = &fx["__input.tiled.video"];
    let latent = &fx["__input.tiled.latent"];

    let enc_tiling = tiling(&meta, "tiling_encode");
    let vae = load_model(name, &cfg).with_tiling(enc_tiling).unwrap();
    assert_eq!(vae.tiling(), Some(&enc_tiling));
    let posterior = vae.encode(video).unwrap();
    let want = &fx["__expected.tiled.encode.mean"];
    let mut worst = check(name, "tiled encode mean", &posterior.mean, want);
    worst = worst.max(check(
        name,
        "tiled encode logvar",
        &posterior.logvar,
        &fx["__expected.tiled.encode.logvar"],
    ));
    let untiled = plain.encode(video).unwrap();
    assert!(
        rel_err(&untiled.mean, want) > 1e-3,
        "{name}: tiled encode equals untiled encode"
    );

    let vae = vae.with_tiling(tiling(&meta, "tiling_decode")).unwrap();
    let decoded = vae.decode(latent).unwrap();
    let want = &fx["__expected.tiled.decode"];
    worst = worst.max(check(name, "tiled decode", &decoded, want));
    let untiled = plain.decode(latent).unwrap();
    assert!(
        rel_err(&untiled, want) > 1e-3,
        "{name}: tiled decode equals untiled decode"
    );
    worst
}

#[test]
fn wan21_matches_diffusers() {
    let worst = check_plain(WAN21);
    println!("worst relative error: {worst:.3e}");
}

#[test]
fn wan22_matches_diffusers() {
    let (_, meta) = fixture(WAN22);
    let cfg = config(&meta);
    assert!(cfg.is_residual);
    assert_eq!(cfg.patch_size, Some(2));
    assert_ne!(cfg.decoder_base_dim(), cfg.base_dim);
    let worst = check_plain(WAN22);
    println!("worst relative error: {worst:.3e}");
}

#[test]
fn wan21_tiled_matches_diffusers() {
    let worst = check_tiled(WAN21);
    println!("worst relative error: {worst:.3e}");
}

#[test]
fn wan22_tiled_matches_diffusers() {
    let worst = check_tiled(WAN22);
    println!("worst relative error: {worst:.3e}");
}

#[test]
fn attention_chunk_does_not_change_the_result() {
    let (fx, meta) = fixture(WAN21);
    let cfg = config(&meta);
    let latent = &fx["__input.latent"];
    let full = load_model(WAN21, &cfg)
        .with_attention_chunk(usize::MAX)
        .decode(latent)
        .unwrap();
    // 4 tokens per frame: chunks of 1 and 3 split the attention rows.
    for chunk in [1, 3] {
        let got = load_model(WAN21, &cfg)
            .with_attention_chunk(chunk)
            .decode(latent)
            .unwrap();
        let err = rel_err(&got, &full);
        println!("attention chunk {chunk}: relative difference {err:.3e}");
        assert!(err <= 1e-6, "chunk {chunk}: {err}");
    }
}

#[test]
fn missing_key_is_named() {
    for name in [WAN21, WAN22] {
        let (fx, meta) = fixture(name);
        let cfg = config(&meta);
        let weights: HashMap<String, Tensor> = fx
            .iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // The full set loads.
        let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, &Device::Cpu);
        AutoencoderKLWan::new(&cfg, vb).unwrap();

        let keys: &[&str] = if name == WAN21 {
            &[
                "encoder.down_blocks.3.time_conv.weight",
                "encoder.mid_block.attentions.0.norm.gamma",
                "decoder.up_blocks.1.resnets.0.conv_shortcut.bias",
                "decoder.up_blocks.0.upsamplers.0.time_conv.bias",
                "post_quant_conv.weight",
            ]
        } else {
            &[
                "encoder.down_blocks.1.downsampler.time_conv.weight",
                "encoder.down_blocks.0.resnets.0.norm1.gamma",
                "decoder.up_blocks.2.upsampler.resample.1.weight",
                "decoder.mid_block.attentions.0.to_qkv.bias",
                "quant_conv.bias",
            ]
        };
        for key in keys {
            let mut partial = weights.clone();
            assert!(partial.remove(*key).is_some(), "{name} lacks {key}");
            let vb = VarBuilder::from_tensors(partial, DType::F32, &Device::Cpu);
            let err = AutoencoderKLWan::new(&cfg, vb).expect_err("missing key must fail");
            println!("{key}: {}", err.to_string().lines().next().unwrap_or(""));
            assert!(
                err.to_string().contains(key),
                "error does not name {key}: {err}"
            );
        }

        // A wrong shape is named too.
        let mut wrong = weights;
        let key = "decoder.conv_in.weight";
        wrong.insert(
            key.to_string(),
            Tensor::zeros((2, 2, 3, 3, 3), DType::F32, &Device::Cpu).unwrap(),
        );
        let vb = VarBuilder::from_tensors(wrong, DType::F32, &Device::Cpu);
        let err = AutoencoderKLWan::new(&cfg, vb).err().unwrap();
        println!("{}", err.to_string().lines().next().unwrap_or(""));
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn presets_and_config_json() {
    let c = WanVaeConfig::wan2_1();
    c.validate().unwrap();
    assert_eq!((c.spatial_compression(), c.temporal_compression()), (8, 4));
    assert_eq!(c.latent_shape(81, 480, 832), [16, 21, 60, 104]);
    assert_eq!(c.latents_mean.len(), 16);
    let c = WanVaeConfig::wan2_2();
    c.validate().unwrap();
    assert_eq!((c.spatial_compression(), c.temporal_compression()), (16, 4));
    assert_eq!(c.latent_shape(121, 704, 1280), [48, 31, 44, 80]);
    assert_eq!(c.video_channels(), 3);
    assert_eq!(c.latents_std.len(), 48);
    for c in [WanVaeConfig::wan2_1(), WanVaeConfig::wan2_2()] {
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(WanVaeConfig::from_diffusers_json(&json).unwrap(), c);
    }
    // The Wan 2.1 diffusers config.json lists only some keys; the rest are diffusers'
    // defaults, which are the Wan 2.1 VAE.
    let json = r#"{"_class_name": "AutoencoderKLWan", "_diffusers_version": "0.33.0.dev0",
        "attn_scales": [], "base_dim": 96, "dim_mult": [1, 2, 4, 4], "dropout": 0.0,
        "num_res_blocks": 2, "temperal_downsample": [false, true, true], "z_dim": 16}"#;
    assert_eq!(
        WanVaeConfig::from_diffusers_json(json).unwrap(),
        WanVaeConfig::wan2_1()
    );
    // Inconsistent configs are refused.
    let mut bad = WanVaeConfig::wan2_2();
    bad.scale_factor_spatial = 8;
    assert!(bad.validate().is_err());
    let mut bad = WanVaeConfig::wan2_1();
    bad.latents_mean.pop();
    assert!(bad.validate().is_err());
    let mut bad = WanVaeConfig::wan2_1();
    bad.attn_scales = vec![0.5];
    assert!(bad.validate().is_err());
    // Tiles must move by at least one latent pixel and overlap or touch.
    let t = WanVaeTiling::default();
    t.validate(&WanVaeConfig::wan2_2()).unwrap();
    let small = WanVaeTiling {
        tile_sample_stride_width: 4,
        ..t
    };
    assert!(small.validate(&WanVaeConfig::wan2_2()).is_err());
    let gap = WanVaeTiling {
        tile_sample_stride_height: 320,
        ..t
    };
    assert!(gap.validate(&WanVaeConfig::wan2_1()).is_err());
}

#[test]
fn latent_normalisation_and_bad_inputs() {
    let (fx, meta) = fixture(WAN22);
    let cfg = config(&meta);
    let vae = load_model(WAN22, &cfg);
    let z = &fx["__input.latent"];
    let norm = vae.normalize_latents(z).unwrap();
    let back = vae.denormalize_latents(&norm).unwrap();
    assert!(rel_err(&back, z) < 1e-6);
    // Channel 1: (z - mean) / std.
    let c = 1;
    let want =
        ((z.narrow(1, c, 1).unwrap() - cfg.latents_mean[c]).unwrap() / cfg.latents_std[c]).unwrap();
    assert!(rel_err(&norm.narrow(1, c, 1).unwrap(), &want) < 1e-6);

    let dev = Device::Cpu;
    // Wrong latent channel count.
    let five = Tensor::zeros((1, 5, 2, 1, 1), DType::F32, &dev).unwrap();
    assert!(vae.decode(&five).is_err());
    // Wrong video channel count, and a frame size that the 2x2 patch does not divide.
    let twelve = Tensor::zeros((1, 12, 1, 16, 16), DType::F32, &dev).unwrap();
    assert!(vae.encode(&twelve).is_err());
    let odd = Tensor::zeros((1, 3, 1, 16, 15), DType::F32, &dev).unwrap();
    assert!(vae.encode(&odd).is_err());
    // Frames after the last full chunk are ignored, as in diffusers: 7 frames encode like 5.
    let video = &fx["__input.video"];
    let seven = vae.encode(&video.narrow(2, 0, 7).unwrap()).unwrap();
    let five = vae.encode(&video.narrow(2, 0, 5).unwrap()).unwrap();
    assert_eq!(seven.mean.dims(), &[1, 4, 2, 1, 2]);
    assert!(rel_err(&seven.mean, &five.mean) == 0.0);
    // The first chunks of the 9-frame encode equal the 5-frame encode (causality).
    let nine = vae.encode(video).unwrap();
    let prefix = nine.mean.narrow(2, 0, 2).unwrap();
    assert!(rel_err(&prefix, &five.mean) < 1e-6);
    // A batch of two: each sample equals its batch-of-one result.
    let latent = &fx["__input.latent"];
    let pair = Tensor::cat(&[latent, &latent.affine(0.5, 0.1).unwrap()], 0).unwrap();
    let both = vae.decode(&pair).unwrap();
    let one = vae.decode(&latent.affine(0.5, 0.1).unwrap()).unwrap();
    assert!(rel_err(&both.narrow(0, 1, 1).unwrap(), &one) < 1e-5);
}

#[test]
fn runs_in_half_precision() {
    let (fx, meta) = fixture(WAN22);
    let cfg = config(&meta);
    // F16: candle's CPU matmul has no BF16 kernel (BF16 runs on CUDA).
    let dtype = DType::F16;
    let vae = AutoencoderKLWan::load(&cfg, &[fixture_path(WAN22)], dtype, &Device::Cpu).unwrap();
    let decoded = vae.decode(&fx["__input.latent"]).unwrap();
    assert_eq!(decoded.dtype(), dtype);
    let decoded = decoded.to_dtype(DType::F32).unwrap();
    let err = rel_err(&decoded, &fx["__expected.decode"]);
    let posterior = vae.encode(&fx["__input.video"]).unwrap();
    let mean = posterior.mean.to_dtype(DType::F32).unwrap();
    let enc_err = rel_err(&mean, &fx["__expected.encode.mean"]);
    println!("{dtype:?}: decode relative error {err:.3e}, encode {enc_err:.3e}");
    assert!(err < 0.1 && enc_err < 0.1, "{dtype:?}: {err} {enc_err}");
}
