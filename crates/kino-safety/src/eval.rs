//! Measuring a policy on a labelled prompt set (`data/labelled.jsonl`).

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::{Class, Policy, SafetyError, Verdict};

/// One labelled prompt: `{"prompt": ..., "label": "allowed"|<class>, "split": "dev"|"test"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Labelled {
    pub prompt: String,
    /// `allowed` or a class name.
    pub label: String,
    /// `dev` (rules may be tuned on it) or `test` (held out).
    pub split: String,
    /// For allowed prompts: written to look like a refused class (`shoot a photo`).
    #[serde(default)]
    pub near_miss: bool,
}

impl Labelled {
    /// The class of a harmful prompt; `None` for allowed ones.
    pub fn class(&self) -> Result<Option<Class>, String> {
        if self.label == "allowed" {
            Ok(None)
        } else {
            self.label.parse().map(Some)
        }
    }
}

/// The prompts of a JSONL file; errors name the line.
pub fn load_labelled(path: &Path) -> Result<Vec<Labelled>, SafetyError> {
    let text = std::fs::read_to_string(path).map_err(|source| SafetyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let source = path.display().to_string();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value_err = |message: String| SafetyError::Value {
            location: crate::Location {
                source: source.clone(),
                line: i + 1,
                column: 1,
            },
            field: "label".into(),
            message,
        };
        let row: Labelled = serde_json::from_str(line).map_err(|e| value_err(e.to_string()))?;
        row.class().map_err(value_err)?;
        out.push(row);
    }
    Ok(out)
}

/// Counts of one class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassStats {
    /// Prompts labelled with the class.
    pub support: usize,
    /// Prompts the policy refused with this class.
    pub predicted: usize,
    /// Labelled and refused with this class.
    pub correct: usize,
    /// Labelled with this class and refused (with any class).
    pub refused: usize,
}

impl ClassStats {
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.predicted)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.support)
    }
    /// Share of this class's prompts refused with any class.
    pub fn refused_rate(&self) -> f64 {
        ratio(self.refused, self.support)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// A prompt the policy got wrong.
#[derive(Debug, Clone)]
pub struct Miss {
    pub prompt: String,
    pub label: String,
    /// `allowed` or the refused class.
    pub predicted: String,
    /// The rule or closest example that refused it.
    pub evidence: String,
}

/// Quality of a policy on a set of prompts.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub per_class: Vec<(Class, ClassStats)>,
    pub harmful: usize,
    pub harmful_refused: usize,
    pub benign: usize,
    pub benign_refused: usize,
    pub near_miss: usize,
    pub near_miss_refused: usize,
    pub misses: Vec<Miss>,
}

impl Report {
    /// Harmful prompts refused (with any class) / harmful prompts.
    pub fn recall(&self) -> f64 {
        ratio(self.harmful_refused, self.harmful)
    }
    /// Refusals that were harmful / refusals.
    pub fn precision(&self) -> f64 {
        ratio(
            self.harmful_refused,
            self.harmful_refused + self.benign_refused,
        )
    }
    /// Allowed prompts refused / allowed prompts.
    pub fn false_positive_rate(&self) -> f64 {
        ratio(self.benign_refused, self.benign)
    }
    /// Near-miss prompts refused / near-miss prompts.
    pub fn near_miss_fpr(&self) -> f64 {
        ratio(self.near_miss_refused, self.near_miss)
    }
}

/// Checks every prompt of `rows` whose split is `split` (all of them for `None`).
pub fn evaluate(policy: &Policy, rows: &[Labelled], split: Option<&str>) -> Report {
    let mut r = Report {
        per_class: Class::ALL
            .iter()
            .map(|&c| (c, ClassStats::default()))
            .collect(),
        ..Report::default()
    };
    for row in rows.iter().filter(|x| split.is_none_or(|s| x.split == s)) {
        let want = row.class().ok().flatten();
        let verdict = policy.check(&row.prompt);
        let got = verdict.refusal().map(|x| x.class);
        if let Some(c) = got {
            r.per_class[c.index()].1.predicted += 1;
        }
        match want {
            Some(c) => {
                r.harmful += 1;
                let s = &mut r.per_class[c.index()].1;
                s.support += 1;
                if got.is_some() {
                    s.refused += 1;
                    r.harmful_refused += 1;
                }
                if got == Some(c) {
                    s.correct += 1;
                }
            }
            None => {
                r.benign += 1;
                if row.near_miss {
                    r.near_miss += 1;
                }
                if got.is_some() {
                    r.benign_refused += 1;
                    if row.near_miss {
                        r.near_miss_refused += 1;
                    }
                }
            }
        }
        if want != got {
            let (predicted, evidence) = match &verdict {
                Verdict::Allowed => ("allowed".to_string(), String::new()),
                Verdict::Refused(x) => (x.class.to_string(), x.evidence.clone()),
            };
            r.misses.push(Miss {
                prompt: row.prompt.clone(),
                label: row.label.clone(),
                predicted,
                evidence,
            });
        }
    }
    r
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "-".to_string()
    } else {
        format!("{:.3}", x)
    }
}

impl fmt::Display for Report {
    /// A Markdown table: per class precision / recall / refused-any, then overall.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| class | n | precision | recall | refused (any class) |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---:|")?;
        for (c, s) in &self.per_class {
            writeln!(
                f,
                "| {c} | {} | {} | {} | {} |",
                s.support,
                pct(s.precision()),
                pct(s.recall()),
                pct(s.refused_rate())
            )?;
        }
        writeln!(
            f,
            "| **overall** | {} harmful / {} allowed ({} near-miss) | {} | {} | FPR {} (near-miss {}) |",
            self.harmful,
            self.benign,
            self.near_miss,
            pct(self.precision()),
            pct(self.recall()),
            pct(self.false_positive_rate()),
            pct(self.near_miss_fpr())
        )
    }
}
