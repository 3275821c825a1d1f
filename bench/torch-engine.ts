/**
 * The torch engine in the benchmark (`npm run bench -- --engine torch [--device cpu|cuda|auto]
 * [--nproc-per-node N] [--python PATH[,PATH]]`): is the engine at PyTorch's own speed?
 *
 * For each PyTorch found (see torchPythons: pip's 2.x in a venv and Debian's 1.13 side by side)
 * and each config, in one run, alternating when --rounds > 1 and keeping the best of each:
 *   engine   the whole engine as `charrnn train --engine torch` runs it (our prepared run
 *            directory, python/charrnn_torch.py, its events), for about `seconds` of training
 *   bare     a bare `nn.LSTM` loop of the same PyTorch (bench/pytorch_bench.py): the same model,
 *            batch, sequence, Adam and global-norm clipping, at the torch threads the engine
 *            gets (torch's default: neither sets any), and again at 1 thread (PyTorch's fastest
 *            setting on the 2-core machines of performance.md)
 * Both run in the same environment (bench/pytorch.ts pytorchEnv: OpenBLAS preloaded where Debian
 * has it, its kernel set named). Speed is steady state only: the engine's between its 5th and its
 * last step event, the bare loop's after one warm-up step. Start-up (process start, torch import,
 * the first steps) is reported apart; the engine's final validation pass comes after its last
 * step and is in neither.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import type { Corpus } from '../src/data.js';
import { corpusData } from '../cli/torch-data.js';
import { launchCommand, planTorch, prepareTorchDir, torchEvents, type Device } from '../cli/torch-engine.js';
import { pytorchEnv, runPytorch } from './pytorch.js';

export interface TorchEngineSpeed {
  chars_per_s: number;
  /** Wall seconds from spawning the engine to its 5th step event: process start, import, first steps. */
  startup_s: number;
  /** The last step's training loss (nats/char). */
  loss: number;
  iters: number;
  backend: string;
}

const STEADY_FROM = 4; // the 5th step event: the first steps' allocations are start-up

export async function torchEngineSpeed(config: Partial<TrainConfig>, corpus: Corpus, seconds: number, device: Device,
  opts: { nproc?: number; python: string; env?: NodeJS.ProcessEnv }): Promise<TorchEngineSpeed> {
  // The engine reports 'step' events at its reads only (evaluations and samples, as on a GPU). On
  // the CPU a read costs nothing (the ops have run), so it reads every step here
  // (CHARRNN_TORCH_READ_EVERY=1) and every step is timed; on CUDA a read is a sync, so the engine
  // keeps its own reads and evaluates every 100 steps (their time is in the figure, say so).
  const cpu = device === 'cpu';
  const cfg = resolveConfig({ ...config, maxIters: 0, epochs: 0, maxTime: seconds, evalEvery: cpu ? 1e9 : 100, sampleEvery: 0 });
  const plan = planTorch({ engine: 'torch', device, prepareOnly: true, nprocPerNode: opts.nproc }, cfg, corpusData(corpus));
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-bench-torch-'));
  try {
    await prepareTorchDir(plan, dir);
    const steps: Array<{ iter: number; seconds: number; loss: number }> = [];
    let backend = 'torch';
    let startup = 0;
    const t0 = performance.now();
    const env = cpu ? { ...opts.env, CHARRNN_TORCH_READ_EVERY: '1' } : opts.env;
    for await (const ev of torchEvents(launchCommand(opts.python, plan.nproc, device, dir), { env })) {
      if (ev.type === 'start') backend = ev.backend;
      if (ev.type === 'step') {
        steps.push({ iter: ev.iter, seconds: ev.seconds, loss: ev.loss });
        if (steps.length === STEADY_FROM + 1) startup = (performance.now() - t0) / 1000;
      }
    }
    const first = steps[Math.min(STEADY_FROM, steps.length - 2)];
    const last = steps[steps.length - 1];
    if (!first || !last || last.seconds <= first.seconds) throw new Error(`the torch engine made only ${steps.length} steps in ${seconds} s`);
    return { chars_per_s: ((last.iter - first.iter) * cfg.batch * cfg.seqLen) / (last.seconds - first.seconds), startup_s: startup, loss: last.loss, iters: last.iter, backend };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The interpreters to compare: --python's list as given; else a venv's python named by
 * $CHARRNN_TORCH_VENV (pip's PyTorch), python3 on PATH and Debian's /usr/bin/python3, each kept
 * if it imports torch and numpy, one per interpreter (python3 is often /usr/bin/python3).
 */
export function torchPythons(given?: string[]): Array<{ python: string; torch: string }> {
  const venv = process.env.CHARRNN_TORCH_VENV;
  const candidates = given ?? [...(venv ? [join(venv, 'bin', 'python')] : []), 'python3', '/usr/bin/python3'];
  const seen = new Set<string>();
  const out: Array<{ python: string; torch: string }> = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import sys, numpy, torch; print(sys.executable); print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status !== 0) {
      if (given) console.log(`(${python}: no torch and numpy importable; left out)`);
      continue;
    }
    const [exe, torch] = r.stdout.trim().split('\n');
    const key = realpathSync(exe);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ python, torch });
  }
  return out;
}

