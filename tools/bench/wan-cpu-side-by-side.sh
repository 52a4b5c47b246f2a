#!/usr/bin/env bash
# kino and diffusers 0.42.1 one after the other on this machine's CPU: Wan2.1-1.3B
# transformer (random weights of the real shape), 256x256x17, f32, seconds per denoising
# step with CFG and peak RSS. Writes OUT_DIR/kino.json and OUT_DIR/diffusers.json.
# Usage: tools/bench/wan-cpu-side-by-side.sh KINO_BINARY OUT_DIR [STEPS]
set -euo pipefail
bin=$1; out=$2; steps=${3:-2}
mkdir -p "$out"
"$bin" bench wan --preset 1.3b --size 256x256 --frames 17 --steps "$steps" --json | tee "$out/kino.json"
python3 "$(dirname "$0")/wan_diffusers_step.py" --preset 1.3b --size 256x256 --frames 17 \
  --steps "$steps" 2>/dev/null | tee "$out/diffusers.json"
