#!/usr/bin/env python3
"""Reference outputs of transformers' CLIPVisionModel and CLIPImageProcessor for kino's CLIP
vision parity test (crates/kino-models/tests/clip_vision_parity.rs).

Wan 2.1 image-to-video folders ship `image_encoder/` (a transformers `CLIPVisionModel` holding
open-clip ViT-H/14 weights) and `image_processor/` (a `CLIPImageProcessor`), and diffusers'
`WanImageToVideoPipeline.encode_image` runs

    image_encoder(**image_processor(images=image, return_tensors="pt"),
                  output_hidden_states=True).hidden_states[-2]

i.e. the hidden states after all but the last encoder layer. This script builds a TINY random
`CLIPVisionConfig` with the same structure (class token, patch embedding without bias, learned
position embeddings, pre_layrnorm, pre-norm encoder layers, post_layernorm), perturbs every
parameter with noise so nothing is exactly 0 or 1, runs it on CPU in float32 and writes
tools/parity/fixtures/clip_vision.safetensors:

  vision_model.<key>                every weight of the main model (hidden_act "gelu", as
                                    ViT-H/14), under the key a real checkpoint uses (the
                                    transformers 4.x layout Wan's image_encoder/ was saved in)
  quick_gelu.<key>                  a second, smaller model (hidden_act "quick_gelu"), its keys
                                    WITHOUT the `vision_model.` level (the transformers 5 layout)
  __input.images                    (2, 3, 37, 41) f32: two RGB images with values 0..255
                                    (uint8 values); image 0 is 28 x 37, image 1 is 37 x 28, each
                                    stored top-left in the (37, 41) slab (the rest is zero)
  __input.pixel_values              (2, 3, 28, 28) f32: CLIPImageProcessor(images) (shortest
                                    edge 28, already the images' short side, so the resize is
                                    the identity; center crop 28 x 28; rescale; normalize)
  __expected.hidden_states.{i}      (2, 17, 32) f32: model(pixel_values,
                                    output_hidden_states=True).hidden_states[i], i = 0..=layers
  __expected.penultimate            (2, 17, 32) f32: hidden_states[-2], what Wan uses
                                    (last_hidden_state is hidden_states[-1], not stored again)
  __expected.pooler_output          (2, 32) f32 (post_layernorm of the class token)
  __expected.quick_gelu.penultimate (2, 17, 16) f32: the second model's hidden_states[-2]

Metadata (all strings): "config", "config_quick_gelu" (CLIPVisionConfig JSON),
"preprocessor_config" (the processor's JSON, as in a folder's image_processor/), "image_sizes"
(JSON [[h, w], ...] of the two images), "resize_cases" (JSON [[h, w, size, new_h, new_w], ...]
from transformers' get_resize_output_image_size(default_to_square=False)), "processor_class",
"transformers", "torch", "reference".

  pip install torch transformers safetensors pillow
  python3 tools/parity/clip_vision.py
"""

import json
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from safetensors.torch import save_file

import transformers
from transformers import CLIPVisionConfig, CLIPVisionModel
from transformers.image_transforms import get_resize_output_image_size

try:  # transformers 5 names the PIL implementation CLIPImageProcessorPil.
    from transformers import CLIPImageProcessorPil as ImageProcessor
except ImportError:  # transformers 4
    from transformers import CLIPImageProcessor as ImageProcessor

CONFIG = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_channels=3,
    image_size=28,
    patch_size=7,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
    projection_dim=16,
)
CONFIG_QUICK_GELU = dict(
    CONFIG,
    hidden_size=16,
    intermediate_size=24,
    num_hidden_layers=2,
    num_attention_heads=2,
    hidden_act="quick_gelu",
)
# (height, width) of the two test images: each short side is already the shortest edge (28).
IMAGE_SIZES = [(28, 37), (37, 28)]
RESIZE_CASES = [(480, 832, 224), (832, 480, 224), (720, 1280, 224), (224, 224, 224),
                (333, 500, 224), (1000, 3, 224), (37, 28, 28), (101, 100, 28)]


