//! kino's Wan networks in bf16 against diffusers in bf16 (tools/parity/wan_bf16.py).
//!
//! The f32 fixtures (`wan_transformer.safetensors`, `wan_vae21.safetensors`,
//! `wan_vae22.safetensors`) prove the arithmetic to 1e-4. This test loads the same tiny
//! random networks with their weights cast to bf16, as `kino_engine::wan::compute_dtype`
//! picks on a GPU and `kino dev forward --dtype bf16` runs them, and compares them with
//! `wan_bf16.safetensors`: diffusers' outputs for the same inputs with the transformer loaded
//! by `from_pretrained(torch_dtype=torch.bfloat16)` (its time embedder, scale-shift tables and
//! norms kept in f32) and the VAEs cast to bf16.
//!
//! bf16 keeps 8 significant bits (about 2.4 decimal digits), and two implementations round
//! at different places (fused kernels, accumulation order, where a cast sits), so the two
//! bf16 results differ by about as much as either differs from f32. The test bounds both:
//! kino's bf16 against diffusers' bf16, and kino's bf16 against the f32 reference relative to
//! diffusers' own bf16 error (recorded in the fixture). Errors are max |got - want| / max
//! |want|, printed for every output (run with `--nocapture`).
//!
//! The transformer is compared on the CPU. The VAE decode is compared only in a build with
//! the `cuda` feature, on the GPU: candle 0.11 has no bf16 convolution on the CPU.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use common::{fixture_path, meta_json, read_safetensors, rel_err};
use kino_models::wan_transformer::{WanTransformer, WanTransformerConfig};
use kino_models::wan_vae::{AutoencoderKLWan, WanVaeConfig};

/// A fixture's tensors (as f32) and its metadata.
fn fixture(name: &str) -> (HashMap<String, Tensor>, serde_json::Value) {
    let (tensors, meta) = read_safetensors(&fixture_path(name));
    let tensors = tensors
        .into_iter()
        .map(|(k, v)| (k, v.to_dtype(DType::F32).unwrap()))
        .collect();
    (tensors, meta)
}

/// One output's errors.
struct Errors {
    /// kino bf16 against diffusers bf16.
    vs_torch_bf16: f32,
    /// kino bf16 against the f32 reference.
    vs_f32: f32,
    /// diffusers bf16 against the f32 reference (bf16's own error, from the fixture).
    torch_vs_f32: f32,
    /// kino bf16 against kino f32: proves bf16 really ran.
    kino_bf16_vs_f32: f32,
}

impl Errors {
    /// The errors of output `what` (`got` in bf16, `got_f32` in f32): diffusers' bf16 output
    /// and own error are `__expected.<what>` of `bf16` and `<what>` of `torch_errors`.
    fn new(
        what: &str,
        got: &Tensor,
        got_f32: &Tensor,
        bf16: &HashMap<String, Tensor>,
        want_f32: &Tensor,
        torch_errors: &serde_json::Value,
    ) -> Self {
        let want_bf16 = &bf16[&format!("__expected.{what}")];
        let torch_vs_f32 = torch_errors[what].as_f64().unwrap() as f32;
        let e = Self {
            vs_torch_bf16: rel_err(got, want_bf16),
            vs_f32: rel_err(got, want_f32),
            torch_vs_f32,
            kino_bf16_vs_f32: rel_err(got, &got_f32.to_dtype(DType::F32).unwrap()),
        };
        println!(
            "{what}: kino bf16 vs diffusers bf16 {:.2e}; vs f32 reference: kino bf16 {:.2e}, \
             diffusers bf16 {:.2e}; kino bf16 vs kino f32 {:.2e}; kino f32 vs reference {:.2e}",
            e.vs_torch_bf16,
            e.vs_f32,
            e.torch_vs_f32,
            e.kino_bf16_vs_f32,
            rel_err(got_f32, want_f32),
        );
        e
    }

    /// bf16 really ran: a bf16 network cannot reproduce f32 to 1e-4.
    fn assert_bf16_ran(&self, key: &str) {
        assert!(
            self.kino_bf16_vs_f32 > 1e-3,
            "{key}: bf16 and f32 agree to {:.2e}; was bf16 used?",
            self.kino_bf16_vs_f32
        );
    }

    /// kino's bf16 is no further from f32 than twice diffusers' own bf16 error (+ 2^-8).
    fn assert_within_torch_bf16_error(&self, key: &str) {
        assert!(
            self.vs_f32 <= 2.0 * self.torch_vs_f32 + 4e-3,
            "{key}: kino bf16 vs f32 {:.2e}, diffusers bf16 vs f32 {:.2e}",
            self.vs_f32,
            self.torch_vs_f32
        );
    }
}

