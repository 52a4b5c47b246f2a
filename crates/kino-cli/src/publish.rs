//! What `kino serve` / `kino worker` do with a finished clip before storing it (watermark,
//! encode, sign with C2PA: the same steps as `kino generate`), and the prompt policy the
//! API applies before queueing anything.

use anyhow::Result;
use kino_engine::pipeline::Generated;
use kino_provenance::credentials::{Credentials, Parent, ProvenanceKey};
use kino_server::api::PromptPolicy;
use kino_server::worker::Publisher;
use std::path::Path;
use std::sync::Arc;

/// Watermarks with the video id, encodes and signs every stored clip.
pub struct Provenance {
    key: ProvenanceKey,
    model: String,
    version: String,
}

impl Publisher for Provenance {
    fn publish(
        &self,
        video_id: &str,
        kind: &str,
        generated: &mut Generated,
        source: Option<&[u8]>,
        cameo: bool,
    ) -> Result<Vec<u8>> {
        let mut credentials = match (kind, source) {
            ("create", _) | (_, None) => Credentials::created(&self.model, &self.version),
            (_, Some(bytes)) => Credentials::edited(
                &self.model,
                &self.version,
                Parent::Bytes {
                    title: "source.mp4".into(),
                    bytes: bytes.to_vec(),
                },
            ),
        };
        credentials.cameo = cameo;
        let stamped = kino_provenance::stamp::encode_with_id(
            &mut generated.clip,
            video_id,
            &self.key,
            credentials,
            &kino_media::EncodeOptions::default(),
        )?;
        Ok(stamped.mp4)
    }
}

pub fn publisher(data_dir: &Path, model_dir: &Path) -> Result<Arc<dyn Publisher>> {
    let key = crate::keys::load_or_init_provenance(data_dir)?;
    let (model, version) = crate::generate::model_identity(Some(model_dir))?;
    Ok(Arc::new(Provenance {
        key,
        model,
        version,
    }))
}

/// kino-safety's policy: built-in rules (or the operator's TOML file) plus, when the served
/// model folder has kino's MiniLM text encoder, the similarity layer.
pub struct Safety(kino_safety::Policy);

impl PromptPolicy for Safety {
    fn check(&self, prompt: &str) -> std::result::Result<(), String> {
        match self.0.check(prompt) {
            kino_safety::Verdict::Allowed => Ok(()),
            kino_safety::Verdict::Refused(r) => Err(format!(
                "Your request was blocked by the content policy ({}): {} (at bytes {}..{}: \"{}\").",
                r.class, r.reason, r.span.0, r.span.1, r.matched_text
            )),
        }
    }
}

pub fn policy(file: Option<&Path>, model_dir: &Path) -> Result<Arc<dyn PromptPolicy>> {
    let policy = match file {
        Some(f) => kino_safety::Policy::from_file(f)?,
        None => kino_safety::Policy::default(),
    };
    let policy = match policy.clone().with_model_dir(model_dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("content policy: rules only ({e})");
            policy
        }
    };
    Ok(Arc::new(Safety(policy)))
}
