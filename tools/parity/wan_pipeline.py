#!/usr/bin/env python3
"""Reference runs of diffusers' WanPipeline for kino's Wan pipeline parity test.

Writes two tiny diffusers-format Wan folders (random weights, every parameter perturbed so
nothing is exactly 0 or 1) with `pipe.save_pretrained`, exactly as diffusers lays them out,
and next to each an `inputs.safetensors` with what the test feeds and expects:

  tools/parity/fixtures/wan_pipeline/        Wan 2.1 style: one transformer, UniPC (shift 3)
  tools/parity/fixtures/wan_pipeline_moe/    Wan 2.2 A14B style: transformer + transformer_2
                                             switching at boundary_ratio 0.6, guidance_scale_2,
                                             weights saved as shards with an index.json
  tools/parity/fixtures/wan_ti2v/            Wan 2.2 TI2V-5B style image-to-video: a
                                             WanImageToVideoPipeline with expand_timesteps=True
                                             and no image encoder, a residual patchified VAE
                                             (patch_size 2, 12 channels), UniPC (shift 5)
  tools/parity/fixtures/wan_i2v21/           Wan 2.1 I2V style image-to-video: a
                                             WanImageToVideoPipeline without expand_timesteps,
                                             a tiny CLIPVisionModel image encoder and its
                                             CLIPImageProcessor (32 x 32, patch 8), a
                                             transformer with the image branch taking noise +
                                             frame mask + image latents (10 channels), UniPC
  tools/parity/fixtures/wan_i2v_a14b/        Wan 2.2 I2V-A14B style: the same concatenation, no
                                             image encoder, two experts at boundary_ratio 0.9,
                                             guidance_scale_2, UniPC (shift 5), with a last
                                             image (first-and-last-frame)

No text encoder is stored (the folders' model_index.json says null for it): the prompt
embeddings are passed directly, as the test passes them.

inputs.safetensors:
  prompt_embeds, negative_prompt_embeds  (1, L, text_dim)
  latents                                (1, z, F, h, w) the initial noise
  expected.latents                       diffusers' denoised latents (output_type="latent")
  expected.video                         diffusers' decoded video (output_type="pt"), (1, F, 3, H, W) in [0, 1]
Metadata: "call" (JSON of the pipeline call arguments), "diffusers", "torch".

wan_ti2v/inputs.safetensors also holds:
  image.original                         (h0, w0, 3) uint8, the RGB image given to the pipeline
                                         (another size than the video: diffusers resizes it;
                                         narrower and much taller, so Pillow 13 resizes the
                                         height first)
  image.vae_input                        (1, 3, H, W) f32, the tensor diffusers' VideoProcessor
                                         made of it (PIL LANCZOS resize, [-1, 1]), recorded from
                                         the pipeline's own vae.encode call
  image.sized                            (H, W, 3) uint8, an image already of the video's size
  image.sized.vae_input                  (1, 3, H, W) f32, VideoProcessor.preprocess of it (no
                                         resize: exact)
  expected.condition                     (1, z, 1, h, w) the normalised first-frame latent
                                         (posterior mode, (mean - latents_mean) / latents_std)
  resize.<i>.in, resize.<i>.out          small uint8 RGB images and PIL's LANCZOS resize of
                                         them (both pass orders, growing and shrinking sides)

  pip install torch diffusers==0.42.1 transformers safetensors pillow==13.0.0
  python3 tools/parity/wan_pipeline.py

(wan_ti2v's resized image depends on Pillow: 13.0 orders its two resampling passes
differently from earlier versions.)

wan_i2v21/ and wan_i2v_a14b/inputs.safetensors hold, besides the common tensors:
  image.original                         (27, 41, 3) uint8, the image given to the pipeline
  image.vae_input                        (1, 3, H, W) f32, the first frame of the video the
                                         pipeline handed vae.encode (PIL LANCZOS resize)
  image.last, image.last.vae_input       (wan_i2v_a14b) the last image and the video's last frame
  expected.condition                     (1, t + z, F', h, w) what prepare_latents returned: the
                                         frame mask (t = scale_factor_temporal channels) and the
                                         normalised latents of [image, zeros..., (last image)]
  image.clip_input                       (wan_i2v21) (1, 3, 32, 32) the pixel_values the image
                                         encoder got (PIL BICUBIC resize, crop, normalise)
  expected.image_states                  (wan_i2v21) (1, 17, 16) encode_image's output
                                         (penultimate hidden states)
  bicubic.<i>.in, bicubic.<i>.out        (wan_i2v21) PIL BICUBIC resize checks
The prompt embeddings are stored unpadded (1, 6, text_dim); the pipeline was given them padded
with zeros to 512 tokens (metadata call.text_len), as its text encoder pads them, because the
image-branch attention finds the image tokens by that length.

  python3 tools/parity/wan_pipeline.py [case ...]   # only the named cases
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import PIL
import torch
from PIL import Image
from safetensors.torch import save_file

import diffusers
from diffusers import (
    AutoencoderKLWan,
    FlowMatchEulerDiscreteScheduler,
    UniPCMultistepScheduler,
    WanImageToVideoPipeline,
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


# Wan 2.2 TI2V-5B style: the residual, patchified VAE (16x spatial, 4x temporal) of
# tools/parity/wan_vae.py and a transformer whose input is the VAE's latent (no image encoder).
TI2V_VAE = dict(
    base_dim=3,
    decoder_base_dim=4,
    z_dim=4,
    dim_mult=[1, 2, 2, 1],
    num_res_blocks=1,
    attn_scales=[],
    temperal_downsample=[False, True, True],
    latents_mean=[0.125, -0.25, 0.375, -0.5],
    latents_std=[0.5, 1.25, 0.75, 1.5],
    is_residual=True,
    in_channels=12,
    out_channels=12,
    patch_size=2,
    scale_factor_temporal=4,
    scale_factor_spatial=16,
)
TI2V_TRANSFORMER = dict(
    patch_size=[1, 2, 2],
    num_attention_heads=2,
    attention_head_dim=8,
    in_channels=4,
    out_channels=4,
    # umT5's width in tools/parity/umt5.py's tiny encoder, so a test can give this folder that
    # text encoder and run the whole Pipeline.
    text_dim=24,
    freq_dim=16,
    ffn_dim=32,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=32,
)
# 5 frames -> 2 latent frames (the image's and one generated); 32x64 -> 2x4 latents, 1x2 tokens.
TI2V_FRAMES, TI2V_HEIGHT, TI2V_WIDTH = 5, 32, 64
# (width, height) -> (width, height) checks of PIL's LANCZOS resize, which diffusers uses.
RESIZE_CASES = [
    ((20, 15), (11, 8)),  # both shrink, width first
    ((15, 20), (14, 6)),  # both shrink, height first
    ((9, 12), (20, 5)),  # width grows, height shrinks: height first
    ((13, 5), (6, 15)),  # width shrinks, height grows
    ((6, 6), (15, 14)),  # both grow
]


def rgb_image(height, width, seed):
    """A smooth colour pattern with some noise (so resampling filters differ a little), uint8."""
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, height).view(-1, 1, 1)
    x = torch.linspace(0, 1, width).view(1, -1, 1)
    phase = torch.tensor([0.0, 2.1, 4.2]).view(1, 1, 3)
    base = 0.5 + 0.35 * torch.sin(6.0 * x + 4.0 * y + phase)
    noisy = base + 0.08 * torch.randn(height, width, 3, generator=g)
    return (noisy.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def resize_cases():
    out = {}
    for i, ((w0, h0), (w1, h1)) in enumerate(RESIZE_CASES):
        image = rgb_image(h0, w0, seed=10 + i)
        resized = np.array(Image.fromarray(image).resize((w1, h1), resample=Image.LANCZOS))
        out[f"resize.{i}.in"] = torch.from_numpy(image)
        out[f"resize.{i}.out"] = torch.from_numpy(np.ascontiguousarray(resized))
    return out


def write_ti2v_case():
    name = "wan_ti2v"
    torch.manual_seed(3)
    vae = perturbed(AutoencoderKLWan(**TI2V_VAE))
    with torch.no_grad():
        # As in wan_vae.py: keep most of the decoded video off the [-1, 1] clamp.
        vae.decoder.conv_out.weight.mul_(0.5)
        vae.decoder.conv_out.bias.mul_(0.5)
    transformer = perturbed(WanTransformer3DModel(**TI2V_TRANSFORMER))
    pipe = WanImageToVideoPipeline(
        tokenizer=None,
        text_encoder=None,
        vae=vae,
        scheduler=UniPCMultistepScheduler(**dict(UNIPC, flow_shift=5.0)),
        image_processor=None,
        image_encoder=None,
        transformer=transformer,
        expand_timesteps=True,
    )
    out = FIXTURES / name
    if out.exists():
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)

    original = rgb_image(90, 60, seed=4)
    sized = rgb_image(TI2V_HEIGHT, TI2V_WIDTH, seed=5)
    torch.manual_seed(6)
    latent_frames = (TI2V_FRAMES - 1) // TI2V_VAE["scale_factor_temporal"] + 1
    s = TI2V_VAE["scale_factor_spatial"]
    latents = torch.randn(1, TI2V_VAE["z_dim"], latent_frames, TI2V_HEIGHT // s, TI2V_WIDTH // s)
    embeds = torch.randn(1, TEXT_LEN, TI2V_TRANSFORMER["text_dim"])
    negative = torch.randn(1, TEXT_LEN, TI2V_TRANSFORMER["text_dim"])
    call = dict(num_inference_steps=3, guidance_scale=5.0)

    # Record what the pipeline hands the VAE encoder (the preprocessed image, (1, 3, 1, H, W)).
    seen = []
    encode = vae.encode

    def recording_encode(x, *a, **k):
        seen.append(x.detach().clone())
        return encode(x, *a, **k)

    args = dict(
        image=Image.fromarray(original),
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        height=TI2V_HEIGHT,
        width=TI2V_WIDTH,
        num_frames=TI2V_FRAMES,
        **call,
    )
    with torch.no_grad():
        vae.encode = recording_encode
        lat = pipe(latents=latents.clone(), output_type="latent", **args).frames
        video = pipe(latents=latents.clone(), output_type="pt", **args).frames
        vae.encode = encode
        assert len(seen) == 2 and torch.equal(seen[0], seen[1]), [x.shape for x in seen]
        vae_input = seen[0][:, :, 0]
        assert vae_input.shape == (1, 3, TI2V_HEIGHT, TI2V_WIDTH), vae_input.shape
        mode = vae.encode(seen[0]).latent_dist.mode()
        mean = torch.tensor(TI2V_VAE["latents_mean"]).view(1, -1, 1, 1, 1)
        inv_std = 1.0 / torch.tensor(TI2V_VAE["latents_std"]).view(1, -1, 1, 1, 1)
        condition = (mode - mean) * inv_std
        sized_input = pipe.video_processor.preprocess(
            Image.fromarray(sized), height=TI2V_HEIGHT, width=TI2V_WIDTH
        )
    # The output keeps the image's latent as its first frame.
    assert torch.equal(lat[:, :, :1], condition), (lat[:, :, :1] - condition).abs().max()
    clamped = (video <= 0).float().mean().item() + (video >= 1).float().mean().item()
    assert clamped < 0.25, f"{100 * clamped:.1f}% of the video is clamped"
    tensors = {
        "prompt_embeds": embeds,
        "negative_prompt_embeds": negative,
        "latents": latents,
        "image.original": torch.from_numpy(original),
        "image.vae_input": vae_input,
        "image.sized": torch.from_numpy(sized),
        "image.sized.vae_input": sized_input.to(torch.float32),
        "expected.condition": condition.to(torch.float32),
        **resize_cases(),
        "expected.latents": lat.to(torch.float32),
        "expected.video": video.to(torch.float32),
    }
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        out / "inputs.safetensors",
        metadata={
            "call": json.dumps(
                dict(call, height=TI2V_HEIGHT, width=TI2V_WIDTH, num_frames=TI2V_FRAMES)
            ),
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "pillow": PIL.__version__,
            "reference": f"diffusers {diffusers.__version__} WanImageToVideoPipeline "
            "(expand_timesteps=True), CPU f32",
        },
    )
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out.relative_to(FIXTURES.parents[2])}: {size} bytes; video {tuple(video.shape)}, "
          f"max |latents| {lat.abs().max():.4f}, {100 * clamped:.1f}% of the video clamped")


# Wan 2.1 image-to-video (CLIP image encoder) and Wan 2.2 I2V-A14B (two experts, no image
# encoder): a WanImageToVideoPipeline without expand_timesteps. The VAE-encoded video of
# [image, zeros..., (last image)] and a frame mask are concatenated to the noise along
# channels, so the transformer takes z + scale_factor_temporal + z channels (36 for the real
# models; 4 + 2 + 4 = 10 here).
I2V_IN_CHANNELS = 2 * VAE["z_dim"] + VAE["scale_factor_temporal"]
CLIP = dict(
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=3,
    num_attention_heads=2,
    num_channels=3,
    image_size=32,
    patch_size=8,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
    projection_dim=8,
)
I2V21_TRANSFORMER = dict(
    TI2V_TRANSFORMER,
    in_channels=I2V_IN_CHANNELS,
    image_dim=CLIP["hidden_size"],
    added_kv_proj_dim=TI2V_TRANSFORMER["num_attention_heads"] * TI2V_TRANSFORMER["attention_head_dim"],
)
I2V_A14B_TRANSFORMER = dict(TI2V_TRANSFORMER, in_channels=I2V_IN_CHANNELS)
# 5 frames -> 3 latent frames; 16x32 -> 4x8 latents, 2x4 tokens (diffusers wants multiples of 16).
I2V_FRAMES, I2V_HEIGHT, I2V_WIDTH = 5, 16, 32
# diffusers pads the prompt embeddings to 512 tokens, and the image-branch attention finds the
# image tokens by that length: the embeddings stored are TEXT_LEN long and padded with zeros.
PADDED_TEXT_LEN = 512
# (width, height) -> (width, height) checks of PIL's BICUBIC resize (CLIPImageProcessor's).
BICUBIC_CASES = [
    ((41, 27), (48, 32)),  # both grow (the CLIP input of image.original)
    ((20, 15), (11, 8)),  # both shrink, width first
    ((15, 20), (14, 6)),  # both shrink, height first
    ((9, 12), (20, 5)),  # width grows, height shrinks
    ((90, 60), (37, 24)),  # large reduction
]


def bicubic_cases():
    out = {}
    for i, ((w0, h0), (w1, h1)) in enumerate(BICUBIC_CASES):
        image = rgb_image(h0, w0, seed=30 + i)
        resized = np.array(Image.fromarray(image).resize((w1, h1), resample=Image.BICUBIC))
        out[f"bicubic.{i}.in"] = torch.from_numpy(image)
        out[f"bicubic.{i}.out"] = torch.from_numpy(np.ascontiguousarray(resized))
    return out


def padded(embeds):
    pad = embeds.new_zeros(embeds.shape[0], PADDED_TEXT_LEN - embeds.shape[1], embeds.shape[2])
    return torch.cat([embeds, pad], dim=1)


def write_concat_case(name, pipe, call, last_image, extra_tensors=None):
    """Runs `pipe` (a WanImageToVideoPipeline without expand_timesteps) and writes the case."""
    out = FIXTURES / name
    if out.exists():
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)

    original = rgb_image(27, 41, seed=40)
    last = rgb_image(19, 30, seed=41) if last_image else None
    torch.manual_seed(42)
    latent_frames = (I2V_FRAMES - 1) // VAE["scale_factor_temporal"] + 1
    s = VAE["scale_factor_spatial"]
    latents = torch.randn(1, VAE["z_dim"], latent_frames, I2V_HEIGHT // s, I2V_WIDTH // s)
    text_dim = pipe.transformer.config.text_dim
    embeds = torch.randn(1, TEXT_LEN, text_dim)
    negative = torch.randn(1, TEXT_LEN, text_dim)

    # Record what the pipeline hands the VAE encoder, the image encoder, and the condition
    # prepare_latents returns.
    seen = dict(vae=[], clip=[], condition=[], states=[])
    vae = pipe.vae
    encode = vae.encode

    def recording_encode(x, *a, **k):
        seen["vae"].append(x.detach().clone())
        return encode(x, *a, **k)

    prepare = pipe.prepare_latents

    def recording_prepare(*a, **k):
        out_ = prepare(*a, **k)
        seen["condition"].append(out_[1].detach().clone())
        return out_

    hooks = []
    if pipe.image_encoder is not None:
        def clip_hook(module, args, kwargs):
            seen["clip"].append(kwargs["pixel_values"].detach().clone())

        hooks.append(pipe.image_encoder.register_forward_pre_hook(clip_hook, with_kwargs=True))
        encode_image = pipe.encode_image

        def recording_encode_image(*a, **k):
            states = encode_image(*a, **k)
            seen["states"].append(states.detach().clone())
            return states

        pipe.encode_image = recording_encode_image

    args = dict(
        image=Image.fromarray(original),
        prompt_embeds=padded(embeds),
        negative_prompt_embeds=padded(negative),
        height=I2V_HEIGHT,
        width=I2V_WIDTH,
        num_frames=I2V_FRAMES,
        **call,
    )
    if last is not None:
        args["last_image"] = Image.fromarray(last)
    with torch.no_grad():
        vae.encode = recording_encode
        pipe.prepare_latents = recording_prepare
        lat = pipe(latents=latents.clone(), output_type="latent", **args).frames
        video = pipe(latents=latents.clone(), output_type="pt", **args).frames
        vae.encode = encode
        del pipe.prepare_latents
        if pipe.image_encoder is not None:
            del pipe.encode_image
        for h in hooks:
            h.remove()
    assert len(seen["vae"]) == 2 and torch.equal(seen["vae"][0], seen["vae"][1])
    vae_input = seen["vae"][0]
    assert vae_input.shape == (1, 3, I2V_FRAMES, I2V_HEIGHT, I2V_WIDTH), vae_input.shape
    assert torch.equal(seen["condition"][0], seen["condition"][1])
    condition = seen["condition"][0]
    assert condition.shape == (1, VAE["scale_factor_temporal"] + VAE["z_dim"]) + latents.shape[2:]
    clamped = (video <= 0).float().mean().item() + (video >= 1).float().mean().item()
    assert clamped < 0.25, f"{100 * clamped:.1f}% of the video is clamped"
    tensors = {
        "prompt_embeds": embeds,
        "negative_prompt_embeds": negative,
        "latents": latents,
        "image.original": torch.from_numpy(original),
        "image.vae_input": vae_input[:, :, 0],
        "expected.condition": condition.to(torch.float32),
        "expected.latents": lat.to(torch.float32),
        "expected.video": video.to(torch.float32),
    }
    if last is not None:
        tensors["image.last"] = torch.from_numpy(last)
        tensors["image.last.vae_input"] = vae_input[:, :, -1]
    if pipe.image_encoder is not None:
        assert len(seen["clip"]) == 2 and torch.equal(seen["clip"][0], seen["clip"][1])
        tensors["image.clip_input"] = seen["clip"][0]
        tensors["expected.image_states"] = seen["states"][0].to(torch.float32)
    tensors.update(extra_tensors or {})
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        out / "inputs.safetensors",
        metadata={
            "call": json.dumps(
                dict(
                    call,
                    height=I2V_HEIGHT,
                    width=I2V_WIDTH,
                    num_frames=I2V_FRAMES,
                    last_image=last is not None,
                    text_len=PADDED_TEXT_LEN,
                )
            ),
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "pillow": PIL.__version__,
            "reference": f"diffusers {diffusers.__version__} WanImageToVideoPipeline "
            "(expand_timesteps=False), CPU f32",
        },
    )
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out.relative_to(FIXTURES.parents[2])}: {size} bytes; video {tuple(video.shape)}, "
          f"max |latents| {lat.abs().max():.4f}, {100 * clamped:.1f}% of the video clamped")


def write_i2v21_case():
    """Wan 2.1 I2V style: a CLIP image encoder whose penultimate states condition the
    transformer's image branch, UniPC (shift 3), one transformer."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor as ImageProcessor

    torch.manual_seed(7)
    vae = perturbed(AutoencoderKLWan(**VAE))
    transformer = perturbed(WanTransformer3DModel(**I2V21_TRANSFORMER))
    clip = perturbed(CLIPVisionModel(CLIPVisionConfig(**CLIP)))
    processor = ImageProcessor(
        size={"shortest_edge": CLIP["image_size"]},
        crop_size={"height": CLIP["image_size"], "width": CLIP["image_size"]},
    )
    pipe = WanImageToVideoPipeline(
        tokenizer=None,
        text_encoder=None,
        vae=vae,
        scheduler=UniPCMultistepScheduler(**UNIPC),
        image_processor=processor,
        image_encoder=clip,
        transformer=transformer,
    )
    write_concat_case(
        "wan_i2v21",
        pipe,
        dict(num_inference_steps=3, guidance_scale=5.0),
        last_image=False,
        extra_tensors=bicubic_cases(),
    )


