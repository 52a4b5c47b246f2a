//! The similarity layer: sentence embeddings of the prompt compared with curated example
//! prompts of each class.
//!
//! The prompt is cut into segments (sentences; long ones into overlapping 40-word
//! windows; the whole prompt too when it is short and has several sentences). Each
//! segment is embedded, and for each class its score is the highest cosine similarity to
//! one of the class's examples. A segment is refused for a class when that score reaches
//! the class threshold and beats the closest *allowed* example (benign prompts that look
//! alike) by the policy margin.

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use kino_models::folder::ModelFolder;
use kino_models::text_encoder::TextEncoder;

use crate::class::Class;
use crate::error::SafetyError;
use crate::text::tokenize;

/// Turns texts into L2-normalised sentence embeddings, one per text, all the same width.
///
/// [`MiniLmEncoder`] is kino's; tests and other callers may bring their own.
pub trait SentenceEncoder: Send + Sync {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SafetyError>;
}

/// kino's all-MiniLM-L6-v2 text encoder (mean pooling + L2 normalisation, as
/// sentence-transformers computes it).
pub struct MiniLmEncoder {
    encoder: Arc<TextEncoder>,
    max_tokens: usize,
}

impl MiniLmEncoder {
    /// Tokens per segment, special tokens included (a 40-word window fits).
    pub const MAX_TOKENS: usize = 128;
    /// Texts per forward pass.
    const BATCH: usize = 32;

    pub fn new(encoder: Arc<TextEncoder>) -> Self {
        Self {
            encoder,
            max_tokens: Self::MAX_TOKENS,
        }
    }

    /// Loads the encoder of a model folder (`models/kino-tiny`) on the CPU: the folder's
    /// `text_encoder` component and `tokenizer.json`. A bare folder holding
    /// `text_encoder.safetensors` and `tokenizer.json` also works. A generator that loads the
    /// same files while this encoder lives shares it ([`TextEncoder::load_shared`]).
    pub fn load(model_dir: &Path) -> Result<Self, SafetyError> {
        Self::load_on(model_dir, &Device::Cpu)
    }

    pub fn load_on(model_dir: &Path, device: &Device) -> Result<Self, SafetyError> {
        let weights = if model_dir.join("kino-model.json").is_file() {
            ModelFolder::open(model_dir)
                .and_then(|f| f.weights_path("text_encoder"))
                .map_err(|e| SafetyError::Encoder(e.to_string()))?
        } else {
            model_dir.join("text_encoder.safetensors")
        };
        let encoder = TextEncoder::load_shared(&weights, &model_dir.join("tokenizer.json"), device)
            .map_err(|e| SafetyError::Encoder(e.to_string()))?;
        Ok(Self::new(encoder))
    }
}

impl SentenceEncoder for MiniLmEncoder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SafetyError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(Self::BATCH) {
            let e = self
                .encoder
                .encode(chunk, self.max_tokens)
                .map_err(|e| SafetyError::Encoder(e.to_string()))?;
            let rows = e
                .pooled
                .to_vec2::<f32>()
                .map_err(|e| SafetyError::Encoder(e.to_string()))?;
            out.extend(rows);
        }
        Ok(out)
    }
}

/// The encoder with the policy's examples embedded.
#[derive(Clone)]
pub(crate) struct SimilarityLayer {
    encoder: Arc<dyn SentenceEncoder>,
    /// (class, example text, embedding)
    examples: Vec<(Class, String, Vec<f32>)>,
    allowed: Vec<Vec<f32>>,
    thresholds: [f32; 8],
    margin: f32,
}

/// A segment refused by the similarity layer.
#[derive(Debug, Clone)]
pub(crate) struct SimHit {
    pub class: Class,
    pub start: usize,
    pub end: usize,
    pub score: f32,
    pub example: String,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn embed_checked(
    encoder: &dyn SentenceEncoder,
    texts: &[&str],
) -> Result<Vec<Vec<f32>>, SafetyError> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let e = encoder.embed(texts)?;
    if e.len() != texts.len() {
        return Err(SafetyError::Encoder(format!(
            "{} embeddings for {} texts",
            e.len(),
            texts.len()
        )));
    }
    Ok(e)
}

impl SimilarityLayer {
    pub(crate) fn new(
        encoder: Arc<dyn SentenceEncoder>,
        examples: &[(Class, String)],
        allowed: &[String],
        thresholds: [f32; 8],
        margin: f32,
    ) -> Result<Self, SafetyError> {
        let texts: Vec<&str> = examples.iter().map(|(_, t)| t.as_str()).collect();
        let emb = embed_checked(encoder.as_ref(), &texts)?;
        let allowed_texts: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let allowed = embed_checked(encoder.as_ref(), &allowed_texts)?;
        let width = emb.first().or(allowed.first()).map(Vec::len);
        if let Some(w) = width {
            if emb.iter().chain(&allowed).any(|v| v.len() != w) {
                return Err(SafetyError::Encoder(
                    "the encoder returned embeddings of different widths".into(),
                ));
            }
        }
        Ok(Self {
            encoder,
            examples: examples
                .iter()
                .zip(emb)
                .map(|((c, t), e)| (*c, t.clone(), e))
                .collect(),
            allowed,
            thresholds,
            margin,
        })
    }

