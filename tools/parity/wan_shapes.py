#!/usr/bin/env python3
"""Every tensor name and shape of the released Wan diffusers folders, from the reference
classes themselves (built on PyTorch's meta device: no weights, no download).

kino's test `crates/kino-engine/tests/wan_real_shapes.rs` turns this into header-only
folders (sparse files: the real byte sizes, no data) and runs `kino models verify`'s check on
them, so every key and shape kino's networks ask for is proven to be what the real
checkpoints hold: Wan2.1-T2V-1.3B, Wan2.1-I2V-14B-480P (transformer with the image branch,
CLIP ViT-H/14 image encoder), Wan2.2-TI2V-5B, Wan2.2-T2V-A14B and Wan2.2-I2V-A14B (two
experts).

Writes tools/parity/fixtures/wan_shapes.json:
  {"networks": {net: {"class", "config", "dtype", "tensors": {name: shape}}},
   "models": {model: {"model_index": {...}, "scheduler": {...}, "components": {component: net},
                      "image_processor": {...} (image_processor/preprocessor_config.json, where
                      the folder has one)}}}

Configs are those of the Hugging Face repositories Wan-AI/Wan2.1-T2V-1.3B-Diffusers,
Wan-AI/Wan2.1-I2V-14B-480P-Diffusers, Wan-AI/Wan2.2-TI2V-5B-Diffusers,
Wan-AI/Wan2.2-T2V-A14B-Diffusers and Wan-AI/Wan2.2-I2V-A14B-Diffusers
(transformer/config.json, vae/config.json, text_encoder/config.json,
image_encoder/config.json, image_processor/preprocessor_config.json,
scheduler/scheduler_config.json, model_index.json). The image encoder's tensors are named as
the Wan folder stores them (transformers 4's `vision_model.` prefix); its dtype is taken as
f32 (the sparse files' sizes only).

  pip install torch diffusers==0.42.1 transformers
  python3 tools/parity/wan_shapes.py
"""

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

COMMON_T = dict(
    patch_size=[1, 2, 2],
    attention_head_dim=128,
    text_dim=4096,
    freq_dim=256,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=1024,
    image_dim=None,
    added_kv_proj_dim=None,
)
T_1_3B = dict(COMMON_T, num_attention_heads=12, ffn_dim=8960, num_layers=30, in_channels=16, out_channels=16)
T_5B = dict(COMMON_T, num_attention_heads=24, ffn_dim=14336, num_layers=30, in_channels=48, out_channels=48)
T_A14B = dict(COMMON_T, num_attention_heads=40, ffn_dim=13824, num_layers=40, in_channels=16, out_channels=16)
# Image-to-video by channel concatenation: noise (16) + frame mask (4) + image latents (16).
T_I2V_14B = dict(T_A14B, in_channels=36, image_dim=1280, added_kv_proj_dim=5120)
T_I2V_A14B = dict(T_A14B, in_channels=36)
CLIP_VIT_H_14 = dict(
    hidden_size=1280, intermediate_size=5120, projection_dim=1024, num_hidden_layers=32,
    num_attention_heads=16, num_channels=3, image_size=224, patch_size=14, hidden_act="gelu",
    layer_norm_eps=1e-5, attention_dropout=0.0, initializer_range=0.02, initializer_factor=1.0,
    model_type="clip_vision_model", architectures=["CLIPVisionModel"],
)
CLIP_PROCESSOR = dict(
    crop_size={"height": 224, "width": 224}, do_center_crop=True, do_convert_rgb=True,
    do_normalize=True, do_rescale=True, do_resize=True,
    image_mean=[0.48145466, 0.4578275, 0.40821073], image_processor_type="CLIPImageProcessor",
    image_std=[0.26862954, 0.26130258, 0.27577711], resample=3,
    rescale_factor=0.00392156862745098, size={"shortest_edge": 224},
)

VAE_2_1 = dict(
    base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
    temperal_downsample=[False, True, True], dropout=0.0,
)
VAE_2_2 = dict(
    base_dim=160, decoder_base_dim=256, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
    attn_scales=[], temperal_downsample=[False, True, True], dropout=0.0, is_residual=True,
    in_channels=12, out_channels=12, patch_size=2, scale_factor_spatial=16,
    scale_factor_temporal=4,
    latents_mean=[-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813, 0.0891, 0.157, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502, -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.123, -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.052, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667],
    latents_std=[0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.499, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659, 0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.06, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744],
)
UMT5_XXL = dict(
    vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
    relative_attention_num_buckets=32, relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu", dense_act_fn="gelu_new", is_gated_act=True,
    layer_norm_epsilon=1e-6, tie_word_embeddings=False, pad_token_id=0, eos_token_id=1,
)
UNIPC = dict(
    _class_name="UniPCMultistepScheduler", num_train_timesteps=1000, prediction_type="flow_prediction",
    use_flow_sigmas=True, solver_order=2, solver_type="bh2", lower_order_final=True,
    final_sigmas_type="zero", predict_x0=True,
)


def shapes(model):
    out = {}
    for k, v in model.state_dict().items():
        out[k] = list(v.shape)
    return out


