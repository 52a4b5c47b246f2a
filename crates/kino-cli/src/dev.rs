//! `kino dev forward`: run one network of a diffusers folder on saved inputs and save its
//! outputs, so anyone can check kino against the reference on their own weights
//! (docs/wan.md, "Checking parity on your own weights").

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};
use clap::{Subcommand, ValueEnum};
use kino_models::diffusers_folder::DiffusersFolder;
use kino_models::umt5::{Umt5Config, Umt5Encoder};
use kino_models::wan_transformer::{WanTransformer, WanTransformerConfig};
use kino_models::wan_vae::{AutoencoderKLWan, WanVaeConfig, WanVaeTiling};

#[derive(Subcommand)]
pub enum DevCommand {
    /// Run one component of a diffusers folder on inputs from a safetensors file.
    ///
    /// Inputs (by name) and outputs per component:
    ///   transformer, transformer_2: hidden_states, timestep, encoder_hidden_states -> sample
    ///   vae-encode: sample (B, 3, F, H, W) in [-1, 1] -> latent_mean, latent_logvar
    ///   vae-decode: latents (B, z, F, h, w), as the VAE takes them -> sample
    ///   text_encoder: input_ids, attention_mask (optional) -> last_hidden_state
    Forward {
        /// The diffusers folder (with model_index.json).
        #[arg(long)]
        model: PathBuf,
        #[arg(long, value_enum)]
        component: DevComponent,
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Compute dtype of the network.
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// VAE only: decode/encode in 256-pixel tiles every 192 (diffusers' enable_tiling).
        #[arg(long)]
        tiling: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DevComponent {
    Transformer,
    #[value(name = "transformer_2")]
    Transformer2,
    VaeEncode,
    VaeDecode,
    #[value(name = "text_encoder")]
    TextEncoder,
}

fn parse_dtype(s: &str) -> Result<DType> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "f32" | "float32" => DType::F32,
        "bf16" | "bfloat16" => DType::BF16,
        "f16" | "float16" => DType::F16,
        other => bail!("--dtype {other}: expected f32, bf16 or f16"),
    })
}

fn input<'a>(inputs: &'a HashMap<String, Tensor>, name: &str, path: &Path) -> Result<&'a Tensor> {
    inputs.get(name).with_context(|| {
        let mut have: Vec<&str> = inputs.keys().map(String::as_str).collect();
        have.sort();
        format!(
            "{}: no input tensor '{name}' (it has: {})",
            path.display(),
            have.join(", ")
        )
    })
}

pub fn run(cmd: DevCommand) -> Result<()> {
    match cmd {
        DevCommand::Forward {
            model,
            component,
            inputs,
            out,
            dtype,
            device,
            tiling,
        } => forward(&model, component, &inputs, &out, &dtype, &device, tiling),
    }
}

fn forward(
    model: &Path,
    component: DevComponent,
    inputs_path: &Path,
    out: &Path,
    dtype: &str,
    device: &str,
    tiling: bool,
) -> Result<()> {
    let dtype = parse_dtype(dtype)?;
    let dev = crate::device::parse(device)?;
    let folder = DiffusersFolder::open(model)?;
    let inputs = candle_core::safetensors::load(inputs_path, &dev)
        .with_context(|| format!("reading inputs {}", inputs_path.display()))?;
    let name = match component {
        DevComponent::Transformer => "transformer",
        DevComponent::Transformer2 => "transformer_2",
        DevComponent::VaeEncode | DevComponent::VaeDecode => "vae",
        DevComponent::TextEncoder => "text_encoder",
    };
    let c = folder.component(name)?;
    let ctx = || format!("{} ({})", c.dir.display(), c.class);
    let start = std::time::Instant::now();
    let mut outputs: HashMap<String, Tensor> = HashMap::new();
    match component {
        DevComponent::Transformer | DevComponent::Transformer2 => {
            let cfg =
                WanTransformerConfig::from_diffusers_json(&c.config_json()).with_context(ctx)?;
            let net = WanTransformer::new(&cfg, c.var_builder(dtype, &dev)?).with_context(ctx)?;
            let x = input(&inputs, "hidden_states", inputs_path)?.to_dtype(dtype)?;
            let t = input(&inputs, "timestep", inputs_path)?;
            let e = input(&inputs, "encoder_hidden_states", inputs_path)?.to_dtype(dtype)?;
            let y = net.forward(&x, t, &e).with_context(ctx)?;
            outputs.insert("sample".into(), y.to_dtype(DType::F32)?);
        }
        DevComponent::VaeEncode | DevComponent::VaeDecode => {
            if dtype == DType::BF16 && dev.is_cpu() {
                bail!(
                    "--dtype bf16 --device cpu: the VAE is convolutions, and candle has no bf16 \
                     convolution on the CPU; run it in f32 there (as kino's pipeline does), or in \
                     bf16 with --device cuda"
                );
            }
            let cfg = WanVaeConfig::from_diffusers_json(&c.config_json()).with_context(ctx)?;
            let mut vae =
                AutoencoderKLWan::new(&cfg, c.var_builder(dtype, &dev)?).with_context(ctx)?;
            if tiling {
                vae = vae.with_tiling(WanVaeTiling::default())?;
            }
            if matches!(component, DevComponent::VaeEncode) {
                let x = input(&inputs, "sample", inputs_path)?.to_dtype(dtype)?;
                let post = vae.encode(&x).with_context(ctx)?;
                outputs.insert("latent_mean".into(), post.mean.to_dtype(DType::F32)?);
                outputs.insert("latent_logvar".into(), post.logvar.to_dtype(DType::F32)?);
            } else {
                let z = input(&inputs, "latents", inputs_path)?.to_dtype(dtype)?;
                let y = vae.decode(&z).with_context(ctx)?;
                outputs.insert("sample".into(), y.to_dtype(DType::F32)?);
            }
        }
        DevComponent::TextEncoder => {
            let cfg = Umt5Config::from_json(&c.config_json()).with_context(ctx)?;
            let enc = Umt5Encoder::new(&cfg, c.var_builder(dtype, &dev)?).with_context(ctx)?;
            let ids = input(&inputs, "input_ids", inputs_path)?;
            let mask = inputs.get("attention_mask");
            let y = enc.forward(ids, mask).with_context(ctx)?;
            outputs.insert("last_hidden_state".into(), y.to_dtype(DType::F32)?);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let outputs: HashMap<String, Tensor> = outputs
        .into_iter()
        .map(|(k, v)| Ok((k, v.to_device(&candle_core::Device::Cpu)?)))
        .collect::<Result<_>>()?;
    candle_core::safetensors::save(&outputs, out)
        .with_context(|| format!("writing {}", out.display()))?;
    let mut names: Vec<String> = outputs
        .iter()
        .map(|(k, v)| format!("{k} {:?}", v.dims()))
        .collect();
    names.sort();
    println!(
        "{name}: {} in {seconds:.2} s -> {}",
        names.join(", "),
        out.display()
    );
    Ok(())
}
