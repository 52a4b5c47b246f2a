#!/usr/bin/env bash
# Wan2.1-1.3B (random weights of the real shape) at 480x832x81: seconds per denoising step
# with CFG and peak GPU memory, kino (CUDA build) and diffusers 0.42.1 (torch SDPA, bf16)
# in the same run on the same GPU. Writes OUT_DIR/kino.json and OUT_DIR/diffusers.json.
# Usage: tools/gpu/bench-wan.sh KINO_CUDA_BINARY OUT_DIR [STEPS]
set -euo pipefail
bin=$1; out=$2; steps=${3:-3}
here="$(dirname "$0")"
source "$here/env.sh"
mkdir -p "$out"
"$bin" bench wan --preset 1.3b --device cuda --dtype bf16 --size 832x480 --frames 81 \
  --steps "$steps" --json | tee "$out/kino.json"
python3 "$here/../bench/wan_diffusers_step.py" --preset 1.3b --device cuda --dtype bf16 \
  --size 832x480 --frames 81 --steps "$steps" | tee "$out/diffusers.json"
