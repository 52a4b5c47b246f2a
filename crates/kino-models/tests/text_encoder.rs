//! Text encoder against the Python reference (tools/parity/minilm.py) and on bad inputs.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use common::{fixture, max_abs_diff};
use kino_models::text_encoder::{TextEncoder, TextEncoderError};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_dir() -> PathBuf {
    repo_root().join("models/kino-tiny")
}

fn weights_path() -> PathBuf {
    model_dir().join("text_encoder.safetensors")
}

fn tokenizer_path() -> PathBuf {
    model_dir().join("tokenizer.json")
}

fn encoder() -> &'static TextEncoder {
    static ENCODER: OnceLock<TextEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| {
        TextEncoder::load(&weights_path(), &tokenizer_path(), &Device::Cpu)
            .unwrap_or_else(|e| panic!("loading the shipped text encoder: {e}"))
    })
}

/// A fresh directory under the system temp dir, unique to this test and process.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kino-text-encoder-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cosine(pooled: &Tensor, i: usize, j: usize) -> f32 {
    let a = pooled.get(i).unwrap();
    let b = pooled.get(j).unwrap();
    (a * b)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn matches_sentence_transformers_reference() {
    let (fx, meta) = fixture("minilm.safetensors");
    let prompts: Vec<String> =
        serde_json::from_str(meta["prompts"].as_str().expect("prompts metadata")).unwrap();
    let max_tokens: usize = meta["max_tokens"].as_str().unwrap().parse().unwrap();
    let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();
    assert!(prompts.contains(&""), "fixture must cover the empty prompt");

    let enc = encoder();
    // Token ids, padded to the longest as the reference does.
    let want_ids = fx["input_ids"]
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec2::<u32>()
        .unwrap();
    let rows = enc.tokenize(&prompts, max_tokens).unwrap();
    let len = want_ids[0].len();
    assert!(
        rows.iter().any(|r| r.len() == max_tokens),
        "a prompt must be truncated"
    );
    for (i, (row, want)) in rows.iter().zip(&want_ids).enumerate() {
        let mut padded = row.clone();
        padded.resize(len, 0);
        assert_eq!(&padded, want, "token ids of prompt {i} ({:?})", prompts[i]);
    }

    let out = enc.encode(&prompts, max_tokens).unwrap();
    assert_eq!(out.tokens.dims(), &[prompts.len(), len, enc.hidden_size()]);
    let want_mask = fx["attention_mask"].to_dtype(DType::F32).unwrap();
    assert_eq!(max_abs_diff(&out.mask, &want_mask), 0.0, "attention mask");

    // Per-position max |diff|, split into real tokens and padding. Padding rows (mask 0) are
    // computed by both sides but carry no information and are not pooled; they drift a little
    // more (1.5e-4 behind the empty prompt's two real tokens), so they get a looser bound.
    let per_pos = (&out.tokens - &fx["last_hidden_state"])
        .unwrap()
        .abs()
        .unwrap()
        .max(2)
        .unwrap();
    let real_diff = max_abs_diff(
        &(&per_pos * &out.mask).unwrap(),
        &per_pos.zeros_like().unwrap(),
    );
    let pad_mask = out.mask.affine(-1.0, 1.0).unwrap();
    let pad_diff = max_abs_diff(
        &(&per_pos * &pad_mask).unwrap(),
        &per_pos.zeros_like().unwrap(),
    );
    let pooled_diff = max_abs_diff(&out.pooled, &fx["pooled"]);
    println!(
        "parity: last_hidden_state max |diff| {real_diff:.3e} on real tokens, {pad_diff:.3e} on padding; pooled max |diff| {pooled_diff:.3e}"
    );
    assert!(
        real_diff < 1e-4,
        "last hidden state differs by {real_diff} on real tokens"
    );
    assert!(
        pad_diff < 1e-3,
        "last hidden state differs by {pad_diff} on padding"
    );
    assert!(
        pooled_diff < 1e-4,
        "pooled embedding differs by {pooled_diff}"
    );
}

