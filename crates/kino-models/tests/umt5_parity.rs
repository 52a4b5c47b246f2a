//! umT5 encoder against transformers' `UMT5EncoderModel`, and Wan's prompt encoding against
//! diffusers' `WanPipeline._get_t5_prompt_embeds` (tools/parity/umt5.py).
//!
//! The fixtures hold tiny random encoders under their exact transformers state-dict keys, the
//! config as metadata, inputs under `__input.*` and the reference outputs under
//! `__expected.*`; the prompt fixture holds diffusers' token ids and prompt states for a tiny
//! Unigram tokenizer (umt5_tokenizer.json) laid out like umT5's. The models are loaded the way
//! a real checkpoint is: memory-mapped safetensors through a candle `VarBuilder`, the config
//! parsed from transformers' JSON.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use common::{check, fixture, fixture_path, max_abs, meta_str, rel_err, TOLERANCE};
use kino_models::umt5::{
    relative_position_bucket, wan_prompt_clean, wan_prompt_embeds, wan_tokenize, Umt5Activation,
    Umt5Config, Umt5Encoder, WAN_TEXT_LEN,
};
use tokenizers::Tokenizer;

/// Gated tanh-GELU, 2 layers, d_model 24, 4 heads x 8, 8 buckets, max distance 16;
/// embedding stored as `shared.weight`.
const MAIN: &str = "umt5.safetensors";
/// ReLU (un-gated), 2 layers, d_model 16, 2 heads x 6, 10 buckets, max distance 12;
/// embedding stored as `encoder.embed_tokens.weight`.
const RELU: &str = "umt5_relu.safetensors";
/// diffusers' prompt encoding with the MAIN encoder.
const PROMPT: &str = "umt5_prompt.safetensors";
const TOKENIZER: &str = "umt5_tokenizer.json";

fn config(meta: &serde_json::Value) -> Umt5Config {
    Umt5Config::from_json(meta_str(meta, "config")).unwrap()
}

