#!/usr/bin/env python3
"""Inputs and diffusers outputs for `kino dev forward` on the committed tiny Wan folder
(tools/parity/fixtures/wan_pipeline), in the file layout `kino dev forward` reads and writes.

Loads the folder's transformer and VAE with diffusers' own `from_pretrained` (so the test
also proves the committed folder is what diffusers reads), runs them on CPU in f32 and writes
tools/parity/fixtures/wan_dev_forward/:

  transformer.in.safetensors   hidden_states, timestep, encoder_hidden_states
  transformer.out.safetensors  sample
  vae-decode.in.safetensors    latents
  vae-decode.out.safetensors   sample
  vae-encode.in.safetensors    sample (a video in [-1, 1])
  vae-encode.out.safetensors   latent_mean, latent_logvar

  pip install torch diffusers==0.42.1 safetensors
  python3 tools/parity/wan_dev_forward.py
"""

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from diffusers import AutoencoderKLWan, WanTransformer3DModel

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def main():
    folder = FIXTURES / "wan_pipeline"
    out = FIXTURES / "wan_dev_forward"
    out.mkdir(exist_ok=True)
    inputs = load_file(folder / "inputs.safetensors")
    transformer = WanTransformer3DModel.from_pretrained(folder / "transformer").eval()
    vae = AutoencoderKLWan.from_pretrained(folder / "vae").eval()
    torch.manual_seed(3)
    with torch.no_grad():
        x = inputs["latents"]
        t = torch.tensor([640.0])
        e = inputs["prompt_embeds"]
        y = transformer(hidden_states=x, timestep=t, encoder_hidden_states=e, return_dict=False)[0]
        save_file({"hidden_states": x, "timestep": t, "encoder_hidden_states": e}, out / "transformer.in.safetensors")
        save_file({"sample": y.contiguous()}, out / "transformer.out.safetensors")

        z = inputs["expected.latents"].contiguous()
        video = vae.decode(z, return_dict=False)[0]
        save_file({"latents": z}, out / "vae-decode.in.safetensors")
        save_file({"sample": video.contiguous()}, out / "vae-decode.out.safetensors")

        clip = (torch.rand(1, 3, 5, 16, 16) * 2 - 1).contiguous()
        posterior = vae.encode(clip).latent_dist
        save_file({"sample": clip}, out / "vae-encode.in.safetensors")
        save_file(
            {"latent_mean": posterior.mean.contiguous(), "latent_logvar": posterior.logvar.contiguous()},
            out / "vae-encode.out.safetensors",
        )
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({size} bytes)")


if __name__ == "__main__":
    main()
