//! A kino model is a folder: `kino-model.json` (the manifest) beside one safetensors file per
//! component and a `tokenizer.json`. The manifest names the model family, each component's
//! configuration, file, byte size, SHA-256 and every tensor's dtype and shape, so a model can
//! be checked completely before a single weight is used (`kino models verify DIR`).
//!
//! Loading never trusts the folder: a missing file, a truncated or corrupt safetensors file, a
//! tensor with the wrong shape or dtype, or a missing key is reported by file and name.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest file name inside a model folder.
pub const MANIFEST: &str = "kino-model.json";
/// The manifest format this build reads and writes.
pub const FORMAT: &str = "kino-model/1";

/// Everything that can be wrong with a model folder.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: not a kino model folder (no {MANIFEST})")]
    NotAModel { path: PathBuf },
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model has no component '{name}' (it has: {available})")]
    MissingComponent { name: String, available: String },
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
    #[error("{path}: tensor '{tensor}': {message}")]
    Tensor {
        path: PathBuf,
        tensor: String,
        message: String,
    },
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
}

/// Dtype and shape of one stored tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// One network of the model (text encoder, VAE, DiT, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Safetensors file, relative to the folder.
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    /// The network's configuration (its `Config` struct, serialised).
    #[serde(default)]
    pub config: serde_json::Value,
    /// Other files this component needs (e.g. `tokenizer.json`), relative to the folder,
    /// with their SHA-256.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_files: BTreeMap<String, String>,
    pub tensors: BTreeMap<String, TensorSpec>,
}

/// What the model was trained for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaSpec {
    pub fps: u32,
    /// (width, height) sizes the model was trained at.
    pub sizes: Vec<(u32, u32)>,
    pub max_seconds: f64,
    pub audio_sample_rate: u32,
}

/// `kino-model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub name: String,
    /// The model family, which picks the pipeline (`kino-twin-dit`, later `wan-2.1`, ...).
    pub family: String,
    pub licence: String,
    #[serde(default)]
    pub description: String,
    pub media: MediaSpec,
    pub components: BTreeMap<String, Component>,
    /// Free-form notes on how the weights were made (recipe, steps, hardware).
    #[serde(default)]
    pub training: serde_json::Value,
}

/// An opened (and structurally checked) model folder.
#[derive(Debug, Clone)]
pub struct ModelFolder {
    dir: PathBuf,
    manifest: Manifest,
}

/// The result of a full verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub name: String,
    pub family: String,
    pub components: Vec<ComponentReport>,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentReport {
    pub name: String,
    pub file: String,
    pub bytes: u64,
    pub tensors: usize,
    pub parameters: u64,
}

impl VerifyReport {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} ({}): OK, {:.1} MB\n",
            self.name,
            self.family,
            self.total_bytes as f64 / 1e6
        );
        for c in &self.components {
            s.push_str(&format!(
                "  {:<14} {:<28} {:>8.1} MB  {:>4} tensors  {:>11} parameters  sha256 ok\n",
                c.name,
                c.file,
                c.bytes as f64 / 1e6,
                c.tensors,
                c.parameters
            ));
        }
        s
    }
}

fn dtype_name(d: safetensors::Dtype) -> String {
    format!("{d:?}").to_lowercase()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// SHA-256 of a file as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// Reads the tensor table of a safetensors file, checking that the header is well formed
/// and that the data section covers every tensor (a truncated file is refused).
pub fn read_tensor_specs(path: &Path) -> Result<BTreeMap<String, TensorSpec>, ModelError> {
    let bytes = fs::read(path).map_err(io(path))?;
    tensor_specs_of(&bytes).map_err(|message| ModelError::Weights {
        path: path.to_path_buf(),
        message,
    })
}

fn tensor_specs_of(bytes: &[u8]) -> Result<BTreeMap<String, TensorSpec>, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| match e {
        safetensors::SafeTensorError::MetadataIncompleteBuffer
        | safetensors::SafeTensorError::HeaderTooSmall
        | safetensors::SafeTensorError::InvalidHeaderLength => {
            format!("truncated or not a safetensors file ({e})")
        }
        other => format!("corrupt safetensors file ({other})"),
    })?;
    Ok(st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                TensorSpec {
                    dtype: dtype_name(view.dtype()),
                    shape: view.shape().to_vec(),
                },
            )
        })
        .collect())
}

