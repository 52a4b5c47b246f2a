//! kino-world: a procedural 2D world that makes training clips with exact ground truth,
//! and a judge that scores any clip against it.

pub mod audio;
pub mod camera;
pub mod caption;
pub mod clip;
pub mod dataset;
pub mod error;
pub mod judge;
pub mod prompt;
pub mod render;
pub mod rng;
pub mod sim;
pub mod spec;
pub mod truth;
pub mod vocab;

pub use audio::{sound, sound_with, SoundOptions};
pub use caption::captions;
pub use clip::{sample, sample_from_prompt, write_clip, ClipFiles, WorldClip};
pub use dataset::{write_dataset, DatasetOptions, DatasetSummary, Split};
pub use error::{Result, WorldError};
pub use judge::{
    judge, judge_identity, judge_remix, judge_spec, IdentityReport, JudgeReport, RemixReport,
};
pub use prompt::{read_prompt, scene_from_prompt, PromptReading};
pub use render::render;
pub use sim::{simulate, Contact, ContactWith, Simulation};
pub use spec::{ObjectSpec, RandomOptions, SceneSpec, ShotSpec, Style};
pub use truth::GroundTruth;
