#!/usr/bin/env python3
"""Reference outputs of diffusers' AutoencoderKLWan for kino's Wan VAE parity test.

Builds `diffusers.AutoencoderKLWan` (diffusers 0.42.1) from two TINY random configurations
that keep the real structure, perturbs every parameter with noise so nothing is zero or one
(the RMS-norm gammas and the zero-initialised biases included), halves the decoder's last
conv so that under 1% of the decoded values sit on the [-1, 1] clamp, runs it on CPU in
float32 and writes one fixture per configuration:

  tools/parity/fixtures/wan_vae21.safetensors   Wan 2.1 style: plain down/up blocks,
      dim_mult [1, 2, 2, 2] (spatial 2d and temporal 3d resampling, 8x spatial, 4x temporal),
      no patchify.
  tools/parity/fixtures/wan_vae22.safetensors   Wan 2.2 style: is_residual (AvgDown3D /
      DupUp3D shortcuts), patch_size 2 (3-channel video <-> 12 channels), decoder_base_dim
      different from base_dim, 16x spatial, 4x temporal.

Each file holds:

  <diffusers state_dict key>      every weight, under its exact diffusers key
  __input.video                   (1, 3, 9, H, W) f32 video in [-1, 1]: 3 encoder chunks
  __expected.encode.mean          posterior mean (DiagonalGaussianDistribution.mean)
  __expected.encode.logvar        posterior log-variance (clamped to [-30, 20], as diffusers)
  __input.latent                  (1, z_dim, 3, h, w) f32 latent: 3 decoder chunks
  __expected.decode               vae.decode(latent).sample (clamped to [-1, 1])
  __input.tiled.video             a wider video, encoded after enable_tiling(**tiling_encode)
  __expected.tiled.encode.mean    .. its posterior mean
  __expected.tiled.encode.logvar  .. and log-variance
  __input.tiled.latent            a wider latent, decoded after enable_tiling(**tiling_decode)
  __expected.tiled.decode         .. its decode

Metadata (all strings): "config" (the diffusers config as JSON), "tiling_encode" and
"tiling_decode" (the enable_tiling arguments as JSON), "diffusers", "torch", "reference".

The tile sizes are tiny so that several overlapping tiles are used and blend_v / blend_h
mix real values (blend extents of 2 latent columns when encoding, 8 or more pixels when
decoding). Encode and decode get their own tile sizes because one setting cannot give both
a small latent tile for the encoder and a non-zero latent stride for the decoder. The
script checks that tiled and untiled results differ, i.e. that tiling really ran.

  pip install torch diffusers==0.42.1 transformers safetensors
  python3 tools/parity/wan_vae.py
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import AutoencoderKLWan

CONFIG_21 = {
    "base_dim": 4,
    "decoder_base_dim": None,
    "z_dim": 4,
    "dim_mult": [1, 2, 2, 2],
    "num_res_blocks": 1,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
    "latents_mean": [-0.5, 0.25, 0.75, -0.125],
    "latents_std": [2.5, 1.5, 0.5, 1.25],
    "is_residual": False,
    "in_channels": 3,
    "out_channels": 3,
    "patch_size": None,
    "scale_factor_temporal": 4,
    "scale_factor_spatial": 8,
}

CONFIG_22 = {
    "base_dim": 3,
    "decoder_base_dim": 4,
    "z_dim": 4,
    "dim_mult": [1, 2, 2, 1],
    "num_res_blocks": 1,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
    "latents_mean": [0.125, -0.25, 0.375, -0.5],
    "latents_std": [0.5, 1.25, 0.75, 1.5],
    "is_residual": True,
    "in_channels": 12,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_temporal": 4,
    "scale_factor_spatial": 16,
}

CASES = {
    "wan_vae21.safetensors": {
        "config": CONFIG_21,
        # Latent 2x2 per frame: the mid-block attention sees 4 tokens.
        "video": (1, 3, 9, 16, 16),
        "latent": (1, 4, 3, 2, 2),
        # Encode: latent tiles of 2x3 with stride 1 (blend 1 row, 2 columns); decode: latent
        # tiles of 2x3 with stride 1, blended over 8 rows and 16 columns of pixels.
        "tiling_encode": {
            "tile_sample_min_height": 16,
            "tile_sample_min_width": 24,
            "tile_sample_stride_height": 8,
            "tile_sample_stride_width": 8,
        },
        "tiling_decode": {
            "tile_sample_min_height": 16,
            "tile_sample_min_width": 24,
            "tile_sample_stride_height": 8,
            "tile_sample_stride_width": 8,
        },
        "tiled_video": (1, 3, 5, 16, 32),
        "tiled_latent": (1, 4, 2, 2, 4),
    },
    "wan_vae22.safetensors": {
        "config": CONFIG_22,
        # 16x spatial: a 16x32 video is a 1x2 latent (2 attention tokens).
        "video": (1, 3, 9, 16, 32),
        "latent": (1, 4, 3, 1, 2),
        # Encode runs on the patchified video (8 px per latent there): tiles of 24 with
        # stride 8 are latent tiles of 3 with stride 1 (blend 2). Decode (16 px per latent):
        # latent tiles of 2 with stride 1, blended over 8 patchified pixels.
        "tiling_encode": {
            "tile_sample_min_height": 24,
            "tile_sample_min_width": 24,
            "tile_sample_stride_height": 8,
            "tile_sample_stride_width": 8,
        },
        "tiling_decode": {
            "tile_sample_min_height": 32,
            "tile_sample_min_width": 32,
            "tile_sample_stride_height": 16,
            "tile_sample_stride_width": 16,
        },
        "tiled_video": (1, 3, 5, 16, 64),
        "tiled_latent": (1, 4, 2, 1, 3),
    },
}


def main() -> None:
    fixtures = Path(__file__).resolve().parents[2] / "tools" / "parity" / "fixtures"
    for name, case in CASES.items():
        write_case(case, fixtures / name)


def posterior(vae: AutoencoderKLWan, video: torch.Tensor):
    dist = vae.encode(video).latent_dist
    return dist.mean.contiguous(), dist.logvar.contiguous()


def write_case(case: dict, out: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    config = case["config"]
    torch.manual_seed(0)
    vae = AutoencoderKLWan(**config).eval()
    assert all(p.dtype == torch.float32 for p in vae.parameters())
    # Every parameter gets noise, so zero-initialised biases and unit gammas are not
    # trivially zero or one and a missing term cannot hide.
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(0.1 * torch.randn_like(p))
        # Halve the last conv so that little of the decoded video sits on the [-1, 1] clamp
        # (clamped values would compare equal whatever the network computed).
        vae.decoder.conv_out.weight.mul_(0.5)
        vae.decoder.conv_out.bias.mul_(0.5)

    video = torch.rand(case["video"]) * 2 - 1
    latent = torch.randn(case["latent"])
    tiled_video = torch.rand(case["tiled_video"]) * 2 - 1
    tiled_latent = torch.randn(case["tiled_latent"])

    tensors: dict[str, torch.Tensor] = {}
    state = vae.state_dict()
    for key, value in state.items():
        assert not key.startswith("__"), key
        tensors[key] = value.detach().to(torch.float32).contiguous()

    with torch.no_grad():
        mean, logvar = posterior(vae, video)
        decoded = vae.decode(latent).sample
        # Untiled results on the tiled inputs, only to check that tiling changes them.
        plain_mean, _ = posterior(vae, tiled_video)
        plain_decoded = vae.decode(tiled_latent).sample

        vae.enable_tiling(**case["tiling_encode"])
        tiled_mean, tiled_logvar = posterior(vae, tiled_video)
        vae.disable_tiling()
        vae.enable_tiling(**case["tiling_decode"])
        tiled_decoded = vae.decode(tiled_latent).sample
        vae.disable_tiling()

    _, _, f, h, w = case["video"]
    _, z, lf, lh, lw = case["latent"]
    s = config["scale_factor_spatial"]
    assert mean.shape == (1, z, 1 + (f - 1) // 4, h // s, w // s), mean.shape
    assert decoded.shape == (1, 3, 1 + 4 * (lf - 1), lh * s, lw * s), decoded.shape
    assert tiled_mean.shape == plain_mean.shape
    assert tiled_decoded.shape == plain_decoded.shape
    enc_change = (tiled_mean - plain_mean).abs().max().item()
    dec_change = (tiled_decoded - plain_decoded).abs().max().item()
    assert enc_change > 1e-3 and dec_change > 1e-3, (enc_change, dec_change)
    for what, x in [("decode", decoded), ("tiled decode", tiled_decoded)]:
        clamped = (x.abs() >= 1.0).float().mean().item()
        print(f"{out.name} {what}: {tuple(x.shape)}, max |x| {x.abs().max():.3f}, "
              f"{100 * clamped:.1f}% clamped")
        assert clamped < 0.25, f"{what}: too much of the output is clamped"
    print(f"{out.name} encode: mean {tuple(mean.shape)} max |mean| {mean.abs().max():.3f}, "
          f"logvar range [{logvar.min():.3f}, {logvar.max():.3f}]; tiling changes encode by "
          f"{enc_change:.3f}, decode by {dec_change:.3f}")

    tensors["__input.video"] = video.contiguous()
    tensors["__expected.encode.mean"] = mean
    tensors["__expected.encode.logvar"] = logvar
    tensors["__input.latent"] = latent.contiguous()
    tensors["__expected.decode"] = decoded.contiguous()
    tensors["__input.tiled.video"] = tiled_video.contiguous()
    tensors["__expected.tiled.encode.mean"] = tiled_mean
    tensors["__expected.tiled.encode.logvar"] = tiled_logvar
    tensors["__input.tiled.latent"] = tiled_latent.contiguous()
    tensors["__expected.tiled.decode"] = tiled_decoded.contiguous()

    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        tensors,
        str(out),
        metadata={
            "config": json.dumps(dict(vae.config)),
            "tiling_encode": json.dumps(case["tiling_encode"]),
            "tiling_decode": json.dumps(case["tiling_decode"]),
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "reference": f"diffusers {diffusers.__version__} AutoencoderKLWan, "
            f"torch {torch.__version__}, CPU f32, torch.manual_seed(0)",
        },
    )
    out.chmod(0o644)
    n_params = sum(v.numel() for v in state.values())
    print(
        f"wrote {out.relative_to(repo)}: {len(state)} weights ({n_params} parameters), "
        f"{out.stat().st_size} bytes"
    )


if __name__ == "__main__":
    main()
