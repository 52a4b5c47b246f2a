//! Errors of policy loading, of the similarity layer and of the output (frame) check.

use std::fmt;
use std::path::PathBuf;

/// Where in a policy file something is: the file (or `built-in policy`), 1-based line and
/// column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub source: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

impl Location {
    /// The location of byte `offset` of `text`.
    pub(crate) fn at(source: &str, text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self {
            source: source.to_string(),
            line,
            column,
        }
    }
}

/// Everything that can go wrong loading a policy, running its similarity layer, or
/// checking generated frames.
#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    #[error("cannot read policy file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML does not parse, or a field is unknown or of the wrong type (the message
    /// names it).
    #[error("{location}: invalid policy TOML: {message}")]
    Toml { location: Location, message: String },
    #[error("{location}: unknown class `{name}` (field `classes.{name}`); known classes: {known}")]
    UnknownClass {
        location: Location,
        name: String,
        known: String,
    },
    #[error("{location}: invalid pattern `{pattern}` in `{field}`: {message}")]
    Pattern {
        location: Location,
        field: String,
        pattern: String,
        message: String,
    },
    #[error("{location}: invalid value for `{field}`: {message}")]
    Value {
        location: Location,
        field: String,
        message: String,
    },
    #[error("text encoder: {0}")]
    Encoder(String),
    /// The NSFW image classifier's model cannot be read, is not an open_nsfw-shaped ONNX
    /// model, or failed to run. `model` is the file's path (or `embedded ...`).
    #[error("NSFW classifier model {model}: {message}")]
    Classifier { model: String, message: String },
    /// A frame handed to the output check is unusable (empty, too large, or its buffer
    /// does not match its dimensions), or there were no frames. `frame` is its index in the
    /// sequence given to `NsfwClassifier::check_frames`.
    #[error("{}{message}", match frame { Some(i) => format!("frame {i}: "), None => "frames: ".to_string() })]
    Frame {
        frame: Option<usize>,
        message: String,
    },
    /// An NSFW threshold outside 0..=1 (or NaN).
    #[error("invalid NSFW threshold {value}: must be a probability in 0..=1")]
    Threshold { value: f32 },
    /// The consent check's TOML does not parse, or names an unknown field.
    #[error("{location}: invalid consent check TOML: {message}")]
    ConsentToml { location: Location, message: String },
}

impl SafetyError {
    /// The location in the policy file, for errors that have one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            SafetyError::Toml { location, .. }
            | SafetyError::UnknownClass { location, .. }
            | SafetyError::Pattern { location, .. }
            | SafetyError::Value { location, .. }
            | SafetyError::ConsentToml { location, .. } => Some(location),
            SafetyError::Io { .. }
            | SafetyError::Encoder(_)
            | SafetyError::Classifier { .. }
            | SafetyError::Frame { .. }
            | SafetyError::Threshold { .. } => None,
        }
    }
}
