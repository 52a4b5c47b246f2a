//! C2PA content credentials: a signed manifest inside the MP4 that says who made the clip,
//! with what, and from what.
//!
//! * [`ProvenanceKey`] (`key`): the ES256 signing key and its certificate chain, kept as two PEM
//!   files in a folder (`<data dir>/provenance/`). [`ProvenanceKey::init`] makes a local,
//!   self-signed chain (a CA and an end-entity signing certificate with the extensions C2PA
//!   requires); operators bring their own with [`ProvenanceKey::from_files`] /
//!   [`ProvenanceKey::import`].
//! * [`sign_mp4`] / [`sign_mp4_bytes`] (`sign`): embed a manifest built from [`Credentials`]:
//!   `c2pa.created` with digital source type *trainedAlgorithmicMedia* for a new clip, or
//!   `c2pa.opened` + `c2pa.edited` with the source clip as `parentOf` ingredient for a remix or
//!   extension; a cameo adds an edit with *compositeWithTrainedAlgorithmicMedia*; and, when the
//!   clip is watermarked, a kino assertion ([`WATERMARK_LABEL`]) that binds the manifest to the
//!   watermark payload.
//! * [`read_credentials`] (`read`): validate and summarise what a file carries: a
//!   [`CredentialsReport`] whose state is `Valid`, `Invalid(reasons)` or `Absent`.
//!
//! A self-signed chain is on no trust list, so a reader reports it *untrusted*; kino counts a
//! manifest as valid when every check passes except trust (the C2PA spec's "valid" as opposed
//! to "trusted" state).

mod key;
mod mp4;
mod read;
mod sign;

pub use key::{KeyInfo, ProvenanceKey, CERT_CHAIN_FILE, KEY_DIR, PRIVATE_KEY_FILE};
pub use mp4::{top_level_boxes, Mp4Box};
pub use read::{
    read_credentials, read_credentials_bytes, read_credentials_trusting, ActionReport,
    CredentialsReport, CredentialsState, IngredientReport, TrustAnchors,
};
pub use sign::{sign_mp4, sign_mp4_bytes};

use crate::watermark::Payload;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// IPTC digital source type of media made by a trained generative model.
pub const TRAINED_ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
/// IPTC digital source type of generated media composited with other (e.g. captured) media.
pub const COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia";
/// Label of kino's own assertion that binds the manifest to the invisible watermark.
pub const WATERMARK_LABEL: &str = "io.github.kino-video.watermark";
/// The name kino signs as (`claim_generator_info`).
pub const GENERATOR_NAME: &str = "kino";

/// What went wrong with keys, signing or reading credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A key or certificate file is missing, unreadable or unfit for C2PA signing.
    #[error("{}: {why}", path.display())]
    Key { path: PathBuf, why: String },
    /// `init`/`import` found a key file already there.
    #[error(
        "{} already exists: refusing to overwrite a provenance key (move it away first)",
        .0.display()
    )]
    Exists(PathBuf),
    /// The file is not an MP4 kino can read (not ISO BMFF, truncated, bad box sizes).
    #[error("{name}: not a readable MP4: {why}")]
    Malformed { name: String, why: String },
    /// The C2PA library refused to sign or to read.
    #[error("C2PA: {0}")]
    C2pa(String),
    #[error(transparent)]
    Media(#[from] kino_media::MediaError),
    #[error(transparent)]
    Watermark(#[from] crate::watermark::WatermarkError),
}

pub type Result<T, E = CredentialsError> = std::result::Result<T, E>;

impl CredentialsError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CredentialsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn key(path: &Path, why: impl Into<String>) -> Self {
        CredentialsError::Key {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }

    pub(crate) fn c2pa(e: c2pa::Error) -> Self {
        CredentialsError::C2pa(e.to_string())
    }
}

/// What a signed clip says about itself.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The model that made the clip (e.g. "kino-tiny"); the actions' `softwareAgent`.
    pub model: String,
    /// Which weights (e.g. a family name and a digest of the weight files).
    pub model_version: String,
    /// A new clip, or an edit of an existing one.
    pub intent: Intent,
    /// The clip composites a cameo (a real person's likeness) into generated video.
    pub cameo: bool,
    /// Manifest title (default: "kino clip").
    pub title: Option<String>,
    /// The watermark embedded in the frames, recorded so that `kino verify` can check that the
    /// manifest and the pixels belong together.
    pub watermark: Option<WatermarkClaim>,
}

impl Credentials {
    /// Credentials for a new clip made by `model`.
    pub fn created(model: impl Into<String>, model_version: impl Into<String>) -> Self {
        Credentials {
            model: model.into(),
            model_version: model_version.into(),
            intent: Intent::Create,
            cameo: false,
            title: None,
            watermark: None,
        }
    }

    /// Credentials for a clip `model` made from `parent` (remix, extend).
    pub fn edited(
        model: impl Into<String>,
        model_version: impl Into<String>,
        parent: Parent,
    ) -> Self {
        Credentials {
            intent: Intent::Edit { parent },
            ..Credentials::created(model, model_version)
        }
    }
}

/// Why the clip exists.
#[derive(Debug, Clone)]
pub enum Intent {
    /// Generated from a prompt: `c2pa.created`, digital source type trainedAlgorithmicMedia.
    Create,
    /// Made from an existing clip (remix, extend): `c2pa.opened` of the parent ingredient, then
    /// `c2pa.edited` (trainedAlgorithmicMedia).
    Edit { parent: Parent },
}

/// The source clip of an edit. Its own manifest, if it has one, is carried along inside the
/// ingredient, so the new clip's history includes the old one's.
#[derive(Debug, Clone)]
pub enum Parent {
    /// An MP4 file on disk.
    File(PathBuf),
    /// An MP4 in memory; `title` names it in the manifest (usually its file name).
    Bytes { title: String, bytes: Vec<u8> },
}

/// kino's watermark assertion ([`WATERMARK_LABEL`]): the payload embedded in the frames and
/// the clip id it was derived from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkClaim {
    /// The clip id whose hash is the payload's `clip_hash`.
    pub clip_id: String,
    /// Generator id in the payload.
    pub generator: u16,
    /// First 32 bits of SHA-256 of `clip_id`.
    pub clip_hash: u32,
    /// Which watermark key marked the frames (e.g. "kino-public-v1").
    pub key_id: String,
}

impl WatermarkClaim {
    pub fn new(clip_id: &str, payload: Payload, key_id: &str) -> Self {
        WatermarkClaim {
            clip_id: clip_id.to_string(),
            generator: payload.generator,
            clip_hash: payload.clip_hash,
            key_id: key_id.to_string(),
        }
    }

    pub fn payload(&self) -> Payload {
        Payload::new(self.generator, self.clip_hash)
    }
}