#[test]
fn similar_prompts_embed_closer() {
    let out = encoder()
        .encode(
            &[
                "a red ball falls",
                "a crimson ball drops",
                "crickets chirp at night",
            ],
            64,
        )
        .unwrap();
    let near = cosine(&out.pooled, 0, 1);
    let far = cosine(&out.pooled, 0, 2);
    println!("cosine: paraphrase {near:.3}, unrelated {far:.3}");
    assert!(near > far + 0.2, "paraphrase {near} vs unrelated {far}");
}

#[test]
fn any_text_encodes_and_long_text_is_truncated() {
    let enc = encoder();
    let long = "the ball bounces ".repeat(5000);
    let emoji = "🎈".repeat(3000);
    let texts = [
        "",
        long.as_str(),
        emoji.as_str(),
        "\0\u{1}\u{7f}",
        "\u{301}\u{301} lone combining marks",
        "שלום עולם مرحبا",
        "   \n\t  ",
    ];
    let out = enc.encode(&texts, 16).unwrap();
    assert_eq!(out.tokens.dims(), &[texts.len(), 16, 384]);
    let rows = enc.tokenize(&texts, 16).unwrap();
    assert_eq!(rows[0], vec![101, 102], "empty text is [CLS] [SEP]");
    assert_eq!(rows[1].len(), 16);
    assert_eq!(
        (rows[1][0], rows[1][15]),
        (101, 102),
        "truncation keeps [CLS] and [SEP]"
    );
    let mask = out.mask.to_vec2::<f32>().unwrap();
    for (row, m) in rows.iter().zip(&mask) {
        assert_eq!(m.iter().sum::<f32>() as usize, row.len());
    }
    let norms = out
        .pooled
        .sqr()
        .unwrap()
        .sum(1)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (i, n) in norms.iter().enumerate() {
        assert!((n - 1.0).abs() < 1e-4, "pooled {i} has squared norm {n}");
    }
    // Alone, the empty prompt gives a (1, 2, 384) batch.
    let alone = enc.encode(&[""], 77).unwrap();
    assert_eq!(alone.tokens.dims(), &[1, 2, 384]);
}

