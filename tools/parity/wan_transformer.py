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

A third file, tools/parity/fixtures/wan_transformer_i2v.safetensors, covers the image branch of
Wan 2.1 image-to-video (write_i2v_case; write_case and the two files above are unchanged):
`image_dim` and `added_kv_proj_dim` set, so `condition_embedder.image_embedder` (LayerNorm, GELU
MLP, LayerNorm) and the cross-attention's image keys/values (`attn2.add_k_proj`, `add_v_proj`,
`norm_added_k`) exist, and in_channels = 2 * 4 + 4 = 12 as I2V uses (noisy latents, the frame
mask's 4 channels, the conditioning latents; 36 for the real 16-channel latents). diffusers
splits the cross-attention context at `len - 512` (the text is always padded to 512 tokens), so
the text input has exactly 512 tokens. Layout:

  <diffusers state_dict key>            the I2V model's weights
  flf2v.<diffusers state_dict key>      a second, smaller model with pos_embed_seq_len set (the
                                        Wan 2.1 FLF2V variant: first- and last-frame image states)
  __input.hidden_states                 (1, 12, 3, 8, 8) f32
  __input.encoder_hidden_states         (1, 512, 8) f32 text states (shared by both models)
  __input.encoder_hidden_states_image   (1, 5, 24) f32 CLIP-like image states
  __input.timestep.t{T}                 (1,) f32, for T in I2V_TIMESTEPS
  __expected.t{T}                       (1, 4, 3, 8, 8) f32
  __input.flf2v.encoder_hidden_states_image  (2, 5, 24): first and last frame, 2 * 5 = pos_embed_seq_len
  __expected.flf2v.t{T}                 (1, 4, 3, 8, 8) f32, the FLF2V model's output

Metadata: "config", "config_flf2v", "timesteps", "diffusers", "torch", "reference".

  pip install torch diffusers==0.42.1 transformers safetensors
  python3 tools/parity/wan_transformer.py              # all three files
  python3 tools/parity/wan_transformer.py --only i2v   # only wan_transformer_i2v.safetensors

The tensors are reproducible run to run; the order of the metadata keys in the file header is
not (safetensors writes them from a hash map), so rewriting a fixture can change its bytes
without changing its content. Use --only to leave the other files untouched.
"""

import argparse
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

# Wan 2.1 image-to-video: the CLIP image branch. added_kv_proj_dim must equal the inner dim
# (2 x 16 = 32): the image embedder maps image_dim to it before add_k_proj / add_v_proj.
CONFIG_I2V = dict(
    CONFIG,
    in_channels=2 * 4 + 4,
    out_channels=4,
    text_dim=8,
    freq_dim=16,
    ffn_dim=32,
    image_dim=24,
    added_kv_proj_dim=32,
)
# Wan 2.1 FLF2V: the image states of the first and the last frame get a learned position
# embedding of 2 * 5 tokens. One layer, 2 heads of 6 (rotary 2/2/2), inner dim 12.
CONFIG_FLF2V = dict(
    CONFIG_I2V,
    attention_head_dim=6,
    num_layers=1,
    added_kv_proj_dim=12,
    pos_embed_seq_len=2 * 5,
)
I2V_TIMESTEPS = [999, 10]
LATENT_SHAPE_I2V = (1, 12, 3, 8, 8)
# diffusers hard-codes 512 text tokens in the cross-attention's image/text split.
TEXT_SHAPE_I2V = (1, 512, 8)
IMAGE_SHAPE_I2V = (1, 5, 24)
IMAGE_SHAPE_FLF2V = (2, 5, 24)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["t2v", "i2v"],
        help="write only the text-to-video fixtures (wan_transformer.safetensors, "
        "wan_transformer_pt2.safetensors) or only wan_transformer_i2v.safetensors",
    )
    args = parser.parse_args()
    fixtures = Path(__file__).resolve().parents[2] / "tools" / "parity" / "fixtures"
    if args.only != "i2v":
        write_case(CONFIG, LATENT_SHAPE, TEXT_SHAPE, fixtures / "wan_transformer.safetensors")
        write_case(
            CONFIG_PT2,
            LATENT_SHAPE_PT2,
            TEXT_SHAPE_PT2,
            fixtures / "wan_transformer_pt2.safetensors",
        )
    if args.only != "t2v":
        write_i2v_case(fixtures / "wan_transformer_i2v.safetensors")


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


def perturbed_model(config: dict) -> WanTransformer3DModel:
    """A diffusers model from `config` with noise added to every parameter (as write_case)."""
    model = WanTransformer3DModel(**config).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def write_i2v_case(out: Path) -> None:
    """The image-to-video fixture (see the module docstring); separate from write_case so the
    text-to-video fixtures stay byte-identical."""
    repo = Path(__file__).resolve().parents[2]
    torch.manual_seed(0)
    model = perturbed_model(CONFIG_I2V)
    flf2v = perturbed_model(CONFIG_FLF2V)
    for m in (model, flf2v):
        attn2 = m.blocks[0].attn2
        assert attn2.add_k_proj is not None and attn2.norm_added_k is not None
        assert m.condition_embedder.image_embedder is not None
    assert model.condition_embedder.image_embedder.pos_embed is None
    assert flf2v.condition_embedder.image_embedder.pos_embed is not None

    hidden_states = torch.randn(LATENT_SHAPE_I2V, dtype=torch.float32)
    encoder_hidden_states = torch.randn(TEXT_SHAPE_I2V, dtype=torch.float32)
    image = torch.randn(IMAGE_SHAPE_I2V, dtype=torch.float32)
    image_flf2v = torch.randn(IMAGE_SHAPE_FLF2V, dtype=torch.float32)

    tensors: dict[str, torch.Tensor] = {}
    for prefix, m in (("", model), ("flf2v.", flf2v)):
        for key, value in m.state_dict().items():
            assert not key.startswith("__"), key
            tensors[prefix + key] = value.detach().to(torch.float32).contiguous()
    tensors["__input.hidden_states"] = hidden_states.contiguous()
    tensors["__input.encoder_hidden_states"] = encoder_hidden_states.contiguous()
    tensors["__input.encoder_hidden_states_image"] = image.contiguous()
    tensors["__input.flf2v.encoder_hidden_states_image"] = image_flf2v.contiguous()

    with torch.no_grad():
        for t in I2V_TIMESTEPS:
            timestep = torch.tensor([float(t)], dtype=torch.float32)
            tensors[f"__input.timestep.t{t}"] = timestep.contiguous()
            for name, m, img in (("", model, image), ("flf2v.", flf2v, image_flf2v)):
                sample = m(
                    hidden_states=hidden_states,
                    timestep=timestep,
                    encoder_hidden_states=encoder_hidden_states,
                    encoder_hidden_states_image=img,
                    return_dict=False,
                )[0]
                assert sample.shape == (1, 4, 3, 8, 8), sample.shape
                tensors[f"__expected.{name}t{t}"] = sample.to(torch.float32).contiguous()
                print(f"{name or 'i2v.'}t={t}: max |out| {sample.abs().max():.4f}")

    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        tensors,
        str(out),
        metadata={
            "config": json.dumps(dict(model.config)),
            "config_flf2v": json.dumps(dict(flf2v.config)),
            "timesteps": json.dumps(I2V_TIMESTEPS),
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "reference": f"diffusers {diffusers.__version__} WanTransformer3DModel (image-to-video), "
            f"torch {torch.__version__}, CPU f32, torch.manual_seed(0)",
        },
    )
    out.chmod(0o644)
    n_params = sum(p.numel() for m in (model, flf2v) for p in m.parameters())
    print(f"wrote {out.relative_to(repo)}: {n_params} parameters, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
