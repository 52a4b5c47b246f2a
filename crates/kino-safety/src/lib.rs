//! kino-safety: the prompt policy kino checks before it generates anything.
//!
//! A [`Policy`] refuses prompts in eight [`Class`]es (sexual content, minors, graphic
//! violence, self-harm, hate, extremism, impersonation of real people, copyrighted
//! characters) with two layers:
//!
//! 1. **Rules** — word patterns with word boundaries and inflections, co-occurrence
//!    combos (a minor *and* a sexual term) and context exceptions (`shoot a photo`,
//!    `killer app`), built in and extensible by an operator's TOML file.
//! 2. **Similarity** (optional) — the prompt's sentences embedded with kino's own
//!    all-MiniLM-L6-v2 text encoder and compared with curated example prompts per class.
//!    Without an encoder the policy runs on rules alone.
//!
//! ```
//! use kino_safety::{Class, Policy, Verdict};
//!
//! let policy = Policy::default();
//! assert_eq!(policy.check("A red ball bounces on a wooden floor"), Verdict::Allowed);
//! let Verdict::Refused(r) = policy.check("Darth Vader dances in the rain") else {
//!     panic!("expected a refusal");
//! };
//! assert_eq!(r.class, Class::Copyright);
//! assert_eq!(r.matched_text, "Darth Vader");
//! ```
//!
//! The format of policy files and the measured quality are in `docs/safety.md`.
//!
//! **Output check.** After generation, before a clip is stored or returned,
//! [`NsfwClassifier`] runs Yahoo's open_nsfw image classifier (BSD-2-Clause, ONNX,
//! embedded in the binary, run on the CPU with tract) on up to [`NSFW_SAMPLE_FRAMES`]
//! evenly spaced frames and refuses the clip when one scores at or above the threshold
//! ([`DEFAULT_NSFW_THRESHOLD`]):
//!
//! ```no_run
//! use kino_safety::{FrameVerdict, NsfwClassifier, DEFAULT_NSFW_THRESHOLD};
//!
//! let classifier = NsfwClassifier::embedded()?; // load once, share
//! let frame = vec![90u8; 64 * 48 * 3]; // RGB, row-major
//! let frames = [(64, 48, frame.as_slice())];
//! match classifier.check_frames(frames, DEFAULT_NSFW_THRESHOLD)? {
//!     FrameVerdict::Allowed { .. } => { /* store and return the clip */ }
//!     FrameVerdict::Refused { frame, score } => eprintln!("frame {frame} scored {score}"),
//! }
//! # Ok::<(), kino_safety::SafetyError>(())
//! ```
//!
//! **Consent clips.** [`ConsentCheck`] judges whether a cameo's consent clip is a live
//! recording of someone speaking — duration, motion, no loop, voice activity in the speech
//! band with a syllable rhythm, not a tone — from luma planes and mono PCM, and returns a
//! [`ConsentReport`] with every measurement ([`consent`]; no face matching).

mod class;
mod config;
pub mod consent;
mod error;
pub mod eval;
mod frames;
mod pattern;
mod rules;
mod similarity;
mod text;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

pub use class::Class;
pub use consent::{
    ClipSignals, ConsentCheck, ConsentReport, Measurements as ConsentMeasurements,
    Property as ConsentProperty, PropertyResult as ConsentResult,
};
pub use error::{Location, SafetyError};
pub use frames::{
    nsfw_input_crop, sample_indices, FrameVerdict, NsfwClassifier, DEFAULT_NSFW_THRESHOLD,
    NSFW_INPUT_SIZE, NSFW_SAMPLE_FRAMES,
};
pub use similarity::{MiniLmEncoder, SentenceEncoder};

use config::Spec;
use rules::RuleSet;
use similarity::SimilarityLayer;

/// Which layer refused a prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Layer {
    /// A rule (blocked pattern or combo) matched.
    Rule,
    /// A segment of the prompt was this close (cosine similarity) to an example of the class.
    Similarity { score: f32 },
}