impl ModelFolder {
    /// Opens a folder: parses the manifest and checks that every file it names exists with
    /// the recorded size. (Hashes and tensor tables are checked by [`Self::verify`].)
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, ModelError> {
        let dir = dir.as_ref().to_path_buf();
        let manifest_path = dir.join(MANIFEST);
        if !dir.is_dir() {
            let message = if dir.exists() {
                "is a file, not a model folder"
            } else {
                "no such folder"
            };
            return Err(ModelError::Manifest {
                path: dir,
                message: message.into(),
            });
        }
        if !manifest_path.is_file() {
            return Err(ModelError::NotAModel { path: dir });
        }
        let text = fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
            path: manifest_path.clone(),
            message: format!("invalid manifest: {e}"),
        })?;
        if manifest.format != FORMAT {
            return Err(ModelError::Manifest {
                path: manifest_path,
                message: format!(
                    "format '{}' is not supported (this build reads '{FORMAT}')",
                    manifest.format
                ),
            });
        }
        for (name, c) in &manifest.components {
            if c.file.contains("..") || Path::new(&c.file).is_absolute() {
                return Err(ModelError::Manifest {
                    path: manifest_path,
                    message: format!(
                        "component '{name}' names a file outside the folder: {}",
                        c.file
                    ),
                });
            }
            let path = dir.join(&c.file);
            let meta = fs::metadata(&path).map_err(io(&path))?;
            if meta.len() != c.bytes {
                return Err(ModelError::Weights {
                    path,
                    message: format!(
                        "is {} bytes, the manifest says {} (truncated or replaced?)",
                        meta.len(),
                        c.bytes
                    ),
                });
            }
            for extra in c.extra_files.keys() {
                let p = dir.join(extra);
                if !p.is_file() {
                    return Err(ModelError::Io {
                        path: p,
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "file named by the manifest is missing",
                        ),
                    });
                }
            }
        }
        Ok(Self { dir, manifest })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn component(&self, name: &str) -> Result<&Component, ModelError> {
        self.manifest
            .components
            .get(name)
            .ok_or_else(|| ModelError::MissingComponent {
                name: name.to_string(),
                available: self
                    .manifest
                    .components
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Path of a component's weights file.
    pub fn weights_path(&self, name: &str) -> Result<PathBuf, ModelError> {
        Ok(self.dir.join(&self.component(name)?.file))
    }

    /// Path of an extra file (e.g. the tokenizer) inside the folder.
    pub fn file(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// A component's configuration, deserialised into its `Config` type.
    pub fn config<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ModelError> {
        let c = self.component(name)?;
        serde_json::from_value(c.config.clone()).map_err(|e| ModelError::Manifest {
            path: self.dir.join(MANIFEST),
            message: format!("component '{name}' has an invalid config: {e}"),
        })
    }

    /// Loads a component's weights (checked against the manifest's tensor table) into a
    /// VarBuilder of `dtype` on `device`.
    pub fn var_builder(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> Result<VarBuilder<'static>, ModelError> {
        let c = self.component(name)?;
        let path = self.dir.join(&c.file);
        let bytes = fs::read(&path).map_err(io(&path))?;
        let found = tensor_specs_of(&bytes).map_err(|message| ModelError::Weights {
            path: path.clone(),
            message,
        })?;
        compare_tables(&path, &c.tensors, &found)?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| {
            ModelError::Weights {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        let tensors = tensors
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_dtype(dtype)?)))
            .collect::<Result<std::collections::HashMap<String, Tensor>, candle_core::Error>>()?;
        Ok(VarBuilder::from_tensors(tensors, dtype, device))
    }

    /// Checks every component completely: size, SHA-256, safetensors structure, and that
    /// the tensor table equals the manifest's. Returns at the first problem, named.
    pub fn verify(&self) -> Result<VerifyReport, ModelError> {
        let mut components = Vec::new();
        let mut total = 0;
        for (name, c) in &self.manifest.components {
            let path = self.dir.join(&c.file);
            let sha = sha256_file(&path)?;
            if sha != c.sha256 {
                return Err(ModelError::Weights {
                    path,
                    message: format!(
                        "SHA-256 is {sha}, the manifest says {} (file changed or corrupt)",
                        c.sha256
                    ),
                });
            }
            for (extra, want) in &c.extra_files {
                let p = self.dir.join(extra);
                let got = sha256_file(&p)?;
                if &got != want {
                    return Err(ModelError::Weights {
                        path: p,
                        message: format!("SHA-256 is {got}, the manifest says {want}"),
                    });
                }
            }
            let found = read_tensor_specs(&path)?;
            compare_tables(&path, &c.tensors, &found)?;
            let parameters = found
                .values()
                .map(|t| t.shape.iter().product::<usize>() as u64)
                .sum();
            components.push(ComponentReport {
                name: name.clone(),
                file: c.file.clone(),
                bytes: c.bytes,
                tensors: found.len(),
                parameters,
            });
            total += c.bytes;
        }
        Ok(VerifyReport {
            name: self.manifest.name.clone(),
            family: self.manifest.family.clone(),
            components,
            total_bytes: total,
        })
    }
}

fn compare_tables(
    path: &Path,
    want: &BTreeMap<String, TensorSpec>,
    found: &BTreeMap<String, TensorSpec>,
) -> Result<(), ModelError> {
    for (name, spec) in want {
        match found.get(name) {
            None => {
                return Err(ModelError::Tensor {
                    path: path.to_path_buf(),
                    tensor: name.clone(),
                    message: "missing from the file".into(),
                })
            }
            Some(got) if got != spec => {
                return Err(ModelError::Tensor {
                    path: path.to_path_buf(),
                    tensor: name.clone(),
                    message: format!(
                        "is {} {:?}, the manifest says {} {:?}",
                        got.dtype, got.shape, spec.dtype, spec.shape
                    ),
                })
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|k| !want.contains_key(*k)) {
        return Err(ModelError::Tensor {
            path: path.to_path_buf(),
            tensor: extra.clone(),
            message: "is in the file but not in the manifest".into(),
        });
    }
    Ok(())
}

/// Builds a model folder: write component files, then the manifest (last, atomically), so a
/// crash never leaves a manifest naming files that are not all there.
pub struct FolderWriter {
    dir: PathBuf,
    components: BTreeMap<String, Component>,
}

impl FolderWriter {
    pub fn new(dir: impl AsRef<Path>) -> Result<Self, ModelError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Self {
            dir,
            components: BTreeMap::new(),
        })
    }

    /// Writes `tensors` (converted to `dtype`) as `<name>.safetensors` and records them.
    pub fn write_component(
        &mut self,
        name: &str,
        tensors: &std::collections::HashMap<String, Tensor>,
        dtype: DType,
        config: serde_json::Value,
    ) -> Result<(), ModelError> {
        let file = format!("{name}.safetensors");
        let path = self.dir.join(&file);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        let converted = tensors
            .iter()
            .map(|(k, t)| Ok((k.clone(), t.to_dtype(dtype)?)))
            .collect::<Result<std::collections::HashMap<_, _>, candle_core::Error>>()?;
        candle_core::safetensors::save(&converted, &tmp)?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        self.add_existing(name, &file, config)
    }

    /// Records a safetensors file already in the folder (e.g. the shipped text encoder).
    pub fn add_existing(
        &mut self,
        name: &str,
        file: &str,
        config: serde_json::Value,
    ) -> Result<(), ModelError> {
        let path = self.dir.join(file);
        let bytes = fs::metadata(&path).map_err(io(&path))?.len();
        let component = Component {
            file: file.to_string(),
            bytes,
            sha256: sha256_file(&path)?,
            config,
            extra_files: BTreeMap::new(),
            tensors: read_tensor_specs(&path)?,
        };
        self.components.insert(name.to_string(), component);
        Ok(())
    }

    /// Attaches an extra file (already in the folder) to a component.
    pub fn add_extra_file(&mut self, component: &str, file: &str) -> Result<(), ModelError> {
        let sha = sha256_file(&self.dir.join(file))?;
        let available = self
            .components
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let c = self
            .components
            .get_mut(component)
            .ok_or_else(|| ModelError::MissingComponent {
                name: component.to_string(),
                available,
            })?;
        c.extra_files.insert(file.to_string(), sha);
        Ok(())
    }

    /// Writes the manifest and returns the opened folder.
    pub fn finish(
        self,
        name: &str,
        family: &str,
        licence: &str,
        description: &str,
        media: MediaSpec,
        training: serde_json::Value,
    ) -> Result<ModelFolder, ModelError> {
        let manifest = Manifest {
            format: FORMAT.to_string(),
            name: name.to_string(),
            family: family.to_string(),
            licence: licence.to_string(),
            description: description.to_string(),
            media,
            components: self.components,
            training,
        };
        let path = self.dir.join(MANIFEST);
        let tmp = self.dir.join(format!(".{MANIFEST}.tmp"));
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        fs::write(&tmp, text + "\n").map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        ModelFolder::open(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kino-folder-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn sample_folder(tag: &str) -> (PathBuf, ModelFolder) {
        let dir = temp_dir(tag);
        let mut w = FolderWriter::new(&dir).unwrap();
        let mut t = HashMap::new();
        t.insert(
            "layer.weight".to_string(),
            Tensor::arange(0f32, 12.0, &Device::Cpu)
                .unwrap()
                .reshape((3, 4))
                .unwrap(),
        );
        t.insert(
            "layer.bias".to_string(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
        w.write_component("net", &t, DType::F16, serde_json::json!({"width": 4}))
            .unwrap();
        fs::write(dir.join("tokenizer.json"), "{}").unwrap();
        w.add_extra_file("net", "tokenizer.json").unwrap();
        let media = MediaSpec {
            fps: 24,
            sizes: vec![(128, 128)],
            max_seconds: 8.0,
            audio_sample_rate: 16_000,
        };
        let folder = w
            .finish(
                "test",
                "kino-twin-dit",
                "Apache-2.0",
                "",
                media,
                serde_json::Value::Null,
            )
            .unwrap();
        (dir, folder)
    }

    #[test]
    fn written_folder_verifies_and_loads() {
        let (dir, folder) = sample_folder("ok");
        let report = folder.verify().unwrap();
        assert_eq!(report.components[0].parameters, 15);
        assert!(report.to_text().contains("OK"));
        let vb = folder.var_builder("net", DType::F32, &Device::Cpu).unwrap();
        let w = vb.get((3, 4), "layer.weight").unwrap();
        assert_eq!(w.to_vec2::<f32>().unwrap()[2][3], 11.0);
        assert_eq!(
            folder.config::<serde_json::Value>("net").unwrap()["width"],
            4
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn truncated_weights_are_named() {
        let (dir, _) = sample_folder("trunc");
        let path = dir.join("net.safetensors");
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let err = ModelFolder::open(&dir).unwrap_err().to_string();
        assert!(
            err.contains("net.safetensors") && err.contains("truncated"),
            "{err}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn changed_bytes_fail_the_hash_and_bad_tables_are_named() {
        let (dir, folder) = sample_folder("hash");
        let path = dir.join("net.safetensors");
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0x55;
        fs::write(&path, &bytes).unwrap();
        let err = folder.verify().unwrap_err().to_string();
        assert!(err.contains("SHA-256"), "{err}");

        // A manifest whose shape disagrees with the file.
        let manifest_path = dir.join(MANIFEST);
        let text = fs::read_to_string(&manifest_path)
            .unwrap()
            .replace("\"sha256\": \"", "\"sha256\": \"x");
        fs::write(&manifest_path, text).unwrap();
        let mut m: Manifest =
            serde_json::from_str(&fs::read_to_string(&manifest_path).unwrap()).unwrap();
        m.components
            .get_mut("net")
            .unwrap()
            .tensors
            .get_mut("layer.weight")
            .unwrap()
            .shape = vec![4, 3];
        fs::write(&manifest_path, serde_json::to_string(&m).unwrap()).unwrap();
        let folder = ModelFolder::open(&dir).unwrap();
        let err = folder
            .var_builder("net", DType::F32, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("layer.weight") && err.contains("[3, 4]"),
            "{err}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_folders_and_bad_manifests_are_clear() {
        let dir = temp_dir("none");
        let err = ModelFolder::open(&dir).unwrap_err().to_string();
        assert!(err.contains("not a kino model folder"), "{err}");
        fs::write(dir.join(MANIFEST), "{ not json").unwrap();
        let err = ModelFolder::open(&dir).unwrap_err().to_string();
        assert!(err.contains("invalid manifest"), "{err}");
        fs::write(dir.join("x.safetensors"), b"garbage that is not a header").unwrap();
        let err = read_tensor_specs(&dir.join("x.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.safetensors"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}
