#!/usr/bin/env bash
# Trains kino-tiny on one CUDA GPU in the background and returns at once.
# Usage: tools/gpu/train-tiny.sh KINO_BINARY RUN_DIR MINUTES
# Output: RUN_DIR/train.log, RUN_DIR/model (the model folder) when done.
set -euo pipefail
bin=$1; run=$2; minutes=$3
source "$(dirname "$0")/env.sh"
mkdir -p "$run"
setsid nohup "$bin" train --recipe tiny --device cuda --run "$run" --output "$run/model" \
  --text-encoder "$(dirname "$0")/../../models/kino-tiny" --minutes "$minutes" --batch-scale "${BATCH_SCALE:-4}" > "$run/train.log" 2>&1 < /dev/null &
echo "started: $run/train.log"