/// Why a prompt is refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub class: Class,
    /// Byte range of the offending text in the prompt (`&prompt[span.0..span.1]`).
    pub span: (usize, usize),
    /// `&prompt[span.0..span.1]`.
    pub matched_text: String,
    /// A sentence for the user.
    pub reason: String,
    pub layer: Layer,
    /// For operators: the rule that matched (`naked`, `@minor + @sexual_terms`), or the
    /// closest example prompt of the similarity layer.
    pub evidence: String,
}

/// The outcome of [`Policy::check`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Allowed,
    Refused(Refusal),
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed)
    }

    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Verdict::Allowed => None,
            Verdict::Refused(r) => Some(r),
        }
    }
}

/// Per-class settings after merging.
#[derive(Debug, Clone)]
struct ClassSettings {
    enabled: bool,
    reason: String,
    threshold: f32,
}

/// A compiled prompt policy. Cheap to share (`Send + Sync`); checking takes `&self`.
#[derive(Clone)]
pub struct Policy {
    rules: RuleSet,
    classes: Vec<ClassSettings>,
    similarity_enabled: bool,
    margin: f32,
    examples: Vec<(Class, String)>,
    allowed_examples: Vec<String>,
    layer: Option<SimilarityLayer>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("enabled", &self.enabled_classes())
            .field("examples", &self.examples.len())
            .field("similarity", &self.has_encoder())
            .finish_non_exhaustive()
    }
}

impl Default for Policy {
    /// The built-in policy (`data/default_policy.toml`), rules only.
    fn default() -> Self {
        // The built-in file is checked by the crate's tests; it cannot fail at run time.
        Self::compile(&Spec::builtin().expect("the built-in policy is valid"))
            .expect("the built-in policy compiles")
    }
}

