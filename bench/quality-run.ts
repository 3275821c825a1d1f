/**
 * One `charrnn train` of bench/quality.ts in a child process, and what it ends at: the summary
 * its --json prints, the shape it chose (its first line) and the recipe its checkpoint holds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCheckpoint } from '../src/checkpoint.js';
import type { TrainConfig } from '../src/config.js';

const BIN = fileURLToPath(new URL('../../bin/charrnn.js', import.meta.url));

export interface Result {
  /** ours, torch-recipe (PyTorch on char-rnn's recipe), torch-same (PyTorch on our chosen recipe) */
  engine: string;
  seconds: number;
  val_loss: number;
  val_bpc: number;
  chars_per_s: number;
  iters: number;
  epochs: number;
  /** "LSTM 2×192 chosen for 300 s …"'s model part, or "LSTM 2×128 (given)" */
  chosen: string;
  /** our --threads, or PyTorch's OMP_NUM_THREADS; null: all cores (the engine's default) */
  threads: number | null;
  config: Partial<TrainConfig>;
}

/** The settings that make a run's recipe, as the checkpoint holds them (and as flags for another run). */
export const RECIPE: Array<keyof TrainConfig> = ['model', 'layers', 'hidden', 'embed', 'dropout', 'batch', 'seqLen', 'optimizer', 'lr', 'lrSchedule', 'warmup', 'lrFinal', 'lrDecay', 'weightDecay', 'clip', 'beta1', 'beta2'];
export const flag = (k: string): string => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/**
 * `charrnn train --data … --json FLAGS` with a fresh --out; resolves to its result once it
 * exits (rejects with its last stderr line when it fails).
 */
export function train(run: { engine: string; seconds: number; threads: number | null; data: string[]; flags: string[]; env?: NodeJS.ProcessEnv }): Promise<Result> {
  const out = mkdtempSync(join(tmpdir(), 'charrnn-quality-'));
  const flags = [...(run.data.length ? ['--data', ...run.data] : []), '--out', out, '--json', '--max-time', String(run.seconds), ...run.flags];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'train', ...flags], { stdio: ['ignore', 'pipe', 'pipe'], env: run.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`charrnn train ${run.flags.join(' ')} exited ${code}: ${stderr.trim().split('\n').pop()}`);
        const summary = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
        const config = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).config;
        const chosen = /^(.*?) (?:chosen|kept) for/.exec(stderr.split('\n')[0])?.[1] ?? `${config.model.toUpperCase()} ${config.layers}×${config.hidden} (given)`;
        resolve({
          engine: run.engine, seconds: run.seconds, val_loss: summary.val_loss, val_bpc: summary.val_loss / Math.LN2, chars_per_s: summary.train_chars_per_s,
          iters: summary.iters, epochs: summary.epochs, chosen, threads: run.threads, config: Object.fromEntries(RECIPE.map((k) => [k, config[k]])),
        });
      } catch (e) {
        reject(e);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  });
}
