#!/usr/bin/env bash
# The torch engine on a CUDA GPU: LSTM 2×512, B50 S50, 60 s of `charrnn train --engine torch
# --device cuda`, then one JSON line: {"device", "train_chars_per_s", "train_loss", "val_loss", "iters", ...}.
#
#   bench/torch-gpu-check.sh [SECONDS] [CORPUS]      (defaults: 60, tiny Shakespeare or the built-in Moby Dick)
#
# Needs: Node ≥ 20 with this repository built (npm ci; npm run build: dist/ and node_modules/),
# a python3 with torch (CUDA) and numpy (set PYTHON=... to choose it). No internet.
# train_chars_per_s counts every step (start-up included, as the CLI reports it); the run
# directory is a temporary one, removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-60}
CORPUS=${2:-}
if [ -z "$CORPUS" ] && [ -f ../shared/data/tinyshakespeare.txt ]; then CORPUS=../shared/data/tinyshakespeare.txt; fi
if [ ! -f dist/cli/main.js ] || [ ! -d node_modules/commander ]; then
  echo '{"error": "charrnn is not built here: run npm ci && npm run build first (or bring dist/ and node_modules/)"}'
  exit 1
fi
PY=${PYTHON:-python3}
DEVICE=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null || true)
if [ -z "$DEVICE" ]; then
  echo "{\"error\": \"$PY has no torch that sees a CUDA GPU\"}"
  exit 1
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
DATA=()
if [ -n "$CORPUS" ]; then DATA=(--data "$CORPUS"); fi
SUMMARY=$(node bin/charrnn.js train --engine torch --device cuda --python "$PY" "${DATA[@]}" --out "$OUT/run" \
  --model lstm --layers 2 --hidden 512 --embed 64 --batch 50 --seq-len 50 \
  --max-time "$SECONDS_" --eval-every 1000000000 --sample-every 0 --json --quiet)
"$PY" -c 'import json, sys
s = json.loads(sys.argv[1])
print(json.dumps({"device": sys.argv[2], "config": "LSTM 2x512 B50 S50", "seconds": s["seconds"], "iters": s["iters"],
                  "train_chars_per_s": s["train_chars_per_s"], "train_loss": s["train_loss"], "val_loss": s["val_loss"]}))' "$SUMMARY" "$DEVICE"
