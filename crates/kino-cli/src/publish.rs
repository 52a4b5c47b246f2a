//! What `kino serve` / `kino worker` do with a finished clip before storing it (the output
//! check, then watermark, encode, sign with C2PA: the same steps as `kino generate`).

use anyhow::Result;
use kino_engine::pipeline::Generated;
use kino_provenance::credentials::{Credentials, Parent, ProvenanceKey};
use kino_server::worker::Publisher;
use std::path::Path;
use std::sync::Arc;

use crate::safety::OutputCheck;
use kino_provenance::visible::{Corner, VisibleMark};

/// The optional visible badge (the invisible watermark and the manifest are always there).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct VisibleMarkArgs {
    /// Also draw a visible badge into every frame, in this corner (top-left, top-right,
    /// bottom-left, bottom-right; bottom-right when the flag has no value).
    #[arg(long, value_name = "CORNER", num_args = 0..=1, default_missing_value = "bottom-right")]
    pub visible_mark: Option<String>,
    /// The badge's text (A-Z, 0-9, space and · - . : / !).
    #[arg(long, default_value = kino_provenance::visible::DEFAULT_LABEL)]
    pub visible_mark_label: String,
}

impl VisibleMarkArgs {
    pub fn mark(&self) -> Result<Option<VisibleMark>> {
        let Some(corner) = &self.visible_mark else {
            return Ok(None);
        };
        let corner: Corner = corner
            .parse()
            .map_err(|e| anyhow::anyhow!("--visible-mark: {e}"))?;
        let mark = VisibleMark::new(corner, &self.visible_mark_label)
            .map_err(|e| anyhow::anyhow!("--visible-mark-label: {e}"))?;
        Ok(Some(mark))
    }
}

/// Watermarks with the video id, encodes and signs every stored clip.
pub struct Provenance {
    check: OutputCheck,
    visible: Option<VisibleMark>,
    key: ProvenanceKey,
    model: String,
    version: String,
}

impl Publisher for Provenance {
    fn check_output(&self, video: &kino_media::VideoFrames) -> std::result::Result<(), String> {
        self.check.check(video).map(|_| ())
    }

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
        if let Some(mark) = &self.visible {
            mark.draw(&mut generated.clip.video);
        }
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

pub fn publisher(
    data_dir: &Path,
    model_dir: &Path,
    check: OutputCheck,
    visible: Option<VisibleMark>,
) -> Result<Arc<dyn Publisher>> {
    let key = crate::keys::load_or_init_provenance(data_dir)?;
    let (model, version) = crate::generate::model_identity(Some(model_dir))?;
    Ok(Arc::new(Provenance {
        check,
        visible,
        key,
        model,
        version,
    }))
}
