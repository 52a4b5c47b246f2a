//! What the server does with a finished clip before storing it, and its prompt policy.

use anyhow::Result;
use kino_server::api::PromptPolicy;
use kino_server::worker::{PlainMp4, Publisher};
use std::path::Path;
use std::sync::Arc;

pub fn publisher(_data_dir: &Path, _model: &str) -> Result<Arc<dyn Publisher>> {
    Ok(Arc::new(PlainMp4))
}

pub fn policy() -> Option<Arc<dyn PromptPolicy>> {
    None
}
