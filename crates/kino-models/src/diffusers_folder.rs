//! A diffusers-format model folder (what `DiffusionPipeline.save_pretrained` writes and what
//! Hugging Face repositories such as `Wan-AI/Wan2.1-T2V-1.3B-Diffusers` hold):
//!
//! ```text
//! model_index.json                 pipeline class, its settings, one entry per component
//! scheduler/scheduler_config.json
//! transformer/config.json          + diffusion_pytorch_model.safetensors, or shards
//!                                    diffusion_pytorch_model-0000N-of-0000M.safetensors
//!                                    listed in diffusion_pytorch_model.safetensors.index.json
//! text_encoder/config.json         + model.safetensors or model-0000N-of-0000M.safetensors
//! tokenizer/tokenizer.json
//! vae/config.json                  + diffusion_pytorch_model.safetensors
//! ```
//!
//! Nothing in the folder is trusted: every safetensors header is parsed and checked against
//! the file's length (a truncated download is reported by file), every shard an index names
//! must exist and hold the keys the index says it holds, and a network can be built against
//! the headers alone ([`DiffusersComponent::shape_checker`]) so a missing or mis-shaped key
//! is reported by name before a byte of weights is read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use crate::folder::ModelError;

/// The file naming a diffusers folder's pipeline and components.
pub const MODEL_INDEX: &str = "model_index.json";

