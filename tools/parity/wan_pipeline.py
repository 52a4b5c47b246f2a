#!/usr/bin/env python3
"""Reference runs of diffusers' WanPipeline for kino's Wan pipeline parity test.

Writes two tiny diffusers-format Wan folders (random weights, every parameter perturbed so
nothing is exactly 0 or 1) with `pipe.save_pretrained`, exactly as diffusers lays them out,
and next to each an `inputs.safetensors` with what the test feeds and expects:

  tools/parity/fixtures/wan_pipeline/        Wan 2.1 style: one transformer, UniPC (shift 3)
  tools/parity/fixtures/wan_pipeline_moe/    Wan 2.2 A14B style: transformer + transformer_2
                                             switching at boundary_ratio 0.6, guidance_scale_2,
                                             weights saved as shards with an index.json

No text encoder is stored (the folders' model_index.json says null for it): the prompt
embeddings are passed directly, as the test passes them.

inputs.safetensors:
  prompt_embeds, negative_prompt_embeds  (1, L, text_dim)
  latents                                (1, z, F, h, w) the initial noise
  expected.latents                       diffusers' denoised latents (output_type="latent")
  expected.video                         diffusers' decoded video (output_type="pt"), (1, F, 3, H, W) in [0, 1]
Metadata: "call" (JSON of the pipeline call arguments), "diffusers", "torch".

  pip install torch diffusers==0.42.1 transformers safetensors
  python3 tools/parity/wan_pipeline.py
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import (
    AutoencoderKLWan,
    FlowMatchEulerDiscreteScheduler,
    UniPCMultistepScheduler,
    WanPipeline,
    WanTransformer3DModel,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"

VAE = dict(
    base_dim=4,
    z_dim=4,
    dim_mult=[1, 2, 2],
    num_res_blocks=1,
    attn_scales=[],
    temperal_downsample=[False, True],
    latents_mean=[0.1, -0.2, 0.3, -0.4],
    latents_std=[1.5, 0.8, 2.0, 1.2],
    scale_factor_temporal=2,
    scale_factor_spatial=4,
)
TRANSFORMER = dict(
    patch_size=[1, 2, 2],
    num_attention_heads=2,
    attention_head_dim=16,
    in_channels=4,
    out_channels=4,
    text_dim=32,
    freq_dim=32,
    ffn_dim=64,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=32,
)
UNIPC = dict(
    prediction_type="flow_prediction",
    use_flow_sigmas=True,
    num_train_timesteps=1000,
    flow_shift=3.0,
    solver_order=2,
    solver_type="bh2",
    lower_order_final=True,
    final_sigmas_type="zero",
)
# (frames, height, width): 5 frames -> 3 latent frames, 16x16 -> 4x4 latents.
FRAMES, HEIGHT, WIDTH = 5, 16, 16
TEXT_LEN = 6


def perturbed(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module.eval()


def write_case(name, pipe, call, shard=None):
    out = FIXTURES / name
    if out.exists():
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)
    if shard:
        # Re-save the transformers as shards with an index.json, as large checkpoints come.
        for part in ("transformer", "transformer_2"):
            shutil.rmtree(out / part)
            getattr(pipe, part).save_pretrained(out / part, max_shard_size=shard)
    torch.manual_seed(1)
    latent_frames = (FRAMES - 1) // VAE["scale_factor_temporal"] + 1
    latents = torch.randn(
        1,
        VAE["z_dim"],
        latent_frames,
        HEIGHT // VAE["scale_factor_spatial"],
        WIDTH // VAE["scale_factor_spatial"],
    )
    embeds = torch.randn(1, TEXT_LEN, TRANSFORMER["text_dim"])
    negative = torch.randn(1, TEXT_LEN, TRANSFORMER["text_dim"])
    args = dict(
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        height=HEIGHT,
        width=WIDTH,
        num_frames=FRAMES,
        **call,
    )
    with torch.no_grad():
        lat = pipe(latents=latents.clone(), output_type="latent", **args).frames
        video = pipe(latents=latents.clone(), output_type="pt", **args).frames
    tensors = {
        "prompt_embeds": embeds,
        "negative_prompt_embeds": negative,
        "latents": latents,
        "expected.latents": lat.to(torch.float32),
        "expected.video": video.to(torch.float32),
    }
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        out / "inputs.safetensors",
        metadata={
            "call": json.dumps(dict(call, height=HEIGHT, width=WIDTH, num_frames=FRAMES)),
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "reference": f"diffusers {diffusers.__version__} WanPipeline, CPU f32",
        },
    )
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out.relative_to(FIXTURES.parents[2])}: {size} bytes; video {tuple(video.shape)}, "
          f"max |latents| {lat.abs().max():.4f}")


def main():
    torch.manual_seed(0)
    vae = perturbed(AutoencoderKLWan(**VAE))
    transformer = perturbed(WanTransformer3DModel(**TRANSFORMER))
    pipe = WanPipeline(
        tokenizer=None,
        text_encoder=None,
        vae=vae,
        scheduler=UniPCMultistepScheduler(**UNIPC),
        transformer=transformer,
    )
    write_case("wan_pipeline", pipe, dict(num_inference_steps=3, guidance_scale=5.0))

    torch.manual_seed(2)
    high = perturbed(WanTransformer3DModel(**TRANSFORMER))
    low = perturbed(WanTransformer3DModel(**TRANSFORMER))
    moe = WanPipeline(
        tokenizer=None,
        text_encoder=None,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=5.0),
        transformer=high,
        transformer_2=low,
        boundary_ratio=0.6,
    )
    write_case(
        "wan_pipeline_moe",
        moe,
        dict(num_inference_steps=4, guidance_scale=4.0, guidance_scale_2=3.0),
        shard="40KB",
    )


if __name__ == "__main__":
    main()
