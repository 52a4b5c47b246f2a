#!/usr/bin/env python3
"""Reference runs of diffusers' flow-matching schedulers for kino's sampler parity test.

Wan's diffusers folders sample with `UniPCMultistepScheduler` (use_flow_sigmas, flow_prediction,
solver_order 2, bh2, flow_shift 3.0 or 5.0); `FlowMatchEulerDiscreteScheduler` is the other
common choice. For each case below this script builds the scheduler from the config a Wan
folder ships (plus the case's steps and shift), feeds it a fixed random "model output" per
step (so no network is involved) and records every intermediate sample. It writes
tools/parity/fixtures/flow_schedulers.safetensors:

  {case}.sigmas       (N+1,) f32  scheduler.sigmas
  {case}.timesteps    (N,)   f32  scheduler.timesteps (int64 for UniPC, stored as f32)
  {case}.sample       (1, 4, 2, 3, 3) f32 the initial latents
  {case}.output.{i}   model output fed at step i
  {case}.expected.{i} the sample after step i

Metadata: "cases" (JSON: name -> {scheduler, steps, shift}), "diffusers", "torch".

  pip install torch diffusers==0.42.1 safetensors
  python3 tools/parity/flow_schedulers.py
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

import diffusers
from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

# scheduler/scheduler_config.json of Wan-AI/Wan2.1-T2V-1.3B-Diffusers (flow_shift varies).
UNIPC_WAN = {
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995,
    "final_sigmas_type": "zero",
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "predict_x0": True,
    "prediction_type": "flow_prediction",
    "rescale_betas_zero_snr": False,
    "sample_max_value": 1.0,
    "solver_order": 2,
    "solver_p": None,
    "solver_type": "bh2",
    "steps_offset": 0,
    "thresholding": False,
    "timestep_spacing": "linspace",
    "trained_betas": None,
    "use_beta_sigmas": False,
    "use_exponential_sigmas": False,
    "use_flow_sigmas": True,
    "use_karras_sigmas": False,
}

CASES = {
    "unipc_s3_n5": ("unipc", 5, 3.0),
    "unipc_s5_n3": ("unipc", 3, 5.0),
    "unipc_s1_n8": ("unipc", 8, 1.0),
    "euler_s3_n4": ("euler", 4, 3.0),
    "euler_s1_n3": ("euler", 3, 1.0),
}
SHAPE = (1, 4, 2, 3, 3)


def scheduler(kind, shift):
    if kind == "unipc":
        return UniPCMultistepScheduler(**{**UNIPC_WAN, "flow_shift": shift})
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)


def main():
    torch.manual_seed(0)
    tensors = {}
    for name, (kind, steps, shift) in CASES.items():
        s = scheduler(kind, shift)
        s.set_timesteps(steps, device="cpu")
        tensors[f"{name}.sigmas"] = s.sigmas.to(torch.float32).clone()
        tensors[f"{name}.timesteps"] = s.timesteps.to(torch.float32).clone()
        sample = torch.randn(SHAPE)
        tensors[f"{name}.sample"] = sample.clone()
        for i, t in enumerate(s.timesteps):
            out = torch.randn(SHAPE)
            tensors[f"{name}.output.{i}"] = out.clone()
            sample = s.step(out, t, sample, return_dict=False)[0]
            tensors[f"{name}.expected.{i}"] = sample.clone()
    meta = {
        "cases": json.dumps({k: {"scheduler": v[0], "steps": v[1], "shift": v[2]} for k, v in CASES.items()}),
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "reference": "diffusers UniPCMultistepScheduler / FlowMatchEulerDiscreteScheduler",
    }
    out = Path(__file__).parent / "fixtures" / "flow_schedulers.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, out, metadata=meta)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    for name in CASES:
        print(name, tensors[f"{name}.sigmas"].tolist(), tensors[f"{name}.timesteps"].tolist())


if __name__ == "__main__":
    main()