/// Largest safetensors header accepted (the real ones are well under a megabyte).
const MAX_HEADER: u64 = 64 << 20;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn weights_err(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::Weights {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// An opened diffusers folder (only `model_index.json` has been read).
#[derive(Debug, Clone)]
pub struct DiffusersFolder {
    root: PathBuf,
    index: serde_json::Map<String, serde_json::Value>,
}

/// One stored tensor, as its file's header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// The file holding it.
    pub file: PathBuf,
}

impl DiffusersFolder {
    /// True when `dir` has a `model_index.json`.
    pub fn is_diffusers_folder(dir: &Path) -> bool {
        dir.join(MODEL_INDEX).is_file()
    }

    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(MODEL_INDEX);
        if !path.is_file() {
            return Err(ModelError::Manifest {
                path: dir.to_path_buf(),
                message: format!("not a diffusers model folder (no {MODEL_INDEX})"),
            });
        }
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        let index: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
                path: path.clone(),
                message: format!("not valid JSON: {e}"),
            })?;
        let index = match index {
            serde_json::Value::Object(map) => map,
            _ => {
                return Err(ModelError::Manifest {
                    path,
                    message: "expected a JSON object".into(),
                })
            }
        };
        Ok(Self {
            root: dir.to_path_buf(),
            index,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `_class_name`, e.g. `WanPipeline`.
    pub fn pipeline_class(&self) -> &str {
        self.index
            .get("_class_name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }

    /// A pipeline setting from `model_index.json` (e.g. `boundary_ratio`).
    pub fn setting(&self, key: &str) -> Option<&serde_json::Value> {
        self.index.get(key).filter(|v| !v.is_null())
    }

    /// Components the index names with a class (`[library, class]`, not `[null, null]`).
    pub fn components(&self) -> Vec<(String, String)> {
        self.index
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .filter_map(|(k, v)| {
                let pair = v.as_array()?;
                let class = pair.get(1)?.as_str()?;
                Some((k.clone(), class.to_string()))
            })
            .collect()
    }

    pub fn has_component(&self, name: &str) -> bool {
        self.components().iter().any(|(n, _)| n == name)
    }

    /// A component's folder, class, config and weight files (which must exist).
    pub fn component(&self, name: &str) -> Result<DiffusersComponent, ModelError> {
        let components = self.components();
        let class = components
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| ModelError::MissingComponent {
                name: name.to_string(),
                available: components
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let dir = self.root.join(name);
        if !dir.is_dir() {
            return Err(ModelError::Manifest {
                path: dir,
                message: format!(
                    "{MODEL_INDEX} names component '{name}' but its folder is missing"
                ),
            });
        }
        let config_path = ["config.json", "scheduler_config.json"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file());
        let config = match &config_path {
            Some(p) => {
                let text = fs::read_to_string(p).map_err(io(p))?;
                serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
                    path: p.clone(),
                    message: format!("not valid JSON: {e}"),
                })?
            }
            None => serde_json::Value::Null,
        };
        Ok(DiffusersComponent {
            name: name.to_string(),
            class,
            weights: find_weights(&dir)?,
            dir,
            config,
        })
    }
}

/// One component of a diffusers folder.
#[derive(Debug, Clone)]
pub struct DiffusersComponent {
    pub name: String,
    /// The class `model_index.json` names (e.g. `WanTransformer3DModel`).
    pub class: String,
    pub dir: PathBuf,
    /// `config.json` (or `scheduler_config.json`); `Null` when the component has neither.
    pub config: serde_json::Value,
    /// Its safetensors files (empty for schedulers and tokenizers).
    pub weights: Vec<PathBuf>,
}

impl DiffusersComponent {
    /// The config as JSON text (for the networks' `from_diffusers_json`).
    pub fn config_json(&self) -> String {
        self.config.to_string()
    }

    /// Reads and checks every weight file's header; returns every tensor by name.
    pub fn tensors(&self) -> Result<BTreeMap<String, StoredTensor>, ModelError> {
        if self.weights.is_empty() {
            return Err(weights_err(
                &self.dir,
                "no safetensors weights in this folder",
            ));
        }
        let mut all = BTreeMap::new();
        for file in &self.weights {
            for (name, t) in read_header(file)? {
                if let Some(prev) = all.insert(name.clone(), t) {
                    return Err(ModelError::Tensor {
                        path: file.clone(),
                        tensor: name,
                        message: format!("also stored in {}", prev.file.display()),
                    });
                }
            }
        }
        // An index must describe what the shards really hold.
        if let Some(index) = index_file(&self.dir) {
            for (name, shard) in read_index(&index)? {
                match all.get(&name) {
                    Some(t) if t.file.file_name() == Some(shard.as_os_str()) => {}
                    Some(t) => {
                        return Err(ModelError::Tensor {
                            path: index.clone(),
                            tensor: name,
                            message: format!(
                                "the index says {} but it is in {}",
                                shard.display(),
                                t.file.display()
                            ),
                        })
                    }
                    None => {
                        return Err(ModelError::Tensor {
                            path: self.dir.join(&shard),
                            tensor: name,
                            message: "listed in the index but not in the shard".into(),
                        })
                    }
                }
            }
        }
        Ok(all)
    }

    /// Memory-maps the weights (after checking every header), cast to `dtype` on load.
    pub fn var_builder(
        &self,
        dtype: DType,
        device: &Device,
    ) -> Result<VarBuilder<'static>, ModelError> {
        self.tensors()?;
        // SAFETY: the files are mapped read-only; like every candle loader this relies on
        // them not being modified while the model is alive.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&self.weights, dtype, device) }
            .map_err(|e| weights_err(&self.dir, e.to_string()))?;
        Ok(vb)
    }

    /// A `VarBuilder` that answers from the headers alone: building a network with it checks
    /// every key and shape the network needs (errors name the key and the file) without
    /// reading or allocating the weights (each tensor is a broadcast zero).
    pub fn shape_checker(
        &self,
        dtype: DType,
        device: &Device,
    ) -> Result<VarBuilder<'static>, ModelError> {
        let tensors = self.tensors()?;
        let backend = HeaderBackend {
            dir: self.dir.clone(),
            tensors: Arc::new(tensors),
        };
        Ok(VarBuilder::from_backend(
            Box::new(backend),
            dtype,
            device.clone(),
        ))
    }

    /// Bytes of weights.
    pub fn weight_bytes(&self) -> u64 {
        self.weights
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

struct HeaderBackend {
    dir: PathBuf,
    tensors: Arc<BTreeMap<String, StoredTensor>>,
}

impl SimpleBackend for HeaderBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.get_unchecked(name, dtype, dev)?;
        if t.dims() != s.dims() {
            let file = &self.tensors[name].file;
            candle_core::bail!(
                "{}: tensor '{name}' has shape {:?}, the network expects {:?}",
                file.display(),
                t.dims(),
                s.dims()
            );
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        match self.tensors.get(name) {
            Some(t) => Tensor::zeros((), dtype, dev)?.broadcast_as(t.shape.clone()),
            None => candle_core::bail!("{}: missing tensor '{name}'", self.dir.display()),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

/// `*.safetensors.index.json` in `dir`, if any.
fn index_file(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".safetensors.index.json"))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Tensor name -> shard file name, from an index.
fn read_index(path: &Path) -> Result<BTreeMap<String, PathBuf>, ModelError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
            path: path.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        })?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| ModelError::Manifest {
            path: path.to_path_buf(),
            message: "no \"weight_map\" object".into(),
        })?;
    let mut out = BTreeMap::new();
    for (name, file) in map {
        let file = file.as_str().ok_or_else(|| ModelError::Manifest {
            path: path.to_path_buf(),
            message: format!("weight_map entry for '{name}' is not a file name"),
        })?;
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(ModelError::Manifest {
                path: path.to_path_buf(),
                message: format!("weight_map entry for '{name}' is not a plain file name: {file}"),
            });
        }
        out.insert(name.clone(), PathBuf::from(file));
    }
    Ok(out)
}

