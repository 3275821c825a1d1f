/**
 * Runs bench/pytorch_bench.py, PyTorch on the same configs and data, for `npm run bench`.
 *
 * PyTorch at its fastest on this kind of machine: 1 torch thread, one OpenBLAS thread per core
 * (2 torch threads ran 3–4× slower). Debian's python3-torch links the reference BLAS through
 * the libblas.so.3 alternative; OpenBLAS (libopenblas0-pthread) is preloaded when present, and
 * the script reports which BLAS library and OpenBLAS core it actually runs. OPENBLAS_CORETYPE /
 * OPENBLAS_L2_SIZE, which some machines here set for old OpenBLAS builds, pin a slower kernel:
 * they are unset for this one command (the report names the kernel chosen instead), unless
 * keepCoretype (bench --pytorch-keep-coretype, to compare with figures taken that way).
 * When torch sees a CUDA GPU, the same configs are timed on it too, in the same process (`cuda`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { TrainConfig } from '../src/config.js';

export interface PytorchResult { id: string; train_chars_per_s: number; sample_chars_per_s?: number; /** building the model and the first, untimed step */ warmup_s?: number }
/** PyTorch on CUDA: the GPU's name and its results, or why it did not run. */
export type PytorchCuda = { ok: true; device: string; results: PytorchResult[] } | { ok: false; reason: string };
export type PytorchRun =
  | { ok: true; version: string; python: string; blas: Record<string, unknown>; describe: string; blasName: string; threads: number; import_s: number; results: PytorchResult[]; cuda: PytorchCuda }
  | { ok: false; reason: string };

// compiled file: dist/bench/pytorch.js -> <package>/bench/pytorch_bench.py
const SCRIPT = fileURLToPath(new URL('../../bench/pytorch_bench.py', import.meta.url));
const OPENBLAS = ['/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3', '/usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3'];

/**
 * The environment PyTorch is benchmarked in: OpenBLAS (pthread build, preloaded where Debian has
 * it) on every core, with the kernels it picks for this CPU unless `keepCoretype` keeps the
 * machine's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (bench commands only, never tests).
 */
export function pytorchEnv(keepCoretype = false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(availableParallelism()) };
  if (!keepCoretype) {
    // undefined, not deleted: spawn skips an undefined variable, and a caller that spreads this
    // over process.env (torchEvents) keeps it unset rather than getting the machine's back
    env.OPENBLAS_CORETYPE = undefined;
    env.OPENBLAS_L2_SIZE = undefined;
  }
  const openblas = OPENBLAS.find((p) => existsSync(p));
  if (openblas) env.LD_PRELOAD = [openblas, env.LD_PRELOAD].filter(Boolean).join(':');
  return env;
}

/** A python with torch: $PYTHON, then python3 on PATH, then Debian's /usr/bin/python3. */
function findPython(): string | null {
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3']) {
    if (py && spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

/**
 * Options: `python` (else the first of $PYTHON, python3, /usr/bin/python3 that imports torch);
 * `threads`, torch's threads (default 1, its fastest here; null: torch's own default, as the
 * torch engine runs); `cuda` false skips the CUDA timings.
 */
export interface PytorchOptions { python?: string; threads?: number | null; cuda?: boolean }

export function runPytorch(dataPath: string, seconds: number, configs: { id: string; config: TrainConfig; sample: boolean }[], keepCoretype = false, opts: PytorchOptions = {}): PytorchRun {
  const py = opts.python ?? findPython();
  if (!py) return { ok: false, reason: 'no python3 with torch importable; Debian: apt-get install python3-torch libopenblas0-pthread' };
  const { valFrac, testFrac } = configs[0]?.config ?? { valFrac: 0, testFrac: 0 };
  const job = {
    data: dataPath, valFrac, testFrac, seconds, cuda: opts.cuda ?? true, threads: opts.threads === undefined ? 1 : opts.threads,
    configs: configs.map(({ id, config: c, sample }) => ({
      id, sample, model: c.model, layers: c.layers, hidden: c.hidden, embed: c.embed, dropout: c.dropout,
      batch: c.batch, seqLen: c.seqLen, optimizer: c.optimizer, lr: c.lr, beta1: c.beta1, beta2: c.beta2,
      eps: c.eps, alpha: c.alpha, momentum: c.momentum, clip: c.clip, clipMode: c.clipMode,
    })),
  };
  const env = pytorchEnv(keepCoretype);
  const r = spawnSync(py, [SCRIPT, JSON.stringify(job)], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return { ok: false, reason: `${py} ${SCRIPT} failed: ${(r.stderr || String(r.error)).trim().split('\n').pop()}` };
  const out = JSON.parse(r.stdout) as {
    torch: string; import_s: number; torch_threads: number; blas: Record<string, unknown>; results: PytorchResult[];
    cuda?: { device: string; results: PytorchResult[] } | { error: string };
  };
  const b = out.blas;
  const blasName = b.torch_blas === 'mkl' ? 'MKL (built into torch)' : b.openblas_config
    ? `${String(b.openblas_config).split(' ').slice(0, 2).join(' ')} (core ${String(b.openblas_core)}, ${String(b.openblas_threads)} threads)`
    : `BLAS ${(b.libraries as string[]).join(', ') || 'built in'}`;
  return {
    ok: true, version: out.torch, python: py, blas: b, blasName, threads: out.torch_threads, import_s: out.import_s, results: out.results,
    cuda: !out.cuda ? { ok: false, reason: 'not asked' } : 'error' in out.cuda ? { ok: false, reason: out.cuda.error } : { ok: true, ...out.cuda },
    describe: `${out.torch} (${py}), ${out.torch_threads} torch thread, ${blasName}${keepCoretype ? `, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'} kept` : ''}, measured in this run`,
  };
}
