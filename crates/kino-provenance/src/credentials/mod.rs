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
//!   watermark payload. Media no trained model made says so through [`Source`]: a procedural
//!   render (*algorithmicMedia*, with a [`RenderClaim`]) or media kino only packaged
//!   (*composite*, with its inputs as `componentOf` ingredients).
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
/// IPTC digital source type of media created purely by an algorithm, not based on any sampled
/// training data (kino-world's procedural renders).
pub const ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia";
/// IPTC digital source type of a mix or composite of several elements, any of which may or may
/// not be generative AI (`kino media mux`: frames and sound kino was given, of unknown origin).
pub const COMPOSITE: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/composite";
/// Label of kino's own assertion that binds the manifest to the invisible watermark.
pub const WATERMARK_LABEL: &str = "io.github.kino-video.watermark";
/// Label of kino's own assertion that says what rendered a procedural clip ([`RenderClaim`]).
pub const RENDER_LABEL: &str = "io.github.kino-video.render";
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
    /// The model that made the clip (e.g. "kino-tiny"); the actions' `softwareAgent`. For a
    /// [`Source`] other than a trained model, the software that did (e.g. "kino-world").
    pub model: String,
    /// Which weights (e.g. a family name and a digest of the weight files), or which version
    /// of the software.
    pub model_version: String,
    /// A new clip, or an edit of an existing one.
    pub intent: Intent,
    /// What made the media: a trained model (the default), an algorithm, or nothing of kino's
    /// (media it was given and only packaged).
    pub source: Source,
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
            source: Source::TrainedModel,
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

    /// Credentials for a new clip that `renderer` (e.g. "kino-world") rendered procedurally,
    /// with no trained model: `c2pa.created` with digital source type *algorithmicMedia*, and
    /// `render` as a [`RENDER_LABEL`] assertion.
    pub fn rendered(
        renderer: impl Into<String>,
        version: impl Into<String>,
        render: RenderClaim,
    ) -> Self {
        Credentials {
            source: Source::Algorithm(render),
            ..Credentials::created(renderer, version)
        }
    }

    /// Credentials for a clip that `tool` (e.g. "kino media mux") assembled from media it was
    /// given: `c2pa.created` with digital source type *composite*, `description` saying what
    /// was put together, and a `c2pa.placed` action for each of `components` (ingredients
    /// `componentOf`).
    pub fn assembled(
        tool: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
        components: Vec<Component>,
    ) -> Self {
        Credentials {
            source: Source::Assembled {
                description: description.into(),
                components,
            },
            ..Credentials::created(tool, version)
        }
    }
}

/// What made the media of a clip, i.e. the digital source type its first action records.
#[derive(Debug, Clone)]
pub enum Source {
    /// A trained generative model: *trainedAlgorithmicMedia*.
    TrainedModel,
    /// An algorithm with no trained model and no sampled data (kino-world): *algorithmicMedia*,
    /// with what rendered it.
    Algorithm(RenderClaim),
    /// Media kino was given and only put into an MP4 (frames and sound of unknown origin):
    /// *composite*, "a mix or composite of several elements, any of which may or may not be
    /// generative AI". kino claims nothing about where the elements came from.
    Assembled {
        /// What was assembled, e.g. "48 image frames and the sound track a.wav".
        description: String,
        /// Inputs recorded as `componentOf` ingredients (each with a `c2pa.placed` action).
        components: Vec<Component>,
    },
}

impl Source {
    /// The IPTC digital source type URL of this source.
    pub fn digital_source_type(&self) -> &'static str {
        match self {
            Source::TrainedModel => TRAINED_ALGORITHMIC_MEDIA,
            Source::Algorithm(_) => ALGORITHMIC_MEDIA,
            Source::Assembled { .. } => COMPOSITE,
        }
    }
}

/// An input file that became part of an assembled clip (a `componentOf` ingredient). If it
/// carries its own C2PA manifest, that travels along inside the ingredient.
#[derive(Debug, Clone)]
pub struct Component {
    /// Names it in the manifest (usually its file name).
    pub title: String,
    /// Its media type, e.g. "audio/wav" (one the C2PA library can read).
    pub format: String,
    pub bytes: Vec<u8>,
}

impl Component {
    /// Reads `path`; the title is its file name.
    pub fn from_file(path: &Path, format: impl Into<String>) -> Result<Self> {
        Ok(Component {
            title: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            format: format.into(),
            bytes: std::fs::read(path).map_err(|e| CredentialsError::io(path, e))?,
        })
    }
}

/// kino's render assertion ([`RENDER_LABEL`]): what rendered a procedural clip, and the seed
/// that, with the same scene, renders it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderClaim {
    /// e.g. "kino-world".
    pub renderer: String,
    /// The world seed (initial positions, sounds, grain).
    pub seed: u64,
}

/// Why the clip exists.
#[derive(Debug, Clone)]
pub enum Intent {
    /// A new clip (generated from a prompt, rendered, assembled): `c2pa.created`, with the
    /// digital source type of [`Credentials::source`] (trainedAlgorithmicMedia for a model).
    Create,
    /// Made from an existing clip (remix, extend): `c2pa.opened` of the parent ingredient, then
    /// `c2pa.edited` (with the source's digital source type: trainedAlgorithmicMedia).
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
