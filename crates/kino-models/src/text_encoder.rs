//! Text encoder: all-MiniLM-L6-v2, a 6-layer, 384-wide BERT sentence encoder.
//!
//! The network is [`candle_transformers::models::bert::BertModel`], unchanged; this module
//! adds what sentence-transformers puts around it: WordPiece tokenization with truncation
//! and batch padding, mean pooling over the real tokens, and L2 normalisation.
//! [`TextEncoder::encode`] returns both the token-level last hidden state (what the DiT
//! cross-attends to) and the pooled sentence embedding (global conditioning, retrieval).
//!
//! - Model card: <https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2> (Apache-2.0)
//! - Weights: `models/kino-tiny/text_encoder.safetensors`, stored f16 with the checkpoint's
//!   own key names (`embeddings.*`, `encoder.layer.N.*`), computed in f32.
//! - Tokenizer: `models/kino-tiny/tokenizer.json`, byte-identical to upstream.
//!
//! Parity with the Python reference is checked by `tests/text_encoder.rs` against
//! `tools/parity/fixtures/minilm.safetensors` (written by `tools/parity/minilm.py`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{self, BertModel, HiddenAct, PositionEmbeddingType};
use tokenizers::utils::truncation::truncate_encodings;
use tokenizers::{PostProcessor, Tokenizer, TruncationParams};

/// The dtype the encoder computes in. Weights are stored f16 and upcast on load.
pub const COMPUTE_DTYPE: DType = DType::F32;

/// Everything that can go wrong loading or running the text encoder. Each variant names
/// the file involved where there is one.
#[derive(Debug, thiserror::Error)]
pub enum TextEncoderError {
    #[error("text encoder file {} not found", path.display())]
    MissingFile { path: PathBuf },
    #[error("cannot read text encoder file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "text encoder weights {} are not a readable safetensors file (truncated or corrupt?): {source}",
        path.display()
    )]
    CorruptWeights {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error(
        "text encoder weights {} do not hold the expected checkpoint (missing tensor or wrong shape): {source}",
        path.display()
    )]
    Checkpoint {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error("cannot load tokenizer {}: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    #[error("tokenizer does not fit the text encoder: {0}")]
    TokenizerMismatch(String),
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    #[error("invalid text encoder input: {0}")]
    InvalidInput(String),
    #[error("text encoder tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Configuration of the text encoder: the BERT hyper-parameters of the checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEncoderConfig {
    pub bert: bert::Config,
}

impl TextEncoderConfig {
    /// sentence-transformers/all-MiniLM-L6-v2.
    ///
    /// <https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/blob/1110a243fdf4706b3f48f1d95db1a4f5529b4d41/config.json>
    pub fn minilm_l6_v2() -> Self {
        Self {
            bert: bert::Config {
                vocab_size: 30522,
                hidden_size: 384,
                num_hidden_layers: 6,
                num_attention_heads: 12,
                intermediate_size: 1536,
                hidden_act: HiddenAct::Gelu,
                hidden_dropout_prob: 0.1,
                max_position_embeddings: 512,
                type_vocab_size: 2,
                initializer_range: 0.02,
                layer_norm_eps: 1e-12,
                pad_token_id: 0,
                position_embedding_type: PositionEmbeddingType::Absolute,
                use_cache: true,
                classifier_dropout: None,
                model_type: Some("bert".to_string()),
            },
        }
    }

    /// Width of every token embedding and of the pooled embedding.
    pub fn hidden_size(&self) -> usize {
        self.bert.hidden_size
    }

    /// Longest token sequence the position embeddings cover, special tokens included.
    pub fn max_positions(&self) -> usize {
        self.bert.max_position_embeddings
    }
}

/// Output of [`TextEncoder::encode`] for a batch of `B` texts padded to `L` tokens.
#[derive(Debug, Clone)]
pub struct TextEmbeddings {
    /// `(B, L, hidden)` f32: the last hidden state, one vector per token (padding included).
    pub tokens: Tensor,
    /// `(B, L)` f32: 1 for a real token (`[CLS]`, text, `[SEP]`), 0 for padding.
    pub mask: Tensor,
    /// `(B, hidden)` f32: mean of `tokens` over the mask, then L2-normalised, as
    /// sentence-transformers computes the all-MiniLM-L6-v2 sentence embedding.
    pub pooled: Tensor,
}

/// A file as [`TextEncoder::load_shared`] tells files apart: its canonical path, size and
/// modification time (a file replaced in place is another file).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    path: PathBuf,
    len: Option<u64>,
    modified: Option<std::time::SystemTime>,
}

impl FileIdentity {
    fn of(path: &Path) -> Self {
        let meta = std::fs::metadata(path).ok();
        Self {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            len: meta.as_ref().map(|m| m.len()),
            modified: meta.and_then(|m| m.modified().ok()),
        }
    }
}

/// all-MiniLM-L6-v2 with its tokenizer.
pub struct TextEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    cfg: TextEncoderConfig,
    /// Special tokens the post-processor adds to one sequence (`[CLS]` and `[SEP]`).
    added_tokens: usize,
    pad_id: u32,
    device: Device,
}