def main():
    networks = {}
    with torch.device("meta"):
        for name, cfg in [
            ("transformer-1.3b", T_1_3B),
            ("transformer-5b", T_5B),
            ("transformer-a14b", T_A14B),
            ("transformer-i2v-14b", T_I2V_14B),
            ("transformer-i2v-a14b", T_I2V_A14B),
        ]:
            m = WanTransformer3DModel(**cfg)
            networks[name] = dict(class_name="WanTransformer3DModel", config=dict(m.config), dtype="BF16", tensors=shapes(m))
        for name, cfg in [("vae-2.1", VAE_2_1), ("vae-2.2", VAE_2_2)]:
            m = AutoencoderKLWan(**cfg)
            networks[name] = dict(class_name="AutoencoderKLWan", config=dict(m.config), dtype="F32", tensors=shapes(m))
        m = UMT5EncoderModel(UMT5Config(**UMT5_XXL))
        tensors = shapes(m)
        # save_pretrained stores a tied embedding once, under shared.weight.
        tensors.pop("encoder.embed_tokens.weight", None)
        networks["umt5-xxl"] = dict(class_name="UMT5EncoderModel", config=UMT5_XXL, dtype="BF16", tensors=tensors)
        config = {k: v for k, v in CLIP_VIT_H_14.items() if k not in ("model_type", "architectures")}
        m = CLIPVisionModel(CLIPVisionConfig(**config))
        # transformers 5 drops the `vision_model.` level; the Wan folders (transformers 4) keep it.
        tensors = {
            (k if k.startswith("vision_model.") else f"vision_model.{k}"): v
            for k, v in shapes(m).items()
        }
        networks["clip-vit-h-14"] = dict(class_name="CLIPVisionModel", config=CLIP_VIT_H_14, dtype="F32", tensors=tensors)

    def index(**extra):
        base = {
            "_class_name": "WanPipeline",
            "_diffusers_version": "0.35.0.dev0",
            "scheduler": ["diffusers", "UniPCMultistepScheduler"],
            "text_encoder": ["transformers", "UMT5EncoderModel"],
            "tokenizer": ["transformers", "T5TokenizerFast"],
            "transformer": ["diffusers", "WanTransformer3DModel"],
            "vae": ["diffusers", "AutoencoderKLWan"],
        }
        base.update(extra)
        return base

    i2v_index = dict(
        _class_name="WanImageToVideoPipeline",
        image_encoder=["transformers", "CLIPVisionModel"],
        image_processor=["transformers", "CLIPImageProcessor"],
    )
    models = {
        "Wan2.1-T2V-1.3B-Diffusers": dict(
            model_index=index(),
            scheduler=dict(UNIPC, flow_shift=3.0),
            components={"transformer": "transformer-1.3b", "vae": "vae-2.1", "text_encoder": "umt5-xxl"},
        ),
        "Wan2.2-TI2V-5B-Diffusers": dict(
            model_index=index(expand_timesteps=True),
            scheduler=dict(UNIPC, flow_shift=5.0),
            components={"transformer": "transformer-5b", "vae": "vae-2.2", "text_encoder": "umt5-xxl"},
        ),
        "Wan2.2-T2V-A14B-Diffusers": dict(
            model_index=index(boundary_ratio=0.875, transformer_2=["diffusers", "WanTransformer3DModel"]),
            scheduler=dict(UNIPC, flow_shift=3.0),
            components={
                "transformer": "transformer-a14b",
                "transformer_2": "transformer-a14b",
                "vae": "vae-2.1",
                "text_encoder": "umt5-xxl",
            },
        ),
        "Wan2.1-I2V-14B-480P-Diffusers": dict(
            model_index=index(**i2v_index),
            scheduler=dict(UNIPC, flow_shift=3.0),
            components={
                "transformer": "transformer-i2v-14b",
                "vae": "vae-2.1",
                "text_encoder": "umt5-xxl",
                "image_encoder": "clip-vit-h-14",
            },
            image_processor=CLIP_PROCESSOR,
        ),
        "Wan2.2-I2V-A14B-Diffusers": dict(
            model_index=index(
                _class_name="WanImageToVideoPipeline",
                boundary_ratio=0.9,
                expand_timesteps=False,
                image_encoder=[None, None],
                image_processor=[None, None],
                transformer_2=["diffusers", "WanTransformer3DModel"],
            ),
            scheduler=dict(UNIPC, flow_shift=5.0),
            components={
                "transformer": "transformer-i2v-a14b",
                "transformer_2": "transformer-i2v-a14b",
                "vae": "vae-2.1",
                "text_encoder": "umt5-xxl",
            },
        ),
    }
    for v in networks.values():
        # A set in diffusers: sorted, so the file is the same on every run.
        if "_use_default_values" in v["config"]:
            v["config"]["_use_default_values"] = sorted(v["config"]["_use_default_values"])
    out = Path(__file__).resolve().parent / "fixtures" / "wan_shapes.json"
    out.write_text(json.dumps({"networks": networks, "models": models}, separators=(",", ":"), sort_keys=True))
    for n, v in networks.items():
        params = sum(int(torch.Size(s).numel()) for s in v["tensors"].values())
        print(f"{n}: {len(v['tensors'])} tensors, {params / 1e9:.3f} B parameters")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
