#!/usr/bin/env bash
# The torch engine on a CUDA GPU beside a bare nn.LSTM loop on the same GPU, in one run: LSTM
# 2×512, B50 S50, SECONDS of `charrnn train --engine torch --device cuda`, then SECONDS of the bare
# loop of bench/pytorch_bench.py (torch.optim.Adam, clip_grad_norm_) on the same ids, then one JSON
# line: {"device", "engine": {"train_chars_per_s", "train_loss", "val_loss", "iters"},
# "bare": {"train_chars_per_s"}, "engine_over_bare"}. engine_over_bare is the engine's CUDA
# overhead as a ratio (1.0: none; our own maths, the flat-vector optimizer, the all-reduce buffer).
#
#   bench/torch-gpu-check.sh [SECONDS] [CORPUS]      (defaults: 60, tiny Shakespeare or the built-in Moby Dick)
#
# Needs: Node ≥ 20 with this repository built (npm ci; npm run build: dist/ and node_modules/),
# a python3 with torch (CUDA) and numpy (set PYTHON=... to choose it). No internet.
# train_chars_per_s of the engine counts every step (start-up included, as the CLI reports it);
# the bare loop's starts after one warm-up step. The run directory is a temporary one, removed
# afterwards. DEVICE=cpu runs the same on the CPU (to check the script where there is no GPU);
# HIDDEN=... changes the hidden size (default 512).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-60}
CORPUS=${2:-}
DEV=${DEVICE:-cuda}
HIDDEN_=${HIDDEN:-512}
if [ -z "$CORPUS" ] && [ -f ../shared/data/tinyshakespeare.txt ]; then CORPUS=../shared/data/tinyshakespeare.txt; fi
if [ ! -f dist/cli/main.js ] || [ ! -d node_modules/commander ]; then
  echo '{"error": "charrnn is not built here: run npm ci && npm run build first (or bring dist/ and node_modules/)"}'
  exit 1
fi
PY=${PYTHON:-python3}
if [ "$DEV" = cuda ]; then
  NAME=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null || true)
  if [ -z "$NAME" ]; then
    echo "{\"error\": \"$PY has no torch that sees a CUDA GPU\"}"
    exit 1
  fi
else
  NAME=cpu
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
DATA=()
if [ -n "$CORPUS" ]; then DATA=(--data "$CORPUS"); fi
SUMMARY=$(node bin/charrnn.js train --engine torch --device "$DEV" --python "$PY" "${DATA[@]}" --out "$OUT/run" \
  --model lstm --layers 2 --hidden "$HIDDEN_" --embed 64 --batch 50 --seq-len 50 \
  --max-time "$SECONDS_" --eval-every 1000000000 --sample-every 0 --json --quiet)
# The bare loop: bench/pytorch_bench.py's train_speed on the run's own training ids (ids.bin, the
# split in torch.json), the same model shape, optimizer and clipping as the engine's run.
"$PY" - "$SUMMARY" "$NAME" "$OUT/run" "$DEV" "$SECONDS_" "$HIDDEN_" <<'PYEOF'
import json, os, sys
import numpy as np
import torch
sys.path.insert(0, 'bench')
from pytorch_bench import train_speed

summary, name, run, dev, seconds, hidden = sys.argv[1:7]
s = json.loads(summary)
with open(os.path.join(run, 'torch.json'), encoding='utf-8') as f:
    spec = json.load(f)
cfg = spec['config']
a, b = spec['split']['train']
ids = np.fromfile(os.path.join(run, spec['ids']['file']), dtype=np.dtype(spec['ids']['dtype']).newbyteorder('<'))[a:b]
c = {k: cfg[k] for k in ('layers', 'hidden', 'embed', 'batch', 'seqLen', 'optimizer', 'lr', 'beta1', 'beta2', 'eps', 'momentum', 'alpha', 'clip', 'clipMode', 'dropout')}
c['model'] = cfg['model']
if dev == 'cpu':
    torch.set_num_threads(1)  # as the engine chooses on an OpenBLAS build
bare, bare_startup = train_speed(c, torch.from_numpy(ids.astype(np.int64)), len(spec['vocab']), float(seconds), torch.device(dev))
engine = {k: s[k] for k in ('seconds', 'iters', 'train_chars_per_s', 'train_loss', 'val_loss')}
print(json.dumps({'device': name, 'config': 'LSTM 2x%s B50 S50' % hidden, 'engine': engine, 'bare': {'train_chars_per_s': bare, 'startup_s': bare_startup},
                  'engine_over_bare': s['train_chars_per_s'] / bare if bare > 0 else None}))
PYEOF