impl Policy {
    /// The text of the built-in policy, in the operator file format.
    pub fn builtin_toml() -> &'static str {
        config::BUILTIN
    }

    /// An operator's policy: the TOML is layered over the built-in policy (unless it says
    /// `defaults = false`). Errors carry line and column.
    pub fn from_toml(toml: &str) -> Result<Self, SafetyError> {
        Self::compile(&Spec::operator("policy TOML", toml)?)
    }

    /// [`Policy::from_toml`] of a file; errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SafetyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SafetyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::compile(&Spec::operator(&path.display().to_string(), &text)?)
    }

    fn compile(spec: &Spec) -> Result<Self, SafetyError> {
        let rules = RuleSet::compile(spec)?;
        let classes = spec
            .classes
            .iter()
            .map(|c| ClassSettings {
                enabled: c.enabled,
                reason: c.reason.clone(),
                threshold: c.threshold,
            })
            .collect();
        let examples = Class::ALL
            .iter()
            .filter(|c| spec.classes[c.index()].enabled)
            .flat_map(|&c| {
                spec.classes[c.index()]
                    .examples
                    .iter()
                    .map(move |e| (c, e.clone()))
            })
            .collect();
        Ok(Self {
            rules,
            classes,
            similarity_enabled: spec.similarity_enabled,
            margin: spec.margin,
            examples,
            allowed_examples: spec.allowed_examples.clone(),
            layer: None,
        })
    }

    /// Adds the similarity layer: embeds the policy's examples with `encoder` (a few
    /// hundred sentences; about a second with MiniLM on a CPU). A policy whose file says
    /// `similarity.enabled = false` keeps running on rules alone.
    pub fn with_encoder(mut self, encoder: Arc<dyn SentenceEncoder>) -> Result<Self, SafetyError> {
        if !self.similarity_enabled {
            self.layer = None;
            return Ok(self);
        }
        let mut thresholds = [1.0f32; 8];
        for c in Class::ALL {
            thresholds[c.index()] = self.classes[c.index()].threshold;
        }
        self.layer = Some(SimilarityLayer::new(
            encoder,
            &self.examples,
            &self.allowed_examples,
            thresholds,
            self.margin,
        )?);
        Ok(self)
    }

    /// [`Policy::with_encoder`] with kino's MiniLM loaded from a model folder
    /// (`models/kino-tiny`) on the CPU.
    pub fn with_model_dir(self, model_dir: impl AsRef<Path>) -> Result<Self, SafetyError> {
        let enc = MiniLmEncoder::load(model_dir.as_ref())?;
        self.with_encoder(Arc::new(enc))
    }

    /// Diagnostics for choosing thresholds: per class with examples, the highest cosine
    /// similarity of a prompt segment to one of the class's examples, and for that segment
    /// the similarity to the closest allowed example. Empty without an encoder.
    pub fn similarity_scores(&self, prompt: &str) -> Result<Vec<(Class, f32, f32)>, SafetyError> {
        match &self.layer {
            Some(layer) => layer.scores(prompt),
            None => Ok(Vec::new()),
        }
    }

    /// Whether the similarity layer is active.
    pub fn has_encoder(&self) -> bool {
        self.layer.is_some()
    }

    /// The classes this policy checks.
    pub fn enabled_classes(&self) -> Vec<Class> {
        Class::ALL
            .into_iter()
            .filter(|c| self.classes[c.index()].enabled)
            .collect()
    }

    /// Checks a prompt: the highest-priority rule refusal, else (with an encoder) the
    /// highest-priority similarity refusal, else `Allowed`. Never panics. If the encoder
    /// fails, the rules' verdict stands (use [`Policy::try_check`] to see the error).
    pub fn check(&self, prompt: &str) -> Verdict {
        match self.try_check(prompt) {
            Ok(v) => v,
            Err(_) => self.check_rules(prompt),
        }
    }

    /// [`Policy::check`], reporting an encoder failure instead of falling back to rules.
    pub fn try_check(&self, prompt: &str) -> Result<Verdict, SafetyError> {
        if let Verdict::Refused(r) = self.check_rules(prompt) {
            return Ok(Verdict::Refused(r));
        }
        Ok(match self.similarity_refusals(prompt)?.into_iter().next() {
            Some(r) => Verdict::Refused(r),
            None => Verdict::Allowed,
        })
    }

    /// The rule layer alone, even when an encoder is present.
    pub fn check_rules(&self, prompt: &str) -> Verdict {
        match self.rule_refusals(prompt).into_iter().next() {
            Some(r) => Verdict::Refused(r),
            None => Verdict::Allowed,
        }
    }

    /// Every refusal of both layers: at most one per class and layer, rules first, each
    /// layer in class priority order.
    pub fn check_all(&self, prompt: &str) -> Result<Vec<Refusal>, SafetyError> {
        let mut out = self.rule_refusals(prompt);
        out.extend(self.similarity_refusals(prompt)?);
        Ok(out)
    }

    fn refusal(
        &self,
        prompt: &str,
        class: Class,
        span: (usize, usize),
        layer: Layer,
        evidence: String,
    ) -> Refusal {
        let matched_text = prompt.get(span.0..span.1).unwrap_or("").to_string();
        let shown: String = if matched_text.chars().count() > 80 {
            let mut s: String = matched_text.chars().take(77).collect();
            s.push_str("...");
            s
        } else {
            matched_text.clone()
        };
        let reason = self.classes[class.index()]
            .reason
            .replace("{matched}", &shown);
        Refusal {
            class,
            span,
            matched_text,
            reason,
            layer,
            evidence,
        }
    }

    fn rule_refusals(&self, prompt: &str) -> Vec<Refusal> {
        let toks = text::tokenize(prompt);
        self.rules
            .evaluate(&toks)
            .into_iter()
            .map(|h| {
                let span = (toks[h.first].start, toks[h.last - 1].end);
                self.refusal(prompt, h.class, span, Layer::Rule, h.rule)
            })
            .collect()
    }

    fn similarity_refusals(&self, prompt: &str) -> Result<Vec<Refusal>, SafetyError> {
        let Some(layer) = &self.layer else {
            return Ok(Vec::new());
        };
        Ok(layer
            .evaluate(prompt)?
            .into_iter()
            .map(|h| {
                self.refusal(
                    prompt,
                    h.class,
                    (h.start, h.end),
                    Layer::Similarity { score: h.score },
                    h.example,
                )
            })
            .collect())
    }
}
