#!/usr/bin/env python3
"""Reference outputs of diffusers' WanTransformer3DModel for kino's Wan transformer parity test.

Builds `diffusers.WanTransformer3DModel` (diffusers 0.42.1) from a TINY random configuration
that keeps the real structure (3D patch embedding, 3D RoPE with diffusers' t/h/w split of the
head dim, QK RMS-norm across heads, affine cross-attention norm, AdaLN scale-shift tables,
tanh-GELU feed-forward), perturbs every parameter with noise so nothing is zero or one (the
zero-initialised biases and the unit norm weights included), runs it on CPU in float32 and
writes tools/parity/fixtures/wan_transformer.safetensors:

  <diffusers state_dict key>        every weight, under its exact diffusers key
  __input.hidden_states             (1, 4, 3, 8, 8) f32 latents (B, C, F, H, W)
  __input.encoder_hidden_states     (1, 7, 32) f32 text states
  __input.timestep.t{T}             (1,) f32 timestep T, for T in TIMESTEPS
  __expected.t{T}                   (1, 4, 3, 8, 8) f32 forward output for timestep T
  __input.timestep.ti2v             (1, 48) f32 per-token timesteps (Wan 2.2 TI2V style)
  __expected.ti2v                   (1, 4, 3, 8, 8) f32 forward output for them

Metadata (all strings): "config" (the diffusers config as JSON), "timesteps" (JSON list),
"diffusers", "torch", "reference".

A second, smaller file, tools/parity/fixtures/wan_transformer_pt2.safetensors, has the same
layout for a variant that covers the other branches: a temporal patch of 2 (patch (2, 2, 2),
latents (1, 4, 4, 8, 8)), head dim 12 (rotary split 4/4/4) and cross_attn_norm False (no
norm2).

  pip install torch diffusers==0.42.1 transformers safetensors
  python3 tools/parity/wan_transformer.py
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import WanTransformer3DModel

CONFIG = {
    "patch_size": [1, 2, 2],
    "num_attention_heads": 2,
    # 16 = t 8 + h 4 + w 4 (diffusers: h = w = 2 * (d // 6), t = d - h - w).
    "attention_head_dim": 16,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 32,
    "freq_dim": 32,
    "ffn_dim": 64,
    "num_layers": 2,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "rope_max_seq_len": 32,
    "pos_embed_seq_len": None,
}
TIMESTEPS = [999, 500, 10]
LATENT_SHAPE = (1, 4, 3, 8, 8)
TEXT_SHAPE = (1, 7, 32)

# Temporal patch 2, head dim 12 (t 4 + h 4 + w 4), no cross-attention norm.
CONFIG_PT2 = dict(
    CONFIG,
    patch_size=[2, 2, 2],
    attention_head_dim=12,
    cross_attn_norm=False,
    text_dim=24,
    freq_dim=16,
    ffn_dim=40,
)
LATENT_SHAPE_PT2 = (1, 4, 4, 8, 8)
TEXT_SHAPE_PT2 = (1, 5, 24)


def main() -> None:
    fixtures = Path(__file__).resolve().parents[2] / "tools" / "parity" / "fixtures"
    write_case(CONFIG, LATENT_SHAPE, TEXT_SHAPE, fixtures / "wan_transformer.safetensors")
    write_case(
        CONFIG_PT2, LATENT_SHAPE_PT2, TEXT_SHAPE_PT2, fixtures / "wan_transformer_pt2.safetensors"
    )


def write_case(config: dict, latent_shape: tuple, text_shape: tuple, out: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    torch.manual_seed(0)
    model = WanTransformer3DModel(**config).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # Every parameter gets noise, so zero-initialised biases and unit norm weights are not
    # trivially zero or one and a missing term cannot hide.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))

    hidden_states = torch.randn(latent_shape, dtype=torch.float32)
    encoder_hidden_states = torch.randn(text_shape, dtype=torch.float32)

    tensors: dict[str, torch.Tensor] = {}
    state = model.state_dict()
    for key, value in state.items():
        assert not key.startswith("__"), key
        tensors[key] = value.detach().to(torch.float32).contiguous()
    tensors["__input.hidden_states"] = hidden_states.contiguous()
    tensors["__input.encoder_hidden_states"] = encoder_hidden_states.contiguous()

    with torch.no_grad():
        for t in TIMESTEPS:
            timestep = torch.tensor([float(t)], dtype=torch.float32)
            sample = model(
                hidden_states=hidden_states,
                timestep=timestep,
                encoder_hidden_states=encoder_hidden_states,
                return_dict=False,
            )[0]
            assert sample.shape == latent_shape, sample.shape
            tensors[f"__input.timestep.t{t}"] = timestep.contiguous()
            tensors[f"__expected.t{t}"] = sample.to(torch.float32).contiguous()
            print(f"t={t}: max |out| {sample.abs().max():.4f}, mean {sample.mean():.4f}")

        # Wan 2.2 TI2V: one timestep per latent token (B, seq_len). The first latent frame
        # (the conditioning image) is at t = 0, the rest at 700, like WanPipeline's
        # expand_timesteps path.
        p_t, p_h, p_w = config["patch_size"]
        _, _, f, h, w = latent_shape
        tokens_per_frame = (h // p_h) * (w // p_w)
        seq_len = (f // p_t) * tokens_per_frame
        ti2v = torch.full((1, seq_len), 700.0, dtype=torch.float32)
        ti2v[:, :tokens_per_frame] = 0.0
        # A little per-token variation so the token-to-position mapping is checked too.
        ti2v[:, tokens_per_frame:] += torch.arange(seq_len - tokens_per_frame, dtype=torch.float32)
        sample = model(
            hidden_states=hidden_states,
            timestep=ti2v,
            encoder_hidden_states=encoder_hidden_states,
            return_dict=False,
        )[0]
        assert sample.shape == latent_shape, sample.shape
        tensors["__input.timestep.ti2v"] = ti2v.contiguous()
        tensors["__expected.ti2v"] = sample.to(torch.float32).contiguous()
        print(f"ti2v: max |out| {sample.abs().max():.4f}")

    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        tensors,
        str(out),
        metadata={
            "config": json.dumps(dict(model.config)),
            "timesteps": json.dumps(TIMESTEPS),
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "reference": f"diffusers {diffusers.__version__} WanTransformer3DModel, "
            f"torch {torch.__version__}, CPU f32, torch.manual_seed(0)",
        },
    )
    out.chmod(0o644)
    n_params = sum(v.numel() for k, v in state.items())
    print(
        f"wrote {out.relative_to(repo)}: {len(state)} weights ({n_params} parameters), "
        f"{out.stat().st_size} bytes"
    )


if __name__ == "__main__":
    main()