impl TextEncoder {
    /// Builds the encoder from a var-builder rooted at the checkpoint's top level (the keys
    /// `embeddings.*` and `encoder.*`; a `bert.` prefix is also accepted) and a tokenizer.
    /// The tokenizer's own padding and truncation settings are replaced by those of
    /// [`TextEncoder::encode`].
    pub fn new(
        cfg: TextEncoderConfig,
        vb: VarBuilder,
        tokenizer: Tokenizer,
    ) -> Result<Self, TextEncoderError> {
        let model = BertModel::load(vb, &cfg.bert)?;
        Self::from_parts(cfg, model, tokenizer)
    }

    /// Loads the all-MiniLM-L6-v2 preset from a safetensors file (any float dtype, upcast to
    /// f32) and a `tokenizer.json`. Reads everything from disk; nothing is downloaded.
    pub fn load(
        weights: &Path,
        tokenizer: &Path,
        device: &Device,
    ) -> Result<Self, TextEncoderError> {
        let cfg = TextEncoderConfig::minilm_l6_v2();
        let bytes = std::fs::read(weights).map_err(|source| io_error(weights, source))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, COMPUTE_DTYPE, device).map_err(
            |source| TextEncoderError::CorruptWeights {
                path: weights.to_path_buf(),
                source,
            },
        )?;
        let model =
            BertModel::load(vb, &cfg.bert).map_err(|source| TextEncoderError::Checkpoint {
                path: weights.to_path_buf(),
                source,
            })?;
        if !tokenizer.exists() {
            return Err(TextEncoderError::MissingFile {
                path: tokenizer.to_path_buf(),
            });
        }
        let tok = Tokenizer::from_file(tokenizer).map_err(|e| TextEncoderError::Tokenizer {
            path: tokenizer.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_parts(cfg, model, tok)
    }

    /// [`TextEncoder::load`], shared: while an encoder loaded from the same files (same
    /// path, size and modification time of both) on the same device (`Device::same_device`)
    /// is alive, that one is returned instead of a second copy. The content policy (on the
    /// CPU) and a generator on the CPU both need the encoder; with this they hold one
    /// (~90 MB, ~0.1 s to load) between them.
    pub fn load_shared(
        weights: &Path,
        tokenizer: &Path,
        device: &Device,
    ) -> Result<Arc<Self>, TextEncoderError> {
        /// (files, device, encoder) of the encoders loaded so far.
        type Loaded = Vec<(Vec<FileIdentity>, Device, Weak<TextEncoder>)>;
        static LOADED: Mutex<Loaded> = Mutex::new(Vec::new());
        let files = vec![FileIdentity::of(weights), FileIdentity::of(tokenizer)];
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        loaded.retain(|(_, _, w)| w.strong_count() > 0);
        if let Some(enc) = loaded
            .iter()
            .find(|(f, d, _)| *f == files && d.same_device(device))
            .and_then(|(_, _, w)| w.upgrade())
        {
            return Ok(enc);
        }
        let enc = Arc::new(Self::load(weights, tokenizer, device)?);
        loaded.push((files, device.clone(), Arc::downgrade(&enc)));
        Ok(enc)
    }

    fn from_parts(
        cfg: TextEncoderConfig,
        model: BertModel,
        mut tokenizer: Tokenizer,
    ) -> Result<Self, TextEncoderError> {
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| TextEncoderError::TokenizerMismatch(e.to_string()))?;
        let vocab = tokenizer.get_vocab_size(true);
        if vocab > cfg.bert.vocab_size {
            return Err(TextEncoderError::TokenizerMismatch(format!(
                "tokenizer has {vocab} tokens, the model's vocabulary only {}",
                cfg.bert.vocab_size
            )));
        }
        let added_tokens = tokenizer
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if added_tokens >= cfg.bert.max_position_embeddings {
            return Err(TextEncoderError::TokenizerMismatch(format!(
                "tokenizer adds {added_tokens} special tokens, the model has {} positions",
                cfg.bert.max_position_embeddings
            )));
        }
        let pad_id = u32::try_from(cfg.bert.pad_token_id).map_err(|_| {
            TextEncoderError::TokenizerMismatch(format!(
                "pad token id {} does not fit u32",
                cfg.bert.pad_token_id
            ))
        })?;
        let device = model.device.clone();
        Ok(Self {
            model,
            tokenizer,
            cfg,
            added_tokens,
            pad_id,
            device,
        })
    }

    pub fn config(&self) -> &TextEncoderConfig {
        &self.cfg
    }

