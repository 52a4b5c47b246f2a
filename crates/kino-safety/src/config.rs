//! The policy TOML format, merged over the built-in policy.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::class::Class;
use crate::error::{Location, SafetyError};

/// The built-in policy, in the same format operators use.
pub(crate) const BUILTIN: &str = include_str!("../data/default_policy.toml");
pub(crate) const BUILTIN_NAME: &str =
    "built-in policy (crates/kino-safety/data/default_policy.toml)";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: Option<Spanned<i64>>,
    /// Start from the built-in policy (default) or from nothing.
    defaults: Option<bool>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    sets: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    classes: BTreeMap<Spanned<String>, ClassFile>,
    #[serde(default)]
    similarity: SimilarityFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassFile {
    enabled: Option<bool>,
    reason: Option<String>,
    #[serde(default)]
    block: Vec<Spanned<String>>,
    #[serde(default)]
    unblock: Vec<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    combo: Vec<ComboFile>,
    threshold: Option<Spanned<f64>>,
    #[serde(default)]
    examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComboFile {
    all: Spanned<Vec<Vec<Spanned<String>>>>,
    #[serde(default)]
    window: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarityFile {
    enabled: Option<bool>,
    margin: Option<Spanned<f64>>,
    #[serde(default)]
    allowed_examples: Vec<String>,
}

/// A pattern (or `@set` reference) with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub pattern: String,
    pub field: String,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub(crate) struct ComboSpec {
    pub groups: Vec<Vec<Entry>>,
    /// Largest distance in words between the first words of the groups' matches; 0: any.
    pub window: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct ClassSpec {
    pub enabled: bool,
    pub reason: String,
    pub block: Vec<Entry>,
    /// Patterns removed from `block` after `@set` expansion.
    pub unblock: Vec<Entry>,
    pub allow: Vec<Entry>,
    pub combos: Vec<ComboSpec>,
    pub threshold: f32,
    pub examples: Vec<String>,
}

/// A whole policy, merged, before compilation.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub sets: BTreeMap<String, Vec<Entry>>,
    pub allow: Vec<Entry>,
    pub classes: Vec<ClassSpec>,
    pub similarity_enabled: bool,
    pub margin: f32,
    pub allowed_examples: Vec<String>,
}

/// Threshold of a class whose file sets none.
const DEFAULT_THRESHOLD: f32 = 0.7;

impl Spec {
    pub(crate) fn empty() -> Self {
        Self {
            sets: BTreeMap::new(),
            allow: Vec::new(),
            classes: Class::ALL
                .iter()
                .map(|c| ClassSpec {
                    enabled: true,
                    reason: c.default_reason().to_string(),
                    block: Vec::new(),
                    unblock: Vec::new(),
                    allow: Vec::new(),
                    combos: Vec::new(),
                    threshold: DEFAULT_THRESHOLD,
                    examples: Vec::new(),
                })
                .collect(),
            similarity_enabled: true,
            margin: 0.0,
            allowed_examples: Vec::new(),
        }
    }

    pub(crate) fn builtin() -> Result<Self, SafetyError> {
        let mut spec = Self::empty();
        let file = parse(BUILTIN_NAME, BUILTIN)?;
        spec.apply(BUILTIN_NAME, BUILTIN, file)?;
        Ok(spec)
    }

    /// Parses an operator file: layered over the built-in policy unless it says
    /// `defaults = false`.
    pub(crate) fn operator(source: &str, text: &str) -> Result<Self, SafetyError> {
        let file = parse(source, text)?;
        let mut spec = if file.defaults.unwrap_or(true) {
            Self::builtin()?
        } else {
            Self::empty()
        };
        spec.apply(source, text, file)?;
        Ok(spec)
    }

    fn apply(&mut self, source: &str, text: &str, file: PolicyFile) -> Result<(), SafetyError> {
        let loc = |offset: usize| Location::at(source, text, offset);
        let entries = |list: Vec<Spanned<String>>, field: &str| -> Vec<Entry> {
            list.into_iter()
                .map(|s| Entry {
                    location: loc(s.span().start),
                    field: field.to_string(),
                    pattern: s.into_inner(),
                })
                .collect()
        };
        if let Some(v) = file.version {
            if *v.get_ref() != 1 {
                return Err(SafetyError::Value {
                    location: loc(v.span().start),
                    field: "version".into(),
                    message: format!("this build reads policy version 1, not {}", v.get_ref()),
                });
            }
        }
        self.allow.extend(entries(file.allow, "allow"));
        for (name, list) in file.sets {
            let field = format!("sets.{name}");
            let new = entries(list, &field);
            self.sets.entry(name).or_default().extend(new);
        }
        for (name, cf) in file.classes {
            let class: Class = name
                .get_ref()
                .parse()
                .map_err(|_| SafetyError::UnknownClass {
                    location: loc(name.span().start),
                    name: name.get_ref().clone(),
                    known: Class::names(),
                })?;
            let prefix = format!("classes.{class}");
            let spec = &mut self.classes[class.index()];
            if let Some(e) = cf.enabled {
                spec.enabled = e;
            }
            if let Some(r) = cf.reason {
                spec.reason = r;
            }
            spec.unblock
                .extend(entries(cf.unblock, &format!("{prefix}.unblock")));
            spec.block
                .extend(entries(cf.block, &format!("{prefix}.block")));
            spec.allow
                .extend(entries(cf.allow, &format!("{prefix}.allow")));
            for (i, combo) in cf.combo.into_iter().enumerate() {
                let field = format!("{prefix}.combo[{i}].all");
                let span = combo.all.span();
                let groups: Vec<Vec<Entry>> = combo
                    .all
                    .into_inner()
                    .into_iter()
                    .map(|g| entries(g, &field))
                    .collect();
                if groups.len() < 2 || groups.iter().any(Vec::is_empty) {
                    return Err(SafetyError::Value {
                        location: loc(span.start),
                        field,
                        message: "a combo needs two or more non-empty lists of patterns"
                            .to_string(),
                    });
                }
                spec.combos.push(ComboSpec {
                    groups,
                    window: combo.window,
                });
            }
            if let Some(t) = cf.threshold {
                let v = *t.get_ref();
                if !(-1.0..=1.0).contains(&v) {
                    return Err(SafetyError::Value {
                        location: loc(t.span().start),
                        field: format!("{prefix}.threshold"),
                        message: format!("{v} is not a cosine similarity in -1..=1"),
                    });
                }
                spec.threshold = v as f32;
            }
            spec.examples.extend(cf.examples);
        }
        if let Some(e) = file.similarity.enabled {
            self.similarity_enabled = e;
        }
        if let Some(m) = file.similarity.margin {
            let v = *m.get_ref();
            if !(-2.0..=2.0).contains(&v) {
                return Err(SafetyError::Value {
                    location: loc(m.span().start),
                    field: "similarity.margin".into(),
                    message: format!("{v} is not in -2..=2"),
                });
            }
            self.margin = v as f32;
        }
        self.allowed_examples
            .extend(file.similarity.allowed_examples);
        Ok(())
    }

    /// The patterns of `list` with `@set` references expanded.
    pub(crate) fn expand(&self, list: &[Entry]) -> Result<Vec<Entry>, SafetyError> {
        let mut out = Vec::new();
        for e in list {
            self.expand_into(e, &mut out, 0)?;
        }
        Ok(out)
    }

    fn expand_into(
        &self,
        e: &Entry,
        out: &mut Vec<Entry>,
        depth: usize,
    ) -> Result<(), SafetyError> {
        let Some(name) = e.pattern.trim().strip_prefix('@') else {
            out.push(e.clone());
            return Ok(());
        };
        let err = |message: String| SafetyError::Pattern {
            location: e.location.clone(),
            field: e.field.clone(),
            pattern: e.pattern.clone(),
            message,
        };
        if depth >= 8 {
            return Err(err(
                "sets nest more than 8 deep (a set refers to itself?)".into()
            ));
        }
        let set = self.sets.get(name).ok_or_else(|| {
            err(format!(
                "no set named `{name}` (sets: {})",
                self.sets.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        for inner in set {
            // Report problems inside the set where the set writes them.
            self.expand_into(inner, out, depth + 1)?;
        }
        Ok(())
    }
}

fn parse(source: &str, text: &str) -> Result<PolicyFile, SafetyError> {
    toml::from_str::<PolicyFile>(text).map_err(|e| SafetyError::Toml {
        location: Location::at(source, text, e.span().map_or(0, |s| s.start)),
        message: e.message().trim().to_string(),
    })
}
