/**
 * The torch engine in the benchmark (`npm run bench -- --engine torch [--device cpu|cuda|auto]
 * [--nproc-per-node N]`): the whole engine as `charrnn train --engine torch` runs it (our
 * prepared run directory, python/charrnn_torch.py, its events), for about `seconds` of training
 * per config. Speed is taken between the 5th and the last step event, so start-up (importing
 * torch, CUDA context, the first steps' allocations) is not counted; the final validation pass
 * is not either (it comes after the last step).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type TrainConfig } from '../src/config.js';
import type { Corpus } from '../src/data.js';
import { findTorch, launchCommand, planTorch, prepareTorchDir, torchEvents, type Device } from '../cli/torch-engine.js';

export interface TorchEngineSpeed {
  chars_per_s: number;
  /** The last step's training loss (nats/char). */
  loss: number;
  iters: number;
  backend: string;
}

export async function torchEngineSpeed(config: Partial<TrainConfig>, corpus: Corpus, seconds: number, device: Device, nproc?: number): Promise<TorchEngineSpeed> {
  const { python } = findTorch(process.env.CHARRNN_PYTHON);
  const cfg = resolveConfig({ ...config, maxIters: 0, epochs: 0, maxTime: seconds, evalEvery: 1e9, sampleEvery: 0 });
  const plan = planTorch({ engine: 'torch', device, prepareOnly: false, nprocPerNode: nproc, python }, cfg, corpus);
  const dir = mkdtempSync(join(tmpdir(), 'charrnn-bench-torch-'));
  try {
    await prepareTorchDir(plan, dir);
    const steps: Array<{ iter: number; seconds: number; loss: number }> = [];
    let backend = 'torch';
    for await (const ev of torchEvents(launchCommand(plan.python!, plan.nproc, device, dir))) {
      if (ev.type === 'start') backend = ev.backend;
      if (ev.type === 'step') steps.push({ iter: ev.iter, seconds: ev.seconds, loss: ev.loss });
    }
    const first = steps[Math.min(4, steps.length - 2)];
    const last = steps[steps.length - 1];
    if (!first || !last || last.seconds <= first.seconds) throw new Error(`the torch engine made only ${steps.length} steps in ${seconds} s`);
    return { chars_per_s: ((last.iter - first.iter) * cfg.batch * cfg.seqLen) / (last.seconds - first.seconds), loss: last.loss, iters: last.iter, backend };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