/// The safetensors files of a component folder: the shards an index names, or the one file.
fn find_weights(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    if let Some(index) = index_file(dir) {
        let files: BTreeSet<PathBuf> = read_index(&index)?.into_values().collect();
        let mut out = Vec::new();
        for f in files {
            let p = dir.join(&f);
            if !p.is_file() {
                return Err(ModelError::Manifest {
                    path: p,
                    message: format!("shard named by {} is missing", index.display()),
                });
            }
            out.push(p);
        }
        return Ok(out);
    }
    for name in ["diffusion_pytorch_model.safetensors", "model.safetensors"] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(vec![p]);
        }
    }
    let mut any: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    any.sort();
    match any.len() {
        0 | 1 => Ok(any),
        _ => Err(ModelError::Manifest {
            path: dir.to_path_buf(),
            message: format!(
                "several safetensors files and no index.json: {}",
                any.iter()
                    .filter_map(|p| p.file_name()?.to_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

fn parse_dtype(s: &str) -> Option<DType> {
    Some(match s {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        _ => return None,
    })
}

/// Parses one safetensors header and checks it against the file's length.
pub fn read_header(path: &Path) -> Result<Vec<(String, StoredTensor)>, ModelError> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let len = f.metadata().map_err(io(path))?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| {
        weights_err(
            path,
            format!("truncated: {len} bytes, no safetensors header"),
        )
    })?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || n + 8 > len {
        return Err(weights_err(
            path,
            format!("truncated or not safetensors: header of {n} bytes in a {len}-byte file"),
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(io(path))?;
    let json: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| weights_err(path, format!("safetensors header is not valid JSON: {e}")))?;
    let map = json
        .as_object()
        .ok_or_else(|| weights_err(path, "safetensors header is not a JSON object"))?;
    let data_len = len - 8 - n;
    let mut out = Vec::new();
    for (name, info) in map {
        if name == "__metadata__" {
            continue;
        }
        let bad = |m: &str| ModelError::Tensor {
            path: path.to_path_buf(),
            tensor: name.clone(),
            message: m.to_string(),
        };
        let dtype_name = info["dtype"].as_str().ok_or_else(|| bad("no dtype"))?;
        let dtype = parse_dtype(dtype_name).ok_or_else(|| {
            bad(&format!(
                "dtype {dtype_name} is not one kino loads (F32, F16, BF16)"
            ))
        })?;
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("shape is not a list of sizes"))?;
        let offsets = info["data_offsets"]
            .as_array()
            .filter(|o| o.len() == 2)
            .and_then(|o| Some((o[0].as_u64()?, o[1].as_u64()?)))
            .ok_or_else(|| bad("no data_offsets"))?;
        let elems: u64 = shape.iter().map(|&d| d as u64).product();
        if offsets.1 < offsets.0 || offsets.1 - offsets.0 != elems * dtype.size_in_bytes() as u64 {
            return Err(bad(&format!(
                "data_offsets {offsets:?} do not fit shape {shape:?} of {dtype_name}"
            )));
        }
        if offsets.1 > data_len {
            return Err(weights_err(
                path,
                format!(
                    "truncated: tensor '{name}' ends at byte {} of the data but the file has {data_len}",
                    offsets.1
                ),
            ));
        }
        out.push((
            name.clone(),
            StoredTensor {
                dtype,
                shape,
                file: path.to_path_buf(),
            },
        ));
    }
    Ok(out)
}
