#!/usr/bin/env python3
"""Reference run of diffusers' WanVideoToVideoPipeline (what `kino remix --model WAN_DIR`
does) on the committed tiny folder tools/parity/fixtures/wan_pipeline, for kino's parity
test. The source video is VAE-encoded (posterior mode), normalised, noised to the first
timestep that `strength` leaves (`scheduler.add_noise`), and denoised over the remaining
steps with CFG.

Writes tools/parity/fixtures/wan_video2video.safetensors:
  video                 (1, F, 3, H, W) in [0, 1], as passed to the pipeline
  noise                 the noise the pipeline draws (same generator, recorded here)
  prompt_embeds, negative_prompt_embeds
  expected.latents      output_type="latent"
  expected.video        output_type="pt", (1, F, 3, H, W) in [0, 1]
Metadata: "call" (JSON), "diffusers", "torch".

  pip install torch diffusers==0.42.1 accelerate safetensors
  python3 tools/parity/wan_video2video.py
"""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import diffusers
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel, WanVideoToVideoPipeline
from diffusers.utils.torch_utils import randn_tensor

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = 5


def main():
    folder = FIXTURES / "wan_pipeline"
    inputs = load_file(folder / "inputs.safetensors")
    pipe = WanVideoToVideoPipeline(
        tokenizer=None,
        text_encoder=None,
        vae=AutoencoderKLWan.from_pretrained(folder / "vae").eval(),
        scheduler=UniPCMultistepScheduler.from_pretrained(folder / "scheduler"),
        transformer=WanTransformer3DModel.from_pretrained(folder / "transformer").eval(),
    )
    frames, height, width = 5, 16, 16
    # A smooth moving pattern in [0, 1].
    t = torch.arange(frames).view(frames, 1, 1, 1)
    y = torch.arange(height).view(1, 1, height, 1)
    x = torch.arange(width).view(1, 1, 1, width)
    c = torch.arange(3).view(1, 3, 1, 1)
    video = (0.5 + 0.45 * torch.sin(0.4 * x + 0.3 * y + 0.7 * t + 2.0 * c)).unsqueeze(0).float()
    call = dict(num_inference_steps=5, strength=0.6, guidance_scale=4.0, height=height, width=width)
    args = dict(
        video=video,
        prompt_embeds=inputs["prompt_embeds"],
        negative_prompt_embeds=inputs["negative_prompt_embeds"],
        **call,
    )
    z = pipe.vae.config.z_dim
    shape = (1, z, (frames - 1) // pipe.vae_scale_factor_temporal + 1, height // pipe.vae_scale_factor_spatial,
             width // pipe.vae_scale_factor_spatial)
    noise = randn_tensor(shape, generator=torch.Generator().manual_seed(SEED), dtype=torch.float32)
    with torch.no_grad():
        lat = pipe(generator=torch.Generator().manual_seed(SEED), output_type="latent", **args).frames
        out = pipe(generator=torch.Generator().manual_seed(SEED), output_type="pt", **args).frames
    tensors = {
        "video": video,
        "noise": noise,
        "prompt_embeds": inputs["prompt_embeds"],
        "negative_prompt_embeds": inputs["negative_prompt_embeds"],
        "expected.latents": lat.float(),
        "expected.video": out.float(),
    }
    path = FIXTURES / "wan_video2video.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata={
        "call": json.dumps(call), "diffusers": diffusers.__version__, "torch": torch.__version__,
    })
    print(f"wrote {path} ({path.stat().st_size} bytes); max |latents| {lat.abs().max():.4f}")


if __name__ == "__main__":
    main()