fn load_model(name: &str, cfg: &Umt5Config, dtype: DType) -> Umt5Encoder {
    Umt5Encoder::load(cfg, &[fixture_path(name)], dtype, &Device::Cpu)
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// The weights only (no `__input` / `__expected` entries).
fn weights(fx: &HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    fx.iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Runs the masked and the unmasked case of one encoder fixture; returns the worst error.
fn check_encoder(name: &str) -> f32 {
    let (fx, meta) = fixture(name);
    let cfg = config(&meta);
    println!(
        "{name}: {} layers, d_model {}, {} heads x {}, {:?}, reference {}",
        cfg.num_layers,
        cfg.d_model,
        cfg.num_heads,
        cfg.d_kv,
        cfg.feed_forward().unwrap(),
        meta_str(&meta, "reference")
    );
    assert_ne!(
        cfg.inner_dim(),
        cfg.d_model,
        "{name}: inner width == d_model"
    );
    let model = load_model(name, &cfg, DType::F32);
    let ids = &fx["__input.input_ids"];
    let mask = &fx["__input.attention_mask"];
    assert_eq!(ids.dtype(), DType::I64);
    let (_, len) = ids.dims2().unwrap();
    assert!(len > cfg.relative_attention_max_distance);

    let mut worst = 0f32;
    for (case, got, want) in [
        (
            "masked",
            model.forward(ids, Some(mask)).unwrap(),
            &fx["__expected.last_hidden_state"],
        ),
        (
            "unmasked",
            model.forward(ids, None).unwrap(),
            &fx["__expected.unmasked"],
        ),
    ] {
        assert_eq!(got.dtype(), DType::F32);
        worst = worst.max(check(&format!("{name} {case}"), &got, want));
    }

    // u32 ids and an f32 mask give the same result as i64 ones.
    let ids32 = ids.to_dtype(DType::U32).unwrap();
    let maskf = mask.to_dtype(DType::F32).unwrap();
    let got = model.forward(&ids32, Some(&maskf)).unwrap();
    assert!(rel_err(&got, &fx["__expected.last_hidden_state"]) <= TOLERANCE);

    // The padded row's real tokens equal that row run alone, without padding.
    let real = mask
        .get(1)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<i64>()
        .unwrap() as usize;
    assert!(real < len);
    let alone = model
        .forward(
            &ids.narrow(0, 1, 1).unwrap().narrow(1, 0, real).unwrap(),
            None,
        )
        .unwrap();
    let batched = fx["__expected.last_hidden_state"]
        .narrow(0, 1, 1)
        .unwrap()
        .narrow(1, 0, real)
        .unwrap();
    assert!(rel_err(&alone, &batched) <= TOLERANCE);
    worst
}

#[test]
fn matches_transformers_gated_gelu() {
    let worst = check_encoder(MAIN);
    println!("worst relative error: {worst:.3e}");
    let (_, meta) = fixture(MAIN);
    let cfg = config(&meta);
    assert_eq!(
        cfg.feed_forward().unwrap(),
        (Umt5Activation::GeluTanh, true)
    );
}

#[test]
fn matches_transformers_relu_with_embed_tokens_key() {
    let (fx, meta) = fixture(RELU);
    assert!(fx.contains_key("encoder.embed_tokens.weight"));
    assert!(!fx.contains_key("shared.weight"));
    let cfg = config(&meta);
    assert_eq!(cfg.feed_forward().unwrap(), (Umt5Activation::Relu, false));
    let worst = check_encoder(RELU);
    println!("worst relative error: {worst:.3e}");
}

#[test]
fn relative_position_buckets_match_transformers() {
    let (fx, meta) = fixture(MAIN);
    let span: i64 = meta_str(&meta, "bucket_span").parse().unwrap();
    let cfg = config(&meta);
    let xxl = Umt5Config::umt5_xxl();
    let mut tables = 0;
    for (n, d) in [
        (
            cfg.relative_attention_num_buckets,
            cfg.relative_attention_max_distance,
        ),
        (
            xxl.relative_attention_num_buckets,
            xxl.relative_attention_max_distance,
        ),
    ] {
        let want: Vec<i64> = fx[&format!("__expected.buckets.n{n}_d{d}")]
            .to_vec1()
            .unwrap();
        assert_eq!(want.len() as i64, 2 * span + 1);
        for (i, &w) in want.iter().enumerate() {
            let rel = i as i64 - span;
            assert_eq!(
                relative_position_bucket(rel, n, d) as i64,
                w,
                "{n} buckets, max distance {d}, relative position {rel}"
            );
        }
        // Saturation: far positions share the last bucket of their side.
        assert_eq!(*want.first().unwrap(), (n / 2 - 1) as i64);
        assert_eq!(*want.last().unwrap(), (n - 1) as i64);
        println!(
            "buckets n={n} max_distance={d}: {} positions agree",
            want.len()
        );
        tables += 1;
    }
    assert_eq!(tables, 2);
}

#[test]
fn prompt_embeds_match_diffusers() {
    let (fx, meta) = fixture(PROMPT);
    assert_eq!(meta_str(&meta, "weights"), MAIN);
    let cfg = config(&meta);
    let model = load_model(MAIN, &cfg, DType::F32);
    let tokenizer = Tokenizer::from_file(fixture_path(TOKENIZER)).unwrap();
    let prompts: Vec<String> = serde_json::from_str(meta_str(&meta, "prompts")).unwrap();
    let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let cleaned: Vec<String> = serde_json::from_str(meta_str(&meta, "cleaned")).unwrap();
    let max_len: usize = meta_str(&meta, "max_len").parse().unwrap();
    println!("{}", meta_str(&meta, "pipeline"));

    for (p, c) in prompts.iter().zip(&cleaned) {
        assert_eq!(&wan_prompt_clean(p), c, "prompt_clean({p:?})");
    }

    let dev = Device::Cpu;
    let tokens = wan_tokenize(&tokenizer, &prompts, max_len, &dev).unwrap();
    let want_ids: Vec<Vec<i64>> = fx["__expected.input_ids"].to_vec2().unwrap();
    let want_mask: Vec<Vec<i64>> = fx["__expected.attention_mask"].to_vec2().unwrap();
    let got_ids: Vec<Vec<u32>> = tokens.input_ids.to_vec2().unwrap();
    let got_mask: Vec<Vec<u32>> = tokens.attention_mask.to_vec2().unwrap();
    for (i, p) in prompts.iter().enumerate() {
        let gi: Vec<i64> = got_ids[i].iter().map(|&x| x as i64).collect();
        let gm: Vec<i64> = got_mask[i].iter().map(|&x| x as i64).collect();
        println!("  {p:?} -> {gi:?}");
        assert_eq!(gi, want_ids[i], "token ids of {p:?}");
        assert_eq!(gm, want_mask[i], "attention mask of {p:?}");
        assert_eq!(tokens.lengths[i] as i64, want_mask[i].iter().sum::<i64>());
    }
    // The long prompt is truncated to max_len with its </s> (id 1) kept; the others are
    // padded with <pad> (id 0).
    assert_eq!(tokens.lengths[2], max_len);
    assert_eq!(got_ids[2][max_len - 1], 1);
    assert!(tokens.lengths[0] < max_len && got_ids[0][max_len - 1] == 0);
    assert_eq!(got_ids[0][tokens.lengths[0] - 1], 1);

    let got = wan_prompt_embeds(&model, &tokenizer, &prompts, max_len, &dev).unwrap();
    let want = &fx["__expected.prompt_embeds"];
    assert_eq!(got.dims(), &[prompts.len(), max_len, cfg.d_model]);
    check("prompt embeds", &got, want);
    // Exactly zero past each prompt's length.
    for (i, &n) in tokens.lengths.iter().enumerate() {
        if n < max_len {
            let tail = got.get(i).unwrap().narrow(0, n, max_len - n).unwrap();
            assert_eq!(max_abs(&tail), 0.0);
        }
    }
}

#[test]
fn prompt_clean_matches_diffusers() {
    let (_, meta) = fixture(PROMPT);
    let cases: Vec<(String, String)> =
        serde_json::from_str(meta_str(&meta, "clean_cases")).unwrap();
    assert!(cases.len() >= 8);
    for (input, want) in &cases {
        assert_eq!(&wan_prompt_clean(input), want, "prompt_clean({input:?})");
    }
    println!("{} prompt_clean cases agree", cases.len());
}

#[test]
fn missing_or_misshaped_weights_are_named() {
    let (fx, meta) = fixture(MAIN);
    let cfg = config(&meta);
    let all = weights(&fx);
    let dev = Device::Cpu;
    // The full set loads, from either embedding key.
    Umt5Encoder::new(
        &cfg,
        VarBuilder::from_tensors(all.clone(), DType::F32, &dev),
    )
    .unwrap();
    let mut renamed = all.clone();
    let emb = renamed.remove("shared.weight").unwrap();
    renamed.insert("encoder.embed_tokens.weight".to_string(), emb);
    Umt5Encoder::new(
        &cfg,
        VarBuilder::from_tensors(renamed.clone(), DType::F32, &dev),
    )
    .unwrap();

    for key in [
        "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight",
        "encoder.block.0.layer.0.SelfAttention.o.weight",
        "encoder.block.0.layer.1.DenseReluDense.wi_1.weight",
        "encoder.block.1.layer.1.layer_norm.weight",
        "encoder.final_layer_norm.weight",
    ] {
        let mut partial = all.clone();
        assert!(partial.remove(key).is_some(), "fixture lacks {key}");
        let vb = VarBuilder::from_tensors(partial, DType::F32, &dev);
        let err = Umt5Encoder::new(&cfg, vb).expect_err("missing key must fail");
        println!("{key}: {}", err.to_string().lines().next().unwrap_or(""));
        assert!(
            err.to_string().contains(key),
            "error does not name {key}: {err}"
        );
    }

    // No embedding at all: both accepted names are in the message.
    let vb = VarBuilder::from_tensors(
        renamed
            .into_iter()
            .filter(|(k, _)| k != "encoder.embed_tokens.weight")
            .collect(),
        DType::F32,
        &dev,
    );
    let err = Umt5Encoder::new(&cfg, vb).unwrap_err().to_string();
    assert!(
        err.contains("shared.weight") && err.contains("encoder.embed_tokens.weight"),
        "{err}"
    );

    // A wrong shape is named too.
    let key = "encoder.block.0.layer.0.SelfAttention.q.weight";
    let mut wrong = all.clone();
    wrong.insert(
        key.to_string(),
        Tensor::zeros((24, 24), DType::F32, &dev).unwrap(),
    );
    let err =
        Umt5Encoder::new(&cfg, VarBuilder::from_tensors(wrong, DType::F32, &dev)).unwrap_err();
    println!("{}", err.to_string().lines().next().unwrap_or(""));
    assert!(err.to_string().contains(key), "{err}");

    // Through the memory-mapped loader: a safetensors file with one key removed.
    let key = "encoder.block.1.layer.1.DenseReluDense.wo.weight";
    let mut partial = all;
    partial.remove(key).unwrap();
    let path = std::env::temp_dir().join(format!(
        "kino_umt5_missing_{}.safetensors",
        std::process::id()
    ));
    candle_core::safetensors::save(&partial, &path).unwrap();
    let res = Umt5Encoder::load(&cfg, &[&path], DType::F32, &dev);
    std::fs::remove_file(&path).ok();
    let err = res.expect_err("missing key must fail").to_string();
    println!("mmap loader: {}", err.lines().next().unwrap_or(""));
    assert!(err.contains(key), "{err}");
}

#[test]
fn half_precision_weights_run_close_to_f32() {
    let (fx, meta) = fixture(MAIN);
    let cfg = config(&meta);
    let ids = &fx["__input.input_ids"];
    let mask = &fx["__input.attention_mask"];
    let want = &fx["__expected.last_hidden_state"];
    for dtype in [DType::BF16, DType::F16] {
        let model = load_model(MAIN, &cfg, dtype);
        assert_eq!(model.dtype(), dtype);
        let got = model.forward(ids, Some(mask)).unwrap();
        assert_eq!(got.dtype(), DType::F32);
        let err = rel_err(&got, want);
        println!("{dtype:?} weights: relative error {err:.3e}");
        assert!(err < 5e-2, "{dtype:?}: {err}");
    }
}

#[test]
fn presets_config_and_bad_inputs() {
    let xxl = Umt5Config::umt5_xxl();
    xxl.validate().unwrap();
    assert_eq!(
        (
            xxl.d_model,
            xxl.inner_dim(),
            xxl.d_ff,
            xxl.num_layers,
            xxl.vocab_size
        ),
        (4096, 4096, 10240, 24, 256_384)
    );
    assert_eq!(
        xxl.feed_forward().unwrap(),
        (Umt5Activation::GeluTanh, true)
    );
    assert_eq!(WAN_TEXT_LEN, 512);
    // Wan's text_encoder/config.json (transformers' keys, bookkeeping included) parses to
    // the preset.
    let json = r#"{"_name_or_path": "google/umt5-xxl", "architectures": ["UMT5EncoderModel"],
        "classifier_dropout": 0.0, "d_ff": 10240, "d_kv": 64, "d_model": 4096,
        "decoder_start_token_id": 0, "dense_act_fn": "gelu_new", "dropout_rate": 0.1,
        "eos_token_id": 1, "feed_forward_proj": "gated-gelu", "initializer_factor": 1.0,
        "is_encoder_decoder": true, "is_gated_act": true, "layer_norm_epsilon": 1e-06,
        "model_type": "umt5", "num_decoder_layers": 24, "num_heads": 64, "num_layers": 24,
        "output_past": true, "pad_token_id": 0, "relative_attention_max_distance": 128,
        "relative_attention_num_buckets": 32, "scalable_attention": true,
        "tie_word_embeddings": false, "tokenizer_class": "T5Tokenizer",
        "torch_dtype": "float32", "transformers_version": "4.48.0.dev0", "use_cache": true,
        "vocab_size": 256384}"#;
    assert_eq!(Umt5Config::from_json(json).unwrap(), xxl);
    // Round trip.
    let back = Umt5Config::from_json(&serde_json::to_string(&xxl).unwrap()).unwrap();
    assert_eq!(back, xxl);

    // Activation naming as transformers derives it.
    let with = |proj: &str| Umt5Config {
        feed_forward_proj: proj.to_string(),
        dense_act_fn: None,
        is_gated_act: None,
        ..xxl.clone()
    };
    assert_eq!(
        with("gated-gelu").feed_forward().unwrap(),
        (Umt5Activation::GeluTanh, true)
    );
    assert_eq!(
        with("gelu").feed_forward().unwrap(),
        (Umt5Activation::Gelu, false)
    );
    assert_eq!(
        with("relu").feed_forward().unwrap(),
        (Umt5Activation::Relu, false)
    );
    assert_eq!(
        with("gated-silu").feed_forward().unwrap(),
        (Umt5Activation::Silu, true)
    );
    assert!(with("gated-foo").validate().is_err());
    assert!(with("a-b-c").validate().is_err());
    let mut few = xxl.clone();
    few.relative_attention_num_buckets = 2;
    assert!(few.validate().is_err());

    let (fx, meta) = fixture(MAIN);
    let cfg = config(&meta);
    let model = load_model(MAIN, &cfg, DType::F32);
    let dev = Device::Cpu;
    let ids = &fx["__input.input_ids"];
    // Out-of-vocabulary and negative ids.
    let big = Tensor::new(&[[1u32, cfg.vocab_size as u32]], &dev).unwrap();
    let err = model.forward(&big, None).unwrap_err().to_string();
    assert!(err.contains("vocabulary"), "{err}");
    let neg = Tensor::new(&[[1i64, -3]], &dev).unwrap();
    assert!(model.forward(&neg, None).is_err());
    // Float ids, a mask of the wrong shape, an empty sequence.
    assert!(model
        .forward(&ids.to_dtype(DType::F32).unwrap(), None)
        .is_err());
    let short_mask = Tensor::ones((2, 5), DType::U32, &dev).unwrap();
    assert!(model.forward(ids, Some(&short_mask)).is_err());
    let empty = Tensor::zeros((1, 0), DType::U32, &dev).unwrap();
    assert!(model.forward(&empty, None).is_err());
    // An all-ones mask equals no mask.
    let ones = Tensor::ones(ids.dims(), DType::U8, &dev).unwrap();
    let a = model.forward(ids, Some(&ones)).unwrap();
    let b = model.forward(ids, None).unwrap();
    assert_eq!(rel_err(&a, &b), 0.0);
    // A sequence of one token.
    let one = model.forward(&ids.narrow(1, 0, 1).unwrap(), None).unwrap();
    assert_eq!(one.dims(), &[2, 1, cfg.d_model]);

    // Tokenisation needs prompts and a length.
    let tokenizer = Tokenizer::from_file(fixture_path(TOKENIZER)).unwrap();
    assert!(wan_tokenize(&tokenizer, &[], 16, &dev).is_err());
    assert!(wan_tokenize(&tokenizer, &["a cat"], 0, &dev).is_err());
    // A max_len below the prompt length keeps </s> last.
    let t = wan_tokenize(&tokenizer, &["the cat and the dog"], 3, &dev).unwrap();
    assert_eq!(t.lengths, vec![3]);
    let row: Vec<Vec<u32>> = t.input_ids.to_vec2().unwrap();
    assert_eq!(row[0][2], 1);
}
