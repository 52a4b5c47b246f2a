//! The similarity layer's logic with a stand-in encoder (no model needed).

use std::sync::Arc;

use kino_safety::{Class, Layer, Policy, SafetyError, SentenceEncoder, Verdict};

/// Bag of words hashed into 64 buckets, L2-normalised: texts sharing words are similar.
struct BagOfWords;

impl SentenceEncoder for BagOfWords {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SafetyError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 64];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let h = w
                        .to_lowercase()
                        .bytes()
                        .fold(1469598103934665603u64, |h, b| {
                            (h ^ u64::from(b)).wrapping_mul(1099511628211)
                        });
                    v[(h % 64) as usize] += 1.0;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

struct Failing;

impl SentenceEncoder for Failing {
    fn embed(&self, _: &[&str]) -> Result<Vec<Vec<f32>>, SafetyError> {
        Err(SafetyError::Encoder("boom".into()))
    }
}

fn policy() -> Policy {
    Policy::from_toml(
        r#"
        defaults = false
        [classes.violence]
        threshold = 0.8
        examples = ["purple dragons eat tiny villagers"]
        [similarity]
        margin = 0.05
        allowed_examples = ["purple dragons sleep on gold"]
        "#,
    )
    .unwrap()
}

#[test]
fn similarity_refuses_close_segments_with_their_span() {
    let p = policy().with_encoder(Arc::new(BagOfWords)).unwrap();
    assert!(p.has_encoder());
    let prompt = "A calm lake at dawn. Purple dragons eat tiny villagers! Birds sing in the trees.";
    let Verdict::Refused(r) = p.check(prompt) else {
        panic!("not refused")
    };
    assert_eq!(r.class, Class::Violence);
    assert_eq!(r.matched_text, "Purple dragons eat tiny villagers");
    assert_eq!(&prompt[r.span.0..r.span.1], r.matched_text);
    assert!(matches!(r.layer, Layer::Similarity { score } if score > 0.99));
    assert_eq!(r.evidence, "purple dragons eat tiny villagers");
    // Closer to the allowed example than the class example: allowed.
    assert!(p.check("purple dragons sleep on gold").is_allowed());
    // Rules only, even with an encoder.
    assert!(p.check_rules(prompt).is_allowed());
    let scores = p.similarity_scores(prompt).unwrap();
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0].0, Class::Violence);
}

#[test]
fn rules_come_first_and_disabled_similarity_is_rules_only() {
    let p = Policy::from_toml(
        r#"
        defaults = false
        [classes.copyright]
        block = ["purple dragon*"]
        [classes.violence]
        threshold = 0.5
        examples = ["purple dragons eat tiny villagers"]
        "#,
    )
    .unwrap()
    .with_encoder(Arc::new(BagOfWords))
    .unwrap();
    let r = p
        .check("purple dragons eat tiny villagers")
        .refusal()
        .cloned()
        .unwrap();
    assert_eq!((r.class, r.layer), (Class::Copyright, Layer::Rule));
    let all = p.check_all("purple dragons eat tiny villagers").unwrap();
    assert_eq!(all.len(), 2);

    let off = Policy::from_toml("[similarity]\nenabled = false\n")
        .unwrap()
        .with_encoder(Arc::new(BagOfWords))
        .unwrap();
    assert!(!off.has_encoder());
}

#[test]
fn encoder_failures_fall_back_to_rules() {
    let err = policy().with_encoder(Arc::new(Failing)).unwrap_err();
    assert!(err.to_string().contains("boom"));
    // A policy without examples embeds nothing at load time, then fails on check.
    let p =
        Policy::from_toml("defaults = false\n[classes.violence]\nexamples = [\"x y\"]\n").unwrap();
    assert!(p.with_encoder(Arc::new(Failing)).is_err());
}