def write_i2v_a14b_case():
    """Wan 2.2 I2V-A14B style: no image encoder, two experts switching at boundary_ratio 0.9
    (the real model_index's), guidance_scale_2, UniPC (shift 5); with a last image (the
    first-and-last-frame mask and video)."""
    torch.manual_seed(8)
    vae = perturbed(AutoencoderKLWan(**VAE))
    high = perturbed(WanTransformer3DModel(**I2V_A14B_TRANSFORMER))
    low = perturbed(WanTransformer3DModel(**I2V_A14B_TRANSFORMER))
    scheduler = UniPCMultistepScheduler(**dict(UNIPC, flow_shift=5.0))
    pipe = WanImageToVideoPipeline(
        tokenizer=None,
        text_encoder=None,
        vae=vae,
        scheduler=scheduler,
        image_processor=None,
        image_encoder=None,
        transformer=high,
        transformer_2=low,
        boundary_ratio=0.9,
    )
    call = dict(num_inference_steps=4, guidance_scale=3.5, guidance_scale_2=2.0)
    scheduler.set_timesteps(call["num_inference_steps"])
    ts = scheduler.timesteps.tolist()
    assert any(t >= 900 for t in ts) and any(t < 900 for t in ts), ts
    write_concat_case("wan_i2v_a14b", pipe, call, last_image=True)


def main():
    cases = set(sys.argv[1:]) or {
        "wan_pipeline", "wan_pipeline_moe", "wan_ti2v", "wan_i2v21", "wan_i2v_a14b"
    }
    if cases & {"wan_pipeline", "wan_pipeline_moe"}:
        t2v_cases(cases)
    if "wan_ti2v" in cases:
        write_ti2v_case()
    if "wan_i2v21" in cases:
        write_i2v21_case()
    if "wan_i2v_a14b" in cases:
        write_i2v_a14b_case()


def t2v_cases(cases):
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
    if "wan_pipeline" in cases:
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
    if "wan_pipeline_moe" in cases:
        write_case(
            "wan_pipeline_moe",
            moe,
            dict(num_inference_steps=4, guidance_scale=4.0, guidance_scale_2=3.0),
            shard="40KB",
        )


if __name__ == "__main__":
    main()
