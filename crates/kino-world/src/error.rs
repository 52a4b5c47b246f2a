//! Errors of the world: each names what went wrong and where.

use thiserror::Error;

/// Everything that can go wrong while building, simulating, rendering, writing or judging a clip.
#[derive(Debug, Error)]
pub enum WorldError {
    /// A prompt used words the world cannot place.
    #[error("prompt: cannot place {words:?} in the world's vocabulary ({hint})")]
    UnknownWords { words: Vec<String>, hint: String },
    /// A prompt or spec names nothing the world can show.
    #[error("prompt: {0}")]
    Prompt(String),
    /// A field of a `SceneSpec` is out of range.
    #[error("scene spec field `{field}`: {reason}")]
    InvalidSpec { field: String, reason: String },
    /// An option (dataset, judge, ...) is out of range.
    #[error("option `{option}`: {reason}")]
    InvalidOption { option: String, reason: String },
    /// The physics engine (rapier2d/parry2d) failed on a scene.
    #[error(
        "physics: the simulation of scene seed {seed} failed inside rapier2d/parry2d: {message}"
    )]
    Physics { seed: u64, message: String },
    /// Building frames or audio failed inside kino-media.
    #[error("media: {0}")]
    Media(#[from] kino_media::MediaError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// JSON (de)serialisation failed.
    #[error("{path}: JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// Writing a safetensors shard failed.
    #[error("{path}: safetensors: {reason}")]
    Shard { path: String, reason: String },
    /// Rendering failed.
    #[error("render: {0}")]
    Render(String),
}

impl WorldError {
    pub(crate) fn spec(field: impl Into<String>, reason: impl Into<String>) -> Self {
        WorldError::InvalidSpec {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn option(option: impl Into<String>, reason: impl Into<String>) -> Self {
        WorldError::InvalidOption {
            option: option.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        WorldError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Result with [`WorldError`].
pub type Result<T> = std::result::Result<T, WorldError>;
