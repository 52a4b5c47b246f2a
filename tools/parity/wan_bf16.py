#!/usr/bin/env python3
"""diffusers' Wan transformer and VAE decode in bfloat16, for kino's bf16 parity test.

kino runs Wan's transformer in bf16 on a GPU (`kino_engine::wan::compute_dtype`, `--dtype
bf16`); the f32 fixtures prove the arithmetic, this one measures the bf16 numerics against
what diffusers computes in bf16. It reuses the tiny random networks and inputs of the f32
fixtures (no new weights are written):

  tools/parity/fixtures/wan_transformer.safetensors   WanTransformer3DModel (patch 1x2x2,
      head dim 16), its latents, text states and timesteps 999 / 500 / 10 and the TI2V
      per-token timesteps (tools/parity/wan_transformer.py)
  tools/parity/fixtures/wan_vae21.safetensors         AutoencoderKLWan, Wan 2.1 style
  tools/parity/fixtures/wan_vae22.safetensors         AutoencoderKLWan, Wan 2.2 style
      (tools/parity/wan_vae.py), each with its `__input.latent`

The transformer is saved with `save_pretrained` and loaded back with `from_pretrained(...,
torch_dtype=torch.bfloat16)`, as diffusers users load Wan: that keeps its
`_keep_in_fp32_modules` (time embedder, scale-shift tables, norms, rotary tables) in f32 and
casts the rest to bf16. The VAEs (no such modules) are cast with `.to(torch.bfloat16)`. Each
runs on CPU with its inputs in bf16, as diffusers' pipelines feed it (`latents.to(transformer_dtype)`, prompt embeddings in
the transformer's dtype, the timestep as the scheduler gives it, f32). Writes
tools/parity/fixtures/wan_bf16.safetensors:

  __expected.transformer.t{T}    (1, 4, 3, 8, 8) bf16 output for timestep T
  __expected.transformer.ti2v    (1, 4, 3, 8, 8) bf16 output for the per-token timesteps
  __expected.transformer_cast.*  the same from a plain `.to(torch.bfloat16)` of every
                                 parameter (time embedder and output table in bf16 too)
  __expected.vae21.decode        (1, 3, 9, 16, 16) bf16 vae.decode(latent.bf16()).sample
  __expected.vae22.decode        (1, 3, 9, 16, 32) bf16, the same for the 2.2 VAE

Metadata (strings): "sources" (JSON: which f32 fixture each group comes from),
"torch_bf16_vs_f32" (JSON: max |bf16 - f32| / max |f32| of diffusers itself, per output, the
size of bf16's own error), "diffusers", "torch", "reference".

  pip install torch diffusers==0.42.1 safetensors
  python3 tools/parity/wan_bf16.py
"""

import json
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

import diffusers
from diffusers import AutoencoderKLWan, WanTransformer3DModel

FIXTURES = Path(__file__).resolve().parents[2] / "tools" / "parity" / "fixtures"
OUT = FIXTURES / "wan_bf16.safetensors"


def read_fixture(name: str):
    """(weights, inputs and expected outputs, metadata) of an f32 fixture."""
    weights, extra = {}, {}
    with safe_open(str(FIXTURES / name), "pt") as f:
        meta = f.metadata()
        for key in f.keys():
            (extra if key.startswith("__") else weights)[key] = f.get_tensor(key)
    return weights, extra, meta


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.float(), want.float()
    return ((got - want).abs().max() / want.abs().max()).item()


def main() -> None:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    tensors: dict[str, torch.Tensor] = {}
    errors: dict[str, float] = {}
    sources: dict[str, str] = {}

    weights, extra, meta = read_fixture("wan_transformer.safetensors")
    sources["transformer"] = "wan_transformer.safetensors"
    f32 = WanTransformer3DModel(**json.loads(meta["config"])).eval()
    f32.load_state_dict(weights, strict=True)
    # What diffusers users run: from_pretrained(torch_dtype=bf16), which keeps the model's
    # _keep_in_fp32_modules (time_embedder, scale_shift_table, norm1-3, rope) in f32; and a
    # plain .to(bf16) of every parameter, for comparison.
    with tempfile.TemporaryDirectory() as tmp:
        f32.save_pretrained(tmp)
        pretrained = WanTransformer3DModel.from_pretrained(tmp, torch_dtype=torch.bfloat16).eval()
    assert pretrained.condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32
    assert pretrained.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    cast = f32.to(torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in cast.parameters())
    x = extra["__input.hidden_states"].to(torch.bfloat16)
    text = extra["__input.encoder_hidden_states"].to(torch.bfloat16)
    cases = [f"t{t}" for t in json.loads(meta["timesteps"])] + ["ti2v"]
    with torch.no_grad():
        for prefix, model in [("transformer", pretrained), ("transformer_cast", cast)]:
            for case in cases:
                timestep = extra[f"__input.timestep.{case}"]
                out = model(
                    hidden_states=x,
                    timestep=timestep,
                    encoder_hidden_states=text,
                    return_dict=False,
                )[0]
                assert out.dtype == torch.bfloat16, out.dtype
                key = f"{prefix}.{case}"
                tensors[f"__expected.{key}"] = out.contiguous()
                errors[key] = rel_err(out, extra[f"__expected.{case}"])
                print(f"{key}: torch bf16 vs f32 {errors[key]:.3e}")

    for name, fixture in [("vae21", "wan_vae21.safetensors"), ("vae22", "wan_vae22.safetensors")]:
        weights, extra, meta = read_fixture(fixture)
        vae = AutoencoderKLWan(**json.loads(meta["config"])).eval()
        vae.load_state_dict(weights, strict=True)
        vae = vae.to(torch.bfloat16)
        sources[name] = fixture
        with torch.no_grad():
            out = vae.decode(extra["__input.latent"].to(torch.bfloat16)).sample
        assert out.dtype == torch.bfloat16, out.dtype
        key = f"{name}.decode"
        tensors[f"__expected.{key}"] = out.contiguous()
        errors[key] = rel_err(out, extra["__expected.decode"])
        print(f"{key}: {tuple(out.shape)}, torch bf16 vs f32 {errors[key]:.3e}")

    save_file(
        tensors,
        str(OUT),
        metadata={
            "sources": json.dumps(sources),
            "torch_bf16_vs_f32": json.dumps(errors),
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "reference": f"diffusers {diffusers.__version__}, torch {torch.__version__}, "
            "CPU bf16 (weights and inputs), f32 fixtures' weights",
        },
    )
    OUT.chmod(0o644)
    print(f"wrote {OUT.relative_to(FIXTURES.parents[2])}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
