//! kino's engine: turns a [`kino_prompt::ShotPlan`] into frames and sound.
//!
//! - [`pipeline`]: the [`pipeline::Pipeline`] trait every model family implements
//!   (`generate`, `remix`, `extend`), options, progress and errors.
//! - [`sampler`]: flow-matching schedules and solvers (Euler, UniPC) shared by every family.
//! - [`twin`]: kino's own family (text encoder + video/audio VAEs + vocoder + twin DiT).
//! - [`wan`]: Wan 2.1 / 2.2 from their diffusers folders.
//! - [`train`]: the training recipes and loop behind `kino train`.
//! - [`flow_loss`]: a trained model's flow-matching loss on held-out clips (choosing runs).
//! - [`noise`]: seeded Gaussian noise, identical on every machine.

pub mod autoencode;
pub mod flow_loss;
pub mod noise;
pub mod pipeline;
pub mod sampler;
pub mod train;
pub mod twin;
pub mod wan;

pub use pipeline::{EngineError, GenerateOptions, Generated, NoProgress, Pipeline, Progress};