#[test]
fn bad_arguments_are_errors() {
    let enc = encoder();
    for max_tokens in [0, 2, 513] {
        let err = enc.encode(&["a ball"], max_tokens).err().unwrap();
        assert!(matches!(err, TextEncoderError::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("max_tokens"), "{err}");
    }
    let err = enc.encode(&[], 16).err().unwrap();
    assert!(matches!(err, TextEncoderError::InvalidInput(_)), "{err}");
}

#[test]
fn truncated_weights_are_reported() {
    let dir = scratch_dir("truncated");
    let bytes = std::fs::read(weights_path()).unwrap();
    for (name, keep) in [
        ("half.safetensors", bytes.len() / 2),
        ("header.safetensors", 100),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = TextEncoder::load(&path, &tokenizer_path(), &Device::Cpu)
            .err()
            .unwrap();
        println!("{err}");
        assert!(
            matches!(err, TextEncoderError::CorruptWeights { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_checkpoint_is_reported() {
    let dir = scratch_dir("checkpoint");
    let mut tensors = candle_core::safetensors::load(weights_path(), &Device::Cpu).unwrap();

    let key = "encoder.layer.3.attention.self.key.weight";
    tensors.remove(key).unwrap();
    let path = dir.join("missing-key.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = TextEncoder::load(&path, &tokenizer_path(), &Device::Cpu)
        .err()
        .unwrap();
    println!("{err}");
    assert!(matches!(err, TextEncoderError::Checkpoint { .. }), "{err}");
    assert!(err.to_string().contains("missing-key.safetensors"), "{err}");
    assert!(err.to_string().contains(key), "{err}");

    let wrong = Tensor::zeros((384, 383), DType::F16, &Device::Cpu).unwrap();
    tensors.insert(key.to_string(), wrong);
    let path = dir.join("wrong-shape.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = TextEncoder::load(&path, &tokenizer_path(), &Device::Cpu)
        .err()
        .unwrap();
    println!("{err}");
    assert!(matches!(err, TextEncoderError::Checkpoint { .. }), "{err}");
    assert!(err.to_string().contains("shape"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_or_broken_tokenizer_is_reported() {
    let dir = scratch_dir("tokenizer");
    let missing = dir.join("no-tokenizer.json");
    let err = TextEncoder::load(&weights_path(), &missing, &Device::Cpu)
        .err()
        .unwrap();
    println!("{err}");
    assert!(matches!(err, TextEncoderError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("no-tokenizer.json"), "{err}");

    let broken = dir.join("broken-tokenizer.json");
    std::fs::write(&broken, b"{\"version\": \"1.0\", \"model\": ").unwrap();
    let err = TextEncoder::load(&weights_path(), &broken, &Device::Cpu)
        .err()
        .unwrap();
    println!("{err}");
    assert!(matches!(err, TextEncoderError::Tokenizer { .. }), "{err}");
    assert!(err.to_string().contains("broken-tokenizer.json"), "{err}");

    let err = TextEncoder::load(
        &dir.join("none.safetensors"),
        &tokenizer_path(),
        &Device::Cpu,
    )
    .err()
    .unwrap();
    assert!(matches!(err, TextEncoderError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("none.safetensors"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Prints the encode time of a batch of two prompts (see docs/models/text-encoder.md).
#[test]
fn encode_time_batch_of_two() {
    let t = Instant::now();
    let enc = TextEncoder::load(&weights_path(), &tokenizer_path(), &Device::Cpu).unwrap();
    println!("load: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let enc = &enc;
    let prompts = [
        "a red ball rolls off the table and bounces on the wooden floor",
        "rain falls on a tin roof at night while a dog barks in the distance",
    ];
    let first = enc.encode(&prompts, 77).unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let out = enc.encode(&prompts, 77).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(
            max_abs_diff(&out.pooled, &first.pooled),
            0.0,
            "encode is deterministic"
        );
    }
    times.sort_by(f64::total_cmp);
    println!(
        "encode 2 prompts ({} tokens): median {:.1} ms, min {:.1} ms over 10 runs",
        first.tokens.dim(1).unwrap(),
        times[5],
        times[0]
    );
}

#[test]
fn shared_loads_are_one_encoder_while_it_lives() {
    // A copy of the files, so no other test's load of the shipped ones is shared with this.
    let dir = scratch_dir("shared");
    let (w, t) = (dir.join("w.safetensors"), dir.join("tokenizer.json"));
    std::fs::copy(weights_path(), &w).unwrap();
    std::fs::copy(tokenizer_path(), &t).unwrap();
    let a = TextEncoder::load_shared(&w, &t, &Device::Cpu).unwrap();
    let b = TextEncoder::load_shared(&w, &t, &Device::Cpu).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&a, &b),
        "the second load made a copy"
    );
    // Other files are another encoder.
    let other = dir.join("w2.safetensors");
    std::fs::copy(weights_path(), &other).unwrap();
    let c = TextEncoder::load_shared(&other, &t, &Device::Cpu).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&a, &c));
    // Once every holder is gone the next load reads the files again: a truncated file is
    // now an error, not the stale encoder.
    drop((a, b));
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    assert!(TextEncoder::load_shared(&w, &t, &Device::Cpu).is_err());
    // And a changed file is not served from the cache while an old holder lives.
    std::fs::write(&w, &bytes).unwrap();
    let d = TextEncoder::load_shared(&w, &t, &Device::Cpu).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    assert!(TextEncoder::load_shared(&w, &t, &Device::Cpu).is_err());
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
