#!/usr/bin/env bash
# The WebGPU backend on a real GPU, beside wasm, PyTorch CPU and PyTorch CUDA on the same machine:
# `node dist/bench/train.js --backend webgpu --json` on the three standard configs, then ONE JSON
# line: {"adapter", "software", "cuda_device", "torch", "seconds", "wall_s", "configs": {id:
# {"webgpu", "wasm", "wasm_backend", "pytorch_cpu", "pytorch_cuda" (train chars/s, null when
# absent), "webgpu_vs_wasm", "webgpu_vs_pytorch_cuda", "dispatches_per_window",
# "submits_per_window", "webgpu_sample", "wasm_sample", "pytorch_cuda_sample" (batch-1 sampling
# chars/s), "webgpu_sample_vs_wasm"}}}, with "error" when the WebGPU backend did not run (exit 1).
#
#   bench/gpu-check.sh [--quick] [--seconds S] [--only lstm128,lstm512,rnn100]
#
# --seconds: per measurement (default 5; --quick 2). At 5, the whole check (3 configs × wasm ×1,
# wasm ×cores, webgpu, PyTorch CPU and PyTorch CUDA, each trained S s and sampled up to S/2 s)
# takes about 2–3 minutes; it is stopped at 280 s so that it ends within 5 minutes.
#
# Needs: this repository built (dist/) with node_modules/ (including the optional package
# `webgpu`, Dawn) carried in; no internet. Node 20 or later: the GPU machine may have no Node at
# all, so the caller provides one (carry a Node binary and set NODE=/path/to/node; default: node
# on PATH). PyTorch runs when a python3 with torch is importable (set PYTHON=... to choose it), on
# CUDA when that torch sees a GPU. WebGPU needs a Vulkan driver (NVIDIA's, found by the Vulkan
# loader in /usr/share/vulkan/icd.d): do not set VK_ICD_FILENAMES, which would pin another driver.
# With VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (a CPU machine) it runs on
# SwiftShader and says "software": true, to check this script, but those figures mean nothing
# (and a SwiftShader window of LSTM 2×128 takes minutes: use --only rnn100 there).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_BIN=${NODE:-node}
SECS=5
ONLY=lstm128,lstm512,rnn100
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) SECS=2 ;;
    --seconds) SECS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    *) echo "{\"error\": \"unknown argument $1 (usage: bench/gpu-check.sh [--quick] [--seconds S] [--only lstm128,lstm512,rnn100])\"}"; exit 1 ;;
  esac
  shift
done
fail() {
  "$NODE_BIN" -e 'console.log(JSON.stringify({ error: process.argv[1] }))' "$1" 2>/dev/null || echo '{"error": "see stderr"}'
  exit 1
}
if ! command -v "$NODE_BIN" >/dev/null 2>&1; then
  echo "{\"error\": \"no Node here ($NODE_BIN): bring Node 20 or later and set NODE=/path/to/node\"}"
  exit 1
fi
"$NODE_BIN" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  fail "Node $("$NODE_BIN" --version) is too old: charrnn needs Node 20 or later (set NODE=/path/to/node)"
if [ ! -f dist/bench/train.js ] || [ ! -d node_modules/commander ]; then
  fail 'charrnn is not built here: run npm ci (which builds) first, or bring dist/ and node_modules/'
fi
if [ ! -f node_modules/webgpu/package.json ]; then
  fail "node_modules/ has no 'webgpu' package (an optional dependency: npm ci installs it where Dawn has a prebuilt binary)"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
START=$(date +%s)
STATUS=0
timeout 280 "$NODE_BIN" dist/bench/train.js --backend webgpu --seconds "$SECS" --only "$ONLY" --json >"$TMP/bench.json" 2>"$TMP/stderr" || STATUS=$?
if [ "$STATUS" -eq 124 ]; then fail "the benchmark did not finish within 280 s (try --quick or --only)"; fi
if [ "$STATUS" -ne 0 ] || [ ! -s "$TMP/bench.json" ]; then
  # Dawn and the Vulkan loader write their complaints to stderr: the last other line is the error
  fail "the benchmark failed (status $STATUS): $(grep -v XDG_RUNTIME_DIR "$TMP/stderr" | tail -n 1)"
fi

"$NODE_BIN" - "$TMP/bench.json" "$(($(date +%s) - START))" "$SECS" <<'EOF'
const fs = require('node:fs');
const [file, wall, seconds] = process.argv.slice(2);
const bench = JSON.parse(fs.readFileSync(file, 'utf8'));
const gpu = bench.webgpu ?? { error: 'the benchmark did not try the webgpu backend' };
const cuda = bench.pytorch?.cuda;
const num = (x) => typeof x === "number" && Number.isFinite(x);
const round = (x) => (num(x) ? Math.round(x) : null);
const ratio = (x) => (num(x) ? Number(x.toPrecision(3)) : null); // three significant digits
const configs = {};
for (const r of bench.results) {
  if (r.engine) continue;
  const c = (configs[r.config] ??= { webgpu: null, wasm: null, wasm_backend: null, pytorch_cpu: null, pytorch_cuda: null,
    webgpu_vs_wasm: null, webgpu_vs_pytorch_cuda: null, dispatches_per_window: null, submits_per_window: null,
    webgpu_sample: null, wasm_sample: null, pytorch_cuda_sample: null, webgpu_sample_vs_wasm: null });
  c.pytorch_cuda_sample ??= round(r.pytorch_cuda_sample_chars_per_s);
  c.pytorch_cpu ??= round(r.pytorch_train_chars_per_s);
  c.pytorch_cuda ??= round(r.pytorch_cuda_train_chars_per_s);
  if (r.backend.startsWith('wasm') && r.train_chars_per_s > (c.wasm ?? 0)) {
    c.wasm = round(r.train_chars_per_s);
    c.wasm_backend = r.backend;
  }
  if (r.backend === 'webgpu') {
    Object.assign(c, { webgpu: round(r.train_chars_per_s), webgpu_vs_wasm: ratio(r.vs_wasm), webgpu_vs_pytorch_cuda: ratio(r.vs_pytorch_cuda),
      dispatches_per_window: r.dispatches_per_window, submits_per_window: r.submits_per_window,
      webgpu_sample: round(r.sample_chars_per_s), wasm_sample: round(r.wasm_sample_chars_per_s), webgpu_sample_vs_wasm: ratio(r.sample_vs_wasm) });
  }
}
const out = {
  ...('error' in gpu ? { error: `webgpu did not run: ${gpu.error}` } : {}),
  adapter: gpu.adapter ?? null, software: gpu.software ?? null,
  ...(gpu.software ? { note: 'a software adapter (SwiftShader): the run works, its figures mean nothing' } : {}),
  cuda_device: cuda?.device ?? null, torch: bench.pytorch?.version ?? null,
  ...(cuda?.error || bench.pytorch_error ? { pytorch_note: cuda?.error ?? bench.pytorch_error } : {}),
  seconds: Number(seconds), wall_s: Number(wall), configs,
};
console.log(JSON.stringify(out));
process.exit('error' in gpu ? 1 : 0);
EOF