def perturbed(config: dict) -> CLIPVisionModel:
    model = CLIPVisionModel(CLIPVisionConfig(**config)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    return model


def state(model: CLIPVisionModel, prefix: str) -> dict[str, torch.Tensor]:
    """The weights under `prefix` + the key without any `vision_model.` level."""
    out = {}
    for key, value in model.state_dict().items():
        key = key.removeprefix("vision_model.")
        if key == "embeddings.position_ids":
            continue
        out[prefix + key] = value.detach().to(torch.float32).contiguous()
    return out


def main() -> None:
    repo = Path(__file__).resolve().parents[2]
    out = repo / "tools" / "parity" / "fixtures" / "clip_vision.safetensors"
    torch.manual_seed(0)
    model = perturbed(CONFIG)
    quick = perturbed(CONFIG_QUICK_GELU)

    processor = ImageProcessor(
        size={"shortest_edge": CONFIG["image_size"]},
        crop_size={"height": CONFIG["image_size"], "width": CONFIG["image_size"]},
    )
    rng = np.random.RandomState(0)
    arrays = [rng.randint(0, 256, (h, w, 3), dtype=np.uint8) for h, w in IMAGE_SIZES]
    pixel_values = processor(
        images=[PIL.Image.fromarray(a) for a in arrays], return_tensors="pt"
    ).pixel_values
    # The resize is the identity here (the short sides already equal the shortest edge).
    no_resize = processor(
        images=[PIL.Image.fromarray(a) for a in arrays], do_resize=False, return_tensors="pt"
    ).pixel_values
    assert torch.equal(pixel_values, no_resize)
    assert pixel_values.dtype == torch.float32 and pixel_values.shape == (2, 3, 28, 28)
    slab = torch.zeros(2, 3, 37, 41)
    for i, a in enumerate(arrays):
        h, w, _ = a.shape
        slab[i, :, :h, :w] = torch.from_numpy(a).permute(2, 0, 1).float()

    tensors = state(model, "vision_model.") | state(quick, "quick_gelu.")
    tensors["__input.images"] = slab.contiguous()
    tensors["__input.pixel_values"] = pixel_values.contiguous()
    with torch.no_grad():
        o = model(pixel_values=pixel_values, output_hidden_states=True)
        assert len(o.hidden_states) == CONFIG["num_hidden_layers"] + 1
        for i, h in enumerate(o.hidden_states):
            tensors[f"__expected.hidden_states.{i}"] = h.contiguous()
        tensors["__expected.penultimate"] = o.hidden_states[-2].clone().contiguous()
        # last_hidden_state is hidden_states[-1] (before post_layernorm).
        assert torch.equal(o.last_hidden_state, o.hidden_states[-1])
        tensors["__expected.pooler_output"] = o.pooler_output.contiguous()
        q = quick(pixel_values=pixel_values, output_hidden_states=True)
        tensors["__expected.quick_gelu.penultimate"] = q.hidden_states[-2].clone().contiguous()
    print(f"penultimate: max |x| {o.hidden_states[-2].abs().max():.4f}")

    resize_cases = []
    for h, w, size in RESIZE_CASES:
        dummy = np.zeros((3, h, w), dtype=np.uint8)
        nh, nw = get_resize_output_image_size(
            dummy, size=size, default_to_square=False, input_data_format="channels_first"
        )
        resize_cases.append([h, w, size, int(nh), int(nw)])

    save_file(
        tensors,
        str(out),
        metadata={
            "config": json.dumps(model.config.to_diff_dict()),
            "config_quick_gelu": json.dumps(quick.config.to_diff_dict()),
            "preprocessor_config": processor.to_json_string(),
            "image_sizes": json.dumps(IMAGE_SIZES),
            "resize_cases": json.dumps(resize_cases),
            "processor_class": type(processor).__name__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "reference": f"transformers {transformers.__version__} CLIPVisionModel + "
            f"{type(processor).__name__}, torch {torch.__version__}, CPU f32, "
            "torch.manual_seed(0)",
        },
    )
    out.chmod(0o644)
    print(f"wrote {out.relative_to(repo)}: {len(tensors)} tensors, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