    /// Per class: the highest score over the segments and, for that segment, the score of
    /// the closest allowed example.
    pub(crate) fn scores(&self, text: &str) -> Result<Vec<(Class, f32, f32)>, SafetyError> {
        let segs = segments(text);
        if segs.is_empty() || self.examples.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = segs.iter().map(|&(s, e)| &text[s..e]).collect();
        let emb = embed_checked(self.encoder.as_ref(), &texts)?;
        let mut best: Vec<Option<(f32, f32)>> = vec![None; Class::ALL.len()];
        for v in &emb {
            let allowed = self
                .allowed
                .iter()
                .map(|a| dot(v, a))
                .fold(f32::NEG_INFINITY, f32::max);
            for (c, _, x) in &self.examples {
                let score = dot(v, x);
                let slot = &mut best[c.index()];
                if slot.is_none_or(|(b, _)| score > b) {
                    *slot = Some((score, allowed));
                }
            }
        }
        Ok(Class::ALL
            .into_iter()
            .filter_map(|c| best[c.index()].map(|(s, a)| (c, s, a)))
            .collect())
    }

    /// The best refused segment of each class whose threshold is reached.
    pub(crate) fn evaluate(&self, text: &str) -> Result<Vec<SimHit>, SafetyError> {
        if self.examples.is_empty() {
            return Ok(Vec::new());
        }
        let segs = segments(text);
        if segs.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<&str> = segs.iter().map(|&(s, e)| &text[s..e]).collect();
        let emb = embed_checked(self.encoder.as_ref(), &texts)?;
        let mut best: Vec<Option<(f32, SimHit)>> = vec![None; Class::ALL.len()];
        for (&(s, e), v) in segs.iter().zip(&emb) {
            let allowed = self
                .allowed
                .iter()
                .map(|a| dot(v, a))
                .fold(f32::NEG_INFINITY, f32::max);
            let mut per_class: Vec<Option<(f32, usize)>> = vec![None; Class::ALL.len()];
            for (i, (c, _, x)) in self.examples.iter().enumerate() {
                let score = dot(v, x);
                let slot = &mut per_class[c.index()];
                if slot.is_none_or(|(b, _)| score > b) {
                    *slot = Some((score, i));
                }
            }
            for class in Class::ALL {
                let Some((score, i)) = per_class[class.index()] else {
                    continue;
                };
                let thr = self.thresholds[class.index()];
                if !score.is_finite() || score < thr || score - allowed < self.margin {
                    continue;
                }
                let excess = score - thr;
                let slot = &mut best[class.index()];
                if slot.as_ref().is_none_or(|(b, _)| excess > *b) {
                    *slot = Some((
                        excess,
                        SimHit {
                            class,
                            start: s,
                            end: e,
                            score,
                            example: self.examples[i].1.clone(),
                        },
                    ));
                }
            }
        }
        Ok(best.into_iter().flatten().map(|(_, h)| h).collect())
    }
}

/// Words per window when a sentence is long.
const WINDOW_WORDS: usize = 40;
const WINDOW_STRIDE: usize = 30;
/// A prompt of at most this many words is also embedded whole.
const WHOLE_WORDS: usize = 96;

/// Byte ranges of the segments of `text` that the similarity layer embeds.
pub(crate) fn segments(text: &str) -> Vec<(usize, usize)> {
    let toks = tokenize(text);
    if toks.is_empty() {
        return Vec::new();
    }
    // Sentences: split the word list where the text between two words ends a sentence.
    let mut sentences: Vec<(usize, usize)> = Vec::new(); // word ranges
    let mut start = 0;
    for i in 1..toks.len() {
        let gap = &text[toks[i - 1].end..toks[i].start];
        if gap.contains(['.', '!', '?', ';', '\n', '。', '！', '？']) {
            sentences.push((start, i));
            start = i;
        }
    }
    sentences.push((start, toks.len()));
    // Merge one- and two-word fragments into the following sentence (or the previous one).
    let mut merged: Vec<(usize, usize)> = Vec::new();
    let mut pending: Option<usize> = None;
    for (s, e) in sentences {
        let s = pending.take().unwrap_or(s);
        if e - s < 3 {
            pending = Some(s);
        } else {
            merged.push((s, e));
        }
    }
    if let Some(s) = pending {
        match merged.last_mut() {
            Some(last) => last.1 = toks.len(),
            None => merged.push((s, toks.len())),
        }
    }
    let mut out = Vec::new();
    for (s, e) in merged.iter().copied() {
        if e - s <= WINDOW_WORDS + WINDOW_WORDS / 4 {
            out.push((s, e));
        } else {
            let mut w = s;
            loop {
                let we = (w + WINDOW_WORDS).min(e);
                out.push((w, we));
                if we == e {
                    break;
                }
                w += WINDOW_STRIDE;
            }
        }
    }
    if out.len() > 1 && toks.len() <= WHOLE_WORDS {
        out.push((0, toks.len()));
    }
    out.into_iter()
        .map(|(s, e)| (toks[s].start, toks[e - 1].end))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_sentences_and_windows() {
        let t = "A cat sleeps. Ok. A dog barks loudly!\nAudio: rain on the roof";
        let segs: Vec<&str> = segments(t).iter().map(|&(s, e)| &t[s..e]).collect();
        assert_eq!(
            segs,
            [
                "A cat sleeps",
                "Ok. A dog barks loudly",
                "Audio: rain on the roof",
                t,
            ]
        );
        let long = "word ".repeat(200);
        let segs = segments(&long);
        assert!(segs.len() >= 6);
        assert!(segments("").is_empty());
        assert!(segments(" ... ").is_empty());
    }
}
