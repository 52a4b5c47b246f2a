//! Errors and warnings with a place (line:col), a stable code and a fix hint.

use crate::plan::Span;
use serde::Serialize;
use std::fmt;

/// How bad a diagnostic is. Warnings never stop generation; errors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The plan was made but something may not be what the user meant.
    Warning,
    /// No plan: the prompt must be fixed first.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding about the prompt.
///
/// Codes (stable, kebab-case): `empty-prompt`, `prompt-too-long`,
/// `unknown-section`, `malformed-time`, `invalid-range`, `ambiguous-time`,
/// `cue-beyond-end`, `cue-outside-shot`, `overlapping-shots`,
/// `shot-beyond-end`, `shot-gap`, `no-time-for-shot`, `shot-number`,
/// `empty-shot`, `too-many-shots`, `invalid-setting`, `duplicate-setting`, `aspect-mismatch`,
/// `unclosed-quote`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the prompt.
    pub span: Span,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it, when there is something to suggest.
    pub hint: Option<String>,
    /// Stable machine-readable code, e.g. `"cue-beyond-end"`.
    pub code: &'static str,
}

impl Diagnostic {
    /// A new error.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            hint: None,
            code,
        }
    }

    /// A new warning.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            span,
            message: message.into(),
            hint: None,
            code,
        }
    }

    /// The same diagnostic with a fix hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `3:12: error[cue-beyond-end]: cue at 9.0 s is beyond ...\n  hint: ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}[{}]: {}",
            self.span.line, self.span.col, self.severity, self.code, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Why no plan could be made: at least one error, plus any warnings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptErrors {
    /// The errors, in source order (never empty).
    pub errors: Vec<Diagnostic>,
    /// The warnings, in source order.
    pub warnings: Vec<Diagnostic>,
}

impl PromptErrors {
    /// True if some error has this code.
    pub fn has(&self, code: &str) -> bool {
        self.errors.iter().any(|d| d.code == code)
    }

    /// Errors then warnings.
    pub fn all(&self) -> impl Iterator<Item = &Diagnostic> {
        self.errors.iter().chain(self.warnings.iter())
    }
}

impl fmt::Display for PromptErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.all().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        let (e, w) = (self.errors.len(), self.warnings.len());
        write!(
            f,
            "\n{} error{}, {} warning{}",
            e,
            if e == 1 { "" } else { "s" },
            w,
            if w == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for PromptErrors {}

/// Format seconds for messages: `5.0`, `3.5`, `0.25`.
pub(crate) fn secs(v: f64) -> String {
    if (v * 10.0).fract().abs() < 1e-9 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}
