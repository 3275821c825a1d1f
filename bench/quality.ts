/**
 * `npm run bench:quality`: the quality goal, run as a user runs it. `charrnn train --data
 * tinyshakespeare.txt --max-time 300` with no other flag (the budget chooses the model and the
 * schedule, src/budget.ts), then the validation loss it ends at, bits/char, chars/s and the
 * configuration it chose; with python3 + torch importable, the PyTorch engine on the same chosen
 * configuration and schedule for the same wall time (its own speed sets where its cosine ends).
 *
 *   node dist/bench/quality.js [--long] [--seconds 300] [--data FILE...] [--no-pytorch] [--pytorch-keep-coretype] [--json] [-- extra train flags]
 *
 * --long also runs the 1,800 s goal. --data: another corpus (default: ../shared/data's tiny
 * Shakespeare, else the built-in Moby Dick). Flags after `--` go to every train command (an
 * ablation: `-- --batch 50`). The runs are sequential: each has the machine to itself (this is a
 * measurement, never a test).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCheckpoint } from '../src/checkpoint.js';
import type { TrainConfig } from '../src/config.js';
import { findTorch } from '../cli/torch-engine.js';
import { pytorchEnv } from './pytorch.js';

const argv = process.argv.slice(2);
const dashes = argv.indexOf('--');
const args = dashes >= 0 ? argv.slice(0, dashes) : argv;
const extra = dashes >= 0 ? argv.slice(dashes + 1) : [];
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const JSON_OUT = args.includes('--json');
const seconds = [Number(arg('--seconds') ?? 300), ...(args.includes('--long') ? [1800] : [])];
const shakespeare = fileURLToPath(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url));
const dataArgs = (() => {
  const i = args.indexOf('--data');
  if (i < 0) return existsSync(shakespeare) ? [shakespeare] : [];
  const out: string[] = [];
  for (let j = i + 1; j < args.length && !args[j].startsWith('--'); j++) out.push(args[j]);
  return out;
})();
const BIN = fileURLToPath(new URL('../../bin/charrnn.js', import.meta.url));

interface Result {
  engine: string;
  seconds: number;
  val_loss: number;
  val_bpc: number;
  chars_per_s: number;
  iters: number;
  epochs: number;
  chosen: string;
  config: Partial<TrainConfig>;
}

/** `charrnn train ... --json` in a child process; its summary, the first line it printed and the checkpoint's config. */
function train(flags: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ summary: Record<string, number>; first: string; config: TrainConfig }> {
  const out = mkdtempSync(join(tmpdir(), 'charrnn-quality-'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'train', ...(dataArgs.length ? ['--data', ...dataArgs] : []), '--out', out, '--json', ...flags], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => {
      try {
        if (code !== 0) throw new Error(`charrnn train ${flags.join(' ')} exited ${code}: ${stderr.trim().split('\n').pop()}`);
        const summary = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
        const config = decodeCheckpoint(readFileSync(join(out, 'latest.safetensors'))).config;
        resolve({ summary, first: stderr.split('\n')[0], config });
      } catch (e) {
        reject(e);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  });
}

/** The settings a run chose or was given that make its recipe, as flags for the other engine. */
const RECIPE: Array<keyof TrainConfig> = ['model', 'layers', 'hidden', 'embed', 'dropout', 'batch', 'seqLen', 'optimizer', 'lr', 'lrSchedule', 'warmup', 'lrFinal', 'weightDecay', 'clip', 'beta1', 'beta2'];
const flag = (k: string): string => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

function result(engine: string, s: number, r: Awaited<ReturnType<typeof train>>): Result {
  const chosen = /^(.*?) (?:chosen|kept) for/.exec(r.first)?.[1] ?? `${r.config.model.toUpperCase()} ${r.config.layers}×${r.config.hidden} (given)`;
  return {
    engine, seconds: s, val_loss: r.summary.val_loss, val_bpc: r.summary.val_loss / Math.LN2, chars_per_s: r.summary.train_chars_per_s,
    iters: r.summary.iters, epochs: r.summary.epochs, chosen, config: Object.fromEntries(RECIPE.map((k) => [k, r.config[k]])),
  };
}

const results: Result[] = [];
let torch = !args.includes('--no-pytorch');
if (torch) {
  try {
    findTorch(process.env.CHARRNN_PYTHON);
  } catch {
    torch = false;
  }
}
for (const s of seconds) {
  const ours = await train(['--max-time', String(s), ...extra]);
  const mine = result('ours', s, ours);
  results.push(mine);
  if (!JSON_OUT) print(mine);
  if (torch) {
    const recipe = RECIPE.flatMap((k) => [flag(k), String(ours.config[k])]);
    // PyTorch in npm run bench's environment (OpenBLAS on every core, its own kernels unless told to keep the machine's setting)
    const env = pytorchEnv(args.includes('--pytorch-keep-coretype'));
    const theirs = result('torch', s, await train(['--engine', 'torch', '--max-time', String(s), ...recipe], env));
    theirs.chosen = mine.chosen + ' (the same)';
    results.push(theirs);
    if (!JSON_OUT) print(theirs);
  }
}
if (JSON_OUT) console.log(JSON.stringify({ data: dataArgs.length ? dataArgs : 'moby-dick (built in)', extra, results }));

function print(r: Result): void {
  console.log(`${String(r.seconds).padStart(5)} s  ${r.engine.padEnd(5)}  val ${r.val_loss.toFixed(4)} nats/char (${r.val_bpc.toFixed(3)} bits)  ${Math.round(r.chars_per_s).toLocaleString('en-US').padStart(7)} chars/s  ${r.iters} iterations, ${r.epochs.toFixed(1)} epochs  ${r.chosen}: ${RECIPE.map((k) => `${flag(k)} ${r.config[k]}`).join(' ')}`);
}
