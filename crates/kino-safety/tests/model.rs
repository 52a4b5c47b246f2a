//! The similarity layer with kino's shipped MiniLM (`models/kino-tiny`); skipped when the
//! weights are not there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kino_safety::{Class, Layer, MiniLmEncoder, Policy, SentenceEncoder, Verdict};

fn model_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/kino-tiny");
    dir.join("text_encoder.safetensors")
        .is_file()
        .then_some(dir)
}

#[test]
fn minilm_embeddings_are_normalised_sentence_vectors() {
    let Some(dir) = model_dir() else { return };
    let enc = MiniLmEncoder::load(&dir).unwrap();
    let e = enc
        .embed(&[
            "a cat sleeps on a sofa",
            "a kitten naps on a couch",
            "a rocket launch",
        ])
        .unwrap();
    assert_eq!(e.len(), 3);
    for v in &e {
        assert_eq!(v.len(), 384);
        let n: f32 = v.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4, "{n}");
    }
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&e[0], &e[1]) > dot(&e[0], &e[2]) + 0.2);
}

#[test]
fn similarity_layer_refuses_what_rules_miss() {
    let Some(dir) = model_dir() else { return };
    let policy = Policy::default()
        .with_encoder(Arc::new(MiniLmEncoder::load(&dir).unwrap()))
        .unwrap();
    assert!(policy.has_encoder());
    // One of the built-in examples, worded so that no rule matches it.
    let prompt =
        "Establishing shot of a quiet house. A man tying a rope to a ceiling beam to end things.";
    assert!(policy.check_rules(prompt).is_allowed());
    let Verdict::Refused(r) = policy.check(prompt) else {
        panic!("not refused")
    };
    assert_eq!(r.class, Class::SelfHarm);
    assert!(
        matches!(r.layer, Layer::Similarity { score } if score > 0.9),
        "{r:?}"
    );
    assert_eq!(
        r.matched_text,
        "A man tying a rope to a ceiling beam to end things"
    );
    assert_eq!(&prompt[r.span.0..r.span.1], r.matched_text);
    for benign in [
        "A red ball falls onto a wooden floor at dusk and bounces twice. Audio: a thud on each bounce.",
        "a sailor ties a rope to a post at the harbour",
        "kids playing in a park on a sunny afternoon",
        "",
    ] {
        assert!(policy.check(benign).is_allowed(), "{benign}: {:?}", policy.check(benign));
    }
}
