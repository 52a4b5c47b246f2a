#!/usr/bin/env python3
"""diffusers' side of `kino bench wan`: seconds per denoising step (conditional + negative
pass + the UniPC update) of WanTransformer3DModel with random weights of a released model's
real shape, and peak memory, on the same machine, so the two can be put side by side.

  pip install torch diffusers==0.42.1
  python3 tools/bench/wan_diffusers_step.py --preset 1.3b --size 256x256 --frames 17 --steps 2
  python3 tools/bench/wan_diffusers_step.py --device cuda --dtype bf16 --size 832x480 --frames 81

Prints one JSON object (the same field names as `kino bench wan --json`).
"""

import argparse
import json
import resource
import time

import torch
from diffusers import UniPCMultistepScheduler, WanTransformer3DModel

COMMON = dict(
    patch_size=(1, 2, 2), attention_head_dim=128, text_dim=4096, freq_dim=256,
    cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)
PRESETS = {
    "1.3b": dict(COMMON, num_attention_heads=12, ffn_dim=8960, num_layers=30, in_channels=16, out_channels=16),
    "5b": dict(COMMON, num_attention_heads=24, ffn_dim=14336, num_layers=30, in_channels=48, out_channels=48),
    "14b": dict(COMMON, num_attention_heads=40, ffn_dim=13824, num_layers=40, in_channels=16, out_channels=16),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="1.3b", choices=PRESETS)
    p.add_argument("--size", default="256x256")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, choices=["f32", "bf16", "f16"])
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    dev = torch.device(args.device)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[
        args.dtype or ("f32" if dev.type == "cpu" else "bf16")
    ]
    cfg = PRESETS[args.preset]
    z, sf = (48, 16) if cfg["in_channels"] == 48 else (16, 8)
    latent = (1, z, (args.frames - 1) // 4 + 1, h // sf, w // sf)

    t0 = time.time()
    with torch.device(dev):
        model = WanTransformer3DModel(**cfg)
    model = model.to(dtype).eval()
    init_s = time.time() - t0
    text = torch.randn(1, 512, 4096, device=dev, dtype=dtype)
    negative = torch.randn(1, 512, 4096, device=dev, dtype=dtype)
    x = torch.randn(latent, device=dev, dtype=torch.float32)
    sched = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
    )
    sched.set_timesteps(args.steps, device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    steps = []
    with torch.no_grad():
        for t in sched.timesteps:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.time()
            inp = x.to(dtype)
            ts = t.expand(1)
            cond = model(hidden_states=inp, timestep=ts, encoder_hidden_states=text, return_dict=False)[0].float()
            unc = model(hidden_states=inp, timestep=ts, encoder_hidden_states=negative, return_dict=False)[0].float()
            v = unc + 5.0 * (cond - unc)
            x = sched.step(v, t, x, return_dict=False)[0]
            if dev.type == "cuda":
                torch.cuda.synchronize()
            steps.append(time.time() - start)
    report = {
        "impl": f"diffusers {__import__('diffusers').__version__}, torch {torch.__version__} (SDPA)",
        "preset": args.preset, "dtype": str(dtype).replace("torch.", ""), "device": args.device,
        "size": [w, h], "frames": args.frames, "latent": list(latent),
        "tokens": latent[2] * (latent[3] // 2) * (latent[4] // 2), "init_s": init_s,
        "step_s": steps, "mean_step_s": sum(steps) / len(steps),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch_threads": torch.get_num_threads(),
    }
    if dev.type == "cuda":
        report["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