export interface TorchBenchRow {
  python: string; torch: string; blas: string; threads: number; config: string;
  engine: TorchEngineSpeed; bare: number; bare_1thread: number; ratio: number; ratio_1thread: number;
  bare_import_s: number; bare_warmup_s: number;
}

/** Engine against the bare loop, per PyTorch and config (see the header); prints the table unless json. */
export async function torchBench(opts: {
  configs: Array<{ id: string; name: string; config: Partial<TrainConfig> }>; corpus: Corpus; dataPath: string; seconds: number; rounds: number;
  device: Device; nproc?: number; pythons?: string[]; keepCoretype: boolean; json: boolean;
}): Promise<TorchBenchRow[]> {
  const env = pytorchEnv(opts.keepCoretype); // the bare loop's and the engine's, the same kernel set
  const pythons = torchPythons(opts.pythons);
  if (!pythons.length) {
    console.log('(no python with torch and numpy found: pass --python PATH, or set CHARRNN_TORCH_VENV to a venv with pip install torch numpy)');
    return [];
  }
  const rows: TorchBenchRow[] = [];
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(9);
  for (const { python, torch } of pythons) {
    let header = '';
    for (const bc of opts.configs) {
      const cfg = resolveConfig(bc.config);
      let engine: TorchEngineSpeed | null = null;
      let bare = { speed: 0, warmup: 0, import: 0, threads: 0, blas: '' };
      let bare1 = 0;
      for (let round = 0; round < opts.rounds; round++) {
        // the bare loop at the engine's threads (torch's default), then at 1; then the engine
        const run = runPytorch(opts.dataPath, opts.seconds, [{ id: bc.id, config: cfg, sample: false }], opts.keepCoretype, { python, threads: null, cuda: false });
        const run1 = runPytorch(opts.dataPath, opts.seconds, [{ id: bc.id, config: cfg, sample: false }], opts.keepCoretype, { python, threads: 1, cuda: false });
        if (!run.ok) throw new Error(run.reason);
        if (!run1.ok) throw new Error(run1.reason);
        const r = run.results[0];
        if (r.train_chars_per_s > bare.speed) bare = { speed: r.train_chars_per_s, warmup: r.warmup_s ?? 0, import: run.import_s, threads: run.threads, blas: run.blasName };
        bare1 = Math.max(bare1, run1.results[0].train_chars_per_s);
        const e = await torchEngineSpeed(bc.config, opts.corpus, opts.seconds, opts.device, { nproc: opts.nproc, python, env });
        if (!engine || e.chars_per_s > engine.chars_per_s) engine = e;
      }
      const row: TorchBenchRow = {
        python, torch, blas: bare.blas, threads: bare.threads, config: bc.id, engine: engine!, bare: bare.speed, bare_1thread: bare1,
        ratio: engine!.chars_per_s / bare.speed, ratio_1thread: engine!.chars_per_s / bare1, bare_import_s: bare.import, bare_warmup_s: bare.warmup,
      };
      rows.push(row);
      if (opts.json) continue;
      if (!header) {
        header = `PyTorch ${torch} (${python}), ${bare.blas}, ${bare.threads} torch thread(s) by default` +
          `${opts.keepCoretype ? `, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'} kept` : ''}; engine ${engine!.backend}`;
        console.log(header);
        console.log(`  ${'config'.padEnd(20)} engine chars/s   bare chars/s   engine ÷ bare   bare, 1 thread   engine ÷ that   start-up: engine / bare (import + first step)`);
      }
      console.log(`  ${bc.name.padEnd(20)} ${fmt(row.engine.chars_per_s)}      ${fmt(row.bare)}      ${row.ratio.toFixed(2).padStart(8)}      ${fmt(row.bare_1thread)}      ${row.ratio_1thread.toFixed(2).padStart(8)}      ` +
        `${row.engine.startup_s.toFixed(1)} s / ${(row.bare_import_s + row.bare_warmup_s).toFixed(1)} s`);
    }
    if (!opts.json) console.log('');
  }
  return rows;
}
