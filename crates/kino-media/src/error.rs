//! The one error type of kino-media: every variant names what was wrong and where.

use std::path::PathBuf;

/// Errors from building, encoding, decoding or reading media.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A value given by the caller is out of the supported range.
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// The input is not a well-formed file of the expected kind.
    #[error("{path}: {detail}")]
    Malformed { path: String, detail: String },
    /// The input is well formed but uses something kino cannot decode.
    #[error("{path}: unsupported {what}")]
    Unsupported { path: String, what: String },
    /// A codec library reported a failure.
    #[error("{codec} {stage} failed: {detail}")]
    Codec {
        codec: &'static str,
        stage: &'static str,
        detail: String,
    },
    /// Reading or writing a file failed. The OS error is part of the message, not a
    /// `source()`: error reports that print the chain would otherwise say it twice.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl MediaError {
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        MediaError::Invalid {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn malformed(path: impl Into<String>, detail: impl Into<String>) -> Self {
        MediaError::Malformed {
            path: path.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn codec(codec: &'static str, stage: &'static str, detail: impl ToString) -> Self {
        MediaError::Codec {
            codec,
            stage,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MediaError::Io {
            path: path.into(),
            error: source,
        }
    }
}

/// Result alias for kino-media.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;