#[test]
fn wan_transformer_in_bf16_matches_diffusers_bf16() {
    let (bf16, meta) = fixture("wan_bf16.safetensors");
    let torch_errors = meta_json(&meta, "torch_bf16_vs_f32");
    let source = meta_json(&meta, "sources")["transformer"]
        .as_str()
        .unwrap()
        .to_string();
    let (fx, fmeta) = fixture(&source);
    let cfg = WanTransformerConfig::from_diffusers_json(fmeta["config"].as_str().unwrap()).unwrap();
    let load =
        |dtype| WanTransformer::load(&cfg, &[fixture_path(&source)], dtype, &Device::Cpu).unwrap();
    let (model, model_f32) = (load(DType::BF16), load(DType::F32));
    assert_eq!(model.dtype(), DType::BF16);
    let x = &fx["__input.hidden_states"];
    let text = &fx["__input.encoder_hidden_states"];
    let timesteps: Vec<u32> = serde_json::from_value(meta_json(&fmeta, "timesteps")).unwrap();
    let cases: Vec<String> = timesteps
        .iter()
        .map(|t| format!("t{t}"))
        .chain(["ti2v".to_string()])
        .collect();
    let mut worst = 0f32;
    for case in &cases {
        let timestep = &fx[&format!("__input.timestep.{case}")];
        let got = model.forward(x, timestep, text).unwrap();
        assert_eq!(
            got.dtype(),
            DType::BF16,
            "{case}: the output of a bf16 network"
        );
        let got_f32 = model_f32.forward(x, timestep, text).unwrap();
        let key = format!("transformer.{case}");
        let e = Errors::new(
            &key,
            &got,
            &got_f32,
            &bf16,
            &fx[&format!("__expected.{case}")],
            &torch_errors,
        );
        let cast = rel_err(&got, &bf16[&format!("__expected.transformer_cast.{case}")]);
        println!("  (kino bf16 vs diffusers with every parameter cast to bf16: {cast:.2e})");
        e.assert_bf16_ran(&key);
        // About one bf16 rounding of the output's scale (2^-8 = 3.9e-3) a few times over.
        assert!(
            e.vs_torch_bf16 <= 2e-2,
            "{key}: kino bf16 vs diffusers bf16 {:.2e}",
            e.vs_torch_bf16
        );
        e.assert_within_torch_bf16_error(&key);
        worst = worst.max(e.vs_torch_bf16);
    }
    println!("transformer: worst kino bf16 vs diffusers bf16 {worst:.2e}");
}

/// The VAE decode in bf16 on `device`. kino's pipeline runs the VAE in f32 (as diffusers'
/// Wan examples load it), but `kino dev forward --component vae-decode --dtype bf16` runs it
/// in bf16. candle 0.11 has no bf16 convolution on the CPU (its CPU matmul widens bf16 to f32,
/// its im2col convolution does not), so this runs on a GPU: the test exists in builds with
/// the `cuda` feature (`cargo test -p kino-engine --features cuda --test wan_bf16_parity`).
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn vae_decode_in_bf16_matches_diffusers_bf16(device: &Device) {
    let (bf16, meta) = fixture("wan_bf16.safetensors");
    let torch_errors = meta_json(&meta, "torch_bf16_vs_f32");
    let sources = meta_json(&meta, "sources");
    for name in ["vae21", "vae22"] {
        let source = sources[name].as_str().unwrap();
        let (fx, fmeta) = fixture(source);
        let cfg = WanVaeConfig::from_diffusers_json(fmeta["config"].as_str().unwrap()).unwrap();
        let load =
            |dtype| AutoencoderKLWan::load(&cfg, &[fixture_path(source)], dtype, device).unwrap();
        let (vae, vae_f32) = (load(DType::BF16), load(DType::F32));
        let latent = fx["__input.latent"].to_device(device).unwrap();
        let got = vae
            .decode(&latent)
            .unwrap()
            .to_device(&Device::Cpu)
            .unwrap();
        let got_f32 = vae_f32
            .decode(&latent)
            .unwrap()
            .to_device(&Device::Cpu)
            .unwrap();
        let key = format!("{name}.decode");
        let e = Errors::new(
            &key,
            &got,
            &got_f32,
            &bf16,
            &fx["__expected.decode"],
            &torch_errors,
        );
        e.assert_bf16_ran(&key);
        e.assert_within_torch_bf16_error(&key);
    }
}

#[cfg(feature = "cuda")]
#[test]
fn wan_vae_decode_in_bf16_on_cuda_matches_diffusers_bf16() {
    vae_decode_in_bf16_matches_diffusers_bf16(&Device::new_cuda(0).expect("a CUDA device"));
}