    /// Width of the token and pooled embeddings (384 for all-MiniLM-L6-v2).
    pub fn hidden_size(&self) -> usize {
        self.cfg.hidden_size()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Token ids of each text, special tokens included, truncated to `max_tokens` ids
    /// (the text is cut, `[CLS]` and `[SEP]` are kept), not padded.
    pub fn tokenize(
        &self,
        texts: &[&str],
        max_tokens: usize,
    ) -> Result<Vec<Vec<u32>>, TextEncoderError> {
        let limit = self.cfg.max_positions();
        if max_tokens <= self.added_tokens || max_tokens > limit {
            return Err(TextEncoderError::InvalidInput(format!(
                "max_tokens is {max_tokens}, it must be in {}..={limit}",
                self.added_tokens + 1
            )));
        }
        // The same steps as a tokenizer with truncation enabled (what transformers and
        // sentence-transformers use): encode the bare text, cut it to leave room for the
        // special tokens, then let the post-processor add them.
        let params = TruncationParams {
            max_length: max_tokens - self.added_tokens,
            ..Default::default()
        };
        let bare = self
            .tokenizer
            .encode_batch(texts.to_vec(), false)
            .map_err(|e| TextEncoderError::Tokenize(e.to_string()))?;
        bare.into_iter()
            .map(|encoding| {
                let (encoding, _) = truncate_encodings(encoding, None, &params)
                    .map_err(|e| TextEncoderError::Tokenize(e.to_string()))?;
                let encoding = self
                    .tokenizer
                    .post_process(encoding, None, true)
                    .map_err(|e| TextEncoderError::Tokenize(e.to_string()))?;
                Ok(encoding.get_ids().to_vec())
            })
            .collect()
    }

    /// Encodes a batch of texts. Each text is truncated to `max_tokens` tokens (special
    /// tokens included); the batch is padded to its longest member. Any text works,
    /// the empty one included (it encodes as `[CLS] [SEP]`).
    pub fn encode(
        &self,
        texts: &[&str],
        max_tokens: usize,
    ) -> Result<TextEmbeddings, TextEncoderError> {
        if texts.is_empty() {
            return Err(TextEncoderError::InvalidInput(
                "no texts to encode".to_string(),
            ));
        }
        let rows = self.tokenize(texts, max_tokens)?;
        let batch = rows.len();
        let len = rows.iter().map(Vec::len).max().unwrap_or(0);
        if len == 0 {
            // Only possible with a tokenizer that adds no special tokens.
            return Err(TextEncoderError::InvalidInput(
                "the texts produce no tokens".to_string(),
            ));
        }
        let mut ids = vec![self.pad_id; batch * len];
        let mut mask = vec![0f32; batch * len];
        for (b, row) in rows.iter().enumerate() {
            ids[b * len..b * len + row.len()].copy_from_slice(row);
            mask[b * len..b * len + row.len()].fill(1.0);
        }
        let ids = Tensor::from_vec(ids, (batch, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch, len), &self.device)?;
        let type_ids = ids.zeros_like()?;
        let tokens = self.model.forward(&ids, &type_ids, Some(&mask))?;
        let pooled = mean_pool_normalized(&tokens, &mask)?;
        Ok(TextEmbeddings {
            tokens,
            mask,
            pooled,
        })
    }
}

/// sentence-transformers' `Pooling(mean)` followed by `Normalize`: the mask-weighted mean
/// (count clamped at 1e-9) divided by its L2 norm (clamped at 1e-12, as `F.normalize`).
fn mean_pool_normalized(tokens: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let summed = tokens.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
    let count = mask.sum_keepdim(1)?.maximum(1e-9)?;
    let mean = summed.broadcast_div(&count)?;
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
    mean.broadcast_div(&norm)
}

fn io_error(path: &Path, source: std::io::Error) -> TextEncoderError {
    if source.kind() == std::io::ErrorKind::NotFound {
        TextEncoderError::MissingFile {
            path: path.to_path_buf(),
        }
    } else {
        TextEncoderError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_matches_reference_config() {
        let cfg = TextEncoderConfig::minilm_l6_v2();
        assert_eq!(cfg.hidden_size(), 384);
        assert_eq!(cfg.max_positions(), 512);
        assert_eq!(cfg.bert.num_hidden_layers, 6);
        assert_eq!(cfg.bert.intermediate_size, 1536);
        assert_eq!(cfg.bert.hidden_size % cfg.bert.num_attention_heads, 0);
    }

    #[test]
    fn pooling_ignores_padding_and_normalises() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // Two tokens [3, 4] and [1, 0], plus a padding token that must be ignored.
        let tokens = Tensor::new(&[[[3f32, 4.], [1., 0.], [100., -100.]]], &dev)?;
        let mask = Tensor::new(&[[1f32, 1., 0.]], &dev)?;
        let pooled = mean_pool_normalized(&tokens, &mask)?.to_vec2::<f32>()?;
        // mean = [2, 2] -> [1/sqrt2, 1/sqrt2]
        let want = std::f32::consts::FRAC_1_SQRT_2;
        assert!((pooled[0][0] - want).abs() < 1e-6 && (pooled[0][1] - want).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn missing_weights_are_named() {
        let err = TextEncoder::load(
            Path::new("/nonexistent/kino/text_encoder.safetensors"),
            Path::new("/nonexistent/kino/tokenizer.json"),
            &Device::Cpu,
        )
        .err()
        .expect("loading a missing file must fail");
        assert!(matches!(err, TextEncoderError::MissingFile { .. }), "{err}");
        assert!(
            err.to_string().contains("text_encoder.safetensors"),
            "{err}"
        );
    }
}
